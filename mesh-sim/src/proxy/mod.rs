//! The sidecar proxy: obtains its workload certificate from the CA, follows its configuration
//! from the controller, and serves its pod's inbound and outbound traffic.
//!
//! The proxy talks to the control plane only over the network, so the same code runs inside
//! the test process or alone in a container.

mod control;
mod http;
mod inbound;
pub mod io;
mod listeners;
mod outbound;
pub mod reporter;
pub mod sniff;
mod tls_context;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::identity::SpiffeId;
use crate::token::PodToken;
use crate::xds::ProxyConfig;

pub use self::control::ProxyError;
use self::reporter::Reporter;
use self::tls_context::TlsContext;

/// How long the proxy waits for the first bytes of a connection before treating it as a
/// client that speaks first never (plaintext with no data).
const DETECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the control plane is and how to trust it.
#[derive(Clone, Debug)]
pub struct ControlPlane {
    /// Controller address.
    pub controller: SocketAddr,
    /// CA address.
    pub ca: SocketAddr,
    /// DNS name in the control plane's TLS certificate.
    pub server_name: String,
    /// PEM of the mesh root, which signs the control plane's certificate and every workload's.
    pub root_pem: String,
}

/// Everything a proxy is started with: what a real sidecar gets from its pod spec, its
/// mounted token and its environment.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    /// The pod's identity.
    pub identity: SpiffeId,
    /// `namespace/name` of the pod.
    pub pod: String,
    /// The pod's address; outgoing connections leave from it.
    pub pod_ip: IpAddr,
    /// The pod's token.
    pub token: PodToken,
    /// The control plane.
    pub control_plane: ControlPlane,
    /// Requested certificate lifetime; the CA may shorten it.
    pub certificate_ttl: Option<Duration>,
    /// Limit for start-up: certificate, first configuration and listeners.
    pub startup_timeout: Duration,
}

/// State shared by every task of one proxy.
struct Shared {
    bootstrap: Bootstrap,
    config: RwLock<Arc<ProxyConfig>>,
    tls: RwLock<Arc<TlsContext>>,
    reporter: Reporter,
    next_endpoint: AtomicUsize,
}

impl Shared {
    fn config(&self) -> Arc<ProxyConfig> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn tls(&self) -> Arc<TlsContext> {
        self.tls
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct Sidecar {
    pod: String,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sidecar {
    /// Starts a proxy and returns once it has its certificate, applied its first configuration
    /// and acknowledged it, or fails with the step that did not complete.
    pub async fn start(bootstrap: Bootstrap) -> Result<Self, ProxyError> {
        let pod = bootstrap.pod.clone();
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let (ready_sender, ready) = tokio::sync::oneshot::channel();
        let timeout = bootstrap.startup_timeout;
        let task = tokio::spawn(control::run(bootstrap, shutdown_receiver, ready_sender));
        let started = tokio::time::timeout(timeout, ready).await;
        match started {
            Ok(Ok(Ok(()))) => {
                info!(pod, "sidecar ready");
                Ok(Self {
                    pod,
                    shutdown,
                    task,
                })
            }
            Ok(Ok(Err(error))) => {
                task.abort();
                Err(error)
            }
            Ok(Err(_)) => {
                task.abort();
                Err(ProxyError::Stopped)
            }
            Err(_) => {
                let _ = shutdown.send(true);
                task.abort();
                Err(ProxyError::StartupTimeout(timeout))
            }
        }
    }

    /// `namespace/name` of the pod.
    pub fn pod(&self) -> &str {
        &self.pod
    }

    /// Stops the proxy: closes its listeners and connections, and sends pending records.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(
                pod = self.pod,
                "sidecar did not stop within 5s; aborting it"
            );
            self.task.abort();
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.task.abort();
    }
}
