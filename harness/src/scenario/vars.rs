//! Scenario variables: `${NAME}` references replaced in the strings of steps and manifests.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::error::ScenarioError;
use super::yaml::{Node, Origin, Pos, Value};

/// Variable values by name, after command-line overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Variables {
    values: BTreeMap<String, String>,
    /// Names referenced so far, so that the loader can report which variables a scenario
    /// uses.
    used: RefCell<BTreeSet<String>>,
    /// Whether these are a standalone manifest's variables, which has none to define.
    standalone: bool,
}

/// Error expanding a string, with the byte offset of the reference in the string.
#[derive(Debug, PartialEq, Eq)]
struct ReferenceError {
    offset: usize,
    /// The text to look for in the source to find the reference's column.
    reference: String,
    message: String,
    hint: String,
}

impl Variables {
    /// Creates the set from the scenario's values and the overrides that replace them.
    pub fn new(defined: BTreeMap<String, String>, overrides: &BTreeMap<String, String>) -> Self {
        let mut values = defined;
        values.extend(
            overrides
                .iter()
                .map(|(name, value)| (name.clone(), value.clone())),
        );
        Self {
            values,
            used: RefCell::new(BTreeSet::new()),
            standalone: false,
        }
    }

    /// Creates the empty set of a manifest read outside any scenario, as `translate` reads
    /// one, where no variable can be defined.
    pub fn standalone() -> Self {
        Self {
            standalone: true,
            ..Self::new(BTreeMap::new(), &BTreeMap::new())
        }
    }

    /// Returns the names of every variable a reference so far named.
    pub fn used(&self) -> BTreeSet<String> {
        self.used.borrow().clone()
    }

    /// Returns whether `name` may be used as a variable name: an ASCII letter or `_`, then letters,
    /// digits or `_`.
    pub fn is_valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Replaces `${NAME}` references in every string of `node`, keys included.
    ///
    /// `source` is the text the node was parsed from and `origin` maps it to its file; both
    /// serve to point errors at the reference itself.
    pub fn substitute(
        &self,
        node: &mut Node,
        source: &str,
        origin: &Origin,
    ) -> Result<(), ScenarioError> {
        match &mut node.value {
            Value::String(text) => match self.expand(text) {
                Ok(Some(expanded)) => *text = expanded,
                Ok(None) => {}
                Err(error) => {
                    let pos = reference_pos(node, source, &error);
                    return Err(ScenarioError::invalid(
                        origin.locate(pos),
                        error.message,
                        error.hint,
                    ));
                }
            },
            Value::Seq(items) => {
                for item in items {
                    self.substitute(item, source, origin)?;
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries {
                    self.substitute(key, source, origin)?;
                    self.substitute(value, source, origin)?;
                }
            }
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) => {}
        }
        Ok(())
    }

    /// Expands `text`, returning `None` when it holds no reference and no `$${` escape.
    fn expand(&self, text: &str) -> Result<Option<String>, ReferenceError> {
        if !text.contains("${") {
            return Ok(None);
        }
        let mut expanded = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let offset = text.len() - rest.len() + start;
            // `$${` is an escaped `${`; the first `$` is dropped.
            if rest[..start].ends_with('$') {
                expanded.push_str(&rest[..start - 1]);
                expanded.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            expanded.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(malformed(offset, rest[start..].to_owned()));
            };
            let name = &after[..end];
            let reference = format!("${{{name}}}");
            if !Self::is_valid_name(name) {
                return Err(malformed(offset, reference));
            }
            self.used.borrow_mut().insert(name.to_owned());
            let Some(value) = self.values.get(name) else {
                return Err(ReferenceError {
                    offset,
                    message: format!("undefined variable `{name}` in `{reference}`"),
                    hint: if self.standalone {
                        "a manifest outside a scenario has no variables, so write the value \
                         itself, or $${ for a literal ${"
                            .to_owned()
                    } else {
                        format!(
                            "define `{name}` under spec.variables, pass --set {name}=VALUE, or \
                             write $${{ for a literal ${{"
                        )
                    },
                    reference,
                });
            };
            expanded.push_str(value);
            rest = &after[end + 1..];
        }
        expanded.push_str(rest);
        Ok(Some(expanded))
    }
}

fn malformed(offset: usize, reference: String) -> ReferenceError {
    let truncated: String = reference.chars().take(40).collect();
    ReferenceError {
        offset,
        message: format!("invalid variable reference `{truncated}`"),
        hint: "write ${NAME} with letters, digits and `_` in NAME, or $${ for a literal ${"
            .to_owned(),
        reference: "${".to_owned(),
    }
}

/// Returns the position of the reference in the source. It is found as the same occurrence
/// of the reference's text in the node's source text. When the source spells it differently,
/// for example with escapes in a double-quoted string, the node's own position is used.
fn reference_pos(node: &Node, source: &str, error: &ReferenceError) -> Pos {
    let Value::String(value) = &node.value else {
        return node.pos;
    };
    let occurrence = value[..error.offset]
        .matches(error.reference.as_str())
        .count();
    let Some(raw) = node.source_text(source) else {
        return node.pos;
    };
    let Some((index, _)) = raw.match_indices(error.reference.as_str()).nth(occurrence) else {
        return node.pos;
    };
    let before = &raw[..index];
    match before.rfind('\n') {
        None => Pos {
            line: node.pos.line,
            column: node.pos.column + before.chars().count() as u64,
        },
        Some(newline) => Pos {
            line: node.pos.line + before.matches('\n').count() as u64,
            column: before[newline + 1..].chars().count() as u64 + 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::yaml::parse_document;

    fn variables() -> Variables {
        let defined = BTreeMap::from([
            ("ORG".to_owned(), "tetrate".to_owned()),
            ("TEN".to_owned(), "default".to_owned()),
        ]);
        let overrides = BTreeMap::from([("TEN".to_owned(), "team-a".to_owned())]);
        Variables::new(defined, &overrides)
    }

    #[test]
    fn expand_table() {
        let cases = [
            ("plain", None),
            ("${ORG}", Some("tetrate")),
            ("${TEN}-setting", Some("team-a-setting")),
            ("a ${ORG} b ${TEN}", Some("a tetrate b team-a")),
            ("$${ORG}", Some("${ORG}")),
            ("$$${ORG}", Some("$${ORG}")),
            ("cost $5 and $HOME", None),
            ("echo $${HOME} ${ORG}", Some("echo ${HOME} tetrate")),
        ];
        for (text, expected) in cases {
            let expanded = variables().expand(text).unwrap();
            assert_eq!(expanded.as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn expand_errors() {
        let cases = [
            (
                "x ${MISSING}",
                2,
                "undefined variable `MISSING` in `${MISSING}`",
            ),
            (
                "${ORG} ${bad name}",
                7,
                "invalid variable reference `${bad name}`",
            ),
            ("${ORG", 0, "invalid variable reference `${ORG`"),
            ("${}", 0, "invalid variable reference `${}`"),
        ];
        for (text, offset, message) in cases {
            let error = variables().expand(text).unwrap_err();
            assert_eq!(error.offset, offset, "{text:?}");
            assert_eq!(error.message, message, "{text:?}");
        }
    }

    #[test]
    fn undefined_reference_points_at_its_column() {
        let cases = [
            ("a: x ${NOPE}\n", 1, 6),
            ("a: 'q ${NOPE}'\n", 1, 7),
            ("a: ${ORG}-${NOPE}\n", 1, 11),
            ("a: |\n  first ${ORG}\n  and ${NOPE}\n", 3, 7),
            ("a: [\"${NOPE}\"]\n", 1, 6),
            ("a: {b: \"x\\t${NOPE}\"}\n", 1, 12),
            ("${NOPE}: 1\n", 1, 1),
        ];
        for (text, line, column) in cases {
            let origin = Origin::file(Path::new("t.yaml"));
            let mut document = parse_document(text, origin.clone()).unwrap().unwrap();
            let error = variables()
                .substitute(&mut document.root, &document.text, &origin)
                .unwrap_err();
            let location = error.location().unwrap();
            assert_eq!((location.line, location.column), (line, column), "{text:?}");
        }
    }

    #[test]
    fn substitute_replaces_keys_and_values() {
        let origin = Origin::file(Path::new("t.yaml"));
        let text = "${ORG}:\n  - x-${TEN}\n  - 3\n";
        let mut document = parse_document(text, origin.clone()).unwrap().unwrap();
        variables()
            .substitute(&mut document.root, &document.text, &origin)
            .unwrap();
        let items = document.root.get("tetrate").unwrap();
        let Value::Seq(items) = &items.value else {
            panic!("not a sequence: {items:?}");
        };
        assert_eq!(items[0].as_str(), Some("x-team-a"));
        assert_eq!(items[1].value, Value::UInt(3));
    }
}
