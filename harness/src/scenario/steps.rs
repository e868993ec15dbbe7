//! Reading `spec.steps`: one action per step, its manifests or references, and a default
//! name derived from the action.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::de::{Located, from_node};
use super::error::ScenarioError;
use super::exec::read_exec;
use super::manifest::{BundledManifests, bundled_file_name, read_manifest};
use super::model::{Action, DeleteTarget, LabelStep, ManifestSet, Step};
use super::refs::{self, Problem};
use super::text::decode_utf8;
use super::vars::Variables;
use super::yaml::{Document, Node, Origin, Pos, Value, string_origin};

/// The namespace of namespaced objects when a step names none, as with kubectl.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";

/// Step keys that select the action.
const ACTIONS: [&str; 7] = [
    "apply",
    "delete",
    "label",
    "rolloutRestart",
    "exec",
    "matrix",
    "traffic",
];

/// Inputs shared by the readers of every step.
pub(crate) struct StepContext<'a> {
    /// The scenario document, whose text and origin locate the step nodes.
    pub document: &'a Document,
    /// The directory `files` paths are relative to.
    pub base_dir: &'a Path,
    pub variables: &'a Variables,
    pub bundled: &'a dyn BundledManifests,
}

impl StepContext<'_> {
    pub fn error(
        &self,
        pos: Pos,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ScenarioError {
        self.document.error(pos, message, hint)
    }

    pub fn problem(&self, pos: Pos, problem: Problem) -> ScenarioError {
        self.document.error(pos, problem.message, problem.hint)
    }

    /// Deserializes a node of the step tree, whose string fields also accept numbers and
    /// booleans.
    pub fn read<'n, T: Deserialize<'n>>(
        &'n self,
        node: &'n Node,
        name: &'n str,
    ) -> Result<T, ScenarioError> {
        from_node(self.document, node, name, true)
    }

    /// Reads a value written as one string or as a list of strings.
    pub fn read_strings(
        &self,
        node: &Node,
        name: &str,
    ) -> Result<Vec<Located<String>>, ScenarioError> {
        let strings = match &node.value {
            Value::Seq(items) => items
                .iter()
                .map(|item| self.read(item, name))
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![self.read(node, name)?],
        };
        if strings.is_empty() {
            return Err(self.error(
                node.pos,
                format!("`{name}` is empty"),
                "add at least one entry",
            ));
        }
        Ok(strings)
    }

    /// Reads an optional `namespace` field, checking it is a valid namespace name.
    pub fn read_namespace(&self, node: &Node) -> Result<Option<String>, ScenarioError> {
        let Some(value) = node.get("namespace") else {
            return Ok(None);
        };
        let namespace: Located<String> = self.read(value, "namespace")?;
        refs::check_namespace(&namespace.value)
            .map_err(|problem| self.problem(namespace.pos, problem))?;
        Ok(Some(namespace.value))
    }
}

/// Reads every step of `spec.steps`, whose `${NAME}` references are already expanded except
/// in inline manifests.
pub(crate) fn read_steps(
    context: &StepContext<'_>,
    steps: &Node,
) -> Result<Vec<Step>, ScenarioError> {
    let Value::Seq(items) = &steps.value else {
        return Err(context.error(
            steps.pos,
            format!("`steps` must be a sequence, found {}", steps.type_name()),
            "write each step as a list entry starting with `-`",
        ));
    };
    if items.is_empty() {
        return Err(context.error(steps.pos, "`steps` is empty", "add at least one step"));
    }
    items.iter().map(|item| read_step(context, item)).collect()
}

/// Expands `${NAME}` references in the steps, leaving inline manifests to be expanded after
/// they are parsed so that their line numbers still match the scenario file.
pub(crate) fn expand_steps(
    steps: &mut Node,
    document: &Document,
    variables: &Variables,
) -> Result<(), ScenarioError> {
    let Value::Seq(items) = &mut steps.value else {
        return Ok(());
    };
    for item in items {
        let Value::Map(entries) = &mut item.value else {
            continue;
        };
        for (key, value) in entries {
            let has_manifest = matches!(key.as_str(), Some("apply" | "delete"));
            match &mut value.value {
                Value::Map(fields) if has_manifest => {
                    for (field, field_value) in fields {
                        if field.as_str() != Some("manifest") {
                            variables.substitute(field_value, &document.text, &document.origin)?;
                        }
                    }
                }
                _ => variables.substitute(value, &document.text, &document.origin)?,
            }
        }
    }
    Ok(())
}

fn read_step(context: &StepContext<'_>, node: &Node) -> Result<Step, ScenarioError> {
    let Value::Map(entries) = &node.value else {
        return Err(context.error(
            node.pos,
            format!("a step must be a mapping, found {}", node.type_name()),
            "start the step with an action key: apply, delete, label, rolloutRestart, exec, matrix or \
             traffic",
        ));
    };
    let mut action: Option<(&Node, &Node)> = None;
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        if ACTIONS.contains(&name) {
            if let Some((first, _)) = action {
                return Err(context.error(
                    key.pos,
                    format!(
                        "a step has more than one action: `{}` and `{name}`",
                        first.as_str().unwrap_or_default()
                    ),
                    "split them into separate steps",
                ));
            }
            action = Some((key, value));
        } else if !matches!(name, "name" | "expect" | "probe") {
            return Err(context.error(
                key.pos,
                format!(
                    "unknown field `{}` in step, expected an action (`apply`, `delete`, \
                     `label`, `rolloutRestart`, `exec`, `matrix`, `traffic`) or `name`, \
                     `expect`, `probe`",
                    key.scalar_text(&context.document.text).unwrap_or_default()
                ),
                "check the spelling",
            ));
        }
    }
    let Some((action_key, action_node)) = action else {
        return Err(context.error(
            node.pos,
            "a step has no action",
            "add one of apply, delete, label, rolloutRestart, exec, matrix or traffic",
        ));
    };
    let action_name = action_key.as_str().unwrap_or_default();
    if action_name != "exec" {
        for field in ["expect", "probe"] {
            if let Some((key, _)) = node.entry(field) {
                return Err(context.error(
                    key.pos,
                    format!("`{field}` is only allowed on exec steps, not on {action_name}"),
                    format!("remove `{field}` or make this an exec step"),
                ));
            }
        }
    }

    let (action, default_name) = match action_name {
        "apply" => read_apply(context, action_node)?,
        "delete" => read_delete(context, action_node)?,
        "label" => read_label(context, action_node)?,
        "rolloutRestart" => read_restart(context, action_node)?,
        "matrix" => super::matrix::read_matrix(context, action_node)?,
        "traffic" => super::traffic::read_traffic(context, action_node)?,
        _ => read_exec(context, node, action_key, action_node)?,
    };
    let name = match node.get("name") {
        Some(name) => context.read::<String>(name, "name")?,
        None => default_name,
    };
    Ok(Step {
        name,
        location: context.document.locate(node.pos),
        action,
    })
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with one of bundled, files or manifest, and an optional namespace"
)]
#[expect(
    dead_code,
    reason = "fields are read from the node; deserializing checks them"
)]
struct RawApply {
    bundled: Option<IgnoredAny>,
    files: Option<IgnoredAny>,
    manifest: Option<IgnoredAny>,
    namespace: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with one of bundled, files, manifest or resources, and an optional \
                 namespace"
)]
#[expect(
    dead_code,
    reason = "fields are read from the node; deserializing checks them"
)]
struct RawDelete {
    bundled: Option<IgnoredAny>,
    files: Option<IgnoredAny>,
    manifest: Option<IgnoredAny>,
    resources: Option<IgnoredAny>,
    namespace: Option<IgnoredAny>,
}

fn read_apply(context: &StepContext<'_>, node: &Node) -> Result<(Action, String), ScenarioError> {
    context.read::<RawApply>(node, "apply")?;
    let namespace = context.read_namespace(node)?;
    let (field, value) = only_source(context, node, "apply", &["bundled", "files", "manifest"])?;
    let (objects, described) = read_source(context, field, value, namespace.as_deref())?;
    let name = format!("apply {described}{}", namespace_flag(namespace.as_deref()));
    Ok((Action::Apply(objects), name))
}

fn read_delete(context: &StepContext<'_>, node: &Node) -> Result<(Action, String), ScenarioError> {
    context.read::<RawDelete>(node, "delete")?;
    let namespace = context.read_namespace(node)?;
    let sources = ["bundled", "files", "manifest", "resources"];
    let (field, value) = only_source(context, node, "delete", &sources)?;
    let flag = namespace_flag(namespace.as_deref());
    if field != "resources" {
        let (objects, described) = read_source(context, field, value, namespace.as_deref())?;
        return Ok((
            Action::Delete(DeleteTarget::Objects(objects)),
            format!("delete {described}{flag}"),
        ));
    }
    let namespace = namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let mut objects = Vec::new();
    let mut written = Vec::new();
    for reference in context.read_strings(value, "resources")? {
        let object = refs::parse_object_ref(&reference.value, namespace)
            .map_err(|problem| context.problem(reference.pos, problem))?;
        objects.push(object);
        written.push(reference.value);
    }
    let name = format!("delete {}{flag}", written.join(" "));
    Ok((Action::Delete(DeleteTarget::Refs(objects)), name))
}

/// Returns the one source field of an apply or delete step.
fn only_source<'n>(
    context: &StepContext<'_>,
    node: &'n Node,
    action: &str,
    sources: &[&str],
) -> Result<(&'n str, &'n Node), ScenarioError> {
    let Value::Map(entries) = &node.value else {
        return Err(context.error(
            node.pos,
            format!("`{action}` must be a mapping"),
            "add a source",
        ));
    };
    let present: Vec<(&str, &Node, &Node)> = entries
        .iter()
        .filter_map(|(key, value)| {
            let name = key.as_str()?;
            sources.contains(&name).then_some((name, key, value))
        })
        .collect();
    let listed: Vec<String> = sources.iter().map(|source| format!("`{source}`")).collect();
    match present.as_slice() {
        [] => Err(context.error(
            node.pos,
            format!("{action} has no source"),
            format!("add one of {}", listed.join(", ")),
        )),
        [(name, _, value)] => Ok((name, value)),
        [(first, _, _), (second, key, _), ..] => Err(context.error(
            key.pos,
            format!("{action} has both `{first}` and `{second}`"),
            "keep only one of them, and use separate steps for several sources",
        )),
    }
}

/// Reads the objects of a `bundled`, `files` or `manifest` source, with a description of
/// the source for the step's default name.
fn read_source(
    context: &StepContext<'_>,
    field: &str,
    value: &Node,
    namespace: Option<&str>,
) -> Result<(ManifestSet, String), ScenarioError> {
    let mut objects = Vec::new();
    let described = match field {
        "bundled" => {
            let name: Located<String> = context.read(value, "bundled")?;
            let Some(text) = context.bundled.manifest(&name.value) else {
                return Err(unknown_bundled(context, &name));
            };
            let origin = Origin::file(Path::new(&bundled_file_name(&name.value)));
            objects = read_manifest(text, &origin, context.variables, namespace)?;
            require_objects(
                context,
                &objects,
                name.pos,
                &format!("bundled manifest `{}`", name.value),
            )?;
            format!("bundled {}", name.value)
        }
        "files" => {
            let mut flags = Vec::new();
            for file in context.read_strings(value, "files")? {
                let path = context.base_dir.join(&file.value);
                let bytes = std::fs::read(&path).map_err(|error| {
                    context.error(
                        file.pos,
                        format!("failed to read manifest file `{}`: {error}", path.display()),
                        "check the path, which is relative to the scenario file's directory",
                    )
                })?;
                let text = decode_utf8(bytes, &path, "manifest file")?;
                let read =
                    read_manifest(&text, &Origin::file(&path), context.variables, namespace)?;
                require_objects(
                    context,
                    &read,
                    file.pos,
                    &format!("manifest file `{}`", path.display()),
                )?;
                objects.extend(read);
                flags.push(format!("-f {}", file.value));
            }
            flags.join(" ")
        }
        _ => {
            let text: String = context.read(value, "manifest")?;
            let origin = string_origin(context.document, value);
            objects = read_manifest(&text, &origin, context.variables, namespace)?;
            require_objects(context, &objects, value.pos, "the inline manifest")?;
            describe_objects(&objects)
        }
    };
    Ok((ManifestSet { objects }, described))
}

fn unknown_bundled(context: &StepContext<'_>, name: &Located<String>) -> ScenarioError {
    let names = context.bundled.names();
    let hint = if names.is_empty() {
        "this build has no bundled manifests; use `files` or `manifest`".to_owned()
    } else {
        let listed: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
        format!("use one of {}", listed.join(", "))
    };
    context.error(
        name.pos,
        format!("unknown bundled manifest `{}`", name.value),
        hint,
    )
}

fn require_objects(
    context: &StepContext<'_>,
    objects: &[super::model::LocatedResource],
    pos: Pos,
    what: &str,
) -> Result<(), ScenarioError> {
    if objects.is_empty() {
        return Err(context.error(
            pos,
            format!("{what} contains no objects"),
            "add at least one document with apiVersion and kind",
        ));
    }
    Ok(())
}

/// Names up to three objects, such as `Namespace sleep, Deployment sleep and 2 more`.
fn describe_objects(objects: &[super::model::LocatedResource]) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<String> = objects
        .iter()
        .take(SHOWN)
        .map(|object| format!("{} {}", object.resource.kind(), object.resource.name()))
        .collect();
    if objects.len() > SHOWN {
        names.push(format!("and {} more", objects.len() - SHOWN));
    }
    names.join(", ")
}

fn namespace_flag(namespace: Option<&str>) -> String {
    namespace
        .map(|namespace| format!(" -n {namespace}"))
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with target and set or remove, and an optional namespace"
)]
struct RawLabel {
    target: Located<String>,
    #[expect(dead_code, reason = "read by StepContext::read_namespace")]
    namespace: Option<IgnoredAny>,
    set: Option<IgnoredAny>,
    remove: Option<IgnoredAny>,
}

fn read_label(context: &StepContext<'_>, node: &Node) -> Result<(Action, String), ScenarioError> {
    let raw: RawLabel = context.read(node, "label")?;
    let namespace = context.read_namespace(node)?;
    let target = refs::parse_object_ref(
        &raw.target.value,
        namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
    )
    .map_err(|problem| context.problem(raw.target.pos, problem))?;

    let mut set = BTreeMap::new();
    let mut changes = Vec::new();
    if let (Some(_), Some(set_node)) = (raw.set, node.get("set")) {
        let Value::Map(entries) = &set_node.value else {
            return Err(context.error(
                set_node.pos,
                format!(
                    "`set` must be a mapping of label keys to values, found {}",
                    set_node.type_name()
                ),
                "write `set: {KEY: VALUE}`",
            ));
        };
        for (key_node, value_node) in entries {
            let key: Located<String> = context.read(key_node, "set")?;
            let value: String = context.read(value_node, &key.value)?;
            refs::check_label_key(&key.value)
                .map_err(|problem| context.problem(key.pos, problem))?;
            refs::check_label_value(&key.value, &value)
                .map_err(|problem| context.problem(value_node.pos, problem))?;
            changes.push(format!("{}={value}", key.value));
            set.insert(key.value, value);
        }
    }
    let mut remove = Vec::new();
    if let (Some(_), Some(remove_node)) = (raw.remove, node.get("remove")) {
        for key in context.read_strings(remove_node, "remove")? {
            refs::check_label_key(&key.value)
                .map_err(|problem| context.problem(key.pos, problem))?;
            if set.contains_key(&key.value) {
                return Err(context.error(
                    key.pos,
                    format!("label `{}` is both set and removed", key.value),
                    "keep it in only one of `set` and `remove`",
                ));
            }
            changes.push(format!("{}-", key.value));
            remove.push(key.value);
        }
    }
    if changes.is_empty() {
        return Err(context.error(
            node.pos,
            "the label step changes no label",
            "add `set` or `remove`",
        ));
    }
    let name = format!(
        "label {} {}{}",
        raw.target.value,
        changes.join(" "),
        namespace_flag(namespace.as_deref())
    );
    Ok((
        Action::Label(LabelStep {
            target,
            set,
            remove,
        }),
        name,
    ))
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with target and an optional namespace"
)]
struct RawRestart {
    target: Located<String>,
    #[expect(dead_code, reason = "read by StepContext::read_namespace")]
    namespace: Option<IgnoredAny>,
}

fn read_restart(context: &StepContext<'_>, node: &Node) -> Result<(Action, String), ScenarioError> {
    let raw: RawRestart = context.read(node, "rolloutRestart")?;
    let namespace = context.read_namespace(node)?;
    let target = refs::parse_restart_target(
        &raw.target.value,
        namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
    )
    .map_err(|problem| context.problem(raw.target.pos, problem))?;
    let name = format!(
        "rollout restart {}{}",
        raw.target.value,
        namespace_flag(namespace.as_deref())
    );
    Ok((Action::RolloutRestart(target), name))
}
