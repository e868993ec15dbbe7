//! The kubelet of the in-process mesh: starts each pod's applications and, for injected pods,
//! its sidecar, marks the pod ready once both run, and stops them when the pod goes away.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::network::MeshPodNetwork;
use crate::apps::{self, AppContext, AppKind, RunningApp};
use crate::cluster::addressing::AddressPlan;
use crate::cluster::pods::{PodInfo, PodPhase};
use crate::cluster::{ClusterState, ClusterStore};
use crate::proxy::{Bootstrap, ControlPlane, Sidecar};
use crate::resources::{ResourceKey, ResourceKind, Scope};
use crate::token::TokenAuthority;

/// Lifetime of pod tokens; pods of an in-process mesh live no longer than its test.
const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Shared inputs for starting pods: token issuer, control plane and sidecar limits.
#[derive(Debug)]
pub struct StartContext {
    /// Issues the pods' tokens.
    pub tokens: Arc<TokenAuthority>,
    /// The control plane the sidecars talk to.
    pub control_plane: ControlPlane,
    /// Requested workload certificate lifetime.
    pub certificate_ttl: Option<Duration>,
    /// Limit for a sidecar's start-up.
    pub startup_timeout: Duration,
}

/// A pod whose processes run.
struct RunningPod {
    apps: Vec<RunningApp>,
    sidecar: Option<Sidecar>,
}

impl RunningPod {
    async fn stop(self) {
        for app in self.apps {
            app.stop().await;
        }
        if let Some(sidecar) = self.sidecar {
            sidecar.shutdown().await;
        }
    }
}

/// What a pod was, kept after it is deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSummary {
    /// Namespace.
    pub namespace: String,
    /// The Deployment that owns the pod, or the pod's own name for a bare pod.
    pub workload: String,
    /// Whether a Deployment owns the pod.
    pub deployment: bool,
    /// Whether the pod had a sidecar.
    pub injected: bool,
    /// The pod's service account.
    pub service_account: String,
}

impl PodSummary {
    fn of(pod: &PodInfo) -> Self {
        Self {
            namespace: pod.namespace.clone(),
            workload: pod
                .owner
                .as_ref()
                .map_or_else(|| pod.name.clone(), |owner| owner.deployment.clone()),
            deployment: pod.owner.is_some(),
            injected: pod.injected,
            service_account: pod.service_account.clone(),
        }
    }
}

/// Starts and stops the processes of every pod in the store.
pub struct PodRuntime {
    store: Arc<ClusterStore>,
    context: StartContext,
    running: Mutex<BTreeMap<String, RunningPod>>,
    starting: Mutex<BTreeSet<String>>,
    /// Every pod this runtime ever started, deleted ones included, so that connection records
    /// of a replaced pod can still be attributed to its workload.
    history: Mutex<BTreeMap<String, PodSummary>>,
    /// Latest store revision whose deleted pods have all stopped their processes.
    stopped: watch::Sender<u64>,
}

impl std::fmt::Debug for PodRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodRuntime").finish_non_exhaustive()
    }
}

impl PodRuntime {
    /// Creates a runtime for the pods of `store`; call [`PodRuntime::run`] to start it.
    pub fn new(store: Arc<ClusterStore>, context: StartContext) -> Arc<Self> {
        Arc::new(Self {
            store,
            context,
            running: Mutex::new(BTreeMap::new()),
            starting: Mutex::new(BTreeSet::new()),
            history: Mutex::new(BTreeMap::new()),
            stopped: watch::Sender::new(0),
        })
    }

    /// Returns what pod `namespace/name` was, if this runtime ever started it.
    pub fn summary(&self, pod: &str) -> Option<PodSummary> {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pod)
            .cloned()
    }

    /// Waits until the processes of every pod deleted up to store revision `revision` have
    /// stopped.
    ///
    /// NOTE: a pod deleted while its sidecar or applications are still starting is stopped
    /// by its start task once the start finishes, which this does not wait for.
    pub async fn wait_stopped(&self, revision: u64) {
        let mut receiver = self.stopped.subscribe();
        let _ = receiver.wait_for(|stopped| *stopped >= revision).await;
    }

    /// Reconciles on every store change until `shutdown` turns true, then stops every pod.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.store.subscribe();
        let mut tasks = JoinSet::new();
        loop {
            let revision = *changes.borrow_and_update();
            let removed = self.reconcile(&mut tasks);
            // Deleted pods stop before the revision counts as done, so that a caller of
            // `wait_stopped` never finds their listeners still open.
            let stops = removed.into_iter().map(|(id, pod)| async move {
                info!(pod = id, "pod deleted; stopping its processes");
                pod.stop().await;
            });
            futures_util::future::join_all(stops).await;
            self.stopped.send_replace(revision);
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        tasks.shutdown().await;
        let running =
            std::mem::take(&mut *self.running.lock().unwrap_or_else(PoisonError::into_inner));
        for (id, pod) in running {
            debug!(pod = id, "stopping pod");
            pod.stop().await;
        }
    }

    /// Starts pods that are pending and returns the running pods that were deleted, for the
    /// caller to stop.
    fn reconcile(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Vec<(String, RunningPod)> {
        let state = self.store.snapshot();
        let removed: Vec<(String, RunningPod)> = {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            let gone: Vec<String> = running
                .keys()
                .filter(|id| state.pod(id).is_none())
                .cloned()
                .collect();
            gone.into_iter()
                .filter_map(|id| running.remove(&id).map(|pod| (id, pod)))
                .collect()
        };
        let mut starting = self.starting.lock().unwrap_or_else(PoisonError::into_inner);
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        // A snapshot taken under the locks: a pod absent from `starting` and `running` here
        // has its final phase in it, because `finish_start` updates the store first.
        let state = self.store.snapshot();
        for pod in state.pods().filter(|pod| pod.phase == PodPhase::Pending) {
            let id = pod.id();
            if starting.contains(&id) || running.contains_key(&id) {
                continue;
            }
            self.history
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.clone(), PodSummary::of(pod));
            starting.insert(id);
            let runtime = self.clone();
            let pod = pod.clone();
            let identity = state.identity_of(&pod);
            let missing_account = missing_service_account(&state, &pod);
            tasks.spawn(async move {
                let id = pod.id();
                let result = match missing_account {
                    Some(reason) => Err(reason),
                    None => runtime.start_pod(&pod, identity).await,
                };
                runtime.finish_start(&id, result).await;
            });
        }
        removed
    }

    /// Records a start-up result. The pod leaves `starting` only after it is in `running` or
    /// marked failed, because `reconcile` starts any pending pod that is in neither, and a
    /// second start would collide with the first one's listeners.
    async fn finish_start(&self, id: &str, result: Result<RunningPod, String>) {
        match result {
            Ok(pod) => {
                if self.store.snapshot().pod(id).is_none() {
                    debug!(pod = id, "pod deleted while starting");
                    pod.stop().await;
                } else {
                    self.running
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(id.to_owned(), pod);
                    info!(pod = id, "pod ready");
                    set_phase(&self.store, id, PodPhase::Ready, None);
                }
            }
            Err(reason) => {
                warn!(pod = id, reason, "pod failed to start");
                set_phase(&self.store, id, PodPhase::Failed, Some(reason));
            }
        }
        self.starting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Starts the sidecar (for injected pods) and then every container's application.
    async fn start_pod(
        &self,
        pod: &PodInfo,
        identity: crate::identity::SpiffeId,
    ) -> Result<RunningPod, String> {
        let id = pod.id();
        let mut kinds = Vec::new();
        for container in &pod.containers {
            let kind = AppKind::from_image(&container.image).ok_or_else(|| {
                format!(
                    "container {} uses image {:?}, which the in-process backend cannot run; \
                     use one of the bundled sample images (see the bundled manifests)",
                    container.name, container.image
                )
            })?;
            kinds.push((container, kind));
        }
        let sidecar = if pod.injected {
            let token = self.context.tokens.issue(
                &pod.namespace,
                &pod.name,
                &pod.service_account,
                TOKEN_LIFETIME,
            );
            let bootstrap = Bootstrap {
                identity,
                pod: id.clone(),
                pod_ip: pod.ip.into(),
                token,
                control_plane: self.context.control_plane.clone(),
                certificate_ttl: self.context.certificate_ttl,
                startup_timeout: self.context.startup_timeout,
            };
            Some(
                Sidecar::start(bootstrap)
                    .await
                    .map_err(|error| format!("sidecar failed: {error}"))?,
            )
        } else {
            None
        };
        let bind_ip = if pod.injected {
            AddressPlan::app_address(pod.ip)
        } else {
            pod.ip
        };
        let mut running = RunningPod {
            apps: Vec::new(),
            sidecar,
        };
        for (container, kind) in kinds {
            let context = AppContext {
                pod_name: pod.name.clone(),
                namespace: pod.namespace.clone(),
                bind_ip: bind_ip.into(),
                ports: container.ports.iter().map(|port| port.number).collect(),
                args: container.args.clone(),
                env: container.env.clone(),
                network: Arc::new(MeshPodNetwork::new(self.store.clone(), id.clone())),
            };
            match apps::start(kind, context).await {
                Ok(app) => running.apps.push(app),
                Err(error) => {
                    running.stop().await;
                    return Err(format!(
                        "container {} failed to start: {error}",
                        container.name
                    ));
                }
            }
        }
        Ok(running)
    }
}

/// Kubernetes refuses to create a pod whose service account does not exist; `default`
/// exists in every namespace.
fn missing_service_account(state: &ClusterState, pod: &PodInfo) -> Option<String> {
    if pod.service_account == "default" {
        return None;
    }
    let key = ResourceKey {
        kind: ResourceKind::ServiceAccount,
        scope: Scope::Namespace(pod.namespace.clone()),
        name: pod.service_account.clone(),
    };
    state.object(&key).is_none().then(|| {
        format!(
            "serviceaccount \"{}\" not found in namespace {}; apply the ServiceAccount before the workload",
            pod.service_account, pod.namespace
        )
    })
}

fn set_phase(store: &ClusterStore, id: &str, phase: PodPhase, failure: Option<String>) {
    let _ = store.update(|state| {
        state.set_pod_phase(id, phase, failure);
        Ok::<_, Infallible>(())
    });
}
