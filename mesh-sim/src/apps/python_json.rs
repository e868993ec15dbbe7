//! JSON values that keep their keys in document order and are written the way Python's
//! `json.dumps` writes them, for the productpage, which re-encodes its backends' responses.

use std::fmt;
use std::io;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value whose object keys stay in the order they were parsed or built in.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum OrderedJson {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json parsed it.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<OrderedJson>),
    /// An object. A repeated key keeps its first position and its last value, as in Python.
    Object(Vec<(String, OrderedJson)>),
}

impl OrderedJson {
    /// Parses a JSON document.
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Builds an object from key and value pairs, in that order.
    pub(super) fn object<const N: usize>(entries: [(&str, OrderedJson); N]) -> Self {
        Self::Object(
            entries
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }

    /// Builds a string value.
    pub(super) fn string(text: impl Into<String>) -> Self {
        Self::String(text.into())
    }

    /// Returns the value of `key` when this is an object that contains it.
    pub(super) fn get(&self, key: &str) -> Option<&OrderedJson> {
        match self {
            Self::Object(entries) => entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// Returns the text of a string value.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }

    /// Returns the value of an integer.
    pub(super) fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(number) => number.as_i64(),
            _ => None,
        }
    }

    /// Returns the elements of an array.
    pub(super) fn as_array(&self) -> Option<&[OrderedJson]> {
        match self {
            Self::Array(elements) => Some(elements),
            _ => None,
        }
    }

    /// Returns whether a Jinja template would treat the value as true: anything but `null`, `false`,
    /// zero, and an empty string, array or object.
    pub(super) fn is_truthy(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Bool(value) => *value,
            Self::Number(number) => number.as_f64().is_some_and(|value| value != 0.0),
            Self::String(text) => !text.is_empty(),
            Self::Array(elements) => !elements.is_empty(),
            Self::Object(entries) => !entries.is_empty(),
        }
    }

    /// Formats the value as a Jinja `{{ value }}` expression prints it, before HTML escaping.
    pub(super) fn template_text(&self) -> String {
        match self {
            Self::Null => "None".to_owned(),
            Self::Bool(true) => "True".to_owned(),
            Self::Bool(false) => "False".to_owned(),
            Self::Number(number) => number.to_string(),
            Self::String(text) => text.clone(),
            Self::Array(_) | Self::Object(_) => self.to_python_json(),
        }
    }

    /// Writes the value as Python's `json.dumps` does by default: `", "` between items,
    /// `": "` after keys, and every character outside printable ASCII as a `\u` escape.
    pub(super) fn to_python_json(&self) -> String {
        let mut output = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut output, PythonFormatter);
        // Serializing cannot fail: the writer is a Vec and every map key is a string.
        if self.serialize(&mut serializer).is_err() {
            return String::new();
        }
        // The formatter writes ASCII only.
        String::from_utf8_lossy(&output).into_owned()
    }
}

impl From<i64> for OrderedJson {
    fn from(value: i64) -> Self {
        Self::Number(value.into())
    }
}

impl Serialize for OrderedJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(value) => serializer.serialize_bool(*value),
            Self::Number(number) => number.serialize(serializer),
            Self::String(text) => serializer.serialize_str(text),
            Self::Array(elements) => {
                let mut sequence = serializer.serialize_seq(Some(elements.len()))?;
                for element in elements {
                    sequence.serialize_element(element)?;
                }
                sequence.end()
            }
            Self::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OrderedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedJsonVisitor)
    }
}

struct OrderedJsonVisitor;

impl<'de> Visitor<'de> for OrderedJsonVisitor {
    type Value = OrderedJson;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<OrderedJson, E> {
        serde_json::Number::from_f64(value)
            .map(OrderedJson::Number)
            .ok_or_else(|| E::custom("a JSON number must be finite"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<OrderedJson, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = sequence.next_element()? {
            elements.push(element);
        }
        Ok(OrderedJson::Array(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedJson, A::Error> {
        let mut entries: Vec<(String, OrderedJson)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, OrderedJson>()? {
            match entries.iter_mut().find(|(name, _)| *name == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(OrderedJson::Object(entries))
    }
}

/// Separators and escapes of Python's `json.dumps` with its default arguments.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for character in fragment.chars() {
            if (' '..='~').contains(&character) {
                writer.write_all(&[character as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in character.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_key_order() {
        let value = OrderedJson::parse(br#"{"id":0,"author":"A","year":1595}"#).unwrap();
        assert_eq!(
            value.to_python_json(),
            r#"{"id": 0, "author": "A", "year": 1595}"#
        );
    }

    #[test]
    fn repeated_key_keeps_first_position_last_value() {
        let value = OrderedJson::parse(br#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(value.to_python_json(), r#"{"a": 3, "b": 2}"#);
    }

    #[test]
    fn python_json_separators_and_escapes() {
        let value =
            OrderedJson::parse(r#"[1, "caf\u00e9 \ud83d\ude00", {"k": [true, null]}]"#.as_bytes())
                .unwrap();
        assert_eq!(
            value.to_python_json(),
            r#"[1, "caf\u00e9 \ud83d\ude00", {"k": [true, null]}]"#
        );
    }

    #[test]
    fn truthiness_follows_jinja() {
        let cases = [
            ("null", false),
            ("0", false),
            ("5", true),
            ("\"\"", false),
            ("\"x\"", true),
            ("[]", false),
            ("{}", false),
            ("{\"a\":1}", true),
        ];
        for (json, expected) in cases {
            let value = OrderedJson::parse(json.as_bytes()).unwrap();
            assert_eq!(value.is_truthy(), expected, "truthiness of {json}");
        }
    }
}
