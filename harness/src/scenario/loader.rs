//! Loading a scenario file: its header, cluster, timeouts and variables, then its steps.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use mesh_sim::resources::validate::{is_dns_label, is_trust_domain};

use super::de::{Located, from_node};
use super::error::ScenarioError;
use super::manifest::BundledManifests;
use super::model::{ClusterSettings, Scenario, Timeouts};
use super::steps::{StepContext, expand_steps, read_steps};
use super::text::read_text;
use super::vars::Variables;
use super::yaml::{Document, Origin, Pos, parse_document, split_documents};

/// The `apiVersion` of scenario files.
pub(crate) const API_VERSION: &str = "meshcheck.dev/v1alpha1";

/// The `kind` of scenario files.
const KIND: &str = "Scenario";

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a mapping with apiVersion, kind, metadata and spec"
)]
struct RawScenario {
    api_version: Located<String>,
    kind: Located<String>,
    metadata: RawMetadata,
    spec: RawSpec,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with name, description and tags"
)]
struct RawMetadata {
    name: Located<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with steps, and optional cluster, variables and timeouts"
)]
struct RawSpec {
    cluster: Option<RawCluster>,
    variables: Option<BTreeMap<String, String>>,
    timeouts: Option<RawTimeouts>,
    #[expect(dead_code, reason = "steps are read from the node by read_steps")]
    steps: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a mapping with name and trustDomain"
)]
struct RawCluster {
    name: Option<Located<String>>,
    trust_domain: Option<Located<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with sync and success")]
struct RawTimeouts {
    sync: Option<Located<String>>,
    success: Option<Located<String>>,
}

/// Loads and validates the scenario at `path`; see [`super::load_with_bundled`].
pub(crate) fn load_scenario(
    path: &Path,
    overrides: &BTreeMap<String, String>,
    bundled: &dyn BundledManifests,
) -> Result<Scenario, ScenarioError> {
    let text = read_text(path, "scenario file")?;
    let document = scenario_document(&text, path)?;
    let raw: RawScenario = from_node(&document, &document.root, "scenario", true)?;
    check_header(&document, &raw)?;
    check_scenario_name(&document, &raw.metadata.name)?;
    let cluster = read_cluster(&document, raw.spec.cluster)?;
    let timeouts = read_timeouts(&document, raw.spec.timeouts)?;

    let defined = raw.spec.variables.unwrap_or_default();
    let defined_names: std::collections::BTreeSet<String> = defined.keys().cloned().collect();
    check_variable_names(&document)?;
    let variables = Variables::new(defined, overrides);

    let Some(mut steps) = document
        .root
        .get("spec")
        .and_then(|spec| spec.get("steps"))
        .cloned()
    else {
        return Err(document.error(document.root.pos, "missing `spec.steps`", "add steps"));
    };
    expand_steps(&mut steps, &document, &variables)?;
    let context = StepContext {
        document: &document,
        base_dir: path.parent().unwrap_or(Path::new("")),
        variables: &variables,
        bundled,
    };
    let steps = read_steps(&context, &steps)?;

    Ok(Scenario {
        name_location: document.locate(raw.metadata.name.pos),
        name: raw.metadata.name.value,
        description: raw.metadata.description,
        tags: raw.metadata.tags,
        path: path.to_path_buf(),
        cluster,
        timeouts,
        steps,
        variables: defined_names.into_iter().chain(variables.used()).collect(),
    })
}

/// Parses the one YAML document of a scenario file.
fn scenario_document(text: &str, path: &Path) -> Result<Document, ScenarioError> {
    let origin = Origin::file(path);
    let mut documents = Vec::new();
    for (document_text, first_line) in split_documents(text) {
        if let Some(document) = parse_document(&document_text, origin.nested(first_line, 0))? {
            documents.push(document);
        }
    }
    let mut documents = documents.into_iter();
    let Some(document) = documents.next() else {
        return Err(ScenarioError::invalid(
            origin.locate(Pos { line: 1, column: 1 }),
            "the scenario file is empty",
            format!("start it with `apiVersion: {API_VERSION}` and `kind: {KIND}`"),
        ));
    };
    if let Some(second) = documents.next() {
        return Err(second.error(
            second.root.pos,
            "the scenario file contains more than one YAML document",
            "put each scenario in its own file, and manifests under `manifest:` or in files",
        ));
    }
    Ok(document)
}

fn check_header(document: &Document, raw: &RawScenario) -> Result<(), ScenarioError> {
    if raw.api_version.value != API_VERSION {
        return Err(document.error(
            raw.api_version.pos,
            format!("unsupported apiVersion `{}`", raw.api_version.value),
            format!("use `{API_VERSION}`"),
        ));
    }
    if raw.kind.value != KIND {
        return Err(document.error(
            raw.kind.pos,
            format!("unsupported kind `{}` for a scenario file", raw.kind.value),
            format!("use `{KIND}`; manifests belong in apply steps"),
        ));
    }
    Ok(())
}

/// Checks `metadata.name`: lowercase ASCII letters, digits and `-`, starting and ending with
/// a letter or digit, so that it can name report files and test cases as it is.
fn check_scenario_name(document: &Document, name: &Located<String>) -> Result<(), ScenarioError> {
    let text = name.value.as_str();
    let valid_chars = text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let valid_ends = !text.starts_with('-') && !text.ends_with('-');
    if !text.is_empty() && valid_chars && valid_ends {
        return Ok(());
    }
    Err(document.error(
        name.pos,
        format!("invalid scenario name `{text}`"),
        "use lowercase letters, digits and `-`, starting and ending with a letter or digit",
    ))
}

fn read_cluster(
    document: &Document,
    raw: Option<RawCluster>,
) -> Result<ClusterSettings, ScenarioError> {
    let mut cluster = ClusterSettings::default();
    let Some(raw) = raw else {
        return Ok(cluster);
    };
    if let Some(name) = raw.name {
        if !is_dns_label(&name.value) {
            return Err(document.error(
                name.pos,
                format!("invalid cluster name `{}`", name.value),
                "use a DNS-1123 label: at most 63 lowercase letters, digits and `-`, starting \
                 and ending with a letter or digit, such as cluster-1",
            ));
        }
        cluster.name = name.value;
    }
    if let Some(trust_domain) = raw.trust_domain {
        // Istio accepts a trust domain of DNS-1123 labels joined by dots.
        if !is_trust_domain(&trust_domain.value) {
            return Err(document.error(
                trust_domain.pos,
                format!("invalid trust domain `{}`", trust_domain.value),
                "use DNS-1123 labels (lowercase letters, digits and `-`) joined by `.`, such as \
                 cluster.local",
            ));
        }
        cluster.trust_domain = trust_domain.value;
    }
    Ok(cluster)
}

fn read_timeouts(document: &Document, raw: Option<RawTimeouts>) -> Result<Timeouts, ScenarioError> {
    let mut timeouts = Timeouts::default();
    let Some(raw) = raw else {
        return Ok(timeouts);
    };
    let parse = |value: Located<String>, field: &str| {
        parse_duration(&value.value).map_err(|reason| {
            document.error(
                value.pos,
                format!(
                    "invalid duration `{}` for timeouts.{field}: {reason}",
                    value.value
                ),
                "write a whole number followed by ms, s, m or h, such as 500ms, 10s or 2m",
            )
        })
    };
    if let Some(sync) = raw.sync {
        timeouts.sync = parse(sync, "sync")?;
    }
    if let Some(success) = raw.success {
        timeouts.success = parse(success, "success")?;
    }
    Ok(timeouts)
}

/// Parses a duration such as `500ms`, `10s`, `2m`, `1h` or `1m30s`. Returns the reason it is
/// invalid otherwise; zero is invalid, because no wait can finish in no time.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err("expected a number");
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large")?;
        rest = &rest[digits..];
        if rest.starts_with('.') {
            return Err("fractions are not supported");
        }
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "" if rest.is_empty() => return Err("the unit is missing"),
            "" => return Err("unexpected character after the number"),
            _ => return Err("unknown unit"),
        };
        rest = &rest[unit_len..];
        let part = u32::try_from(number)
            .ok()
            .and_then(|number| unit.checked_mul(number))
            .ok_or("the number is too large")?;
        total = total.checked_add(part).ok_or("the number is too large")?;
    }
    if total.is_zero() {
        return Err("it must be greater than zero");
    }
    Ok(total)
}

/// Checks that every key of `spec.variables` can be referenced as `${NAME}`.
fn check_variable_names(document: &Document) -> Result<(), ScenarioError> {
    let Some(variables) = document
        .root
        .get("spec")
        .and_then(|spec| spec.get("variables"))
    else {
        return Ok(());
    };
    let super::yaml::Value::Map(entries) = &variables.value else {
        return Ok(());
    };
    for (key, _) in entries {
        let name = key.scalar_text(&document.text).unwrap_or_default();
        if !Variables::is_valid_name(&name) {
            return Err(document.error(
                key.pos,
                format!("invalid variable name `{name}`"),
                "use ASCII letters, digits and `_`, not starting with a digit",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_table() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1s250ms", Duration::from_millis(1250)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn duration_errors() {
        let cases = [
            ("", "it is empty"),
            ("10", "the unit is missing"),
            ("10 s", "unexpected character after the number"),
            ("ten s", "expected a number"),
            ("5d", "unknown unit"),
            ("1.5s", "fractions are not supported"),
            ("0s", "it must be greater than zero"),
            ("99999999999999999999s", "the number is too large"),
            ("5000000000h", "the number is too large"),
        ];
        for (text, reason) in cases {
            assert_eq!(parse_duration(text), Err(reason), "{text}");
        }
    }
}
