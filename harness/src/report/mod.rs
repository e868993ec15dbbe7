//! Run results in one model that every reporter reads: scenarios, their steps, and for each
//! exec step what was expected and what happened. The JSON report is this model serialized.

pub mod human;
pub mod json;
pub mod junit;

use std::time::Duration;

use serde::Serialize;

use crate::scenario::TextMatcher;
use crate::traffic::Edge;

/// Version of the JSON report schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The result of a step or scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// The mesh behaved other than expected.
    Failed,
    /// The probe itself broke (the command could not run, the mesh did not settle), so
    /// nothing is known about the expectation.
    Inconclusive,
    /// Not run, for the reason given.
    Skipped,
}

impl Outcome {
    /// Upper-case label for terminal output.
    pub fn label(self) -> &'static str {
        match self {
            Self::Passed => "PASS",
            Self::Failed => "FAIL",
            Self::Inconclusive => "INCONCLUSIVE",
            Self::Skipped => "SKIP",
        }
    }
}

/// The report of a whole run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The backend that ran the scenarios.
    pub backend: String,
    /// One entry per scenario, in the order the scenarios were given.
    pub scenarios: Vec<ScenarioReport>,
    /// Counts over `scenarios`.
    pub summary: Summary,
    /// Whether the run was interrupted (SIGINT or SIGTERM) before every scenario finished;
    /// the scenarios it stopped are reported as skipped.
    pub interrupted: bool,
}

impl RunReport {
    /// Builds the report and its summary.
    pub fn new(backend: &str, scenarios: Vec<ScenarioReport>) -> Self {
        let count = |outcome| {
            scenarios
                .iter()
                .filter(|scenario| scenario.outcome == outcome)
                .count()
        };
        let summary = Summary {
            scenarios: scenarios.len(),
            passed: count(Outcome::Passed),
            failed: count(Outcome::Failed),
            inconclusive: count(Outcome::Inconclusive),
            skipped: count(Outcome::Skipped),
        };
        Self {
            schema_version: SCHEMA_VERSION,
            backend: backend.to_owned(),
            scenarios,
            summary,
            interrupted: false,
        }
    }
}

/// Scenario counts by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// All scenarios.
    pub scenarios: usize,
    /// Scenarios whose steps all passed.
    pub passed: usize,
    /// Scenarios with a failed step.
    pub failed: usize,
    /// Scenarios with no failed step but an inconclusive one.
    pub inconclusive: usize,
    /// Scenarios not run.
    pub skipped: usize,
}

/// The report of one scenario.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    /// `metadata.name`.
    pub name: String,
    /// The scenario file.
    pub file: String,
    /// Failed if any step failed, else inconclusive if any step was, else passed.
    pub outcome: Outcome,
    /// Wall time, including mesh start-up.
    #[serde(rename = "durationMs", serialize_with = "millis")]
    pub duration: Duration,
    /// The reason the scenario could not run at all (its backend did not start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One entry per step, in order.
    pub steps: Vec<StepReport>,
    /// Every connection the mesh recorded during the scenario, added up by workloads,
    /// transport and outcome.
    pub connections: Vec<Edge>,
}

impl ScenarioReport {
    /// Combines the steps' outcomes and a start-up error into the scenario's outcome.
    pub fn overall(error: Option<&str>, steps: &[StepReport]) -> Outcome {
        if steps.iter().any(|step| step.outcome == Outcome::Failed) {
            Outcome::Failed
        } else if error.is_some()
            || steps
                .iter()
                .any(|step| step.outcome == Outcome::Inconclusive)
        {
            Outcome::Inconclusive
        } else {
            Outcome::Passed
        }
    }
}

/// The report of one step.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// The step name.
    pub name: String,
    /// `apply`, `delete`, `label`, `rolloutRestart` or `exec`.
    pub kind: &'static str,
    /// `file:line:column` of the step.
    pub location: String,
    /// The result.
    pub outcome: Outcome,
    /// Wall time, including waiting for the mesh to settle.
    #[serde(rename = "durationMs", serialize_with = "millis")]
    pub duration: Duration,
    /// The failure, or the reason the step was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Exit codes the step accepts (exec steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_exit_codes: Option<Vec<i32>>,
    /// Exit code of the judged attempt (exec steps); `null` when the command did not exit
    /// normally or did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_exit_code: Option<Option<i32>>,
    /// Details of an exec step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecReport>,
    /// Details of a matrix step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixReport>,
}

/// The expected and observed tables of a matrix step.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixReport {
    /// Request names, in order.
    pub columns: Vec<String>,
    /// One entry per source, in order.
    pub rows: Vec<MatrixRowReport>,
    /// Each cell that did not match, with curl's error output or why the probe could not run.
    pub mismatches: Vec<String>,
}

/// One row of a matrix: a source's expected and observed cells.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixRowReport {
    /// The source name.
    pub source: String,
    /// Expected cells, as the table writes them (`200`, `E56`, `-`).
    pub expected: Vec<String>,
    /// Observed cells; `?` where the probe could not run.
    pub observed: Vec<String>,
    /// Whether each observed cell differs from the expected one.
    pub differs: Vec<bool>,
}

/// The expectations and observations of an exec step.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecReport {
    /// The pod the command ran in, as `deploy/sleep -n sleep`.
    pub target: String,
    /// The command as the scenario wrote it.
    pub command: Vec<String>,
    /// `consecutive` or `once`.
    pub probe: &'static str,
    /// The stdout checks, described.
    pub expected_stdout: Vec<String>,
    /// The stderr checks, described.
    pub expected_stderr: Vec<String>,
    /// How many times the command ran.
    pub attempts: u32,
    /// Output of the judged attempt: the last one, or the first mismatch of an expected
    /// success that never became stable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Standard error of the judged attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Each expectation the judged attempt missed.
    pub mismatches: Vec<String>,
}

/// Describes a text check for reports, as the scenario writes it.
pub fn describe_matcher(matcher: &TextMatcher) -> String {
    match matcher {
        TextMatcher::Contains(text) => format!("contains {text:?}"),
        TextMatcher::NotContains(text) => format!("does not contain {text:?}"),
        TextMatcher::Regex(pattern) => format!("matches /{}/", pattern.as_str()),
        TextMatcher::Equals(text) => format!("equals {text:?}"),
    }
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
