//! `meshcheck run`: runs the selected scenarios, prints each one's report as it finishes,
//! writes the requested report files, and stops cleanly on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use meshcheck::exit_code;
use meshcheck::report::{self, RunReport};
use meshcheck::results::Results;
use meshcheck::runner::{self, RunEvent, RunOptions};

use super::progress::Progress;
use super::{Selection, err, load_selected, out};

/// Options of `meshcheck run`.
#[derive(Clone, Debug, Default)]
pub struct RunArguments {
    /// The scenarios.
    pub selection: Selection,
    /// The JSON report's path.
    pub json: Option<PathBuf>,
    /// The JUnit XML report's path.
    pub junit: Option<PathBuf>,
    /// The results file's path.
    pub results: Option<PathBuf>,
    /// Scenarios at the same time.
    pub jobs: Option<usize>,
}

/// Completes on SIGINT, SIGTERM or SIGHUP (a closed terminal).
pub(super) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut terminate), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot watch for SIGTERM and SIGHUP; only SIGINT stops a run cleanly");
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

fn exit_code_for(report: &RunReport) -> i32 {
    let unavailable = !report.scenarios.is_empty()
        && report
            .scenarios
            .iter()
            .all(|scenario| scenario.error.is_some());
    if report.interrupted {
        exit_code::INTERRUPTED
    } else if report.summary.failed > 0 {
        exit_code::FAILED
    } else if unavailable {
        exit_code::BACKEND_UNAVAILABLE
    } else if report.summary.inconclusive > 0 {
        exit_code::INCONCLUSIVE
    } else {
        exit_code::SUCCESS
    }
}

/// Runs `meshcheck run` and returns its exit code.
pub async fn run(arguments: RunArguments) -> i32 {
    let Some(scenarios) = load_selected(&arguments.selection) else {
        return exit_code::INVALID_INPUT;
    };
    let outputs: Vec<(&std::path::Path, &str)> = [
        (&arguments.json, "JSON report"),
        (&arguments.junit, "JUnit report"),
        (&arguments.results, "results file"),
    ]
    .into_iter()
    .filter_map(|(path, what)| Some((path.as_deref()?, what)))
    .collect();
    if let Err(message) = super::check_outputs(&outputs, &scenarios) {
        err(&message);
        return exit_code::INVALID_INPUT;
    }
    for (path, what) in outputs {
        if let Err(message) = super::check_writable(path, what) {
            err(&message);
            return exit_code::INVALID_INPUT;
        }
    }
    let mut options = RunOptions::default();
    if let Some(jobs) = arguments.jobs {
        options.jobs = jobs;
    }
    let progress = Arc::new(Progress::new());
    let events = progress.clone();
    let report = runner::run_all(
        scenarios,
        &options,
        move |event| match event {
            RunEvent::Started {
                scenario,
                finished,
                total,
            } => events.started(&scenario.name, finished, total),
            RunEvent::Finished {
                report,
                finished,
                total,
            } => events.finished(&report.name, finished, total, || {
                out(&report::human::scenario_text(report));
            }),
        },
        shutdown_signal(),
    )
    .await;
    progress.clear();
    if report.interrupted {
        // Stopped scenarios sent no finished event; show what they got through.
        let stopped = report.scenarios.iter().filter(|scenario| {
            scenario
                .steps
                .iter()
                .any(|step| step.message.as_deref() == Some(runner::INTERRUPTED_REASON))
        });
        for scenario in stopped {
            out(&report::human::scenario_text(scenario));
        }
    }
    out(&report::human::summary_text(&report));
    if report.interrupted {
        err("error: interrupted; scenarios still running were stopped and are reported as skipped");
    }
    for scenario in report
        .scenarios
        .iter()
        .filter(|scenario| scenario.error.is_some())
    {
        err(&format!(
            "error: {}: {}",
            scenario.file,
            scenario.error.as_deref().unwrap_or_default()
        ));
    }
    let mut code = exit_code_for(&report);
    if let Some(path) = &arguments.json
        && let Err(error) = report::json::write(&report, path)
    {
        err(&format!(
            "error: cannot write the JSON report to {}: {error}",
            path.display()
        ));
        code = code.max(exit_code::FAILED);
    }
    if let Some(path) = &arguments.junit
        && let Err(error) = report::junit::write(&report, path)
    {
        err(&format!(
            "error: cannot write the JUnit report to {}: {error}",
            path.display()
        ));
        code = code.max(exit_code::FAILED);
    }
    if let Some(path) = &arguments.results
        && let Err(error) = Results::from_report(&report).write(path)
    {
        err(&format!(
            "error: cannot write the results file to {}: {error}",
            path.display()
        ));
        code = code.max(exit_code::FAILED);
    }
    code
}
