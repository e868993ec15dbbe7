//! Expected results of `exec` steps: accepted exit codes and matchers on stdout and stderr.

use std::fmt;

use regex::Regex;

/// The `expect` block of an `exec` step. A result matches when its exit code is accepted and
/// every matcher holds.
///
/// ```yaml
/// expect:
///   exitCode: [7, 56]            # one code or a list, each 0 to 255; default 0
///   stdout:                      # matchers, all of which must hold:
///     contains: "<title>"        #   a substring, or a list of substrings
///     notContains: [403, RBAC]   #   substrings that must be absent
///     regex: "Book(store|shop)"  #   a Rust regex that must match somewhere
///     equals: "ok\n"             #   the whole output, exactly
///   stderr: {regex: "Connection reset by peer"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// `exitCode`: the accepted exit codes, in file order, without duplicates; never empty.
    pub exit_codes: Vec<i32>,
    /// `stdout` matchers.
    pub stdout: Vec<TextMatcher>,
    /// `stderr` matchers.
    pub stderr: Vec<TextMatcher>,
}

impl Default for Expectation {
    /// Exit code 0 and no output matchers.
    fn default() -> Self {
        Self {
            exit_codes: vec![0],
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }
}

/// Text Envoy sends with an HTTP 403 from its RBAC filter.
const RBAC_DENIED: &str = "RBAC: access denied";

impl Expectation {
    /// Returns whether the command is expected to succeed: exit code 0 is the only one
    /// accepted, and stdout is not expected to show a denial. A denial is an HTTP status of
    /// 400 or more as the whole of stdout (from `-w '%{http_code}'`), or Envoy's
    /// `RBAC: access denied`.
    pub fn is_success(&self) -> bool {
        self.exit_codes == [0] && !self.stdout.iter().any(TextMatcher::expects_denial)
    }
}

/// A check on the text a command wrote to stdout or stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextMatcher {
    /// `contains`: the text contains this substring.
    Contains(String),
    /// `notContains`: the text does not contain this substring.
    NotContains(String),
    /// `regex`: the pattern matches somewhere in the text.
    Regex(Pattern),
    /// `equals`: the text is exactly this.
    Equals(String),
}

/// Maximum length, in characters, of the actual text quoted in a mismatch description.
const EXCERPT_CHARS: usize = 200;

impl TextMatcher {
    /// Checks whether this matcher expects an HTTP denial: the whole output is a status of
    /// 400 or more, or it names Envoy's RBAC denial.
    fn expects_denial(&self) -> bool {
        match self {
            Self::Equals(text) => {
                let status = text.trim();
                text.contains(RBAC_DENIED)
                    || (status.len() == 3 && status.parse::<u16>().is_ok_and(|code| code >= 400))
            }
            Self::Contains(text) => text.contains(RBAC_DENIED),
            Self::NotContains(_) | Self::Regex(_) => false,
        }
    }

    /// Checks `text`, returning a description of the mismatch when it does not match. The
    /// description does not name the stream, such as `expected to contain "x", but it does
    /// not`, so the caller prefixes `stdout` or `stderr`.
    pub fn check(&self, text: &str) -> Result<(), String> {
        match self {
            Self::Contains(needle) if !text.contains(needle.as_str()) => {
                Err(format!("expected to contain {needle:?}, but it does not"))
            }
            Self::NotContains(needle) if text.contains(needle.as_str()) => {
                Err(format!("expected not to contain {needle:?}, but it does"))
            }
            Self::Regex(pattern) if !pattern.regex().is_match(text) => Err(format!(
                "expected to match the regex {:?}, but it does not",
                pattern.as_str()
            )),
            Self::Equals(expected) if text != expected => Err(format!(
                "expected to equal {expected:?}, but it is {:?}",
                excerpt(text)
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for TextMatcher {
    /// Formats the matcher as written in a scenario, such as `contains "<title>"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Contains(needle) => write!(f, "contains {needle:?}"),
            Self::NotContains(needle) => write!(f, "notContains {needle:?}"),
            Self::Regex(pattern) => write!(f, "regex {:?}", pattern.as_str()),
            Self::Equals(expected) => write!(f, "equals {expected:?}"),
        }
    }
}

/// Returns the start of `text`, cut at [`EXCERPT_CHARS`] characters with `...` appended.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// A compiled regular expression that compares and prints as its pattern.
#[derive(Clone)]
pub struct Pattern(Regex);

impl Pattern {
    /// Compiles `pattern` with the `regex` crate's syntax.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Regex::new(pattern).map(Self)
    }

    /// Returns the pattern as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Returns the compiled regex.
    pub fn regex(&self) -> &Regex {
        &self.0
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.as_str()).finish()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Pattern {}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(pattern: &str) -> TextMatcher {
        TextMatcher::Regex(Pattern::new(pattern).unwrap())
    }

    #[test]
    fn matcher_check_table() {
        let text = "<title>Simple Bookstore App</title>\n";
        let cases = [
            (TextMatcher::Contains("<title>Simple".into()), true),
            (TextMatcher::Contains("RBAC".into()), false),
            (TextMatcher::NotContains("RBAC".into()), true),
            (TextMatcher::NotContains("Bookstore".into()), false),
            (regex(r"Book(store|shop) App"), true),
            (regex(r"^curl: \(56\)"), false),
            (TextMatcher::Equals(text.into()), true),
            (TextMatcher::Equals("<title>".into()), false),
        ];
        for (matcher, matches) in cases {
            assert_eq!(matcher.check(text).is_ok(), matches, "{matcher}");
        }
    }

    #[test]
    fn mismatch_descriptions() {
        let contains = TextMatcher::Contains("x".into()).check("abc").unwrap_err();
        assert_eq!(contains, "expected to contain \"x\", but it does not");
        let equals = TextMatcher::Equals("a".into()).check("b\n").unwrap_err();
        assert_eq!(equals, "expected to equal \"a\", but it is \"b\\n\"");
        let long = "y".repeat(500);
        let cut = TextMatcher::Equals("a".into()).check(&long).unwrap_err();
        assert!(cut.ends_with("...\""), "{cut}");
        assert!(cut.len() < 260, "{cut}");
    }

    #[test]
    fn pattern_compares_by_text() {
        assert_eq!(Pattern::new("a+").unwrap(), Pattern::new("a+").unwrap());
        assert_ne!(Pattern::new("a+").unwrap(), Pattern::new("a*").unwrap());
        assert_eq!(
            format!("{:?}", Pattern::new("a+").unwrap()),
            "Pattern(\"a+\")"
        );
    }

    #[test]
    fn success_means_only_zero() {
        let mut expectation = Expectation::default();
        assert!(expectation.is_success());
        expectation.exit_codes = vec![0, 56];
        assert!(!expectation.is_success());
        expectation.exit_codes = vec![56];
        assert!(!expectation.is_success());
    }
}
