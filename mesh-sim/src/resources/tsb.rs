//! Tetrate Service Bridge resources: the hierarchy (Organization, Tenant, Workspace, security
//! Group, Cluster) and the security settings attached to each level.
//!
//! Both resource forms are accepted. The tctl form names its place in the hierarchy in
//! `metadata` (`organization`, `tenant`, `workspace`, `group`); the Kubernetes form, applied with
//! kubectl by GitOps pipelines, puts the same names in `tsb.tetrate.io/*` annotations.

pub mod selector;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize};

/// Annotation naming the organization in the Kubernetes form.
pub const ORGANIZATION_ANNOTATION: &str = "tsb.tetrate.io/organization";
/// Annotation naming the tenant in the Kubernetes form.
pub const TENANT_ANNOTATION: &str = "tsb.tetrate.io/tenant";
/// Annotation naming the workspace in the Kubernetes form.
pub const WORKSPACE_ANNOTATION: &str = "tsb.tetrate.io/workspace";
/// Annotation naming the security group in the Kubernetes form.
pub const SECURITY_GROUP_ANNOTATION: &str = "tsb.tetrate.io/securityGroup";

/// Metadata of a TSB object in either form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TsbMetadata {
    /// Object name.
    pub name: String,
    /// Organization (tctl form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Tenant (tctl form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Workspace (tctl form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Security group (tctl form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kubernetes namespace the object is stored in (Kubernetes form); not part of the TSB
    /// hierarchy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Human readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations, including the `tsb.tetrate.io/*` hierarchy in the Kubernetes form.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Server-assigned fields that exported objects carry; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// As `resourceVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// As `resourceVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqn: Option<String>,
}

impl TsbMetadata {
    fn level<'a>(&'a self, field: &'a Option<String>, annotation: &str) -> Option<&'a str> {
        field
            .as_deref()
            .or_else(|| self.annotations.get(annotation).map(String::as_str))
    }

    /// The organization, from either form.
    pub fn organization_name(&self) -> Option<&str> {
        self.level(&self.organization, ORGANIZATION_ANNOTATION)
    }

    /// The tenant, from either form.
    pub fn tenant_name(&self) -> Option<&str> {
        self.level(&self.tenant, TENANT_ANNOTATION)
    }

    /// The workspace, from either form.
    pub fn workspace_name(&self) -> Option<&str> {
        self.level(&self.workspace, WORKSPACE_ANNOTATION)
    }

    /// The security group, from either form.
    pub fn group_name(&self) -> Option<&str> {
        self.level(&self.group, SECURITY_GROUP_ANNOTATION)
    }
}

/// A namespace selector: `cluster/namespace` patterns with `*` and trailing-`*` prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSelector {
    /// Patterns such as `*/bookinfo`, `c1/*` or `c1/ns*`.
    #[serde(default)]
    pub names: Vec<String>,
}

/// `Organization` spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationSpec {
    /// Human readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `Tenant` spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    /// Human readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Security domain; stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
}

/// `Workspace` spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// Namespaces the workspace owns, exclusively.
    #[serde(default)]
    pub namespace_selector: NamespaceSelector,
    /// Human readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_boundary: Option<String>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Configuration profiles attached here; stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Vec<String>>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<serde_json::Value>,
}

/// Config mode of a security group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfigMode {
    /// TSB-native SecuritySettings.
    #[default]
    Bridged,
    /// Raw Istio security resources.
    Direct,
}

/// Security `Group` spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityGroupSpec {
    /// Namespaces of the group, a subset of its workspace's; all of them when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    /// BRIDGED when omitted.
    #[serde(default)]
    pub config_mode: ConfigMode,
    /// Human readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<serde_json::Value>,
}

/// `SecuritySetting.AuthenticationMode`, ordered from least to most strict.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrafficMode {
    /// Inherit from the parent; OPTIONAL when nothing is set anywhere.
    #[default]
    Unset,
    /// Plaintext and mTLS both accepted.
    Optional,
    /// mTLS only.
    Required,
}

/// `AuthorizationSettings.Mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationMode {
    /// Inherit from the parent; DISABLED when nothing is set anywhere.
    #[default]
    Unset,
    /// Any authenticated workload in the same namespace.
    Namespace,
    /// Any authenticated workload in the same security group.
    Group,
    /// Any authenticated workload in the same workspace.
    Workspace,
    /// Any authenticated workload in the same cluster.
    Cluster,
    /// No authorization.
    Disabled,
    /// Only the listed service accounts.
    Custom,
    /// Allow and deny rules between hierarchy resources.
    Rules,
}

/// `propagationStrategy` of a SecuritySetting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PropagationStrategy {
    /// A lower level's value replaces this one.
    #[default]
    Replace,
    /// Lower levels can only make this stricter.
    Stricter,
}

/// `authenticationSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationSettings {
    /// Whether plaintext is accepted.
    #[serde(default)]
    pub traffic_mode: TrafficMode,
    /// End-user (JWT) authentication; stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<serde_json::Value>,
}

/// A rule's endpoint: the fully qualified name of a tenant, workspace or group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleEndpoint {
    /// For example `organizations/tetrate/tenants/t1/workspaces/w1/securitygroups/g1`.
    pub fqn: String,
}

/// An allow or deny rule of RULES mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationRule {
    /// Callers.
    pub from: RuleEndpoint,
    /// Callees.
    pub to: RuleEndpoint,
}

/// Rules of RULES mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationRules {
    /// Allowed caller/callee pairs; when empty every request not denied is allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<AuthorizationRule>,
    /// Denied caller/callee pairs, evaluated before `allow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<AuthorizationRule>,
    /// Deny every request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deny_all: bool,
}

/// `authorization`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationSettings {
    /// Who may call workloads covered by the setting.
    #[serde(default)]
    pub mode: AuthorizationMode,
    /// CUSTOM mode: `<namespace>/<service-account>`, `<namespace>/*` or `./*`. Other entries
    /// are rejected when the setting is read, as TSB's API validation rejects them.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "deserialize_service_accounts"
    )]
    pub service_accounts: Vec<String>,
    /// RULES mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<AuthorizationRules>,
    /// Which identity RULES and CUSTOM match on; stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_match: Option<String>,
    /// External HTTP authorization; stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<serde_json::Value>,
}

/// The entries TSB accepts in `serviceAccounts`: `./*`, `<namespace>/*` or
/// `<namespace>/<service account>`, where the namespace contains no `.` or `*` and the account
/// no `*`. This is the validation pattern of TSB's `AuthorizationSettings.serviceAccounts`.
static SERVICE_ACCOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\./\*$|^[^.*]+/[*]{1}$|^[^.*]+/[^*]+$").expect("the pattern is valid")
});

/// One `serviceAccounts` entry, checked while it is read so that an error points at the entry.
struct ServiceAccountEntry(String);

impl<'de> Deserialize<'de> for ServiceAccountEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entry = String::deserialize(deserializer)?;
        if SERVICE_ACCOUNT.is_match(&entry) {
            Ok(Self(entry))
        } else {
            Err(de::Error::invalid_value(
                Unexpected::Str(&entry),
                &"`./*`, `<namespace>/*` or `<namespace>/<service account>`",
            ))
        }
    }
}

fn deserialize_service_accounts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    let entries = Vec::<ServiceAccountEntry>::deserialize(deserializer)?;
    Ok(entries.into_iter().map(|entry| entry.0).collect())
}

/// The security setting shared by every level of the hierarchy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecuritySettingSpec {
    /// Authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_settings: Option<AuthenticationSettings>,
    /// Deprecated top-level authentication mode, used when `authenticationSettings` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<TrafficMode>,
    /// Authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSettings>,
    /// REPLACE when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_strategy: Option<PropagationStrategy>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waf: Option<serde_json::Value>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<serde_json::Value>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<serde_json::Value>,
    /// Human readable name (SecuritySetting objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text (SecuritySetting objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SecuritySettingSpec {
    /// The traffic mode, reading the deprecated field when the new one is absent or UNSET.
    pub fn traffic_mode(&self) -> TrafficMode {
        match &self.authentication_settings {
            Some(settings) if settings.traffic_mode != TrafficMode::Unset => settings.traffic_mode,
            _ => self.authentication.unwrap_or_default(),
        }
    }

    /// The authorization mode, UNSET when absent.
    pub fn authorization_mode(&self) -> AuthorizationMode {
        self.authorization
            .as_ref()
            .map(|authorization| authorization.mode)
            .unwrap_or_default()
    }
}

/// Spec of OrganizationSetting, TenantSetting and WorkspaceSetting: defaults for everything
/// below that level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultSettingsSpec {
    /// Security defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_security_setting: Option<SecuritySettingSpec>,
    /// Traffic defaults; stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_traffic_setting: Option<serde_json::Value>,
    /// East-west gateway defaults; stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_east_west_gateway_settings: Option<serde_json::Value>,
    /// Network reachability (OrganizationSetting); stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_settings: Option<serde_json::Value>,
    /// Human readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `Cluster` spec: only the trust domain matters to the simulation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// SPIFFE trust domain of the cluster's workloads; `<cluster>.tsb.local` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    /// Human readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier1_cluster: Option<bool>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<String>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<serde_json::Value>,
    /// Stored, not simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_scope: Option<serde_json::Value>,
}

/// A TSB object: apiVersion, kind, metadata and a kind-specific spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TsbObject<S> {
    /// For example `api.tsb.tetrate.io/v2`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// Place in the hierarchy and name.
    pub metadata: TsbMetadata,
    /// Kind-specific spec.
    #[serde(default)]
    pub spec: S,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_service_accounts(entries: &[&str]) -> Result<Vec<String>, serde_json::Error> {
        let value = serde_json::json!({"mode": "CUSTOM", "serviceAccounts": entries});
        serde_json::from_value::<AuthorizationSettings>(value)
            .map(|settings| settings.service_accounts)
    }

    #[test]
    fn service_accounts_accept_documented_forms() {
        for entry in ["./*", "app/*", "app/sleep", "app/sleep.v2"] {
            assert_eq!(
                read_service_accounts(&[entry]).ok(),
                Some(vec![entry.to_owned()]),
                "{entry}"
            );
        }
    }

    #[test]
    fn service_accounts_reject_other_forms() {
        for entry in [
            "./sleep", "*/sleep", "app", "app/", "/sleep", "app/sl*", "a.b/*", "",
        ] {
            let error = read_service_accounts(&[entry]).expect_err(entry);
            assert!(
                error
                    .to_string()
                    .contains("`<namespace>/<service account>`"),
                "{entry}: {error}"
            );
        }
    }
}
