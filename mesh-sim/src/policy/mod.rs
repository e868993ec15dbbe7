//! Security policy: which Istio resources apply to a workload, and what they decide. TSB
//! settings are first translated into Istio resources (see [`tsb`]), so one set of rules
//! serves both.

pub mod authz;
pub mod client_tls;
pub mod peer_auth;
pub mod tsb;

use serde::{Deserialize, Serialize};

/// A resource with its creation order, for Istio's "oldest wins" rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ordered<T> {
    /// Creation order; lower is older.
    pub created: u64,
    /// The resource.
    pub object: T,
}
