//! The cluster model: the stored resources (the role of the Kubernetes API server and the TSB
//! management plane), the pods that Deployments create, service addresses and DNS.
//!
//! Every change goes through [`ClusterStore::update`], which applies it to a copy of the state
//! and publishes the copy only when the whole change succeeded, so a failed step leaves
//! nothing half-applied.

pub mod addressing;
pub mod dns;
mod error;
pub mod pods;
pub mod services;
mod tsb;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::identity::{DEFAULT_TRUST_DOMAIN, SpiffeId};
use crate::resources::{Resource, ResourceKey, ResourceKind, Scope};

use self::addressing::AddressPlan;
pub use self::error::ClusterError;
use self::pods::{
    PodInfo, PodOwner, PodPhase, TLS_MODE_LABEL, containers_of, fnv1a, injection_decision,
    safe_encode, template_hash,
};
use self::services::{Endpoint, ServiceInfo, target_port_on};

/// Annotation `kubectl rollout restart` sets on a Deployment's pod template.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// Namespaces every Kubernetes cluster with Istio has before anything is applied.
pub const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "istio-system"];

/// Namespaces whose deletion the Kubernetes API server rejects. `istio-system` is not among them.
pub const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Cluster-wide settings of one mesh instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Cluster name, used in TSB namespace selectors (`<cluster>/<namespace>`).
    pub name: String,
    /// SPIFFE trust domain of the cluster's workloads.
    pub trust_domain: String,
    /// Istio's root namespace, where a PeerAuthentication applies mesh-wide.
    pub root_namespace: String,
    /// Kubernetes DNS domain.
    pub dns_domain: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            name: "cluster-1".to_owned(),
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
            root_namespace: "istio-system".to_owned(),
            dns_domain: "cluster.local".to_owned(),
        }
    }
}

/// A stored object with the bookkeeping the API server adds.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredObject {
    /// The object as applied (with the defaulted namespace).
    pub resource: Resource,
    /// Creation order; Istio's "oldest wins" rules compare this.
    pub created: u64,
}

/// Labels to change on an object, as `kubectl label` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelChange {
    /// Labels to add or overwrite.
    pub set: BTreeMap<String, String>,
    /// Labels to remove.
    pub remove: Vec<String>,
}

/// The complete state of one in-process cluster.
#[derive(Clone, Debug)]
pub struct ClusterState {
    config: ClusterConfig,
    objects: BTreeMap<ResourceKey, StoredObject>,
    services: BTreeMap<String, ServiceInfo>,
    pods: BTreeMap<String, PodInfo>,
    addresses: AddressPlan,
    sequence: u64,
}

impl ClusterState {
    /// An empty cluster using address block `127.<block>.0.0/16`.
    pub fn new(config: ClusterConfig, block: u8) -> Self {
        Self {
            config,
            objects: BTreeMap::new(),
            services: BTreeMap::new(),
            pods: BTreeMap::new(),
            addresses: AddressPlan::new(block),
            sequence: 0,
        }
    }

    /// Creates a cluster using address block `127.<block>.0.0/16` that holds the namespaces
    /// every Kubernetes cluster with Istio has before anything is applied,
    /// [`INITIAL_NAMESPACES`].
    pub fn with_initial_namespaces(config: ClusterConfig, block: u8) -> Result<Self, ClusterError> {
        let mut state = Self::new(config, block);
        let namespaces = INITIAL_NAMESPACES
            .iter()
            .map(|name| {
                Resource::Namespace(k8s_openapi::api::core::v1::Namespace {
                    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                        name: Some((*name).to_owned()),
                        ..Default::default()
                    },
                    ..Default::default()
                })
            })
            .collect();
        state.apply(namespaces)?;
        Ok(state)
    }

    /// Cluster-wide settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The address plan.
    pub fn addresses(&self) -> &AddressPlan {
        &self.addresses
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Every stored object, ordered by key.
    pub fn objects(&self) -> impl Iterator<Item = (&ResourceKey, &StoredObject)> {
        self.objects.iter()
    }

    /// Stored objects of one kind.
    pub fn objects_of(
        &self,
        kind: ResourceKind,
    ) -> impl Iterator<Item = (&ResourceKey, &StoredObject)> {
        self.objects.iter().filter(move |(key, _)| key.kind == kind)
    }

    /// A stored object.
    pub fn object(&self, key: &ResourceKey) -> Option<&StoredObject> {
        self.objects.get(key)
    }

    /// Namespace names.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.objects_of(ResourceKind::Namespace)
            .map(|(key, _)| key.name.as_str())
    }

    /// A namespace's labels, or `None` when it does not exist.
    pub fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        let key = ResourceKey {
            kind: ResourceKind::Namespace,
            scope: Scope::Cluster,
            name: namespace.to_owned(),
        };
        self.objects.get(&key).map(|stored| {
            stored
                .resource
                .object_meta()
                .and_then(|meta| meta.labels.clone())
                .unwrap_or_default()
        })
    }

    /// Services by `namespace/name`.
    pub fn services(&self) -> impl Iterator<Item = &ServiceInfo> {
        self.services.values()
    }

    /// A service by namespace and name.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceInfo> {
        self.services.get(&format!("{namespace}/{name}"))
    }

    /// Pods by `namespace/name`.
    pub fn pods(&self) -> impl Iterator<Item = &PodInfo> {
        self.pods.values()
    }

    /// A pod by `namespace/name`.
    pub fn pod(&self, id: &str) -> Option<&PodInfo> {
        self.pods.get(id)
    }

    /// The pod that owns `ip`, if any.
    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<&PodInfo> {
        self.pods.values().find(|pod| pod.ip == ip)
    }

    /// The SPIFFE identity of a pod.
    pub fn identity_of(&self, pod: &PodInfo) -> SpiffeId {
        SpiffeId::new(
            &self.config.trust_domain,
            &pod.namespace,
            &pod.service_account,
        )
    }

    /// Ready endpoints of a service port.
    pub fn endpoints(&self, service: &ServiceInfo, port: u16) -> Vec<Endpoint> {
        let Some(service_port) = service.port(port) else {
            return Vec::new();
        };
        self.pods
            .values()
            .filter(|pod| pod.is_ready() && service.selects(pod))
            .filter_map(|pod| {
                let target = target_port_on(pod, &service_port.target)?;
                Some(Endpoint {
                    pod: pod.id(),
                    address: std::net::SocketAddrV4::new(pod.ip, target),
                    injected: pod.injected,
                    service_account: pod.service_account.clone(),
                })
            })
            .collect()
    }

    /// Applies objects in order, as `kubectl apply -f` does with a multi-document file.
    pub fn apply(&mut self, resources: Vec<Resource>) -> Result<Vec<ResourceKey>, ClusterError> {
        let mut keys = Vec::with_capacity(resources.len());
        for resource in resources {
            keys.push(self.apply_one(resource)?);
        }
        self.reconcile()?;
        Ok(keys)
    }

    fn apply_one(&mut self, resource: Resource) -> Result<ResourceKey, ClusterError> {
        let key = resource.key()?;
        self.check_parent_exists(&key)?;
        tsb::check_group_within_workspace(self, &key, &resource)?;
        tsb::check_workspace_claims(self, &key, &resource)?;
        if key.kind == ResourceKind::Pod
            && let Some(existing) = self.objects.get(&key)
            && let (Resource::Pod(old), Resource::Pod(new)) = (&existing.resource, &resource)
            && old.spec != new.spec
        {
            return Err(ClusterError::PodSpecChanged(key.to_string()));
        }
        let created = match self.objects.get(&key) {
            Some(existing) => existing.created,
            None => self.next_sequence(),
        };
        if let Resource::Service(service) = &resource {
            let id = format!("{}/{}", key_namespace(&key), key.name);
            let cluster_ip = match self.services.get(&id) {
                Some(existing) => existing.cluster_ip,
                None => self.addresses.allocate_service()?,
            };
            self.services
                .insert(id, ServiceInfo::from_service(service, cluster_ip));
        }
        self.objects
            .insert(key.clone(), StoredObject { resource, created });
        Ok(key)
    }

    fn check_parent_exists(&self, key: &ResourceKey) -> Result<(), ClusterError> {
        match &key.scope {
            Scope::Namespace(namespace) if self.namespace_labels(namespace).is_none() => {
                return Err(ClusterError::NamespaceNotFound {
                    namespace: namespace.clone(),
                    key: key.to_string(),
                });
            }
            Scope::Tsb(parent) if !parent.is_empty() => {
                let exists = self.objects.keys().any(|candidate| {
                    crate::resources::tsb_fqn(candidate).as_deref() == Some(parent.as_str())
                });
                if !exists {
                    return Err(ClusterError::ParentNotFound {
                        parent: parent.clone(),
                        key: key.to_string(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Deletes objects. Deleting a namespace deletes everything in it; deleting a TSB object
    /// deletes its children, as `tctl delete` does.
    pub fn delete(&mut self, keys: &[ResourceKey]) -> Result<(), ClusterError> {
        if let Some(key) = keys.iter().find(|key| {
            key.kind == ResourceKind::Namespace && PROTECTED_NAMESPACES.contains(&key.name.as_str())
        }) {
            return Err(ClusterError::ProtectedNamespace(key.name.clone()));
        }
        for key in keys {
            if self.objects.remove(key).is_none() {
                return Err(ClusterError::NotFound(key.to_string()));
            }
            match key.kind {
                ResourceKind::Namespace => {
                    let namespace = Scope::Namespace(key.name.clone());
                    self.objects
                        .retain(|candidate, _| candidate.scope != namespace);
                    self.services
                        .retain(|_, service| service.namespace != key.name);
                }
                ResourceKind::Service => {
                    self.services
                        .remove(&format!("{}/{}", key_namespace(key), key.name));
                }
                kind if kind.is_tsb() => {
                    if let Some(fqn) = crate::resources::tsb_fqn(key) {
                        let prefix = format!("{fqn}/");
                        self.objects.retain(|candidate, _| match &candidate.scope {
                            Scope::Tsb(parent) => parent != &fqn && !parent.starts_with(&prefix),
                            _ => true,
                        });
                    }
                }
                _ => {}
            }
        }
        self.reconcile()
    }

    /// Changes labels on a namespace, deployment, pod or service.
    pub fn label(&mut self, key: &ResourceKey, change: &LabelChange) -> Result<(), ClusterError> {
        if key.kind == ResourceKind::Pod && !self.objects.contains_key(key) {
            // Pods created by a Deployment are not stored objects; label the live pod.
            let id = format!("{}/{}", key_namespace(key), key.name);
            let pod = self
                .pods
                .get_mut(&id)
                .ok_or_else(|| ClusterError::NotFound(key.to_string()))?;
            apply_label_change(&mut pod.labels, change);
            return self.reconcile();
        }
        let stored = self
            .objects
            .get_mut(key)
            .ok_or_else(|| ClusterError::NotFound(key.to_string()))?;
        match stored.resource.object_meta_mut() {
            Some(meta) => apply_label_change(meta.labels.get_or_insert_with(BTreeMap::new), change),
            None => return Err(ClusterError::NotFound(key.to_string())),
        }
        if let Resource::Pod(pod) = &stored.resource {
            let id = format!("{}/{}", key_namespace(key), key.name);
            if let Some(live) = self.pods.get_mut(&id) {
                live.labels = pod.metadata.labels.clone().unwrap_or_default();
            }
        }
        if let Resource::Service(service) = &stored.resource {
            let id = format!("{}/{}", key_namespace(key), key.name);
            if let Some(existing) = self.services.get(&id) {
                let info = ServiceInfo::from_service(service, existing.cluster_ip);
                self.services.insert(id, info);
            }
        }
        self.reconcile()
    }

    /// Restarts a Deployment's pods, as `kubectl rollout restart` does: the template gets a new
    /// `restartedAt` annotation, so every pod is re-created (and the injection decision made
    /// again).
    pub fn rollout_restart(
        &mut self,
        key: &ResourceKey,
        restarted_at: &str,
    ) -> Result<(), ClusterError> {
        let stored = self
            .objects
            .get_mut(key)
            .ok_or_else(|| ClusterError::NotFound(key.to_string()))?;
        let Resource::Deployment(deployment) = &mut stored.resource else {
            return Err(ClusterError::NotFound(key.to_string()));
        };
        deployment
            .spec
            .template
            .metadata
            .get_or_insert_with(Default::default)
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(RESTARTED_AT_ANNOTATION.to_owned(), restarted_at.to_owned());
        self.reconcile()
    }

    /// Records the start-up result of a pod.
    pub fn set_pod_phase(&mut self, id: &str, phase: PodPhase, failure: Option<String>) {
        if let Some(pod) = self.pods.get_mut(id) {
            pod.phase = phase;
            pod.failure = failure;
        }
    }

    /// Brings pods in line with Deployments and bare Pod objects, and allocates the outbound
    /// listener address of every injected pod for every service.
    fn reconcile(&mut self) -> Result<(), ClusterError> {
        let mut desired: BTreeMap<String, ()> = BTreeMap::new();
        let deployments: Vec<(ResourceKey, Deployment)> = self
            .objects_of(ResourceKind::Deployment)
            .filter_map(|(key, stored)| match &stored.resource {
                Resource::Deployment(deployment) => Some((key.clone(), deployment.clone())),
                _ => None,
            })
            .collect();
        for (key, deployment) in deployments {
            for id in self.reconcile_deployment(&key, &deployment)? {
                desired.insert(id, ());
            }
        }
        let bare_pods: Vec<(ResourceKey, k8s_openapi::api::core::v1::Pod)> = self
            .objects_of(ResourceKind::Pod)
            .filter_map(|(key, stored)| match &stored.resource {
                Resource::Pod(pod) => Some((key.clone(), pod.clone())),
                _ => None,
            })
            .collect();
        for (key, pod) in bare_pods {
            let id = format!("{}/{}", key_namespace(&key), key.name);
            if !self.pods.contains_key(&id) {
                let template = PodTemplateSpec {
                    metadata: Some(pod.metadata.clone()),
                    spec: pod.spec.clone(),
                };
                self.create_pod(key_namespace(&key), &key.name, &template, None)?;
            }
            desired.insert(id, ());
        }
        let removed: Vec<String> = self
            .pods
            .keys()
            .filter(|id| !desired.contains_key(*id))
            .cloned()
            .collect();
        for id in removed {
            self.pods.remove(&id);
            self.addresses.release_pod(&id);
        }
        self.allocate_outbound_addresses()
    }

    /// Creates and deletes a Deployment's pods so that `replicas` pods of the current template
    /// exist. Returns the ids of the pods it keeps.
    fn reconcile_deployment(
        &mut self,
        key: &ResourceKey,
        deployment: &Deployment,
    ) -> Result<Vec<String>, ClusterError> {
        let namespace = key_namespace(key).to_owned();
        let spec = deployment.spec.clone();
        let replicas = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
        let hash = template_hash(&spec.template);
        let mut current: Vec<String> = self
            .pods
            .values()
            .filter(|pod| {
                pod.namespace == namespace
                    && pod.owner.as_ref().is_some_and(|owner| {
                        owner.deployment == key.name && owner.template_hash == hash
                    })
            })
            .map(PodInfo::id)
            .collect();
        current.truncate(replicas);
        while current.len() < replicas {
            let sequence = self.sequence + 1;
            let suffix = safe_encode(
                fnv1a(format!("{namespace}/{}/{sequence}", key.name).as_bytes()),
                5,
            );
            let name = format!("{}-{hash}-{suffix}", key.name);
            let owner = PodOwner {
                deployment: key.name.clone(),
                template_hash: hash.clone(),
            };
            current.push(self.create_pod(&namespace, &name, &spec.template, Some(owner))?);
        }
        Ok(current)
    }

    fn create_pod(
        &mut self,
        namespace: &str,
        name: &str,
        template: &PodTemplateSpec,
        owner: Option<PodOwner>,
    ) -> Result<String, ClusterError> {
        let metadata = template.metadata.clone().unwrap_or_default();
        let spec = template.spec.clone().unwrap_or_default();
        let mut labels = metadata.labels.unwrap_or_default();
        let annotations = metadata.annotations.unwrap_or_default();
        if let Some(owner) = &owner {
            labels.insert("pod-template-hash".to_owned(), owner.template_hash.clone());
        }
        let namespace_labels = self.namespace_labels(namespace).unwrap_or_default();
        let injected = injection_decision(
            namespace,
            &namespace_labels,
            &labels,
            &annotations,
            spec.host_network.unwrap_or(false),
        );
        if injected {
            labels.insert(TLS_MODE_LABEL.to_owned(), "istio".to_owned());
        }
        let service_account = spec
            .service_account_name
            .clone()
            .filter(|account| !account.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let pod = PodInfo {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            labels,
            annotations,
            owner,
            service_account,
            injected,
            ip: self.addresses.allocate_pod()?,
            containers: containers_of(&spec),
            phase: PodPhase::Pending,
            failure: None,
            created: self.next_sequence(),
        };
        let id = pod.id();
        self.pods.insert(id.clone(), pod);
        Ok(id)
    }

    fn allocate_outbound_addresses(&mut self) -> Result<(), ClusterError> {
        let injected: Vec<String> = self
            .pods
            .values()
            .filter(|pod| pod.injected)
            .map(PodInfo::id)
            .collect();
        let services: Vec<String> = self.services.keys().cloned().collect();
        for pod in &injected {
            for service in &services {
                self.addresses.outbound(pod, service)?;
            }
        }
        Ok(())
    }
}

fn key_namespace(key: &ResourceKey) -> &str {
    match &key.scope {
        Scope::Namespace(namespace) => namespace,
        _ => "",
    }
}

fn apply_label_change(labels: &mut BTreeMap<String, String>, change: &LabelChange) {
    for key in &change.remove {
        labels.remove(key);
    }
    for (key, value) in &change.set {
        labels.insert(key.clone(), value.clone());
    }
}

/// Shared, versioned access to a [`ClusterState`]. Readers take cheap snapshots; writers
/// publish a new state atomically and wake every subscriber.
#[derive(Debug)]
pub struct ClusterStore {
    state: RwLock<Arc<ClusterState>>,
    revision: watch::Sender<u64>,
}

impl ClusterStore {
    /// Wraps an initial state.
    pub fn new(state: ClusterState) -> Self {
        Self {
            state: RwLock::new(Arc::new(state)),
            revision: watch::Sender::new(0),
        }
    }

    /// The current state.
    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Applies `change` to a copy of the state and publishes the copy only if it succeeds.
    pub fn update<R, E>(
        &self,
        change: impl FnOnce(&mut ClusterState) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = ClusterState::clone(&guard);
        let result = change(&mut next)?;
        *guard = Arc::new(next);
        // Bump the revision before other threads can read the new state, so that a reader who
        // sees this state also sees its revision. `Mesh::wait_ready` compares revisions to
        // tell whether the cluster changed while it waited, which needs that guarantee.
        self.revision.send_modify(|revision| *revision += 1);
        drop(guard);
        Ok(result)
    }

    /// A receiver that changes whenever the state does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }
}

#[cfg(test)]
mod tests;
