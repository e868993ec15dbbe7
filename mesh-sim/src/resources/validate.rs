//! Checks that the API servers of Kubernetes, Istio and TSB make before they store an object,
//! beyond what the types' shapes already enforce.

use super::Resource;
use super::istio::{AuthorizationPolicy, PeerAuthentication};

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

/// Whether `part` is lowercase letters, digits and `-`, starting and ending with a letter or
/// digit.
fn is_label_text(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !part.starts_with('-')
        && !part.ends_with('-')
}

/// Whether `name` is a DNS-1123 label: label text of at most 63 characters.
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && is_label_text(name)
}

/// Checks whether `name` is a DNS-like trust domain: dot-separated DNS-1123 labels, at most 253
/// characters in all, such as `cluster.local`.
pub fn is_trust_domain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Whether `name` is a DNS-1123 subdomain as Kubernetes checks it: dot-separated label text,
/// at most 253 characters in all.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_label_text)
}

/// Checks `metadata.name` and `metadata.namespace` of Kubernetes and Istio objects.
fn names(resource: &Resource) -> Result<(), Invalid> {
    use super::ResourceKind;
    let Some(meta) = resource.object_meta() else {
        return Ok(());
    };
    let name = meta.name.as_deref().unwrap_or_default();
    let (valid, rule) = match resource.kind() {
        ResourceKind::Namespace => (
            is_dns_label(name),
            "a DNS-1123 label: lowercase letters, digits and '-', at most 63",
        ),
        ResourceKind::Service => (
            is_dns_label(name) && name.starts_with(|first: char| first.is_ascii_lowercase()),
            "a DNS-1035 label: a lowercase letter, then lowercase letters, digits and '-', at most 63",
        ),
        _ => (
            is_dns_subdomain(name),
            "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'",
        ),
    };
    if !name.is_empty() && !valid {
        return Err(invalid(
            &["metadata", "name"],
            format!("invalid {} name `{name}`", resource.kind()),
            format!("a {} name must be {rule}", resource.kind()),
        ));
    }
    if let Some(namespace) = meta
        .namespace
        .as_deref()
        .filter(|namespace| !is_dns_label(namespace))
    {
        return Err(invalid(
            &["metadata", "namespace"],
            format!("invalid namespace `{namespace}`"),
            "a namespace must be a DNS-1123 label: lowercase letters, digits and '-', at most 63",
        ));
    }
    Ok(())
}

/// Checks `resource` as its API server's validation would.
pub fn validate(resource: &Resource) -> Result<(), Invalid> {
    names(resource)?;
    match resource {
        Resource::PeerAuthentication(policy) => peer_authentication(policy),
        Resource::AuthorizationPolicy(policy) => authorization_policy(policy),
        Resource::Deployment(deployment) => deployment_spec(deployment),
        Resource::Service(service) => service_ports(service),
        Resource::Pod(pod) => match &pod.spec {
            Some(spec) => container_ports(spec, &["spec"]),
            None => Ok(()),
        },
        Resource::Workspace(workspace) => namespace_selector(
            &workspace.spec.namespace_selector.names,
            &["spec", "namespaceSelector", "names"],
        ),
        Resource::SecurityGroup(group) => match &group.spec.namespace_selector {
            Some(selector) => {
                namespace_selector(&selector.names, &["spec", "namespaceSelector", "names"])
            }
            None => Ok(()),
        },
        Resource::OrganizationSetting(setting)
        | Resource::TenantSetting(setting)
        | Resource::WorkspaceSetting(setting) => match &setting.spec.default_security_setting {
            Some(security) => service_accounts(
                &security.authorization,
                &[
                    "spec",
                    "defaultSecuritySetting",
                    "authorization",
                    "serviceAccounts",
                ],
            ),
            None => Ok(()),
        },
        Resource::SecuritySetting(setting) => service_accounts(
            &setting.spec.authorization,
            &["spec", "authorization", "serviceAccounts"],
        ),
        _ => Ok(()),
    }
}

fn deployment_spec(deployment: &k8s_openapi::api::apps::v1::Deployment) -> Result<(), Invalid> {
    let spec = &deployment.spec;
    if let Some(replicas) = spec.replicas.filter(|replicas| *replicas < 0) {
        return Err(invalid(
            &["spec", "replicas"],
            format!("spec.replicas {replicas} is negative"),
            "use 0 or more replicas",
        ));
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default();
    let selected = spec
        .selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    if !selected {
        return Err(invalid(
            &["spec", "selector"],
            "spec.selector does not match the template labels",
            "make spec.selector.matchLabels a subset of spec.template.metadata.labels",
        ));
    }
    match &spec.template.spec {
        Some(pod) => container_ports(pod, &["spec", "template", "spec"]),
        None => Ok(()),
    }
}

/// Checks that a port number is from 1 to 65535, as the API server requires.
fn port_in_range(port: i32) -> bool {
    (1..=65535).contains(&port)
}

fn container_ports(spec: &k8s_openapi::api::core::v1::PodSpec, at: &[&str]) -> Result<(), Invalid> {
    for (index, container) in spec.containers.iter().enumerate() {
        for (port_index, port) in container.ports.iter().flatten().enumerate() {
            if !port_in_range(port.container_port) {
                let index = index.to_string();
                let port_index = port_index.to_string();
                let path: Vec<&str> = at
                    .iter()
                    .copied()
                    .chain(["containers", &index, "ports", &port_index, "containerPort"])
                    .collect();
                return Err(invalid(
                    &path,
                    format!("containerPort {} is out of range", port.container_port),
                    "use a port from 1 to 65535",
                ));
            }
        }
    }
    Ok(())
}

fn service_ports(service: &k8s_openapi::api::core::v1::Service) -> Result<(), Invalid> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let ports = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_deref())
        .unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for (index, port) in ports.iter().enumerate() {
        let index_text = index.to_string();
        let at = |field: &'static str| ["spec", "ports", index_text.as_str(), field];
        if !port_in_range(port.port) {
            return Err(invalid(
                &at("port"),
                format!("port {} is out of range", port.port),
                "use a port from 1 to 65535",
            ));
        }
        match &port.target_port {
            Some(IntOrString::Int(target)) if !port_in_range(*target) => {
                return Err(invalid(
                    &at("targetPort"),
                    format!("targetPort {target} is out of range"),
                    "use a port from 1 to 65535, or a container port's name",
                ));
            }
            Some(IntOrString::String(name)) if name.is_empty() || name.len() > 15 => {
                return Err(invalid(
                    &at("targetPort"),
                    format!("targetPort `{name}` is not a port name"),
                    "use a container port's name of 1 to 15 characters, or a number",
                ));
            }
            _ => {}
        }
        if ports.len() > 1 && port.name.as_deref().unwrap_or_default().is_empty() {
            return Err(invalid(
                &at("port"),
                "a Service with more than one port must name each port",
                "add a name to every entry of spec.ports",
            ));
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !seen.insert((port.port, protocol.to_owned())) {
            return Err(invalid(
                &at("port"),
                format!("port {} / {protocol} is declared twice", port.port),
                "remove the duplicate entry from spec.ports",
            ));
        }
    }
    Ok(())
}

fn peer_authentication(policy: &PeerAuthentication) -> Result<(), Invalid> {
    let has_selector = policy
        .spec
        .selector
        .as_ref()
        .is_some_and(|selector| !selector.is_empty());
    if !policy.spec.port_level_mtls.is_empty() && !has_selector {
        return Err(invalid(
            &["spec", "portLevelMtls"],
            "portLevelMtls requires a workload selector",
            "add spec.selector.matchLabels, or set spec.mtls.mode for the whole namespace",
        ));
    }
    if let Some(port) = policy
        .spec
        .port_level_mtls
        .keys()
        .find(|port| **port == 0 || **port > 65535)
    {
        return Err(invalid(
            &["spec", "portLevelMtls"],
            format!("port {port} is out of range"),
            "use a container port from 1 to 65535",
        ));
    }
    Ok(())
}

/// Istio matches these fields exactly, by prefix (`abc*`), by suffix (`*abc`) or by
/// presence (`*`); a `*` anywhere else is rejected.
fn wildcard(value: &str) -> bool {
    if value == "*" {
        return true;
    }
    let both_ends = value.starts_with('*') && value.ends_with('*');
    let inner = value.trim_start_matches('*').trim_end_matches('*');
    !both_ends && !inner.contains('*')
}

/// The `group` and `kind` pairs Istio accepts in a policy's target reference.
const TARGET_KINDS: &[(&str, &str)] = &[
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("", "Service"),
    ("networking.istio.io", "ServiceEntry"),
];

/// Checks an AuthorizationPolicy's `selector`, `targetRef` and `targetRefs`, of which Istio
/// accepts at most one, and each target reference.
fn policy_targets(policy: &AuthorizationPolicy) -> Result<(), Invalid> {
    let spec = &policy.spec;
    let has_selector = spec
        .selector
        .as_ref()
        .is_some_and(|selector| !selector.is_empty());
    if spec.target_ref.is_some() && !spec.target_refs.is_empty() {
        return Err(invalid(
            &["spec", "targetRef"],
            "only one of targetRef and targetRefs may be set",
            "move the reference into targetRefs",
        ));
    }
    if has_selector && spec.has_target_refs() {
        let field = if spec.target_ref.is_some() {
            "targetRef"
        } else {
            "targetRefs"
        };
        return Err(invalid(
            &["spec", field],
            format!("selector and {field} cannot both be set"),
            "use selector for sidecar workloads, or a target reference for a gateway or waypoint",
        ));
    }
    let single = spec
        .target_ref
        .iter()
        .map(|reference| ("targetRef".to_owned(), reference));
    let listed = spec
        .target_refs
        .iter()
        .enumerate()
        .map(|(index, reference)| (format!("targetRefs.{index}"), reference));
    let namespace = policy.metadata.namespace.as_deref().unwrap_or_default();
    for (field, reference) in single.chain(listed) {
        let path = |leaf: &str| -> Vec<String> {
            ["spec"]
                .into_iter()
                .chain(field.split('.'))
                .chain([leaf])
                .map(str::to_owned)
                .collect()
        };
        let known = TARGET_KINDS
            .iter()
            .any(|(group, kind)| *group == reference.group && *kind == reference.kind);
        if !known {
            return Err(Invalid {
                path: path("kind"),
                message: format!(
                    "target reference to group `{}` kind `{}` is not supported",
                    reference.group, reference.kind
                ),
                hint: "refer to a Gateway or GatewayClass (group gateway.networking.k8s.io), a \
                       Service (group \"\") or a ServiceEntry (group networking.istio.io)"
                    .to_owned(),
            });
        }
        if reference.name.is_empty() {
            return Err(Invalid {
                path: path("name"),
                message: "a target reference needs a name".to_owned(),
                hint: format!("name the {} the policy attaches to", reference.kind),
            });
        }
        if let Some(target_namespace) = reference
            .namespace
            .as_deref()
            .filter(|target| !target.is_empty() && *target != namespace)
        {
            return Err(Invalid {
                path: path("namespace"),
                message: format!(
                    "target namespace `{target_namespace}` is not the policy's namespace \
                     `{namespace}`"
                ),
                hint: "create the policy in the target's namespace, or drop the namespace field"
                    .to_owned(),
            });
        }
    }
    Ok(())
}

fn authorization_policy(policy: &AuthorizationPolicy) -> Result<(), Invalid> {
    use super::istio::AuthorizationAction;
    policy_targets(policy)?;
    if policy.spec.action == AuthorizationAction::Custom && policy.spec.provider.is_none() {
        return Err(invalid(
            &["spec", "provider"],
            "a CUSTOM policy needs a provider",
            "add spec.provider.name",
        ));
    }
    for (index, rule) in policy.spec.rules.iter().flatten().enumerate() {
        let rule_index = index.to_string();
        for (from_index, from) in rule.from.iter().enumerate() {
            let source = &from.source;
            let lists = [
                ("principals", &source.principals),
                ("notPrincipals", &source.not_principals),
                ("namespaces", &source.namespaces),
                ("notNamespaces", &source.not_namespaces),
            ];
            for (field, values) in lists {
                if let Some(value) = values.iter().find(|value| !wildcard(value)) {
                    let from_index = from_index.to_string();
                    return Err(invalid(
                        &[
                            "spec",
                            "rules",
                            &rule_index,
                            "from",
                            &from_index,
                            "source",
                            field,
                        ],
                        format!("`{value}`: a wildcard is allowed only at the start or the end"),
                        "write a prefix (`ns/*`), a suffix (`*/sa/x`) or `*`",
                    ));
                }
            }
        }
        for (to_index, to) in rule.to.iter().enumerate() {
            let operation = &to.operation;
            let lists = [
                ("paths", &operation.paths),
                ("notPaths", &operation.not_paths),
                ("hosts", &operation.hosts),
                ("notHosts", &operation.not_hosts),
            ];
            for (field, values) in lists {
                if let Some(value) = values.iter().find(|value| !wildcard(value)) {
                    let to_index = to_index.to_string();
                    return Err(invalid(
                        &[
                            "spec",
                            "rules",
                            &rule_index,
                            "to",
                            &to_index,
                            "operation",
                            field,
                        ],
                        format!("`{value}`: a wildcard is allowed only at the start or the end"),
                        "write a prefix (`/api/*`), a suffix (`*.html`) or `*`",
                    ));
                }
            }
            for (field, values) in [
                ("ports", &operation.ports),
                ("notPorts", &operation.not_ports),
            ] {
                if let Some(value) = values
                    .iter()
                    .find(|value| value.parse::<u16>().map_or(true, |port| port == 0))
                {
                    let to_index = to_index.to_string();
                    return Err(invalid(
                        &[
                            "spec",
                            "rules",
                            &rule_index,
                            "to",
                            &to_index,
                            "operation",
                            field,
                        ],
                        format!("`{value}` is not a port number"),
                        "write ports as strings of numbers from 1 to 65535, such as \"8080\"",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn namespace_selector(names: &[String], path: &[&str]) -> Result<(), Invalid> {
    match names.iter().find(|name| {
        name.split_once('/')
            .is_none_or(|(cluster, namespace)| cluster.is_empty() || namespace.is_empty())
    }) {
        Some(name) => Err(invalid(
            path,
            format!("`{name}` is not a cluster/namespace pattern"),
            "write `*/namespace`, `cluster/namespace`, `cluster/*` or `*/*`",
        )),
        None => Ok(()),
    }
}

/// TSB's pattern for CUSTOM service accounts: `./*`, `namespace/*` or `namespace/account`.
fn service_account_pattern(account: &str) -> bool {
    if account == "./*" {
        return true;
    }
    let Some((namespace, name)) = account.split_once('/') else {
        return false;
    };
    let plain = |text: &str| !text.is_empty() && !text.contains(['.', '*']);
    plain(namespace) && (name == "*" || (!name.is_empty() && !name.contains('*')))
}

fn service_accounts(
    authorization: &Option<super::tsb::AuthorizationSettings>,
    path: &[&str],
) -> Result<(), Invalid> {
    let Some(authorization) = authorization else {
        return Ok(());
    };
    match authorization
        .service_accounts
        .iter()
        .find(|account| !service_account_pattern(account))
    {
        Some(account) => Err(invalid(
            path,
            format!("`{account}` is not a service account pattern"),
            "write `./*`, `namespace/*` or `namespace/account`",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_only_at_the_ends() {
        let cases = [
            ("*", true),
            ("cluster.local/ns/foo/*", true),
            ("*/sa/sleep", true),
            ("exact", true),
            ("*/ns/bar/*", false),
            ("a*b", false),
        ];
        for (value, expected) in cases {
            assert_eq!(wildcard(value), expected, "{value}");
        }
    }

    #[test]
    fn kubernetes_names() {
        let long = "x".repeat(64);
        let cases = [
            ("bookinfo", true, true),
            ("a-b-1", true, true),
            ("UPPER", false, false),
            ("a<script>", false, false),
            ("-lead", false, false),
            ("reviews.v1", false, true),
            (long.as_str(), false, true),
        ];
        for (name, label, subdomain) in cases {
            assert_eq!(is_dns_label(name), label, "label {name}");
            assert_eq!(is_dns_subdomain(name), subdomain, "subdomain {name}");
        }
    }

    #[test]
    fn trust_domains() {
        let long_label = format!("{}.local", "x".repeat(64));
        let long_name = ["abcdefghi"; 26].join(".");
        let cases = [
            ("cluster.local", true),
            ("cluster-1.tsb.local", true),
            ("td", true),
            ("", false),
            (".", false),
            ("a..b", false),
            (".cluster.local", false),
            ("cluster.local.", false),
            ("Cluster.local", false),
            ("cluster_1.local", false),
            ("-a.local", false),
            ("a b", false),
            ("td/ns", false),
            (long_label.as_str(), false),
            (long_name.as_str(), false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_trust_domain(name), expected, "{name:?}");
        }
    }

    #[test]
    fn service_account_patterns_follow_tsb() {
        let cases = [
            ("./*", true),
            ("ns1/*", true),
            ("ns1/sa1", true),
            ("*/*", false),
            ("bar", false),
            ("./sa", false),
            ("ns1/sa*", false),
        ];
        for (account, expected) in cases {
            assert_eq!(service_account_pattern(account), expected, "{account}");
        }
    }
}
