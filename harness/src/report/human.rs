//! The report for people: one line per step, and for a step that did not pass, what was
//! expected next to what happened.

use std::fmt::Write as _;

use super::{MatrixReport, Outcome, RunReport, ScenarioReport, StepReport};

/// Maximum length of the output excerpt shown for a failed step, in characters.
const EXCERPT_CHARS: usize = 600;

fn seconds(duration: std::time::Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}

fn excerpt(text: &str) -> String {
    let trimmed = text.trim_end();
    let mut shown: String = trimmed.chars().take(EXCERPT_CHARS).collect();
    if shown.len() < trimmed.len() {
        shown.push_str(" [...]");
    }
    shown
}

fn exit_codes(codes: &[i32]) -> String {
    match codes {
        [code] => code.to_string(),
        codes => {
            let listed: Vec<String> = codes.iter().map(ToString::to_string).collect();
            format!("one of {}", listed.join(", "))
        }
    }
}

fn step_text(step: &StepReport, out: &mut String) {
    let _ = write!(out, "  {:<5} {}", step.outcome.label(), step.name);
    if let (Some(expected), Some(actual)) = (&step.expected_exit_codes, &step.actual_exit_code) {
        let actual = actual.map_or_else(|| "none".to_owned(), |code| code.to_string());
        let _ = write!(out, ": exit {actual} (expected {})", exit_codes(expected));
    }
    let _ = writeln!(out, " [{}]", seconds(step.duration));
    match step.outcome {
        Outcome::Passed => return,
        Outcome::Skipped => {
            if let Some(reason) = &step.message {
                let _ = writeln!(out, "        {reason}");
            }
            return;
        }
        Outcome::Failed | Outcome::Inconclusive => {}
    }
    for line in step_detail(step).lines() {
        let _ = writeln!(out, "        {line}");
    }
}

/// Formats what a step that did not pass expected and got: its location, message, and for
/// exec steps the command, expectations, exit code, mismatches and output excerpts.
pub fn step_detail(step: &StepReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "at {}", step.location);
    if let Some(message) = &step.message {
        let _ = writeln!(out, "{message}");
    }
    if let Some(matrix) = &step.matrix {
        out.push_str(&matrix_grids(matrix));
        for mismatch in &matrix.mismatches {
            let _ = writeln!(out, "mismatch: {mismatch}");
        }
    }
    let Some(exec) = &step.exec else {
        return out;
    };
    let _ = writeln!(
        out,
        "command:  {} in {}",
        shell_words::join(&exec.command),
        exec.target
    );
    let mut expected = vec![format!(
        "exit {}",
        exit_codes(step.expected_exit_codes.as_deref().unwrap_or(&[]))
    )];
    expected.extend(
        exec.expected_stdout
            .iter()
            .map(|check| format!("stdout {check}")),
    );
    expected.extend(
        exec.expected_stderr
            .iter()
            .map(|check| format!("stderr {check}")),
    );
    let _ = writeln!(out, "expected: {}", expected.join("; "));
    if let Some(Some(code)) = step.actual_exit_code {
        let _ = writeln!(
            out,
            "actual:   exit {code} after {} attempt(s)",
            exec.attempts
        );
    }
    for mismatch in &exec.mismatches {
        let _ = writeln!(out, "mismatch: {mismatch}");
    }
    if let Some(stdout) = exec
        .stdout
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        let _ = writeln!(
            out,
            "stdout:   {}",
            excerpt(stdout).replace('\n', "\n          ")
        );
    }
    if let Some(stderr) = exec
        .stderr
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        let _ = writeln!(
            out,
            "stderr:   {}",
            excerpt(stderr).replace('\n', "\n          ")
        );
    }
    out
}

/// Formats a matrix's expected and observed tables side by side; a cell that differs is
/// marked with `*` in both.
pub fn matrix_grids(matrix: &MatrixReport) -> String {
    let mark = |cell: &str, differs: bool| {
        if differs {
            format!("{cell}*")
        } else {
            cell.to_owned()
        }
    };
    let corner_width = matrix
        .rows
        .iter()
        .map(|row| row.source.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let widths: Vec<usize> = matrix
        .columns
        .iter()
        .enumerate()
        .map(|(column, name)| {
            matrix
                .rows
                .iter()
                .flat_map(|row| {
                    let differs = row.differs[column];
                    [
                        mark(&row.expected[column], differs),
                        mark(&row.observed[column], differs),
                    ]
                })
                .map(|cell| cell.chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    let line = |first: &str, cells: &[String]| {
        let mut text = format!("{first:<corner_width$}");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(text, "  {cell:<width$}");
        }
        text
    };
    let header = line(".", &matrix.columns);
    let table_width = header.chars().count();
    let mut out = String::new();
    let _ = writeln!(out, "{:<table_width$}  |  observed", "expected");
    let _ = writeln!(out, "{header}  |  {}", header.trim_end());
    for row in &matrix.rows {
        let expected: Vec<String> = row
            .expected
            .iter()
            .zip(&row.differs)
            .map(|(cell, differs)| mark(cell, *differs))
            .collect();
        let observed: Vec<String> = row
            .observed
            .iter()
            .zip(&row.differs)
            .map(|(cell, differs)| mark(cell, *differs))
            .collect();
        let _ = writeln!(
            out,
            "{}  |  {}",
            line(&row.source, &expected),
            line(&row.source, &observed)
        );
    }
    out
}

/// Formats one scenario's report.
pub fn scenario_text(report: &ScenarioReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario {} ({})", report.name, report.file);
    if let Some(error) = &report.error {
        let _ = writeln!(out, "  error: {error}");
        let _ = writeln!(out, "  SKIP  all {} steps", report.steps.len());
    } else {
        for step in &report.steps {
            step_text(step, &mut out);
        }
    }
    let passed = report
        .steps
        .iter()
        .filter(|step| step.outcome == Outcome::Passed)
        .count();
    let _ = writeln!(
        out,
        "{} {}: {passed} of {} steps passed in {}",
        report.outcome.label(),
        report.name,
        report.steps.len(),
        seconds(report.duration)
    );
    out
}

/// Formats the closing summary of a run.
pub fn summary_text(report: &RunReport) -> String {
    let summary = &report.summary;
    format!(
        "{} scenario(s): {} passed, {} failed, {} inconclusive, {} skipped\n",
        summary.scenarios, summary.passed, summary.failed, summary.inconclusive, summary.skipped
    )
}
