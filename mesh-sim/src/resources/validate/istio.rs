//! Istio webhook checks of PeerAuthentication and AuthorizationPolicy.

use super::{Invalid, invalid};
use crate::resources::istio::{AuthorizationPolicy, PeerAuthentication};

pub(super) fn peer_authentication(policy: &PeerAuthentication) -> Result<(), Invalid> {
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
pub(super) fn wildcard(value: &str) -> bool {
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

/// Checks that every value of the named `lists` under `parent` has its wildcard only at the
/// start or the end, suggesting `hint` otherwise.
fn wildcards_at_ends(
    lists: &[(&str, &Vec<String>)],
    parent: &[&str],
    hint: &str,
) -> Result<(), Invalid> {
    for (field, values) in lists {
        if let Some(value) = values.iter().find(|value| !wildcard(value)) {
            let path: Vec<&str> = parent.iter().copied().chain([*field]).collect();
            return Err(invalid(
                &path,
                format!("`{value}`: a wildcard is allowed only at the start or the end"),
                hint,
            ));
        }
    }
    Ok(())
}

pub(super) fn authorization_policy(policy: &AuthorizationPolicy) -> Result<(), Invalid> {
    use crate::resources::istio::AuthorizationAction;
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
            let from_index = from_index.to_string();
            wildcards_at_ends(
                &[
                    ("principals", &source.principals),
                    ("notPrincipals", &source.not_principals),
                    ("namespaces", &source.namespaces),
                    ("notNamespaces", &source.not_namespaces),
                ],
                &["spec", "rules", &rule_index, "from", &from_index, "source"],
                "write a prefix (`ns/*`), a suffix (`*/sa/x`) or `*`",
            )?;
        }
        for (to_index, to) in rule.to.iter().enumerate() {
            let operation = &to.operation;
            let to_index = to_index.to_string();
            wildcards_at_ends(
                &[
                    ("paths", &operation.paths),
                    ("notPaths", &operation.not_paths),
                    ("hosts", &operation.hosts),
                    ("notHosts", &operation.not_hosts),
                ],
                &["spec", "rules", &rule_index, "to", &to_index, "operation"],
                "write a prefix (`/api/*`), a suffix (`*.html`) or `*`",
            )?;
            for (field, values) in [
                ("ports", &operation.ports),
                ("notPorts", &operation.not_ports),
            ] {
                if let Some(value) = values
                    .iter()
                    .find(|value| value.parse::<u16>().map_or(true, |port| port == 0))
                {
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
        super::conditions::conditions(&rule.when, &["spec", "rules", &rule_index])?;
    }
    Ok(())
}
