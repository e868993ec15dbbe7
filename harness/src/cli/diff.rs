//! `meshcheck diff`: the probes and connections that changed between two results files.

use std::path::Path;

use meshcheck::exit_code;
use meshcheck::results::{self, Results};

use super::{err, out};

/// Runs `meshcheck diff` and returns its exit code: 0 when nothing changed or every change
/// matches an `--allow` pattern, 1 otherwise.
pub fn diff(old: &Path, new: &Path, allowed: &[String]) -> i32 {
    let (old_results, new_results) = match (Results::read(old), Results::read(new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(error), _) | (_, Err(error)) => {
            err(&format!("error: {error}"));
            return exit_code::INVALID_INPUT;
        }
    };
    let changes = results::diff(&old_results, &new_results);
    let mut unexpected = 0;
    let mut scenario = "";
    for change in &changes {
        if change.scenario != scenario {
            scenario = &change.scenario;
            out(&format!("{scenario}\n"));
        }
        let expected = allowed
            .iter()
            .any(|pattern| results::glob_matches(pattern, &change.key()));
        if !expected {
            unexpected += 1;
        }
        let mark = if expected { " " } else { "!" };
        out(&format!("{mark} {change}\n"));
    }
    out(&format!(
        "{} change(s), {unexpected} not allowed by --allow\n",
        changes.len()
    ));
    if unexpected > 0 {
        exit_code::FAILED
    } else {
        exit_code::SUCCESS
    }
}
