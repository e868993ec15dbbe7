//! The parts of httpbin's JSON responses that describe the request (header names and values,
//! query arguments, origin, URL and body), in the shape of each flavor.

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Uri};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::apps::HttpbinFlavor;
use crate::apps::http_util::form_pairs;

/// Headers the Python httpbin leaves out of its output unless the query has `show_env`,
/// because they describe the hosting proxy rather than the client.
const PYTHON_HIDDEN_HEADERS: &[&str] = &[
    "x-varnish",
    "x-request-start",
    "x-heroku-queue-depth",
    "x-real-ip",
    "x-forwarded-proto",
    "x-forwarded-protocol",
    "x-forwarded-ssl",
    "x-heroku-queue-wait-time",
    "x-forwarded-for",
    "x-heroku-dynos-in-use",
    "x-forwarded-port",
    "x-request-id",
    "via",
    "total-route-time",
    "connect-time",
];

/// A JSON object whose keys are written in the order given.
pub(super) struct JsonObject(Vec<(&'static str, Value)>);

impl JsonObject {
    pub(super) fn new(entries: Vec<(&'static str, Value)>) -> Self {
        Self(entries)
    }

    /// Orders the keys as the flavor's encoder does: struct field order in Go, sorted keys
    /// in Python.
    pub(super) fn ordered_for(mut self, flavor: HttpbinFlavor) -> Self {
        if flavor == HttpbinFlavor::Python {
            self.0.sort_by(|left, right| left.0.cmp(right.0));
        }
        self
    }
}

impl Serialize for JsonObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The parts of a request that every echo endpoint reports.
pub(super) struct RequestSummary {
    pub(super) args: Value,
    pub(super) headers: Value,
    pub(super) origin: String,
    pub(super) url: String,
}

impl RequestSummary {
    pub(super) fn new(
        flavor: HttpbinFlavor,
        uri: &Uri,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> Self {
        let query = uri.query().unwrap_or("");
        Self {
            args: args_json(flavor, query),
            headers: headers_json(flavor, headers, query),
            origin: origin(flavor, headers, peer),
            url: request_url(uri, headers),
        }
    }
}

/// Writes a header name as the flavor does: Go's canonical form (`X-B3-Traceid`), or Python's
/// `str.title()`, which also capitalizes a letter after a digit (`X-B3Sampled`).
pub(super) fn header_name(flavor: HttpbinFlavor, name: &str) -> String {
    let mut formatted = String::with_capacity(name.len());
    let mut capitalize = true;
    for character in name.chars() {
        formatted.push(if capitalize {
            character.to_ascii_uppercase()
        } else {
            character.to_ascii_lowercase()
        });
        capitalize = match flavor {
            HttpbinFlavor::Go => character == '-',
            HttpbinFlavor::Python => !character.is_ascii_alphabetic(),
        };
    }
    formatted
}

/// Collects every request header: each value in an array for Go, values joined by `,` for Python,
/// which also hides [`PYTHON_HIDDEN_HEADERS`] unless the query has `show_env`.
pub(super) fn headers_json(flavor: HttpbinFlavor, headers: &HeaderMap, query: &str) -> Value {
    let show_env = form_pairs(query).iter().any(|(name, _)| name == "show_env");
    let mut output = Map::new();
    for name in headers.keys() {
        let hidden = flavor == HttpbinFlavor::Python
            && !show_env
            && PYTHON_HIDDEN_HEADERS.contains(&name.as_str());
        if hidden {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        let value = match flavor {
            HttpbinFlavor::Go => Value::from(values),
            HttpbinFlavor::Python => Value::from(values.join(",")),
        };
        output.insert(header_name(flavor, name.as_str()), value);
    }
    Value::Object(output)
}

/// Groups query arguments by name: arrays of values for Go, and for Python a string, or an
/// array when the argument repeats.
pub(super) fn args_json(flavor: HttpbinFlavor, query: &str) -> Value {
    let mut grouped: Map<String, Value> = Map::new();
    for (name, value) in form_pairs(query) {
        match grouped.get_mut(&name) {
            Some(Value::Array(values)) => values.push(Value::from(value)),
            _ => {
                grouped.insert(name, Value::Array(vec![Value::from(value)]));
            }
        }
    }
    if flavor == HttpbinFlavor::Python {
        for value in grouped.values_mut() {
            if let Value::Array(values) = value
                && values.len() == 1
            {
                *value = values.remove(0);
            }
        }
    }
    Value::Object(grouped)
}

/// Returns the client address: the first `X-Forwarded-For` entry for Go, the whole header for
/// Python, and the peer address without a forwarded header.
pub(super) fn origin(flavor: HttpbinFlavor, headers: &HeaderMap, peer: SocketAddr) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty());
    match (forwarded, flavor) {
        (Some(forwarded), HttpbinFlavor::Go) => forwarded
            .split(',')
            .next()
            .unwrap_or(forwarded)
            .trim()
            .to_owned(),
        (Some(forwarded), HttpbinFlavor::Python) => forwarded.to_owned(),
        (None, _) => peer.ip().to_string(),
    }
}

/// Rebuilds the URL the client requested, with the scheme a proxy reported in `X-Forwarded-Proto`,
/// `X-Forwarded-Protocol` or `X-Forwarded-Ssl: on`.
pub(super) fn request_url(uri: &Uri, headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
    };
    let scheme = header("x-forwarded-proto")
        .or_else(|| header("x-forwarded-protocol"))
        .or_else(|| (header("x-forwarded-ssl") == Some("on")).then_some("https"))
        .unwrap_or("http");
    let host = header("host").unwrap_or("");
    let target = uri.path_and_query().map_or("/", |target| target.as_str());
    format!("{scheme}://{host}{target}")
}

/// The request body as the echo endpoints report it.
pub(super) struct BodySummary {
    pub(super) data: Value,
    pub(super) form: Value,
    pub(super) json: Value,
    pub(super) files: Value,
}

impl BodySummary {
    /// Describes `body`. Form bodies are decoded into `form`. Multipart bodies are not
    /// parsed, so their parts stay in `data` and `files` is always empty.
    pub(super) fn new(flavor: HttpbinFlavor, headers: &HeaderMap, body: &[u8]) -> Self {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let is_form = media_type == "application/x-www-form-urlencoded";
        let form = if is_form {
            args_json(flavor, &String::from_utf8_lossy(body))
        } else {
            Value::Object(Map::new())
        };
        let data = match flavor {
            HttpbinFlavor::Go => go_data(&media_type, body),
            // Flask consumes a form body, so the Python httpbin reports no data for it.
            HttpbinFlavor::Python if is_form => String::new(),
            HttpbinFlavor::Python => python_data(body),
        };
        let parse_json = match flavor {
            HttpbinFlavor::Go => media_type == "application/json",
            // The Python httpbin tries every body as JSON, whatever its content type.
            HttpbinFlavor::Python => true,
        };
        let json = if parse_json {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        Self {
            data: Value::from(data),
            form,
            json,
            files: Value::Object(Map::new()),
        }
    }
}

/// Formats a body as go-httpbin reports it: text-like bodies as text, any other body as a
/// base64 data URL.
fn go_data(media_type: &str, body: &[u8]) -> String {
    let textual = matches!(
        media_type,
        "text/html"
            | "text/plain"
            | "application/x-www-form-urlencoded"
            | "multipart/form-data"
            | "application/json"
    );
    if body.is_empty() || textual {
        return String::from_utf8_lossy(body).into_owned();
    }
    let media_type = if media_type.is_empty() {
        "application/octet-stream"
    } else {
        media_type
    };
    format!("data:{media_type};base64,{}", URL_SAFE.encode(body))
}

/// Formats a body as the Python httpbin reports it: UTF-8 as text, any other body as a base64
/// data URL.
fn python_data(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => format!(
            "data:application/octet-stream;base64,{}",
            STANDARD.encode(body)
        ),
    }
}
