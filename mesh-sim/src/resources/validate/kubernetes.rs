//! Kubernetes API server checks: object names, replicas and ports.

use super::{Invalid, invalid};
use crate::resources::Resource;

/// Checks whether `part` is lowercase letters, digits and `-`, starting and ending with a letter or
/// digit.
fn is_label_text(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !part.starts_with('-')
        && !part.ends_with('-')
}

/// Checks whether `name` is a DNS-1123 label: label text of at most 63 characters.
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && is_label_text(name)
}

/// Checks whether `name` is a DNS-like trust domain: dot-separated DNS-1123 labels, at most 253
/// characters in all, such as `cluster.local`.
pub fn is_trust_domain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Checks whether `name` is a DNS-1123 subdomain as Kubernetes checks it: dot-separated label text,
/// at most 253 characters in all.
pub(super) fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_label_text)
}
/// Checks `metadata.name` and `metadata.namespace` of Kubernetes and Istio objects.
pub(super) fn names(resource: &Resource) -> Result<(), Invalid> {
    use crate::resources::ResourceKind;
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
pub(super) fn deployment_spec(
    deployment: &k8s_openapi::api::apps::v1::Deployment,
) -> Result<(), Invalid> {
    let spec = &deployment.spec;
    if let Some(replicas) = spec.replicas.filter(|replicas| *replicas < 0) {
        return Err(invalid(
            &["spec", "replicas"],
            format!("spec.replicas {replicas} is negative"),
            "use 0 or more replicas",
        ));
    }
    let selector = &spec.selector;
    let selector_empty = selector
        .match_labels
        .as_ref()
        .is_none_or(|labels| labels.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|expressions| expressions.is_empty());
    if selector_empty {
        return Err(invalid(
            &["spec", "selector"],
            "a Deployment needs a non-empty spec.selector",
            "add spec.selector.matchLabels with the labels of spec.template.metadata.labels",
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

pub(super) fn container_ports(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    at: &[&str],
) -> Result<(), Invalid> {
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

pub(super) fn service_ports(service: &k8s_openapi::api::core::v1::Service) -> Result<(), Invalid> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let ports = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_deref())
        .unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    for (index, port) in ports.iter().enumerate() {
        let index_text = index.to_string();
        let at = |field: &'static str| ["spec", "ports", index_text.as_str(), field];
        let name = port.name.as_deref().unwrap_or_default();
        if !name.is_empty() && !is_dns_label(name) {
            return Err(invalid(
                &at("name"),
                format!("invalid port name `{name}`"),
                "a Service port name must be a DNS-1123 label: lowercase letters, digits and \
                 '-', at most 63",
            ));
        }
        if !name.is_empty() && !names.insert(name) {
            return Err(invalid(
                &at("name"),
                format!("port name `{name}` is declared twice"),
                "give each entry of spec.ports its own name",
            ));
        }
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
