//! Checks that the API servers of Kubernetes, Istio and TSB make before they store an object,
//! beyond what the types' shapes already enforce.

mod conditions;
mod istio;
mod kubernetes;
mod tsb;

use super::Resource;

pub use self::kubernetes::{is_dns_label, is_trust_domain};

/// An object the API server would refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// Path of the offending field from the object's root, such as `spec.portLevelMtls`
    /// (`["spec", "portLevelMtls"]`); list entries are their index.
    pub path: Vec<String>,
    /// The problem.
    pub message: String,
    /// The fix to suggest.
    pub hint: String,
}

fn invalid(path: &[&str], message: impl Into<String>, hint: impl Into<String>) -> Invalid {
    Invalid {
        path: path.iter().map(|part| (*part).to_owned()).collect(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// Checks `resource` as its API server's validation would.
pub fn validate(resource: &Resource) -> Result<(), Invalid> {
    kubernetes::names(resource)?;
    match resource {
        Resource::PeerAuthentication(policy) => istio::peer_authentication(policy),
        Resource::AuthorizationPolicy(policy) => istio::authorization_policy(policy),
        Resource::Deployment(deployment) => kubernetes::deployment_spec(deployment),
        Resource::Service(service) => kubernetes::service_ports(service),
        Resource::Pod(pod) => match &pod.spec {
            Some(spec) => kubernetes::container_ports(spec, &["spec"]),
            None => Ok(()),
        },
        Resource::Workspace(workspace) => tsb::namespace_selector(
            &workspace.spec.namespace_selector.names,
            &["spec", "namespaceSelector", "names"],
        ),
        Resource::SecurityGroup(group) => match &group.spec.namespace_selector {
            Some(selector) => {
                tsb::namespace_selector(&selector.names, &["spec", "namespaceSelector", "names"])
            }
            None => Ok(()),
        },
        Resource::OrganizationSetting(setting)
        | Resource::TenantSetting(setting)
        | Resource::WorkspaceSetting(setting) => match &setting.spec.default_security_setting {
            Some(security) => tsb::authorization(
                &security.authorization,
                &["spec", "defaultSecuritySetting", "authorization"],
            ),
            None => Ok(()),
        },
        Resource::SecuritySetting(setting) => {
            tsb::authorization(&setting.spec.authorization, &["spec", "authorization"])
        }
        _ => Ok(()),
    }
}
#[cfg(test)]
mod tests;
