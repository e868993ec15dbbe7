//! The JUnit XML report that GitHub Actions, GitLab and Jenkins render: one `testsuite` per
//! scenario and one `testcase` per step. A failed step carries `<failure>` with expected
//! against actual, an inconclusive one `<error>` (the probe broke, so the result is unknown),
//! and a skipped one `<skipped>` with the reason.

use std::fmt::Write as _;
use std::path::Path;

use super::{Outcome, RunReport, ScenarioReport, StepReport, human};

/// Escapes text for XML content and attribute values, dropping characters XML 1.0 forbids
/// (control characters other than tab, newline and carriage return).
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(character),
            control if (control as u32) < 0x20 => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            other => escaped.push(other),
        }
    }
    escaped
}

fn seconds(duration: std::time::Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

fn count(steps: &[StepReport], outcome: Outcome) -> usize {
    steps.iter().filter(|step| step.outcome == outcome).count()
}

/// Summarizes a step that did not pass in one line, for the `message` attribute.
fn short_message(step: &StepReport) -> String {
    match (&step.expected_exit_codes, &step.actual_exit_code) {
        (Some(expected), Some(actual)) => {
            let actual = actual.map_or_else(|| "none".to_owned(), |code| code.to_string());
            let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
            format!("exit {actual}, expected {}", expected.join(" or "))
        }
        _ => step
            .message
            .as_deref()
            .and_then(|message| message.lines().next())
            .unwrap_or("step did not pass")
            .to_owned(),
    }
}

fn testcase(scenario: &ScenarioReport, step: &StepReport, out: &mut String) {
    let (file, line) = match step.location.rsplitn(3, ':').collect::<Vec<_>>().as_slice() {
        [_, line, file] => ((*file).to_owned(), (*line).to_owned()),
        _ => (scenario.file.clone(), String::new()),
    };
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\" file=\"{}\"",
        escape(&step.name),
        escape(&scenario.name),
        seconds(step.duration),
        escape(&file)
    );
    if !line.is_empty() {
        let _ = write!(out, " line=\"{}\"", escape(&line));
    }
    let detail = human::step_detail(step);
    match step.outcome {
        Outcome::Passed => {
            let _ = writeln!(out, ">");
        }
        Outcome::Failed => {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\" type=\"failed\">{}</failure>",
                escape(&short_message(step)),
                escape(&detail)
            );
        }
        Outcome::Inconclusive => {
            let _ = writeln!(
                out,
                ">\n      <error message=\"{}\" type=\"inconclusive\">{}</error>",
                escape(&short_message(step)),
                escape(&detail)
            );
        }
        Outcome::Skipped => {
            let _ = writeln!(
                out,
                ">\n      <skipped message=\"{}\"/>",
                escape(step.message.as_deref().unwrap_or("skipped"))
            );
        }
    }
    // Output of passed steps (often whole pages) would only bloat the report.
    if let Some(exec) = step
        .exec
        .as_ref()
        .filter(|_| step.outcome != Outcome::Passed)
    {
        if let Some(stdout) = exec.stdout.as_deref().filter(|text| !text.is_empty()) {
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape(stdout));
        }
        if let Some(stderr) = exec.stderr.as_deref().filter(|text| !text.is_empty()) {
            let _ = writeln!(out, "      <system-err>{}</system-err>", escape(stderr));
        }
    }
    let _ = writeln!(out, "    </testcase>");
}

fn testsuite(scenario: &ScenarioReport, out: &mut String) {
    let steps = &scenario.steps;
    // A scenario whose backend did not start has no step results; it counts as one error.
    let start_error = usize::from(scenario.error.is_some());
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" file=\"{}\">",
        escape(&scenario.name),
        steps.len() + start_error,
        count(steps, Outcome::Failed),
        count(steps, Outcome::Inconclusive) + start_error,
        count(steps, Outcome::Skipped),
        seconds(scenario.duration),
        escape(&scenario.file)
    );
    if let Some(error) = &scenario.error {
        let _ = writeln!(
            out,
            "    <testcase name=\"start the backend\" classname=\"{}\" time=\"0.000\">\n      <error message=\"{}\" type=\"inconclusive\"/>\n    </testcase>",
            escape(&scenario.name),
            escape(error)
        );
    }
    for step in steps {
        testcase(scenario, step, out);
    }
    let _ = writeln!(out, "  </testsuite>");
}

/// Formats the report as JUnit XML.
pub fn to_xml(report: &RunReport) -> String {
    let all_steps: Vec<&StepReport> = report
        .scenarios
        .iter()
        .flat_map(|scenario| &scenario.steps)
        .collect();
    let steps_with = |outcome| {
        all_steps
            .iter()
            .filter(|step| step.outcome == outcome)
            .count()
    };
    let start_errors = report
        .scenarios
        .iter()
        .filter(|scenario| scenario.error.is_some())
        .count();
    let total: std::time::Duration = report
        .scenarios
        .iter()
        .map(|scenario| scenario.duration)
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"meshcheck\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
        all_steps.len() + start_errors,
        steps_with(Outcome::Failed),
        steps_with(Outcome::Inconclusive) + start_errors,
        steps_with(Outcome::Skipped),
        seconds(total)
    );
    for scenario in &report.scenarios {
        testsuite(scenario, &mut out);
    }
    out.push_str("</testsuites>\n");
    out
}

/// Writes the report to `path` as JUnit XML, replacing the file.
pub fn write(report: &RunReport, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, to_xml(report))
}
