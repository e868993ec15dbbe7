//! Test helpers: a pod network that resolves names from a fixed table, app contexts and
//! bounded waits.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;

use super::{AppContext, BoxFuture, PodNetwork};

/// Upper bound of every wait in the app tests.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test when it takes longer than [`TEST_TIMEOUT`].
pub(super) async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("the operation finished within the test timeout")
}

/// A pod network whose DNS is a fixed table of host names. It replaces only name resolution:
/// it connects to the listed address at the requested port.
#[derive(Default)]
pub(super) struct StaticNetwork {
    hosts: Mutex<BTreeMap<String, IpAddr>>,
}

impl PodNetwork for StaticNetwork {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<TcpStream>> {
        Box::pin(async move {
            let ip = self
                .hosts
                .lock()
                .expect("the host table lock is not poisoned")
                .get(host)
                .copied();
            match ip {
                Some(ip) => TcpStream::connect((ip, port)).await,
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("could not resolve host: {host}"),
                )),
            }
        })
    }
}

/// Builds a context for a pod named `pod_name` in namespace `default`, with an empty host table.
pub(super) fn context(pod_name: &str, bind_ip: IpAddr, ports: &[u16]) -> AppContext {
    context_with_network(pod_name, bind_ip, ports, Arc::new(StaticNetwork::default()))
}

/// Builds a context like [`context`] with the given network.
pub(super) fn context_with_network(
    pod_name: &str,
    bind_ip: IpAddr,
    ports: &[u16],
    network: Arc<dyn PodNetwork>,
) -> AppContext {
    AppContext {
        pod_name: pod_name.to_owned(),
        namespace: "default".to_owned(),
        bind_ip,
        ports: ports.to_vec(),
        args: Vec::new(),
        env: BTreeMap::new(),
        network,
    }
}
