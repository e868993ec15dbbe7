//! Sends connection records to the controller in the background, batching whatever is queued
//! when a send starts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::Full;
use rustls::ClientConfig;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::net::https;
use crate::records::ConnectionRecord;
use crate::token::PodToken;
use crate::xds::CONNECTIONS_PATH;

/// Maximum records sent in one request.
const MAX_BATCH: usize = 256;
/// Limit for connecting to the controller and for one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle that queues records for sending; cheap to clone.
#[derive(Clone, Debug)]
pub struct Reporter {
    sender: mpsc::UnboundedSender<ConnectionRecord>,
}

impl Reporter {
    /// Queues a record. Records of a stopped proxy are dropped.
    pub fn report(&self, record: ConnectionRecord) {
        let _ = self.sender.send(record);
    }
}

/// The controller endpoint the reporter sends records to.
#[derive(Clone, Debug)]
pub struct ReportTarget {
    /// Controller address.
    pub address: SocketAddr,
    /// Controller TLS name.
    pub server_name: String,
    /// Client TLS configuration trusting the mesh root.
    pub tls: Arc<ClientConfig>,
    /// The pod's token.
    pub token: PodToken,
}

/// Starts the reporter task. It ends when every [`Reporter`] is dropped and the queue is sent.
pub fn start(target: ReportTarget) -> (Reporter, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(target, receiver));
    (Reporter { sender }, task)
}

async fn run(target: ReportTarget, mut receiver: mpsc::UnboundedReceiver<ConnectionRecord>) {
    let mut connection: Option<https::HttpsConnection<Full<Bytes>>> = None;
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let body = match serde_json::to_vec(&batch) {
            Ok(body) => Bytes::from(body),
            Err(error) => {
                warn!(%error, "cannot encode connection records; dropping them");
                batch.clear();
                continue;
            }
        };
        // One retry on a fresh connection covers a controller connection that went stale.
        let mut sent = false;
        for _ in 0..2 {
            if connection.is_none() {
                match https::connect(
                    target.address,
                    &target.server_name,
                    target.tls.clone(),
                    REQUEST_TIMEOUT,
                )
                .await
                {
                    Ok(fresh) => connection = Some(fresh),
                    Err(error) => {
                        warn!(%error, "cannot connect to the controller to report connections");
                        continue;
                    }
                }
            }
            let Some(open) = connection.as_mut() else {
                continue;
            };
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = Method::POST;
            *request.uri_mut() = http::Uri::from_static(CONNECTIONS_PATH);
            request.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(value) =
                HeaderValue::from_str(&format!("Bearer {}", target.token.expose_secret()))
            {
                request.headers_mut().insert(header::AUTHORIZATION, value);
            }
            match tokio::time::timeout(REQUEST_TIMEOUT, open.send_request(request)).await {
                Ok(Ok(response)) if response.status().is_success() => {
                    sent = true;
                    break;
                }
                Ok(Ok(response)) => {
                    warn!(status = %response.status(), "controller rejected connection records");
                    sent = true;
                    break;
                }
                Ok(Err(error)) => {
                    debug!(%error, "reporting connections failed; reconnecting");
                    connection = None;
                }
                Err(_) => {
                    debug!("reporting connections timed out; reconnecting");
                    connection = None;
                }
            }
        }
        if !sent {
            warn!(
                count = batch.len(),
                "dropped connection records the controller did not accept"
            );
        }
        batch.clear();
    }
}
