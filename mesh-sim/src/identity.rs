//! SPIFFE workload identities as Istio uses them: `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Trust domain used when a scenario sets none; it is Istio's default.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// A workload identity: trust domain, namespace and service account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    trust_domain: String,
    namespace: String,
    service_account: String,
}

/// Reasons a string is not an Istio SPIFFE id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeIdError {
    /// The string does not start with `spiffe://`.
    #[error("invalid SPIFFE id {0:?}: missing the spiffe:// scheme")]
    MissingScheme(String),
    /// The path is not `/ns/<namespace>/sa/<service-account>`.
    #[error(
        "invalid SPIFFE id {0:?}: expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"
    )]
    InvalidPath(String),
}

impl SpiffeId {
    /// Builds an identity from its parts.
    pub fn new(
        trust_domain: impl Into<String>,
        namespace: impl Into<String>,
        service_account: impl Into<String>,
    ) -> Self {
        Self {
            trust_domain: trust_domain.into(),
            namespace: namespace.into(),
            service_account: service_account.into(),
        }
    }

    /// The trust domain, for example `cluster.local`.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The workload's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The workload's service account.
    pub fn service_account(&self) -> &str {
        &self.service_account
    }

    /// The identity as an authorization principal: the URI without `spiffe://`.
    pub fn principal(&self) -> String {
        format!(
            "{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}", self.principal())
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    /// Parses the URI form. Like Istio's parser, it requires exactly the segments
    /// `<trust-domain>/ns/<namespace>/sa/<service-account>`, none of them empty.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix("spiffe://")
            .ok_or_else(|| SpiffeIdError::MissingScheme(s.to_owned()))?;
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            [td, "ns", ns, "sa", sa] if !td.is_empty() && !ns.is_empty() && !sa.is_empty() => {
                Ok(Self::new(*td, *ns, *sa))
            }
            _ => Err(SpiffeIdError::InvalidPath(s.to_owned())),
        }
    }
}

impl Serialize for SpiffeId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpiffeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istio_identity() {
        let id: SpiffeId = "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage"
            .parse()
            .unwrap();
        assert_eq!(id.trust_domain(), "cluster.local");
        assert_eq!(id.namespace(), "bookinfo");
        assert_eq!(id.service_account(), "bookinfo-productpage");
        assert_eq!(
            id.principal(),
            "cluster.local/ns/bookinfo/sa/bookinfo-productpage"
        );
    }

    #[test]
    fn display_round_trips() {
        let id = SpiffeId::new("c1.tsb.local", "sleep", "sleep");
        assert_eq!(id.to_string().parse::<SpiffeId>().unwrap(), id);
    }

    #[test]
    fn rejects_malformed_ids() {
        let cases = [
            "cluster.local/ns/a/sa/b",
            "spiffe://cluster.local/ns/a",
            "spiffe://cluster.local/ns/a/sa/b/extra",
            "spiffe://cluster.local/namespace/a/sa/b",
            "spiffe:///ns/a/sa/b",
            "spiffe://cluster.local/ns//sa/b",
        ];
        for case in cases {
            assert!(
                case.parse::<SpiffeId>().is_err(),
                "{case} should be rejected"
            );
        }
    }
}
