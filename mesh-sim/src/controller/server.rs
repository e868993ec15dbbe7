//! The controller's HTTPS API for proxies: the configuration watch, acknowledgements and
//! connection records. See [`crate::xds`] for the protocol.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::Controller;
use crate::net::api::{
    ApiBody as ResponseBody, bearer_token, empty_response, error_response as error, read_json,
};
use crate::net::https::{self, ServeOptions};
use crate::records::ConnectionRecord;
use crate::token::TokenAuthority;
use crate::xds::{ACK_PATH, Ack, CONNECTIONS_PATH, WATCH_PATH};

/// Serves the controller API on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    tokens: Arc<TokenAuthority>,
    tls: Arc<ServerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let address = listener.local_addr().ok();
    info!(address = ?address, "controller listening");
    let api = Arc::new(Api { controller, tokens });
    let service = service_fn(move |request| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(api.handle(request).await) }
    });
    https::serve(
        listener,
        Some(tls),
        service,
        shutdown,
        ServeOptions::default(),
    )
    .await;
    info!(address = ?address, "controller stopped");
}

struct Api {
    controller: Arc<Controller>,
    tokens: Arc<TokenAuthority>,
}

impl Api {
    /// Returns `namespace/name` of the pod whose token authenticates the request.
    fn authenticate(
        &self,
        request: &Request<Incoming>,
    ) -> Result<String, Box<Response<ResponseBody>>> {
        let token = bearer_token(request)
            .ok_or_else(|| Box::new(error(StatusCode::UNAUTHORIZED, "missing bearer token")))?;
        let claims = self.tokens.verify(token).map_err(|reason| {
            warn!(%reason, "rejected controller request with an invalid token");
            Box::new(error(
                StatusCode::UNAUTHORIZED,
                &format!("invalid token: {reason}"),
            ))
        })?;
        Ok(format!("{}/{}", claims.namespace, claims.pod_name))
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let pod = match self.authenticate(&request) {
            Ok(pod) => pod,
            Err(response) => return *response,
        };
        match (request.method(), request.uri().path()) {
            (&Method::GET, WATCH_PATH) => self.watch(&pod),
            (&Method::POST, ACK_PATH) => match read_json::<Ack>(request).await {
                Ok(ack) => {
                    self.controller.acknowledge(&pod, ack.version, ack.error);
                    empty_response()
                }
                Err(response) => response,
            },
            (&Method::POST, CONNECTIONS_PATH) => {
                match read_json::<Vec<ConnectionRecord>>(request).await {
                    Ok(records) => {
                        let foreign = records.iter().any(|record| record.reporter != pod);
                        if foreign {
                            return error(
                                StatusCode::FORBIDDEN,
                                &format!("records must be reported by {pod}"),
                            );
                        }
                        self.controller.add_records(records);
                        empty_response()
                    }
                    Err(response) => response,
                }
            }
            (_, WATCH_PATH | ACK_PATH | CONNECTIONS_PATH) => {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            (_, path) => error(StatusCode::NOT_FOUND, &format!("no such endpoint: {path}")),
        }
    }

    /// Streams the pod's configuration: the current version at once, then every new one. The
    /// stream ends when the pod is deleted.
    fn watch(&self, pod: &str) -> Response<ResponseBody> {
        let Some(receiver) = self.controller.watch(pod) else {
            return error(
                StatusCode::NOT_FOUND,
                &format!("pod {pod} has no sidecar configuration"),
            );
        };
        debug!(pod, "proxy connected to the configuration watch");
        let updates = stream::unfold((receiver, true), |(mut receiver, first)| async move {
            if !first && receiver.changed().await.is_err() {
                return None;
            }
            let push = receiver.borrow_and_update().clone();
            let mut line = push
                .map(|push| serde_json::to_vec(&*push).unwrap_or_default())
                .unwrap_or_default();
            line.push(b'\n');
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(line))),
                (receiver, false),
            ))
        });
        let mut response = Response::new(StreamBody::new(updates).boxed_unsync());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        response
    }
}
