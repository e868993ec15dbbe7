//! Reading `exec` steps: the target pod, the command, and the `expect` and `probe` fields.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::curl_args::{self, CurlStep};
use super::de::Located;
use super::error::ScenarioError;
use super::expect::{Expectation, Pattern, TextMatcher};
use super::model::{Action, ExecStep, ProbeMode};
use super::refs;
use super::steps::{DEFAULT_NAMESPACE, StepContext};
use super::yaml::{Node, Pos, Value};

/// Highest exit code a process can report.
const MAX_EXIT_CODE: i64 = 255;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with target and command, and optional namespace, container and stdin"
)]
struct RawExec {
    target: Located<String>,
    #[expect(dead_code, reason = "read by StepContext::read_namespace")]
    namespace: Option<IgnoredAny>,
    container: Option<String>,
    stdin: Option<String>,
    #[expect(dead_code, reason = "read from the node, as a string or a list")]
    command: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a mapping with exitCode, stdout or stderr"
)]
#[expect(
    dead_code,
    reason = "fields are read from the node; deserializing checks them"
)]
struct RawExpect {
    exit_code: Option<IgnoredAny>,
    stdout: Option<RawMatchers>,
    stderr: Option<RawMatchers>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a mapping of matchers: contains, notContains, regex or equals"
)]
#[expect(
    dead_code,
    reason = "fields are read from the node; deserializing checks them"
)]
struct RawMatchers {
    contains: Option<IgnoredAny>,
    not_contains: Option<IgnoredAny>,
    regex: Option<String>,
    equals: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawProbe {
    Consecutive,
    Once,
}

/// Reads an exec step: `action` is the value of its `exec` key, and `step` the whole step,
/// which contains `expect` and `probe`.
pub(crate) fn read_exec(
    context: &StepContext<'_>,
    step: &Node,
    action_key: &Node,
    action: &Node,
) -> Result<(Action, String), ScenarioError> {
    let raw: RawExec = context.read(action, "exec")?;
    let given_namespace = context.read_namespace(action)?;
    let namespace = given_namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let target = refs::parse_exec_target(&raw.target.value, namespace)
        .map_err(|problem| context.problem(raw.target.pos, problem))?;
    let argv = read_command(context, action)?;

    let Some(expect_node) = step.get("expect") else {
        return Err(context.error(
            action_key.pos,
            "the exec step has no `expect`",
            "add `expect` next to `exec`, such as `expect: {exitCode: 0}`",
        ));
    };
    let expect = read_expectation(context, expect_node)?;
    let probe = match step.get("probe") {
        Some(node) => match context.read::<RawProbe>(node, "probe")? {
            RawProbe::Consecutive => ProbeMode::Consecutive,
            RawProbe::Once => ProbeMode::Once,
        },
        None if expect.is_success() => ProbeMode::Consecutive,
        None => ProbeMode::Once,
    };

    let mut name = format!("exec {}", raw.target.value);
    if let Some(namespace) = &given_namespace {
        name.push_str(&format!(" -n {namespace}"));
    }
    if let Some(container) = &raw.container {
        name.push_str(&format!(" -c {container}"));
    }
    name.push_str(&format!(" -- {}", shell_words::join(&argv)));

    let step = ExecStep {
        target,
        container: raw.container,
        argv,
        expect,
        probe,
        stdin: raw.stdin,
    };
    Ok((Action::Exec(step), name))
}

/// Reads `command`: a string split with POSIX shell quoting, or a list taken as it is.
fn read_command(context: &StepContext<'_>, action: &Node) -> Result<Vec<String>, ScenarioError> {
    let Some(node) = action.get("command") else {
        return Err(context.error(
            action.pos,
            "missing field `command` in exec",
            "add `command`",
        ));
    };
    // Each argument's position: its own in a list, the string's in a command line.
    let (argv, positions): (Vec<String>, Vec<Pos>) = match &node.value {
        Value::Seq(items) => items
            .iter()
            .map(|item| {
                context
                    .read::<Located<String>>(item, "command")
                    .map(|argument| (argument.value, argument.pos))
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip(),
        _ => {
            let line: String = context.read(node, "command")?;
            let argv = shell_words::split(&line).map_err(|_| {
                context.error(
                    node.pos,
                    format!("invalid command `{line}`: a quote is not closed"),
                    "close the quote, or write the command as a list of arguments",
                )
            })?;
            let positions = vec![node.pos; argv.len()];
            (argv, positions)
        }
    };
    if argv.is_empty() {
        return Err(context.error(
            node.pos,
            "the command is empty",
            "write the program and its arguments, such as `curl -sS http://httpbin:8000/get`",
        ));
    }
    let program = std::path::Path::new(&argv[0])
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if program != "curl" {
        return Err(context.error(
            node.pos,
            format!("exec runs curl, not `{}`", argv[0]),
            "write the probe as a curl command, such as `curl -sS http://httpbin:8000/get`",
        ));
    }
    curl_args::check_arguments(CurlStep::Exec, &argv)
        .map_err(|(index, problem)| context.problem(positions[index], problem))?;
    Ok(argv)
}

fn read_expectation(context: &StepContext<'_>, node: &Node) -> Result<Expectation, ScenarioError> {
    context.read::<RawExpect>(node, "expect")?;
    let mut expectation = Expectation::default();
    if let Some(codes) = node.get("exitCode") {
        expectation.exit_codes = read_exit_codes(context, codes)?;
    }
    if let Some(matchers) = node.get("stdout") {
        expectation.stdout = read_matchers(context, matchers, "stdout")?;
    }
    if let Some(matchers) = node.get("stderr") {
        expectation.stderr = read_matchers(context, matchers, "stderr")?;
    }
    Ok(expectation)
}

/// Reads `exitCode`: one code or a list, each from 0 to 255, without duplicates.
fn read_exit_codes(context: &StepContext<'_>, node: &Node) -> Result<Vec<i32>, ScenarioError> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    if items.is_empty() {
        return Err(context.error(
            node.pos,
            "`exitCode` is empty",
            "list at least one exit code",
        ));
    }
    let mut codes = Vec::new();
    for item in items {
        let code: i64 = context.read(item, "exitCode")?;
        if !(0..=MAX_EXIT_CODE).contains(&code) {
            return Err(context.error(
                item.pos,
                format!("exit code {code} is out of range"),
                format!("use a value from 0 to {MAX_EXIT_CODE}"),
            ));
        }
        let code = code as i32;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

/// Reads a `stdout` or `stderr` block into matchers, in file order.
fn read_matchers(
    context: &StepContext<'_>,
    node: &Node,
    stream: &str,
) -> Result<Vec<TextMatcher>, ScenarioError> {
    context.read::<RawMatchers>(node, stream)?;
    let Value::Map(entries) = &node.value else {
        return Ok(Vec::new());
    };
    let mut matchers = Vec::new();
    for (key, value) in entries {
        match key.as_str().unwrap_or_default() {
            "contains" => {
                let needles = context.read_strings(value, "contains")?;
                matchers.extend(
                    needles
                        .into_iter()
                        .map(|needle| TextMatcher::Contains(needle.value)),
                );
            }
            "notContains" => {
                let needles = context.read_strings(value, "notContains")?;
                matchers.extend(
                    needles
                        .into_iter()
                        .map(|needle| TextMatcher::NotContains(needle.value)),
                );
            }
            "regex" => {
                let pattern: String = context.read(value, "regex")?;
                let compiled = Pattern::new(&pattern).map_err(|error| {
                    context.error(
                        value.pos,
                        format!("invalid regex `{pattern}`: {}", regex_reason(&error)),
                        "fix the pattern, which uses the Rust regex crate's syntax",
                    )
                })?;
                matchers.push(TextMatcher::Regex(compiled));
            }
            _ => matchers.push(TextMatcher::Equals(context.read(value, "equals")?)),
        }
    }
    if matchers.is_empty() {
        return Err(context.error(
            node.pos,
            format!("`{stream}` has no matchers"),
            "add contains, notContains, regex or equals",
        ));
    }
    Ok(matchers)
}

/// Returns the reason a pattern is invalid, without the pattern and caret lines the regex crate
/// prints above it.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or(&text)
        .to_owned()
}
