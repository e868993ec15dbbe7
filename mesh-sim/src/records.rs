//! Connection records: what each sidecar saw of each connection and request, reported to the
//! controller so tests can assert who talked to whom, over what, with which result.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::identity::SpiffeId;

/// Which side of the sidecar handled the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic to the proxy's own pod.
    Inbound,
    /// Traffic from the proxy's own pod.
    Outbound,
}

/// How the bytes travelled between the peers this record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Mesh mutual TLS.
    Mtls,
    /// Plaintext.
    Plaintext,
    /// TLS the proxy did not terminate (passed through to the application).
    TlsPassthrough,
    /// TLS without a client certificate (originated for a SIMPLE DestinationRule, or a TLS
    /// client without a certificate that the proxy rejected).
    Tls,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Outcome {
    /// An HTTP request got a response (any status).
    Response {
        /// HTTP status.
        status: u16,
    },
    /// A TCP connection was proxied and closed normally.
    Closed,
    /// Plaintext arrived where only mTLS is accepted; the connection was reset.
    RejectedPlaintext,
    /// A TLS client presented no certificate where one is required.
    CertificateRequired,
    /// TLS arrived where only plaintext is accepted, and was passed on as bytes.
    UnexpectedTls,
    /// The TLS handshake failed.
    HandshakeFailed {
        /// The TLS error.
        error: String,
    },
    /// An AuthorizationPolicy denied the request or connection.
    Denied {
        /// The deciding policy, or `no ALLOW policy matched`.
        reason: String,
    },
    /// The proxy could not reach or complete the upstream exchange.
    UpstreamFailed {
        /// Why, in Envoy's words where it has them.
        reason: String,
    },
}

/// One peer of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// Socket address.
    pub address: SocketAddr,
    /// `namespace/name` of the pod, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Verified SPIFFE identity, for mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SpiffeId>,
}

/// A finished connection or HTTP request as one sidecar saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRecord {
    /// `namespace/name` of the pod whose sidecar reports.
    pub reporter: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The client.
    pub source: Peer,
    /// The server.
    pub destination: Peer,
    /// `namespace/name` of the service, when the proxy knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Destination port (service port outbound, container port inbound).
    pub port: u16,
    /// Transport between the two peers.
    pub transport: Transport,
    /// HTTP method and path, for HTTP requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What happened.
    pub outcome: Outcome,
}
