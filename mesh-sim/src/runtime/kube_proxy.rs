//! Service ClusterIPs for pods without a sidecar, in the role of kube-proxy: a listener on
//! each `ClusterIP:port` that has ready endpoints forwards each connection to one endpoint's
//! target port. The forwarded connection leaves from the client's own address, as kube-proxy
//! preserves the source IP between pods, and a reset on one side is passed to the other.
//!
//! A service port without ready endpoints has no listener, so clients get "connection
//! refused" (curl exit 7), as kube-proxy's REJECT rule gives.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tracing::{debug, warn};

use crate::cluster::ClusterStore;
use crate::proxy::io::{Side, reset, splice};

/// Limit for connecting to an endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The ClusterIP forwarders of one cluster.
#[derive(Debug)]
pub struct KubeProxy {
    store: Arc<ClusterStore>,
    reconciled: watch::Sender<u64>,
}

impl KubeProxy {
    /// Creates a kube-proxy for `store`; call [`KubeProxy::run`] to start it.
    pub fn new(store: Arc<ClusterStore>) -> Arc<Self> {
        Arc::new(Self {
            store,
            reconciled: watch::Sender::new(0),
        })
    }

    /// Waits until the listeners match store revision `revision` or later.
    pub async fn wait_for(&self, revision: u64) {
        let mut receiver = self.reconciled.subscribe();
        let _ = receiver
            .wait_for(|reconciled| *reconciled >= revision)
            .await;
    }

    /// Keeps the listeners in line with the store until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.store.subscribe();
        let mut active: HashMap<(String, SocketAddrV4), AbortHandle> = HashMap::new();
        let mut tasks = JoinSet::new();
        let counter = Arc::new(AtomicUsize::new(0));
        loop {
            let revision = *changes.borrow_and_update();
            self.reconcile(&mut active, &mut tasks, &counter);
            self.reconciled.send_replace(revision);
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        tasks.shutdown().await;
    }

    fn reconcile(
        &self,
        active: &mut HashMap<(String, SocketAddrV4), AbortHandle>,
        tasks: &mut JoinSet<()>,
        counter: &Arc<AtomicUsize>,
    ) {
        let state = self.store.snapshot();
        let mut wanted = Vec::new();
        for service in state.services() {
            for port in service.ports.iter().filter(|port| port.is_tcp) {
                if !state.endpoints(service, port.port).is_empty() {
                    wanted.push((
                        service.id(),
                        SocketAddrV4::new(service.cluster_ip, port.port),
                    ));
                }
            }
        }
        active.retain(|key, handle| {
            let keep = wanted.contains(key);
            if !keep {
                debug!(service = key.0, address = %key.1, "closing ClusterIP listener");
                handle.abort();
            }
            keep
        });
        for key in wanted {
            if active.contains_key(&key) {
                continue;
            }
            match bind(key.1) {
                Ok(listener) => {
                    debug!(service = key.0, address = %key.1, "ClusterIP listening");
                    let handle = tasks.spawn(accept_loop(
                        self.store.clone(),
                        key.0.clone(),
                        key.1,
                        listener,
                        counter.clone(),
                    ));
                    active.insert(key, handle);
                }
                Err(error) => {
                    warn!(service = key.0, address = %key.1, %error, "cannot listen on ClusterIP");
                }
            }
        }
    }
}

fn bind(address: SocketAddrV4) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::V4(address))?;
    socket.listen(1024)
}

async fn accept_loop(
    store: Arc<ClusterStore>,
    service: String,
    address: SocketAddrV4,
    listener: TcpListener,
    counter: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    let mut failures = crate::net::AcceptFailures::default();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                failures.record(&address.to_string(), &error).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let pick = counter.fetch_add(1, Ordering::Relaxed);
        connections.spawn(forward(
            store.clone(),
            service.clone(),
            address.port(),
            stream,
            client,
            pick,
        ));
    }
}

async fn forward(
    store: Arc<ClusterStore>,
    service_id: String,
    port: u16,
    stream: TcpStream,
    client: SocketAddr,
    pick: usize,
) {
    let state = store.snapshot();
    let Some((namespace, name)) = service_id.split_once('/') else {
        return;
    };
    let endpoints = state
        .service(namespace, name)
        .map(|service| state.endpoints(service, port))
        .unwrap_or_default();
    if endpoints.is_empty() {
        reset(stream);
        return;
    }
    let endpoint = &endpoints[pick % endpoints.len()];
    let upstream = match connect_from(client, SocketAddr::V4(endpoint.address)).await {
        Ok(upstream) => upstream,
        Err(error) => {
            debug!(service = service_id, endpoint = %endpoint.address, %error, "endpoint unreachable");
            reset(stream);
            return;
        }
    };
    let (client_stream, upstream, end) = splice(stream, upstream).await;
    debug!(
        service = service_id,
        %client,
        endpoint = %endpoint.address,
        sent = end.a_to_b,
        received = end.b_to_a,
        reset_by = ?end.reset_by(),
        "forwarded connection closed"
    );
    match end.reset_by() {
        Some(Side::B) => reset(client_stream),
        Some(Side::A) => reset(upstream),
        None => {}
    }
}

/// Connects to `target` from the client's address, falling back to any address when the
/// client's cannot be bound (a client outside the cluster's address block).
async fn connect_from(client: SocketAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if socket.bind(SocketAddr::new(client.ip(), 0)).is_err() {
        debug!(%client, "cannot bind the client's address; forwarding from an ephemeral one");
    }
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
