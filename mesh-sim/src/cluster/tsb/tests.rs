use serde_json::json;

use super::super::{ClusterConfig, ClusterError, ClusterState, ClusterStore};
use crate::resources::tsb::{
    OrganizationSpec, SecurityGroupSpec, TenantSpec, TsbObject, WorkspaceSpec,
};
use crate::resources::{Resource, ResourceKind};

const WORKSPACE: &str = "organizations/o/tenants/t/workspaces/w";
const GROUP: &str = "Group organizations/o/tenants/t/workspaces/w/securitygroups/g";

fn tsb_object<S: serde::de::DeserializeOwned + Default>(value: serde_json::Value) -> TsbObject<S> {
    serde_json::from_value(value).expect("a valid TSB object")
}

/// Organization o, tenant t and workspace w selecting `workspace_names`.
fn hierarchy(workspace_names: &[&str]) -> Vec<Resource> {
    vec![
        Resource::Organization(tsb_object::<OrganizationSpec>(json!({
            "apiVersion": "api.tsb.tetrate.io/v2",
            "kind": "Organization",
            "metadata": {"name": "o"},
        }))),
        Resource::Tenant(tsb_object::<TenantSpec>(json!({
            "apiVersion": "api.tsb.tetrate.io/v2",
            "kind": "Tenant",
            "metadata": {"organization": "o", "name": "t"},
        }))),
        Resource::Workspace(tsb_object::<WorkspaceSpec>(json!({
            "apiVersion": "api.tsb.tetrate.io/v2",
            "kind": "Workspace",
            "metadata": {"organization": "o", "tenant": "t", "name": "w"},
            "spec": {"namespaceSelector": {"names": workspace_names}},
        }))),
    ]
}

/// Group g of workspace w in the tctl form, selecting `names` (no selector when `None`).
fn group(names: Option<&[&str]>) -> Resource {
    let mut value = json!({
        "apiVersion": "security.tsb.tetrate.io/v2",
        "kind": "Group",
        "metadata": {"organization": "o", "tenant": "t", "workspace": "w", "name": "g"},
    });
    if let Some(names) = names {
        value["spec"] = json!({"namespaceSelector": {"names": names}});
    }
    Resource::SecurityGroup(tsb_object::<SecurityGroupSpec>(value))
}

/// Group g of workspace w in the Kubernetes (CRD) form, with the hierarchy in annotations.
fn crd_group(names: &[&str]) -> Resource {
    Resource::SecurityGroup(tsb_object::<SecurityGroupSpec>(json!({
        "apiVersion": "security.tsb.tetrate.io/v2",
        "kind": "Group",
        "metadata": {
            "name": "g",
            "namespace": "tsb-config",
            "annotations": {
                "tsb.tetrate.io/organization": "o",
                "tsb.tetrate.io/tenant": "t",
                "tsb.tetrate.io/workspace": "w",
            },
        },
        "spec": {"namespaceSelector": {"names": names}},
    })))
}

fn state_with(workspace_names: &[&str]) -> ClusterState {
    let mut state = ClusterState::new(ClusterConfig::default(), 202);
    state
        .apply(hierarchy(workspace_names))
        .expect("the hierarchy applies");
    state
}

fn group_count(state: &ClusterState) -> usize {
    state.objects_of(ResourceKind::SecurityGroup).count()
}

#[test]
fn group_inside_workspace_is_accepted() {
    let cases: &[(&[&str], Option<&[&str]>)] = &[
        (&["*/bookinfo"], Some(&["*/bookinfo"])),
        (&["*/bookinfo"], Some(&["cluster-1/bookinfo"])),
        (&["*/bookinfo"], None),
        (&["*/bookinfo"], Some(&[])),
        (&["*/*"], Some(&["*/*"])),
        (&["*/*"], Some(&["cluster-1/app*", "*/bookinfo"])),
        (&["cluster-1/*"], Some(&["cluster-1/bookinfo"])),
        (&["*/app*", "*/bookinfo"], Some(&["*/app-1", "*/bookinfo"])),
    ];
    for (workspace, names) in cases {
        let mut state = state_with(workspace);
        let result = state.apply(vec![group(*names)]);
        assert!(
            result.is_ok(),
            "{names:?} in {workspace:?}: {}",
            result.unwrap_err()
        );
        assert_eq!(group_count(&state), 1, "{names:?} in {workspace:?}");
    }
}

#[test]
fn group_outside_workspace_is_rejected() {
    // The workspace's selectors, the group's, and the entry the error names.
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&["*/bookinfo"], &["*/*"], "*/*"),
        (&["*/bookinfo"], &["*/bookinfo", "*/sleep"], "*/sleep"),
        (&["cluster-1/bookinfo"], &["*/bookinfo"], "*/bookinfo"),
        (&["cluster-1/*"], &["*/bookinfo"], "*/bookinfo"),
        (&["*/bookinfo"], &["cluster-1/*"], "cluster-1/*"),
        (&["*/app"], &["*/app*"], "*/app*"),
        (&["*/bookinfo"], &["cluster-2/other"], "cluster-2/other"),
        (&[], &["*/bookinfo"], "*/bookinfo"),
    ];
    for (workspace, names, entry) in cases {
        let mut state = state_with(workspace);
        let error = state.apply(vec![group(Some(names))]).unwrap_err();
        let ClusterError::GroupOutsideWorkspace {
            group: group_key,
            entry: actual_entry,
            workspace: workspace_fqn,
            workspace_selector,
        } = &error
        else {
            panic!("{names:?} in {workspace:?}: unexpected error {error}");
        };
        assert_eq!(group_key, GROUP);
        assert_eq!(actual_entry, entry, "{names:?} in {workspace:?}");
        assert_eq!(workspace_fqn, WORKSPACE);
        assert_eq!(workspace_selector, workspace, "{names:?}");
        assert_eq!(group_count(&state), 0, "{names:?} in {workspace:?}");
    }
}

#[test]
fn rejection_names_group_entry_and_workspace() {
    let mut state = state_with(&["*/bookinfo", "cluster-1/reviews"]);
    let error = state.apply(vec![group(Some(&["*/*"]))]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Group organizations/o/tenants/t/workspaces/w/securitygroups/g: namespaceSelector entry \
         \"*/*\" selects namespaces outside its workspace organizations/o/tenants/t/workspaces/w, \
         whose namespaceSelector is [\"*/bookinfo\", \"cluster-1/reviews\"]; a security group \
         can select only namespaces of its workspace, so narrow the entry or add those \
         namespaces to the workspace first"
    );
}

#[test]
fn crd_form_group_is_checked() {
    let mut state = state_with(&["*/bookinfo"]);
    let error = state.apply(vec![crd_group(&["*/*"])]).unwrap_err();
    assert!(
        matches!(error, ClusterError::GroupOutsideWorkspace { .. }),
        "{error}"
    );
    assert_eq!(group_count(&state), 0);
    state
        .apply(vec![crd_group(&["*/bookinfo"])])
        .expect("a group inside its workspace applies");
    assert_eq!(group_count(&state), 1);
}

#[test]
fn reapplied_group_is_checked_again() {
    let mut state = state_with(&["*/bookinfo"]);
    let accepted = group(Some(&["*/bookinfo"]));
    state.apply(vec![accepted.clone()]).unwrap();
    let error = state.apply(vec![group(Some(&["*/*"]))]).unwrap_err();
    assert!(
        matches!(error, ClusterError::GroupOutsideWorkspace { .. }),
        "{error}"
    );
    let stored = state.object(&accepted.key().unwrap()).expect("the group");
    assert_eq!(stored.resource, accepted, "the accepted group is kept");
}

#[test]
fn rejected_group_leaves_store_unchanged() {
    let store = ClusterStore::new(ClusterState::new(ClusterConfig::default(), 203));
    let result = store.update(|state| {
        let mut objects = hierarchy(&["*/bookinfo"]);
        objects.push(group(Some(&["*/*"])));
        state.apply(objects)
    });
    assert!(result.is_err(), "the group is outside its workspace");
    let snapshot = store.snapshot();
    assert_eq!(
        snapshot.objects().count(),
        0,
        "neither the hierarchy nor the group was applied"
    );
}

/// Workspace `name` of tenant t selecting `names`.
fn other_workspace(name: &str, names: &[&str]) -> Resource {
    Resource::Workspace(tsb_object::<WorkspaceSpec>(json!({
        "apiVersion": "api.tsb.tetrate.io/v2",
        "kind": "Workspace",
        "metadata": {"organization": "o", "tenant": "t", "name": name},
        "spec": {"namespaceSelector": {"names": names}},
    })))
}

#[test]
fn workspaces_cannot_repeat_a_claim() {
    let mut state = ClusterState::new(ClusterConfig::default(), 204);
    state
        .apply(hierarchy(&["*/app", "c1/db"]))
        .expect("hierarchy");

    let error = state
        .apply(vec![other_workspace("second", &["*/other", "*/app"])])
        .expect_err("*/app is w's");
    assert_eq!(
        error,
        ClusterError::NamespacesClaimed {
            workspace: "Workspace organizations/o/tenants/t/workspaces/second".to_owned(),
            entry: "*/app".to_owned(),
            owner: format!("Workspace {WORKSPACE}"),
        }
    );
    assert!(
        state
            .objects_of(ResourceKind::Workspace)
            .all(|(key, _)| key.name == "w"),
        "the rejected workspace is not stored"
    );

    state
        .apply(vec![other_workspace("wide", &["*/*", "c1/app", "c2/db"])])
        .expect("overlapping but different entries are accepted");
    state
        .apply(hierarchy(&["*/app", "c1/db"]))
        .expect("re-applying a workspace does not conflict with itself");
}
