//! Istio webhook checks of AuthorizationPolicy `when` conditions, following `ValidateAttribute`
//! in istio/istio `pkg/config/security/security.go`.

use std::net::IpAddr;

use super::{Invalid, invalid};
use crate::resources::istio::Condition;

/// Checks each `when` condition of the rule at path `at`, such as `spec.rules.0`.
pub(super) fn conditions(conditions: &[Condition], at: &[&str]) -> Result<(), Invalid> {
    for (index, condition) in conditions.iter().enumerate() {
        let index = index.to_string();
        let path = |leaf: &'static str| -> Vec<&str> {
            at.iter().copied().chain(["when", &index, leaf]).collect()
        };
        let key = condition.key.as_str();
        if key.is_empty() {
            return Err(invalid(
                &path("key"),
                "a condition's key must not be empty",
                "name an attribute, such as `source.ip` or `request.headers[x-user]`",
            ));
        }
        let value_kind = attribute(key).map_err(|(message, hint)| {
            invalid(&path("key"), format!("`{key}`: {message}"), hint)
        })?;
        if condition.values.is_empty() && condition.not_values.is_empty() {
            return Err(invalid(
                &path("key"),
                format!("condition `{key}` needs values or notValues"),
                "add at least one entry to values or notValues",
            ));
        }
        for (field, values) in [
            ("values", &condition.values),
            ("notValues", &condition.not_values),
        ] {
            for (value_index, value) in values.iter().enumerate() {
                let value_index = value_index.to_string();
                let value_path: Vec<&str> = path(field)
                    .into_iter()
                    .chain([value_index.as_str()])
                    .collect();
                if value.is_empty() {
                    return Err(invalid(
                        &value_path,
                        format!("condition `{key}` has an empty value in {field}"),
                        "remove the empty entry",
                    ));
                }
                match value_kind {
                    ValueKind::Ip if !is_ip_or_cidr(value) => {
                        return Err(invalid(
                            &value_path,
                            format!("`{value}` is not an IP address or CIDR range for `{key}`"),
                            "write an address such as 10.1.2.3 or a range such as 10.1.0.0/16",
                        ));
                    }
                    ValueKind::Port if !is_condition_port(value) => {
                        return Err(invalid(
                            &value_path,
                            format!("`{value}` is not a port number for `{key}`"),
                            "write the port as a string of digits from 0 to 65535, such as \"8080\"",
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// The kind of value a condition key takes.
#[derive(Clone, Copy, Debug)]
enum ValueKind {
    Any,
    Ip,
    Port,
}

/// Classifies a condition key, or returns the message and hint that reject it.
fn attribute(key: &str) -> Result<ValueKind, (String, &'static str)> {
    const MAP_HINT: &str = "write the key as `name[entry]`, such as `request.headers[x-user]`";
    let map_key = |kind| {
        if is_map_key(key) {
            Ok(kind)
        } else {
            Err(("should have the form a[b]".to_owned(), MAP_HINT))
        }
    };
    // Istio matches these three by prefix, so `request.headersX` is a malformed map key,
    // not an unknown attribute.
    if key.starts_with("request.headers")
        || key.starts_with("request.auth.claims")
        || key.starts_with("experimental.envoy.filters.")
    {
        return map_key(ValueKind::Any);
    }
    if key.starts_with("destination.labels") {
        return Err((
            "this attribute is replaced by the workload selector".to_owned(),
            "select the workloads with spec.selector.matchLabels",
        ));
    }
    match key {
        "source.ip" | "remote.ip" | "destination.ip" => Ok(ValueKind::Ip),
        "destination.port" => Ok(ValueKind::Port),
        "source.namespace"
        | "source.principal"
        | "request.auth.principal"
        | "request.auth.audiences"
        | "request.auth.presenter"
        | "connection.sni" => Ok(ValueKind::Any),
        "destination.namespace" => Err((
            "this attribute is replaced by the policy's metadata.namespace".to_owned(),
            "create the policy in the destination's namespace and drop the condition",
        )),
        "destination.name" | "destination.user" => Err((
            "this attribute was removed after security.istio.io v1alpha1".to_owned(),
            "select the destination workloads with spec.selector.matchLabels",
        )),
        _ => Err((
            "unknown attribute".to_owned(),
            "use an attribute Istio supports, such as source.ip, source.namespace, \
             source.principal, request.headers[NAME], request.auth.claims[NAME], \
             destination.ip, destination.port or connection.sni",
        )),
    }
}

/// Checks whether `key` has the form `a[b]`: a `[` after at least one character, a `]` at the end and
/// at least one character between them. Nested claims such as `request.auth.claims[a][b]`
/// pass as well.
fn is_map_key(key: &str) -> bool {
    match key.find('[') {
        Some(open) => key.ends_with(']') && open > 0 && open + 2 < key.len(),
        None => false,
    }
}

/// Checks whether `value` is an IP address, or a CIDR range when it contains `/`.
fn is_ip_or_cidr(value: &str) -> bool {
    let Some((address, bits)) = value.split_once('/') else {
        return value.parse::<IpAddr>().is_ok();
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let max_bits = if address.is_ipv4() { 32 } else { 128 };
    let plain_digits = !bits.is_empty()
        && bits.bytes().all(|byte| byte.is_ascii_digit())
        && (bits == "0" || !bits.starts_with('0'));
    plain_digits && bits.parse::<u32>().is_ok_and(|bits| bits <= max_bits)
}

/// Checks whether `value` is a `destination.port` value. Istio accepts 0 to 65535 here, unlike the
/// 1 to 65535 of `operation.ports`.
fn is_condition_port(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|byte| byte.is_ascii_digit())
        && value.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::{attribute, is_condition_port, is_ip_or_cidr, is_map_key};

    #[test]
    fn condition_keys_follow_istio() {
        let accepted = [
            "request.headers[x-user]",
            "source.ip",
            "remote.ip",
            "source.namespace",
            "source.principal",
            "request.auth.principal",
            "request.auth.audiences",
            "request.auth.presenter",
            "request.auth.claims[iss]",
            "request.auth.claims[nested][key]",
            "destination.ip",
            "destination.port",
            "connection.sni",
            "experimental.envoy.filters.network.mysql_proxy[db.table]",
        ];
        for key in accepted {
            assert!(attribute(key).is_ok(), "{key}");
        }
        let rejected = [
            ("destination.namespace", "metadata.namespace"),
            ("destination.labels[app]", "workload selector"),
            ("destination.name", "v1alpha1"),
            ("destination.user", "v1alpha1"),
            ("request.headers", "a[b]"),
            ("request.headers[]", "a[b]"),
            ("request.auth.claims[iss", "a[b]"),
            ("experimental.envoy.filters.x", "a[b]"),
            ("source.ips", "unknown attribute"),
            ("request.host", "unknown attribute"),
            ("experimental.other[x]", "unknown attribute"),
        ];
        for (key, message) in rejected {
            let (text, _) = attribute(key).expect_err(key);
            assert!(text.contains(message), "{key}: {text}");
        }
    }

    #[test]
    fn map_keys_need_a_bracketed_entry() {
        let cases = [
            ("a[b]", true),
            ("request.headers[x]", true),
            ("a[b][c]", true),
            ("[b]", false),
            ("a[]", false),
            ("a[b", false),
            ("ab]", false),
        ];
        for (key, expected) in cases {
            assert_eq!(is_map_key(key), expected, "{key}");
        }
    }

    #[test]
    fn ip_values_are_addresses_or_ranges() {
        let cases = [
            ("10.1.2.3", true),
            ("10.1.0.0/16", true),
            ("0.0.0.0/0", true),
            ("2001:db8::1", true),
            ("2001:db8::/32", true),
            ("10.1.2.3/32", true),
            ("10.1.2.3/33", false),
            ("2001:db8::/129", false),
            ("10.1.0.0/016", false),
            ("10.1.0.0/", false),
            ("10.1.0.0/+8", false),
            ("10.1.2", false),
            ("010.1.2.3", false),
            ("example.com", false),
            ("/16", false),
        ];
        for (value, expected) in cases {
            assert_eq!(is_ip_or_cidr(value), expected, "{value}");
        }
    }

    #[test]
    fn condition_ports_range_from_zero() {
        let cases = [
            ("0", true),
            ("8080", true),
            ("65535", true),
            ("65536", false),
            ("-1", false),
            ("+80", false),
            ("http", false),
            ("", false),
        ];
        for (value, expected) in cases {
            assert_eq!(is_condition_port(value), expected, "{value}");
        }
    }
}
