//! The proxy's listeners: one per inbound container port and one per outbound service port,
//! bound and closed as configuration versions come and go.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{AbortHandle, JoinSet};
use tracing::debug;

use super::{Shared, inbound, outbound};
use crate::net::AcceptFailures;
use crate::xds::ProxyConfig;

/// Backlog of each listener.
const BACKLOG: u32 = 1024;

/// What a listener serves.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenerKey {
    /// Traffic to the pod's container port.
    Inbound {
        /// Container port.
        port: u16,
        /// Bound address.
        address: SocketAddr,
    },
    /// The pod's traffic to a service port.
    Outbound {
        /// `namespace/name` of the service.
        service: String,
        /// Service port.
        port: u16,
        /// Bound address.
        address: SocketAddr,
    },
}

impl ListenerKey {
    fn address(&self) -> SocketAddr {
        match self {
            Self::Inbound { address, .. } | Self::Outbound { address, .. } => *address,
        }
    }
}

/// The set of open listeners.
#[derive(Default)]
pub struct Listeners {
    active: HashMap<ListenerKey, AbortHandle>,
    tasks: JoinSet<()>,
}

fn desired(config: &ProxyConfig) -> Vec<ListenerKey> {
    let inbound = config.inbound.iter().filter_map(|port| {
        Some(ListenerKey::Inbound {
            port: port.port,
            address: port.listen?,
        })
    });
    let outbound = config.outbound.iter().filter_map(|service| {
        Some(ListenerKey::Outbound {
            service: service.service.clone(),
            port: service.port,
            address: service.listen?,
        })
    });
    inbound.chain(outbound).collect()
}

fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

impl Listeners {
    /// Opens the listeners `config` needs and closes the ones it no longer lists. Either every
    /// new listener is bound, or none is and the error names the address that failed.
    pub fn reconcile(&mut self, shared: &Arc<Shared>, config: &ProxyConfig) -> Result<(), String> {
        let wanted = desired(config);
        let mut bound = Vec::new();
        for key in wanted.iter().filter(|key| !self.active.contains_key(*key)) {
            match bind(key.address()) {
                Ok(listener) => bound.push((key.clone(), listener)),
                Err(error) => {
                    return Err(format!("cannot listen on {}: {error}", key.address()));
                }
            }
        }
        for (key, listener) in bound {
            debug!(pod = shared.bootstrap.pod, listener = ?key, "listening");
            let handle = self
                .tasks
                .spawn(accept_loop(shared.clone(), key.clone(), listener));
            self.active.insert(key, handle);
        }
        self.active.retain(|key, handle| {
            let keep = wanted.contains(key);
            if !keep {
                debug!(pod = shared.bootstrap.pod, listener = ?key, "closing listener");
                handle.abort();
            }
            keep
        });
        while self.tasks.try_join_next().is_some() {}
        Ok(())
    }

    /// Closes every listener and every connection they accepted.
    pub async fn close(mut self) {
        self.tasks.shutdown().await;
    }
}

/// Accepts connections until aborted. Connection tasks live in a set owned by this task, so
/// closing the listener also ends its connections, as deleting a pod does.
async fn accept_loop(shared: Arc<Shared>, key: ListenerKey, listener: TcpListener) {
    let mut connections = JoinSet::new();
    let mut failures = AcceptFailures::default();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                let listener = format!("{} {key:?}", shared.bootstrap.pod);
                failures.record(&listener, &error).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        match &key {
            ListenerKey::Inbound { port, .. } => {
                connections.spawn(inbound::serve(shared, stream, peer, *port));
            }
            ListenerKey::Outbound { service, port, .. } => {
                connections.spawn(outbound::serve(
                    shared,
                    stream,
                    peer,
                    service.clone(),
                    *port,
                ));
            }
        }
    }
}
