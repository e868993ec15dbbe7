//! Running change steps (`apply`, `delete`, `label`, `rolloutRestart`): making the change,
//! waiting for the mesh to settle, and the reason the steps after a failed change are skipped.

use std::time::Instant;

use super::bare_report;
use crate::backend::{Backend, BackendError};
use crate::report::{Outcome, StepReport};
use crate::scenario::{Scenario, Step};

/// How a change step failed, which decides the skip reason of the steps after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChangeFailure {
    /// The cluster rejected the change, so nothing of it was applied.
    Rejected,
    /// The backend failed while making the change.
    Backend,
    /// The change was applied, but the mesh did not settle within the sync timeout.
    NotSettled,
    /// The change was applied and the mesh settled, but pods failed to start.
    PodsFailed,
}

/// Returns the message of the steps skipped after step `number` (1-based) failed.
pub(super) fn skip_reason(number: usize, name: &str, failure: ChangeFailure) -> String {
    let step = format!("step {number} ({name})");
    match failure {
        ChangeFailure::Rejected => format!("skipped: {step} did not change the cluster as written"),
        ChangeFailure::Backend => format!("skipped: the backend failed in {step}"),
        ChangeFailure::NotSettled => {
            format!("skipped: the mesh did not settle within the sync timeout after {step}")
        }
        ChangeFailure::PodsFailed => format!("skipped: pods failed to start after {step}"),
    }
}

/// Finishes a change step: reports a failed `change` (the call to the cluster made at
/// `started`), or waits for the mesh to settle. A step that did not pass also returns how it
/// failed.
pub(super) async fn finish_change(
    scenario: &Scenario,
    step: &Step,
    backend: &dyn Backend,
    started: Instant,
    change: Result<(), BackendError>,
) -> (StepReport, Option<ChangeFailure>) {
    if let Err(error) = change {
        let (outcome, failure) = match error {
            BackendError::Rejected(_) => (Outcome::Failed, ChangeFailure::Rejected),
            _ => (Outcome::Inconclusive, ChangeFailure::Backend),
        };
        let report = bare_report(step, outcome, started.elapsed(), Some(error.to_string()));
        return (report, Some(failure));
    }
    match backend.wait_ready(scenario.timeouts.sync).await {
        Ok(settled) if settled.failed_pods.is_empty() => (
            bare_report(step, Outcome::Passed, started.elapsed(), None),
            None,
        ),
        Ok(settled) => {
            let failures: Vec<String> = settled
                .failed_pods
                .iter()
                .map(|(pod, reason)| format!("pod {pod} failed to start: {reason}"))
                .collect();
            let report = bare_report(
                step,
                Outcome::Failed,
                started.elapsed(),
                Some(failures.join("\n")),
            );
            (report, Some(ChangeFailure::PodsFailed))
        }
        Err(error @ BackendError::NotReady(_)) => {
            let message = format!(
                "{error}; raise spec.timeouts.sync (now {:?}) if the mesh needs longer to settle",
                scenario.timeouts.sync
            );
            let report = bare_report(
                step,
                Outcome::Inconclusive,
                started.elapsed(),
                Some(message),
            );
            (report, Some(ChangeFailure::NotSettled))
        }
        Err(error) => {
            let message = Some(error.to_string());
            let report = bare_report(step, Outcome::Inconclusive, started.elapsed(), message);
            (report, Some(ChangeFailure::Backend))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_reason_names_the_failure() {
        let cases = [
            (
                ChangeFailure::Rejected,
                "skipped: step 2 (deploy) did not change the cluster as written",
            ),
            (
                ChangeFailure::Backend,
                "skipped: the backend failed in step 2 (deploy)",
            ),
            (
                ChangeFailure::NotSettled,
                "skipped: the mesh did not settle within the sync timeout after step 2 (deploy)",
            ),
            (
                ChangeFailure::PodsFailed,
                "skipped: pods failed to start after step 2 (deploy)",
            ),
        ];
        for (failure, expected) in cases {
            assert_eq!(skip_reason(2, "deploy", failure), expected, "{failure:?}");
        }
    }
}
