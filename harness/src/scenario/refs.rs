//! Object references written as `kind/name`, and the Kubernetes rules for names and labels.

use mesh_sim::resources::ResourceKind;

use super::model::{ObjectRef, WorkloadKind, WorkloadRef};

/// Description of an invalid value, and the fix to suggest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub message: String,
    pub hint: String,
}

impl Problem {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// The kind names accepted in references, lowercase, with the kind each selects.
const KIND_NAMES: &[(&str, ResourceKind)] = &[
    ("namespace", ResourceKind::Namespace),
    ("namespaces", ResourceKind::Namespace),
    ("ns", ResourceKind::Namespace),
    ("deployment", ResourceKind::Deployment),
    ("deployments", ResourceKind::Deployment),
    ("deploy", ResourceKind::Deployment),
    ("pod", ResourceKind::Pod),
    ("pods", ResourceKind::Pod),
    ("po", ResourceKind::Pod),
    ("service", ResourceKind::Service),
    ("services", ResourceKind::Service),
    ("svc", ResourceKind::Service),
    ("serviceaccount", ResourceKind::ServiceAccount),
    ("serviceaccounts", ResourceKind::ServiceAccount),
    ("sa", ResourceKind::ServiceAccount),
    ("configmap", ResourceKind::ConfigMap),
    ("configmaps", ResourceKind::ConfigMap),
    ("cm", ResourceKind::ConfigMap),
    ("secret", ResourceKind::Secret),
    ("secrets", ResourceKind::Secret),
    ("peerauthentication", ResourceKind::PeerAuthentication),
    ("peerauthentications", ResourceKind::PeerAuthentication),
    ("pa", ResourceKind::PeerAuthentication),
    ("authorizationpolicy", ResourceKind::AuthorizationPolicy),
    ("authorizationpolicies", ResourceKind::AuthorizationPolicy),
    ("destinationrule", ResourceKind::DestinationRule),
    ("destinationrules", ResourceKind::DestinationRule),
    ("dr", ResourceKind::DestinationRule),
];

const KIND_HINT: &str = "write KIND/NAME with KIND one of namespace (ns), deployment (deploy), \
                         pod, service (svc), serviceaccount (sa), configmap (cm), secret, \
                         peerauthentication (pa), authorizationpolicy, destinationrule (dr)";

/// Parses `kind/name`. Namespaced kinds get `namespace`, cluster-scoped kinds get none.
pub(crate) fn parse_object_ref(text: &str, namespace: &str) -> Result<ObjectRef, Problem> {
    let Some((kind_name, name)) = text.split_once('/') else {
        return Err(Problem::new(
            format!("invalid object reference `{text}`: no kind"),
            KIND_HINT,
        ));
    };
    let lowercase = kind_name.to_ascii_lowercase();
    let Some((_, kind)) = KIND_NAMES.iter().find(|(alias, _)| *alias == lowercase) else {
        return Err(Problem::new(
            format!("unsupported kind `{kind_name}` in `{text}`"),
            KIND_HINT,
        ));
    };
    check_object_name(*kind, name)?;
    let namespace = if kind.is_namespaced() {
        check_namespace(namespace)?;
        Some(namespace.to_owned())
    } else {
        None
    };
    Ok(ObjectRef {
        kind: *kind,
        namespace,
        name: name.to_owned(),
    })
}

/// Parses an `exec` target: `deploy/NAME`, `deployment/NAME`, `pod/NAME` or a bare pod name.
pub(crate) fn parse_exec_target(text: &str, namespace: &str) -> Result<WorkloadRef, Problem> {
    let (kind, name) = match text.split_once('/') {
        None => (WorkloadKind::Pod, text),
        Some((kind_name, name)) => match kind_name.to_ascii_lowercase().as_str() {
            "deploy" | "deployment" | "deployments" => (WorkloadKind::Deployment, name),
            "pod" | "pods" | "po" => (WorkloadKind::Pod, name),
            _ => {
                return Err(Problem::new(
                    format!("unsupported exec target `{text}`"),
                    "write deploy/NAME, deployment/NAME, pod/NAME or a pod name",
                ));
            }
        },
    };
    workload(kind, name, namespace)
}

/// Parses a `rolloutRestart` target, which must be a Deployment.
pub(crate) fn parse_restart_target(text: &str, namespace: &str) -> Result<WorkloadRef, Problem> {
    let object = parse_object_ref(text, namespace)?;
    if object.kind != ResourceKind::Deployment {
        return Err(Problem::new(
            format!("cannot restart `{text}`: rollout restart applies to deployments only"),
            "write deploy/NAME",
        ));
    }
    workload(WorkloadKind::Deployment, &object.name, namespace)
}

fn workload(kind: WorkloadKind, name: &str, namespace: &str) -> Result<WorkloadRef, Problem> {
    let resource_kind = match kind {
        WorkloadKind::Deployment => ResourceKind::Deployment,
        WorkloadKind::Pod => ResourceKind::Pod,
    };
    check_object_name(resource_kind, name)?;
    check_namespace(namespace)?;
    Ok(WorkloadRef {
        kind,
        name: name.to_owned(),
        namespace: namespace.to_owned(),
    })
}

/// Checks a namespace name: a DNS-1123 label.
pub(crate) fn check_namespace(namespace: &str) -> Result<(), Problem> {
    if is_dns_label(namespace) {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid namespace `{namespace}`"),
        "use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or \
         digit",
    ))
}

/// Checks an object name: a DNS-1123 label for namespaces and services, a DNS-1123
/// subdomain for the other kinds, as the Kubernetes API requires.
fn check_object_name(kind: ResourceKind, name: &str) -> Result<(), Problem> {
    let label_only = matches!(kind, ResourceKind::Namespace | ResourceKind::Service);
    let valid = if label_only {
        is_dns_label(name)
    } else {
        is_dns_subdomain(name)
    };
    if valid {
        return Ok(());
    }
    let rule = if label_only {
        "use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or \
         digit"
    } else {
        "use at most 253 lowercase letters, digits, `-` and `.`, starting and ending with a \
         letter or digit"
    };
    Err(Problem::new(format!("invalid {kind} name `{name}`"), rule))
}

/// Checks a label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// letters, digits, `-`, `_` and `.` that starts and ends with a letter or digit.
pub(crate) fn check_label_key(key: &str) -> Result<(), Problem> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(is_dns_subdomain);
    if prefix_ok && is_label_name(name) {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid label key `{key}`"),
        "write an optional DNS prefix and `/`, then at most 63 letters, digits, `-`, `_` and \
         `.`, starting and ending with a letter or digit",
    ))
}

/// Checks a label value: empty, or like the name part of a key.
pub(crate) fn check_label_value(key: &str, value: &str) -> Result<(), Problem> {
    if value.is_empty() || is_label_name(value) {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid value `{value}` for label `{key}`"),
        "use at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or \
         digit, or an empty string",
    ))
}

fn is_dns_label(text: &str) -> bool {
    text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && starts_and_ends_alphanumeric(text)
}

fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && text.split('.').all(starts_and_ends_alphanumeric)
}

fn is_label_name(text: &str) -> bool {
    text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && starts_and_ends_alphanumeric(text)
}

fn starts_and_ends_alphanumeric(text: &str) -> bool {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ref_table() {
        let cases = [
            ("namespace/sleep", ResourceKind::Namespace, None, "sleep"),
            ("ns/sleep", ResourceKind::Namespace, None, "sleep"),
            (
                "deploy/sleep",
                ResourceKind::Deployment,
                Some("apps"),
                "sleep",
            ),
            (
                "Deployment/sleep",
                ResourceKind::Deployment,
                Some("apps"),
                "sleep",
            ),
            (
                "svc/productpage",
                ResourceKind::Service,
                Some("apps"),
                "productpage",
            ),
            (
                "sa/bookinfo-ratings",
                ResourceKind::ServiceAccount,
                Some("apps"),
                "bookinfo-ratings",
            ),
            (
                "pa/default",
                ResourceKind::PeerAuthentication,
                Some("apps"),
                "default",
            ),
            (
                "authorizationpolicy/deny-all",
                ResourceKind::AuthorizationPolicy,
                Some("apps"),
                "deny-all",
            ),
            (
                "dr/reviews.tls",
                ResourceKind::DestinationRule,
                Some("apps"),
                "reviews.tls",
            ),
        ];
        for (text, kind, namespace, name) in cases {
            let object = parse_object_ref(text, "apps").unwrap();
            assert_eq!(object.kind, kind, "{text}");
            assert_eq!(object.namespace.as_deref(), namespace, "{text}");
            assert_eq!(object.name, name, "{text}");
        }
    }

    #[test]
    fn object_ref_errors() {
        let cases = [
            ("sleep", "invalid object reference `sleep`: no kind"),
            ("gadget/x", "unsupported kind `gadget` in `gadget/x`"),
            ("deploy/Sleep", "invalid Deployment name `Sleep`"),
            ("ns/a.b", "invalid Namespace name `a.b`"),
            ("deploy/", "invalid Deployment name ``"),
        ];
        for (text, message) in cases {
            let problem = parse_object_ref(text, "apps").unwrap_err();
            assert_eq!(problem.message, message, "{text}");
        }
        let problem = parse_object_ref("deploy/x", "Bad_NS").unwrap_err();
        assert_eq!(problem.message, "invalid namespace `Bad_NS`");
    }

    #[test]
    fn exec_target_table() {
        let cases = [
            ("deploy/sleep", WorkloadKind::Deployment, "sleep"),
            ("deployment/sleep", WorkloadKind::Deployment, "sleep"),
            ("pod/sleep-0", WorkloadKind::Pod, "sleep-0"),
            ("sleep-0", WorkloadKind::Pod, "sleep-0"),
        ];
        for (text, kind, name) in cases {
            let target = parse_exec_target(text, "sleep").unwrap();
            assert_eq!((target.kind, target.name.as_str()), (kind, name), "{text}");
            assert_eq!(target.namespace, "sleep");
        }
        assert!(parse_exec_target("svc/sleep", "sleep").is_err());
    }

    #[test]
    fn restart_target_must_be_deployment() {
        let target = parse_restart_target("deploy/sleep", "sleep").unwrap();
        assert_eq!(target.kind, WorkloadKind::Deployment);
        let problem = parse_restart_target("pod/sleep", "sleep").unwrap_err();
        assert!(
            problem.message.contains("deployments only"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn label_rules() {
        for key in [
            "istio-injection",
            "app.kubernetes.io/name",
            "tsb.tetrate.io/x_y",
            "A1",
        ] {
            assert!(check_label_key(key).is_ok(), "{key}");
        }
        for key in ["", "-a", "a/", "/a", "Bad.Prefix/a", "a b", &"k".repeat(64)] {
            assert!(check_label_key(key).is_err(), "{key}");
        }
        for value in ["", "enabled", "v1.2_3"] {
            assert!(check_label_value("k", value).is_ok(), "{value}");
        }
        for value in ["-x", "a b", "x/y"] {
            assert!(check_label_value("k", value).is_err(), "{value}");
        }
    }
}
