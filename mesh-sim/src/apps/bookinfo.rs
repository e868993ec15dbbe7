//! Istio's bookinfo sample: productpage, details, reviews (v1 to v3) and ratings, with the
//! routes, JSON shapes and header propagation of the `istio/examples-bookinfo-*` images.

mod page;
mod productpage;
mod reviews;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use tracing::warn;

use super::http_util::{HttpResponse, http_handler, is_get_or_head, respond};
use super::running::ConnectionHandler;

pub(super) use self::productpage::handler as productpage_handler;
pub(super) use self::reviews::handler as reviews_handler;

/// Port every bookinfo service listens on and calls the others at.
const SERVICE_PORT: u16 = 9080;

/// `Content-Type` of the JSON responses of details, reviews and ratings.
const JSON: &str = "application/json";

/// Tracing headers the bookinfo services copy from an incoming request to their backend
/// requests, so that the proxies can join the spans into one trace.
const TRACE_HEADERS: &[&str] = &[
    "x-request-id",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "traceparent",
    "tracestate",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "sw8",
];

/// Maximum request body the ratings service reads for a POST.
const MAX_RATINGS_BODY: usize = 64 * 1024;

/// Builds the host name of a backend service: `<name>.<SERVICES_DOMAIN>`, or `<name>` when the
/// variable is unset, where `name` is the value of `hostname_variable` or `default_name`.
fn backend_host(
    env: &std::collections::BTreeMap<String, String>,
    hostname_variable: &str,
    default_name: &str,
) -> String {
    let name = env
        .get(hostname_variable)
        .map_or(default_name, String::as_str);
    match env.get("SERVICES_DOMAIN") {
        Some(domain) => format!("{name}.{domain}"),
        None => name.to_owned(),
    }
}

/// Copies the headers named in `names` (lowercase) from `incoming`, with every value.
fn copy_headers(incoming: &HeaderMap, names: &[&'static str], outgoing: &mut HeaderMap) {
    for name in names {
        let name = HeaderName::from_static(name);
        for value in incoming.get_all(&name) {
            outgoing.append(name.clone(), value.clone());
        }
    }
}

/// Parses an integer the way JavaScript's `parseInt` reads a decimal prefix: leading
/// whitespace, an optional sign, then digits. Anything after the digits is ignored.
fn parse_int_prefix(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let end = digits
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(digits.len());
    let value: i64 = digits[..end].parse().ok()?;
    Some(if negative { -value } else { value })
}

fn not_found() -> HttpResponse {
    respond(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        "<h1>Not Found</h1>\n",
    )
}

fn method_not_allowed() -> HttpResponse {
    respond(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/html; charset=utf-8",
        "<h1>Method Not Allowed</h1>\n",
    )
}

fn json_response(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => respond(status, JSON, bytes),
        Err(error) => {
            warn!(%error, "encoding a JSON response failed");
            respond(StatusCode::INTERNAL_SERVER_ERROR, JSON, "{}")
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

#[derive(Serialize)]
struct StatusBody<'a> {
    status: &'a str,
}

/// The book record details returns for every id.
#[derive(Serialize)]
struct BookDetails {
    id: i64,
    author: &'static str,
    year: u16,
    #[serde(rename = "type")]
    book_type: &'static str,
    pages: u16,
    publisher: &'static str,
    language: &'static str,
    #[serde(rename = "ISBN-10")]
    isbn_10: &'static str,
    #[serde(rename = "ISBN-13")]
    isbn_13: &'static str,
}

impl BookDetails {
    fn new(id: i64) -> Self {
        Self {
            id,
            author: "William Shakespeare",
            year: 1595,
            book_type: "paperback",
            pages: 200,
            publisher: "PublisherA",
            language: "English",
            isbn_10: "1234567890",
            isbn_13: "123-1234567890",
        }
    }
}

/// Builds the details service: `/details/<id>` returns the book record and `/health` its
/// status, for any method, as the Ruby server does.
pub(super) fn details_handler() -> ConnectionHandler {
    http_handler(|request: Request<Incoming>, _peer| {
        let response = details_response(request.uri().path());
        async move { response }
    })
}

fn details_response(path: &str) -> HttpResponse {
    if path == "/health" {
        return json_response(
            StatusCode::OK,
            &StatusBody {
                status: "Details is healthy",
            },
        );
    }
    // The server mounts `/details` as a prefix and reads the id from the last path segment.
    if path != "/details" && !path.starts_with("/details/") {
        return not_found();
    }
    let last_segment = path.split('/').rfind(|segment| !segment.is_empty());
    match last_segment.and_then(|segment| segment.parse::<i64>().ok()) {
        Some(id) => json_response(StatusCode::OK, &BookDetails::new(id)),
        None => json_response(
            StatusCode::BAD_REQUEST,
            &ErrorBody {
                error: "please provide numeric product id",
            },
        ),
    }
}

/// Ratings posted to `POST /ratings/<id>`, which replace the built-in ones for that id.
type PostedRatings = Arc<Mutex<HashMap<i64, serde_json::Value>>>;

#[derive(Serialize)]
struct RatingsBody<'a> {
    id: i64,
    ratings: &'a serde_json::Value,
}

/// Builds the ratings service (the in-memory v1): `GET /ratings/<id>` returns two reviewers'
/// stars, `POST /ratings/<id>` replaces them, and `/health` returns its status.
pub(super) fn ratings_handler() -> ConnectionHandler {
    let posted: PostedRatings = Arc::default();
    http_handler(move |request: Request<Incoming>, _peer| {
        let posted = Arc::clone(&posted);
        async move { ratings_response(request, &posted).await }
    })
}

async fn ratings_response(request: Request<Incoming>, posted: &PostedRatings) -> HttpResponse {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_owned();
    let method = request.method().clone();
    if target == "/health" && is_get_or_head(&method) {
        return json_response(
            StatusCode::OK,
            &StatusBody {
                status: "Ratings is healthy",
            },
        );
    }
    if !target.starts_with("/ratings/") || (method != Method::POST && !is_get_or_head(&method)) {
        return not_found();
    }
    // The id is the text after the last '/', query included, read as by `parseInt`.
    let Some(id) = target.rsplit('/').next().and_then(parse_int_prefix) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &ErrorBody {
                error: "please provide numeric product ID",
            },
        );
    };
    if method == Method::POST {
        return post_ratings(request, id, posted).await;
    }
    let stored = posted
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .cloned();
    let ratings = stored.unwrap_or_else(|| serde_json::json!({ "Reviewer1": 5, "Reviewer2": 4 }));
    json_response(
        StatusCode::OK,
        &RatingsBody {
            id,
            ratings: &ratings,
        },
    )
}

async fn post_ratings(request: Request<Incoming>, id: i64, posted: &PostedRatings) -> HttpResponse {
    let invalid = || {
        json_response(
            StatusCode::BAD_REQUEST,
            &ErrorBody {
                error: "please provide valid ratings JSON",
            },
        )
    };
    let body: Bytes = match Limited::new(request.into_body(), MAX_RATINGS_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            warn!(%error, "reading posted ratings failed");
            return invalid();
        }
    };
    let Ok(ratings) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return invalid();
    };
    posted
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, ratings.clone());
    json_response(
        StatusCode::OK,
        &RatingsBody {
            id,
            ratings: &ratings,
        },
    )
}
