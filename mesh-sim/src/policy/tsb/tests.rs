use k8s_openapi::api::core::v1::Namespace;

use super::*;
use crate::cluster::ClusterConfig;
use crate::resources::tsb::{
    AuthenticationSettings, AuthorizationRule, AuthorizationSettings, DefaultSettingsSpec,
    NamespaceSelector, OrganizationSpec, RuleEndpoint, SecurityGroupSpec, TenantSpec, TsbMetadata,
    TsbObject, WorkspaceSpec,
};

const ORG: &str = "organizations/o";
const TENANT: &str = "organizations/o/tenants/t";
const W1: &str = "organizations/o/tenants/t/workspaces/w1";
const W2: &str = "organizations/o/tenants/t/workspaces/w2";
const G1: &str = "organizations/o/tenants/t/workspaces/w1/securitygroups/g1";

fn metadata(
    name: &str,
    org: Option<&str>,
    tenant: Option<&str>,
    workspace: Option<&str>,
    group: Option<&str>,
) -> TsbMetadata {
    TsbMetadata {
        name: name.into(),
        organization: org.map(Into::into),
        tenant: tenant.map(Into::into),
        workspace: workspace.map(Into::into),
        group: group.map(Into::into),
        ..Default::default()
    }
}

fn object<S>(kind: &str, metadata: TsbMetadata, spec: S) -> TsbObject<S> {
    TsbObject {
        api_version: "api.tsb.tetrate.io/v2".into(),
        kind: kind.into(),
        metadata,
        spec,
    }
}

fn namespace(name: &str) -> Resource {
    Resource::Namespace(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Organization o, tenant t; workspace w1 owns a, b and a1 (group g1 covers a and a1);
/// workspace w2 owns c; namespace x is in no workspace.
fn hierarchy() -> Vec<Resource> {
    let selector = |names: &[&str]| NamespaceSelector {
        names: names.iter().map(|name| (*name).to_owned()).collect(),
    };
    vec![
        namespace("a"),
        namespace("a1"),
        namespace("b"),
        namespace("c"),
        namespace("x"),
        Resource::Organization(object(
            "Organization",
            metadata("o", None, None, None, None),
            OrganizationSpec::default(),
        )),
        Resource::Tenant(object(
            "Tenant",
            metadata("t", Some("o"), None, None, None),
            TenantSpec::default(),
        )),
        Resource::Workspace(object(
            "Workspace",
            metadata("w1", Some("o"), Some("t"), None, None),
            WorkspaceSpec {
                namespace_selector: selector(&["*/a*", "cluster-1/b"]),
                ..Default::default()
            },
        )),
        Resource::Workspace(object(
            "Workspace",
            metadata("w2", Some("o"), Some("t"), None, None),
            WorkspaceSpec {
                namespace_selector: selector(&["*/c"]),
                ..Default::default()
            },
        )),
        Resource::SecurityGroup(object(
            "Group",
            metadata("g1", Some("o"), Some("t"), Some("w1"), None),
            SecurityGroupSpec {
                namespace_selector: Some(selector(&["*/a", "*/a1"])),
                ..Default::default()
            },
        )),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum At {
    Organization,
    Tenant,
    Workspace,
    Group,
}

fn spec(
    traffic: TrafficMode,
    authorization: AuthorizationMode,
    strategy: Option<PropagationStrategy>,
) -> SecuritySettingSpec {
    SecuritySettingSpec {
        authentication_settings: Some(AuthenticationSettings {
            traffic_mode: traffic,
            http: None,
        }),
        authorization: Some(AuthorizationSettings {
            mode: authorization,
            ..Default::default()
        }),
        propagation_strategy: strategy,
        ..Default::default()
    }
}

fn setting(at: At, spec: SecuritySettingSpec) -> Resource {
    let defaults = |spec| DefaultSettingsSpec {
        default_security_setting: Some(spec),
        ..Default::default()
    };
    match at {
        At::Organization => Resource::OrganizationSetting(object(
            "OrganizationSetting",
            metadata("os", Some("o"), None, None, None),
            defaults(spec),
        )),
        At::Tenant => Resource::TenantSetting(object(
            "TenantSetting",
            metadata("ts", Some("o"), Some("t"), None, None),
            defaults(spec),
        )),
        At::Workspace => Resource::WorkspaceSetting(object(
            "WorkspaceSetting",
            metadata("ws", Some("o"), Some("t"), Some("w1"), None),
            defaults(spec),
        )),
        At::Group => Resource::SecuritySetting(object(
            "SecuritySetting",
            metadata("ss", Some("o"), Some("t"), Some("w1"), Some("g1")),
            spec,
        )),
    }
}

fn state_with(settings: Vec<Resource>) -> ClusterState {
    let mut state = ClusterState::new(ClusterConfig::default(), 201);
    state.apply(hierarchy()).unwrap();
    state.apply(settings).unwrap();
    state
}

#[test]
fn namespaces_map_to_workspaces_and_groups() {
    let effective = effective_security(&state_with(vec![]));
    assert_eq!(effective["a"].workspace, W1);
    assert_eq!(effective["a"].group.as_deref(), Some(G1));
    assert_eq!(effective["a1"].group.as_deref(), Some(G1));
    assert_eq!(effective["b"].workspace, W1);
    assert_eq!(effective["b"].group, None);
    assert_eq!(effective["c"].workspace, W2);
    assert!(!effective.contains_key("x"), "x is in no workspace");
}

#[test]
fn nothing_set_means_unset_and_nothing_generated() {
    let state = state_with(vec![]);
    let effective = effective_security(&state);
    assert_eq!(effective["a"].traffic_mode, TrafficMode::Unset);
    assert_eq!(effective["a"].authorization, AuthorizationMode::Unset);
    assert_eq!(translate(&state), Generated::default());
}

/// Each mode set at each single level reaches exactly the namespaces below that level.
#[test]
fn single_level_settings_reach_the_namespaces_below() {
    use AuthorizationMode::*;
    let modes = [
        Namespace, Group, Workspace, Cluster, Disabled, Custom, Rules,
    ];
    let traffic = [TrafficMode::Optional, TrafficMode::Required];
    let reach: [(At, &[&str]); 4] = [
        (At::Organization, &["a", "a1", "b", "c"]),
        (At::Tenant, &["a", "a1", "b", "c"]),
        (At::Workspace, &["a", "a1", "b"]),
        (At::Group, &["a", "a1"]),
    ];
    for (at, reached) in reach {
        for mode in modes {
            for traffic_mode in traffic {
                for strategy in [None, Some(PropagationStrategy::Stricter)] {
                    let state = state_with(vec![setting(at, spec(traffic_mode, mode, strategy))]);
                    let effective = effective_security(&state);
                    for namespace in ["a", "a1", "b", "c"] {
                        let expected_in = reached.contains(&namespace);
                        let security = &effective[namespace];
                        let context = format!(
                            "{mode:?}/{traffic_mode:?}/{strategy:?} at {at:?}, namespace {namespace}"
                        );
                        if expected_in {
                            assert_eq!(security.authorization, mode, "{context}: authorization");
                            assert_eq!(security.traffic_mode, traffic_mode, "{context}: traffic");
                        } else {
                            assert_eq!(security.authorization, Unset, "{context}: authorization");
                            assert_eq!(
                                security.traffic_mode,
                                TrafficMode::Unset,
                                "{context}: traffic"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Two levels: under REPLACE the lower level wins; under STRICTER at the upper level the
/// stricter value wins.
#[test]
fn replace_and_stricter_across_levels() {
    use AuthorizationMode::*;
    use TrafficMode::{Optional, Required};
    struct Case {
        upper: (
            At,
            TrafficMode,
            AuthorizationMode,
            Option<PropagationStrategy>,
        ),
        lower: (
            At,
            TrafficMode,
            AuthorizationMode,
            Option<PropagationStrategy>,
        ),
        namespace: &'static str,
        expected: (TrafficMode, AuthorizationMode),
    }
    let stricter = Some(PropagationStrategy::Stricter);
    let cases = [
        // REPLACE: the lower level replaces the upper one.
        Case {
            upper: (At::Tenant, Required, Workspace, None),
            lower: (At::Workspace, Optional, Disabled, None),
            namespace: "a",
            expected: (Optional, Disabled),
        },
        Case {
            upper: (At::Organization, Required, Cluster, None),
            lower: (At::Group, Optional, Namespace, None),
            namespace: "a",
            expected: (Optional, Namespace),
        },
        // ... but only below it.
        Case {
            upper: (At::Tenant, Required, Workspace, None),
            lower: (At::Group, Optional, Disabled, None),
            namespace: "b",
            expected: (Required, Workspace),
        },
        // UNSET inherits.
        Case {
            upper: (At::Tenant, Required, Cluster, None),
            lower: (
                At::Workspace,
                TrafficMode::Unset,
                AuthorizationMode::Unset,
                None,
            ),
            namespace: "a",
            expected: (Required, Cluster),
        },
        // STRICTER: a child cannot loosen.
        Case {
            upper: (At::Tenant, Required, Workspace, stricter),
            lower: (At::Workspace, Optional, Cluster, None),
            namespace: "a",
            expected: (Required, Workspace),
        },
        Case {
            upper: (At::Organization, Required, Namespace, stricter),
            lower: (At::Group, Optional, Disabled, None),
            namespace: "a",
            expected: (Required, Namespace),
        },
        // STRICTER: a child can tighten, in the documented order.
        Case {
            upper: (At::Tenant, Optional, Cluster, stricter),
            lower: (At::Workspace, Required, Workspace, None),
            namespace: "b",
            expected: (Required, Workspace),
        },
        Case {
            upper: (At::Tenant, Optional, Workspace, stricter),
            lower: (At::Group, Required, Namespace, None),
            namespace: "a",
            expected: (Required, Namespace),
        },
        Case {
            upper: (At::Workspace, Optional, Namespace, stricter),
            lower: (At::Group, Optional, Group, None),
            namespace: "a",
            expected: (Optional, Group),
        },
        Case {
            upper: (At::Workspace, Optional, Group, stricter),
            lower: (At::Group, Optional, Namespace, None),
            namespace: "a",
            expected: (Optional, Group),
        },
        Case {
            upper: (At::Tenant, Optional, Rules, stricter),
            lower: (At::Workspace, Optional, Custom, None),
            namespace: "a",
            expected: (Optional, Custom),
        },
        Case {
            upper: (At::Tenant, Optional, Custom, stricter),
            lower: (At::Workspace, Optional, Rules, None),
            namespace: "a",
            expected: (Optional, Custom),
        },
        Case {
            upper: (At::Tenant, Optional, Disabled, stricter),
            lower: (At::Workspace, Optional, Cluster, None),
            namespace: "a",
            expected: (Optional, Cluster),
        },
        // STRICTER declared lower down only constrains levels below it.
        Case {
            upper: (At::Tenant, Required, Workspace, None),
            lower: (At::Workspace, Optional, Cluster, stricter),
            namespace: "a",
            expected: (Optional, Cluster),
        },
    ];
    for (index, case) in cases.iter().enumerate() {
        let (upper_at, upper_traffic, upper_mode, upper_strategy) = case.upper;
        let (lower_at, lower_traffic, lower_mode, lower_strategy) = case.lower;
        let state = state_with(vec![
            setting(upper_at, spec(upper_traffic, upper_mode, upper_strategy)),
            setting(lower_at, spec(lower_traffic, lower_mode, lower_strategy)),
        ]);
        let security = &effective_security(&state)[case.namespace];
        assert_eq!(
            (security.traffic_mode, security.authorization),
            case.expected,
            "case {index}: upper {:?}, lower {:?}, namespace {}",
            case.upper,
            case.lower,
            case.namespace
        );
    }
}

/// The setting of one level in [`effective_settings_table`]: traffic mode, authorization mode
/// and propagation strategy.
type LevelSetting = (TrafficMode, AuthorizationMode, Option<PropagationStrategy>);

/// A row of [`effective_settings_table`].
struct Row {
    /// The settings of the organization, tenant, workspace w1 and group g1, in that order.
    levels: [LevelSetting; 4],
    /// Effective traffic and authorization modes in namespace a (group g1 of workspace w1),
    /// namespace b (workspace w1, no group) and namespace c (workspace w2, no setting).
    expected: [(TrafficMode, AuthorizationMode); 3],
}

/// Effective settings with all four levels set, for every traffic and authorization mode
/// (UNSET included) at every level, under REPLACE and with STRICTER declared at the
/// organization, the tenant or the workspace. Each block rotates the modes through the levels
/// so that each mode appears once at each level. Under REPLACE the lowest level that sets a
/// field decides it; below a STRICTER level a value replaces the one above only if it is
/// stricter, in the orders UNSET < OPTIONAL < REQUIRED and UNSET < DISABLED < CLUSTER <
/// WORKSPACE < NAMESPACE < GROUP < RULES < CUSTOM.
#[test]
fn effective_settings_table() {
    use AuthorizationMode::{Cluster, Custom, Disabled, Group, Namespace, Rules, Workspace};
    use TrafficMode::{Optional, Required};
    const UNSET_TRAFFIC: TrafficMode = TrafficMode::Unset;
    const UNSET_MODE: AuthorizationMode = AuthorizationMode::Unset;
    // The strategy is left out, which means REPLACE.
    const OMITTED: Option<PropagationStrategy> = None;
    const REPLACE: Option<PropagationStrategy> = Some(PropagationStrategy::Replace);
    const STRICTER: Option<PropagationStrategy> = Some(PropagationStrategy::Stricter);
    let rows = [
        // REPLACE at every level.
        Row {
            levels: [
                (UNSET_TRAFFIC, UNSET_MODE, OMITTED),
                (Optional, Namespace, REPLACE),
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, REPLACE),
            ],
            expected: [
                (Required, Workspace),
                (Required, Group),
                (Optional, Namespace),
            ],
        },
        Row {
            levels: [
                (Optional, Namespace, REPLACE),
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, OMITTED),
            ],
            expected: [
                (Optional, Cluster),
                (Required, Workspace),
                (Required, Group),
            ],
        },
        Row {
            levels: [
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, OMITTED),
                (Required, Disabled, REPLACE),
            ],
            expected: [
                (Required, Disabled),
                (Optional, Cluster),
                (Required, Workspace),
            ],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, OMITTED),
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, OMITTED),
            ],
            expected: [
                (Required, Custom),
                (Required, Disabled),
                (Optional, Cluster),
            ],
        },
        Row {
            levels: [
                (Optional, Cluster, OMITTED),
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, REPLACE),
            ],
            expected: [(Optional, Rules), (Required, Custom), (Required, Disabled)],
        },
        Row {
            levels: [
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, OMITTED),
            ],
            expected: [(Required, Rules), (Optional, Rules), (Required, Custom)],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, OMITTED),
                (UNSET_TRAFFIC, Namespace, REPLACE),
            ],
            expected: [(Required, Namespace), (Required, Rules), (Optional, Rules)],
        },
        Row {
            levels: [
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, OMITTED),
                (UNSET_TRAFFIC, Namespace, REPLACE),
                (Optional, Group, OMITTED),
            ],
            expected: [(Optional, Group), (Required, Namespace), (Required, Rules)],
        },
        // STRICTER at the organization.
        Row {
            levels: [
                (UNSET_TRAFFIC, UNSET_MODE, STRICTER),
                (Optional, Namespace, REPLACE),
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, REPLACE),
            ],
            expected: [(Required, Group), (Required, Group), (Optional, Namespace)],
        },
        Row {
            levels: [
                (Optional, Namespace, STRICTER),
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, OMITTED),
            ],
            expected: [(Required, Group), (Required, Group), (Required, Group)],
        },
        Row {
            levels: [
                (Required, Group, STRICTER),
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, OMITTED),
                (Required, Disabled, REPLACE),
            ],
            expected: [(Required, Group), (Required, Group), (Required, Group)],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Workspace, STRICTER),
                (Optional, Cluster, OMITTED),
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, OMITTED),
            ],
            expected: [
                (Required, Custom),
                (Required, Workspace),
                (Optional, Workspace),
            ],
        },
        Row {
            levels: [
                (Optional, Cluster, STRICTER),
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, REPLACE),
            ],
            expected: [(Required, Custom), (Required, Custom), (Required, Cluster)],
        },
        Row {
            levels: [
                (Required, Disabled, STRICTER),
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, OMITTED),
            ],
            expected: [(Required, Custom), (Required, Custom), (Required, Custom)],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Custom, STRICTER),
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, OMITTED),
                (UNSET_TRAFFIC, Namespace, REPLACE),
            ],
            expected: [(Required, Custom), (Required, Custom), (Optional, Custom)],
        },
        Row {
            levels: [
                (Optional, Rules, STRICTER),
                (Required, UNSET_MODE, OMITTED),
                (UNSET_TRAFFIC, Namespace, REPLACE),
                (Optional, Group, OMITTED),
            ],
            expected: [(Required, Rules), (Required, Rules), (Required, Rules)],
        },
        // STRICTER at the tenant.
        Row {
            levels: [
                (UNSET_TRAFFIC, UNSET_MODE, OMITTED),
                (Optional, Namespace, STRICTER),
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, REPLACE),
            ],
            expected: [(Required, Group), (Required, Group), (Optional, Namespace)],
        },
        Row {
            levels: [
                (Optional, Namespace, REPLACE),
                (Required, Group, STRICTER),
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, OMITTED),
            ],
            expected: [(Required, Group), (Required, Group), (Required, Group)],
        },
        Row {
            levels: [
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, STRICTER),
                (Optional, Cluster, OMITTED),
                (Required, Disabled, REPLACE),
            ],
            expected: [
                (Required, Workspace),
                (Required, Workspace),
                (Required, Workspace),
            ],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, STRICTER),
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, OMITTED),
            ],
            expected: [(Required, Custom), (Required, Cluster), (Optional, Cluster)],
        },
        Row {
            levels: [
                (Optional, Cluster, OMITTED),
                (Required, Disabled, STRICTER),
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, REPLACE),
            ],
            expected: [(Required, Custom), (Required, Custom), (Required, Disabled)],
        },
        Row {
            levels: [
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, STRICTER),
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, OMITTED),
            ],
            expected: [(Required, Custom), (Required, Custom), (Required, Custom)],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, STRICTER),
                (Required, UNSET_MODE, OMITTED),
                (UNSET_TRAFFIC, Namespace, REPLACE),
            ],
            expected: [(Required, Rules), (Required, Rules), (Optional, Rules)],
        },
        Row {
            levels: [
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, STRICTER),
                (UNSET_TRAFFIC, Namespace, REPLACE),
                (Optional, Group, OMITTED),
            ],
            expected: [(Required, Rules), (Required, Rules), (Required, Rules)],
        },
        // STRICTER at the workspace.
        Row {
            levels: [
                (UNSET_TRAFFIC, UNSET_MODE, OMITTED),
                (Optional, Namespace, REPLACE),
                (Required, Group, STRICTER),
                (UNSET_TRAFFIC, Workspace, REPLACE),
            ],
            expected: [(Required, Group), (Required, Group), (Optional, Namespace)],
        },
        Row {
            levels: [
                (Optional, Namespace, REPLACE),
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, STRICTER),
                (Optional, Cluster, OMITTED),
            ],
            expected: [
                (Required, Workspace),
                (Required, Workspace),
                (Required, Group),
            ],
        },
        Row {
            levels: [
                (Required, Group, OMITTED),
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, STRICTER),
                (Required, Disabled, REPLACE),
            ],
            expected: [
                (Required, Cluster),
                (Optional, Cluster),
                (Required, Workspace),
            ],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Workspace, REPLACE),
                (Optional, Cluster, OMITTED),
                (Required, Disabled, STRICTER),
                (UNSET_TRAFFIC, Custom, OMITTED),
            ],
            expected: [
                (Required, Custom),
                (Required, Disabled),
                (Optional, Cluster),
            ],
        },
        Row {
            levels: [
                (Optional, Cluster, OMITTED),
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, STRICTER),
                (Optional, Rules, REPLACE),
            ],
            expected: [(Required, Custom), (Required, Custom), (Required, Disabled)],
        },
        Row {
            levels: [
                (Required, Disabled, REPLACE),
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, STRICTER),
                (Required, UNSET_MODE, OMITTED),
            ],
            expected: [(Required, Rules), (Optional, Rules), (Required, Custom)],
        },
        Row {
            levels: [
                (UNSET_TRAFFIC, Custom, OMITTED),
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, STRICTER),
                (UNSET_TRAFFIC, Namespace, REPLACE),
            ],
            expected: [(Required, Rules), (Required, Rules), (Optional, Rules)],
        },
        Row {
            levels: [
                (Optional, Rules, REPLACE),
                (Required, UNSET_MODE, OMITTED),
                (UNSET_TRAFFIC, Namespace, STRICTER),
                (Optional, Group, OMITTED),
            ],
            expected: [(Required, Group), (Required, Namespace), (Required, Rules)],
        },
    ];
    let levels = [At::Organization, At::Tenant, At::Workspace, At::Group];
    for (index, row) in rows.iter().enumerate() {
        let settings = levels
            .iter()
            .zip(row.levels)
            .map(|(at, (traffic, mode, strategy))| setting(*at, spec(traffic, mode, strategy)))
            .collect();
        let effective = effective_security(&state_with(settings));
        for (namespace, expected) in ["a", "b", "c"].into_iter().zip(row.expected) {
            let security = &effective[namespace];
            assert_eq!(
                (security.traffic_mode, security.authorization),
                expected,
                "row {index} ({:?}), namespace {namespace}",
                row.levels
            );
        }
    }
}

#[test]
fn three_levels_with_stricter_in_the_middle() {
    use AuthorizationMode::*;
    let stricter = Some(PropagationStrategy::Stricter);
    let state = state_with(vec![
        setting(At::Tenant, spec(TrafficMode::Required, Cluster, None)),
        setting(
            At::Workspace,
            spec(TrafficMode::Optional, Workspace, stricter),
        ),
        setting(At::Group, spec(TrafficMode::Required, Disabled, None)),
    ]);
    let effective = effective_security(&state);
    assert_eq!(
        effective["a"].traffic_mode,
        TrafficMode::Required,
        "group tightens traffic"
    );
    assert_eq!(
        effective["a"].authorization, Workspace,
        "group cannot loosen authorization"
    );
    assert_eq!(
        effective["b"].traffic_mode,
        TrafficMode::Optional,
        "workspace replaced tenant"
    );
    assert_eq!(
        effective["c"].traffic_mode,
        TrafficMode::Required,
        "w2 keeps the tenant value"
    );
}

#[test]
fn deprecated_authentication_field_is_read() {
    let spec = SecuritySettingSpec {
        authentication: Some(TrafficMode::Required),
        ..Default::default()
    };
    let effective = effective_security(&state_with(vec![setting(At::Tenant, spec)]));
    assert_eq!(effective["a"].traffic_mode, TrafficMode::Required);
}

/// Under a STRICTER tenant, the workspace's CUSTOM entries are kept only where they equal or
/// refine a tenant entry. `./` means the namespace the setting applies to.
#[test]
fn stricter_custom_keeps_refinements_only() {
    let custom = |accounts: &[&str], strategy| SecuritySettingSpec {
        authorization: Some(AuthorizationSettings {
            mode: AuthorizationMode::Custom,
            service_accounts: accounts
                .iter()
                .map(|account| (*account).to_owned())
                .collect(),
            ..Default::default()
        }),
        propagation_strategy: strategy,
        ..Default::default()
    };
    let stricter = Some(PropagationStrategy::Stricter);
    type Accounts = &'static [&'static str];
    // (tenant entries, workspace entries, namespace, expected effective entries)
    let cases: [(Accounts, Accounts, &str, Accounts); 8] = [
        (
            &["sleep/*"],
            &["sleep/sleep", "other/x"],
            "a",
            &["sleep/sleep"],
        ),
        (&["sleep/*"], &["other/x"], "a", &["sleep/*"]),
        (&["sleep/sleep"], &["sleep/*"], "a", &["sleep/sleep"]),
        (&["./*"], &["a/curl"], "a", &["a/curl"]),
        (&["./*"], &["a/curl"], "b", &["./*"]),
        (&["./*"], &["b/curl"], "b", &["b/curl"]),
        (&["a/*"], &["./*"], "a", &["./*"]),
        (&["a/*"], &["./*"], "b", &["a/*"]),
    ];
    for (tenant, workspace, namespace, expected) in cases {
        let state = state_with(vec![
            setting(At::Tenant, custom(tenant, stricter)),
            setting(At::Workspace, custom(workspace, None)),
        ]);
        assert_eq!(
            effective_security(&state)[namespace].service_accounts,
            expected.to_vec(),
            "tenant {tenant:?}, workspace {workspace:?}, namespace {namespace}"
        );
    }
}

fn generated_policy<'a>(
    generated: &'a Generated,
    namespace: &str,
    name: &str,
) -> Option<&'a AuthorizationPolicySpec> {
    generated
        .authorization_policies
        .iter()
        .find(|policy| {
            policy.object.metadata.namespace.as_deref() == Some(namespace)
                && policy.object.metadata.name.as_deref() == Some(name)
        })
        .map(|policy| &policy.object.spec)
}

fn principals(spec: &AuthorizationPolicySpec) -> Vec<String> {
    spec.rules
        .iter()
        .flatten()
        .flat_map(|rule| {
            rule.from
                .iter()
                .flat_map(|from| from.source.principals.clone())
        })
        .collect()
}

#[test]
fn translation_per_authorization_mode() {
    use AuthorizationMode::*;
    let cases: [(AuthorizationMode, Option<Vec<&str>>); 5] = [
        (Namespace, Some(vec!["cluster.local/ns/a/*"])),
        (
            Group,
            Some(vec!["cluster.local/ns/a/*", "cluster.local/ns/a1/*"]),
        ),
        (
            Workspace,
            Some(vec![
                "cluster.local/ns/a/*",
                "cluster.local/ns/a1/*",
                "cluster.local/ns/b/*",
            ]),
        ),
        (Cluster, Some(vec!["cluster.local/*"])),
        (Disabled, None),
    ];
    for (mode, expected) in cases {
        let state = state_with(vec![setting(
            At::Tenant,
            spec(TrafficMode::Required, mode, None),
        )]);
        let generated = translate(&state);
        let allow = generated_policy(&generated, "a", GENERATED_ALLOW_POLICY);
        assert_eq!(
            allow.map(principals),
            expected.map(|list| list.iter().map(|p| (*p).to_owned()).collect()),
            "{mode:?}"
        );
        let strict = generated
            .peer_authentications
            .iter()
            .find(|pa| pa.object.metadata.namespace.as_deref() == Some("a"))
            .expect("REQUIRED generates a PeerAuthentication");
        assert_eq!(
            strict.object.spec.mtls.as_ref().unwrap().mode,
            PeerAuthenticationMode::Strict
        );
    }
}

#[test]
fn translation_of_rules_mode() {
    let rules = SecuritySettingSpec {
        authorization: Some(AuthorizationSettings {
            mode: AuthorizationMode::Rules,
            rules: Some(AuthorizationRules {
                allow: vec![AuthorizationRule {
                    from: RuleEndpoint { fqn: W2.into() },
                    to: RuleEndpoint { fqn: G1.into() },
                }],
                deny: vec![AuthorizationRule {
                    from: RuleEndpoint { fqn: W1.into() },
                    to: RuleEndpoint { fqn: W2.into() },
                }],
                deny_all: false,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let generated = translate(&state_with(vec![setting(At::Tenant, rules)]));
    let allow_a = generated_policy(&generated, "a", GENERATED_ALLOW_POLICY).unwrap();
    assert_eq!(principals(allow_a), vec!["cluster.local/ns/c/*"]);
    let allow_b = generated_policy(&generated, "b", GENERATED_ALLOW_POLICY).unwrap();
    assert!(
        principals(allow_b).is_empty(),
        "b is not the target of any allow rule"
    );
    let deny_c = generated_policy(&generated, "c", GENERATED_DENY_POLICY).unwrap();
    assert_eq!(
        principals(deny_c),
        vec![
            "cluster.local/ns/a/*",
            "cluster.local/ns/a1/*",
            "cluster.local/ns/b/*"
        ]
    );
    assert!(generated_policy(&generated, "a", GENERATED_DENY_POLICY).is_none());
    let _ = (ORG, TENANT);
}

/// Returns whether the policies generated for `namespace` allow a request from `principal`
/// (`None` for plaintext).
fn generated_policies_allow(
    generated: &Generated,
    namespace: &str,
    principal: Option<&str>,
) -> bool {
    use crate::policy::authz::{AppliedPolicy, HttpAttributes, RequestAttributes, evaluate};
    let policies: Vec<AppliedPolicy> = generated
        .authorization_policies
        .iter()
        .filter(|policy| policy.object.metadata.namespace.as_deref() == Some(namespace))
        .map(|policy| AppliedPolicy {
            name: format!(
                "{namespace}/{}",
                policy.object.metadata.name.as_deref().unwrap_or_default()
            ),
            action: policy.object.spec.action,
            rules: policy.object.spec.rules.clone(),
        })
        .collect();
    let request = RequestAttributes {
        principal: principal.map(str::to_owned),
        source_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 8080,
        http: Some(HttpAttributes {
            method: "GET".into(),
            path: "/headers".into(),
            host: "httpbin".into(),
            headers: Vec::new(),
        }),
    };
    evaluate(&policies, &request).is_allowed()
}

/// A rule whose source contains no namespace, or a CUSTOM list with no account, names no
/// caller. Istio reads an empty principals list as "any", so the translation must not emit
/// one. Such an allow rule admits no caller, and such a deny rule denies none.
#[test]
fn sources_without_namespaces_name_no_caller() {
    const EMPTY_WORKSPACE: &str = "organizations/o/tenants/t/workspaces/w3";
    let empty_workspace = Resource::Workspace(object(
        "Workspace",
        metadata("w3", Some("o"), Some("t"), None, None),
        WorkspaceSpec {
            namespace_selector: NamespaceSelector {
                names: vec!["*/not-created".into()],
            },
            ..Default::default()
        },
    ));
    let rule = |from: &str, to: &str| AuthorizationRule {
        from: RuleEndpoint { fqn: from.into() },
        to: RuleEndpoint { fqn: to.into() },
    };
    let authorization = |settings: AuthorizationSettings| SecuritySettingSpec {
        authorization: Some(settings),
        ..Default::default()
    };
    let rules = |allow: Vec<AuthorizationRule>, deny: Vec<AuthorizationRule>| {
        authorization(AuthorizationSettings {
            mode: AuthorizationMode::Rules,
            rules: Some(AuthorizationRules {
                allow,
                deny,
                deny_all: false,
            }),
            ..Default::default()
        })
    };
    struct Case {
        name: &'static str,
        spec: SecuritySettingSpec,
        /// Decisions for a caller from namespace c, a caller from namespace a itself and a
        /// plaintext caller: true when the caller reaches namespace a.
        expected: [bool; 3],
    }
    let cases = [
        Case {
            name: "RULES allow from a workspace without namespaces",
            spec: rules(vec![rule(EMPTY_WORKSPACE, W1)], vec![]),
            expected: [false, false, false],
        },
        Case {
            name: "RULES allow from an empty workspace and from w2",
            spec: rules(vec![rule(EMPTY_WORKSPACE, W1), rule(W2, W1)], vec![]),
            expected: [true, false, false],
        },
        Case {
            name: "RULES deny from a workspace without namespaces",
            spec: rules(vec![], vec![rule(EMPTY_WORKSPACE, W1)]),
            expected: [true, true, true],
        },
        Case {
            name: "CUSTOM without service accounts",
            spec: authorization(AuthorizationSettings {
                mode: AuthorizationMode::Custom,
                ..Default::default()
            }),
            expected: [false, false, false],
        },
    ];
    for case in cases {
        let state = state_with(vec![
            empty_workspace.clone(),
            setting(At::Workspace, case.spec),
        ]);
        let generated = translate(&state);
        let callers = [
            ("from c", Some("cluster.local/ns/c/sa/default")),
            ("from a", Some("cluster.local/ns/a/sa/default")),
            ("plaintext", None),
        ];
        for ((caller, principal), expected) in callers.into_iter().zip(case.expected) {
            assert_eq!(
                generated_policies_allow(&generated, "a", principal),
                expected,
                "{}: caller {caller}",
                case.name
            );
        }
    }
}

#[test]
fn wildcards_skip_system_namespaces() {
    let selector = |names: &[&str]| NamespaceSelector {
        names: names.iter().map(|name| (*name).to_owned()).collect(),
    };
    let mut state = state_with(vec![]);
    state
        .apply(vec![
            namespace("istio-system"),
            namespace("kube-system"),
            Resource::Workspace(object(
                "Workspace",
                metadata("rest", Some("o"), Some("t"), None, None),
                WorkspaceSpec {
                    namespace_selector: selector(&["*/*"]),
                    ..Default::default()
                },
            )),
        ])
        .unwrap();
    let effective = effective_security(&state);
    let rest = "organizations/o/tenants/t/workspaces/rest";
    assert_eq!(
        effective["x"].workspace, rest,
        "*/* claims unowned namespaces"
    );
    assert_eq!(
        effective["a"].workspace, W1,
        "a more specific entry still wins"
    );
    assert!(
        !effective.contains_key("istio-system"),
        "*/* must not claim the root namespace"
    );
    assert!(!effective.contains_key("kube-system"));

    state
        .apply(vec![Resource::Workspace(object(
            "Workspace",
            metadata("mesh", Some("o"), Some("t"), None, None),
            WorkspaceSpec {
                namespace_selector: selector(&["*/istio-system"]),
                ..Default::default()
            },
        ))])
        .unwrap();
    let effective = effective_security(&state);
    assert_eq!(
        effective["istio-system"].workspace, "organizations/o/tenants/t/workspaces/mesh",
        "an exact entry claims a system namespace"
    );
}
