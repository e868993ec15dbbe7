//! Checks that the TSB management plane makes on an object of its hierarchy before it
//! stores it, beyond the existence of the parent.

use super::{ClusterError, ClusterState};
use crate::resources::tsb::selector::SelectorEntry;
use crate::resources::tsb::{TsbObject, WorkspaceSpec};
use crate::resources::{Resource, ResourceKey, ResourceKind, Scope, tsb_fqn};

/// Rejects a security group whose namespace selector has an entry that can select a
/// namespace its workspace does not select, because TSB requires a group's namespaces to be
/// a subset of its workspace's. A group without a namespace selector covers its whole
/// workspace, so it always passes.
///
/// NOTE: this checks the group only when the group is applied. Re-applying the workspace
/// with a narrower selector is accepted, even when an existing group's entries then reach
/// beyond it. Those entries have no effect, because the policy code assigns a group only
/// namespaces that its workspace owns.
pub(super) fn check_group_within_workspace(
    state: &ClusterState,
    key: &ResourceKey,
    resource: &Resource,
) -> Result<(), ClusterError> {
    let Resource::SecurityGroup(group) = resource else {
        return Ok(());
    };
    let Some(selector) = &group.spec.namespace_selector else {
        return Ok(());
    };
    let Scope::Tsb(workspace_fqn) = &key.scope else {
        return Ok(());
    };
    // `check_parent_exists` has already rejected a group whose workspace is missing.
    let Some(workspace) = workspace(state, workspace_fqn) else {
        return Ok(());
    };
    let workspace_names = &workspace.spec.namespace_selector.names;
    let workspace_entries: Vec<SelectorEntry> = workspace_names
        .iter()
        .filter_map(|name| SelectorEntry::parse(name))
        .collect();
    for name in &selector.names {
        // An entry without `/` selects no namespace.
        let Some(entry) = SelectorEntry::parse(name) else {
            continue;
        };
        if !entry.is_covered_by(&workspace_entries) {
            return Err(ClusterError::GroupOutsideWorkspace {
                group: key.to_string(),
                entry: name.clone(),
                workspace: workspace_fqn.clone(),
                workspace_selector: workspace_names.clone(),
            });
        }
    }
    Ok(())
}

/// Rejects a workspace whose namespace selector repeats an entry of another workspace, such
/// as `*/bookinfo` in two workspaces: a workspace owns its namespaces exclusively, and two
/// equal entries leave no rule to decide the owner. Overlapping but different entries
/// (`*/*` and `*/bookinfo`) are accepted, and the more specific one owns the namespace.
pub(super) fn check_workspace_claims(
    state: &ClusterState,
    key: &ResourceKey,
    resource: &Resource,
) -> Result<(), ClusterError> {
    let Resource::Workspace(workspace) = resource else {
        return Ok(());
    };
    for name in &workspace.spec.namespace_selector.names {
        let Some(entry) = SelectorEntry::parse(name) else {
            continue;
        };
        let owner = state
            .objects_of(ResourceKind::Workspace)
            .filter(|(other, _)| *other != key)
            .find_map(|(other, stored)| match &stored.resource {
                Resource::Workspace(existing)
                    if existing
                        .spec
                        .namespace_selector
                        .names
                        .iter()
                        .filter_map(|other_name| SelectorEntry::parse(other_name))
                        .any(|other_entry| other_entry == entry) =>
                {
                    Some(other)
                }
                _ => None,
            });
        if let Some(owner) = owner {
            return Err(ClusterError::NamespacesClaimed {
                workspace: key.to_string(),
                entry: name.clone(),
                owner: owner.to_string(),
            });
        }
    }
    Ok(())
}

fn workspace<'a>(state: &'a ClusterState, fqn: &str) -> Option<&'a TsbObject<WorkspaceSpec>> {
    state
        .objects_of(ResourceKind::Workspace)
        .find_map(|(key, stored)| match &stored.resource {
            Resource::Workspace(workspace) if tsb_fqn(key).as_deref() == Some(fqn) => {
                Some(workspace)
            }
            _ => None,
        })
}

/// Formats selector entries as a YAML flow sequence, such as `["*/bookinfo", "c1/reviews"]`.
pub(super) fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests;
