//! HTTP/1.1 plumbing shared by the HTTP apps: serving requests on accepted connections,
//! building responses, and sending requests to other services through the pod's network.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::debug;

use super::PodNetwork;
use super::running::ConnectionHandler;

/// The response type of every HTTP app.
pub(super) type HttpResponse = Response<Full<Bytes>>;

/// Wraps an HTTP request handler into a [`ConnectionHandler`] that serves HTTP/1.1, with
/// keep-alive, on each accepted connection. `handle` receives the request and the peer address.
pub(super) fn http_handler<F, Fut>(handle: F) -> ConnectionHandler
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let handle = Arc::new(handle);
    Arc::new(move |stream: TcpStream, peer: SocketAddr| {
        let handle = Arc::clone(&handle);
        Box::pin(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let method = request.method().clone();
                let path = request.uri().path().to_owned();
                let response = handle(request, peer);
                async move {
                    let response = response.await;
                    debug!(%method, path, status = response.status().as_u16(), "served a request");
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                debug!(%error, "HTTP connection ended with an error");
            }
        })
    })
}

/// Builds a response with a body and a `Content-Type`.
pub(super) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Whether the request method is GET or HEAD, the methods of read-only endpoints.
pub(super) fn is_get_or_head(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Formats an error with its chain of sources, for logs.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A response from another service.
#[derive(Debug)]
pub(super) struct BackendResponse {
    /// Response status.
    pub(super) status: StatusCode,
    /// The whole response body.
    pub(super) body: Bytes,
}

/// Failure of a request to another service before the whole response arrived.
#[derive(Debug, thiserror::Error)]
pub(super) enum BackendError {
    /// The request could not be built from the configured host name or path.
    #[error("invalid request to {authority}{path}")]
    InvalidRequest {
        /// `host:port` of the service.
        authority: String,
        /// Request path.
        path: String,
        /// The invalid part.
        #[source]
        source: http::Error,
    },
    /// The TCP connection could not be opened.
    #[error("connecting to {authority} failed")]
    Connect {
        /// `host:port` of the service.
        authority: String,
        /// The connection error.
        #[source]
        source: io::Error,
    },
    /// The connection broke before the whole response arrived.
    #[error("HTTP exchange with {authority} failed")]
    Exchange {
        /// `host:port` of the service.
        authority: String,
        /// The HTTP error.
        #[source]
        source: hyper::Error,
    },
    /// No whole response arrived in time.
    #[error("request to {authority} timed out after {timeout:?}")]
    TimedOut {
        /// `host:port` of the service.
        authority: String,
        /// The time allowed for connecting, sending and receiving.
        timeout: Duration,
    },
}

/// Sends `GET path` to `host:port` over a new connection from the pod, with `Host: host:port`
/// and the given extra headers, and reads the whole response.
///
/// `timeout` bounds the whole exchange: connecting, sending and reading the body.
pub(super) async fn get(
    network: &dyn PodNetwork,
    host: &str,
    port: u16,
    path: &str,
    headers: HeaderMap,
    timeout: Duration,
) -> Result<BackendResponse, BackendError> {
    let authority = format!("{host}:{port}");
    let request =
        build_get(&authority, path, headers).map_err(|source| BackendError::InvalidRequest {
            authority: authority.clone(),
            path: path.to_owned(),
            source,
        })?;
    let exchange = async {
        let stream = network
            .connect(host, port)
            .await
            .map_err(|source| BackendError::Connect {
                authority: authority.clone(),
                source,
            })?;
        send(stream, request)
            .await
            .map_err(|source| BackendError::Exchange {
                authority: authority.clone(),
                source,
            })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_elapsed) => Err(BackendError::TimedOut {
            authority: authority.clone(),
            timeout,
        }),
    }
}

fn build_get(
    authority: &str,
    path: &str,
    headers: HeaderMap,
) -> Result<Request<Empty<Bytes>>, http::Error> {
    let uri: Uri = path.parse()?;
    let host = HeaderValue::from_str(authority)?;
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Empty::new())?;
    *request.headers_mut() = headers;
    request.headers_mut().insert(HOST, host);
    Ok(request)
}

/// Sends one request on `stream` and reads the response.
async fn send(
    stream: TcpStream,
    request: Request<Empty<Bytes>>,
) -> Result<BackendResponse, hyper::Error> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection future drives the socket; it ends once `exchange` has dropped the sender,
    // so joining both needs no background task.
    let exchange = async move {
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>(BackendResponse { status, body })
    };
    let (connection_result, exchange_result) =
        futures_util::future::join(connection, exchange).await;
    let response = exchange_result?;
    if let Err(error) = connection_result {
        // The whole response arrived, so an error while closing does not matter.
        debug!(%error, "closing a backend connection failed");
    }
    Ok(response)
}

/// Splits a query string or an `application/x-www-form-urlencoded` body into decoded name and
/// value pairs, in order. A pair without `=` has an empty value.
pub(super) fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

/// Decodes form encoding, where `+` is a space and `%XX` a byte. A malformed escape stays as
/// written, and invalid UTF-8 becomes U+FFFD.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                index += 1;
            }
            (other, None) => {
                decoded.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_decodes_in_order() {
        let pairs = form_pairs("b=2&a=x+y%21&flag&&c=%zz%+1&d=%E2%9C%93");
        let expected = [
            ("b", "2"),
            ("a", "x y!"),
            ("flag", ""),
            ("c", "%zz% 1"),
            ("d", "\u{2713}"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        assert_eq!(pairs, expected);
    }
}
