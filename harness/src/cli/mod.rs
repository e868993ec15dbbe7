//! The command implementations behind `meshcheck`'s subcommands, and what they share:
//! loading and selecting scenarios, and writing output that survives a closed pipe.

pub mod diff;
pub mod graph;
pub mod list;
pub mod progress;
pub mod run;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use meshcheck::backend::BackendKind;
use meshcheck::scenario::{self, Scenario};

/// Writes to stdout. Errors are ignored: a reader that closed the pipe early
/// (`meshcheck list | head`) is not a failure of meshcheck.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes one line to stderr, ignoring errors as [`out`] does.
pub fn err(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// The scenarios a command works on.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Scenario files or directories.
    pub paths: Vec<PathBuf>,
    /// Variable overrides (`--set NAME=VALUE`).
    pub variables: Vec<(String, String)>,
    /// Keep scenarios whose name or file contains one of these (`--filter`).
    pub filters: Vec<String>,
    /// Keep scenarios with one of these tags (`--tag`).
    pub tags: Vec<String>,
}

impl Selection {
    fn keeps(&self, scenario: &Scenario) -> bool {
        let file = scenario.path.display().to_string();
        let by_filter = self.filters.is_empty()
            || self.filters.iter().any(|filter| {
                scenario.name.contains(filter.as_str()) || file.contains(filter.as_str())
            });
        let by_tag =
            self.tags.is_empty() || self.tags.iter().any(|tag| scenario.tags.contains(tag));
        by_filter && by_tag
    }
}

/// Loads every scenario of `selection` and keeps the selected ones. Each invalid file is
/// printed as one error line, and the result is `None` when any file was invalid or nothing
/// was found.
pub fn load_selected(selection: &Selection) -> Option<Vec<Scenario>> {
    let overrides: BTreeMap<String, String> = selection.variables.iter().cloned().collect();
    let files = match scenario::discover(&selection.paths) {
        Ok(files) => files,
        Err(error) => {
            err(&format!("error: {error}"));
            return None;
        }
    };
    if files.is_empty() {
        let shown: Vec<String> = selection
            .paths
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        err(&format!(
            "error: no scenario files found in {}",
            shown.join(", ")
        ));
        return None;
    }
    let mut scenarios = Vec::new();
    let mut valid = true;
    for file in files {
        let loaded = scenario::load_with(&file, &overrides).and_then(|loaded| {
            // Only the in-process backend exists; the dry run is the selected backend's.
            BackendKind::InProcess.rehearse(&loaded).map(|()| loaded)
        });
        match loaded {
            Ok(loaded) => scenarios.push(loaded),
            Err(error) => {
                err(&format!("error: {error}"));
                valid = false;
            }
        }
    }
    if !valid {
        return None;
    }
    for (name, _) in &selection.variables {
        if !scenarios
            .iter()
            .any(|scenario| scenario.variables.contains(name))
        {
            let known: std::collections::BTreeSet<&String> = scenarios
                .iter()
                .flat_map(|scenario| &scenario.variables)
                .collect();
            let known: Vec<&str> = known.into_iter().map(String::as_str).collect();
            err(&format!(
                "error: --set {name}: no selected scenario defines or uses this variable; check the \
                 spelling (variables: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
            return None;
        }
    }
    let mut names: BTreeMap<&str, &scenario::SourceLocation> = BTreeMap::new();
    for scenario in &scenarios {
        if let Some(first) = names.insert(&scenario.name, &scenario.name_location) {
            err(&format!(
                "error: {}: scenario name `{}` is also used at {first}; give each scenario its \
                 own metadata.name, since reports and results files key on it",
                scenario.name_location, scenario.name,
            ));
            return None;
        }
    }
    let selected: Vec<Scenario> = scenarios
        .into_iter()
        .filter(|scenario| selection.keeps(scenario))
        .collect();
    if selected.is_empty() {
        err("error: no scenario matches the given --filter and --tag options");
        return None;
    }
    Some(selected)
}

/// Checks before any mesh starts that an output file can be written, without changing it: an
/// existing file is opened for appending, a missing one is created and removed again.
pub fn check_writable(path: &Path, description: &str) -> Result<(), String> {
    let cannot = |error: std::io::Error| {
        format!(
            "error: cannot write the {description} to {}: {error}",
            path.display()
        )
    };
    match std::fs::OpenOptions::new().append(true).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::File::create(path).map_err(cannot)?;
            std::fs::remove_file(path).map_err(cannot)
        }
        Err(error) => Err(cannot(error)),
    }
}

/// Returns the form of `path` used to compare files: canonical when it exists, otherwise
/// absolute with a canonical parent directory.
fn comparable(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map_or_else(|_| absolute.clone(), |parent| parent.join(name)),
        _ => absolute,
    }
}

/// Checks that no two output files are the same file and that none is a scenario file, which
/// writing it would destroy.
pub fn check_outputs(outputs: &[(&Path, &str)], scenarios: &[Scenario]) -> Result<(), String> {
    let mut seen: Vec<(PathBuf, &str)> = Vec::new();
    for (path, description) in outputs {
        let resolved = comparable(path);
        if let Some((_, earlier)) = seen.iter().find(|(other, _)| *other == resolved) {
            return Err(format!(
                "error: the {description} and the {earlier} would both be written to {}; give each \
                 its own file",
                path.display()
            ));
        }
        if let Some(scenario) = scenarios
            .iter()
            .find(|scenario| comparable(&scenario.path) == resolved)
        {
            return Err(format!(
                "error: the {description} would overwrite the scenario file {}; choose another path",
                scenario.path.display()
            ));
        }
        seen.push((resolved, description));
    }
    Ok(())
}
