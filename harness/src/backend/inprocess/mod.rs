//! The in-process backend: a fresh `mesh-sim` mesh per scenario, with commands run by the
//! real `curl` binary given the pod's network view (cluster DNS and source address).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mesh_sim::cluster::{ClusterConfig, ClusterState, LabelChange};
use mesh_sim::resources::{ResourceKey, ResourceKind, Scope};
use mesh_sim::runtime::pods::PodRuntime;
use mesh_sim::runtime::{Mesh, MeshError, MeshOptions, PodSelector};
use tokio::process::Command;

mod rehearse;

pub use self::rehearse::rehearse;

use super::process::{self, RunError};
use super::{Backend, BackendError, BoxFuture, ExecOutput, Settled};
use crate::scenario::{
    CURL_PROTOCOLS, ClusterSettings, LabelStep, LocatedResource, ObjectRef, WorkloadKind,
    WorkloadRef,
};
use crate::traffic::{self, TrafficRecord, Workload};

/// Environment variables that would send curl through a proxy outside the mesh.
const PROXY_VARIABLES: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// A directory that exists for one command and is removed afterwards.
struct ScratchDirectory(PathBuf);

impl ScratchDirectory {
    fn create() -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let sequence = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("meshcheck-exec-{}-{sequence}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for ScratchDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Attributes records to the workloads the pod runtime started.
fn attribute_all(
    records: &[mesh_sim::records::ConnectionRecord],
    pods: &PodRuntime,
) -> Vec<TrafficRecord> {
    let workload_of = |pod: &str| {
        pods.summary(pod).map(|summary| Workload {
            namespace: summary.namespace,
            name: summary.workload,
            deployment: summary.deployment,
            in_mesh: summary.injected,
        })
    };
    records
        .iter()
        .map(|record| traffic::attribute(record, workload_of))
        .collect()
}

/// A scenario's in-process mesh.
#[derive(Debug)]
pub struct InProcess {
    mesh: Mesh,
}

fn rejected(error: MeshError) -> BackendError {
    match error {
        MeshError::Cluster(error) => BackendError::Rejected(error.to_string()),
        MeshError::Sync(error) => BackendError::NotReady(error.to_string()),
        MeshError::PodsTimeout { .. } | MeshError::StopTimeout { .. } => {
            BackendError::NotReady(error.to_string())
        }
        MeshError::NoReadyPod { .. } => BackendError::Exec(error.to_string()),
        other => BackendError::Unavailable(other.to_string()),
    }
}

fn key_of(reference: &ObjectRef) -> ResourceKey {
    ResourceKey {
        kind: reference.kind,
        scope: match &reference.namespace {
            Some(namespace) => Scope::Namespace(namespace.clone()),
            None => Scope::Cluster,
        },
        name: reference.name.clone(),
    }
}

fn keys_of(objects: &[LocatedResource]) -> Result<Vec<ResourceKey>, BackendError> {
    objects
        .iter()
        .map(|object| {
            object
                .resource
                .key()
                .map_err(|error| BackendError::Rejected(format!("{}: {error}", object.location)))
        })
        .collect()
}

/// Checks whether `state` contains the object `reference` names, as `kubectl get` finds it.
/// Pods that a Deployment created are not stored objects, but they count.
fn contains(state: &ClusterState, reference: &ObjectRef) -> bool {
    if state.object(&key_of(reference)).is_some() {
        return true;
    }
    reference.kind == ResourceKind::Pod
        && reference.namespace.as_ref().is_some_and(|namespace| {
            state
                .pod(&format!("{namespace}/{}", reference.name))
                .is_some()
        })
}

/// Finds the `curl` binary on `PATH`, looking it up once.
fn curl_binary() -> Option<&'static Path> {
    static CURL: OnceLock<Option<PathBuf>> = OnceLock::new();
    CURL.get_or_init(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|directory| directory.join("curl"))
            .find(|candidate| candidate.is_file())
    })
    .as_deref()
}

/// Checks whether `program` names curl (`curl` or a path ending in `/curl`).
fn is_curl(program: &str) -> bool {
    Path::new(program)
        .file_name()
        .is_some_and(|name| name == "curl")
}

/// Returns the mesh-sim settings of a scenario's `spec.cluster`.
fn cluster_config(cluster: &ClusterSettings) -> ClusterConfig {
    ClusterConfig {
        name: cluster.name.clone(),
        trust_domain: cluster.trust_domain.clone(),
        ..ClusterConfig::default()
    }
}

impl InProcess {
    /// Starts a mesh for a scenario's cluster settings. Fails when curl is missing, so that a
    /// scenario does not start a mesh it cannot probe.
    pub async fn start(cluster: &ClusterSettings) -> Result<Self, BackendError> {
        if curl_binary().is_none() {
            return Err(BackendError::Unavailable(
                "curl not found on PATH; the in-process backend runs the real curl binary. Install it \
                 (Debian or Ubuntu: apt-get install curl; Fedora: dnf install curl) and run again"
                    .to_owned(),
            ));
        }
        let options = MeshOptions {
            cluster: cluster_config(cluster),
            ..MeshOptions::default()
        };
        let mesh = Mesh::start(options)
            .await
            .map_err(|error| BackendError::Unavailable(error.to_string()))?;
        Ok(Self { mesh })
    }

    /// Returns the mesh, for tests that look inside it.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }
}

impl Backend for InProcess {
    fn name(&self) -> &'static str {
        "inprocess"
    }

    fn apply<'a>(
        &'a self,
        objects: &'a [LocatedResource],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let resources = objects
                .iter()
                .map(|object| object.resource.clone())
                .collect();
            self.mesh.apply(resources).map(|_| ()).map_err(rejected)
        })
    }

    fn delete_objects<'a>(
        &'a self,
        objects: &'a [LocatedResource],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let keys = keys_of(objects)?;
            self.mesh.delete(&keys).map_err(rejected)
        })
    }

    fn delete_refs<'a>(&'a self, refs: &'a [ObjectRef]) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let keys: Vec<ResourceKey> = refs.iter().map(key_of).collect();
            self.mesh.delete(&keys).map_err(rejected)
        })
    }

    fn label<'a>(&'a self, step: &'a LabelStep) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let change = LabelChange {
                set: step.set.clone(),
                remove: step.remove.clone(),
            };
            self.mesh
                .label(&key_of(&step.target), &change)
                .map_err(rejected)
        })
    }

    fn rollout_restart<'a>(
        &'a self,
        target: &'a WorkloadRef,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if target.kind != WorkloadKind::Deployment {
                return Err(BackendError::Rejected(format!(
                    "rollout restart needs a deployment, not {target}"
                )));
            }
            let key = ResourceKey {
                kind: ResourceKind::Deployment,
                scope: Scope::Namespace(target.namespace.clone()),
                name: target.name.clone(),
            };
            self.mesh.rollout_restart(&key).map_err(rejected)
        })
    }

    fn wait_ready(&self, timeout: Duration) -> BoxFuture<'_, Result<Settled, BackendError>> {
        Box::pin(async move {
            let readiness = self.mesh.wait_ready(timeout).await.map_err(rejected)?;
            Ok(Settled {
                failed_pods: readiness.failed,
            })
        })
    }

    fn exec<'a>(
        &'a self,
        target: &'a WorkloadRef,
        container: Option<&'a str>,
        argv: &'a [String],
        stdin: Option<&'a str>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutput, BackendError>> {
        Box::pin(async move {
            let Some((program, arguments)) = argv.split_first() else {
                return Err(BackendError::Exec("empty command".to_owned()));
            };
            if !is_curl(program) {
                return Err(BackendError::Exec(format!(
                    "the in-process backend can run only curl in a pod, not {program:?}; \
                     write the command as `curl ...`"
                )));
            }
            let selector = match target.kind {
                WorkloadKind::Deployment => PodSelector::Deployment(target.name.clone()),
                WorkloadKind::Pod => PodSelector::Pod(target.name.clone()),
            };
            let exec_target = self
                .mesh
                .exec_target(&target.namespace, &selector)
                .map_err(rejected)?;
            if let Some(container) = container {
                let state = self.mesh.store().snapshot();
                let known = state.pod(&exec_target.pod).is_some_and(|pod| {
                    pod.containers
                        .iter()
                        .any(|candidate| candidate.name == container)
                });
                if !known {
                    return Err(BackendError::Exec(format!(
                        "container {container:?} is not valid for pod {}",
                        exec_target.pod
                    )));
                }
            }
            let curl = curl_binary()
                .ok_or_else(|| BackendError::Unavailable("curl not found on PATH".to_owned()))?;
            // curl runs on this machine, not in a pod: give it a scratch working directory
            // for files it writes (`-o`, `-O`), and only the protocols cluster services speak,
            // so `file://` cannot read this machine's files.
            let scratch = ScratchDirectory::create().map_err(|error| {
                BackendError::Unavailable(format!(
                    "cannot create a working directory for curl: {error}"
                ))
            })?;
            let mut command = Command::new(curl);
            // `-q` must come first: it stops curl from reading the user's ~/.curlrc.
            // The network options and the protocol list come after the command's own
            // arguments: curl lets the last occurrence of an option win, so a scenario
            // cannot widen the protocols or change the pod's address. Options apply per
            // transfer, which is why the loader rejects `--next`.
            let protocols = format!("={}", CURL_PROTOCOLS.join(","));
            command
                .arg("-q")
                .args(arguments)
                .args(exec_target.curl_network_args())
                .args(["--proto", &protocols, "--proto-redir", &protocols])
                .current_dir(&scratch.0);
            for variable in PROXY_VARIABLES {
                command.env_remove(variable);
            }
            let started = Instant::now();
            let finished =
                process::run(command, stdin, timeout)
                    .await
                    .map_err(|error| match error {
                        RunError::Spawn(error) => BackendError::Unavailable(format!(
                            "cannot run {}: {error}",
                            curl.display()
                        )),
                        RunError::TimedOut(_) | RunError::Output(_) => {
                            BackendError::Exec(format!("curl {error}"))
                        }
                    })?;
            Ok(ExecOutput {
                exit_code: finished.status.code(),
                stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
                duration: started.elapsed(),
            })
        })
    }

    fn object_exists<'a>(
        &'a self,
        reference: &'a ObjectRef,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move { Ok(contains(&self.mesh.store().snapshot(), reference)) })
    }

    fn traffic(&self) -> Vec<TrafficRecord> {
        attribute_all(&self.mesh.records(), &self.mesh.pod_runtime())
    }

    fn shutdown(self: Box<Self>) -> BoxFuture<'static, Vec<TrafficRecord>> {
        let controller = self.mesh.controller().clone();
        let pods = self.mesh.pod_runtime();
        Box::pin(async move {
            self.mesh.shutdown().await;
            attribute_all(&controller.records(), &pods)
        })
    }
}
