//! Pods: created from Deployment templates or applied directly, with the sidecar injection
//! decision made once, at creation, as Istio's admission webhook does.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use serde::{Deserialize, Serialize};

/// Namespace label that turns injection on (`enabled`) or off (`disabled`).
pub const INJECTION_NAMESPACE_LABEL: &str = "istio-injection";
/// Namespace label selecting a revisioned control plane.
pub const REVISION_LABEL: &str = "istio.io/rev";
/// Pod label (and legacy annotation) that opts a pod in (`true`) or out (`false`).
pub const INJECTION_POD_LABEL: &str = "sidecar.istio.io/inject";
/// Label the injector puts on injected pods; clients send mTLS to endpoints that carry it.
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
/// Namespaces the injector never touches.
const NEVER_INJECTED: &[&str] = &["kube-system", "kube-public"];
/// The only control plane revision the in-process mesh runs.
pub const DEFAULT_REVISION: &str = "default";

/// A container port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    /// Port name, if any.
    pub name: Option<String>,
    /// Port number.
    pub number: u16,
}

/// The parts of a container the in-process backend uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Container name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Declared TCP ports.
    pub ports: Vec<PortInfo>,
    /// `command`.
    pub command: Vec<String>,
    /// `args`.
    pub args: Vec<String>,
    /// Literal `env` values.
    pub env: BTreeMap<String, String>,
}

/// Lifecycle of a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    /// Created; its app and sidecar are starting.
    Pending,
    /// App listening and, for injected pods, the sidecar acknowledged its configuration.
    Ready,
    /// Start-up failed; the message is in `PodInfo::failure`.
    Failed,
}

/// Who created a pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodOwner {
    /// The owning Deployment.
    pub deployment: String,
    /// Hash of the template the pod was created from (Kubernetes' `pod-template-hash`).
    pub template_hash: String,
}

/// A pod as the mesh sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels, including `security.istio.io/tlsMode=istio` once injected.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// The Deployment that created it, if any.
    pub owner: Option<PodOwner>,
    /// Service account (`default` when the spec names none).
    pub service_account: String,
    /// Whether a sidecar was injected at creation.
    pub injected: bool,
    /// The pod address.
    pub ip: Ipv4Addr,
    /// Containers.
    pub containers: Vec<ContainerInfo>,
    /// Lifecycle phase.
    pub phase: PodPhase,
    /// Why start-up failed, when `phase` is `Failed`.
    pub failure: Option<String>,
    /// Creation order within the mesh instance.
    pub created: u64,
}

impl PodInfo {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether the pod serves traffic.
    pub fn is_ready(&self) -> bool {
        self.phase == PodPhase::Ready
    }
}

/// Decides injection from the namespace labels and the pod's labels and annotations, by the
/// rules of Istio's injection webhook: an explicit "off" on either side wins, then an explicit
/// "on" on either side; nothing explicit means no sidecar.
pub fn injection_decision(
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
    pod_labels: &BTreeMap<String, String>,
    pod_annotations: &BTreeMap<String, String>,
    host_network: bool,
) -> bool {
    if host_network || NEVER_INJECTED.contains(&namespace) {
        return false;
    }
    let namespace_setting = match namespace_labels
        .get(INJECTION_NAMESPACE_LABEL)
        .map(String::as_str)
    {
        Some("enabled") => Some(true),
        Some("disabled") => Some(false),
        Some(_) => None,
        // The revision label counts only when `istio-injection` is absent, and only for the
        // revision this control plane serves.
        None => namespace_labels
            .get(REVISION_LABEL)
            .map(|revision| revision == DEFAULT_REVISION),
    };
    // The label wins over the legacy annotation.
    let pod_setting = pod_labels
        .get(INJECTION_POD_LABEL)
        .or_else(|| pod_annotations.get(INJECTION_POD_LABEL))
        .and_then(|value| match value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
    if namespace_setting == Some(false) || pod_setting == Some(false) {
        return false;
    }
    namespace_setting == Some(true) || pod_setting == Some(true)
}

/// Extracts the containers of a pod spec.
pub fn containers_of(spec: &PodSpec) -> Vec<ContainerInfo> {
    spec.containers
        .iter()
        .map(|container| ContainerInfo {
            name: container.name.clone(),
            image: container.image.clone().unwrap_or_default(),
            ports: container
                .ports
                .iter()
                .flatten()
                .filter(|port| {
                    port.protocol
                        .as_deref()
                        .is_none_or(|protocol| protocol.eq_ignore_ascii_case("TCP"))
                })
                .filter_map(|port| {
                    Some(PortInfo {
                        name: port.name.clone(),
                        number: u16::try_from(port.container_port).ok()?,
                    })
                })
                .collect(),
            command: container.command.clone().unwrap_or_default(),
            args: container.args.clone().unwrap_or_default(),
            env: container
                .env
                .iter()
                .flatten()
                .filter_map(|var| Some((var.name.clone(), var.value.clone()?)))
                .collect(),
        })
        .collect()
}

/// Alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alike digits).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Encodes `value` in Kubernetes' safe alphabet, `length` characters.
pub fn safe_encode(mut value: u64, length: usize) -> String {
    let base = NAME_ALPHABET.len() as u64;
    (0..length)
        .map(|_| {
            let character = NAME_ALPHABET[(value % base) as usize] as char;
            value /= base;
            character
        })
        .collect()
}

/// FNV-1a, used for template hashes and name suffixes so names are stable across runs.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The `pod-template-hash` of a Deployment template.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let encoded = serde_json::to_vec(template).unwrap_or_default();
    safe_encode(fnv1a(&encoded), 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn injection_follows_istio_webhook_rules() {
        let none = labels(&[]);
        let ns_on = labels(&[("istio-injection", "enabled")]);
        let ns_off = labels(&[("istio-injection", "disabled")]);
        let ns_rev = labels(&[("istio.io/rev", "default")]);
        let ns_other_rev = labels(&[("istio.io/rev", "canary")]);
        let ns_both = labels(&[("istio-injection", "disabled"), ("istio.io/rev", "default")]);
        let pod_on = labels(&[("sidecar.istio.io/inject", "true")]);
        let pod_off = labels(&[("sidecar.istio.io/inject", "false")]);
        struct Case<'a> {
            namespace: &'a str,
            namespace_labels: &'a BTreeMap<String, String>,
            pod_labels: &'a BTreeMap<String, String>,
            pod_annotations: &'a BTreeMap<String, String>,
            host_network: bool,
            expected: bool,
        }
        let case =
            |namespace, namespace_labels, pod_labels, pod_annotations, host_network, expected| {
                Case {
                    namespace,
                    namespace_labels,
                    pod_labels,
                    pod_annotations,
                    host_network,
                    expected,
                }
            };
        let cases = [
            case("app", &none, &none, &none, false, false),
            case("app", &ns_on, &none, &none, false, true),
            case("app", &ns_off, &none, &none, false, false),
            case("app", &ns_on, &pod_off, &none, false, false),
            case("app", &ns_off, &pod_on, &none, false, false),
            case("app", &none, &pod_on, &none, false, true),
            case("app", &none, &none, &pod_on, false, true),
            case("app", &ns_on, &none, &pod_off, false, false),
            case("app", &none, &pod_on, &pod_off, false, true),
            case("app", &ns_rev, &none, &none, false, true),
            case("app", &ns_other_rev, &none, &none, false, false),
            case("app", &ns_both, &none, &none, false, false),
            case("app", &ns_on, &none, &none, true, false),
            case("kube-system", &ns_on, &pod_on, &none, false, false),
        ];
        for Case {
            namespace,
            namespace_labels,
            pod_labels,
            pod_annotations,
            host_network,
            expected,
        } in cases
        {
            assert_eq!(
                injection_decision(
                    namespace,
                    namespace_labels,
                    pod_labels,
                    pod_annotations,
                    host_network
                ),
                expected,
                "namespace {namespace} {namespace_labels:?}, pod labels {pod_labels:?}, \
                 annotations {pod_annotations:?}, hostNetwork {host_network}"
            );
        }
    }
    #[test]
    fn safe_encode_uses_kubernetes_alphabet() {
        let encoded = safe_encode(fnv1a(b"sleep"), 10);
        assert_eq!(encoded.len(), 10);
        assert!(
            encoded.bytes().all(|byte| NAME_ALPHABET.contains(&byte)),
            "{encoded}"
        );
    }
}
