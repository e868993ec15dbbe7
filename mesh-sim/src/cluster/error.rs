//! The reasons the cluster rejects a change.

use super::addressing::AddressExhausted;
use super::tsb;
use crate::resources::KeyError;

/// The reason a change to the cluster was rejected. Nothing of the change was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The object has no usable identity.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A namespaced object names a namespace that does not exist.
    #[error("namespaces \"{namespace}\" not found (applying {key}); create the Namespace first")]
    NamespaceNotFound {
        /// The missing namespace.
        namespace: String,
        /// The object being applied.
        key: String,
    },
    /// A TSB object names a parent that does not exist.
    #[error("{parent} does not exist (applying {key}); apply the parent first")]
    ParentNotFound {
        /// FQN of the missing parent.
        parent: String,
        /// The object being applied.
        key: String,
    },
    /// A security group's namespace selector reaches beyond its workspace's.
    #[error(
        "{group}: namespaceSelector entry \"{entry}\" selects namespaces outside its workspace \
         {workspace}, whose namespaceSelector is {selector}; a security group can select only \
         namespaces of its workspace, so narrow the entry or add those namespaces to the \
         workspace first",
        selector = tsb::quoted_list(.workspace_selector)
    )]
    GroupOutsideWorkspace {
        /// The group being applied.
        group: String,
        /// The offending entry of the group's selector, as written.
        entry: String,
        /// FQN of the group's workspace.
        workspace: String,
        /// The workspace's selector entries, as written.
        workspace_selector: Vec<String>,
    },
    /// A workspace's namespace selector repeats an entry of another workspace.
    #[error(
        "{workspace}: namespaceSelector entry \"{entry}\" is already claimed by {owner}; a \
         namespace belongs to one workspace, so remove the entry from one of them"
    )]
    NamespacesClaimed {
        /// The workspace being applied.
        workspace: String,
        /// The repeated entry, as written.
        entry: String,
        /// The workspace that has the same entry.
        owner: String,
    },
    /// A request to delete a namespace that Kubernetes keeps for itself.
    #[error(
        "namespaces \"{0}\" is forbidden: this namespace may not be deleted; Kubernetes keeps \
         default, kube-system and kube-public, so delete the objects in it instead"
    )]
    ProtectedNamespace(String),
    /// An object to delete, label or restart does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A bare pod's spec changed; Kubernetes forbids that.
    #[error("pod {0}: updates may not change the pod spec; delete the pod and apply it again")]
    PodSpecChanged(String),
    /// The in-process address range ran out.
    #[error(transparent)]
    Addresses(#[from] AddressExhausted),
}
