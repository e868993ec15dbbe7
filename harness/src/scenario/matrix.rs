//! Reading `matrix` steps: named sources, named requests and the truth table, whose errors
//! point at the line and column inside the `expect` block.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::curl_args::{self, CurlStep};
use super::de::Located;
use super::error::ScenarioError;
use super::model::{Action, MatrixCell, MatrixRequest, MatrixSource, MatrixStep};
use super::refs;
use super::steps::{DEFAULT_NAMESPACE, StepContext};
use super::yaml::{Node, Pos, Value, string_origin};

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with sources, requests and expect"
)]
#[expect(
    dead_code,
    reason = "fields are read from the node; deserializing checks them"
)]
struct RawMatrix {
    sources: IgnoredAny,
    requests: IgnoredAny,
    expect: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with target and an optional namespace"
)]
struct RawSource {
    target: Located<String>,
    #[expect(dead_code, reason = "read by StepContext::read_namespace")]
    namespace: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a URL, or a mapping with url and args"
)]
struct RawRequest {
    url: Located<String>,
    #[expect(dead_code, reason = "read from the node, as a string or a list")]
    args: Option<IgnoredAny>,
}

/// Returns the entries of a mapping field, with each key's text. `item` names one entry in
/// errors.
///
/// The names head the rows and columns of the table, which separates its cells with
/// whitespace and starts comments with `#`, so names cannot contain either.
fn entries<'n>(
    context: &StepContext<'_>,
    node: &'n Node,
    field: &str,
    item: &str,
) -> Result<Vec<(String, &'n Node, &'n Node)>, ScenarioError> {
    let Value::Map(entries) = &node.value else {
        return Err(context.error(
            node.pos,
            format!(
                "`{field}` must be a mapping of names, found {}",
                node.type_name()
            ),
            format!("write each of the {field} as `name: ...`"),
        ));
    };
    if entries.is_empty() {
        return Err(context.error(
            node.pos,
            format!("`{field}` is empty"),
            "add at least one entry",
        ));
    }
    entries
        .iter()
        .map(|(key, value)| Ok((entry_name(context, key, item)?, key, value)))
        .collect()
}

/// Reads the name of a source or request, which must be one word of the table.
fn entry_name(context: &StepContext<'_>, key: &Node, item: &str) -> Result<String, ScenarioError> {
    let Some(name) = key.scalar_text(&context.document.text) else {
        return Err(context.error(
            key.pos,
            format!("a {item} name must be a string, found {}", key.type_name()),
            format!("name the {item} with a word such as `inside`"),
        ));
    };
    if name.trim().is_empty() {
        return Err(context.error(
            key.pos,
            format!("a {item} name is empty"),
            format!("name the {item} with a word such as `inside`"),
        ));
    }
    if name.chars().any(char::is_whitespace) {
        let suggestion = name.split_whitespace().collect::<Vec<_>>().join("-");
        return Err(context.error(
            key.pos,
            format!(
                "{item} name `{name}` contains whitespace, which separates the cells of the table"
            ),
            format!("rename the {item} without whitespace, such as `{suggestion}`"),
        ));
    }
    if name.contains('#') {
        return Err(context.error(
            key.pos,
            format!("{item} name `{name}` contains `#`, which starts a comment in the table"),
            format!("rename the {item} without `#`"),
        ));
    }
    Ok(name)
}

fn read_sources(
    context: &StepContext<'_>,
    node: &Node,
) -> Result<Vec<MatrixSource>, ScenarioError> {
    let mut sources = Vec::new();
    for (name, _, value) in entries(context, node, "sources", "source")? {
        let raw: RawSource = context.read(value, "source")?;
        let namespace = context.read_namespace(value)?;
        let namespace = namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let target = refs::parse_exec_target(&raw.target.value, namespace)
            .map_err(|problem| context.problem(raw.target.pos, problem))?;
        sources.push(MatrixSource { name, target });
    }
    Ok(sources)
}

fn read_requests(
    context: &StepContext<'_>,
    node: &Node,
) -> Result<Vec<MatrixRequest>, ScenarioError> {
    let mut requests = Vec::new();
    for (name, _, value) in entries(context, node, "requests", "request")? {
        let (url, args) = match &value.value {
            Value::Map(_) => {
                let raw: RawRequest = context.read(value, "request")?;
                let args = match value.get("args") {
                    None => Vec::new(),
                    Some(args) => read_args(context, args)?,
                };
                (raw.url, args)
            }
            _ => (context.read(value, "request")?, Vec::new()),
        };
        let mut arguments = args;
        arguments.push(url.clone());
        let words: Vec<String> = arguments
            .iter()
            .map(|argument| argument.value.clone())
            .collect();
        curl_args::check_arguments(CurlStep::Matrix, &words)
            .map_err(|(index, problem)| context.problem(arguments[index].pos, problem))?;
        curl_args::check_url(&url.value).map_err(|problem| context.problem(url.pos, problem))?;
        arguments.pop();
        requests.push(MatrixRequest {
            name,
            url: url.value,
            args: arguments
                .into_iter()
                .map(|argument| argument.value)
                .collect(),
        });
    }
    Ok(requests)
}

/// Reads a request's `args`: a list taken as it is, or a string split with POSIX shell
/// quoting, whose words all take the string's position.
fn read_args(
    context: &StepContext<'_>,
    args: &Node,
) -> Result<Vec<Located<String>>, ScenarioError> {
    if let Value::Seq(_) = &args.value {
        return context.read_strings(args, "args");
    }
    let line: String = context.read(args, "args")?;
    let words = shell_words::split(&line).map_err(|_| {
        context.error(
            args.pos,
            format!("invalid args `{line}`: a quote is not closed"),
            "close the quote, or write the arguments as a list",
        )
    })?;
    Ok(words
        .into_iter()
        .map(|value| Located {
            pos: args.pos,
            value,
        })
        .collect())
}

/// Splits one row of the table into its words, with their positions in the block.
fn words(line: &str, line_number: u64) -> Vec<(String, Pos)> {
    let mut found = Vec::new();
    let mut start = None;
    for (index, character) in line
        .char_indices()
        .chain(std::iter::once((line.len(), ' ')))
    {
        match (character.is_whitespace(), start) {
            (false, None) => start = Some(index),
            (true, Some(begin)) => {
                let column = line[..begin].chars().count() as u64 + 1;
                found.push((
                    line[begin..index].to_owned(),
                    Pos {
                        line: line_number,
                        column,
                    },
                ));
                start = None;
            }
            _ => {}
        }
    }
    found
}

fn read_table(
    context: &StepContext<'_>,
    node: &Node,
    sources: &[MatrixSource],
    requests: &[MatrixRequest],
) -> Result<Vec<Vec<MatrixCell>>, ScenarioError> {
    let text: String = context.read(node, "expect")?;
    let origin = string_origin(context.document, node);
    let error = |pos: Pos, message: String, hint: &str| {
        ScenarioError::invalid(origin.locate(pos), message, hint)
    };
    let rows: Vec<Vec<(String, Pos)>> = text
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let line = line.split('#').next().unwrap_or_default();
            words(line, index as u64 + 1)
        })
        .filter(|row| !row.is_empty())
        .collect();
    let column_names: Vec<&str> = requests
        .iter()
        .map(|request| request.name.as_str())
        .collect();
    let row_names: Vec<&str> = sources.iter().map(|source| source.name.as_str()).collect();
    let Some((header, body)) = rows.split_first() else {
        return Err(error(
            Pos { line: 1, column: 1 },
            "the matrix table is empty".to_owned(),
            "write a header row with the request names, then one row per source",
        ));
    };
    // The header's first word is the corner above the source names.
    let columns: Vec<&(String, Pos)> = header.iter().skip(1).collect();
    let mut order = Vec::new();
    for (name, pos) in &columns {
        match column_names.iter().position(|known| known == name) {
            Some(index) if !order.contains(&index) => order.push(index),
            Some(_) => {
                return Err(error(
                    *pos,
                    format!("request `{name}` is listed twice"),
                    "list each request once",
                ));
            }
            None => {
                return Err(error(
                    *pos,
                    format!(
                        "unknown request `{name}` in the table header, expected one of {}",
                        column_names.join(", ")
                    ),
                    "name the columns after the entries of `requests`",
                ));
            }
        }
    }
    if order.len() != requests.len() {
        let missing: Vec<&str> = (0..requests.len())
            .filter(|index| !order.contains(index))
            .map(|index| column_names[index])
            .collect();
        return Err(error(
            header[0].1,
            format!("the table header lacks the requests {}", missing.join(", ")),
            "add a column for every request",
        ));
    }
    let mut table: Vec<Option<Vec<MatrixCell>>> = vec![None; sources.len()];
    for row in body {
        let (name, pos) = &row[0];
        let Some(index) = row_names.iter().position(|known| known == name) else {
            return Err(error(
                *pos,
                format!(
                    "unknown source `{name}`, expected one of {}",
                    row_names.join(", ")
                ),
                "start each row with the name of an entry of `sources`",
            ));
        };
        if table[index].is_some() {
            return Err(error(
                *pos,
                format!("source `{name}` has two rows"),
                "write one row per source",
            ));
        }
        if row.len() != columns.len() + 1 {
            return Err(error(
                *pos,
                format!(
                    "row `{name}` has {} cells, the header has {} columns",
                    row.len() - 1,
                    columns.len()
                ),
                "write one cell per request",
            ));
        }
        let mut cells = vec![MatrixCell::Any; requests.len()];
        for ((text, pos), column) in row.iter().skip(1).zip(&order) {
            cells[*column] = MatrixCell::parse(text).ok_or_else(|| {
                let number = text.strip_prefix(['E', 'e']).unwrap_or(text);
                if number.len() > 1 && number.starts_with(['+', '-']) {
                    return error(
                        *pos,
                        format!("invalid cell `{text}`: a status or exit code has no sign"),
                        "write the number as digits only, such as 200 or E56",
                    );
                }
                error(
                    *pos,
                    format!("invalid cell `{text}`"),
                    "write an HTTP status (200), E<curl exit code> (E56), reset, refused or -",
                )
            })?;
        }
        table[index] = Some(cells);
    }
    table
        .into_iter()
        .zip(sources)
        .map(|(cells, source)| {
            cells.ok_or_else(|| {
                error(
                    header[0].1,
                    format!("the table has no row for source `{}`", source.name),
                    "write one row per source",
                )
            })
        })
        .collect()
}

/// Reads a matrix step: `action` is the value of its `matrix` key.
pub(crate) fn read_matrix(
    context: &StepContext<'_>,
    action: &Node,
) -> Result<(Action, String), ScenarioError> {
    context.read::<RawMatrix>(action, "matrix")?;
    let field = |name: &str| {
        action.get(name).ok_or_else(|| {
            context.error(
                action.pos,
                format!("missing field `{name}` in matrix"),
                format!("add `{name}`"),
            )
        })
    };
    let sources = read_sources(context, field("sources")?)?;
    let requests = read_requests(context, field("requests")?)?;
    let expected = read_table(context, field("expect")?, &sources, &requests)?;
    let name = format!(
        "matrix of {} sources by {} requests",
        sources.len(),
        requests.len()
    );
    Ok((
        Action::Matrix(MatrixStep {
            sources,
            requests,
            expected,
        }),
        name,
    ))
}
