//! Name resolution as a pod sees it: Kubernetes service names with the pod's DNS search path,
//! and what a connection to that name reaches (the pod's own sidecar when injected, else a
//! ready endpoint chosen as kube-proxy would).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::ClusterState;
use super::pods::PodInfo;
use super::services::{ServiceInfo, target_port_on};

/// Where a connection from a pod to `host:port` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The pod's own sidecar captures it (the pod is injected and the port is a service port).
    Sidecar {
        /// The sidecar's outbound listener for this service.
        listener: SocketAddrV4,
    },
    /// Straight to a pod, as kube-proxy forwards a cluster IP.
    Endpoint {
        /// Pod address and target port.
        address: SocketAddrV4,
    },
    /// To the service's cluster IP, where nothing listens: the service has no ready endpoint
    /// or does not declare the port, so the connection is refused.
    ClusterIp {
        /// Cluster IP and port.
        address: SocketAddrV4,
    },
}

impl Route {
    /// The address to connect to.
    pub fn address(&self) -> SocketAddrV4 {
        match self {
            Self::Sidecar { listener } => *listener,
            Self::Endpoint { address } | Self::ClusterIp { address } => *address,
        }
    }
}

impl ClusterState {
    /// Finds the service `host` names for a pod in `namespace`, trying the search path
    /// `<ns>.svc.<domain>`, `svc.<domain>`, `<domain>` and then the name as absolute.
    pub fn resolve_service(&self, namespace: &str, host: &str) -> Option<&ServiceInfo> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let domain = &self.config.dns_domain;
        let candidates = [
            format!("{host}.{namespace}.svc.{domain}"),
            format!("{host}.svc.{domain}"),
            format!("{host}.{domain}"),
            host.clone(),
        ];
        candidates.iter().find_map(|candidate| {
            let rest = candidate.strip_suffix(&format!(".svc.{domain}"))?;
            let (name, service_namespace) = rest.split_once('.')?;
            if service_namespace.contains('.') {
                return None;
            }
            self.service(service_namespace, name)
        })
    }

    /// Routes a connection from `pod` to `host:port`. Returns `None` when the name does not
    /// resolve. `pick` chooses among ready endpoints (kube-proxy picks at random; callers pass
    /// a rotating counter).
    pub fn route(&self, pod: &PodInfo, host: &str, port: u16, pick: usize) -> Option<Route> {
        let service = self.resolve_service(&pod.namespace, host)?;
        Some(self.route_to_service(pod, service, port, pick))
    }

    /// Routes a connection from `pod` to a known service.
    pub fn route_to_service(
        &self,
        pod: &PodInfo,
        service: &ServiceInfo,
        port: u16,
        pick: usize,
    ) -> Route {
        let cluster_ip = Route::ClusterIp {
            address: SocketAddrV4::new(service.cluster_ip, port),
        };
        let Some(service_port) = service
            .port(port)
            .filter(|service_port| service_port.is_tcp)
        else {
            return cluster_ip;
        };
        if pod.injected
            && let Some(listener) = self.addresses.existing_outbound(&pod.id(), &service.id())
        {
            return Route::Sidecar {
                listener: SocketAddrV4::new(listener, port),
            };
        }
        let ready: Vec<SocketAddrV4> = self
            .pods()
            .filter(|candidate| candidate.is_ready() && service.selects(candidate))
            .filter_map(|candidate| {
                let target = target_port_on(candidate, &service_port.target)?;
                Some(SocketAddrV4::new(candidate.ip, target))
            })
            .collect();
        if ready.is_empty() {
            return cluster_ip;
        }
        Route::Endpoint {
            address: ready[pick % ready.len()],
        }
    }

    /// The source address of connections a pod opens.
    pub fn source_address(&self, pod: &PodInfo) -> Ipv4Addr {
        pod.ip
    }
}
