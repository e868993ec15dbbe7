//! The machine-readable report: [`RunReport`](super::RunReport) as pretty-printed JSON.

use std::path::Path;

use super::RunReport;

/// Writes the report to `path`, replacing the file.
pub fn write(report: &RunReport, path: &Path) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}
