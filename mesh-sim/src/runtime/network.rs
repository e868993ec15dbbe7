//! The pod's view of the network for its applications: names resolved with the pod's DNS
//! view and connections leaving from the pod's address.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpSocket, TcpStream};

use crate::apps::{BoxFuture, PodNetwork};
use crate::cluster::ClusterStore;

/// The [`PodNetwork`] of one pod of an in-process mesh.
#[derive(Debug)]
pub struct MeshPodNetwork {
    store: Arc<ClusterStore>,
    pod: String,
}

impl MeshPodNetwork {
    /// Creates the network of pod `namespace/name`.
    pub fn new(store: Arc<ClusterStore>, pod: String) -> Self {
        Self { store, pod }
    }

    fn resolve(&self, host: &str) -> io::Result<(Ipv4Addr, Ipv4Addr)> {
        let state = self.store.snapshot();
        let pod = state.pod(&self.pod).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("pod {} no longer exists", self.pod),
            )
        })?;
        let address = match host.parse::<Ipv4Addr>() {
            Ok(literal) => literal,
            Err(_) => state.resolve_address(pod, host).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("could not resolve host {host}"),
                )
            })?,
        };
        Ok((pod.ip, address))
    }
}

impl PodNetwork for MeshPodNetwork {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<TcpStream>> {
        Box::pin(async move {
            let (source, destination) = self.resolve(host)?;
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
            let stream = socket
                .connect(SocketAddr::new(IpAddr::V4(destination), port))
                .await?;
            let _ = stream.set_nodelay(true);
            Ok(stream)
        })
    }
}
