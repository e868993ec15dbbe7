//! One running in-process mesh: the cluster store, the CA and controller on real network
//! endpoints, cluster DNS, kube-proxy, and the pods with their sidecars and applications.
//!
//! Each mesh claims its own `127.B.0.0/16` loopback block by binding its controller's
//! address there, so meshes in one process or in several never collide. This relies on
//! Linux routing all of `127.0.0.0/8` to the loopback interface.

pub mod dns;
pub mod dns_message;
pub mod kube_proxy;
pub mod network;
pub mod pods;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::ca::CaError;
use crate::ca::CertificateAuthority;
use crate::cluster::pods::{PodInfo, PodPhase};
use crate::cluster::{ClusterConfig, ClusterError, ClusterState, ClusterStore, LabelChange};
use crate::controller::compute::ListenerMode;
use crate::controller::{Controller, SyncError};
use crate::proxy::ControlPlane;
use crate::records::ConnectionRecord;
use crate::resources::{Resource, ResourceKey};
use crate::tls::{self, ClientAuth, TlsError};
use crate::token::{TokenAuthority, TokenError};

use self::kube_proxy::KubeProxy;
use self::pods::{PodRuntime, StartContext};

/// Port of the controller (Istio serves xDS on 15010 and 15012).
pub const CONTROLLER_PORT: u16 = 15010;
/// Port of the CA.
pub const CA_PORT: u16 = 15012;
/// Port of the cluster DNS server (Istio's DNS proxy uses 15053).
pub const DNS_PORT: u16 = 15053;
/// DNS name in the control plane's serving certificate.
pub const CONTROL_PLANE_NAME: &str = "istiod.istio-system.svc";
/// Second octets of the loopback blocks a mesh may claim.
const BLOCKS: std::ops::RangeInclusive<u8> = 10..=250;

/// Settings of a mesh instance.
#[derive(Clone, Debug)]
pub struct MeshOptions {
    /// Cluster name, trust domain and namespaces.
    pub cluster: ClusterConfig,
    /// Workload certificate lifetime to request; the CA's default when `None`.
    pub certificate_ttl: Option<Duration>,
    /// Limit for one sidecar's start-up.
    pub startup_timeout: Duration,
}

impl Default for MeshOptions {
    fn default() -> Self {
        Self {
            cluster: ClusterConfig::default(),
            certificate_ttl: None,
            startup_timeout: Duration::from_secs(10),
        }
    }
}

/// Errors of starting, changing or settling a mesh.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// Ports below 1024 cannot be bound by this process.
    #[error(
        "this process may not listen on ports below 1024, and pods keep their real ports \
         (the sleep Service uses port 80); run as root, grant CAP_NET_BIND_SERVICE, or run \
         `sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0` once"
    )]
    PrivilegedPorts,
    /// Every loopback block is in use.
    #[error("no free 127.B.0.0/16 loopback block for a new mesh (tried 127.{first}.0.0 to 127.{last}.0.0)", first = BLOCKS.start(), last = BLOCKS.end())]
    NoAddressBlock,
    /// A control plane listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The CA could not be created.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// Tokens could not be issued.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The cluster rejected a change; nothing of it was applied.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Proxies did not acknowledge their configuration.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The processes of deleted pods did not stop in time.
    #[error("timed out after {timeout:?} waiting for the processes of deleted pods to stop")]
    StopTimeout {
        /// The limit.
        timeout: Duration,
    },
    /// Pods did not start in time.
    #[error("timed out after {timeout:?} waiting for pods to start: {pending}")]
    PodsTimeout {
        /// The limit.
        timeout: Duration,
        /// The pods still starting.
        pending: String,
    },
    /// An exec target has no pod to run in.
    #[error("{target} has no ready pod{reason}")]
    NoReadyPod {
        /// The target as written.
        target: String,
        /// Why, when known (for example a failed pod's reason).
        reason: String,
    },
}

/// The state `wait_ready` found once the mesh settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Pods that failed to start, with the reason.
    pub failed: Vec<(String, String)>,
}

/// The pod a command runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodSelector {
    /// A pod of this Deployment.
    Deployment(String),
    /// The pod with this name.
    Pod(String),
}

/// A pod's network identity for running a client process as if inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecTarget {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// The pod's address, which the process binds its connections to.
    pub ip: Ipv4Addr,
    /// Whether the pod has a sidecar.
    pub injected: bool,
    /// The cluster DNS endpoint for this pod.
    pub dns_url: String,
}

impl ExecTarget {
    /// curl options that give curl this pod's view of the network: cluster DNS as the pod
    /// resolves names, and the pod's source address. curl's DNS over HTTPS accepts only
    /// HTTPS; `--doh-insecure` skips verifying the DNS server's certificate (the mesh's own),
    /// and leaves the verification of the request itself to the command's own options.
    pub fn curl_network_args(&self) -> Vec<String> {
        vec![
            "--doh-url".to_owned(),
            self.dns_url.clone(),
            "--doh-insecure".to_owned(),
            "--interface".to_owned(),
            self.ip.to_string(),
        ]
    }
}

/// A running in-process mesh.
#[derive(Debug)]
pub struct Mesh {
    store: Arc<ClusterStore>,
    controller: Arc<Controller>,
    kube_proxy: Arc<KubeProxy>,
    pods: Arc<PodRuntime>,
    block: u8,
    dns_address: SocketAddr,
    /// Stops the pods, kube-proxy and DNS.
    data_plane_shutdown: watch::Sender<bool>,
    data_plane: JoinSet<()>,
    /// Stops the controller and the CA, after the data plane. The controller's listener is
    /// the mesh's claim on its address block, so the block is released only once nothing of
    /// the mesh listens in it any more.
    control_plane_shutdown: watch::Sender<bool>,
    control_plane: JoinSet<()>,
}

/// How long a new mesh waits for a loopback block to become free when all are in use.
const BLOCK_WAIT: Duration = Duration::from_secs(60);
/// A port below 1024, bound once at start-up to find out whether pods' privileged ports
/// (such as the sleep Service's port 80) can be served.
const PRIVILEGED_PROBE_PORT: u16 = 80;

/// Claims a block, waiting up to [`BLOCK_WAIT`] for one to be released when every block is
/// taken (for example by many parallel runs).
async fn claim_free_block() -> Result<(u8, TcpListener), MeshError> {
    let deadline = Instant::now() + BLOCK_WAIT;
    let mut delay = Duration::from_millis(20);
    loop {
        match claim_block() {
            Ok(claimed) => return Ok(claimed),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => {
                debug!("every loopback block is in use; waiting for one to be released");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// Checks that ports below 1024 can be bound, since pods keep their real ports.
fn check_privileged_ports(ip: Ipv4Addr) -> Result<(), MeshError> {
    match std::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(ip), PRIVILEGED_PROBE_PORT)) {
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(MeshError::PrivilegedPorts)
        }
        _ => Ok(()),
    }
}

/// Binds the controller's listener in the first free block; that listener is the claim.
fn claim_block() -> Result<(u8, TcpListener), MeshError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let count = u32::from(BLOCKS.end() - BLOCKS.start()) + 1;
    // Start at a per-process offset so that parallel processes rarely probe the same blocks.
    let offset = std::process::id().wrapping_mul(7919);
    for _ in 0..count {
        let index = offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % count;
        let block = BLOCKS.start() + index as u8;
        let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, block, 0, 1)), CONTROLLER_PORT);
        if let Ok(listener) = bind(address) {
            return Ok((block, listener));
        }
    }
    Err(MeshError::NoAddressBlock)
}

fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Allows binding next to connections in TIME_WAIT; a second listener on the same address
    // is still refused, which is what makes the controller's listener a claim on the block.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

fn bind_port(ip: Ipv4Addr, port: u16) -> Result<TcpListener, MeshError> {
    let address = SocketAddr::new(IpAddr::V4(ip), port);
    bind(address).map_err(|source| MeshError::Bind { address, source })
}

impl Mesh {
    /// Starts a mesh: claims an address block, creates the CA and its root, and starts the
    /// controller, CA, DNS, kube-proxy and pod runtime.
    pub async fn start(options: MeshOptions) -> Result<Self, MeshError> {
        let started = Instant::now();
        let (block, controller_listener) = claim_free_block().await?;
        let control_ip = Ipv4Addr::new(127, block, 0, 1);
        check_privileged_ports(control_ip)?;
        let ca_listener = bind_port(control_ip, CA_PORT)?;
        let dns_listener = bind_port(control_ip, DNS_PORT)?;

        let authority = Arc::new(CertificateAuthority::new(&options.cluster.trust_domain)?);
        let serving = authority
            .issue_control_plane(&[CONTROL_PLANE_NAME.to_owned()], &[control_ip.into()])?;
        let server_tls =
            tls::server_config(&serving, &authority.bundle(), ClientAuth::None, Vec::new())?;
        let tokens = Arc::new(TokenAuthority::generate()?);
        let control_plane = ControlPlane {
            controller: SocketAddr::new(control_ip.into(), CONTROLLER_PORT),
            ca: SocketAddr::new(control_ip.into(), CA_PORT),
            server_name: CONTROL_PLANE_NAME.to_owned(),
            root_pem: authority.root_pem().to_owned(),
        };

        let state = ClusterState::with_initial_namespaces(options.cluster.clone(), block)?;
        let store = Arc::new(ClusterStore::new(state));
        let controller = Controller::new(store.clone(), ListenerMode::Explicit);
        let kube_proxy = KubeProxy::new(store.clone());
        let runtime = PodRuntime::new(
            store.clone(),
            StartContext {
                tokens: tokens.clone(),
                control_plane,
                certificate_ttl: options.certificate_ttl,
                startup_timeout: options.startup_timeout,
            },
        );
        let (control_plane_shutdown, control_receiver) = watch::channel(false);
        let mut control_plane = JoinSet::new();
        control_plane.spawn(controller.clone().run(control_receiver.clone()));
        control_plane.spawn(crate::controller::server::serve(
            controller_listener,
            controller.clone(),
            tokens.clone(),
            server_tls.clone(),
            control_receiver.clone(),
        ));
        control_plane.spawn(crate::ca::server::serve(
            ca_listener,
            authority.clone(),
            tokens,
            server_tls.clone(),
            control_receiver,
        ));
        let (data_plane_shutdown, data_receiver) = watch::channel(false);
        let mut data_plane = JoinSet::new();
        data_plane.spawn(dns::serve(
            dns_listener,
            store.clone(),
            server_tls,
            data_receiver.clone(),
        ));
        data_plane.spawn(kube_proxy.clone().run(data_receiver.clone()));
        data_plane.spawn(runtime.clone().run(data_receiver));
        info!(
            block = %format!("127.{block}.0.0/16"),
            cluster = options.cluster.name,
            trust_domain = options.cluster.trust_domain,
            elapsed = ?started.elapsed(),
            "mesh started"
        );
        Ok(Self {
            store,
            controller,
            kube_proxy,
            pods: runtime,
            block,
            dns_address: SocketAddr::V4(SocketAddrV4::new(control_ip, DNS_PORT)),
            data_plane_shutdown,
            data_plane,
            control_plane_shutdown,
            control_plane,
        })
    }

    /// Returns the cluster store.
    pub fn store(&self) -> &Arc<ClusterStore> {
        &self.store
    }

    /// The controller.
    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// Returns the second octet of this mesh's `127.B.0.0/16` block.
    pub fn block(&self) -> u8 {
        self.block
    }

    /// Applies objects in order; on error nothing is applied.
    pub fn apply(&self, resources: Vec<Resource>) -> Result<Vec<ResourceKey>, MeshError> {
        Ok(self.store.update(|state| state.apply(resources))?)
    }

    /// Deletes objects; on error nothing is deleted.
    pub fn delete(&self, keys: &[ResourceKey]) -> Result<(), MeshError> {
        Ok(self.store.update(|state| state.delete(keys))?)
    }

    /// Changes an object's labels.
    pub fn label(&self, key: &ResourceKey, change: &LabelChange) -> Result<(), MeshError> {
        Ok(self.store.update(|state| state.label(key, change))?)
    }

    /// Re-creates a Deployment's pods.
    pub fn rollout_restart(&self, key: &ResourceKey) -> Result<(), MeshError> {
        let stamp = format!("{:?}", std::time::SystemTime::now());
        Ok(self
            .store
            .update(|state| state.rollout_restart(key, &stamp))?)
    }

    /// Waits until every pod has started (or failed), the processes of deleted pods have
    /// stopped, every proxy acknowledged the configuration of the current cluster state, and
    /// kube-proxy follows it.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Readiness, MeshError> {
        let deadline = Instant::now() + timeout;
        loop {
            let revision = *self.store.subscribe().borrow();
            self.wait_pods(deadline, timeout).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            self.controller.wait_synced(remaining, &[]).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(remaining, self.kube_proxy.wait_for(revision)).await;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(remaining, self.pods.wait_stopped(revision))
                .await
                .is_err()
            {
                return Err(MeshError::StopTimeout { timeout });
            }
            if *self.store.subscribe().borrow() == revision {
                let state = self.store.snapshot();
                let failed = state
                    .pods()
                    .filter(|pod| pod.phase == PodPhase::Failed)
                    .map(|pod| (pod.id(), pod.failure.clone().unwrap_or_default()))
                    .collect();
                return Ok(Readiness { failed });
            }
            debug!(revision, "cluster changed while settling; waiting again");
        }
    }

    async fn wait_pods(&self, deadline: Instant, timeout: Duration) -> Result<(), MeshError> {
        let mut changes = self.store.subscribe();
        loop {
            changes.mark_unchanged();
            let state = self.store.snapshot();
            let pending: Vec<String> = state
                .pods()
                .filter(|pod| pod.phase == PodPhase::Pending)
                .map(PodInfo::id)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(MeshError::PodsTimeout {
                    timeout,
                    pending: pending.join(", "),
                });
            }
        }
    }

    /// Finds the pod a command runs in, as `kubectl exec` picks one.
    pub fn exec_target(
        &self,
        namespace: &str,
        selector: &PodSelector,
    ) -> Result<ExecTarget, MeshError> {
        let state = self.store.snapshot();
        let (description, candidates): (String, Vec<&PodInfo>) = match selector {
            PodSelector::Deployment(name) => (
                format!("deployment {namespace}/{name}"),
                state
                    .pods()
                    .filter(|pod| {
                        pod.namespace == namespace
                            && pod
                                .owner
                                .as_ref()
                                .is_some_and(|owner| &owner.deployment == name)
                    })
                    .collect(),
            ),
            PodSelector::Pod(name) => (
                format!("pod {namespace}/{name}"),
                state
                    .pods()
                    .filter(|pod| pod.namespace == namespace && &pod.name == name)
                    .collect(),
            ),
        };
        let ready = candidates.iter().find(|pod| pod.is_ready());
        let Some(pod) = ready else {
            let reason = candidates
                .iter()
                .find_map(|pod| pod.failure.clone())
                .map_or_else(
                    || {
                        if candidates.is_empty() {
                            ": no such pod".to_owned()
                        } else {
                            ": still starting".to_owned()
                        }
                    },
                    |failure| format!(": {failure}"),
                );
            return Err(MeshError::NoReadyPod {
                target: description,
                reason,
            });
        };
        Ok(ExecTarget {
            pod: pod.id(),
            ip: pod.ip,
            injected: pod.injected,
            dns_url: format!("https://{}{}/{}", self.dns_address, dns::DNS_PATH, pod.id()),
        })
    }

    /// Returns every connection record the sidecars reported so far.
    pub fn records(&self) -> Vec<ConnectionRecord> {
        self.controller.records()
    }

    /// Returns what pod `namespace/name` was: its namespace, workload, sidecar and account,
    /// also after it was deleted.
    pub fn pod_summary(&self, pod: &str) -> Option<pods::PodSummary> {
        self.pods.summary(pod)
    }

    /// Returns the pod runtime, which keeps the pod summaries after the mesh stopped.
    pub fn pod_runtime(&self) -> Arc<PodRuntime> {
        self.pods.clone()
    }

    /// Stops everything the mesh started and waits for it to end: first the pods, DNS and
    /// kube-proxy, then the controller and CA.
    pub async fn shutdown(mut self) {
        let _ = self.data_plane_shutdown.send(true);
        stop_all(&mut self.data_plane, self.block, "data plane").await;
        let _ = self.control_plane_shutdown.send(true);
        stop_all(&mut self.control_plane, self.block, "control plane").await;
        info!(block = self.block, "mesh stopped");
    }
}

/// Waits for `tasks` to end after their shutdown signal, aborting them after 10 s.
async fn stop_all(tasks: &mut JoinSet<()>, block: u8, what: &str) {
    let graceful = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), graceful)
        .await
        .is_err()
    {
        tracing::warn!(
            block,
            what,
            "mesh tasks did not stop within 10s; aborting them"
        );
        tasks.shutdown().await;
    }
}

impl Drop for Mesh {
    /// Signals every task to stop. A mesh dropped without [`Mesh::shutdown`] cannot wait, so
    /// its listeners close as the runtime drops the aborted tasks.
    fn drop(&mut self) {
        let _ = self.data_plane_shutdown.send(true);
        let _ = self.control_plane_shutdown.send(true);
    }
}
