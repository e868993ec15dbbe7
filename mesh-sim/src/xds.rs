//! The controller-to-proxy protocol: the configuration a sidecar receives, and the messages
//! that carry it.
//!
//! The protocol is HTTPS with JSON bodies, so it runs unchanged between processes or
//! containers. A proxy authenticates with its pod token (`Authorization: Bearer`), then:
//!
//! - `GET /v1/discovery/watch` returns a stream of newline-delimited [`ConfigPush`] messages:
//!   the current configuration at once, then every new version. Each push carries the whole
//!   configuration (state of the world), so a proxy that missed one loses nothing.
//! - `POST /v1/discovery/ack` with an [`Ack`] reports whether a version was applied. The
//!   controller counts a proxy as synchronised once it acknowledged its latest version.
//! - `POST /v1/connections` with a JSON array of [`crate::records::ConnectionRecord`] reports
//!   finished connections and requests.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::cluster::services::AppProtocol;
use crate::identity::SpiffeId;
use crate::policy::authz::AppliedPolicy;
use crate::policy::peer_auth::EffectiveMtls;

/// Path of the configuration watch.
pub const WATCH_PATH: &str = "/v1/discovery/watch";
/// Path of acknowledgements.
pub const ACK_PATH: &str = "/v1/discovery/ack";
/// Path where proxies report connection records.
pub const CONNECTIONS_PATH: &str = "/v1/connections";

/// One configuration version for one proxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigPush {
    /// Version; increases whenever this proxy's configuration changes.
    pub version: u64,
    /// The complete configuration.
    pub config: ProxyConfig,
}

/// A proxy's report on a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ack {
    /// The version the report is about.
    pub version: u64,
    /// Why the version could not be applied; `None` when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything a sidecar needs to serve its pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    /// `namespace/name` of the pod this configuration is for.
    pub pod: String,
    /// Trust domains whose identities the proxy accepts from peers.
    pub trust_domains: Vec<String>,
    /// Inbound ports, one per container port of the pod.
    pub inbound: Vec<InboundPort>,
    /// Outbound services, one per service port in the mesh.
    pub outbound: Vec<OutboundService>,
}

/// How the proxy serves one container port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundPort {
    /// Container (target) port.
    pub port: u16,
    /// Where to listen; `None` when traffic is captured transparently (iptables), in which
    /// case the proxy's capture listener serves this port.
    pub listen: Option<SocketAddr>,
    /// Where the application listens.
    pub app: SocketAddr,
    /// Application protocol.
    pub protocol: AppProtocol,
    /// Effective PeerAuthentication mode.
    pub mtls: EffectiveMtls,
    /// AuthorizationPolicies that apply to the workload.
    pub authorization: Vec<AppliedPolicy>,
    /// `namespace/name` of the services that route to this port.
    pub services: Vec<String>,
}

/// How the proxy handles its pod's traffic to one service port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundService {
    /// `namespace/name` of the service.
    pub service: String,
    /// Names that reach this service in HTTP `Host` headers, fully qualified first.
    pub hostnames: Vec<String>,
    /// Service port.
    pub port: u16,
    /// Application protocol.
    pub protocol: AppProtocol,
    /// Where to listen; `None` under transparent capture.
    pub listen: Option<SocketAddr>,
    /// Ready endpoints.
    pub endpoints: Vec<UpstreamEndpoint>,
}

/// One upstream endpoint and how to talk to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamEndpoint {
    /// Pod address and target port.
    pub address: SocketAddr,
    /// `namespace/name` of the pod.
    pub pod: String,
    /// Transport to use.
    pub tls: UpstreamTls,
}

/// The transport a client proxy uses towards an endpoint, and what decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode", deny_unknown_fields)]
pub enum UpstreamTls {
    /// Plaintext.
    Plaintext {
        /// Why: `auto: destination has no sidecar`, `auto: destination PeerAuthentication is
        /// DISABLE`, or `DestinationRule <ns/name>`.
        reason: String,
    },
    /// Mesh mTLS with the proxy's workload certificate, accepting these server identities.
    IstioMutual {
        /// Identities the server may present.
        identities: Vec<SpiffeId>,
        /// Why: `auto` or `DestinationRule <ns/name>`.
        reason: String,
    },
    /// TLS without a client certificate, verifying the server against the mesh roots.
    Simple {
        /// SNI to send, if any.
        sni: Option<String>,
        /// The DestinationRule that asked for it.
        reason: String,
    },
    /// TLS with a client certificate from files, which the in-process mesh does not have; the
    /// proxy then behaves as for SIMPLE.
    Mutual {
        /// SNI to send, if any.
        sni: Option<String>,
        /// The DestinationRule that asked for it.
        reason: String,
    },
}

impl UpstreamTls {
    /// Whether the proxy originates mesh mTLS.
    pub fn is_mesh_mtls(&self) -> bool {
        matches!(self, Self::IstioMutual { .. })
    }
}
