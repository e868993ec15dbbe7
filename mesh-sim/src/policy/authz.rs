//! Istio AuthorizationPolicy evaluation, as a sidecar's RBAC filters run it: CUSTOM is not
//! simulated, then DENY policies, then ALLOW policies. With no ALLOW policy every request that
//! no DENY policy matched is allowed; with at least one, a request must match one of them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::resources::istio::{
    AuthorizationAction, AuthorizationRule, Condition, Operation, RuleFrom, RuleTo, Source,
};

/// One policy that applies to a workload, as pushed to its proxy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedPolicy {
    /// `namespace/name` of the policy, for logs and records.
    pub name: String,
    /// The action.
    pub action: AuthorizationAction,
    /// Rules as written; `None` and an empty list both match nothing.
    pub rules: Option<Vec<AuthorizationRule>>,
}

/// HTTP attributes of a request; absent for TCP connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpAttributes {
    /// Method, for example `GET`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The `Host` header or `:authority` as the client sent it, port included.
    pub host: String,
    /// Request headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

/// What the RBAC filter knows about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestAttributes {
    /// Peer principal from the client certificate (`<td>/ns/<ns>/sa/<sa>`); `None` for
    /// plaintext.
    pub principal: Option<String>,
    /// Source address of the connection.
    pub source_ip: IpAddr,
    /// Destination (container) port.
    pub port: u16,
    /// HTTP attributes, for HTTP ports.
    pub http: Option<HttpAttributes>,
}

impl RequestAttributes {
    fn source_namespace(&self) -> Option<&str> {
        let principal = self.principal.as_deref()?;
        let mut segments = principal.split('/');
        segments.next()?;
        (segments.next()? == "ns").then_some(())?;
        segments.next()
    }
}

/// The result of evaluating a workload's policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allowed,
    /// A DENY policy matched.
    DeniedByPolicy {
        /// `namespace/name` of the policy.
        policy: String,
    },
    /// ALLOW policies apply and none matched.
    NotAllowed,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// Evaluates the policies of a workload for one request.
pub fn evaluate(policies: &[AppliedPolicy], request: &RequestAttributes) -> Decision {
    for policy in policies
        .iter()
        .filter(|policy| policy.action == AuthorizationAction::Deny)
    {
        if policy_matches(policy, request) {
            return Decision::DeniedByPolicy {
                policy: policy.name.clone(),
            };
        }
    }
    let mut allow = policies
        .iter()
        .filter(|policy| policy.action == AuthorizationAction::Allow)
        .peekable();
    if allow.peek().is_none() {
        return Decision::Allowed;
    }
    if allow.any(|policy| policy_matches(policy, request)) {
        Decision::Allowed
    } else {
        Decision::NotAllowed
    }
}

fn policy_matches(policy: &AppliedPolicy, request: &RequestAttributes) -> bool {
    let deny = policy.action == AuthorizationAction::Deny;
    policy
        .rules
        .iter()
        .flatten()
        .any(|rule| rule_matches(rule, request, deny))
}

/// Whether a rule matches. On a TCP connection, HTTP-only fields cannot be checked: Istio
/// drops such a rule from ALLOW policies (it never matches) and ignores just those fields in
/// DENY policies (so the rule matches more), which keeps both cases on the safe side.
fn rule_matches(rule: &AuthorizationRule, request: &RequestAttributes, deny: bool) -> bool {
    if request.http.is_none() && !deny && rule_uses_http_fields(rule) {
        return false;
    }
    let from = rule.from.is_empty() || rule.from.iter().any(|from| from_matches(from, request));
    let to = rule.to.is_empty() || rule.to.iter().any(|to| to_matches(to, request));
    let when = rule
        .when
        .iter()
        .all(|condition| condition_matches(condition, request));
    from && to && when
}

fn rule_uses_http_fields(rule: &AuthorizationRule) -> bool {
    let source_http = rule.from.iter().any(|RuleFrom { source }| {
        !source.request_principals.is_empty() || !source.not_request_principals.is_empty()
    });
    let operation_http = rule.to.iter().any(|RuleTo { operation }| {
        !operation.methods.is_empty()
            || !operation.not_methods.is_empty()
            || !operation.paths.is_empty()
            || !operation.not_paths.is_empty()
            || !operation.hosts.is_empty()
            || !operation.not_hosts.is_empty()
    });
    let condition_http = rule
        .when
        .iter()
        .any(|condition| condition.key.starts_with("request."));
    source_http || operation_http || condition_http
}

/// Istio's string match: `*` alone, a `prefix*`, a `*suffix`, or exact.
pub fn string_matches(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return value.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return value.ends_with(suffix);
    }
    pattern == value
}

fn any_matches(patterns: &[String], value: Option<&str>) -> bool {
    value.is_some_and(|value| {
        patterns
            .iter()
            .any(|pattern| string_matches(pattern, value))
    })
}

/// A list condition: empty means "no constraint"; otherwise the value must match.
fn positive(patterns: &[String], value: Option<&str>) -> bool {
    patterns.is_empty() || any_matches(patterns, value)
}

/// A negated list condition: empty means "no constraint"; otherwise the value must not
/// match. A missing value (no peer identity) does not match, so it passes.
fn negative(patterns: &[String], value: Option<&str>) -> bool {
    patterns.is_empty() || !any_matches(patterns, value)
}

fn from_matches(from: &RuleFrom, request: &RequestAttributes) -> bool {
    let Source {
        principals,
        not_principals,
        request_principals,
        not_request_principals,
        namespaces,
        not_namespaces,
        ip_blocks,
        not_ip_blocks,
        remote_ip_blocks,
        not_remote_ip_blocks,
    } = &from.source;
    let principal = request.principal.as_deref();
    let namespace = request.source_namespace();
    // No JWT validation is simulated, so requests never carry a request principal.
    positive(principals, principal)
        && negative(not_principals, principal)
        && positive(request_principals, None)
        && negative(not_request_principals, None)
        && positive(namespaces, namespace)
        && negative(not_namespaces, namespace)
        && ip_list(ip_blocks, request.source_ip, true)
        && ip_list(not_ip_blocks, request.source_ip, false)
        && ip_list(remote_ip_blocks, request.source_ip, true)
        && ip_list(not_remote_ip_blocks, request.source_ip, false)
}

fn ip_list(blocks: &[String], ip: IpAddr, positive: bool) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let hit = blocks.iter().any(|block| cidr_contains(block, ip));
    hit == positive
}

/// Whether `ip` is in `block` (`a.b.c.d` or `a.b.c.d/len`, IPv4 or IPv6).
pub fn cidr_contains(block: &str, ip: IpAddr) -> bool {
    let (address, length) = match block.split_once('/') {
        Some((address, length)) => (address, length.parse::<u32>().ok()),
        None => (block, None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let length = length.unwrap_or(32).min(32);
            let mask = if length == 0 {
                0
            } else {
                u32::MAX << (32 - length)
            };
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let length = length.unwrap_or(128).min(128);
            let mask = if length == 0 {
                0
            } else {
                u128::MAX << (128 - length)
            };
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

fn to_matches(to: &RuleTo, request: &RequestAttributes) -> bool {
    let Operation {
        hosts,
        not_hosts,
        ports,
        not_ports,
        methods,
        not_methods,
        paths,
        not_paths,
    } = &to.operation;
    let port = request.port.to_string();
    let http = request.http.as_ref();
    let method = http.map(|http| http.method.as_str());
    let path = http.map(|http| http.path.as_str());
    let host = http.map(|http| http.host.to_ascii_lowercase());
    let lowered_hosts: Vec<String> = hosts.iter().map(|host| host.to_ascii_lowercase()).collect();
    let lowered_not_hosts: Vec<String> = not_hosts
        .iter()
        .map(|host| host.to_ascii_lowercase())
        .collect();
    // On TCP the HTTP fields are absent; only DENY rules get here with them, and for those the
    // fields are ignored.
    let http_fields = if http.is_some() {
        positive(&lowered_hosts, host.as_deref())
            && negative(&lowered_not_hosts, host.as_deref())
            && positive(methods, method)
            && negative(not_methods, method)
            && positive(paths, path)
            && negative(not_paths, path)
    } else {
        true
    };
    http_fields && positive(ports, Some(&port)) && negative(not_ports, Some(&port))
}

fn condition_matches(condition: &Condition, request: &RequestAttributes) -> bool {
    let value = condition_value(&condition.key, request);
    let value = value.as_deref();
    positive(&condition.values, value) && negative(&condition.not_values, value)
}

fn condition_value(key: &str, request: &RequestAttributes) -> Option<String> {
    match key {
        "source.ip" | "remote.ip" => Some(request.source_ip.to_string()),
        "source.namespace" => request.source_namespace().map(str::to_owned),
        "source.principal" => request.principal.clone(),
        "destination.port" => Some(request.port.to_string()),
        _ => {
            let name = key.strip_prefix("request.headers[")?.strip_suffix(']')?;
            let name = name.to_ascii_lowercase();
            request
                .http
                .as_ref()?
                .headers
                .iter()
                .find(|(header, _)| *header == name)
                .map(|(_, value)| value.clone())
        }
    }
}

#[cfg(test)]
mod tests;
