//! Computes each sidecar's configuration from a snapshot of the cluster: the role of istiod's
//! push context. The same function serves the controller and tests; it performs no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use crate::cluster::ClusterState;
use crate::cluster::addressing::AddressPlan;
use crate::cluster::pods::PodInfo;
use crate::cluster::services::{AppProtocol, ServiceInfo, target_port_on};
use crate::identity::SpiffeId;
use crate::policy::Ordered;
use crate::policy::authz::AppliedPolicy;
use crate::policy::client_tls::{ClientContext, client_tls};
use crate::policy::peer_auth::{MtlsMode, effective_mtls};
use crate::policy::tsb;
use crate::resources::Resource;
use crate::resources::istio::{
    AuthorizationPolicy, ClientTlsMode, DestinationRule, PeerAuthentication,
};
use crate::xds::{InboundPort, OutboundService, ProxyConfig, UpstreamEndpoint, UpstreamTls};

/// Where listeners go: explicit addresses in-process, transparent capture in a pod network
/// namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerMode {
    /// Bind each listener on its own loopback address (pod address for inbound, an allocated
    /// address per service for outbound); the application listens on the pod's application
    /// address.
    Explicit,
    /// Traffic is redirected by iptables; listeners carry no address and the application
    /// listens on localhost.
    Transparent,
}

/// Every Istio policy in effect: what users applied plus what TSB settings generate.
#[derive(Clone, Debug, Default)]
pub struct IstioPolicies {
    /// PeerAuthentications.
    pub peer_authentications: Vec<Ordered<PeerAuthentication>>,
    /// AuthorizationPolicies.
    pub authorization_policies: Vec<Ordered<AuthorizationPolicy>>,
    /// DestinationRules.
    pub destination_rules: Vec<Ordered<DestinationRule>>,
}

impl IstioPolicies {
    /// Collects the policies of a cluster state, including TSB-generated ones.
    pub fn collect(state: &ClusterState) -> Self {
        let mut policies = Self::default();
        for (_, stored) in state.objects() {
            match &stored.resource {
                Resource::PeerAuthentication(policy) => {
                    policies.peer_authentications.push(Ordered {
                        created: stored.created,
                        object: policy.clone(),
                    })
                }
                Resource::AuthorizationPolicy(policy) => {
                    policies.authorization_policies.push(Ordered {
                        created: stored.created,
                        object: policy.clone(),
                    })
                }
                Resource::DestinationRule(rule) => policies.destination_rules.push(Ordered {
                    created: stored.created,
                    object: rule.clone(),
                }),
                _ => {}
            }
        }
        let generated = tsb::translate(state);
        policies
            .peer_authentications
            .extend(generated.peer_authentications);
        policies
            .authorization_policies
            .extend(generated.authorization_policies);
        policies
    }
}

/// The AuthorizationPolicies that apply to a pod: mesh-wide ones from the root namespace,
/// namespace-wide ones, and those whose selector matches it. A root-namespace policy with a
/// selector applies to matching pods in every namespace. A policy with `targetRef` or
/// `targetRefs` attaches to a gateway or waypoint, so it applies to no sidecar.
pub fn applicable_authorization(
    policies: &IstioPolicies,
    root_namespace: &str,
    pod: &PodInfo,
) -> Vec<AppliedPolicy> {
    let mut applied: Vec<&Ordered<AuthorizationPolicy>> = policies
        .authorization_policies
        .iter()
        .filter(|policy| {
            let namespace = policy
                .object
                .metadata
                .namespace
                .as_deref()
                .unwrap_or_default();
            let selector = policy
                .object
                .spec
                .selector
                .as_ref()
                .filter(|selector| !selector.is_empty());
            let in_scope = namespace == root_namespace || namespace == pod.namespace;
            in_scope
                && !policy.object.spec.has_target_refs()
                && selector.is_none_or(|selector| selector.matches(&pod.labels))
        })
        .collect();
    applied.sort_by(|a, b| {
        a.created
            .cmp(&b.created)
            .then(a.object.metadata.name.cmp(&b.object.metadata.name))
    });
    applied
        .into_iter()
        .map(|policy| AppliedPolicy {
            name: format!(
                "{}/{}",
                policy
                    .object
                    .metadata
                    .namespace
                    .as_deref()
                    .unwrap_or_default(),
                policy.object.metadata.name.as_deref().unwrap_or_default()
            ),
            action: policy.object.spec.action,
            rules: policy.object.spec.rules.clone(),
        })
        .collect()
}

/// The container ports a sidecar serves for a pod: every declared container port, plus
/// every service target port that resolves on the pod.
fn inbound_ports(state: &ClusterState, pod: &PodInfo) -> BTreeMap<u16, (AppProtocol, Vec<String>)> {
    let mut ports: BTreeMap<u16, (AppProtocol, Vec<String>)> = BTreeMap::new();
    for container in &pod.containers {
        for port in &container.ports {
            ports
                .entry(port.number)
                .or_insert((AppProtocol::Auto, Vec::new()));
        }
    }
    for service in state.services().filter(|service| service.selects(pod)) {
        for service_port in service.ports.iter().filter(|port| port.is_tcp) {
            let Some(target) = target_port_on(pod, &service_port.target) else {
                continue;
            };
            let entry = ports
                .entry(target)
                .or_insert((service_port.protocol, Vec::new()));
            if entry.1.is_empty() {
                entry.0 = service_port.protocol;
            } else if entry.0 != service_port.protocol {
                // Services disagree on the protocol: detect it per connection.
                entry.0 = AppProtocol::Auto;
            }
            entry.1.push(service.id());
        }
    }
    ports
}

fn hostnames(service: &ServiceInfo, dns_domain: &str) -> Vec<String> {
    vec![
        service.fqdn(dns_domain),
        format!("{}.{}.svc", service.name, service.namespace),
        format!("{}.{}", service.name, service.namespace),
        service.name.clone(),
    ]
}

/// A client pod's call to one service port, as [`upstream_tls`] judges it.
struct ServiceCall<'a> {
    client: &'a PodInfo,
    service: &'a ServiceInfo,
    port: u16,
    /// Identities of the service's ready endpoints, which mesh mTLS accepts from the server.
    identities: &'a [SpiffeId],
}

/// Decides the transport to one endpoint: an explicit DestinationRule TLS mode wins;
/// otherwise auto mTLS sends mesh mTLS to endpoints with a sidecar whose port is not DISABLE.
fn upstream_tls(
    state: &ClusterState,
    policies: &IstioPolicies,
    call: &ServiceCall<'_>,
    endpoint: &PodInfo,
    endpoint_port: u16,
) -> UpstreamTls {
    let ServiceCall {
        client,
        service,
        port,
        identities,
    } = *call;
    let config = state.config();
    let context = ClientContext {
        namespace: &client.namespace,
        labels: &client.labels,
        root_namespace: &config.root_namespace,
        dns_domain: &config.dns_domain,
    };
    if let Some((rule, settings)) = client_tls(
        &policies.destination_rules,
        context,
        &service.namespace,
        &service.fqdn(&config.dns_domain),
        port,
    ) {
        let reason = format!("DestinationRule {rule}");
        return match settings.mode {
            ClientTlsMode::Disable => UpstreamTls::Plaintext { reason },
            ClientTlsMode::IstioMutual => UpstreamTls::IstioMutual {
                identities: identities.to_vec(),
                reason,
            },
            ClientTlsMode::Simple => UpstreamTls::Simple {
                sni: settings.sni.clone(),
                reason,
            },
            ClientTlsMode::Mutual => UpstreamTls::Mutual {
                sni: settings.sni.clone(),
                reason,
            },
        };
    }
    if !endpoint.injected {
        return UpstreamTls::Plaintext {
            reason: "auto: destination has no sidecar".to_owned(),
        };
    }
    let server_mode = effective_mtls(
        &policies.peer_authentications,
        &config.root_namespace,
        &endpoint.namespace,
        &endpoint.labels,
        endpoint_port,
    );
    if server_mode.mode == MtlsMode::Disable {
        return UpstreamTls::Plaintext {
            reason: "auto: destination PeerAuthentication is DISABLE".to_owned(),
        };
    }
    UpstreamTls::IstioMutual {
        identities: identities.to_vec(),
        reason: "auto".to_owned(),
    }
}

/// Computes the configuration of an injected pod's sidecar.
pub fn proxy_config(
    state: &ClusterState,
    policies: &IstioPolicies,
    pod: &PodInfo,
    mode: ListenerMode,
) -> ProxyConfig {
    let config = state.config();
    let authorization = applicable_authorization(policies, &config.root_namespace, pod);
    let app_ip: IpAddr = match mode {
        ListenerMode::Explicit => AddressPlan::app_address(pod.ip).into(),
        ListenerMode::Transparent => IpAddr::from([127, 0, 0, 1]),
    };
    let inbound = inbound_ports(state, pod)
        .into_iter()
        .map(|(port, (protocol, services))| InboundPort {
            port,
            listen: (mode == ListenerMode::Explicit).then(|| SocketAddr::new(pod.ip.into(), port)),
            app: SocketAddr::new(app_ip, port),
            protocol,
            mtls: effective_mtls(
                &policies.peer_authentications,
                &config.root_namespace,
                &pod.namespace,
                &pod.labels,
                port,
            ),
            authorization: authorization.clone(),
            services,
        })
        .collect();

    let mut outbound = Vec::new();
    for service in state.services() {
        let members: Vec<&PodInfo> = state
            .pods()
            .filter(|candidate| candidate.is_ready() && service.selects(candidate))
            .collect();
        let identities: Vec<SpiffeId> = members
            .iter()
            .map(|member| state.identity_of(member))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let listen_ip = state
            .addresses()
            .existing_outbound(&pod.id(), &service.id());
        for service_port in service.ports.iter().filter(|port| port.is_tcp) {
            let call = ServiceCall {
                client: pod,
                service,
                port: service_port.port,
                identities: &identities,
            };
            let endpoints = members
                .iter()
                .filter_map(|member| {
                    let target = target_port_on(member, &service_port.target)?;
                    Some(UpstreamEndpoint {
                        address: SocketAddr::new(member.ip.into(), target),
                        pod: member.id(),
                        tls: upstream_tls(state, policies, &call, member, target),
                    })
                })
                .collect();
            let listen = match mode {
                ListenerMode::Explicit => {
                    listen_ip.map(|ip| SocketAddr::new(ip.into(), service_port.port))
                }
                ListenerMode::Transparent => None,
            };
            outbound.push(OutboundService {
                service: service.id(),
                hostnames: hostnames(service, &config.dns_domain),
                port: service_port.port,
                protocol: service_port.protocol,
                listen,
                endpoints,
            });
        }
    }
    ProxyConfig {
        pod: pod.id(),
        trust_domains: tsb::trust_domains(state),
        inbound,
        outbound,
    }
}

/// Configurations for every injected pod that has not failed, keyed by `namespace/name`.
pub fn all_proxy_configs(
    state: &ClusterState,
    mode: ListenerMode,
) -> BTreeMap<String, ProxyConfig> {
    let policies = IstioPolicies::collect(state);
    state
        .pods()
        .filter(|pod| pod.injected && pod.phase != crate::cluster::pods::PodPhase::Failed)
        .map(|pod| (pod.id(), proxy_config(state, &policies, pod, mode)))
        .collect()
}
