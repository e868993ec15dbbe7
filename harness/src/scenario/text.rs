//! Reading scenario and manifest files as UTF-8 text, with the position of the first invalid
//! byte when a file is not UTF-8.

use std::path::Path;

use super::error::{ScenarioError, SourceLocation};

/// Reads the file at `path`. `description` names the kind of file in errors, such as
/// "scenario file".
pub(crate) fn read_text(path: &Path, description: &'static str) -> Result<String, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        description,
        source,
    })?;
    decode_utf8(bytes, path, description)
}

/// Decodes the content of the file at `path` as UTF-8. The error points at the line and column
/// of the first invalid byte and gives its byte offset.
pub(crate) fn decode_utf8(
    bytes: Vec<u8>,
    path: &Path,
    description: &str,
) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|error| {
        let bytes = error.as_bytes();
        let offset = error.utf8_error().valid_up_to();
        // The bytes before `valid_up_to` are valid UTF-8, so the fallback is never taken.
        let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let line = valid.matches('\n').count() as u64 + 1;
        let last_line = valid.rsplit('\n').next().unwrap_or_default();
        let column = last_line.chars().count() as u64 + 1;
        let problem = match error.utf8_error().error_len() {
            Some(_) => format!(
                "invalid byte 0x{:02X} at byte offset {offset}",
                bytes[offset]
            ),
            None => format!("the file ends inside a character that starts at byte offset {offset}"),
        };
        ScenarioError::invalid(
            SourceLocation::new(path, line, column),
            format!("the {description} is not valid UTF-8: {problem}"),
            "save the file as UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_byte_is_located() {
        let bytes = b"a: 1\nname: caf\xe9\n".to_vec();
        let error = decode_utf8(bytes, Path::new("x.yaml"), "scenario file").unwrap_err();
        assert_eq!(
            error.to_string(),
            "x.yaml:2:10: the scenario file is not valid UTF-8: invalid byte 0xE9 at byte \
             offset 14; save the file as UTF-8"
        );
    }

    #[test]
    fn column_counts_characters() {
        let bytes = "é: \u{1F600}".bytes().chain([0xFF]).collect();
        let error = decode_utf8(bytes, Path::new("x.yaml"), "manifest file").unwrap_err();
        let location = error.location().expect("a location");
        assert_eq!((location.line, location.column), (1, 5));
        assert!(error.to_string().contains("byte offset 8"), "{error}");
    }

    #[test]
    fn truncated_character_at_end() {
        let bytes = b"a: \xe2\x82".to_vec();
        let error = decode_utf8(bytes, Path::new("x.yaml"), "scenario file").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the file ends inside a character that starts at byte offset 3"),
            "{error}"
        );
    }

    #[test]
    fn valid_text_is_returned() {
        let text = decode_utf8("a: é\n".into(), Path::new("x.yaml"), "scenario file");
        assert_eq!(text.expect("valid UTF-8"), "a: é\n");
    }
}
