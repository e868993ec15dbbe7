//! The cluster DNS server, reached over DNS over HTTPS (RFC 8484):
//! `POST /dns-query/<namespace>/<pod>` with an `application/dns-message` body, or `GET` with
//! `?dns=<base64url>`. The path names the asking pod, because the answer depends on it:
//! the pod's namespace is its search path, and an injected pod gets the address of its own
//! sidecar's listener. curl's `--doh-url` speaks this protocol, so it resolves cluster names
//! exactly as the pod sees them; an unknown name gets NXDOMAIN, which curl reports as exit 6.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use super::dns_message::{self, Answer};
use crate::cluster::ClusterStore;
use crate::net::https::{self, ServeOptions};

/// Path prefix of the DNS endpoint.
pub const DNS_PATH: &str = "/dns-query";
/// Largest DNS message accepted, in bytes.
const MAX_MESSAGE: usize = 4096;

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn reply(status: StatusCode, body: Vec<u8>, dns: bool) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *response.status_mut() = status;
    let content_type = if dns {
        "application/dns-message"
    } else {
        "text/plain"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves DNS queries for the pods of `store` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    store: Arc<ClusterStore>,
    tls: Arc<ServerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |request| {
        let store = store.clone();
        async move { Ok::<_, Infallible>(handle(&store, request).await) }
    });
    https::serve(
        listener,
        Some(tls),
        service,
        shutdown,
        ServeOptions::default(),
    )
    .await;
}

async fn handle(store: &ClusterStore, request: Request<Incoming>) -> Response<Body> {
    let Some(pod) = request
        .uri()
        .path()
        .strip_prefix(DNS_PATH)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(str::to_owned)
    else {
        return reply(StatusCode::NOT_FOUND, b"not found".to_vec(), false);
    };
    let message = match *request.method() {
        Method::GET => {
            let encoded = request.uri().query().and_then(|query| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("dns="))
                    .map(str::to_owned)
            });
            match encoded.and_then(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok()) {
                Some(message) => message,
                None => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        b"missing dns parameter".to_vec(),
                        false,
                    );
                }
            }
        }
        Method::POST => match Limited::new(request.into_body(), MAX_MESSAGE)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes().to_vec(),
            Err(_) => {
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    b"message too large".to_vec(),
                    false,
                );
            }
        },
        _ => {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                b"use GET or POST".to_vec(),
                false,
            );
        }
    };
    let question = match dns_message::parse_query(&message) {
        Ok(question) => question,
        Err(error) => {
            debug!(pod, %error, "malformed DNS query");
            return reply(
                StatusCode::OK,
                dns_message::encode_format_error(&message),
                true,
            );
        }
    };
    let state = store.snapshot();
    let address = state
        .pod(&pod)
        .and_then(|asking| state.resolve_address(asking, &question.name));
    debug!(
        pod,
        name = question.name,
        record_type = question.record_type,
        ?address,
        "DNS query"
    );
    let answer = match address {
        Some(address) => Answer::Addresses(vec![address]),
        None => Answer::NameError,
    };
    reply(
        StatusCode::OK,
        dns_message::encode_response(&question, &answer),
        true,
    )
}
