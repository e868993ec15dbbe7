//! Name resolution as a pod sees it: Kubernetes service names with the pod's DNS search path,
//! and the address a name resolves to for that pod.

use std::net::Ipv4Addr;

use super::ClusterState;
use super::pods::PodInfo;
use super::services::ServiceInfo;

impl ClusterState {
    /// Finds the service `host` names from `namespace`, trying the names Kubernetes' DNS
    /// search path (`<ns>.svc.<domain>`, `svc.<domain>`, `<domain>`) produces.
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
    /// The address `host` resolves to inside `pod`. An injected pod gets the address of its
    /// own sidecar's outbound listener for that service, standing in for the ClusterIP that
    /// iptables would capture; any other pod gets the service's ClusterIP.
    pub fn resolve_address(&self, pod: &PodInfo, host: &str) -> Option<Ipv4Addr> {
        let service = self.resolve_service(&pod.namespace, host)?;
        if pod.injected
            && let Some(listener) = self.addresses.existing_outbound(&pod.id(), &service.id())
        {
            return Some(listener);
        }
        Some(service.cluster_ip)
    }
}
