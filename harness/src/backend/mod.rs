//! The boundary between the runner and a mesh under test. A backend turns scenario steps
//! into changes of a cluster and runs commands in its pods; the runner decides what the
//! results mean. The in-process backend runs `mesh-sim`; docker and kube backends implement
//! the same trait.

pub mod inprocess;
pub mod process;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::scenario::{
    ClusterSettings, LabelStep, LocatedResource, ObjectRef, Scenario, ScenarioError, WorkloadRef,
};
use crate::traffic::TrafficRecord;

/// A boxed future, as backend methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors of backend operations, split by whose fault they are.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The cluster rejected the change as the scenario wrote it (a missing namespace, an
    /// unknown object); nothing of the change was applied.
    #[error("{0}")]
    Rejected(String),
    /// The mesh did not settle: pods did not start or proxies did not acknowledge in time.
    #[error("{0}")]
    NotReady(String),
    /// A command could not be run in a pod: the pod does not exist or is not ready.
    #[error("{0}")]
    Exec(String),
    /// The backend cannot run here (a missing tool, no free addresses).
    #[error("{0}")]
    Unavailable(String),
}

/// The output of a command run in a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code; `None` when the process was killed by a signal.
    pub exit_code: Option<i32>,
    /// Standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Standard error, lossily decoded as UTF-8.
    pub stderr: String,
    /// Wall time of the command.
    pub duration: Duration,
}

/// The state found once the mesh settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Pods that failed to start, with the reason.
    pub failed_pods: Vec<(String, String)>,
}

/// A cluster with a mesh, as one scenario uses it.
pub trait Backend: Send + Sync {
    /// Short name, such as `inprocess`.
    fn name(&self) -> &'static str;

    /// Creates or replaces objects in order, as `kubectl apply -f` does.
    fn apply<'a>(
        &'a self,
        objects: &'a [LocatedResource],
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Deletes the objects of a manifest.
    fn delete_objects<'a>(
        &'a self,
        objects: &'a [LocatedResource],
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Deletes objects by reference.
    fn delete_refs<'a>(&'a self, refs: &'a [ObjectRef]) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Changes the labels of one object.
    fn label<'a>(&'a self, step: &'a LabelStep) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Re-creates the pods of a Deployment.
    fn rollout_restart<'a>(
        &'a self,
        target: &'a WorkloadRef,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Waits until pods have started and every proxy runs the configuration of the current
    /// cluster state.
    fn wait_ready(&self, timeout: Duration) -> BoxFuture<'_, Result<Settled, BackendError>>;

    /// Runs `argv` in a pod of `target`, with `stdin` as its standard input (empty when
    /// `None`).
    fn exec<'a>(
        &'a self,
        target: &'a WorkloadRef,
        container: Option<&'a str>,
        argv: &'a [String],
        stdin: Option<&'a str>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutput, BackendError>>;

    /// Checks whether the cluster contains the object `reference` names, as `kubectl get`
    /// finds it. For a Pod, that includes the pods a Deployment created.
    fn object_exists<'a>(
        &'a self,
        reference: &'a ObjectRef,
    ) -> BoxFuture<'a, Result<bool, BackendError>>;

    /// Returns the connections the mesh's proxies recorded so far, in the order they were
    /// reported and attributed to workloads; empty when the backend cannot see them.
    fn traffic(&self) -> Vec<TrafficRecord>;

    /// Stops everything the backend started and returns every connection recorded, including
    /// those of the last moments, which the sidecars deliver as they stop.
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, Vec<TrafficRecord>>;
}

/// Which backend runs scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// The built-in mesh simulation.
    #[default]
    InProcess,
}

impl BackendKind {
    /// Returns the name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::InProcess => "inprocess",
        }
    }

    /// Checks a loaded scenario before the backend starts. The in-process backend does a dry
    /// run of every change on its cluster model.
    pub fn rehearse(self, scenario: &Scenario) -> Result<(), ScenarioError> {
        match self {
            Self::InProcess => inprocess::rehearse(scenario),
        }
    }

    /// Starts a backend for one scenario.
    pub async fn start(self, cluster: &ClusterSettings) -> Result<Box<dyn Backend>, BackendError> {
        match self {
            Self::InProcess => Ok(Box::new(inprocess::InProcess::start(cluster).await?)),
        }
    }
}
