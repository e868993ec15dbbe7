//! Runs scenarios: each on a fresh backend, steps in order, every change followed by a wait
//! until the mesh has settled, and every exec step judged by its probe mode.
//!
//! An expected success passes only after [`REQUIRED_CONSECUTIVE`] matching results in a row
//! within the scenario's success timeout, with every check inside the loop, so a result from
//! stale configuration cannot pass it. An expected failure is probed once, after the change it
//! depends on was acknowledged by every proxy: retrying it could let it pass while the
//! configuration is still moving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tracing::{Instrument, info, info_span};

mod change;
mod matrix;
mod traffic;

use self::change::{ChangeFailure, skip_reason};
use crate::backend::{Backend, BackendError, BackendKind, ExecOutput};
use crate::report::{ExecReport, Outcome, RunReport, ScenarioReport, StepReport, describe_matcher};
use crate::scenario::{Action, DeleteTarget, ExecStep, Expectation, ProbeMode, Scenario, Step};

/// File descriptors one scenario's mesh may hold at once. An estimate: the walkthrough's mesh
/// (eight pods, seven sidecars, a 15-cell matrix running) peaks at about 300.
const DESCRIPTORS_PER_SCENARIO: u64 = 512;

/// Raises this process's soft limit on open files to its hard limit, because every pod,
/// listener and connection of every mesh takes a descriptor, and returns the limit now in
/// force. Call it once at start-up.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Caps `requested` parallel scenarios to what the open file limit allows.
fn affordable_jobs(requested: usize) -> usize {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let affordable =
        usize::try_from((limit / DESCRIPTORS_PER_SCENARIO).max(1)).unwrap_or(usize::MAX);
    if affordable < requested {
        tracing::warn!(
            requested,
            running = affordable,
            open_file_limit = limit,
            "running fewer scenarios at once than requested, to stay within the open file limit"
        );
    }
    requested.min(affordable).max(1)
}

/// The message of steps that an interrupted run did not reach.
pub const INTERRUPTED_REASON: &str = "skipped: the run was interrupted";

/// Matching results in a row that make an expected success pass.
pub const REQUIRED_CONSECUTIVE: u32 = 3;
/// Pause after a probe attempt that did not match, before the next one.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// Limit for one command run in a pod.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How to run a set of scenarios.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The backend.
    pub backend: BackendKind,
    /// Scenarios run at the same time.
    pub jobs: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            backend: BackendKind::default(),
            jobs: std::thread::available_parallelism().map_or(2, |count| count.get()),
        }
    }
}

pub(crate) fn bare_report(
    step: &Step,
    outcome: Outcome,
    duration: Duration,
    message: Option<String>,
) -> StepReport {
    let (expected_exit_codes, exec) = match &step.action {
        Action::Exec(exec) => (
            Some(exec.expect.exit_codes.clone()),
            Some(exec_report(exec, 0, None, Vec::new())),
        ),
        _ => (None, None),
    };
    StepReport {
        name: step.name.clone(),
        kind: step.action.kind(),
        location: step.location.to_string(),
        outcome,
        duration,
        message,
        expected_exit_codes,
        actual_exit_code: None,
        exec,
        matrix: None,
    }
}

fn exec_report(
    exec: &ExecStep,
    attempts: u32,
    output: Option<&ExecOutput>,
    mismatches: Vec<String>,
) -> ExecReport {
    ExecReport {
        target: format!("{} -n {}", exec.target, exec.target.namespace),
        command: exec.argv.clone(),
        probe: match exec.probe {
            ProbeMode::Consecutive => "consecutive",
            ProbeMode::Once => "once",
        },
        expected_stdout: exec.expect.stdout.iter().map(describe_matcher).collect(),
        expected_stderr: exec.expect.stderr.iter().map(describe_matcher).collect(),
        attempts,
        stdout: output.map(|output| output.stdout.clone()),
        stderr: output.map(|output| output.stderr.clone()),
        mismatches,
    }
}

/// Lists every way `output` misses `expect`; the list is empty when it matches.
pub fn mismatches(expect: &Expectation, output: &ExecOutput) -> Vec<String> {
    let mut found = Vec::new();
    match output.exit_code {
        Some(code) if expect.exit_codes.contains(&code) => {}
        Some(code) => found.push(format!("exit code {code} is not an accepted one")),
        None => found.push("the command was killed by a signal".to_owned()),
    }
    for matcher in &expect.stdout {
        if let Err(mismatch) = matcher.check(&output.stdout) {
            found.push(format!("stdout {mismatch}"));
        }
    }
    for matcher in &expect.stderr {
        if let Err(mismatch) = matcher.check(&output.stderr) {
            found.push(format!("stderr {mismatch}"));
        }
    }
    found
}

/// Runs every step of `scenario` on a fresh backend and stops the backend afterwards.
pub async fn run_scenario(scenario: &Scenario, backend_kind: BackendKind) -> ScenarioReport {
    run_scenario_reporting(scenario, backend_kind, &StepLog::default()).await
}

/// The reports of a scenario's finished steps, readable while it runs, so that an
/// interrupted run can still report the steps that ran and how long they took.
#[derive(Clone, Debug, Default)]
pub struct StepLog(Arc<std::sync::Mutex<LoggedSteps>>);

#[derive(Debug, Default)]
struct LoggedSteps {
    finished: Vec<StepReport>,
    /// When the scenario started, once it has.
    scenario_started: Option<Instant>,
    /// When the step now running started.
    step_started: Option<Instant>,
}

impl StepLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LoggedSteps> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn scenario_started(&self, at: Instant) {
        self.lock().scenario_started = Some(at);
    }

    fn step_started(&self, at: Instant) {
        self.lock().step_started = Some(at);
    }

    fn push(&self, report: StepReport) {
        let mut logged = self.lock();
        logged.finished.push(report);
        logged.step_started = None;
    }

    fn finished(&self) -> Vec<StepReport> {
        self.lock().finished.clone()
    }

    /// Returns how long the scenario and the step that was running have taken so far.
    fn elapsed(&self) -> (Duration, Option<Duration>) {
        let logged = self.lock();
        let since = |at: Option<Instant>| at.map(|at| at.elapsed());
        (
            since(logged.scenario_started).unwrap_or_default(),
            since(logged.step_started),
        )
    }
}

/// Runs a scenario as [`run_scenario`] does, logging each finished step to `log`.
async fn run_scenario_reporting(
    scenario: &Scenario,
    backend_kind: BackendKind,
    log: &StepLog,
) -> ScenarioReport {
    let started = Instant::now();
    log.scenario_started(started);
    let span = info_span!("scenario", scenario = scenario.name);
    async {
        let backend = match backend_kind.start(&scenario.cluster).await {
            Ok(backend) => backend,
            Err(error) => {
                let message = format!("backend did not start: {error}");
                let steps = scenario
                    .steps
                    .iter()
                    .map(|step| {
                        bare_report(
                            step,
                            Outcome::Skipped,
                            Duration::ZERO,
                            Some("skipped: the backend did not start".to_owned()),
                        )
                    })
                    .collect();
                return ScenarioReport {
                    name: scenario.name.clone(),
                    file: scenario.path.display().to_string(),
                    outcome: Outcome::Inconclusive,
                    duration: started.elapsed(),
                    error: Some(message),
                    steps,
                    connections: Vec::new(),
                };
            }
        };
        let steps = run_steps(scenario, backend.as_ref(), log).await;
        let connections = crate::traffic::edges(&backend.shutdown().await);
        let outcome = ScenarioReport::overall(None, &steps);
        info!(?outcome, elapsed = ?started.elapsed(), "scenario finished");
        ScenarioReport {
            name: scenario.name.clone(),
            file: scenario.path.display().to_string(),
            outcome,
            duration: started.elapsed(),
            error: None,
            steps,
            connections,
        }
    }
    .instrument(span)
    .await
}

async fn run_steps(scenario: &Scenario, backend: &dyn Backend, log: &StepLog) -> Vec<StepReport> {
    let mut reports = Vec::with_capacity(scenario.steps.len());
    let mut blocked: Option<String> = None;
    // Traffic steps look at the records reported after the last change step.
    let mut since_change = 0;
    for (index, step) in scenario.steps.iter().enumerate() {
        if let Some(reason) = &blocked {
            reports.push(bare_report(
                step,
                Outcome::Skipped,
                Duration::ZERO,
                Some(reason.clone()),
            ));
            continue;
        }
        let span = info_span!("step", step = step.name, index = index + 1);
        log.step_started(Instant::now());
        let (report, failure) = run_step(scenario, step, backend, since_change)
            .instrument(span)
            .await;
        let probes = matches!(
            step.action,
            Action::Exec(_) | Action::Matrix(_) | Action::Traffic(_)
        );
        if !probes {
            since_change = backend.traffic().len();
        }
        if let Some(failure) = failure {
            blocked = Some(skip_reason(index + 1, &step.name, failure));
        }
        log.push(report.clone());
        reports.push(report);
    }
    reports
}

/// Runs one step. A change step that did not pass also returns how it failed.
async fn run_step(
    scenario: &Scenario,
    step: &Step,
    backend: &dyn Backend,
    since_change: usize,
) -> (StepReport, Option<ChangeFailure>) {
    let started = Instant::now();
    let change = match &step.action {
        Action::Apply(set) => backend.apply(&set.objects).await,
        Action::Delete(DeleteTarget::Objects(set)) => backend.delete_objects(&set.objects).await,
        Action::Delete(DeleteTarget::Refs(refs)) => backend.delete_refs(refs).await,
        Action::Label(label) => backend.label(label).await,
        Action::RolloutRestart(target) => backend.rollout_restart(target).await,
        Action::Exec(exec) => return (run_exec(scenario, step, exec, backend).await, None),
        Action::Matrix(matrix) => {
            let report = matrix::run_matrix(scenario, step, matrix, backend).await;
            return (report, None);
        }
        Action::Traffic(traffic_step) => {
            let report =
                traffic::run_traffic(scenario, step, traffic_step, backend, since_change).await;
            return (report, None);
        }
    };
    change::finish_change(scenario, step, backend, started, change).await
}

async fn run_exec(
    scenario: &Scenario,
    step: &Step,
    exec: &ExecStep,
    backend: &dyn Backend,
) -> StepReport {
    let started = Instant::now();
    let deadline = started + scenario.timeouts.success;
    let mut attempts = 0;
    let mut streak = 0;
    let mut last_match: Option<ExecOutput> = None;
    let mut last_mismatch: Option<(ExecOutput, Vec<String>)> = None;
    let mut last_error: Option<BackendError>;
    loop {
        attempts += 1;
        let timeout = match exec.probe {
            ProbeMode::Once => COMMAND_TIMEOUT,
            ProbeMode::Consecutive => deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(5))
                .min(COMMAND_TIMEOUT),
        };
        let container = exec.container.as_deref();
        match backend
            .exec(
                &exec.target,
                container,
                &exec.argv,
                exec.stdin.as_deref(),
                timeout,
            )
            .await
        {
            // A command killed by a signal observed nothing about the mesh.
            Ok(output) if output.exit_code.is_none() => {
                streak = 0;
                last_error = Some(BackendError::Exec(format!(
                    "{} was killed by a signal before it finished",
                    exec.argv.first().map_or("the command", String::as_str)
                )));
            }
            Ok(output) => {
                last_error = None;
                let missed = mismatches(&exec.expect, &output);
                tracing::debug!(attempt = attempts, exit_code = ?output.exit_code, matched = missed.is_empty(), "probe");
                if missed.is_empty() {
                    streak += 1;
                    last_match = Some(output);
                } else {
                    streak = 0;
                    last_mismatch = Some((output, missed));
                }
            }
            Err(error) => {
                streak = 0;
                // A target that does not exist will not appear by retrying.
                let target_missing = matches!(
                    backend.object_exists(&exec.target.object()).await,
                    Ok(false)
                );
                last_error = Some(if target_missing {
                    BackendError::Exec(format!(
                        "{} in namespace {} does not exist in the cluster; check the name and \
                         namespace, or create it in an earlier step",
                        exec.target, exec.target.namespace
                    ))
                } else {
                    error
                });
                if target_missing {
                    break;
                }
            }
        }
        let done = match exec.probe {
            ProbeMode::Once => true,
            ProbeMode::Consecutive => streak >= REQUIRED_CONSECUTIVE || Instant::now() >= deadline,
        };
        if done {
            break;
        }
        if streak == 0 {
            tokio::time::sleep(
                RETRY_INTERVAL.min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }

    let required = match exec.probe {
        ProbeMode::Once => 1,
        ProbeMode::Consecutive => REQUIRED_CONSECUTIVE,
    };
    let passed = streak >= required;
    let (outcome, message) = if passed {
        (Outcome::Passed, None)
    } else if let Some(error) = &last_error {
        (
            Outcome::Inconclusive,
            Some(format!("the probe could not run: {error}")),
        )
    } else if last_mismatch.is_none() {
        // Every attempt matched; the timeout cut the streak short, so nothing was judged.
        (
            Outcome::Inconclusive,
            Some(format!(
                "every attempt matched, but only {streak} of the {REQUIRED_CONSECUTIVE} in a row \
                 ran within the success timeout of {:?}; raise spec.timeouts.success",
                scenario.timeouts.success
            )),
        )
    } else {
        (Outcome::Failed, None)
    };
    // A passed step shows its matching output; a failed one its latest mismatch.
    let (output, missed) = match (passed, last_mismatch, last_match) {
        (true, _, Some(output)) => (Some(output), Vec::new()),
        (false, Some((output, missed)), _) => (Some(output), missed),
        (_, _, last_match) => (last_match, Vec::new()),
    };
    let mut report = bare_report(step, outcome, started.elapsed(), message);
    report.actual_exit_code = output.as_ref().map(|output| output.exit_code);
    report.exec = Some(exec_report(exec, attempts, output.as_ref(), missed));
    report
}

/// An event of a run, delivered in the order it happens; reporters render these.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// A scenario took a job slot and its backend is starting.
    Started {
        /// The scenario.
        scenario: &'a Scenario,
        /// Scenarios finished so far.
        finished: usize,
        /// Scenarios in the run.
        total: usize,
    },
    /// A scenario finished.
    Finished {
        /// Its report.
        report: &'a ScenarioReport,
        /// Scenarios finished so far, this one included.
        finished: usize,
        /// Scenarios in the run.
        total: usize,
    },
}

/// The report of a scenario the run stopped: the steps that finished, then the others as
/// skipped.
fn interrupted_report(scenario: &Scenario, log: &StepLog) -> ScenarioReport {
    let finished = log.finished();
    let (scenario_elapsed, step_elapsed) = log.elapsed();
    let mut report = not_run(scenario, INTERRUPTED_REASON);
    report.duration = scenario_elapsed;
    let done = finished.len();
    if let (Some(running), Some(elapsed)) = (report.steps.get_mut(done), step_elapsed) {
        running.duration = elapsed;
    }
    report
        .steps
        .splice(..done.min(report.steps.len()), finished);
    if done > 0 {
        report.outcome = match ScenarioReport::overall(None, &report.steps) {
            Outcome::Passed => Outcome::Skipped,
            other => other,
        };
    }
    report
}

fn not_run(scenario: &Scenario, reason: &str) -> ScenarioReport {
    let steps = scenario
        .steps
        .iter()
        .map(|step| {
            bare_report(
                step,
                Outcome::Skipped,
                Duration::ZERO,
                Some(reason.to_owned()),
            )
        })
        .collect();
    ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        outcome: Outcome::Skipped,
        duration: Duration::ZERO,
        error: None,
        steps,
        connections: Vec::new(),
    }
}

/// Runs scenarios concurrently, `options.jobs` at a time, reporting progress to `on_event`.
/// The run report keeps the given order.
///
/// When `cancel` completes first, the scenarios still running are aborted: their backends
/// are dropped, which stops their meshes and kills their curl processes, and they are
/// reported as skipped, as are those not yet started. [`RunReport::interrupted`] is then set.
pub async fn run_all(
    scenarios: Vec<Scenario>,
    options: &RunOptions,
    on_event: impl Fn(RunEvent<'_>) + Send + Sync + 'static,
    cancel: impl std::future::Future<Output = ()>,
) -> RunReport {
    let total = scenarios.len();
    let permits = Arc::new(Semaphore::new(affordable_jobs(options.jobs)));
    let on_event = Arc::new(on_event);
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let scenarios: Vec<Arc<Scenario>> = scenarios.into_iter().map(Arc::new).collect();
    let logs: Vec<StepLog> = scenarios.iter().map(|_| StepLog::default()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let log = logs[index].clone();
        let permits = permits.clone();
        let on_event = on_event.clone();
        let finished = finished.clone();
        let scenario = scenario.clone();
        let backend = options.backend;
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            on_event(RunEvent::Started {
                scenario: &scenario,
                finished: finished.load(std::sync::atomic::Ordering::Relaxed),
                total,
            });
            let report = run_scenario_reporting(&scenario, backend, &log).await;
            let done = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            on_event(RunEvent::Finished {
                report: &report,
                finished: done,
                total,
            });
            (index, report)
        });
    }
    let mut reports: Vec<Option<ScenarioReport>> = (0..total).map(|_| None).collect();
    let mut interrupted = false;
    tokio::pin!(cancel);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((index, report))) => reports[index] = Some(report),
                Some(Err(error)) => tracing::error!(%error, "scenario task failed"),
            },
            () = &mut cancel => {
                interrupted = true;
                tracing::warn!("run interrupted; stopping the scenarios still running");
                tasks.shutdown().await;
                break;
            }
        }
    }
    // Commands of aborted scenarios, and any killed at their time limit, exit within moments
    // of their SIGKILL; wait for them so that none outlives meshcheck as a zombie.
    crate::backend::process::reap_killed(Duration::from_secs(2)).await;
    let reports = reports
        .into_iter()
        .zip(scenarios.iter().zip(&logs))
        .map(|(report, (scenario, log))| match report {
            Some(report) => report,
            None if interrupted => interrupted_report(scenario, log),
            None => ScenarioReport {
                outcome: Outcome::Inconclusive,
                error: Some("the harness failed while running the scenario".to_owned()),
                ..not_run(
                    scenario,
                    "skipped: the harness failed while running the scenario",
                )
            },
        })
        .collect();
    let mut report = RunReport::new(options.backend.name(), reports);
    report.interrupted = interrupted;
    report
}
