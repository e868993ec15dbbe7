//! The proxy's conversation with the control plane: obtain a certificate, follow the
//! configuration watch, apply each version and acknowledge it, and renew the certificate
//! before it expires.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Empty, Full};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::{oneshot, watch};
use tracing::{debug, info, warn};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::listeners::Listeners;
use super::reporter::{self, ReportTarget};
use super::tls_context::TlsContext;
use super::{Bootstrap, Shared};
use crate::ca::client::{CaEndpoint, IssueError, request_certificate};
use crate::net::https::{self, ConnectError, HttpsConnection};
use crate::tls::{self, TlsError, TrustBundle};
use crate::xds::{ACK_PATH, Ack, ConfigPush, ProxyConfig, WATCH_PATH};

/// Limit for one control plane request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// First delay before reconnecting to the controller; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest delay between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Longest line of the configuration watch the proxy accepts, in bytes.
const MAX_PUSH_BYTES: usize = 16 * 1024 * 1024;

/// Why a proxy could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The control plane's root certificate is unusable.
    #[error("invalid control plane root certificate: {0}")]
    Root(String),
    /// TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The CA did not issue a certificate.
    #[error("cannot obtain a workload certificate: {0}")]
    Certificate(#[from] IssueError),
    /// The first configuration could not be applied.
    #[error("cannot apply configuration version {version}: {error}")]
    Config {
        /// The version.
        version: u64,
        /// What failed.
        error: String,
    },
    /// Start-up took longer than allowed.
    #[error("sidecar did not become ready within {0:?}")]
    StartupTimeout(Duration),
    /// The proxy task ended before reporting.
    #[error("sidecar stopped during start-up")]
    Stopped,
}

/// Runs the proxy until `shutdown` turns true. `ready` receives the start-up result: `Ok` once
/// the first configuration is applied and acknowledged.
pub async fn run(
    bootstrap: Bootstrap,
    mut shutdown: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), ProxyError>>,
) {
    let started = start(bootstrap).await;
    let (shared, control_tls, reporter_task) = match started {
        Ok(started) => started,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let mut listeners = Listeners::default();
    let mut ready = Some(ready);
    let renewal = tokio::spawn(renew_certificates(shared.clone(), shutdown.clone()));
    tokio::select! {
        () = follow_configuration(&shared, &control_tls, &mut listeners, &mut ready) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    renewal.abort();
    listeners.close().await;
    let pod = shared.bootstrap.pod.clone();
    // The reporter ends once the last sender, held by `shared`, is gone and its queue is sent;
    // waiting for it delivers the records of the final connections before the control plane
    // stops.
    drop(shared);
    if tokio::time::timeout(REQUEST_TIMEOUT, reporter_task)
        .await
        .is_err()
    {
        warn!(
            pod,
            "connection records not delivered before the sidecar stopped"
        );
    }
    info!(pod, "sidecar stopped");
}

/// Builds the control plane TLS configuration and obtains the first certificate.
async fn start(
    bootstrap: Bootstrap,
) -> Result<(Arc<Shared>, Arc<ClientConfig>, tokio::task::JoinHandle<()>), ProxyError> {
    let roots: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(bootstrap.control_plane.root_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|error| ProxyError::Root(error.to_string()))?;
    if roots.is_empty() {
        return Err(ProxyError::Root("no certificate in PEM".to_owned()));
    }
    let control_tls = tls::control_plane_client_config(&TrustBundle::new(roots))?;
    let context = issue(&bootstrap, &control_tls).await?;
    let (reporter, reporter_task) = reporter::start(ReportTarget {
        address: bootstrap.control_plane.controller,
        server_name: bootstrap.control_plane.server_name.clone(),
        tls: control_tls.clone(),
        token: bootstrap.token.clone(),
    });
    let empty = ProxyConfig {
        pod: bootstrap.pod.clone(),
        trust_domains: vec![bootstrap.identity.trust_domain().to_owned()],
        inbound: Vec::new(),
        outbound: Vec::new(),
    };
    let shared = Arc::new(Shared {
        bootstrap,
        config: RwLock::new(Arc::new(empty)),
        tls: RwLock::new(Arc::new(context)),
        reporter,
        next_endpoint: AtomicUsize::new(0),
    });
    Ok((shared, control_tls, reporter_task))
}

async fn issue(
    bootstrap: &Bootstrap,
    control_tls: &Arc<ClientConfig>,
) -> Result<TlsContext, ProxyError> {
    let endpoint = CaEndpoint {
        address: bootstrap.control_plane.ca,
        server_name: bootstrap.control_plane.server_name.clone(),
        tls: control_tls.clone(),
    };
    let (credentials, bundle) = request_certificate(
        &endpoint,
        &bootstrap.token,
        &bootstrap.identity,
        bootstrap.certificate_ttl,
        REQUEST_TIMEOUT,
    )
    .await?;
    debug!(pod = bootstrap.pod, identity = %credentials.identity(), "workload certificate issued");
    Ok(TlsContext::new(credentials, bundle)?)
}

/// Seconds until the leaf certificate reaches half its lifetime, when it is renewed.
fn renewal_delay(leaf: &CertificateDer<'_>) -> Duration {
    let Ok((_, parsed)) = X509Certificate::from_der(leaf.as_ref()) else {
        return Duration::from_secs(60);
    };
    let not_before = parsed.validity().not_before.timestamp();
    let not_after = parsed.validity().not_after.timestamp();
    let halfway = not_before + (not_after - not_before) / 2;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    Duration::from_secs(u64::try_from(halfway - now).unwrap_or(0).max(1))
}

/// Renews the workload certificate at half its lifetime, as Istio's agent does. New
/// connections use the new certificate; open ones keep theirs.
async fn renew_certificates(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let control_tls = match tls::control_plane_client_config(&shared.tls().bundle().clone()) {
        Ok(config) => config,
        Err(error) => {
            warn!(pod = shared.bootstrap.pod, %error, "certificate renewal disabled");
            return;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let delay = renewal_delay(shared.tls().credentials().leaf());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match issue(&shared.bootstrap, &control_tls).await {
            Ok(context) => {
                info!(pod = shared.bootstrap.pod, "workload certificate renewed");
                *shared
                    .tls
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(context);
                backoff = FIRST_BACKOFF;
            }
            Err(error) => {
                warn!(pod = shared.bootstrap.pod, %error, "certificate renewal failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Follows the configuration watch for as long as the proxy runs, reconnecting after
/// failures. The last applied configuration stays in force while disconnected.
async fn follow_configuration(
    shared: &Arc<Shared>,
    control_tls: &Arc<ClientConfig>,
    listeners: &mut Listeners,
    ready: &mut Option<oneshot::Sender<Result<(), ProxyError>>>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut acks: Option<HttpsConnection<Full<Bytes>>> = None;
    loop {
        match watch_once(shared, control_tls, listeners, ready, &mut acks).await {
            Ok(()) => {
                debug!(
                    pod = shared.bootstrap.pod,
                    "configuration watch ended; reconnecting"
                );
                backoff = FIRST_BACKOFF;
            }
            Err(WatchError::Fatal(error)) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(error));
                    return;
                }
                warn!(pod = shared.bootstrap.pod, %error, "configuration rejected");
            }
            Err(WatchError::Retry(reason)) => {
                debug!(
                    pod = shared.bootstrap.pod,
                    reason, "configuration watch failed; retrying"
                );
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum WatchError {
    Retry(String),
    Fatal(ProxyError),
}

impl From<ConnectError> for WatchError {
    fn from(error: ConnectError) -> Self {
        Self::Retry(error.to_string())
    }
}

fn authorized<B>(mut request: Request<B>, shared: &Shared) -> Request<B> {
    if let Ok(value) = HeaderValue::from_str(&format!(
        "Bearer {}",
        shared.bootstrap.token.expose_secret()
    )) {
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    request
}

/// One watch connection: apply and acknowledge every pushed version until the stream ends.
async fn watch_once(
    shared: &Arc<Shared>,
    control_tls: &Arc<ClientConfig>,
    listeners: &mut Listeners,
    ready: &mut Option<oneshot::Sender<Result<(), ProxyError>>>,
    acks: &mut Option<HttpsConnection<Full<Bytes>>>,
) -> Result<(), WatchError> {
    let control_plane = &shared.bootstrap.control_plane;
    let mut connection = https::connect::<Empty<Bytes>>(
        control_plane.controller,
        &control_plane.server_name,
        control_tls.clone(),
        REQUEST_TIMEOUT,
    )
    .await?;
    let mut request = Request::new(Empty::new());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = http::Uri::from_static(WATCH_PATH);
    let response = connection
        .send_request(authorized(request, shared))
        .await
        .map_err(|error| WatchError::Retry(error.to_string()))?;
    if !response.status().is_success() {
        return Err(WatchError::Retry(format!(
            "controller answered {}",
            response.status()
        )));
    }
    let mut body = response.into_body();
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| WatchError::Retry(error.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(newline) = buffer.iter().position(|byte| *byte == b'\n') {
            let line = buffer.split_to(newline + 1);
            let line = &line[..line.len() - 1];
            if line.is_empty() {
                continue;
            }
            let push: ConfigPush = serde_json::from_slice(line).map_err(|error| {
                WatchError::Retry(format!("invalid configuration push: {error}"))
            })?;
            apply(shared, listeners, ready, acks, control_tls, push).await?;
        }
        if buffer.len() > MAX_PUSH_BYTES {
            return Err(WatchError::Retry("configuration push too large".to_owned()));
        }
    }
    Ok(())
}

/// Applies one version and acknowledges it.
async fn apply(
    shared: &Arc<Shared>,
    listeners: &mut Listeners,
    ready: &mut Option<oneshot::Sender<Result<(), ProxyError>>>,
    acks: &mut Option<HttpsConnection<Full<Bytes>>>,
    control_tls: &Arc<ClientConfig>,
    push: ConfigPush,
) -> Result<(), WatchError> {
    let version = push.version;
    let result = listeners.reconcile(shared, &push.config);
    if result.is_ok() {
        *shared
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(push.config);
        debug!(pod = shared.bootstrap.pod, version, "configuration applied");
    }
    let ack = Ack {
        version,
        error: result.clone().err(),
    };
    send_ack(shared, acks, control_tls, &ack).await?;
    match result {
        Ok(()) => {
            if let Some(ready) = ready.take() {
                let _ = ready.send(Ok(()));
            }
            Ok(())
        }
        Err(error) => Err(WatchError::Fatal(ProxyError::Config { version, error })),
    }
}

async fn send_ack(
    shared: &Shared,
    acks: &mut Option<HttpsConnection<Full<Bytes>>>,
    control_tls: &Arc<ClientConfig>,
    ack: &Ack,
) -> Result<(), WatchError> {
    let body = Bytes::from(serde_json::to_vec(ack).unwrap_or_default());
    // One retry on a fresh connection covers an acknowledgement connection that went stale.
    let mut last_error = String::new();
    for _ in 0..2 {
        if acks.as_ref().is_none_or(|connection| !connection.is_open()) {
            let control_plane = &shared.bootstrap.control_plane;
            *acks = Some(
                https::connect(
                    control_plane.controller,
                    &control_plane.server_name,
                    control_tls.clone(),
                    REQUEST_TIMEOUT,
                )
                .await?,
            );
        }
        let Some(connection) = acks.as_mut() else {
            continue;
        };
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = http::Uri::from_static(ACK_PATH);
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match connection.send_request(authorized(request, shared)).await {
            Ok(response) if response.status().is_success() => {
                let _ = response.into_body().collect().await;
                return Ok(());
            }
            Ok(response) => {
                return Err(WatchError::Retry(format!(
                    "controller rejected acknowledgement: {}",
                    response.status()
                )));
            }
            Err(error) => {
                last_error = error.to_string();
                *acks = None;
            }
        }
    }
    Err(WatchError::Retry(format!(
        "cannot acknowledge version {}: {last_error}",
        ack.version
    )))
}
