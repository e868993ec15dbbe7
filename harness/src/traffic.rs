//! Connection records attributed to workloads, and the edges they add up to, for traffic
//! assertions, the topology graph and results files.

use std::collections::BTreeMap;
use std::fmt;

use mesh_sim::records::{ConnectionRecord, Direction, Outcome, Transport};
use serde::{Deserialize, Serialize};

/// A workload: the Deployment that owns a pod, or a bare pod, in its namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    /// Namespace; empty for an address that is no pod.
    pub namespace: String,
    /// Deployment or pod name, or the address for something that is no pod.
    pub name: String,
    /// Whether the name is a Deployment's (`true`) or a bare pod's or address's (`false`).
    #[serde(default)]
    pub deployment: bool,
    /// Whether the workload's pods have sidecars.
    pub in_mesh: bool,
}

impl fmt::Display for Workload {
    /// Formats the workload as `namespace/name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The transport of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeTransport {
    /// Mesh mutual TLS between sidecars.
    Mtls,
    /// Plaintext.
    Plaintext,
    /// TLS that is not mesh mTLS (no client certificate, or passed through to the app).
    Tls,
}

impl EdgeTransport {
    fn of(transport: Transport) -> Self {
        match transport {
            Transport::Mtls => Self::Mtls,
            Transport::Plaintext => Self::Plaintext,
            Transport::Tls | Transport::TlsPassthrough => Self::Tls,
        }
    }

    /// Returns the name scenarios use: `mtls`, `plaintext` or `tls`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mtls => "mtls",
            Self::Plaintext => "plaintext",
            Self::Tls => "tls",
        }
    }
}

/// The outcome of a connection or request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeOutcome {
    /// It reached the destination, whatever the destination returned.
    Allowed,
    /// An AuthorizationPolicy denied it (403, or a closed TCP connection).
    Denied,
    /// The destination's sidecar refused its transport: plaintext under STRICT, TLS without a
    /// client certificate, a failed handshake.
    Rejected,
    /// The client's sidecar could not complete it (503: no endpoint, reset, TLS error).
    Failed,
}

impl EdgeOutcome {
    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Response { .. } | Outcome::Closed | Outcome::UnexpectedTls => Self::Allowed,
            Outcome::Denied { .. } => Self::Denied,
            Outcome::RejectedPlaintext
            | Outcome::CertificateRequired
            | Outcome::HandshakeFailed { .. } => Self::Rejected,
            Outcome::UpstreamFailed { .. } => Self::Failed,
        }
    }

    /// Returns the name scenarios use: `allowed`, `denied`, `rejected` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

/// A connection record with both ends attributed to workloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficRecord {
    /// The sidecar's view the record comes from.
    pub direction: Direction,
    /// The client workload.
    pub source: Workload,
    /// The server workload; `None` when no endpoint was chosen (no healthy upstream).
    pub destination: Option<Workload>,
    /// `namespace/name` of the service, when known.
    pub service: Option<String>,
    /// Destination port: the container port inbound, the service port outbound.
    pub port: u16,
    /// Transport.
    pub transport: EdgeTransport,
    /// Outcome.
    pub outcome: EdgeOutcome,
    /// The client's verified SPIFFE id, for mTLS.
    pub source_identity: Option<String>,
    /// The server's verified SPIFFE id, for mTLS.
    pub destination_identity: Option<String>,
}

/// Attributes a record's ends to workloads with `workload_of(pod)`; an end that is no known
/// pod is named by its address.
pub fn attribute(
    record: &ConnectionRecord,
    workload_of: impl Fn(&str) -> Option<Workload>,
) -> TrafficRecord {
    let unknown = |address: std::net::SocketAddr| Workload {
        namespace: String::new(),
        name: address.ip().to_string(),
        deployment: false,
        in_mesh: false,
    };
    let source = record
        .source
        .pod
        .as_deref()
        .and_then(&workload_of)
        .unwrap_or_else(|| unknown(record.source.address));
    let destination = match &record.destination.pod {
        Some(pod) => Some(workload_of(pod).unwrap_or_else(|| unknown(record.destination.address))),
        None if record.direction == Direction::Inbound => Some(unknown(record.destination.address)),
        None => None,
    };
    TrafficRecord {
        direction: record.direction,
        source,
        destination,
        service: record.service.clone(),
        port: record.port,
        transport: EdgeTransport::of(record.transport),
        outcome: EdgeOutcome::of(&record.outcome),
        source_identity: record.source.identity.as_ref().map(ToString::to_string),
        destination_identity: record
            .destination
            .identity
            .as_ref()
            .map(ToString::to_string),
    }
}

/// Checks whether a record is the one that speaks for its connection: the server's inbound record
/// when the server has a sidecar, otherwise the client's outbound record. A call between two
/// sidecars is recorded by both, and counting it once keeps edges and counts honest.
pub fn is_primary(record: &TrafficRecord) -> bool {
    match record.direction {
        Direction::Inbound => true,
        Direction::Outbound => record
            .destination
            .as_ref()
            .is_none_or(|destination| !destination.in_mesh),
    }
}

/// Connections between two workloads that share transport and outcome.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// The client.
    pub source: Workload,
    /// The server; a workload named `no endpoint` when none was chosen.
    pub destination: Workload,
    /// `namespace/name` of the service, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Destination port.
    pub port: u16,
    /// Transport.
    pub transport: EdgeTransport,
    /// Outcome.
    pub outcome: EdgeOutcome,
    /// The client's SPIFFE id, for mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// The server's SPIFFE id, for mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_identity: Option<String>,
    /// How many connections or requests the edge stands for.
    pub count: usize,
}

impl fmt::Display for Edge {
    /// Formats the edge as `src/ns/a -> dst/ns/b:port transport outcome`, without the count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {}:{} {} {}",
            self.source,
            self.destination,
            self.port,
            self.transport.name(),
            self.outcome.name()
        )
    }
}

/// Adds primary records up to edges, sorted.
pub fn edges(records: &[TrafficRecord]) -> Vec<Edge> {
    type Key = (
        Workload,
        Workload,
        Option<String>,
        u16,
        EdgeTransport,
        EdgeOutcome,
        Option<String>,
        Option<String>,
    );
    let mut counts: BTreeMap<Key, usize> = BTreeMap::new();
    for record in records.iter().filter(|record| is_primary(record)) {
        let destination = record.destination.clone().unwrap_or_else(|| Workload {
            namespace: record
                .service
                .as_deref()
                .and_then(|service| service.split_once('/'))
                .map(|(namespace, _)| namespace.to_owned())
                .unwrap_or_default(),
            name: "no endpoint".to_owned(),
            deployment: false,
            in_mesh: false,
        });
        let key = (
            record.source.clone(),
            destination,
            record.service.clone(),
            record.port,
            record.transport,
            record.outcome,
            record.source_identity.clone(),
            record.destination_identity.clone(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
        .into_iter()
        .map(
            |(
                (
                    source,
                    destination,
                    service,
                    port,
                    transport,
                    outcome,
                    source_identity,
                    destination_identity,
                ),
                count,
            )| Edge {
                source,
                destination,
                service,
                port,
                transport,
                outcome,
                source_identity,
                destination_identity,
                count,
            },
        )
        .collect()
}
