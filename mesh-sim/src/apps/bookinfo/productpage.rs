//! The bookinfo productpage: the book page rendered from details and reviews, sign-in with a
//! `user` cookie, and a JSON API over the three backends.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{COOKIE, LOCATION, REFERER, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tracing::warn;

use super::page::{self, Fetched, PRODUCT};
use super::{
    SERVICE_PORT, TRACE_HEADERS, backend_host, copy_headers, method_not_allowed, not_found,
};
use crate::apps::http_util::{
    self, HttpResponse, error_chain, form_pairs, http_handler, is_get_or_head, respond,
};
use crate::apps::python_json::OrderedJson;
use crate::apps::running::ConnectionHandler;
use crate::apps::{AppContext, PodNetwork};

/// Timeout of each backend request.
const BACKEND_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts productpage makes to get the reviews, where details and ratings get one.
const REVIEWS_ATTEMPTS: u32 = 2;

/// Headers productpage copies to its backend requests besides [`TRACE_HEADERS`].
const USER_HEADERS: &[&str] = &["user-agent", "authorization", "jwt"];
/// Header that carries the signed-in user to the backends.
const END_USER: HeaderName = HeaderName::from_static("end-user");
/// Cookie that contains the name of the signed-in user.
const USER_COOKIE: &str = "user";

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

/// Maximum size of a sign-in form.
const MAX_FORM_BODY: usize = 16 * 1024;

/// Shown in the details section when details failed.
pub(super) const DETAILS_UNAVAILABLE: &str =
    "Sorry, product details are currently unavailable for this book.";
/// Shown in the reviews section when reviews failed.
pub(super) const REVIEWS_UNAVAILABLE: &str =
    "Sorry, product reviews are currently unavailable for this book.";
/// Returned by the ratings API when ratings failed.
const RATINGS_UNAVAILABLE: &str = "Sorry, product ratings are currently unavailable for this book.";

struct Productpage {
    details_host: String,
    reviews_host: String,
    ratings_host: String,
    network: Arc<dyn PodNetwork>,
}

/// Builds productpage. It calls `details`, `reviews` and `ratings` at port 9080, or the hosts
/// that `DETAILS_HOSTNAME`, `REVIEWS_HOSTNAME` and `RATINGS_HOSTNAME` name, each followed by
/// `.<SERVICES_DOMAIN>` when that variable is set.
pub(in crate::apps) fn handler(context: &AppContext) -> ConnectionHandler {
    let env = &context.env;
    let productpage = Arc::new(Productpage {
        details_host: backend_host(env, "DETAILS_HOSTNAME", "details"),
        reviews_host: backend_host(env, "REVIEWS_HOSTNAME", "reviews"),
        ratings_host: backend_host(env, "RATINGS_HOSTNAME", "ratings"),
        network: Arc::clone(&context.network),
    });
    http_handler(move |request: Request<Incoming>, _peer| {
        let productpage = Arc::clone(&productpage);
        async move { productpage.respond(request).await }
    })
}

/// The API routes under `/api/v1/products/<id>`.
enum ProductRoute<'a> {
    Details(&'a str),
    Reviews(&'a str),
    Ratings(&'a str),
}

fn product_route(path: &str) -> Option<ProductRoute<'_>> {
    let rest = path.strip_prefix("/api/v1/products/")?;
    let (id, resource) = match rest.split_once('/') {
        Some((id, resource)) => (id, Some(resource)),
        None => (rest, None),
    };
    if id.is_empty() {
        return None;
    }
    match resource {
        None => Some(ProductRoute::Details(id)),
        Some("reviews") => Some(ProductRoute::Reviews(id)),
        Some("ratings") => Some(ProductRoute::Ratings(id)),
        Some(_) => None,
    }
}

impl Productpage {
    async fn respond(&self, request: Request<Incoming>) -> HttpResponse {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        if path == "/login" {
            return if method == Method::POST {
                sign_in(request).await
            } else {
                method_not_allowed()
            };
        }
        let is_route = matches!(
            path.as_str(),
            "/" | "/index.html" | "/health" | "/logout" | "/productpage" | "/api/v1/products"
        ) || product_route(&path).is_some();
        if !is_route {
            return not_found();
        }
        if !is_get_or_head(&method) {
            return method_not_allowed();
        }

        let headers = request.headers();
        match path.as_str() {
            "/" | "/index.html" => respond(StatusCode::OK, HTML, page::index_html()),
            "/health" => respond(StatusCode::OK, HTML, "Product page is healthy"),
            "/logout" => sign_out(headers),
            "/productpage" => self.product_page(headers).await,
            "/api/v1/products" => respond(StatusCode::OK, JSON, products_json()),
            _ => match product_route(&path) {
                Some(route) => self.product_api(route, headers).await,
                None => not_found(),
            },
        }
    }

    async fn product_page(&self, incoming: &HeaderMap) -> HttpResponse {
        let user = user_cookie(incoming).unwrap_or_default();
        let headers = forwarded_headers(incoming);
        let id = PRODUCT.id.to_string();
        let details = self.details(&id, &headers).await;
        let reviews = self.reviews(&id, &headers).await;
        // The page is 200 whatever the backends returned, and failures show inside the page.
        respond(
            StatusCode::OK,
            HTML,
            page::productpage_html(&user, &details, &reviews),
        )
    }

    async fn product_api(&self, route: ProductRoute<'_>, incoming: &HeaderMap) -> HttpResponse {
        let headers = forwarded_headers(incoming);
        let fetched = match route {
            ProductRoute::Details(id) => self.details(id, &headers).await,
            ProductRoute::Reviews(id) => self.reviews(id, &headers).await,
            ProductRoute::Ratings(id) => {
                let path = format!("/ratings/{id}");
                self.fetch(&self.ratings_host, &path, &headers, 1, RATINGS_UNAVAILABLE)
                    .await
            }
        };
        respond(fetched.status, JSON, fetched.body.to_python_json())
    }

    async fn details(&self, id: &str, headers: &HeaderMap) -> Fetched {
        let path = format!("/details/{id}");
        self.fetch(&self.details_host, &path, headers, 1, DETAILS_UNAVAILABLE)
            .await
    }

    async fn reviews(&self, id: &str, headers: &HeaderMap) -> Fetched {
        let path = format!("/reviews/{id}");
        let host = &self.reviews_host;
        self.fetch(host, &path, headers, REVIEWS_ATTEMPTS, REVIEWS_UNAVAILABLE)
            .await
    }

    /// Sends `GET path` to `host` up to `attempts` times until it returns 200 with a JSON
    /// body. A failure yields the last status (500 when no response arrived) and
    /// `{"error": unavailable}`.
    async fn fetch(
        &self,
        host: &str,
        path: &str,
        headers: &HeaderMap,
        attempts: u32,
        unavailable: &str,
    ) -> Fetched {
        let mut status = StatusCode::INTERNAL_SERVER_ERROR;
        for attempt in 1..=attempts {
            let network = &*self.network;
            let response = http_util::get(
                network,
                host,
                SERVICE_PORT,
                path,
                headers.clone(),
                BACKEND_TIMEOUT,
            )
            .await;
            match response {
                Ok(response) if response.status == StatusCode::OK => {
                    match OrderedJson::parse(&response.body) {
                        Ok(body) => {
                            return Fetched {
                                status: StatusCode::OK,
                                body,
                            };
                        }
                        // Python's productpage fails the whole request here; this one treats
                        // it as a failed backend so that the page still renders.
                        Err(error) => {
                            warn!(backend = %host, path, attempt, %error, "backend returned invalid JSON");
                            status = StatusCode::INTERNAL_SERVER_ERROR;
                        }
                    }
                }
                Ok(response) => {
                    warn!(backend = %host, path, attempt, status = response.status.as_u16(), "backend request failed");
                    status = response.status;
                }
                Err(error) => {
                    warn!(backend = %host, path, attempt, error = error_chain(&error), "backend request failed");
                    status = StatusCode::INTERNAL_SERVER_ERROR;
                }
            }
        }
        Fetched {
            status,
            body: OrderedJson::object([("error", OrderedJson::string(unavailable))]),
        }
    }
}

/// Builds the headers productpage sends to its backends: tracing headers, user agent and
/// credentials, and the signed-in user as the `user` cookie and the `end-user` header.
fn forwarded_headers(incoming: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    copy_headers(incoming, TRACE_HEADERS, &mut headers);
    copy_headers(incoming, USER_HEADERS, &mut headers);
    let user = user_cookie(incoming).filter(|user| !user.is_empty());
    if let Some(user) = user {
        let cookie = HeaderValue::from_str(&format!("{USER_COOKIE}={}", cookie_value(&user)));
        let end_user = HeaderValue::from_str(&user);
        if let (Ok(cookie), Ok(end_user)) = (cookie, end_user) {
            headers.insert(COOKIE, cookie);
            headers.insert(END_USER, end_user);
        }
    }
    headers
}

/// Reads the value of the `user` cookie, unquoted.
fn user_cookie(headers: &HeaderMap) -> Option<String> {
    let pairs = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'));
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if name.trim() == USER_COOKIE {
            return Some(unquote_cookie(value.trim()));
        }
    }
    None
}

/// Quotes a cookie value that contains characters a cookie value may not contain.
fn cookie_value(value: &str) -> String {
    let plain = value
        .bytes()
        .all(|byte| byte.is_ascii_graphic() && !matches!(byte, b'"' | b',' | b';' | b'\\'));
    if plain {
        return value.to_owned();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for character in value.chars() {
        if matches!(character, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(character);
    }
    quoted.push('"');
    quoted
}

fn unquote_cookie(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut unquoted = String::with_capacity(inner.len());
    let mut characters = inner.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => unquoted.extend(characters.next()),
            other => unquoted.push(other),
        }
    }
    unquoted
}

/// `POST /login`: sets the `user` cookie from the form's `username` and redirects back.
async fn sign_in(request: Request<Incoming>) -> HttpResponse {
    let location = return_location(request.headers());
    let body: Bytes = match Limited::new(request.into_body(), MAX_FORM_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            warn!(%error, "reading the sign-in form failed");
            return respond(StatusCode::BAD_REQUEST, HTML, "<h1>Bad Request</h1>\n");
        }
    };
    let form = String::from_utf8_lossy(&body);
    let user = form_pairs(&form)
        .into_iter()
        .find(|(name, _)| name == "username")
        .map(|(_, value)| value)
        .unwrap_or_default();
    let cookie = format!("{USER_COOKIE}={}; Path=/", cookie_value(&user));
    redirect(&location, &cookie)
}

/// `GET /logout`: clears the `user` cookie and redirects back.
fn sign_out(headers: &HeaderMap) -> HttpResponse {
    let cookie =
        format!("{USER_COOKIE}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/");
    redirect(&return_location(headers), &cookie)
}

/// Returns where sign-in and sign-out redirect: the referring page, else the product page.
fn return_location(headers: &HeaderMap) -> String {
    headers
        .get(REFERER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("/productpage")
        .to_owned()
}

fn redirect(location: &str, cookie: &str) -> HttpResponse {
    let mut response = respond(StatusCode::FOUND, HTML, "");
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, location);
    }
    if let Ok(cookie) = HeaderValue::from_str(cookie) {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

/// `GET /api/v1/products`: the product list.
fn products_json() -> String {
    let product = OrderedJson::object([
        ("id", OrderedJson::from(PRODUCT.id)),
        ("title", OrderedJson::string(PRODUCT.title)),
        (
            "descriptionHtml",
            OrderedJson::string(PRODUCT.description_html),
        ),
    ]);
    OrderedJson::Array(vec![product]).to_python_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_routes() {
        assert!(matches!(
            product_route("/api/v1/products/0"),
            Some(ProductRoute::Details("0"))
        ));
        assert!(matches!(
            product_route("/api/v1/products/7/reviews"),
            Some(ProductRoute::Reviews("7"))
        ));
        assert!(matches!(
            product_route("/api/v1/products/x/ratings"),
            Some(ProductRoute::Ratings("x"))
        ));
        assert!(product_route("/api/v1/products/").is_none());
        assert!(product_route("/api/v1/products/0/other").is_none());
        assert!(product_route("/api/v1/products/0/reviews/1").is_none());
    }

    #[test]
    fn forwarded_headers_carry_tracing_and_user() {
        let mut incoming = HeaderMap::new();
        incoming.insert("x-request-id", HeaderValue::from_static("request-1"));
        incoming.insert("x-b3-traceid", HeaderValue::from_static("trace-1"));
        incoming.insert("traceparent", HeaderValue::from_static("00-abc-def-01"));
        incoming.insert("x-ot-span-context", HeaderValue::from_static("span-1"));
        incoming.insert(COOKIE, HeaderValue::from_static("session=s1; user=jason"));
        incoming.insert("x-unrelated", HeaderValue::from_static("dropped"));

        let headers = forwarded_headers(&incoming);
        for (name, value) in [
            ("x-request-id", "request-1"),
            ("x-b3-traceid", "trace-1"),
            ("traceparent", "00-abc-def-01"),
            ("x-ot-span-context", "span-1"),
            ("cookie", "user=jason"),
            ("end-user", "jason"),
        ] {
            assert_eq!(
                headers.get(name).and_then(|value| value.to_str().ok()),
                Some(value),
                "forwarded {name}"
            );
        }
        assert!(
            headers.get("x-unrelated").is_none(),
            "unrelated header forwarded"
        );
    }

    #[test]
    fn cookie_quoting_round_trips() {
        for user in ["jason", "a b", "quote\"and\\slash", ""] {
            let mut headers = HeaderMap::new();
            let cookie = format!("{USER_COOKIE}={}", cookie_value(user));
            headers.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
            assert_eq!(
                user_cookie(&headers).as_deref(),
                Some(user),
                "cookie {cookie}"
            );
        }
    }
}
