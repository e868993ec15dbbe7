//! httpbin: endpoints that describe the request back to the client (`/get`, `/headers`,
//! `/ip`, `/anything`, ...) or respond as the path requests (`/status/<code>`,
//! `/delay/<seconds>`), in the output shapes of go-httpbin and of the Python httpbin.

mod echo;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{LOCATION, PROXY_AUTHENTICATE, USER_AGENT, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use tracing::warn;

use self::echo::{BodySummary, JsonObject, RequestSummary};
use super::HttpbinFlavor;
use super::http_util::{HttpResponse, http_handler, is_get_or_head, respond};
use super::running::ConnectionHandler;

/// Longest `/delay` both implementations allow, in seconds.
const MAX_DELAY_SECONDS: f64 = 10.0;

/// Largest request body the echo endpoints read.
const MAX_BODY: usize = 1024 * 1024;

const HTML: &str = "text/html; charset=utf-8";

/// Builds the httpbin app of `flavor`.
pub(super) fn handler(flavor: HttpbinFlavor) -> ConnectionHandler {
    http_handler(move |request: Request<Incoming>, peer| respond_to(flavor, request, peer))
}

/// The endpoints, by path.
#[derive(Debug, PartialEq)]
enum Route<'a> {
    Index,
    Ip,
    UserAgent,
    Headers,
    Get,
    /// `/post`, `/put`, `/patch` and `/delete`: an echo that accepts only that method.
    MethodEcho(&'static str),
    Anything,
    Status(&'a str),
    Delay(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "/" => return Some(Route::Index),
        "/ip" => return Some(Route::Ip),
        "/user-agent" => return Some(Route::UserAgent),
        "/headers" => return Some(Route::Headers),
        "/get" => return Some(Route::Get),
        "/anything" => return Some(Route::Anything),
        "/post" => return Some(Route::MethodEcho("POST")),
        "/put" => return Some(Route::MethodEcho("PUT")),
        "/patch" => return Some(Route::MethodEcho("PATCH")),
        "/delete" => return Some(Route::MethodEcho("DELETE")),
        _ => {}
    }
    if path.starts_with("/anything/") {
        return Some(Route::Anything);
    }
    let parameter = |prefix: &str| {
        path.strip_prefix(prefix)
            .filter(|value| !value.is_empty() && !value.contains('/'))
    };
    if let Some(codes) = parameter("/status/") {
        return Some(Route::Status(codes));
    }
    parameter("/delay/").map(Route::Delay)
}

async fn respond_to(
    flavor: HttpbinFlavor,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> HttpResponse {
    let path = request.uri().path().to_owned();
    let Some(route) = route(&path) else {
        return error_response(flavor, StatusCode::NOT_FOUND, None);
    };
    let method_allowed = match route {
        Route::Anything | Route::Status(_) | Route::Delay(_) => true,
        Route::MethodEcho(method) => request.method().as_str() == method,
        _ => is_get_or_head(request.method()),
    };
    if !method_allowed {
        return method_not_allowed(flavor);
    }
    let summary = RequestSummary::new(flavor, request.uri(), request.headers(), peer);
    match route {
        Route::Index => respond(StatusCode::OK, HTML, index_html(flavor)),
        Route::Ip => json(
            flavor,
            StatusCode::OK,
            JsonObject::new(vec![("origin", summary.origin.into())]),
        ),
        Route::UserAgent => {
            let user_agent = request
                .headers()
                .get(USER_AGENT)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .unwrap_or_default();
            json(
                flavor,
                StatusCode::OK,
                JsonObject::new(vec![("user-agent", user_agent.into())]),
            )
        }
        Route::Headers => json(
            flavor,
            StatusCode::OK,
            JsonObject::new(vec![("headers", summary.headers)]),
        ),
        Route::Get => json(
            flavor,
            StatusCode::OK,
            get_body(flavor, summary, request.method()),
        ),
        Route::Anything | Route::MethodEcho(_) => echo_with_body(flavor, summary, request).await,
        Route::Status(codes) => status_response(flavor, codes),
        Route::Delay(value) => match delay_of(flavor, value) {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                echo_with_body(flavor, summary, request).await
            }
            None => invalid_delay(flavor, value),
        },
    }
}

/// Encodes `body` as the flavor does: indented by two spaces, with a final newline.
fn json(flavor: HttpbinFlavor, status: StatusCode, body: JsonObject) -> HttpResponse {
    let content_type = match flavor {
        HttpbinFlavor::Go => "application/json; charset=utf-8",
        HttpbinFlavor::Python => "application/json",
    };
    let body = body.ordered_for(flavor);
    match serde_json::to_string_pretty(&body) {
        Ok(mut text) => {
            text.push('\n');
            respond(status, content_type, text)
        }
        Err(error) => {
            warn!(%error, "encoding a JSON response failed");
            respond(StatusCode::INTERNAL_SERVER_ERROR, content_type, "{}\n")
        }
    }
}

/// `/get`: go-httpbin adds the method, which the Python httpbin leaves out.
fn get_body(flavor: HttpbinFlavor, summary: RequestSummary, method: &Method) -> JsonObject {
    let mut entries = vec![("args", summary.args), ("headers", summary.headers)];
    if flavor == HttpbinFlavor::Go {
        entries.push(("method", method.as_str().into()));
    }
    entries.push(("origin", summary.origin.into()));
    entries.push(("url", summary.url.into()));
    JsonObject::new(entries)
}

/// `/anything` and `/delay`: the request with its body.
async fn echo_with_body(
    flavor: HttpbinFlavor,
    summary: RequestSummary,
    request: Request<Incoming>,
) -> HttpResponse {
    let method = request.method().clone();
    let headers = request.headers().clone();
    let body: Bytes = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            warn!(%error, "reading the request body failed");
            let detail = format!("error reading request body: {error}");
            return error_response(flavor, StatusCode::BAD_REQUEST, Some(&detail));
        }
    };
    let body = BodySummary::new(flavor, &headers, &body);
    let entries = vec![
        ("args", summary.args),
        ("headers", summary.headers),
        ("method", method.as_str().into()),
        ("origin", summary.origin.into()),
        ("url", summary.url.into()),
        ("data", body.data),
        ("files", body.files),
        ("form", body.form),
        ("json", body.json),
    ];
    json(flavor, StatusCode::OK, JsonObject::new(entries))
}

/// `/status/<codes>`: the first code of a comma-separated list, with the headers and body
/// httpbin adds for some codes.
fn status_response(flavor: HttpbinFlavor, codes: &str) -> HttpResponse {
    let code = match first_status_code(codes) {
        Ok(code) => code,
        Err(detail) => return error_response(flavor, StatusCode::BAD_REQUEST, Some(&detail)),
    };

    // NOTE: hyper cannot send a 1xx status as the final response, so a 1xx request gets 200,
    // the final status a client sees after go-httpbin's informational response.
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|status| !status.is_informational())
        .unwrap_or(StatusCode::OK);
    let content_type = match flavor {
        HttpbinFlavor::Go => "text/plain; charset=utf-8",
        HttpbinFlavor::Python => HTML,
    };
    let (extra_headers, body) = special_status_parts(code);

    let mut response = respond(status, content_type, body);
    for (name, value) in extra_headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Parses the first code of `200`, `503,200` or `404:0.5,200:0.5`, or returns why it is
/// invalid.
fn first_status_code(codes: &str) -> Result<u16, String> {
    // NOTE: both images pick a random code from a list, weighted by the optional
    // `:<weight>`. This one always takes the first code, so that scenarios stay deterministic.
    let first = codes.split(',').next().unwrap_or(codes);
    let code_text = first.split_once(':').map_or(first, |(code, _weight)| code);
    code_text
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|code| (100..=599).contains(code))
        .ok_or_else(|| format!("invalid status code: {code_text:?}"))
}

/// Returns the headers and body httpbin adds to a response with status `code`.
fn special_status_parts(code: u16) -> (Vec<(HeaderName, &'static str)>, &'static str) {
    const FAKE_REALM: &str = "Basic realm=\"Fake Realm\"";
    match code {
        301 | 302 | 303 | 305 | 307 => (vec![(LOCATION, "/redirect/1")], ""),
        401 => (vec![(WWW_AUTHENTICATE, FAKE_REALM)], ""),
        407 => (vec![(PROXY_AUTHENTICATE, FAKE_REALM)], ""),
        // The Python httpbin sends an ASCII-art teapot instead of this text.
        418 => (
            vec![(
                HeaderName::from_static("x-more-info"),
                "http://tools.ietf.org/html/rfc2324",
            )],
            "I'm a teapot!",
        ),
        _ => (Vec::new(), ""),
    }
}

/// Returns the delay `/delay/<value>` requests, or `None` when the flavor rejects the value.
/// go-httpbin takes seconds or a Go duration (`1.5`, `500ms`) from 0 to 10 s, and the
/// Python httpbin takes non-negative seconds and caps them at 10.
fn delay_of(flavor: HttpbinFlavor, value: &str) -> Option<Duration> {
    match flavor {
        HttpbinFlavor::Go => go_duration_seconds(value)
            .filter(|seconds| (0.0..=MAX_DELAY_SECONDS).contains(seconds))
            .map(Duration::from_secs_f64),
        HttpbinFlavor::Python => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|seconds| *seconds >= 0.0)
            .map(|seconds| Duration::from_secs_f64(seconds.min(MAX_DELAY_SECONDS))),
    }
}

/// Builds the response to a rejected delay: 400 with the reason from go-httpbin, and 500 from the
/// Python httpbin, whose handler fails on the value.
fn invalid_delay(flavor: HttpbinFlavor, value: &str) -> HttpResponse {
    match flavor {
        HttpbinFlavor::Go => {
            let detail = format!("invalid delay {value:?}: expected seconds from 0 to 10");
            error_response(flavor, StatusCode::BAD_REQUEST, Some(&detail))
        }
        HttpbinFlavor::Python => error_response(flavor, StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

/// Parses seconds from a plain number or a Go duration with one unit (`ns`, `us`, `ms`, `s`, `m`, `h`).
fn go_duration_seconds(value: &str) -> Option<f64> {
    if let Ok(seconds) = value.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let units = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    units.iter().find_map(|(unit, scale)| {
        let number = value.strip_suffix(unit)?;
        let seconds = number
            .parse::<f64>()
            .ok()
            .filter(|number| number.is_finite())?;
        Some(seconds * scale)
    })
}

/// Builds an error response as the flavor sends it: go-httpbin's JSON error object, or the HTML error page of
/// the Python server.
fn error_response(flavor: HttpbinFlavor, status: StatusCode, detail: Option<&str>) -> HttpResponse {
    let reason = status.canonical_reason().unwrap_or("Error");
    match flavor {
        HttpbinFlavor::Go => {
            let mut entries = vec![
                ("status_code", Value::from(status.as_u16())),
                ("error", Value::from(reason)),
            ];
            if let Some(detail) = detail {
                entries.push(("detail", Value::from(detail)));
            }
            json(flavor, status, JsonObject::new(entries))
        }
        HttpbinFlavor::Python => {
            let body = format!(
                "<!doctype html>\n<title>{} {reason}</title>\n<h1>{reason}</h1>\n",
                status.as_u16()
            );
            respond(status, HTML, body)
        }
    }
}

fn method_not_allowed(flavor: HttpbinFlavor) -> HttpResponse {
    match flavor {
        HttpbinFlavor::Go => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "Method Not Allowed\n",
        ),
        HttpbinFlavor::Python => error_response(flavor, StatusCode::METHOD_NOT_ALLOWED, None),
    }
}

fn index_html(flavor: HttpbinFlavor) -> String {
    let name = match flavor {
        HttpbinFlavor::Go => "go-httpbin",
        HttpbinFlavor::Python => "httpbin",
    };
    let endpoints = [
        ("/ip", "the client address"),
        ("/user-agent", "the User-Agent header"),
        ("/headers", "the request headers"),
        ("/get", "the GET request"),
        ("/anything", "any request, with its body"),
        ("/status/:code", "a response with that status"),
        (
            "/delay/:seconds",
            "the request, after a delay of up to 10 seconds",
        ),
    ];
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{name}</title></head>\n<body>\n<h1>{name}</h1>\n<ul>\n"
    );
    for (path, description) in endpoints {
        html.push_str(&format!("<li><code>{path}</code>: {description}</li>\n"));
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    html
}
