//! Results files and their differences: what every probe observed and which connections the
//! mesh carried, sorted and free of timestamps, so that a results file can be committed and
//! compared after a policy change.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::{Outcome, RunReport};
use crate::traffic::{Edge, EdgeOutcome};

/// Version of the results file format.
pub const RESULTS_VERSION: u32 = 1;

/// The observations of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Results {
    /// [`RESULTS_VERSION`].
    pub schema_version: u32,
    /// Whether the run was interrupted, so that some probes did not run; `diff` refuses such
    /// a file.
    #[serde(default)]
    pub interrupted: bool,
    /// By scenario name.
    pub scenarios: BTreeMap<String, ScenarioResults>,
}

/// The observations of one scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioResults {
    /// Each probe's observed result, by probe: an exec step's name, or a matrix step's name
    /// with `: source -> request`. Values are `exit N`, `HTTP N` (a command that printed
    /// only a status code), a matrix cell (`200`, `E56`), or `not run`.
    pub probes: BTreeMap<String, String>,
    /// Connections as `source -> service:port transport outcome`, each once.
    pub connections: BTreeSet<String>,
}

fn exec_value(exit_code: Option<Option<i32>>, stdout: Option<&str>) -> String {
    match exit_code {
        None => "not run".to_owned(),
        Some(None) => "killed".to_owned(),
        Some(Some(0)) => match stdout.map(str::trim) {
            Some(text) if text.len() == 3 && text.bytes().all(|byte| byte.is_ascii_digit()) => {
                format!("HTTP {text}")
            }
            _ => "exit 0".to_owned(),
        },
        Some(Some(code)) => format!("exit {code}"),
    }
}

/// Names a connection by its service rather than its pod, so that load balancing between a
/// service's pods does not show up as a change.
fn connection_line(edge: &Edge) -> String {
    let destination = edge
        .service
        .clone()
        .unwrap_or_else(|| edge.destination.to_string());
    format!(
        "{} -> {destination}:{} {} {}",
        edge.source,
        edge.port,
        edge.transport.name(),
        edge.outcome.name()
    )
}

impl Results {
    /// Collects the observations of a run.
    pub fn from_report(report: &RunReport) -> Self {
        let mut scenarios = BTreeMap::new();
        for scenario in &report.scenarios {
            let mut probes = BTreeMap::new();
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for step in &scenario.steps {
                // Step names may repeat; later ones get a number, in file order.
                let count = seen.entry(step.name.clone()).or_default();
                *count += 1;
                let name = if *count == 1 {
                    step.name.clone()
                } else {
                    format!("{} #{count}", step.name)
                };
                if let Some(exec) = &step.exec {
                    let value = if step.outcome == Outcome::Skipped {
                        "not run".to_owned()
                    } else {
                        exec_value(step.actual_exit_code, exec.stdout.as_deref())
                    };
                    probes.insert(name.clone(), value);
                }
                if let Some(matrix) = &step.matrix {
                    for row in &matrix.rows {
                        for (column, observed) in matrix.columns.iter().zip(&row.observed) {
                            probes.insert(
                                format!("{name}: {} -> {column}", row.source),
                                observed.clone(),
                            );
                        }
                    }
                }
            }
            let connections = scenario.connections.iter().map(connection_line).collect();
            scenarios.insert(
                scenario.name.clone(),
                ScenarioResults {
                    probes,
                    connections,
                },
            );
        }
        Self {
            schema_version: RESULTS_VERSION,
            interrupted: report.interrupted,
            scenarios,
        }
    }

    /// Writes the results as pretty JSON with a final newline.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Reads a results file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
        let results: Self = serde_json::from_str(&text).map_err(|error| {
            // serde_json counts columns from 0 before a line's first character; editors from 1.
            let column = error.column().max(1);
            let location = format!("{}:{}:{column}", path.display(), error.line());
            if is_json_report(&text) {
                return format!(
                    "{location}: this is a JSON report (`meshcheck run --json`), not a results file; \
                     write one with `meshcheck run --results FILE` and compare those"
                );
            }
            // serde_json ends its message with the position, which the prefix already gives.
            let message = error.to_string();
            let message = message
                .rfind(" at line ")
                .map_or(message.as_str(), |end| &message[..end]);
            format!(
                "{location}: invalid results file: {message}; write it with `meshcheck run --results`"
            )
        })?;
        if results.interrupted {
            return Err(format!(
                "{}: the run that wrote these results was interrupted, so some probes did not run; run it again to completion",
                path.display()
            ));
        }
        if results.schema_version != RESULTS_VERSION {
            return Err(format!(
                "{}: results file version {} is not supported (expected {RESULTS_VERSION}); write it again with this meshcheck",
                path.display(),
                results.schema_version
            ));
        }
        Ok(results)
    }
}

/// Checks whether `text` is a JSON report rather than a results file.
fn is_json_report(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|value| value.get("summary").is_some() && value.get("backend").is_some())
}

/// Checks whether a probe's observed result let the request through.
fn is_open(value: &str) -> bool {
    if value == "exit 0" {
        return true;
    }
    let status = value.strip_prefix("HTTP ").unwrap_or(value);
    status.len() == 3 && status.starts_with(['1', '2', '3'])
}

/// The kind of a difference between two results files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A probe, or the connections between two workloads, were blocked and now get through.
    Opened,
    /// A probe, or the connections between two workloads, got through and are now blocked.
    Closed,
    /// A result changed but is still blocked (or still open).
    Changed,
    /// The connections between two workloads are still allowed but use another transport,
    /// such as mTLS instead of plaintext.
    Transport,
    /// A connection that did not occur before.
    NewConnection,
    /// A connection that no longer occurs.
    GoneConnection,
    /// A probe or scenario present in one file only, or one that did not run (or could not
    /// observe anything) in one of them.
    Missing,
}

impl ChangeKind {
    /// Returns the label printed before the change.
    pub fn label(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Closed => "closed",
            Self::Changed => "changed",
            Self::Transport => "transport",
            Self::NewConnection => "new connection",
            Self::GoneConnection => "gone connection",
            Self::Missing => "not comparable",
        }
    }
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The scenario.
    pub scenario: String,
    /// What changed.
    pub kind: ChangeKind,
    /// The probe or connection.
    pub subject: String,
    /// The old and new values.
    pub detail: String,
}

impl Change {
    /// Returns the text `--allow` patterns match: `scenario: kind: subject`.
    pub fn key(&self) -> String {
        format!("{}: {}: {}", self.scenario, self.kind.label(), self.subject)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<16} {}: {}",
            self.kind.label(),
            self.subject,
            self.detail
        )
    }
}

/// Splits `source -> destination:port transport outcome` into the pair with its port, and the
/// transport and outcome.
fn split_connection(line: &str) -> Option<(&str, &str, &str)> {
    let mut parts = line.rsplitn(3, ' ');
    let outcome = parts.next()?;
    let transport = parts.next()?;
    let pair = parts.next()?;
    Some((pair, transport, outcome))
}

/// Groups connection lines by the pair they join, with each pair's `transport outcome` set.
fn by_pair(lines: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut pairs: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for line in lines {
        if let Some((pair, transport, outcome)) = split_connection(line) {
            pairs
                .entry(pair.to_owned())
                .or_default()
                .insert((transport.to_owned(), outcome.to_owned()));
        }
    }
    pairs
}

fn describe(set: &BTreeSet<(String, String)>) -> String {
    let parts: Vec<String> = set
        .iter()
        .map(|(transport, outcome)| format!("{transport} {outcome}"))
        .collect();
    parts.join(", ")
}

/// Compares the connections of one scenario pair by pair. A pair whose connections were all
/// allowed and now none is has closed, and the reverse has opened. A change of the allowed
/// transports is a transport change, and a pair in one file only is new or gone.
fn diff_connections(
    scenario: &str,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
    changes: &mut Vec<Change>,
) {
    let (old_pairs, new_pairs) = (by_pair(old), by_pair(new));
    let allowed = EdgeOutcome::Allowed.name();
    let pairs: BTreeSet<&String> = old_pairs.keys().chain(new_pairs.keys()).collect();
    for pair in pairs {
        let change = |kind, detail: String| Change {
            scenario: scenario.to_owned(),
            kind,
            subject: pair.clone(),
            detail,
        };
        match (old_pairs.get(pair), new_pairs.get(pair)) {
            (Some(before), Some(after)) if before != after => {
                let allowed_transports = |set: &BTreeSet<(String, String)>| -> BTreeSet<String> {
                    set.iter()
                        .filter(|(_, outcome)| outcome == allowed)
                        .map(|(transport, _)| transport.clone())
                        .collect()
                };
                let (was, is) = (allowed_transports(before), allowed_transports(after));
                let kind = match (was.is_empty(), is.is_empty()) {
                    (false, true) => ChangeKind::Closed,
                    (true, false) => ChangeKind::Opened,
                    (false, false) if was != is => ChangeKind::Transport,
                    _ => ChangeKind::Changed,
                };
                changes.push(change(
                    kind,
                    format!("{} -> {}", describe(before), describe(after)),
                ));
            }
            (Some(_), Some(_)) => {}
            (None, Some(after)) => changes.push(change(ChangeKind::NewConnection, describe(after))),
            (Some(before), None) => {
                changes.push(change(ChangeKind::GoneConnection, describe(before)))
            }
            (None, None) => {}
        }
    }
}

/// Lists every difference from `old` to `new`, sorted by scenario, kind and subject.
pub fn diff(old: &Results, new: &Results) -> Vec<Change> {
    let mut changes = Vec::new();
    let names: BTreeSet<&String> = old.scenarios.keys().chain(new.scenarios.keys()).collect();
    for name in names {
        let (Some(before), Some(after)) = (old.scenarios.get(name), new.scenarios.get(name)) else {
            changes.push(Change {
                scenario: name.clone(),
                kind: ChangeKind::Missing,
                subject: "the scenario".to_owned(),
                detail: if old.scenarios.contains_key(name) {
                    "only in the old results"
                } else {
                    "only in the new results"
                }
                .to_owned(),
            });
            continue;
        };
        let probes: BTreeSet<&String> = before.probes.keys().chain(after.probes.keys()).collect();
        for probe in probes {
            let (old_value, new_value) = (before.probes.get(probe), after.probes.get(probe));
            let (Some(old_value), Some(new_value)) = (old_value, new_value) else {
                changes.push(Change {
                    scenario: name.clone(),
                    kind: ChangeKind::Missing,
                    subject: probe.clone(),
                    detail: if old_value.is_some() {
                        "only in the old results"
                    } else {
                        "only in the new results"
                    }
                    .to_owned(),
                });
                continue;
            };
            if old_value == new_value {
                continue;
            }
            let not_run = |value: &str| matches!(value, "not run" | "killed") || value == "?";
            let kind = match (is_open(old_value), is_open(new_value)) {
                _ if not_run(old_value) || not_run(new_value) => ChangeKind::Missing,
                (false, true) => ChangeKind::Opened,
                (true, false) => ChangeKind::Closed,
                _ => ChangeKind::Changed,
            };
            changes.push(Change {
                scenario: name.clone(),
                kind,
                subject: probe.clone(),
                detail: format!("{old_value} -> {new_value}"),
            });
        }
        diff_connections(name, &before.connections, &after.connections, &mut changes);
    }
    changes.sort();
    changes
}

/// Matches `text` against a pattern where `*` stands for any run of characters.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(found) => rest = &rest[found + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
