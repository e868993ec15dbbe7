//! Services as the mesh sees them: ports with their application protocol, and the ready pod
//! endpoints behind each port.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use super::pods::PodInfo;

/// Application protocol of a port, chosen as Istio does: from `appProtocol`, else from the port
/// name's prefix (`http-web`, `tcp-db`), else detected from the first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    /// HTTP/1.1 (and HTTP/2 when the client upgrades).
    Http,
    /// HTTP/2 (`http2`, `grpc`, `grpc-web`).
    Http2,
    /// Opaque TCP (`tcp`, `tls`, `https`, databases).
    Tcp,
    /// Not declared: detected per connection.
    Auto,
}

impl AppProtocol {
    /// Derives the protocol from a port's `appProtocol` and `name`.
    pub fn from_port(app_protocol: Option<&str>, name: Option<&str>) -> Self {
        if let Some(declared) = app_protocol {
            return Self::from_word(declared).unwrap_or(Self::Auto);
        }
        let Some(name) = name else {
            return Self::Auto;
        };
        let prefix = name.split('-').next().unwrap_or(name);
        Self::from_word(prefix).unwrap_or(Self::Auto)
    }

    fn from_word(word: &str) -> Option<Self> {
        let word = word.to_ascii_lowercase();
        let word = word.rsplit('/').next().unwrap_or(&word);
        match word {
            "http" | "http-web" => Some(Self::Http),
            "http2" | "grpc" | "grpc-web" | "h2c" => Some(Self::Http2),
            "tcp" | "tls" | "https" | "mongo" | "mysql" | "redis" | "udp" => Some(Self::Tcp),
            _ => None,
        }
    }

    /// Whether requests on this port are parsed as HTTP.
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Http2)
    }
}

/// How a service port names the pod port it forwards to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetPort {
    /// A port number.
    Number(u16),
    /// The name of a container port.
    Name(String),
}

/// One port of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePortInfo {
    /// Port name, if any.
    pub name: Option<String>,
    /// The port clients connect to.
    pub port: u16,
    /// The pod port behind it.
    pub target: TargetPort,
    /// Application protocol.
    pub protocol: AppProtocol,
    /// Whether the port carries TCP (UDP and SCTP ports are not proxied).
    pub is_tcp: bool,
}

/// A service with its cluster IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The cluster IP; nothing listens there, so undeclared ports are refused.
    pub cluster_ip: Ipv4Addr,
    /// Ports.
    pub ports: Vec<ServicePortInfo>,
    /// Pod selector; `None` for a service without selector (no endpoints are derived).
    pub selector: Option<BTreeMap<String, String>>,
}

impl ServiceInfo {
    /// Builds the mesh's view of a Kubernetes Service.
    pub fn from_service(service: &Service, cluster_ip: Ipv4Addr) -> Self {
        let spec = service.spec.clone().unwrap_or_default();
        let ports = spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .filter_map(|port| {
                let number = u16::try_from(port.port).ok()?;
                let target = match port.target_port {
                    None => TargetPort::Number(number),
                    Some(IntOrString::Int(value)) => TargetPort::Number(u16::try_from(value).ok()?),
                    Some(IntOrString::String(text)) => match text.parse::<u16>() {
                        Ok(value) => TargetPort::Number(value),
                        Err(_) => TargetPort::Name(text),
                    },
                };
                let is_tcp = port
                    .protocol
                    .as_deref()
                    .is_none_or(|protocol| protocol.eq_ignore_ascii_case("TCP"));
                Some(ServicePortInfo {
                    protocol: AppProtocol::from_port(
                        port.app_protocol.as_deref(),
                        port.name.as_deref(),
                    ),
                    name: port.name,
                    port: number,
                    target,
                    is_tcp,
                })
            })
            .collect();
        Self {
            namespace: service.metadata.namespace.clone().unwrap_or_default(),
            name: service.metadata.name.clone().unwrap_or_default(),
            cluster_ip,
            ports,
            selector: spec.selector.filter(|selector| !selector.is_empty()),
        }
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The fully qualified DNS name under `dns_domain`.
    pub fn fqdn(&self, dns_domain: &str) -> String {
        format!("{}.{}.svc.{}", self.name, self.namespace, dns_domain)
    }

    /// The port declared as `port`.
    pub fn port(&self, port: u16) -> Option<&ServicePortInfo> {
        self.ports.iter().find(|candidate| candidate.port == port)
    }

    /// Whether `pod` is selected by this service (same namespace, labels match).
    pub fn selects(&self, pod: &PodInfo) -> bool {
        let Some(selector) = &self.selector else {
            return false;
        };
        pod.namespace == self.namespace
            && selector
                .iter()
                .all(|(key, value)| pod.labels.get(key) == Some(value))
    }
}

/// A ready pod behind a service port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// Pod address and target port.
    pub address: SocketAddrV4,
    /// Whether the pod has a sidecar (Istio's `security.istio.io/tlsMode=istio` label).
    pub injected: bool,
    /// The pod's service account.
    pub service_account: String,
}

/// Resolves a service port's target on a pod: a number as is, a name through the pod's
/// container ports.
pub fn target_port_on(pod: &PodInfo, target: &TargetPort) -> Option<u16> {
    match target {
        TargetPort::Number(number) => Some(*number),
        TargetPort::Name(name) => pod
            .containers
            .iter()
            .flat_map(|container| &container.ports)
            .find(|port| port.name.as_deref() == Some(name.as_str()))
            .map(|port| port.number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_from_port_name_and_app_protocol() {
        let cases = [
            (None, Some("http"), AppProtocol::Http),
            (None, Some("http-web"), AppProtocol::Http),
            (None, Some("http2"), AppProtocol::Http2),
            (None, Some("grpc-api"), AppProtocol::Http2),
            (None, Some("tcp"), AppProtocol::Tcp),
            (None, Some("tcp-echo"), AppProtocol::Tcp),
            (None, Some("https"), AppProtocol::Tcp),
            (None, Some("web"), AppProtocol::Auto),
            (None, None, AppProtocol::Auto),
            (Some("http"), Some("tcp"), AppProtocol::Http),
            (Some("kubernetes.io/h2c"), None, AppProtocol::Http2),
            (Some("TCP"), Some("http"), AppProtocol::Tcp),
        ];
        for (app_protocol, name, expected) in cases {
            assert_eq!(
                AppProtocol::from_port(app_protocol, name),
                expected,
                "appProtocol {app_protocol:?}, name {name:?}"
            );
        }
    }
}
