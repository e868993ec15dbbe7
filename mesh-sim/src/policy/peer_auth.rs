//! The effective PeerAuthentication mode of a workload port, by Istio's precedence: a
//! workload policy (port level first) over the namespace policy over the mesh policy in the
//! root namespace, UNSET inheriting from the next scope out, PERMISSIVE when nothing is set.
//! Where several policies compete at one scope, the oldest wins.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Ordered;
use crate::resources::istio::{PeerAuthentication, PeerAuthenticationMode};

/// The mode a server sidecar enforces on one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Mutual TLS only.
    Strict,
    /// Mutual TLS or plaintext.
    Permissive,
    /// Plaintext only.
    Disable,
}

/// The effective mode and the policy it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveMtls {
    /// The mode.
    pub mode: MtlsMode,
    /// `namespace/name` of the deciding policy; `None` for Istio's default.
    pub policy: Option<String>,
}

fn concrete(mode: PeerAuthenticationMode) -> Option<MtlsMode> {
    match mode {
        PeerAuthenticationMode::Unset => None,
        PeerAuthenticationMode::Disable => Some(MtlsMode::Disable),
        PeerAuthenticationMode::Permissive => Some(MtlsMode::Permissive),
        PeerAuthenticationMode::Strict => Some(MtlsMode::Strict),
    }
}

fn policy_name(policy: &PeerAuthentication) -> String {
    format!(
        "{}/{}",
        policy.metadata.namespace.as_deref().unwrap_or_default(),
        policy.metadata.name.as_deref().unwrap_or_default()
    )
}

fn has_selector(policy: &PeerAuthentication) -> bool {
    policy
        .spec
        .selector
        .as_ref()
        .is_some_and(|selector| !selector.is_empty())
}

/// The oldest policy among `candidates`, ties broken by name as the API server lists them.
fn oldest<'a>(
    candidates: impl Iterator<Item = &'a Ordered<PeerAuthentication>>,
) -> Option<&'a PeerAuthentication> {
    candidates
        .min_by(|a, b| {
            a.created
                .cmp(&b.created)
                .then_with(|| a.object.metadata.name.cmp(&b.object.metadata.name))
        })
        .map(|ordered| &ordered.object)
}

/// Computes the effective mode for container port `port` of a pod in `namespace` with
/// `labels`.
pub fn effective_mtls(
    policies: &[Ordered<PeerAuthentication>],
    root_namespace: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    port: u16,
) -> EffectiveMtls {
    fn in_namespace<'a>(
        policies: &'a [Ordered<PeerAuthentication>],
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Ordered<PeerAuthentication>> {
        policies
            .iter()
            .filter(move |policy| policy.object.metadata.namespace.as_deref() == Some(namespace))
    }
    let workload = oldest(in_namespace(policies, namespace).filter(|policy| {
        has_selector(&policy.object)
            && policy
                .object
                .spec
                .selector
                .as_ref()
                .is_some_and(|selector| selector.matches(labels))
    }));
    let namespace_wide =
        oldest(in_namespace(policies, namespace).filter(|policy| !has_selector(&policy.object)));
    let mesh_wide = oldest(
        in_namespace(policies, root_namespace).filter(|policy| !has_selector(&policy.object)),
    );

    let mut chain: Vec<(Option<MtlsMode>, &PeerAuthentication)> = Vec::new();
    if let Some(policy) = workload {
        // Port-level settings count only on policies with a selector, keyed by the container
        // port.
        let port_mode = policy
            .spec
            .port_level_mtls
            .get(&u32::from(port))
            .and_then(|mtls| concrete(mtls.mode));
        chain.push((port_mode, policy));
        chain.push((
            policy
                .spec
                .mtls
                .as_ref()
                .and_then(|mtls| concrete(mtls.mode)),
            policy,
        ));
    }
    for policy in [namespace_wide, mesh_wide].into_iter().flatten() {
        chain.push((
            policy
                .spec
                .mtls
                .as_ref()
                .and_then(|mtls| concrete(mtls.mode)),
            policy,
        ));
    }
    chain
        .into_iter()
        .find_map(|(mode, policy)| {
            mode.map(|mode| EffectiveMtls {
                mode,
                policy: Some(policy_name(policy)),
            })
        })
        .unwrap_or(EffectiveMtls {
            mode: MtlsMode::Permissive,
            policy: None,
        })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::resources::istio::{MutualTls, PeerAuthenticationSpec, WorkloadSelector};

    fn pa(
        namespace: &str,
        name: &str,
        created: u64,
        selector: Option<&[(&str, &str)]>,
        mode: Option<PeerAuthenticationMode>,
        ports: &[(u32, PeerAuthenticationMode)],
    ) -> Ordered<PeerAuthentication> {
        Ordered {
            created,
            object: PeerAuthentication {
                api_version: "security.istio.io/v1".into(),
                kind: "PeerAuthentication".into(),
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some(namespace.into()),
                    ..Default::default()
                },
                spec: PeerAuthenticationSpec {
                    selector: selector.map(|labels| WorkloadSelector {
                        match_labels: labels
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                            .collect(),
                    }),
                    mtls: mode.map(|mode| MutualTls { mode }),
                    port_level_mtls: ports
                        .iter()
                        .map(|(port, mode)| (*port, MutualTls { mode: *mode }))
                        .collect(),
                },
            },
        }
    }

    fn labels(app: &str) -> BTreeMap<String, String> {
        [("app".to_owned(), app.to_owned())].into()
    }

    use PeerAuthenticationMode::{Disable, Permissive, Strict, Unset};

    #[test]
    fn precedence_table() {
        struct Case {
            name: &'static str,
            policies: Vec<Ordered<PeerAuthentication>>,
            port: u16,
            expected: MtlsMode,
            from: Option<&'static str>,
        }
        let cases = vec![
            Case {
                name: "nothing set",
                policies: vec![],
                port: 80,
                expected: MtlsMode::Permissive,
                from: None,
            },
            Case {
                name: "mesh strict",
                policies: vec![pa("istio-system", "default", 1, None, Some(Strict), &[])],
                port: 80,
                expected: MtlsMode::Strict,
                from: Some("istio-system/default"),
            },
            Case {
                name: "namespace overrides mesh",
                policies: vec![
                    pa("istio-system", "default", 1, None, Some(Strict), &[]),
                    pa("foo", "default", 2, None, Some(Permissive), &[]),
                ],
                port: 80,
                expected: MtlsMode::Permissive,
                from: Some("foo/default"),
            },
            Case {
                name: "namespace unset inherits mesh",
                policies: vec![
                    pa("istio-system", "default", 1, None, Some(Strict), &[]),
                    pa("foo", "default", 2, None, Some(Unset), &[]),
                ],
                port: 80,
                expected: MtlsMode::Strict,
                from: Some("istio-system/default"),
            },
            Case {
                name: "workload overrides namespace",
                policies: vec![
                    pa("foo", "default", 1, None, Some(Strict), &[]),
                    pa(
                        "foo",
                        "httpbin",
                        2,
                        Some(&[("app", "httpbin")]),
                        Some(Disable),
                        &[],
                    ),
                ],
                port: 80,
                expected: MtlsMode::Disable,
                from: Some("foo/httpbin"),
            },
            Case {
                name: "workload policy for another app does not apply",
                policies: vec![
                    pa("foo", "default", 1, None, Some(Strict), &[]),
                    pa(
                        "foo",
                        "other",
                        2,
                        Some(&[("app", "other")]),
                        Some(Disable),
                        &[],
                    ),
                ],
                port: 80,
                expected: MtlsMode::Strict,
                from: Some("foo/default"),
            },
            Case {
                name: "port level overrides workload mode",
                policies: vec![pa(
                    "foo",
                    "httpbin",
                    1,
                    Some(&[("app", "httpbin")]),
                    Some(Strict),
                    &[(80, Disable)],
                )],
                port: 80,
                expected: MtlsMode::Disable,
                from: Some("foo/httpbin"),
            },
            Case {
                name: "port level for another port",
                policies: vec![pa(
                    "foo",
                    "httpbin",
                    1,
                    Some(&[("app", "httpbin")]),
                    Some(Strict),
                    &[(8080, Disable)],
                )],
                port: 80,
                expected: MtlsMode::Strict,
                from: Some("foo/httpbin"),
            },
            Case {
                name: "port level with unset workload mode inherits namespace elsewhere",
                policies: vec![
                    pa("foo", "default", 1, None, Some(Strict), &[]),
                    pa(
                        "foo",
                        "httpbin",
                        2,
                        Some(&[("app", "httpbin")]),
                        None,
                        &[(9000, Permissive)],
                    ),
                ],
                port: 80,
                expected: MtlsMode::Strict,
                from: Some("foo/default"),
            },
            Case {
                name: "port level ignored without selector",
                policies: vec![pa(
                    "foo",
                    "default",
                    1,
                    None,
                    Some(Strict),
                    &[(80, Disable)],
                )],
                port: 80,
                expected: MtlsMode::Strict,
                from: Some("foo/default"),
            },
            Case {
                name: "oldest namespace policy wins",
                policies: vec![
                    pa("foo", "newer", 5, None, Some(Permissive), &[]),
                    pa("foo", "older", 3, None, Some(Strict), &[]),
                ],
                port: 80,
                expected: MtlsMode::Strict,
                from: Some("foo/older"),
            },
            Case {
                name: "selector policy in root namespace is not mesh-wide",
                policies: vec![pa(
                    "istio-system",
                    "sel",
                    1,
                    Some(&[("app", "httpbin")]),
                    Some(Strict),
                    &[],
                )],
                port: 80,
                expected: MtlsMode::Permissive,
                from: None,
            },
        ];
        for case in cases {
            let result = effective_mtls(
                &case.policies,
                "istio-system",
                "foo",
                &labels("httpbin"),
                case.port,
            );
            assert_eq!(result.mode, case.expected, "{}: mode", case.name);
            assert_eq!(
                result.policy.as_deref(),
                case.from,
                "{}: deciding policy",
                case.name
            );
        }
    }
}
