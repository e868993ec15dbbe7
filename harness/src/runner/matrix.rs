//! Running matrix steps: every cell's probe at once, judged as exec steps are (an expected
//! success must hold [`REQUIRED_CONSECUTIVE`] times in a row, anything else is probed once).

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::{COMMAND_TIMEOUT, REQUIRED_CONSECUTIVE, RETRY_INTERVAL, bare_report};
use crate::backend::{Backend, ExecOutput};
use crate::report::{MatrixReport, MatrixRowReport, Outcome, StepReport};
use crate::scenario::{MatrixCell, MatrixRequest, MatrixSource, MatrixStep, Scenario, Step};

/// The result of one cell's probe.
struct CellResult {
    /// The last observation; `None` when the probe could not run.
    observed: Option<MatrixCell>,
    /// Whether the expectation held as required.
    matched: bool,
    /// Whether every attempt matched, but too few of them ran before the success timeout.
    too_few: bool,
    /// curl's stderr of the last attempt, or why the probe could not run.
    detail: String,
}

fn observe(output: &ExecOutput) -> Result<MatrixCell, String> {
    match output.exit_code {
        None => Err("curl was killed by a signal".to_owned()),
        Some(0) => output
            .stdout
            .trim()
            .parse()
            .map(MatrixCell::Status)
            .map_err(|_| {
                format!(
                    "curl printed {:?} where the probe's `-w '%{{http_code}}'` prints the status; \
                 remove the `-w` or `-o` from the request's args",
                    output.stdout.trim()
                )
            }),
        Some(code) => Ok(MatrixCell::Exit(code)),
    }
}

async fn probe_cell(
    backend: &dyn Backend,
    source: &MatrixSource,
    request: &MatrixRequest,
    expected: MatrixCell,
    deadline: Instant,
) -> CellResult {
    let argv = request.argv();
    let required = if expected.is_success() {
        REQUIRED_CONSECUTIVE
    } else {
        1
    };
    let mut streak = 0;
    let mut ever_missed = false;
    loop {
        let timeout = if required == 1 {
            COMMAND_TIMEOUT
        } else {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(5))
                .min(COMMAND_TIMEOUT)
        };
        let (observed, detail) = match backend
            .exec(&source.target, None, &argv, None, timeout)
            .await
        {
            Ok(output) => match observe(&output) {
                Ok(cell) => (Some(cell), output.stderr.trim().to_owned()),
                Err(reason) => (None, reason),
            },
            Err(error) => (None, format!("the probe could not run: {error}")),
        };
        let matched = observed.is_some_and(|observed| expected.accepts(observed));
        streak = if matched { streak + 1 } else { 0 };
        ever_missed |= !matched;
        let done = streak >= required || required == 1 || Instant::now() >= deadline;
        if done {
            return CellResult {
                observed,
                matched: streak >= required,
                too_few: streak < required && !ever_missed,
                detail,
            };
        }
        if streak == 0 {
            tokio::time::sleep(
                RETRY_INTERVAL.min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
}

/// Runs every cell of `matrix` concurrently and compares the results with its table.
pub(super) async fn run_matrix(
    scenario: &Scenario,
    step: &Step,
    matrix: &MatrixStep,
    backend: &dyn Backend,
) -> StepReport {
    let started = Instant::now();
    let deadline = started + scenario.timeouts.success;
    let probes = matrix.sources.iter().enumerate().flat_map(|(row, source)| {
        matrix
            .requests
            .iter()
            .enumerate()
            .map(move |(column, request)| {
                probe_cell(
                    backend,
                    source,
                    request,
                    matrix.expected[row][column],
                    deadline,
                )
            })
    });
    let results = join_all(probes).await;

    let columns = matrix.requests.len();
    let mut rows = Vec::with_capacity(matrix.sources.len());
    let mut mismatches = Vec::new();
    let mut failed = false;
    let mut broken = false;
    for (row, source) in matrix.sources.iter().enumerate() {
        let mut observed_row = Vec::with_capacity(columns);
        let mut differs = Vec::with_capacity(columns);
        for (column, request) in matrix.requests.iter().enumerate() {
            let result = &results[row * columns + column];
            let expected = matrix.expected[row][column];
            observed_row.push(
                result
                    .observed
                    .map_or_else(|| "?".to_owned(), |cell| cell.to_string()),
            );
            differs.push(!result.matched && !result.too_few);
            if result.matched {
                continue;
            }
            if result.too_few {
                broken = true;
                mismatches.push(format!(
                    "{} -> {}: observed {expected} every time, but not {REQUIRED_CONSECUTIVE} \
                     times in a row within the success timeout of {:?}; raise \
                     spec.timeouts.success",
                    source.name, request.name, scenario.timeouts.success
                ));
                continue;
            }
            match result.observed {
                Some(observed) => {
                    failed = true;
                    let mut line = format!(
                        "{} -> {}: expected {expected}, observed {observed}",
                        source.name, request.name
                    );
                    if !result.detail.is_empty() {
                        line.push_str(&format!(" ({})", result.detail));
                    }
                    mismatches.push(line);
                }
                None => {
                    broken = true;
                    mismatches.push(format!(
                        "{} -> {}: {}",
                        source.name, request.name, result.detail
                    ));
                }
            }
        }
        rows.push(MatrixRowReport {
            source: source.name.clone(),
            expected: matrix.expected[row]
                .iter()
                .map(ToString::to_string)
                .collect(),
            observed: observed_row,
            differs,
        });
    }
    let outcome = if failed {
        Outcome::Failed
    } else if broken {
        Outcome::Inconclusive
    } else {
        Outcome::Passed
    };
    // Cells observed with another value differ; cells whose probe could not run, or ran too
    // few times, could not be judged.
    let differing = results
        .iter()
        .filter(|result| !result.matched && !result.too_few && result.observed.is_some())
        .count();
    let unjudged = mismatches.len() - differing;
    let message = (outcome != Outcome::Passed).then(|| {
        let mut message = format!("{differing} of {} cells differ", results.len());
        if unjudged > 0 {
            message.push_str(&format!(", {unjudged} could not be judged"));
        }
        message
    });
    let mut report = bare_report(step, outcome, started.elapsed(), message);
    report.matrix = Some(MatrixReport {
        columns: matrix
            .requests
            .iter()
            .map(|request| request.name.clone())
            .collect(),
        rows,
        mismatches,
    });
    report
}
