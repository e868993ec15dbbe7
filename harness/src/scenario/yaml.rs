//! A YAML tree that remembers where each node came from, and the mapping of its positions
//! back to the file the text was taken from.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options, Spanned};

use super::error::{ScenarioError, SourceLocation};
use super::yaml_error;

/// A 1-based line and column inside the text one [`Document`] was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
}

/// A YAML node with its position and, for scalars, the byte range of its source text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
    /// Byte range of the node in the document text, when the parser reported one.
    pub bytes: Option<(usize, usize)>,
}

/// The content of a [`Node`], with YAML 1.2 core schema scalars.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Returns the value of `key` when this node is a mapping that contains it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// Returns the key node and value node of `key` when this node is a mapping that contains it.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(name, _)| name.as_str() == Some(key))
                .map(|(name, value)| (name, value)),
            _ => None,
        }
    }

    /// Returns the string, when this node is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// Returns the text of a scalar as written, or its value formatted when the source is
    /// unknown. Returns `None` for sequences and mappings.
    pub fn scalar_text(&self, source: &str) -> Option<String> {
        let formatted = match &self.value {
            Value::Null => "null".to_owned(),
            Value::Bool(value) => value.to_string(),
            Value::Int(value) => value.to_string(),
            Value::UInt(value) => value.to_string(),
            Value::Float(value) => value.to_string(),
            Value::String(text) => return Some(text.clone()),
            Value::Seq(_) | Value::Map(_) => return None,
        };
        // A plain scalar keeps its spelling, so `1.10` stays `1.10` rather than `1.1`. Aliases,
        // tags and quoted forms fall back to the formatted value.
        let written = self
            .source_text(source)
            .filter(|text| !text.starts_with(['*', '&', '!', '"', '\'']));
        Some(written.map_or(formatted, str::to_owned))
    }

    /// Returns the exact source text of the node, when the parser reported its byte range.
    pub fn source_text<'a>(&self, source: &'a str) -> Option<&'a str> {
        let (start, end) = self.bytes?;
        source.get(start..end)
    }

    /// Returns a short description of the node's type for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a floating-point number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        let location = spanned.referenced;
        let span = location.span();
        let bytes = match (span.byte_offset(), span.byte_len()) {
            (Some(offset), Some(len)) => usize::try_from(offset)
                .ok()
                .zip(usize::try_from(offset + len).ok()),
            _ => None,
        };
        Ok(Node {
            pos: Pos {
                line: location.line(),
                column: location.column(),
            },
            value: spanned.value,
            bytes,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Int(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::UInt(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::Float(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Value, E> {
        String::from_utf8(value.to_vec())
            .map(Value::String)
            .map_err(|_| E::custom("binary values are not supported"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Node, Node>()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
}

/// Mapping of positions in a document's text to positions in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The text is a run of lines of `file`, starting `line_offset` lines into it, each line
    /// missing its first `column_offset` characters (the indentation of a YAML block scalar).
    Offset {
        file: Arc<Path>,
        line_offset: u64,
        column_offset: u64,
    },
    /// The text came from a string whose lines do not match the file, such as a quoted YAML
    /// string, so every position maps to where that string starts.
    Fixed(SourceLocation),
}

impl Origin {
    /// Creates the origin of a whole file.
    pub fn file(file: &Path) -> Self {
        Self::Offset {
            file: Arc::from(file),
            line_offset: 0,
            column_offset: 0,
        }
    }

    /// Returns the location in the file of `pos` in the text.
    pub fn locate(&self, pos: Pos) -> SourceLocation {
        match self {
            Self::Offset {
                file,
                line_offset,
                column_offset,
            } => SourceLocation {
                file: file.to_path_buf(),
                line: pos.line + line_offset,
                column: pos.column + column_offset,
            },
            Self::Fixed(location) => location.clone(),
        }
    }

    /// Returns the origin of a part of the text that starts at line `first_line` (1-based) and whose
    /// lines are cut `columns` characters into the text's lines.
    pub fn nested(&self, first_line: u64, columns: u64) -> Self {
        match self {
            Self::Offset {
                file,
                line_offset,
                column_offset,
            } => Self::Offset {
                file: file.clone(),
                line_offset: line_offset + first_line - 1,
                column_offset: column_offset + columns,
            },
            Self::Fixed(location) => Self::Fixed(location.clone()),
        }
    }
}

/// One YAML document: its text, its parsed tree and where the text came from.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    pub text: String,
    pub root: Node,
    pub origin: Origin,
}

impl Document {
    /// Returns the file location of a position in this document.
    pub fn locate(&self, pos: Pos) -> SourceLocation {
        self.origin.locate(pos)
    }

    /// Creates an error at `pos` in this document.
    pub fn error(
        &self,
        pos: Pos,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::invalid(self.locate(pos), message, hint)
    }
}

/// Splits a multi-document YAML stream on lines that are exactly `---`, optionally followed by
/// whitespace and a comment. Returns each document's text with the 1-based line it starts on.
///
/// Splitting by lines rather than by the parser keeps each document's line numbers known, so
/// errors and object locations can point into the original text.
pub(crate) fn split_documents(text: &str) -> Vec<(String, u64)> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if is_document_separator(line) {
            documents.push((std::mem::take(&mut current), start_line));
            start_line = index as u64 + 2;
        } else {
            current.push_str(line);
        }
    }
    documents.push((current, start_line));
    documents
}

fn is_document_separator(line: &str) -> bool {
    let Some(rest) = line.trim_end_matches(['\n', '\r']).strip_prefix("---") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let comment = rest.trim_start_matches([' ', '\t']);
    rest.starts_with([' ', '\t']) && (comment.is_empty() || comment.starts_with('#'))
}

/// Parses one YAML document. Returns `None` when it holds only whitespace, comments or a null
/// value.
pub(crate) fn parse_document(
    text: &str,
    origin: Origin,
) -> Result<Option<Document>, ScenarioError> {
    // The parser's default limits, passed explicitly so that an error can name the one breached.
    let budget = Budget::default();
    let mut options = Options::default();
    options.budget = Some(budget.clone());
    // YAML 1.2 core schema: `yes`, `on`, `012` and `1_000` are strings, and plain keys such as
    // `n` or `on` stay keys instead of turning into booleans.
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    let root = match serde_saphyr::from_str_with_options::<Option<Node>>(text, options) {
        Ok(root) => root,
        Err(error) => return Err(syntax_error(&error, &origin, &budget)),
    };
    Ok(root
        .filter(|root| root.value != Value::Null)
        .map(|root| Document {
            text: text.to_owned(),
            root,
            origin,
        }))
}

fn syntax_error(error: &serde_saphyr::Error, origin: &Origin, budget: &Budget) -> ScenarioError {
    let error = error.without_snippet();
    let pos = error
        .location()
        .map(|location| Pos {
            line: location.line(),
            column: location.column(),
        })
        .unwrap_or(Pos { line: 1, column: 1 });
    let (message, hint) = yaml_error::describe(error, budget);
    ScenarioError::invalid(origin.locate(pos), message, hint)
}

/// Works out where the lines of a string value sit in the document it was read from.
///
/// A YAML literal block scalar (`|`) keeps each line of the text, minus the block's
/// indentation, so its lines map one to one onto lines of the document. The value's line N is
/// the document line where the value starts, plus N - 1. Any other style (quoted, folded or a
/// multi-line plain scalar) rewrites the lines, so every position maps to the string's start.
pub(crate) fn string_origin(document: &Document, node: &Node) -> Origin {
    let fixed = Origin::Fixed(document.locate(node.pos));
    let Some(value) = node.as_str() else {
        return fixed;
    };
    let source_lines: Vec<&str> = document.text.lines().collect();
    let indent = node.pos.column.saturating_sub(1);
    let leading_blank = value.lines().take_while(|line| line.is_empty()).count() as u64;
    // The parser reports a block scalar at its first character of content, which is below any
    // blank lines that open the value.
    for first_line in [node.pos.line, node.pos.line.saturating_sub(leading_blank)] {
        if first_line >= 1 && lines_match(value, &source_lines, first_line, indent) {
            return document.origin.nested(first_line, indent);
        }
    }
    fixed
}

/// Whether every non-empty line of `value` equals the document line at the same offset from
/// `first_line`, without its first `indent` characters, which must all be spaces.
fn lines_match(value: &str, source_lines: &[&str], first_line: u64, indent: u64) -> bool {
    let indent = indent as usize;
    value.lines().enumerate().all(|(index, line)| {
        if line.is_empty() {
            return true;
        }
        let Some(source) = source_lines.get(first_line as usize - 1 + index) else {
            return false;
        };
        let mut chars = source.chars();
        let indentation_is_spaces = chars.by_ref().take(indent).all(|c| c == ' ');
        indentation_is_spaces && chars.as_str() == line
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Document {
        parse_document(text, Origin::file(Path::new("t.yaml")))
            .expect("valid YAML")
            .expect("non-empty document")
    }

    #[test]
    fn split_keeps_start_lines() {
        let text = "a: 1\n---\nb: 2\n--- # second\n\n---\nc: 3\n";
        let documents = split_documents(text);
        let starts: Vec<u64> = documents.iter().map(|(_, line)| *line).collect();
        assert_eq!(starts, vec![1, 3, 5, 7]);
        assert_eq!(documents[1].0, "b: 2\n");
        assert_eq!(documents[3].0, "c: 3\n");
    }

    #[test]
    fn split_ignores_indented_and_suffixed_dashes() {
        let text = "a: |\n  ---\n---x\nb: 1\n";
        assert_eq!(split_documents(text).len(), 1);
    }

    #[test]
    fn empty_documents_are_none() {
        for text in ["", "\n\n", "# only a comment\n", "~\n"] {
            let parsed = parse_document(text, Origin::file(Path::new("t.yaml"))).unwrap();
            assert!(parsed.is_none(), "{text:?}");
        }
    }

    #[test]
    fn nodes_carry_positions() {
        let document = parse("a: 1\nb:\n  - x\n  - {c: true}\n");
        let b = document.root.get("b").unwrap();
        let Value::Seq(items) = &b.value else {
            panic!("b is not a sequence: {b:?}");
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        let c = items[1].entry("c").unwrap();
        assert_eq!(c.0.pos, Pos { line: 4, column: 6 });
        assert_eq!(c.1.value, Value::Bool(true));
    }

    #[test]
    fn scalars_follow_yaml_core_schema() {
        let document = parse("a: yes\nb: 012\nc: 1_000\nd: 12\ne: -3\nf: 1.5\nn: x\n");
        let cases = [
            ("a", Value::String("yes".into())),
            ("b", Value::String("012".into())),
            ("c", Value::String("1_000".into())),
            ("d", Value::UInt(12)),
            ("e", Value::Int(-3)),
            ("f", Value::Float(1.5)),
            ("n", Value::String("x".into())),
        ];
        for (key, expected) in cases {
            assert_eq!(
                document.root.get(key).map(|node| &node.value),
                Some(&expected),
                "{key}"
            );
        }
    }

    #[test]
    fn scalar_text_keeps_plain_spelling() {
        let document = parse("a: 1.10\nb: \"2\"\nc: true\n");
        let text = |key| document.root.get(key).unwrap().scalar_text(&document.text);
        assert_eq!(text("a").as_deref(), Some("1.10"));
        assert_eq!(text("b").as_deref(), Some("2"));
        assert_eq!(text("c").as_deref(), Some("true"));
    }

    #[test]
    fn syntax_error_points_into_file() {
        let origin = Origin::file(Path::new("t.yaml")).nested(10, 4);
        let error = parse_document("a: 1\n  b: 2\n", origin).unwrap_err();
        let location = error.location().unwrap();
        assert_eq!((location.line, location.column), (11, 8));
        assert!(error.to_string().contains("invalid YAML"), "{error}");
        assert!(!error.to_string().contains('\n'), "{error}");
    }

    #[test]
    fn literal_block_maps_line_for_line() {
        let document = parse("x:\n  m: |\n    a: 1\n\n    b: 2\n");
        let node = document.root.get("x").unwrap().get("m").unwrap();
        let origin = string_origin(&document, node);
        let expected = Origin::file(Path::new("t.yaml")).nested(3, 4);
        assert_eq!(origin, expected);
        assert_eq!(origin.locate(Pos { line: 3, column: 1 }).line, 5);
        assert_eq!(origin.locate(Pos { line: 3, column: 1 }).column, 5);
    }

    #[test]
    fn literal_block_with_leading_blank_line() {
        let document = parse("m: |\n\n  a: 1\n");
        let node = document.root.get("m").unwrap();
        let origin = string_origin(&document, node);
        assert_eq!(origin.locate(Pos { line: 2, column: 1 }).line, 3);
    }

    #[test]
    fn quoted_string_maps_to_its_start() {
        let document = parse("m: \"a: 1\\nb: 2\"\n");
        let node = document.root.get("m").unwrap();
        let origin = string_origin(&document, node);
        assert_eq!(origin, Origin::Fixed(SourceLocation::new("t.yaml", 1, 4)));
    }
}
