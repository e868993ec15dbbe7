//! A serde deserializer over the positioned YAML tree, so that every error it raises carries
//! the line and column of the node it concerns.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use super::error::ScenarioError;
use super::yaml::{Document, Node, Pos, Value};

/// Deserializes `T` from `node`, a node of `document`.
///
/// `name` is what the node is called in messages, usually the key it sits under. With
/// `lenient_strings`, string targets also accept numbers and booleans as written, such as
/// `9080` for a variable value. Without it they accept only strings, as the Kubernetes API
/// does.
pub(crate) fn from_node<'a, T: Deserialize<'a>>(
    document: &'a Document,
    node: &'a Node,
    name: &'a str,
    lenient_strings: bool,
) -> Result<T, ScenarioError> {
    let deserializer = NodeDeserializer {
        node,
        name,
        source: &document.text,
        lenient_strings,
        is_key: false,
    };
    T::deserialize(deserializer).map_err(|error| error.into_scenario_error(document, node.pos))
}

/// A value with the position of the node it was read from. Only [`from_node`] fills in the
/// position, since it needs this module's deserializer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Located<T> {
    pub pos: Pos,
    pub value: T,
}

const LOCATED_MARKER: &str = "$meshcheck::Located";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(LOCATED_MARKER, LocatedVisitor(PhantomData))
    }
}

struct LocatedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
    type Value = Located<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value with its position")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let missing = || de::Error::custom("internal error: incomplete located value");
        let line = seq.next_element()?.ok_or_else(missing)?;
        let column = seq.next_element()?.ok_or_else(missing)?;
        let value = seq.next_element()?.ok_or_else(missing)?;
        Ok(Located {
            pos: Pos { line, column },
            value,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        Ok(Located {
            pos: Pos::default(),
            value: T::deserialize(inner)?,
        })
    }
}

/// A deserialization error, positioned once it has passed the node it concerns.
#[derive(Debug)]
pub(crate) struct DeError {
    kind: DeErrorKind,
    pos: Option<Pos>,
    /// Name of the node in messages: the key it sits under.
    context: Option<String>,
}

#[derive(Debug)]
enum DeErrorKind {
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    InvalidType {
        found: String,
        expected: String,
    },
    InvalidValue {
        found: String,
        expected: String,
    },
    Custom(String),
}

impl DeError {
    /// Sets the position and context unless a deeper node already set them.
    fn at(mut self, pos: Pos, context: &str) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos);
            self.context = Some(context.to_owned());
        }
        self
    }

    fn into_scenario_error(self, document: &Document, fallback: Pos) -> ScenarioError {
        let (message, hint) = self.describe();
        document.error(self.pos.unwrap_or(fallback), message, hint)
    }

    /// Returns the message and the hint of the error.
    fn describe(&self) -> (String, String) {
        let context = self.context.as_deref().unwrap_or("the document");
        match &self.kind {
            DeErrorKind::UnknownField { field, expected } => (
                format!(
                    "unknown field `{field}` in {context}, {}",
                    expected_list(expected)
                ),
                "check the spelling".to_owned(),
            ),
            DeErrorKind::MissingField(field) => (
                format!("missing field `{field}` in {context}"),
                format!("add `{field}`"),
            ),
            DeErrorKind::UnknownVariant { variant, expected } => (
                format!(
                    "unknown value `{variant}` for {context}, {}",
                    expected_list(expected)
                ),
                "check the spelling".to_owned(),
            ),
            DeErrorKind::InvalidType { found, expected } => (
                format!("invalid type for {context}: found {found}, expected {expected}"),
                format!("write {expected} here"),
            ),
            DeErrorKind::InvalidValue { found, expected } => (
                format!("invalid value for {context}: found {found}, expected {expected}"),
                "correct the value".to_owned(),
            ),
            DeErrorKind::Custom(message) => (
                format!("invalid {context}: {message}"),
                "correct the value".to_owned(),
            ),
        }
    }
}

fn expected_list(expected: &[&str]) -> String {
    match expected {
        [] => "no fields are allowed here".to_owned(),
        [only] => format!("expected `{only}`"),
        _ => {
            let names: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
            format!("expected one of {}", names.join(", "))
        }
    }
}

/// Describes a found value the way YAML users name it.
fn describe_unexpected(unexpected: &Unexpected<'_>) -> String {
    match unexpected {
        Unexpected::Unit | Unexpected::Option => "null".to_owned(),
        Unexpected::Map => "a mapping".to_owned(),
        Unexpected::Seq => "a sequence".to_owned(),
        other => other.to_string(),
    }
}

/// Describes an expected value without Rust type names.
fn describe_expected(expected: &dyn de::Expected) -> String {
    let text = expected.to_string();
    match text.as_str() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "an integer".to_owned()
        }
        "f32" | "f64" => "a number".to_owned(),
        _ => text,
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (message, hint) = self.describe();
        write!(f, "{message}; {hint}")
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::new(DeErrorKind::Custom(message.to_string()))
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::new(DeErrorKind::InvalidType {
            found: describe_unexpected(&unexpected),
            expected: describe_expected(expected),
        })
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::new(DeErrorKind::InvalidValue {
            found: describe_unexpected(&unexpected),
            expected: describe_expected(expected),
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(DeErrorKind::UnknownVariant {
            variant: variant.to_owned(),
            expected,
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(DeErrorKind::UnknownField {
            field: field.to_owned(),
            expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(DeErrorKind::MissingField(field))
    }
}

impl DeError {
    fn new(kind: DeErrorKind) -> Self {
        Self {
            kind,
            pos: None,
            context: None,
        }
    }
}

#[derive(Clone, Copy)]
struct NodeDeserializer<'a> {
    node: &'a Node,
    name: &'a str,
    source: &'a str,
    lenient_strings: bool,
    /// Mapping keys read as strings whatever their YAML type, and as numbers from strings,
    /// since serde maps keyed by numbers expect `8080:` and `"8080":` alike.
    is_key: bool,
}

impl<'a> NodeDeserializer<'a> {
    fn child(&self, node: &'a Node, name: &'a str) -> Self {
        Self {
            node,
            name,
            source: self.source,
            lenient_strings: self.lenient_strings,
            is_key: false,
        }
    }

    fn key(&self, node: &'a Node) -> Self {
        Self {
            is_key: true,
            ..self.child(node, self.name)
        }
    }

    fn locate<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|error| error.at(self.node.pos, self.name))
    }

    /// Reads a scalar as a string when the target is a string and the node is a number or a
    /// boolean that may be read as one.
    fn deserialize_text<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let as_text = self.is_key || self.lenient_strings;
        match &self.node.value {
            Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) if as_text => {
                let text = self.node.scalar_text(self.source).unwrap_or_default();
                self.locate(visitor.visit_string(text))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    /// Reads a key written as a string as a number when the target is a number.
    fn deserialize_number<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let (true, Value::String(text)) = (self.is_key, &self.node.value) {
            if let Ok(number) = text.parse::<u64>() {
                return self.locate(visitor.visit_u64(number));
            }
            if let Ok(number) = text.parse::<i64>() {
                return self.locate(visitor.visit_i64(number));
            }
        }
        self.deserialize_any(visitor)
    }
}

macro_rules! forward_numbers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
                self.deserialize_number(visitor)
            }
        )*
    };
}

impl<'a> Deserializer<'a> for NodeDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(*value),
            Value::Int(value) => visitor.visit_i64(*value),
            Value::UInt(value) => visitor.visit_u64(*value),
            Value::Float(value) => visitor.visit_f64(*value),
            Value::String(text) => visitor.visit_borrowed_str(text),
            Value::Seq(items) => visitor.visit_seq(SeqDeserializer {
                parent: self,
                items: items.iter(),
            }),
            Value::Map(entries) => visitor.visit_map(MapDeserializer {
                parent: self,
                entries: entries.iter(),
                value: None,
            }),
        };
        self.locate(result)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => self.locate(visitor.visit_none()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == LOCATED_MARKER {
            return visitor.visit_seq(LocatedAccess {
                node: self,
                next: 0,
            });
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::String(text) => visitor.visit_enum(StrDeserializer::<DeError>::new(text)),
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(EnumDeserializer {
                    parent: self,
                    key,
                    value,
                })
            }
            _ => Err(de::Error::invalid_type(
                unexpected(&self.node.value),
                &"a string or a mapping with one key",
            )),
        };
        self.locate(result)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_text(visitor)
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_text(visitor)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Field names are always text: a key `0:` must not select the first field by index.
        match &self.node.value {
            Value::String(_) => self.deserialize_any(visitor),
            _ => {
                let text = self.node.scalar_text(self.source).unwrap_or_default();
                self.locate(visitor.visit_string(text))
            }
        }
    }

    forward_numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool f32 f64 char bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(value) => Unexpected::Bool(*value),
        Value::Int(value) => Unexpected::Signed(*value),
        Value::UInt(value) => Unexpected::Unsigned(*value),
        Value::Float(value) => Unexpected::Float(*value),
        Value::String(text) => Unexpected::Str(text),
        Value::Seq(_) => Unexpected::Seq,
        Value::Map(_) => Unexpected::Map,
    }
}

struct SeqDeserializer<'a> {
    parent: NodeDeserializer<'a>,
    items: std::slice::Iter<'a, Node>,
}

impl<'a> SeqAccess<'a> for SeqDeserializer<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let item = self.parent.child(item, self.parent.name);
        item.locate(seed.deserialize(item)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDeserializer<'a> {
    parent: NodeDeserializer<'a>,
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<(&'a Node, &'a Node)>,
}

impl<'a> MapAccess<'a> for MapDeserializer<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        let key = self.parent.key(key);
        key.locate(seed.deserialize(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("internal error: value requested before key"))?;
        let name = key.as_str().unwrap_or(self.parent.name);
        let value = self.parent.child(value, name);
        value.locate(seed.deserialize(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumDeserializer<'a> {
    parent: NodeDeserializer<'a>,
    key: &'a Node,
    value: &'a Node,
}

impl<'a> EnumAccess<'a> for EnumDeserializer<'a> {
    type Error = DeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let key = self.parent.key(self.key);
        let variant = key.locate(seed.deserialize(key))?;
        let name = self.key.as_str().unwrap_or(self.parent.name);
        Ok((variant, self.parent.child(self.value, name)))
    }
}

impl<'a> VariantAccess<'a> for NodeDeserializer<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.node.value {
            Value::Null => Ok(()),
            _ => self.locate(Err(de::Error::invalid_type(
                unexpected(&self.node.value),
                &"no value",
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }
}

/// Hands a [`Located`] its line, its column and then its value.
struct LocatedAccess<'a> {
    node: NodeDeserializer<'a>,
    next: u8,
}

impl<'a> SeqAccess<'a> for LocatedAccess<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let pos = self.node.node.pos;
        self.next += 1;
        match self.next {
            1 => seed.deserialize(pos.line.into_deserializer()).map(Some),
            2 => seed.deserialize(pos.column.into_deserializer()).map(Some),
            3 => seed.deserialize(self.node).map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::scenario::yaml::{Origin, parse_document};

    fn document(text: &str) -> Document {
        parse_document(text, Origin::file(Path::new("t.yaml")))
            .unwrap()
            .unwrap()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Sample {
        name: Located<String>,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        ports: BTreeMap<u16, String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Mode {
        Strict,
        Loose,
    }

    fn error_of(text: &str) -> (u64, u64, String) {
        let document = document(text);
        let error = from_node::<Sample>(&document, &document.root, "sample", false).unwrap_err();
        let location = error.location().unwrap().clone();
        (location.line, location.column, error.to_string())
    }

    #[test]
    fn located_value_carries_position() {
        let document = document("count: 2\nname: x\nports: {80: http, \"443\": https}\n");
        let sample: Sample = from_node(&document, &document.root, "sample", false).unwrap();
        assert_eq!(sample.name.pos, Pos { line: 2, column: 7 });
        assert_eq!(sample.name.value, "x");
        assert_eq!(sample.count, Some(2));
        assert_eq!(sample.ports.get(&443).map(String::as_str), Some("https"));
    }

    #[test]
    fn errors_point_at_the_node() {
        let cases = [
            (
                "name: x\ncont: 2\n",
                2,
                1,
                "unknown field `cont` in sample, expected one of `name`, `count`, `mode`, \
                 `ports`; check the spelling",
            ),
            (
                "count: 2\n",
                1,
                1,
                "missing field `name` in sample; add `name`",
            ),
            (
                "name: x\ncount: many\n",
                2,
                8,
                "invalid type for count: found string \"many\", expected an integer; write an \
                 integer here",
            ),
            (
                "name: x\nmode: strictest\n",
                2,
                7,
                "unknown value `strictest` for mode, expected one of `strict`, `loose`; check \
                 the spelling",
            ),
            (
                "name: [a]\n",
                1,
                7,
                "invalid type for name: found a sequence, expected a string; write a string here",
            ),
        ];
        for (text, line, column, message) in cases {
            let (actual_line, actual_column, display) = error_of(text);
            assert_eq!((actual_line, actual_column), (line, column), "{text:?}");
            assert_eq!(
                display,
                format!("t.yaml:{line}:{column}: {message}"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn strict_strings_reject_numbers() {
        let (line, column, display) = error_of("name: 12\n");
        assert_eq!((line, column), (1, 7));
        assert!(display.contains("expected a string"), "{display}");
    }

    #[test]
    fn lenient_strings_accept_numbers() {
        let document = document("name: 1.10\n");
        let sample: Sample = from_node(&document, &document.root, "sample", true).unwrap();
        assert_eq!(sample.name.value, "1.10");
    }
}
