//! Pieces shared by the control plane's JSON APIs: responses, bounded JSON bodies and bearer
//! token extraction.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Serialize;

/// Body type of every API response.
pub type ApiBody = UnsyncBoxBody<Bytes, Infallible>;

/// Largest request body the APIs read, in bytes.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<ApiBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An error response with a JSON `message`.
pub fn error_response(status: StatusCode, message: &str) -> Response<ApiBody> {
    json_response(status, &ErrorBody { message })
}

/// An empty `200 OK`.
pub fn empty_response() -> Response<ApiBody> {
    Response::new(Full::new(Bytes::new()).boxed_unsync())
}

/// The bearer token of a request.
pub fn bearer_token<B>(request: &Request<B>) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Reads a JSON body of at most [`MAX_REQUEST_BYTES`], or returns the 400 response to send.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
) -> Result<T, Response<ApiBody>> {
    let body = Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|error| {
            error_response(
                StatusCode::BAD_REQUEST,
                &format!("cannot read request body: {error}"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&body)
        .map_err(|error| error_response(StatusCode::BAD_REQUEST, &format!("invalid JSON: {error}")))
}
