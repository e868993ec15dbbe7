//! The HTML pages of productpage: the book page with its details and reviews sections, and
//! the index page.

use std::fmt::Write;

use http::StatusCode;

use crate::apps::python_json::OrderedJson;

/// Title of every productpage HTML page.
pub(super) const PAGE_TITLE: &str = "Simple Bookstore App";

/// Number of stars a full rating has.
const MAX_STARS: i64 = 5;

/// The book the store sells.
pub(super) struct Product {
    pub(super) id: i64,
    pub(super) title: &'static str,
    /// Summary, as trusted HTML.
    pub(super) description_html: &'static str,
}

/// The only product, id 0, which `/productpage` always shows.
pub(super) const PRODUCT: Product = Product {
    id: 0,
    title: "The Comedy of Errors",
    description_html: "<a href=\"https://en.wikipedia.org/wiki/The_Comedy_of_Errors\">Wikipedia \
        Summary</a>: an early comedy by <b>William Shakespeare</b> in which two sets of twins, \
        separated at birth, end up in the same town on the same day.",
};

/// The outcome of a backend request: its status and JSON body, with an `error` object in
/// place of a failed response.
pub(super) struct Fetched {
    pub(super) status: StatusCode,
    pub(super) body: OrderedJson,
}

/// Renders `/productpage` for `user` (empty when signed out).
pub(super) fn productpage_html(user: &str, details: &Fetched, reviews: &Fetched) -> String {
    let mut html = String::with_capacity(4096);
    page_start(&mut html);
    navigation(&mut html, user);

    html.push_str(
        "<div class=\"container-fluid\">\n<div class=\"row\">\n<div class=\"col-md-12\">\n",
    );
    let _ = writeln!(
        html,
        "<h3 class=\"text-center text-primary\">{}</h3>",
        escape(PRODUCT.title)
    );
    let _ = writeln!(html, "<p>Summary: {}</p>", PRODUCT.description_html);
    html.push_str("</div>\n</div>\n<div class=\"row\">\n<div class=\"col-md-6\">\n");
    details_section(&mut html, details);
    html.push_str("</div>\n<div class=\"col-md-6\">\n");
    reviews_section(&mut html, reviews);
    html.push_str("</div>\n</div>\n</div>\n</body>\n</html>\n");
    html
}

/// Renders `/`, which links to the product page.
pub(super) fn index_html() -> String {
    let mut html = String::new();
    page_start(&mut html);
    navigation(&mut html, "");
    html.push_str(
        "<div class=\"container\">\n<h3>Bookinfo</h3>\n<p>The product page shows one book \
         with its details and reviews, each served by its own service.</p>\n\
         <p><a href=\"productpage?u=normal\">Normal user</a></p>\n\
         <p><a href=\"productpage?u=test\">Test user</a></p>\n</div>\n</body>\n</html>\n",
    );
    html
}

fn page_start(html: &mut String) {
    html.push_str("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(html, "<title>{PAGE_TITLE}</title>");
    html.push_str("</head>\n<body>\n");
}

fn navigation(html: &mut String, user: &str) {
    html.push_str(
        "<nav class=\"navbar navbar-inverse navbar-static-top\">\n<div class=\"container\">\n\
         <div class=\"navbar-header\"><a class=\"navbar-brand\" href=\"#\">BookInfo Sample</a>\
         </div>\n",
    );
    if user.is_empty() {
        html.push_str("<a class=\"navbar-right\" href=\"#login-modal\">Sign in</a>\n");
    } else {
        let _ = writeln!(
            html,
            "<p class=\"navbar-text navbar-right\">{} ( <a href=\"logout\">sign out</a> )</p>",
            escape(user)
        );
    }
    html.push_str("</div>\n</nav>\n");
}

fn details_section(html: &mut String, details: &Fetched) {
    if details.status != StatusCode::OK {
        html.push_str(
            "<h4 class=\"text-center text-primary\">Error fetching product details!</h4>\n",
        );
        error_paragraph(html, &details.body);
        return;
    }
    html.push_str("<h4 class=\"text-center text-primary\">Book Details</h4>\n<dl>\n");
    let fields = [
        ("Type", "type"),
        ("Pages", "pages"),
        ("Publisher", "publisher"),
        ("Language", "language"),
        ("ISBN-10", "ISBN-10"),
        ("ISBN-13", "ISBN-13"),
    ];
    for (label, key) in fields {
        let _ = writeln!(
            html,
            "<dt>{label}:</dt>{}",
            template_field(&details.body, key)
        );
    }
    html.push_str("</dl>\n");
}

fn reviews_section(html: &mut String, reviews: &Fetched) {
    if reviews.status != StatusCode::OK {
        html.push_str(
            "<h4 class=\"text-center text-primary\">Error fetching product reviews!</h4>\n",
        );
        error_paragraph(html, &reviews.body);
        return;
    }
    html.push_str("<h4 class=\"text-center text-primary\">Book Reviews</h4>\n");
    let entries = reviews
        .body
        .get("reviews")
        .and_then(OrderedJson::as_array)
        .unwrap_or_default();
    for review in entries {
        html.push_str("<blockquote>\n");
        let _ = writeln!(html, "<p>{}</p>", template_field(review, "text"));
        let _ = writeln!(
            html,
            "<small>{}</small>",
            template_field(review, "reviewer")
        );
        if let Some(rating) = review.get("rating").filter(|rating| rating.is_truthy()) {
            rating_markup(html, rating);
        }
        html.push_str("</blockquote>\n");
    }
    html.push_str("<dl>\n<dt>Reviews served by:</dt>\n");
    let _ = writeln!(html, "<u>{}</u>", template_field(&reviews.body, "podname"));
    let cluster = reviews.body.get("clustername");
    if cluster.and_then(OrderedJson::as_str) != Some("null") {
        let _ = writeln!(
            html,
            "on cluster <u>{}</u>",
            template_field(&reviews.body, "clustername")
        );
    }
    html.push_str("</dl>\n");
}

/// Writes the stars of a rating, or its error when it has no stars.
///
/// NOTE: the markup is that of the Bootstrap page bookinfo served before its Tailwind
/// redesign, which the 1.20 images may render differently, so scenarios should match the
/// star color or the review text rather than the exact markup.
fn rating_markup(html: &mut String, rating: &OrderedJson) {
    let stars = rating.get("stars").filter(|stars| stars.is_truthy());
    if let Some(stars) = stars {
        let full = stars.as_i64().unwrap_or(0).clamp(0, MAX_STARS);
        let _ = writeln!(html, "<font color=\"{}\">", template_field(rating, "color"));
        for _ in 0..full {
            html.push_str("<span class=\"glyphicon glyphicon-star\"></span>\n");
        }
        for _ in full..MAX_STARS {
            html.push_str("<span class=\"glyphicon glyphicon-star-empty\"></span>\n");
        }
        html.push_str("</font>\n");
    } else if rating.get("error").is_some_and(OrderedJson::is_truthy) {
        let _ = writeln!(html, "<p><i>{}</i></p>", template_field(rating, "error"));
    }
}

fn error_paragraph(html: &mut String, body: &OrderedJson) {
    if body.is_truthy() {
        let _ = writeln!(html, "<p>{}</p>", template_field(body, "error"));
    }
}

/// Returns the escaped text of `object[key]`, empty when the key is missing, as Jinja prints an
/// undefined attribute.
fn template_field(object: &OrderedJson, key: &str) -> String {
    object
        .get(key)
        .map(|value| escape(&value.template_text()))
        .unwrap_or_default()
}

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&#34;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}
