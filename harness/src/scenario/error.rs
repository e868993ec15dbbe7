//! Errors raised while loading scenarios, and the source locations they point at.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A position in a scenario or manifest file: 1-based line and column, where the column
/// counts characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceLocation {
    /// The file, as the scenario path was given, or `<bundled:NAME>` for a bundled manifest.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// 1-based column number, in characters.
    pub column: u64,
}

impl SourceLocation {
    /// Creates a location in `file`.
    pub fn new(file: impl Into<PathBuf>, line: u64, column: u64) -> Self {
        Self {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for SourceLocation {
    /// Formats the location as `file:line:column`, the form editors and terminals link to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Error raised when a scenario cannot be loaded. Every variant is the scenario author's to
/// fix.
///
/// The `Display` output is a single line of the form `file:line:column: <what is wrong>; <what
/// to do>`, or `file: ...` when no line applies.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario, a manifest or a directory is invalid at a known position.
    #[error("{location}: {message}; {hint}")]
    Invalid {
        /// Position of the problem.
        location: SourceLocation,
        /// Description of the problem, such as "unknown field `exitcode` in expect".
        message: String,
        /// Suggested fix, such as "check the spelling".
        hint: String,
    },
    /// A scenario file or a directory given on the command line could not be read.
    #[error("{}: failed to read {description}: {source}; check that it exists and is readable", path.display())]
    Read {
        /// The path that could not be read.
        path: PathBuf,
        /// Kind of path expected, such as "scenario file" or "directory".
        description: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl ScenarioError {
    /// Creates an [`ScenarioError::Invalid`] error, folding any line breaks in `message` and
    /// `hint` into spaces so that the error stays on one line.
    pub fn invalid(
        location: SourceLocation,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            location,
            message: single_line(message.into()),
            hint: single_line(hint.into()),
        }
    }

    /// Returns the position the error points at, if it has one.
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            Self::Invalid { location, .. } => Some(location),
            Self::Read { .. } => None,
        }
    }
}

/// Replaces line breaks and the indentation after them with single spaces.
fn single_line(text: String) -> String {
    if !text.contains(['\n', '\r']) {
        return text;
    }
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_displays_file_line_column() {
        let location = SourceLocation::new("scenarios/x.yaml", 12, 7);
        assert_eq!(location.to_string(), "scenarios/x.yaml:12:7");
    }

    #[test]
    fn invalid_error_is_one_line() {
        let error = ScenarioError::invalid(
            SourceLocation::new("x.yaml", 3, 1),
            "regex parse error:\n    (a\n    ^\nerror: unclosed group",
            "fix the pattern",
        );
        assert_eq!(
            error.to_string(),
            "x.yaml:3:1: regex parse error: (a ^ error: unclosed group; fix the pattern"
        );
        assert_eq!(error.location(), Some(&SourceLocation::new("x.yaml", 3, 1)));
    }

    #[test]
    fn read_error_names_path_and_cause() {
        let error = ScenarioError::Read {
            path: PathBuf::from("missing.yaml"),
            description: "scenario file",
            source: io::Error::new(io::ErrorKind::NotFound, "not found"),
        };
        assert_eq!(
            error.to_string(),
            "missing.yaml: failed to read scenario file: not found; check that it exists and is \
             readable"
        );
        assert!(error.location().is_none());
    }
}
