//! `meshcheck graph`: runs one scenario and writes the topology of its connections as an
//! HTML page.

use std::path::Path;

use meshcheck::backend::BackendKind;
use meshcheck::report::{self, Outcome};
use meshcheck::{exit_code, graph, runner};

use super::{Selection, err, load_selected, out};

/// Runs `meshcheck graph` and returns its exit code.
pub async fn graph(selection: &Selection, output: &Path) -> i32 {
    let Some(scenarios) = load_selected(selection) else {
        return exit_code::INVALID_INPUT;
    };
    let [scenario] = scenarios.as_slice() else {
        err(&format!(
            "error: graph draws one scenario, but {} were selected; name one file or use --filter",
            scenarios.len()
        ));
        return exit_code::INVALID_INPUT;
    };
    if let Err(message) = super::check_outputs(&[(output, "graph")], &scenarios)
        .and_then(|()| super::check_writable(output, "graph"))
    {
        err(&message);
        return exit_code::INVALID_INPUT;
    }
    // Dropping the run on a signal stops its mesh and kills its curl processes.
    let finished = tokio::select! {
        report = runner::run_scenario(scenario, BackendKind::InProcess) => Some(report),
        () = super::run::shutdown_signal() => None,
    };
    let Some(report) = finished else {
        meshcheck::backend::process::reap_killed(std::time::Duration::from_secs(2)).await;
        err(&format!(
            "interrupted: the scenario was stopped and {} was not written",
            output.display()
        ));
        return exit_code::INTERRUPTED;
    };
    out(&report::human::scenario_text(&report));
    let title = format!("meshcheck: {}", scenario.name);
    if let Err(error) = std::fs::write(output, graph::render_html(&title, &report.connections)) {
        err(&format!(
            "error: cannot write the graph to {}: {error}",
            output.display()
        ));
        return exit_code::INVALID_INPUT;
    }
    out(&format!(
        "wrote {} with {} connection groups\n",
        output.display(),
        report.connections.len()
    ));
    match report.outcome {
        Outcome::Passed => exit_code::SUCCESS,
        Outcome::Failed => exit_code::FAILED,
        Outcome::Inconclusive | Outcome::Skipped if report.error.is_some() => {
            exit_code::BACKEND_UNAVAILABLE
        }
        Outcome::Inconclusive | Outcome::Skipped => exit_code::INCONCLUSIVE,
    }
}
