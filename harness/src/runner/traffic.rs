//! Running traffic steps: waiting for the sidecars' records of the connections a step names,
//! then checking every one of them.

use std::time::{Duration, Instant};

use super::bare_report;
use mesh_sim::resources::ResourceKind;

use crate::backend::{Backend, BackendError};
use crate::report::{Outcome, StepReport};
use crate::scenario::{
    ObjectRef, Scenario, Step, TrafficDestination, TrafficStep, WorkloadKind, WorkloadRef,
};
use crate::traffic::{self, Edge, TrafficRecord, Workload};

/// Pause between looks at the records while waiting for a matching one.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Checks whether a recorded workload is the one a step names: `deploy/NAME` matches the pods
/// of that Deployment, `pod/NAME` a pod created on its own.
fn same_workload(reference: &WorkloadRef, workload: &Workload) -> bool {
    let kind_matches = match reference.kind {
        WorkloadKind::Deployment => workload.deployment,
        WorkloadKind::Pod => !workload.deployment,
    };
    kind_matches && workload.namespace == reference.namespace && workload.name == reference.name
}

fn matches_ends(step: &TrafficStep, record: &TrafficRecord) -> bool {
    if !same_workload(&step.from, &record.source) {
        return false;
    }
    match &step.to {
        TrafficDestination::Service { namespace, name } => {
            record.service.as_deref() == Some(format!("{namespace}/{name}").as_str())
        }
        TrafficDestination::Workload(workload) => record
            .destination
            .as_ref()
            .is_some_and(|destination| same_workload(workload, destination)),
    }
}

/// Lists how an edge misses the step's expectations.
fn misses(step: &TrafficStep, edge: &Edge) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(transport) = step.transport
        && edge.transport != transport
    {
        found.push(format!(
            "transport {} instead of {}",
            edge.transport.name(),
            transport.name()
        ));
    }
    if let Some(outcome) = step.outcome
        && edge.outcome != outcome
    {
        found.push(format!(
            "outcome {} instead of {}",
            edge.outcome.name(),
            outcome.name()
        ));
    }
    if let Some(identity) = &step.source_identity
        && edge.source_identity.as_ref() != Some(identity)
    {
        found.push(format!(
            "source identity {} instead of {identity}",
            edge.source_identity.as_deref().unwrap_or("none")
        ));
    }
    if let Some(identity) = &step.destination_identity
        && edge.destination_identity.as_ref() != Some(identity)
    {
        found.push(format!(
            "destination identity {} instead of {identity}",
            edge.destination_identity.as_deref().unwrap_or("none")
        ));
    }
    found
}

/// Lists the ends of `step` that the cluster does not contain, each as a sentence naming the
/// object and the field that refers to it.
async fn missing_ends(
    step: &TrafficStep,
    backend: &dyn Backend,
) -> Result<Vec<String>, BackendError> {
    let to = match &step.to {
        TrafficDestination::Service { namespace, name } => ObjectRef {
            kind: ResourceKind::Service,
            namespace: Some(namespace.clone()),
            name: name.clone(),
        },
        TrafficDestination::Workload(workload) => workload.object(),
    };
    let ends = [("from", step.from.object()), ("to", to)];
    let mut missing = Vec::new();
    for (field, reference) in ends {
        if backend.object_exists(&reference).await? {
            continue;
        }
        missing.push(format!(
            "`{field}` names {reference}, which does not exist in the cluster; check the name \
             and namespace, or create it in an earlier step"
        ));
    }
    Ok(missing)
}

/// Checks the records reported after index `since` of the backend's record list. When an end
/// of the step does not exist, the step is inconclusive at once instead of waiting for records
/// that cannot arrive.
pub(super) async fn run_traffic(
    scenario: &Scenario,
    step: &Step,
    traffic_step: &TrafficStep,
    backend: &dyn Backend,
    since: usize,
) -> StepReport {
    let started = Instant::now();
    let problem = match missing_ends(traffic_step, backend).await {
        Ok(missing) if missing.is_empty() => None,
        Ok(missing) => Some(missing.join("\n")),
        Err(error) => Some(format!(
            "could not check that the ends of the step exist: {error}"
        )),
    };
    if let Some(message) = problem {
        return bare_report(
            step,
            Outcome::Inconclusive,
            started.elapsed(),
            Some(message),
        );
    }
    let deadline = started + scenario.timeouts.success;
    let matching = loop {
        let records = backend.traffic();
        let matching: Vec<TrafficRecord> = records
            .into_iter()
            .skip(since)
            .filter(|record| traffic::is_primary(record) && matches_ends(traffic_step, record))
            .collect();
        if !matching.is_empty() || Instant::now() >= deadline {
            break matching;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    let edges = traffic::edges(&matching);
    if edges.is_empty() {
        let message = "no connection between these workloads was recorded since the last change; \
                       run a probe (exec or matrix) between them before this step";
        return bare_report(
            step,
            Outcome::Failed,
            started.elapsed(),
            Some(message.to_owned()),
        );
    }
    let mut lines = Vec::new();
    let mut failed = false;
    for edge in &edges {
        let missed = misses(traffic_step, edge);
        failed |= !missed.is_empty();
        let verdict = if missed.is_empty() {
            String::new()
        } else {
            format!(": {}", missed.join(", "))
        };
        lines.push(format!("observed {edge} ({} times){verdict}", edge.count));
    }
    let outcome = if failed {
        Outcome::Failed
    } else {
        Outcome::Passed
    };
    bare_report(
        step,
        outcome,
        started.elapsed(),
        failed.then(|| lines.join("\n")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(name: &str, deployment: bool) -> Workload {
        Workload {
            namespace: "sleep".to_owned(),
            name: name.to_owned(),
            deployment,
            in_mesh: true,
        }
    }

    fn reference(kind: WorkloadKind, name: &str) -> WorkloadRef {
        WorkloadRef {
            kind,
            name: name.to_owned(),
            namespace: "sleep".to_owned(),
        }
    }

    #[test]
    fn workload_kind_tells_deploy_from_pod() {
        let from_deployment = workload("sleep", true);
        let bare_pod = workload("sleep", false);
        let deploy = reference(WorkloadKind::Deployment, "sleep");
        let pod = reference(WorkloadKind::Pod, "sleep");
        assert!(same_workload(&deploy, &from_deployment));
        assert!(!same_workload(&deploy, &bare_pod));
        assert!(same_workload(&pod, &bare_pod));
        assert!(!same_workload(&pod, &from_deployment));
        assert!(!same_workload(
            &reference(WorkloadKind::Deployment, "other"),
            &from_deployment
        ));
    }
}
