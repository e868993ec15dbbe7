//! The resources a mesh stores: Kubernetes workloads, Istio policies and TSB settings, with
//! the identity (kind, scope and name) under which each is stored.

pub mod istio;
pub mod tsb;
pub mod validate;

use std::fmt;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use self::istio::{AuthorizationPolicy, DestinationRule, PeerAuthentication};
use self::tsb::{
    ClusterSpec, DefaultSettingsSpec, OrganizationSpec, SecurityGroupSpec, SecuritySettingSpec,
    TenantSpec, TsbObject, WorkspaceSpec,
};

/// Every kind of resource the mesh accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ResourceKind {
    /// Kubernetes Namespace.
    Namespace,
    /// Kubernetes ServiceAccount.
    ServiceAccount,
    /// Kubernetes Service.
    Service,
    /// Kubernetes Deployment.
    Deployment,
    /// Kubernetes Pod created directly, without a Deployment.
    Pod,
    /// Kubernetes ConfigMap, stored only.
    ConfigMap,
    /// Kubernetes Secret, stored only.
    Secret,
    /// Istio PeerAuthentication.
    PeerAuthentication,
    /// Istio AuthorizationPolicy.
    AuthorizationPolicy,
    /// Istio DestinationRule.
    DestinationRule,
    /// TSB Organization.
    Organization,
    /// TSB Tenant.
    Tenant,
    /// TSB Workspace.
    Workspace,
    /// TSB security Group.
    SecurityGroup,
    /// TSB OrganizationSetting.
    OrganizationSetting,
    /// TSB TenantSetting.
    TenantSetting,
    /// TSB WorkspaceSetting.
    WorkspaceSetting,
    /// TSB SecuritySetting of a security group.
    SecuritySetting,
    /// TSB Cluster.
    TsbCluster,
}

/// The `apiVersion` and `kind` pairs accepted for each resource kind.
const API_KINDS: &[(&str, &str, ResourceKind)] = &[
    ("v1", "Namespace", ResourceKind::Namespace),
    ("v1", "ServiceAccount", ResourceKind::ServiceAccount),
    ("v1", "Service", ResourceKind::Service),
    ("v1", "Pod", ResourceKind::Pod),
    ("v1", "ConfigMap", ResourceKind::ConfigMap),
    ("v1", "Secret", ResourceKind::Secret),
    ("apps/v1", "Deployment", ResourceKind::Deployment),
    (
        "security.istio.io/v1",
        "PeerAuthentication",
        ResourceKind::PeerAuthentication,
    ),
    (
        "security.istio.io/v1beta1",
        "PeerAuthentication",
        ResourceKind::PeerAuthentication,
    ),
    (
        "security.istio.io/v1",
        "AuthorizationPolicy",
        ResourceKind::AuthorizationPolicy,
    ),
    (
        "security.istio.io/v1beta1",
        "AuthorizationPolicy",
        ResourceKind::AuthorizationPolicy,
    ),
    (
        "networking.istio.io/v1",
        "DestinationRule",
        ResourceKind::DestinationRule,
    ),
    (
        "networking.istio.io/v1beta1",
        "DestinationRule",
        ResourceKind::DestinationRule,
    ),
    (
        "networking.istio.io/v1alpha3",
        "DestinationRule",
        ResourceKind::DestinationRule,
    ),
    (
        "api.tsb.tetrate.io/v2",
        "Organization",
        ResourceKind::Organization,
    ),
    ("api.tsb.tetrate.io/v2", "Tenant", ResourceKind::Tenant),
    (
        "api.tsb.tetrate.io/v2",
        "Workspace",
        ResourceKind::Workspace,
    ),
    (
        "api.tsb.tetrate.io/v2",
        "OrganizationSetting",
        ResourceKind::OrganizationSetting,
    ),
    (
        "api.tsb.tetrate.io/v2",
        "TenantSetting",
        ResourceKind::TenantSetting,
    ),
    (
        "api.tsb.tetrate.io/v2",
        "WorkspaceSetting",
        ResourceKind::WorkspaceSetting,
    ),
    ("api.tsb.tetrate.io/v2", "Cluster", ResourceKind::TsbCluster),
    ("tsb.tetrate.io/v2", "Tenant", ResourceKind::Tenant),
    ("tsb.tetrate.io/v2", "Workspace", ResourceKind::Workspace),
    (
        "tsb.tetrate.io/v2",
        "OrganizationSetting",
        ResourceKind::OrganizationSetting,
    ),
    (
        "tsb.tetrate.io/v2",
        "TenantSetting",
        ResourceKind::TenantSetting,
    ),
    (
        "tsb.tetrate.io/v2",
        "WorkspaceSetting",
        ResourceKind::WorkspaceSetting,
    ),
    (
        "security.tsb.tetrate.io/v2",
        "Group",
        ResourceKind::SecurityGroup,
    ),
    (
        "security.tsb.tetrate.io/v2",
        "SecuritySetting",
        ResourceKind::SecuritySetting,
    ),
];

/// Why an `apiVersion`/`kind` pair is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    /// The kind is not one the mesh knows.
    #[error("unsupported kind `{kind}`; supported kinds: {supported}")]
    UnknownKind {
        /// The kind as written.
        kind: String,
        /// Comma separated list of supported kinds.
        supported: String,
    },
    /// The kind is known under other API versions.
    #[error("unsupported apiVersion `{api_version}` for kind `{kind}`; expected {expected}")]
    UnknownApiVersion {
        /// The apiVersion as written.
        api_version: String,
        /// The kind as written.
        kind: String,
        /// The accepted apiVersions for that kind.
        expected: String,
    },
}

impl ResourceKind {
    /// Looks up the kind of an object from its `apiVersion` and `kind`.
    pub fn from_api_version_kind(api_version: &str, kind: &str) -> Result<Self, KindError> {
        if let Some((_, _, resource_kind)) = API_KINDS
            .iter()
            .find(|(version, name, _)| *version == api_version && *name == kind)
        {
            return Ok(*resource_kind);
        }
        let versions: Vec<&str> = API_KINDS
            .iter()
            .filter(|(_, name, _)| *name == kind)
            .map(|(version, _, _)| *version)
            .collect();
        if versions.is_empty() {
            let mut kinds: Vec<&str> = API_KINDS.iter().map(|(_, name, _)| *name).collect();
            kinds.sort_unstable();
            kinds.dedup();
            Err(KindError::UnknownKind {
                kind: kind.to_owned(),
                supported: kinds.join(", "),
            })
        } else {
            Err(KindError::UnknownApiVersion {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                expected: versions.join(" or "),
            })
        }
    }

    /// The kind as written in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Self::Namespace => "Namespace",
            Self::ServiceAccount => "ServiceAccount",
            Self::Service => "Service",
            Self::Deployment => "Deployment",
            Self::Pod => "Pod",
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
            Self::PeerAuthentication => "PeerAuthentication",
            Self::AuthorizationPolicy => "AuthorizationPolicy",
            Self::DestinationRule => "DestinationRule",
            Self::Organization => "Organization",
            Self::Tenant => "Tenant",
            Self::Workspace => "Workspace",
            Self::SecurityGroup => "Group",
            Self::OrganizationSetting => "OrganizationSetting",
            Self::TenantSetting => "TenantSetting",
            Self::WorkspaceSetting => "WorkspaceSetting",
            Self::SecuritySetting => "SecuritySetting",
            Self::TsbCluster => "Cluster",
        }
    }

    /// Whether objects of this kind live in a Kubernetes namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            Self::ServiceAccount
                | Self::Service
                | Self::Deployment
                | Self::Pod
                | Self::ConfigMap
                | Self::Secret
                | Self::PeerAuthentication
                | Self::AuthorizationPolicy
                | Self::DestinationRule
        )
    }

    /// Whether this is a TSB kind, placed in the TSB hierarchy rather than in a namespace.
    pub fn is_tsb(self) -> bool {
        matches!(
            self,
            Self::Organization
                | Self::Tenant
                | Self::Workspace
                | Self::SecurityGroup
                | Self::OrganizationSetting
                | Self::TenantSetting
                | Self::WorkspaceSetting
                | Self::SecuritySetting
                | Self::TsbCluster
        )
    }

    /// The TSB hierarchy levels an object of this kind must name, outermost first.
    fn tsb_parents(self) -> &'static [TsbLevel] {
        use TsbLevel::*;
        match self {
            Self::Organization => &[],
            Self::Tenant | Self::OrganizationSetting | Self::TsbCluster => &[Organization],
            Self::Workspace | Self::TenantSetting => &[Organization, Tenant],
            Self::SecurityGroup | Self::WorkspaceSetting => &[Organization, Tenant, Workspace],
            Self::SecuritySetting => &[Organization, Tenant, Workspace, Group],
            _ => &[],
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A level of the TSB hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsbLevel {
    Organization,
    Tenant,
    Workspace,
    Group,
}

impl TsbLevel {
    fn field(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Tenant => "tenant",
            Self::Workspace => "workspace",
            Self::Group => "group",
        }
    }

    fn fqn_segment(self) -> &'static str {
        match self {
            Self::Organization => "organizations",
            Self::Tenant => "tenants",
            Self::Workspace => "workspaces",
            Self::Group => "securitygroups",
        }
    }
}

/// Where a stored object lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Scope {
    /// Cluster-scoped Kubernetes objects (namespaces).
    Cluster,
    /// A Kubernetes namespace.
    Namespace(String),
    /// A place in the TSB hierarchy: the FQN of the parent, such as
    /// `organizations/tetrate/tenants/default`; empty for an organization.
    Tsb(String),
}

/// The identity under which an object is stored: applying an object with the same key
/// replaces the earlier one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceKey {
    /// The kind.
    pub kind: ResourceKind,
    /// The scope.
    pub scope: Scope,
    /// The object's name.
    pub name: String,
}

/// Prints the kind, then `name` for cluster-scoped objects, `namespace/name` for namespaced
/// ones and the TSB fully qualified name for TSB objects, such as
/// `Workspace organizations/tetrate/tenants/default/workspaces/bookinfo-ws`.
impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Scope::Cluster => write!(f, "{} {}", self.kind, self.name),
            Scope::Namespace(namespace) => write!(f, "{} {}/{}", self.kind, namespace, self.name),
            Scope::Tsb(parent) => write!(
                f,
                "{} {}",
                self.kind,
                join_fqn(parent, self.kind, &self.name)
            ),
        }
    }
}

/// Why a stored identity cannot be derived from an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `metadata.name` is missing or empty.
    #[error("{kind} has no metadata.name")]
    MissingName {
        /// The kind.
        kind: ResourceKind,
    },
    /// A namespaced object has no namespace and none was given by the caller.
    #[error("{kind} {name} has no metadata.namespace; set it or give the apply step a namespace")]
    MissingNamespace {
        /// The kind.
        kind: ResourceKind,
        /// The object name.
        name: String,
    },
    /// A TSB object does not name its parent in the hierarchy.
    #[error(
        "{kind} {name} needs metadata.{field} (tctl form) or the annotation \
         tsb.tetrate.io/{annotation} (Kubernetes form)"
    )]
    MissingParent {
        /// The kind.
        kind: ResourceKind,
        /// The object name.
        name: String,
        /// The missing metadata field.
        field: &'static str,
        /// The matching annotation suffix.
        annotation: &'static str,
    },
}

/// A resource as stored by the mesh.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    /// See [`ResourceKind::Namespace`].
    Namespace(Namespace),
    /// See [`ResourceKind::ServiceAccount`].
    ServiceAccount(ServiceAccount),
    /// See [`ResourceKind::Service`].
    Service(Service),
    /// See [`ResourceKind::Deployment`].
    Deployment(Deployment),
    /// See [`ResourceKind::Pod`].
    Pod(Pod),
    /// See [`ResourceKind::ConfigMap`].
    ConfigMap(ConfigMap),
    /// See [`ResourceKind::Secret`].
    Secret(Secret),
    /// See [`ResourceKind::PeerAuthentication`].
    PeerAuthentication(PeerAuthentication),
    /// See [`ResourceKind::AuthorizationPolicy`].
    AuthorizationPolicy(AuthorizationPolicy),
    /// See [`ResourceKind::DestinationRule`].
    DestinationRule(DestinationRule),
    /// See [`ResourceKind::Organization`].
    Organization(TsbObject<OrganizationSpec>),
    /// See [`ResourceKind::Tenant`].
    Tenant(TsbObject<TenantSpec>),
    /// See [`ResourceKind::Workspace`].
    Workspace(TsbObject<WorkspaceSpec>),
    /// See [`ResourceKind::SecurityGroup`].
    SecurityGroup(TsbObject<SecurityGroupSpec>),
    /// See [`ResourceKind::OrganizationSetting`].
    OrganizationSetting(TsbObject<DefaultSettingsSpec>),
    /// See [`ResourceKind::TenantSetting`].
    TenantSetting(TsbObject<DefaultSettingsSpec>),
    /// See [`ResourceKind::WorkspaceSetting`].
    WorkspaceSetting(TsbObject<DefaultSettingsSpec>),
    /// See [`ResourceKind::SecuritySetting`].
    SecuritySetting(TsbObject<SecuritySettingSpec>),
    /// See [`ResourceKind::TsbCluster`].
    TsbCluster(TsbObject<ClusterSpec>),
}

impl Resource {
    /// The kind of this resource.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Namespace(_) => ResourceKind::Namespace,
            Self::ServiceAccount(_) => ResourceKind::ServiceAccount,
            Self::Service(_) => ResourceKind::Service,
            Self::Deployment(_) => ResourceKind::Deployment,
            Self::Pod(_) => ResourceKind::Pod,
            Self::ConfigMap(_) => ResourceKind::ConfigMap,
            Self::Secret(_) => ResourceKind::Secret,
            Self::PeerAuthentication(_) => ResourceKind::PeerAuthentication,
            Self::AuthorizationPolicy(_) => ResourceKind::AuthorizationPolicy,
            Self::DestinationRule(_) => ResourceKind::DestinationRule,
            Self::Organization(_) => ResourceKind::Organization,
            Self::Tenant(_) => ResourceKind::Tenant,
            Self::Workspace(_) => ResourceKind::Workspace,
            Self::SecurityGroup(_) => ResourceKind::SecurityGroup,
            Self::OrganizationSetting(_) => ResourceKind::OrganizationSetting,
            Self::TenantSetting(_) => ResourceKind::TenantSetting,
            Self::WorkspaceSetting(_) => ResourceKind::WorkspaceSetting,
            Self::SecuritySetting(_) => ResourceKind::SecuritySetting,
            Self::TsbCluster(_) => ResourceKind::TsbCluster,
        }
    }

    /// The Kubernetes metadata, for Kubernetes and Istio kinds.
    pub fn object_meta(&self) -> Option<&ObjectMeta> {
        match self {
            Self::Namespace(object) => Some(&object.metadata),
            Self::ServiceAccount(object) => Some(&object.metadata),
            Self::Service(object) => Some(&object.metadata),
            Self::Deployment(object) => Some(&object.metadata),
            Self::Pod(object) => Some(&object.metadata),
            Self::ConfigMap(object) => Some(&object.metadata),
            Self::Secret(object) => Some(&object.metadata),
            Self::PeerAuthentication(object) => Some(&object.metadata),
            Self::AuthorizationPolicy(object) => Some(&object.metadata),
            Self::DestinationRule(object) => Some(&object.metadata),
            _ => None,
        }
    }

    /// Mutable Kubernetes metadata, for Kubernetes and Istio kinds.
    pub fn object_meta_mut(&mut self) -> Option<&mut ObjectMeta> {
        match self {
            Self::Namespace(object) => Some(&mut object.metadata),
            Self::ServiceAccount(object) => Some(&mut object.metadata),
            Self::Service(object) => Some(&mut object.metadata),
            Self::Deployment(object) => Some(&mut object.metadata),
            Self::Pod(object) => Some(&mut object.metadata),
            Self::ConfigMap(object) => Some(&mut object.metadata),
            Self::Secret(object) => Some(&mut object.metadata),
            Self::PeerAuthentication(object) => Some(&mut object.metadata),
            Self::AuthorizationPolicy(object) => Some(&mut object.metadata),
            Self::DestinationRule(object) => Some(&mut object.metadata),
            _ => None,
        }
    }

    /// The TSB metadata, for TSB kinds.
    pub fn tsb_meta(&self) -> Option<&tsb::TsbMetadata> {
        match self {
            Self::Organization(object) => Some(&object.metadata),
            Self::Tenant(object) => Some(&object.metadata),
            Self::Workspace(object) => Some(&object.metadata),
            Self::SecurityGroup(object) => Some(&object.metadata),
            Self::OrganizationSetting(object) => Some(&object.metadata),
            Self::TenantSetting(object) => Some(&object.metadata),
            Self::WorkspaceSetting(object) => Some(&object.metadata),
            Self::SecuritySetting(object) => Some(&object.metadata),
            Self::TsbCluster(object) => Some(&object.metadata),
            _ => None,
        }
    }

    /// The object's name, empty when missing.
    pub fn name(&self) -> &str {
        if let Some(meta) = self.object_meta() {
            return meta.name.as_deref().unwrap_or_default();
        }
        self.tsb_meta()
            .map(|meta| meta.name.as_str())
            .unwrap_or_default()
    }

    /// Sets `metadata.namespace` on a namespaced Kubernetes or Istio object that has none,
    /// as `kubectl apply -n` does.
    pub fn default_namespace(&mut self, namespace: &str) {
        if !self.kind().is_namespaced() {
            return;
        }
        if let Some(meta) = self.object_meta_mut()
            && meta.namespace.as_deref().unwrap_or_default().is_empty()
        {
            meta.namespace = Some(namespace.to_owned());
        }
    }

    /// The identity under which this object is stored.
    pub fn key(&self) -> Result<ResourceKey, KeyError> {
        let kind = self.kind();
        let name = self.name().to_owned();
        if name.is_empty() {
            return Err(KeyError::MissingName { kind });
        }
        let scope = if kind.is_tsb() {
            Scope::Tsb(self.tsb_parent_fqn()?)
        } else if kind.is_namespaced() {
            let namespace = self
                .object_meta()
                .and_then(|meta| meta.namespace.clone())
                .filter(|namespace| !namespace.is_empty())
                .ok_or_else(|| KeyError::MissingNamespace {
                    kind,
                    name: name.clone(),
                })?;
            Scope::Namespace(namespace)
        } else {
            Scope::Cluster
        };
        Ok(ResourceKey { kind, scope, name })
    }

    /// The TSB fully qualified name of the parent, such as `organizations/o/tenants/t`.
    fn tsb_parent_fqn(&self) -> Result<String, KeyError> {
        let kind = self.kind();
        let meta = self.tsb_meta().expect("TSB kinds carry TSB metadata");
        let mut segments = Vec::new();
        for level in kind.tsb_parents() {
            let value = match level {
                TsbLevel::Organization => meta.organization_name(),
                TsbLevel::Tenant => meta.tenant_name(),
                TsbLevel::Workspace => meta.workspace_name(),
                TsbLevel::Group => meta.group_name(),
            };
            let value = value
                .filter(|value| !value.is_empty())
                .ok_or(KeyError::MissingParent {
                    kind,
                    name: meta.name.clone(),
                    field: level.field(),
                    annotation: match level {
                        TsbLevel::Group => "securityGroup",
                        other => other.field(),
                    },
                })?;
            segments.push(format!("{}/{}", level.fqn_segment(), value));
        }
        Ok(segments.join("/"))
    }
}

/// The TSB fully qualified name of a stored TSB object, as TSB prints it, for example
/// `organizations/tetrate/tenants/default/workspaces/bookinfo-ws`. Settings end in
/// `settings/<name>`.
pub fn tsb_fqn(key: &ResourceKey) -> Option<String> {
    let Scope::Tsb(parent) = &key.scope else {
        return None;
    };
    Some(join_fqn(parent, key.kind, &key.name))
}

/// Builds the FQN of a TSB object of `kind` named `name` under the parent FQN `parent`.
fn join_fqn(parent: &str, kind: ResourceKind, name: &str) -> String {
    let segment = match kind {
        ResourceKind::Organization => "organizations",
        ResourceKind::Tenant => "tenants",
        ResourceKind::Workspace => "workspaces",
        ResourceKind::SecurityGroup => "securitygroups",
        ResourceKind::TsbCluster => "clusters",
        _ => "settings",
    };
    if parent.is_empty() {
        format!("{segment}/{name}")
    } else {
        format!("{parent}/{segment}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_lookup_accepts_every_listed_pair() {
        for (api_version, kind, expected) in API_KINDS {
            assert_eq!(
                ResourceKind::from_api_version_kind(api_version, kind),
                Ok(*expected),
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn kind_lookup_rejects_unknown_kind() {
        let error = ResourceKind::from_api_version_kind("v1", "Gadget").unwrap_err();
        assert!(matches!(error, KindError::UnknownKind { .. }));
        assert!(error.to_string().contains("Deployment"), "{error}");
    }

    #[test]
    fn kind_lookup_names_accepted_versions() {
        let error = ResourceKind::from_api_version_kind("apps/v1beta1", "Deployment").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unsupported apiVersion `apps/v1beta1` for kind `Deployment`; expected apps/v1"
        );
    }

    fn tenant_setting(metadata: tsb::TsbMetadata) -> Resource {
        Resource::TenantSetting(TsbObject {
            api_version: "api.tsb.tetrate.io/v2".into(),
            kind: "TenantSetting".into(),
            metadata,
            spec: DefaultSettingsSpec::default(),
        })
    }

    #[test]
    fn tsb_key_from_tctl_metadata() {
        let resource = tenant_setting(tsb::TsbMetadata {
            name: "default-setting".into(),
            organization: Some("tetrate".into()),
            tenant: Some("default".into()),
            ..Default::default()
        });
        let key = resource.key().unwrap();
        assert_eq!(
            key.scope,
            Scope::Tsb("organizations/tetrate/tenants/default".into())
        );
        assert_eq!(
            tsb_fqn(&key).unwrap(),
            "organizations/tetrate/tenants/default/settings/default-setting"
        );
    }

    #[test]
    fn tsb_key_from_annotations() {
        let mut metadata = tsb::TsbMetadata {
            name: "s".into(),
            ..Default::default()
        };
        metadata
            .annotations
            .insert(tsb::ORGANIZATION_ANNOTATION.into(), "o".into());
        metadata
            .annotations
            .insert(tsb::TENANT_ANNOTATION.into(), "t".into());
        let key = tenant_setting(metadata).key().unwrap();
        assert_eq!(key.scope, Scope::Tsb("organizations/o/tenants/t".into()));
    }

    #[test]
    fn key_display_uses_tsb_fqn() {
        let key = |kind, scope: Scope, name: &str| ResourceKey {
            kind,
            scope,
            name: name.to_owned(),
        };
        let tsb = |parent: &str| Scope::Tsb(parent.to_owned());
        let tenant = "organizations/o/tenants/t";
        let workspace = "organizations/o/tenants/t/workspaces/w";
        let group = "organizations/o/tenants/t/workspaces/w/securitygroups/g";
        let cases = [
            (
                key(ResourceKind::Organization, tsb(""), "o"),
                "Organization organizations/o",
            ),
            (
                key(ResourceKind::Tenant, tsb("organizations/o"), "t"),
                "Tenant organizations/o/tenants/t",
            ),
            (
                key(ResourceKind::TsbCluster, tsb("organizations/o"), "c1"),
                "Cluster organizations/o/clusters/c1",
            ),
            (
                key(ResourceKind::Workspace, tsb(tenant), "w"),
                "Workspace organizations/o/tenants/t/workspaces/w",
            ),
            (
                key(ResourceKind::TenantSetting, tsb(tenant), "s"),
                "TenantSetting organizations/o/tenants/t/settings/s",
            ),
            (
                key(ResourceKind::SecurityGroup, tsb(workspace), "g"),
                "Group organizations/o/tenants/t/workspaces/w/securitygroups/g",
            ),
            (
                key(ResourceKind::SecuritySetting, tsb(group), "s"),
                "SecuritySetting organizations/o/tenants/t/workspaces/w/securitygroups/g/settings/s",
            ),
            (
                key(ResourceKind::Namespace, Scope::Cluster, "app"),
                "Namespace app",
            ),
            (
                key(
                    ResourceKind::Deployment,
                    Scope::Namespace("app".into()),
                    "web",
                ),
                "Deployment app/web",
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(key.to_string(), expected, "{key:?}");
            if let Some(fqn) = tsb_fqn(&key) {
                assert!(expected.ends_with(&fqn), "{expected} ends with {fqn}");
            }
        }
    }

    #[test]
    fn tsb_key_requires_parents() {
        let error = tenant_setting(tsb::TsbMetadata {
            name: "s".into(),
            organization: Some("o".into()),
            ..Default::default()
        })
        .key()
        .unwrap_err();
        assert!(
            matches!(
                error,
                KeyError::MissingParent {
                    field: "tenant",
                    ..
                }
            ),
            "{error}"
        );
    }
}
