//! Client-side TLS from DestinationRules: which rule applies to a client calling a service
//! port, looked up as Istio does (the client's namespace, then the service's namespace, then
//! the root namespace), and its `tls` settings with port-level overrides.

use std::collections::BTreeMap;

use super::Ordered;
use crate::resources::istio::{ClientTlsSettings, DestinationRule};

/// How specifically a rule's host names a service: an exact name beats a wildcard, and a
/// longer wildcard beats a shorter one.
fn host_match_rank(
    rule_host: &str,
    rule_namespace: &str,
    service_fqdn: &str,
    dns_domain: &str,
) -> Option<usize> {
    let host = rule_host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(suffix) = host.strip_prefix('*') {
        return service_fqdn.ends_with(suffix).then_some(suffix.len());
    }
    // A short name is relative to the rule's own namespace.
    let qualified = if host.contains('.') {
        host
    } else {
        format!("{host}.{rule_namespace}.svc.{dns_domain}")
    };
    (qualified == service_fqdn).then_some(usize::MAX)
}

fn exported_to(rule: &DestinationRule, rule_namespace: &str, client_namespace: &str) -> bool {
    match &rule.spec.export_to {
        None => true,
        Some(list) if list.is_empty() => true,
        Some(list) => list.iter().any(|entry| {
            entry == "*"
                || entry == client_namespace
                || (entry == "." && rule_namespace == client_namespace)
        }),
    }
}

/// The request of a client proxy for one upstream.
#[derive(Clone, Copy, Debug)]
pub struct ClientContext<'a> {
    /// Namespace of the calling pod.
    pub namespace: &'a str,
    /// Labels of the calling pod.
    pub labels: &'a BTreeMap<String, String>,
    /// Istio's root namespace.
    pub root_namespace: &'a str,
    /// Kubernetes DNS domain.
    pub dns_domain: &'a str,
}

/// The rule that applies, and its TLS settings for `port` after port-level overrides.
/// Returns `None` when no rule sets TLS, so auto mTLS decides.
pub fn client_tls<'a>(
    rules: &'a [Ordered<DestinationRule>],
    client: ClientContext<'_>,
    service_namespace: &str,
    service_fqdn: &str,
    port: u16,
) -> Option<(String, &'a ClientTlsSettings)> {
    let lookup_order = [client.namespace, service_namespace, client.root_namespace];
    for namespace in lookup_order {
        let best = rules
            .iter()
            .filter(|rule| rule.object.metadata.namespace.as_deref() == Some(namespace))
            .filter(|rule| exported_to(&rule.object, namespace, client.namespace))
            .filter(|rule| match &rule.object.spec.workload_selector {
                Some(selector) => namespace == client.namespace && selector.matches(client.labels),
                None => true,
            })
            .filter_map(|rule| {
                let rank = host_match_rank(
                    &rule.object.spec.host,
                    namespace,
                    service_fqdn,
                    client.dns_domain,
                )?;
                Some((rank, rule))
            })
            .min_by(|(rank_a, a), (rank_b, b)| rank_b.cmp(rank_a).then(a.created.cmp(&b.created)));
        if let Some((_, rule)) = best {
            let name = format!(
                "{namespace}/{}",
                rule.object.metadata.name.as_deref().unwrap_or_default()
            );
            let policy = rule.object.spec.traffic_policy.as_ref()?;
            let port_level = policy
                .port_level_settings
                .iter()
                .find(|setting| setting.port.number == u32::from(port))
                .and_then(|setting| setting.tls.as_ref());
            return port_level.or(policy.tls.as_ref()).map(|tls| (name, tls));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::resources::istio::{
        ClientTlsMode, DestinationRuleSpec, PortSelector, PortTrafficPolicy, TrafficPolicy,
    };

    fn tls(mode: ClientTlsMode) -> ClientTlsSettings {
        ClientTlsSettings {
            mode,
            client_certificate: None,
            private_key: None,
            ca_certificates: None,
            credential_name: None,
            subject_alt_names: vec![],
            sni: None,
            insecure_skip_verify: None,
        }
    }

    fn rule(
        namespace: &str,
        name: &str,
        host: &str,
        mode: ClientTlsMode,
        created: u64,
    ) -> Ordered<DestinationRule> {
        Ordered {
            created,
            object: DestinationRule {
                api_version: "networking.istio.io/v1".into(),
                kind: "DestinationRule".into(),
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some(namespace.into()),
                    ..Default::default()
                },
                spec: DestinationRuleSpec {
                    host: host.into(),
                    traffic_policy: Some(TrafficPolicy {
                        tls: Some(tls(mode)),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
        }
    }

    const FQDN: &str = "httpbin.foo.svc.cluster.local";

    fn lookup(
        rules: &[Ordered<DestinationRule>],
        client_namespace: &str,
        port: u16,
    ) -> Option<(String, ClientTlsMode)> {
        let labels = BTreeMap::new();
        let client = ClientContext {
            namespace: client_namespace,
            labels: &labels,
            root_namespace: "istio-system",
            dns_domain: "cluster.local",
        };
        client_tls(rules, client, "foo", FQDN, port).map(|(name, tls)| (name, tls.mode))
    }

    #[test]
    fn short_host_is_relative_to_rule_namespace() {
        let rules = [rule("foo", "dr", "httpbin", ClientTlsMode::Disable, 1)];
        assert_eq!(
            lookup(&rules, "bar", 8000),
            Some(("foo/dr".into(), ClientTlsMode::Disable))
        );
        let elsewhere = [rule("bar", "dr", "httpbin", ClientTlsMode::Disable, 1)];
        assert_eq!(
            lookup(&elsewhere, "bar", 8000),
            None,
            "httpbin in bar is another service"
        );
    }

    #[test]
    fn client_namespace_beats_service_namespace_beats_root() {
        let rules = [
            rule(
                "istio-system",
                "mesh",
                "*.local",
                ClientTlsMode::IstioMutual,
                1,
            ),
            rule("foo", "server-side", FQDN, ClientTlsMode::Simple, 2),
            rule("bar", "client-side", FQDN, ClientTlsMode::Disable, 3),
        ];
        assert_eq!(lookup(&rules, "bar", 8000).unwrap().0, "bar/client-side");
        assert_eq!(lookup(&rules, "baz", 8000).unwrap().0, "foo/server-side");
        assert_eq!(
            lookup(&rules[..1], "baz", 8000).unwrap().0,
            "istio-system/mesh"
        );
    }

    #[test]
    fn exact_host_beats_wildcard() {
        let rules = [
            rule(
                "foo",
                "wild",
                "*.foo.svc.cluster.local",
                ClientTlsMode::Disable,
                1,
            ),
            rule("foo", "exact", FQDN, ClientTlsMode::Simple, 2),
        ];
        assert_eq!(lookup(&rules, "foo", 8000).unwrap().0, "foo/exact");
    }

    #[test]
    fn port_level_settings_override() {
        let mut with_port = rule("foo", "dr", FQDN, ClientTlsMode::IstioMutual, 1);
        with_port
            .object
            .spec
            .traffic_policy
            .as_mut()
            .unwrap()
            .port_level_settings
            .push(PortTrafficPolicy {
                port: PortSelector { number: 8000 },
                tls: Some(tls(ClientTlsMode::Disable)),
                ..Default::default()
            });
        let rules = [with_port];
        assert_eq!(
            lookup(&rules, "foo", 8000).unwrap().1,
            ClientTlsMode::Disable
        );
        assert_eq!(
            lookup(&rules, "foo", 9000).unwrap().1,
            ClientTlsMode::IstioMutual
        );
    }

    #[test]
    fn export_to_dot_hides_rule_from_other_namespaces() {
        let mut private = rule("foo", "dr", FQDN, ClientTlsMode::Disable, 1);
        private.object.spec.export_to = Some(vec![".".into()]);
        let rules = [private];
        assert!(lookup(&rules, "bar", 8000).is_none());
        assert!(lookup(&rules, "foo", 8000).is_some());
    }
}
