//! TSB security settings: which workspace and security group own each namespace, the
//! effective setting after propagation down Organization → Tenant → Workspace → Group, and its
//! translation into the Istio PeerAuthentication and AuthorizationPolicy resources that TSB
//! generates in each namespace.
//!
//! NOTE: TSB documents the enums and the propagation strategies but not every detail of the
//! generated Istio resources. The choices below are inferred and collected here so they can be
//! changed in one place. A namespace claimed by several workspaces (or groups) belongs to the
//! most specific selector, then the oldest; the cluster rejects a workspace that repeats
//! another's entry exactly, and a group reaching outside its workspace. A wildcard or prefix
//! entry never claims Istio's root namespace or Kubernetes' system namespaces. GROUP mode in a namespace that no group covers
//! allows only that namespace; the generated resources are named `tsb-mtls` (a namespace-wide
//! PeerAuthentication), `allow` (an ALLOW AuthorizationPolicy, the name TSB uses) and `deny`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::Ordered;
use crate::cluster::ClusterState;
use crate::resources::istio::{
    self, AuthorizationAction, AuthorizationPolicy, AuthorizationPolicySpec, MutualTls,
    PeerAuthentication, PeerAuthenticationMode, PeerAuthenticationSpec, RuleFrom, Source,
};
use crate::resources::tsb::selector::SelectorEntry;
use crate::resources::tsb::{
    AuthorizationMode, AuthorizationRules, PropagationStrategy, SecuritySettingSpec, TrafficMode,
};
use crate::resources::{Resource, ResourceKey, ResourceKind, Scope, tsb_fqn};

/// Name of the generated namespace-wide PeerAuthentication.
pub const GENERATED_PEER_AUTHENTICATION: &str = "tsb-mtls";
/// Name of the generated ALLOW AuthorizationPolicy.
pub const GENERATED_ALLOW_POLICY: &str = "allow";
/// Name of the generated DENY AuthorizationPolicy.
pub const GENERATED_DENY_POLICY: &str = "deny";

/// A level of the hierarchy, with the setting attached there.
#[derive(Clone, Debug)]
struct Level<'a> {
    fqn: String,
    created: u64,
    setting: Option<(&'a SecuritySettingSpec, String)>,
}

fn best_rank(patterns: &[SelectorEntry], cluster: &str, namespace: &str) -> Option<u8> {
    patterns
        .iter()
        .filter_map(|pattern| pattern.rank(cluster, namespace))
        .max()
}

struct Workspace<'a> {
    level: Level<'a>,
    tenant_fqn: String,
    patterns: Vec<SelectorEntry>,
}

struct Group<'a> {
    level: Level<'a>,
    workspace_fqn: String,
    patterns: Option<Vec<SelectorEntry>>,
}

/// The TSB hierarchy read from a cluster state.
struct Hierarchy<'a> {
    organizations: BTreeMap<String, Level<'a>>,
    tenants: BTreeMap<String, (String, Level<'a>)>,
    workspaces: Vec<Workspace<'a>>,
    groups: Vec<Group<'a>>,
    /// Namespaces that only an exact selector entry claims: see [`system_namespaces`].
    system_namespaces: BTreeSet<String>,
}

/// Returns the namespaces a wildcard or prefix selector entry (`*/*`, `c1/*`, `kube*`) never
/// claims: Istio's root namespace and Kubernetes' own. Resources TSB generates without a selector in
/// the root namespace would apply to the whole mesh, so a catch-all workspace must not take
/// it over. An exact entry (`*/istio-system`) still claims such a namespace.
fn system_namespaces(state: &ClusterState) -> BTreeSet<String> {
    [
        state.config().root_namespace.as_str(),
        "kube-system",
        "kube-public",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn parent_fqn(key: &ResourceKey) -> String {
    match &key.scope {
        Scope::Tsb(parent) => parent.clone(),
        _ => String::new(),
    }
}

impl<'a> Hierarchy<'a> {
    fn read(state: &'a ClusterState) -> Self {
        let mut hierarchy = Self {
            organizations: BTreeMap::new(),
            tenants: BTreeMap::new(),
            workspaces: Vec::new(),
            groups: Vec::new(),
            system_namespaces: system_namespaces(state),
        };
        let level = |key: &ResourceKey, created: u64| Level {
            fqn: tsb_fqn(key).unwrap_or_default(),
            created,
            setting: None,
        };
        for (key, stored) in state.objects() {
            match &stored.resource {
                Resource::Organization(_) => {
                    let level = level(key, stored.created);
                    hierarchy.organizations.insert(level.fqn.clone(), level);
                }
                Resource::Tenant(_) => {
                    let level = level(key, stored.created);
                    hierarchy
                        .tenants
                        .insert(level.fqn.clone(), (parent_fqn(key), level));
                }
                Resource::Workspace(workspace) => hierarchy.workspaces.push(Workspace {
                    level: level(key, stored.created),
                    tenant_fqn: parent_fqn(key),
                    patterns: workspace
                        .spec
                        .namespace_selector
                        .names
                        .iter()
                        .filter_map(|name| SelectorEntry::parse(name))
                        .collect(),
                }),
                Resource::SecurityGroup(group) => hierarchy.groups.push(Group {
                    level: level(key, stored.created),
                    workspace_fqn: parent_fqn(key),
                    patterns: group.spec.namespace_selector.as_ref().map(|selector| {
                        selector
                            .names
                            .iter()
                            .filter_map(|name| SelectorEntry::parse(name))
                            .collect()
                    }),
                }),
                _ => {}
            }
        }
        // Attach settings, the oldest first when a level has several.
        let mut settings: Vec<(&ResourceKey, u64, &SecuritySettingSpec)> = state
            .objects()
            .filter_map(|(key, stored)| {
                let spec = match &stored.resource {
                    Resource::OrganizationSetting(setting)
                    | Resource::TenantSetting(setting)
                    | Resource::WorkspaceSetting(setting) => {
                        setting.spec.default_security_setting.as_ref()?
                    }
                    Resource::SecuritySetting(setting) => &setting.spec,
                    _ => return None,
                };
                Some((key, stored.created, spec))
            })
            .collect();
        settings.sort_by_key(|(key, created, _)| (*created, (*key).clone()));
        for (key, _, spec) in settings {
            let owner = parent_fqn(key);
            let setting_fqn = tsb_fqn(key).unwrap_or_default();
            let target = match key.kind {
                ResourceKind::OrganizationSetting => hierarchy.organizations.get_mut(&owner),
                ResourceKind::TenantSetting => {
                    hierarchy.tenants.get_mut(&owner).map(|(_, level)| level)
                }
                ResourceKind::WorkspaceSetting => hierarchy
                    .workspaces
                    .iter_mut()
                    .find(|workspace| workspace.level.fqn == owner)
                    .map(|workspace| &mut workspace.level),
                ResourceKind::SecuritySetting => hierarchy
                    .groups
                    .iter_mut()
                    .find(|group| group.level.fqn == owner)
                    .map(|group| &mut group.level),
                _ => None,
            };
            if let Some(level) = target
                && level.setting.is_none()
            {
                level.setting = Some((spec, setting_fqn));
            }
        }
        hierarchy
    }

    fn workspace_of(&self, cluster: &str, namespace: &str) -> Option<&Workspace<'a>> {
        let exact_only = self.system_namespaces.contains(namespace);
        self.workspaces
            .iter()
            .filter_map(|workspace| {
                let patterns: Vec<SelectorEntry> = workspace
                    .patterns
                    .iter()
                    .filter(|pattern| !exact_only || pattern.namespace == namespace)
                    .cloned()
                    .collect();
                Some((best_rank(&patterns, cluster, namespace)?, workspace))
            })
            .max_by(|(rank_a, a), (rank_b, b)| {
                rank_a
                    .cmp(rank_b)
                    .then(b.level.created.cmp(&a.level.created))
            })
            .map(|(_, workspace)| workspace)
    }

    fn group_of(
        &self,
        workspace: &Workspace<'a>,
        cluster: &str,
        namespace: &str,
    ) -> Option<&Group<'a>> {
        self.groups
            .iter()
            .filter(|group| group.workspace_fqn == workspace.level.fqn)
            .filter_map(|group| {
                let rank = match &group.patterns {
                    Some(patterns) => best_rank(patterns, cluster, namespace)?,
                    None => 0,
                };
                Some((rank, group))
            })
            .max_by(|(rank_a, a), (rank_b, b)| {
                rank_a
                    .cmp(rank_b)
                    .then(b.level.created.cmp(&a.level.created))
            })
            .map(|(_, group)| group)
    }

    /// The chain of levels above a namespace, outermost first.
    fn chain(&self, cluster: &str, namespace: &str) -> Option<Placement<'_, 'a>> {
        let workspace = self.workspace_of(cluster, namespace)?;
        let (organization_fqn, tenant) = self
            .tenants
            .get(&workspace.tenant_fqn)
            .map(|(organization, level)| (organization.clone(), Some(level)))
            .unwrap_or_default();
        let organization = self.organizations.get(&organization_fqn);
        let group = self.group_of(workspace, cluster, namespace);
        Some(Placement {
            organization,
            tenant,
            workspace,
            group,
        })
    }
}

struct Placement<'h, 'a> {
    organization: Option<&'h Level<'a>>,
    tenant: Option<&'h Level<'a>>,
    workspace: &'h Workspace<'a>,
    group: Option<&'h Group<'a>>,
}

impl<'a> Placement<'_, 'a> {
    fn levels(&self) -> Vec<&Level<'a>> {
        let mut levels: Vec<&Level<'a>> = Vec::new();
        levels.extend(self.organization);
        levels.extend(self.tenant);
        levels.push(&self.workspace.level);
        levels.extend(self.group.map(|group| &group.level));
        levels
    }
}

/// The effective security of one namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveSecurity {
    /// Owning workspace FQN.
    pub workspace: String,
    /// Owning security group FQN, if any.
    pub group: Option<String>,
    /// Effective traffic mode; UNSET when no level sets one (TSB then generates nothing and
    /// Istio's PERMISSIVE default applies).
    pub traffic_mode: TrafficMode,
    /// FQN of the setting that decided the traffic mode.
    pub traffic_mode_from: Option<String>,
    /// Effective authorization mode; UNSET when no level sets one (treated as DISABLED).
    pub authorization: AuthorizationMode,
    /// FQN of the setting that decided the authorization mode.
    pub authorization_from: Option<String>,
    /// CUSTOM mode service accounts.
    pub service_accounts: Vec<String>,
    /// RULES mode rules.
    pub rules: AuthorizationRules,
}

/// Strictness rank of an authorization mode, as TSB documents the order for STRICTER:
/// UNSET < DISABLED < CLUSTER < WORKSPACE < NAMESPACE < GROUP < RULES < CUSTOM.
fn authorization_rank(mode: AuthorizationMode) -> u8 {
    match mode {
        AuthorizationMode::Unset => 0,
        AuthorizationMode::Disabled => 1,
        AuthorizationMode::Cluster => 2,
        AuthorizationMode::Workspace => 3,
        AuthorizationMode::Namespace => 4,
        AuthorizationMode::Group => 5,
        AuthorizationMode::Rules => 6,
        AuthorizationMode::Custom => 7,
    }
}

/// Rewrites a CUSTOM entry `./<account>` as `<namespace>/<account>`, because `.` means the
/// namespace of the sidecar that the setting applies to.
fn in_namespace(account: &str, namespace: &str) -> String {
    match account.strip_prefix("./") {
        Some(name) => format!("{namespace}/{name}"),
        None => account.to_owned(),
    }
}

/// Whether a CUSTOM entry `child` is the same as, or a refinement of, `parent`
/// (`ns/*` refined to `ns/sa`), for a sidecar in `namespace`.
fn refines_service_account(child: &str, parent: &str, namespace: &str) -> bool {
    let child = in_namespace(child, namespace);
    let parent = in_namespace(parent, namespace);
    if child == parent {
        return true;
    }
    match (child.split_once('/'), parent.split_once('/')) {
        (Some((child_ns, _)), Some((parent_ns, "*"))) => child_ns == parent_ns,
        _ => false,
    }
}

/// Whether `child` is `parent` or below it in the hierarchy.
fn within(child: &str, parent: &str) -> bool {
    child == parent || child.starts_with(&format!("{parent}/"))
}

fn merge_stricter_rules(
    parent: &AuthorizationRules,
    child: &AuthorizationRules,
) -> AuthorizationRules {
    let narrowed: Vec<_> = child
        .allow
        .iter()
        .filter(|rule| {
            parent.allow.is_empty()
                || parent.allow.iter().any(|allowed| {
                    within(&rule.from.fqn, &allowed.from.fqn)
                        && within(&rule.to.fqn, &allowed.to.fqn)
                })
        })
        .cloned()
        .collect();
    let allow = if narrowed.is_empty() && !parent.allow.is_empty() {
        parent.allow.clone()
    } else {
        narrowed
    };
    let mut deny = parent.deny.clone();
    for rule in &child.deny {
        if !deny.contains(rule) {
            deny.push(rule.clone());
        }
    }
    AuthorizationRules {
        allow,
        deny,
        deny_all: parent.deny_all || child.deny_all,
    }
}

#[derive(Clone, Default)]
struct AuthorizationValue {
    mode: AuthorizationMode,
    from: Option<String>,
    service_accounts: Vec<String>,
    rules: AuthorizationRules,
}

/// Walks the chain above `namespace` from the organization down. Under REPLACE each level's
/// non-UNSET value replaces the one above. Once a level declares STRICTER, every lower level
/// can only make a value stricter.
fn resolve(
    levels: &[&Level<'_>],
    namespace: &str,
) -> (TrafficMode, Option<String>, AuthorizationValue) {
    let mut traffic = (TrafficMode::Unset, None);
    let mut authorization = AuthorizationValue::default();
    let mut stricter = false;
    for level in levels {
        let Some((spec, fqn)) = &level.setting else {
            continue;
        };
        let mode = spec.traffic_mode();
        if mode != TrafficMode::Unset && (!stricter || mode > traffic.0) {
            traffic = (mode, Some(fqn.clone()));
        }
        let mode = spec.authorization_mode();
        if mode != AuthorizationMode::Unset {
            let settings = spec.authorization.clone().unwrap_or_default();
            let candidate = AuthorizationValue {
                mode,
                from: Some(fqn.clone()),
                service_accounts: settings.service_accounts.clone(),
                rules: settings.rules.clone().unwrap_or_default(),
            };
            authorization = if !stricter {
                candidate
            } else if mode == authorization.mode && mode == AuthorizationMode::Custom {
                let kept: Vec<String> = candidate
                    .service_accounts
                    .iter()
                    .filter(|account| {
                        authorization
                            .service_accounts
                            .iter()
                            .any(|parent| refines_service_account(account, parent, namespace))
                    })
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    authorization
                } else {
                    AuthorizationValue {
                        service_accounts: kept,
                        ..candidate
                    }
                }
            } else if mode == authorization.mode && mode == AuthorizationMode::Rules {
                AuthorizationValue {
                    rules: merge_stricter_rules(&authorization.rules, &candidate.rules),
                    ..candidate
                }
            } else if authorization_rank(mode) > authorization_rank(authorization.mode) {
                candidate
            } else {
                authorization
            };
        }
        if spec.propagation_strategy == Some(PropagationStrategy::Stricter) {
            stricter = true;
        }
    }
    (traffic.0, traffic.1, authorization)
}

/// The effective security of every namespace that a workspace owns, keyed by namespace.
pub fn effective_security(state: &ClusterState) -> BTreeMap<String, EffectiveSecurity> {
    let hierarchy = Hierarchy::read(state);
    let cluster = &state.config().name;
    state
        .namespaces()
        .filter_map(|namespace| {
            let placement = hierarchy.chain(cluster, namespace)?;
            let (traffic_mode, traffic_mode_from, authorization) =
                resolve(&placement.levels(), namespace);
            Some((
                namespace.to_owned(),
                EffectiveSecurity {
                    workspace: placement.workspace.level.fqn.clone(),
                    group: placement.group.map(|group| group.level.fqn.clone()),
                    traffic_mode,
                    traffic_mode_from,
                    authorization: authorization.mode,
                    authorization_from: authorization.from,
                    service_accounts: authorization.service_accounts,
                    rules: authorization.rules,
                },
            ))
        })
        .collect()
}

/// Istio resources that TSB settings generate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generated {
    /// Namespace-wide PeerAuthentications.
    pub peer_authentications: Vec<Ordered<PeerAuthentication>>,
    /// Namespace-wide AuthorizationPolicies.
    pub authorization_policies: Vec<Ordered<AuthorizationPolicy>>,
}

fn generated_meta(name: &str, namespace: &str, fqn: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        annotations: Some(
            [
                ("tsb.tetrate.io/fqn".to_owned(), fqn.to_owned()),
                (
                    "tsb.tetrate.io/config-mode".to_owned(),
                    "bridged".to_owned(),
                ),
            ]
            .into(),
        ),
        labels: Some([("app.kubernetes.io/managed-by".to_owned(), "tsb".to_owned())].into()),
        ..Default::default()
    }
}

fn principals_for(namespaces: &BTreeSet<String>, trust_domains: &[String]) -> Vec<String> {
    let mut principals = Vec::new();
    for namespace in namespaces {
        for domain in trust_domains {
            principals.push(format!("{domain}/ns/{namespace}/*"));
        }
    }
    principals
}

/// Builds a rule that matches requests from any of `principals`, or returns `None` when the
/// list is empty. Istio reads an empty `principals` list as no constraint, so a rule built
/// from it would match every request, plaintext ones included.
fn rule_from(principals: Vec<String>) -> Option<istio::AuthorizationRule> {
    if principals.is_empty() {
        return None;
    }
    Some(istio::AuthorizationRule {
        from: vec![RuleFrom {
            source: Source {
                principals,
                ..Default::default()
            },
        }],
        ..Default::default()
    })
}

/// Translates the TSB settings in `state` into the Istio resources TSB would generate.
pub fn translate(state: &ClusterState) -> Generated {
    let effective = effective_security(state);
    let trust_domains = trust_domains(state);
    let local_domain = state.config().trust_domain.clone();
    let creation = |fqn: &Option<String>| -> u64 {
        fqn.as_ref()
            .and_then(|fqn| {
                state
                    .objects()
                    .find(|(key, _)| tsb_fqn(key).as_deref() == Some(fqn.as_str()))
                    .map(|(_, stored)| stored.created)
            })
            .unwrap_or(0)
    };
    let members = |predicate: &dyn Fn(&EffectiveSecurity) -> bool| -> BTreeSet<String> {
        effective
            .iter()
            .filter(|(_, security)| predicate(security))
            .map(|(namespace, _)| namespace.clone())
            .collect()
    };
    let namespaces_under = |fqn: &str| -> BTreeSet<String> {
        members(&|security: &EffectiveSecurity| {
            within(&security.workspace, fqn)
                || security
                    .group
                    .as_deref()
                    .is_some_and(|group| within(group, fqn))
        })
    };
    let mut generated = Generated::default();
    for (namespace, security) in &effective {
        if let Some(mode) = match security.traffic_mode {
            TrafficMode::Required => Some(PeerAuthenticationMode::Strict),
            TrafficMode::Optional => Some(PeerAuthenticationMode::Permissive),
            TrafficMode::Unset => None,
        } {
            let fqn = security.traffic_mode_from.clone().unwrap_or_default();
            generated.peer_authentications.push(Ordered {
                created: creation(&security.traffic_mode_from),
                object: PeerAuthentication {
                    api_version: "security.istio.io/v1".to_owned(),
                    kind: "PeerAuthentication".to_owned(),
                    metadata: generated_meta(GENERATED_PEER_AUTHENTICATION, namespace, &fqn),
                    spec: PeerAuthenticationSpec {
                        mtls: Some(MutualTls { mode }),
                        ..Default::default()
                    },
                },
            });
        }
        let fqn = security.authorization_from.clone().unwrap_or_default();
        let created = creation(&security.authorization_from);
        let policy = |name: &str, action, rules| Ordered {
            created,
            object: AuthorizationPolicy {
                api_version: "security.istio.io/v1".to_owned(),
                kind: "AuthorizationPolicy".to_owned(),
                metadata: generated_meta(name, namespace, &fqn),
                spec: AuthorizationPolicySpec {
                    action,
                    rules,
                    ..Default::default()
                },
            },
        };
        let single: BTreeSet<String> = [namespace.clone()].into();
        let allowed_namespaces = match security.authorization {
            AuthorizationMode::Unset | AuthorizationMode::Disabled => None,
            AuthorizationMode::Namespace => Some(single.clone()),
            AuthorizationMode::Group => Some(match &security.group {
                Some(group) => {
                    members(&|other: &EffectiveSecurity| other.group.as_ref() == Some(group))
                }
                None => single.clone(),
            }),
            AuthorizationMode::Workspace => Some(members(&|other: &EffectiveSecurity| {
                other.workspace == security.workspace
            })),
            AuthorizationMode::Cluster | AuthorizationMode::Custom | AuthorizationMode::Rules => {
                None
            }
        };
        if let Some(allowed) = allowed_namespaces {
            let rules = rule_from(principals_for(&allowed, &trust_domains));
            generated.authorization_policies.push(policy(
                GENERATED_ALLOW_POLICY,
                AuthorizationAction::Allow,
                Some(rules.into_iter().collect()),
            ));
        }
        match security.authorization {
            AuthorizationMode::Cluster => {
                let rules = rule_from(vec![format!("{local_domain}/*")]);
                generated.authorization_policies.push(policy(
                    GENERATED_ALLOW_POLICY,
                    AuthorizationAction::Allow,
                    Some(rules.into_iter().collect()),
                ));
            }
            AuthorizationMode::Custom => {
                let principals = security
                    .service_accounts
                    .iter()
                    .flat_map(|account| {
                        let (account_namespace, name) =
                            account.split_once('/').unwrap_or((account, "*"));
                        let account_namespace = if account_namespace == "." {
                            namespace.as_str()
                        } else {
                            account_namespace
                        };
                        trust_domains
                            .iter()
                            .map(move |domain| format!("{domain}/ns/{account_namespace}/sa/{name}"))
                    })
                    .collect();
                // With no account listed, the ALLOW policy has no rule and admits no caller.
                generated.authorization_policies.push(policy(
                    GENERATED_ALLOW_POLICY,
                    AuthorizationAction::Allow,
                    Some(rule_from(principals).into_iter().collect()),
                ));
            }
            AuthorizationMode::Rules => {
                let rules = &security.rules;
                let targets_here = |fqn: &str| namespaces_under(fqn).contains(namespace);
                let mut deny_rules: Vec<istio::AuthorizationRule> = rules
                    .deny
                    .iter()
                    .filter(|rule| targets_here(&rule.to.fqn))
                    .filter_map(|rule| {
                        rule_from(principals_for(
                            &namespaces_under(&rule.from.fqn),
                            &trust_domains,
                        ))
                    })
                    .collect();
                if rules.deny_all {
                    deny_rules = vec![istio::AuthorizationRule::default()];
                }
                if !deny_rules.is_empty() {
                    generated.authorization_policies.push(policy(
                        GENERATED_DENY_POLICY,
                        AuthorizationAction::Deny,
                        Some(deny_rules),
                    ));
                }
                if !rules.allow.is_empty() {
                    let allow_rules: Vec<istio::AuthorizationRule> = rules
                        .allow
                        .iter()
                        .filter(|rule| targets_here(&rule.to.fqn))
                        .filter_map(|rule| {
                            rule_from(principals_for(
                                &namespaces_under(&rule.from.fqn),
                                &trust_domains,
                            ))
                        })
                        .collect();
                    // When no allow rule both targets this namespace and has a source with a
                    // namespace, the ALLOW policy has no rule and admits no caller.
                    generated.authorization_policies.push(policy(
                        GENERATED_ALLOW_POLICY,
                        AuthorizationAction::Allow,
                        Some(allow_rules),
                    ));
                }
            }
            _ => {}
        }
    }
    generated
}

/// Trust domains of every cluster TSB knows: the local cluster's plus any `Cluster` object's
/// (`<name>.tsb.local` when it sets none).
pub fn trust_domains(state: &ClusterState) -> Vec<String> {
    let mut domains = vec![state.config().trust_domain.clone()];
    for (key, stored) in state.objects_of(ResourceKind::TsbCluster) {
        if let Resource::TsbCluster(cluster) = &stored.resource {
            if key.name == state.config().name {
                continue;
            }
            let domain = cluster
                .spec
                .trust_domain
                .clone()
                .unwrap_or_else(|| format!("{}.tsb.local", key.name));
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
    }
    domains
}

#[cfg(test)]
mod tests;
