//! Reading Kubernetes, Istio and TSB objects from manifest text, with the location of each
//! object and of each invalid field.

use mesh_sim::resources::{KeyError, KindError, Resource, ResourceKind};

use super::de::from_node;
use super::error::ScenarioError;
use super::model::LocatedResource;
use super::vars::Variables;
use super::yaml::{Document, Node, Origin, Value, parse_document, split_documents};

/// The sample manifests that `bundled: NAME` refers to.
pub trait BundledManifests {
    /// Returns the manifest text stored under `name`, or `None` when there is none.
    fn manifest(&self, name: &str) -> Option<&'static str>;

    /// Returns every name the catalog holds, listed in errors about unknown names.
    fn names(&self) -> Vec<&'static str>;
}

/// The sample manifests that ship with mesh-sim, used by [`load`](super::load) and
/// [`load_with`](super::load_with).
#[derive(Clone, Copy, Debug, Default)]
pub struct MeshSimManifests;

impl BundledManifests for MeshSimManifests {
    fn manifest(&self, name: &str) -> Option<&'static str> {
        mesh_sim::apps::bundled_manifest(name)
    }

    fn names(&self) -> Vec<&'static str> {
        mesh_sim::apps::bundled_manifest_names().to_vec()
    }
}

/// Returns the file name under which objects of a bundled manifest are located.
pub(crate) fn bundled_file_name(name: &str) -> String {
    format!("<bundled:{name}>")
}

/// Reads every object of a multi-document manifest.
///
/// Documents are split on `---` lines, and empty ones are skipped. `${NAME}` references are
/// expanded in every string. Namespaced objects without a namespace get `namespace`, and
/// every object must have the name, namespace or TSB parents that identify it.
pub(crate) fn read_manifest(
    text: &str,
    origin: &Origin,
    variables: &Variables,
    namespace: Option<&str>,
) -> Result<Vec<LocatedResource>, ScenarioError> {
    let mut objects = Vec::new();
    for (document_text, first_line) in split_documents(text) {
        let Some(mut document) = parse_document(&document_text, origin.nested(first_line, 0))?
        else {
            continue;
        };
        variables.substitute(&mut document.root, &document.text, &document.origin)?;
        objects.push(read_object(&document, namespace)?);
    }
    Ok(objects)
}

fn read_object(
    document: &Document,
    namespace: Option<&str>,
) -> Result<LocatedResource, ScenarioError> {
    let root = &document.root;
    if !matches!(root.value, Value::Map(_)) {
        return Err(document.error(
            root.pos,
            format!(
                "a manifest document must be a mapping, found {}",
                root.type_name()
            ),
            "write an object with apiVersion, kind and metadata",
        ));
    }
    let api_version = required_string(document, "apiVersion")?;
    let kind_name = required_string(document, "kind")?;
    let kind =
        ResourceKind::from_api_version_kind(api_version.0, kind_name.0).map_err(|error| {
            let node = match error {
                KindError::UnknownKind { .. } => kind_name.1,
                KindError::UnknownApiVersion { .. } => api_version.1,
            };
            let text = error.to_string();
            let (message, hint) = text
                .split_once("; ")
                .unwrap_or((text.as_str(), "check apiVersion and kind"));
            document.error(node.pos, message, hint)
        })?;

    let mut resource = decode(kind, document)?;
    check_dropped_fields(kind, api_version.0, document, &resource)?;
    if let Some(namespace) = namespace {
        resource.default_namespace(namespace);
    }
    let kind_key = root.entry("kind").map_or(root, |(key, _)| key);
    if let Err(error) = resource.key() {
        let hint = match &error {
            KeyError::MissingName { .. } => "add metadata.name",
            KeyError::MissingNamespace { .. } => "set it in the manifest or in the step",
            KeyError::MissingParent { .. } => "add it to place the object in the TSB hierarchy",
        };
        let text = error.to_string();
        let message = text
            .split_once("; ")
            .map_or(text.as_str(), |(message, _)| message);
        return Err(document.error(kind_key.pos, message, hint));
    }
    if let Err(invalid) = mesh_sim::resources::validate::validate(&resource) {
        let node = locate_path(root, &invalid.path).unwrap_or(kind_key);
        return Err(document.error(node.pos, invalid.message, invalid.hint));
    }
    Ok(LocatedResource {
        resource,
        location: document.locate(kind_key.pos),
    })
}

/// Finds the node at `path` (mapping keys, and list indexes as numbers), or the deepest one
/// that exists on the way.
fn locate_path<'a>(root: &'a Node, path: &[String]) -> Option<&'a Node> {
    let mut node = root;
    let mut found = None;
    for part in path {
        let next = match &node.value {
            Value::Map(_) => node.entry(part).map(|(key, _)| key).zip(node.get(part)),
            Value::Seq(items) => part
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get(index))
                .map(|item| (item, item)),
            _ => None,
        };
        let Some((key, value)) = next else {
            break;
        };
        found = Some(key);
        node = value;
    }
    found
}

/// Returns the string value of a top-level field, with its node.
fn required_string<'a>(
    document: &'a Document,
    field: &str,
) -> Result<(&'a str, &'a Node), ScenarioError> {
    let Some(node) = document.root.get(field) else {
        return Err(document.error(
            document.root.pos,
            format!("the manifest document has no `{field}`"),
            format!("add `{field}`"),
        ));
    };
    match node.as_str() {
        Some(text) => Ok((text, node)),
        None => Err(document.error(
            node.pos,
            format!("`{field}` must be a string, found {}", node.type_name()),
            format!("write `{field}` as a string"),
        )),
    }
}

/// Deserializes the document as the type of `kind`.
fn decode(kind: ResourceKind, document: &Document) -> Result<Resource, ScenarioError> {
    let root = &document.root;
    let name = kind.name();
    Ok(match kind {
        ResourceKind::Namespace => Resource::Namespace(from_node(document, root, name, false)?),
        ResourceKind::ServiceAccount => {
            Resource::ServiceAccount(from_node(document, root, name, false)?)
        }
        ResourceKind::Service => Resource::Service(from_node(document, root, name, false)?),
        ResourceKind::Deployment => Resource::Deployment(from_node(document, root, name, false)?),
        ResourceKind::Pod => Resource::Pod(from_node(document, root, name, false)?),
        ResourceKind::ConfigMap => Resource::ConfigMap(from_node(document, root, name, false)?),
        ResourceKind::Secret => Resource::Secret(from_node(document, root, name, false)?),
        ResourceKind::PeerAuthentication => {
            Resource::PeerAuthentication(from_node(document, root, name, false)?)
        }
        ResourceKind::AuthorizationPolicy => {
            Resource::AuthorizationPolicy(from_node(document, root, name, false)?)
        }
        ResourceKind::DestinationRule => {
            Resource::DestinationRule(from_node(document, root, name, false)?)
        }
        ResourceKind::Organization => {
            Resource::Organization(from_node(document, root, name, false)?)
        }
        ResourceKind::Tenant => Resource::Tenant(from_node(document, root, name, false)?),
        ResourceKind::Workspace => Resource::Workspace(from_node(document, root, name, false)?),
        ResourceKind::SecurityGroup => {
            Resource::SecurityGroup(from_node(document, root, name, false)?)
        }
        ResourceKind::OrganizationSetting => {
            Resource::OrganizationSetting(from_node(document, root, name, false)?)
        }
        ResourceKind::TenantSetting => {
            Resource::TenantSetting(from_node(document, root, name, false)?)
        }
        ResourceKind::WorkspaceSetting => {
            Resource::WorkspaceSetting(from_node(document, root, name, false)?)
        }
        ResourceKind::SecuritySetting => {
            Resource::SecuritySetting(from_node(document, root, name, false)?)
        }
        ResourceKind::TsbCluster => Resource::TsbCluster(from_node(document, root, name, false)?),
    })
}

/// Returns the part of a document whose unknown fields deserialization drops silently. That
/// is the whole object for the k8s-openapi types and `metadata` (a k8s-openapi `ObjectMeta`)
/// for the Istio types. The TSB types reject unknown fields themselves.
fn lenient_part(kind: ResourceKind) -> Option<&'static str> {
    match kind {
        ResourceKind::Namespace
        | ResourceKind::ServiceAccount
        | ResourceKind::Service
        | ResourceKind::Deployment
        | ResourceKind::Pod
        | ResourceKind::ConfigMap
        | ResourceKind::Secret => Some(""),
        ResourceKind::PeerAuthentication
        | ResourceKind::AuthorizationPolicy
        | ResourceKind::DestinationRule => Some("metadata"),
        ResourceKind::Organization
        | ResourceKind::Tenant
        | ResourceKind::Workspace
        | ResourceKind::SecurityGroup
        | ResourceKind::OrganizationSetting
        | ResourceKind::TenantSetting
        | ResourceKind::WorkspaceSetting
        | ResourceKind::SecuritySetting
        | ResourceKind::TsbCluster => None,
    }
}

/// Rejects fields that deserialization dropped: the object is serialized again and every
/// key of the document that is missing from the result, unless its value is null, is a
/// field the type does not have.
fn check_dropped_fields(
    kind: ResourceKind,
    api_version: &str,
    document: &Document,
    resource: &Resource,
) -> Result<(), ScenarioError> {
    let Some(part) = lenient_part(kind) else {
        return Ok(());
    };
    let serialized = serde_json::to_value(resource).map_err(|error| {
        document.error(
            document.root.pos,
            format!("internal error: failed to serialize the {kind} again: {error}"),
            "report this as a meshcheck bug",
        )
    })?;
    let (node, value) = if part.is_empty() {
        (Some(&document.root), Some(&serialized))
    } else {
        (document.root.get(part), serialized.get(part))
    };
    let (Some(node), Some(value)) = (node, value) else {
        return Ok(());
    };
    let Some((key, path)) = first_dropped_key(node, value, part.to_owned()) else {
        return Ok(());
    };
    let name = resource.name();
    let object = if name.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} `{name}`")
    };
    Err(document.error(
        key.pos,
        format!("unknown field `{path}` in {object}"),
        format!("check the spelling against the {api_version} {kind} schema"),
    ))
}

/// Finds the first key of `node`, in document order, that `value` lacks, with its dotted path.
fn first_dropped_key<'a>(
    node: &'a Node,
    value: &serde_json::Value,
    path: String,
) -> Option<(&'a Node, String)> {
    match (&node.value, value) {
        (Value::Map(entries), serde_json::Value::Object(object)) => {
            for (key, child) in entries {
                if child.value == Value::Null {
                    continue;
                }
                let name = key
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| key.scalar_text(""))
                    .unwrap_or_default();
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                let Some(child_value) = object.get(&name) else {
                    return Some((key, child_path));
                };
                if let Some(found) = first_dropped_key(child, child_value, child_path) {
                    return Some(found);
                }
            }
            None
        }
        (Value::Seq(items), serde_json::Value::Array(values)) if items.len() == values.len() => {
            items
                .iter()
                .zip(values)
                .enumerate()
                .find_map(|(index, (item, value))| {
                    first_dropped_key(item, value, format!("{path}[{index}]"))
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;

    fn read(text: &str) -> Result<Vec<LocatedResource>, ScenarioError> {
        let variables = Variables::new(
            BTreeMap::from([("ORG".to_owned(), "tetrate".to_owned())]),
            &BTreeMap::new(),
        );
        read_manifest(
            text,
            &Origin::file(Path::new("m.yaml")),
            &variables,
            Some("apps"),
        )
    }

    fn error_at(text: &str) -> (u64, u64, String) {
        let error = read(text).unwrap_err();
        let location = error.location().unwrap();
        (location.line, location.column, error.to_string())
    }

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleep
spec:
  replicas: 1
  selector:
    matchLabels: {app: sleep}
  template:
    metadata:
      labels: {app: sleep}
    spec:
      containers:
        - name: sleep
          image: curlimages/curl
          command: [/bin/sleep, infinity]
";

    #[test]
    fn reads_objects_with_locations() {
        let text = format!(
            "# leading comment\n---\n{DEPLOYMENT}---\n\n--- # empty\napiVersion: v1\nkind: \
             Namespace\nmetadata:\n  name: apps\n"
        );
        let objects = read(&text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].resource.kind(), ResourceKind::Deployment);
        assert_eq!(objects[0].location.to_string(), "m.yaml:4:1");
        let meta = objects[0].resource.object_meta().unwrap();
        assert_eq!(meta.namespace.as_deref(), Some("apps"));
        assert_eq!(objects[1].resource.kind(), ResourceKind::Namespace);
        assert_eq!(objects[1].location.to_string(), "m.yaml:23:1");
        let meta = objects[1].resource.object_meta().unwrap();
        assert_eq!(meta.namespace, None);
    }

    #[test]
    fn unknown_deployment_field_is_located() {
        let text = DEPLOYMENT.replace("  replicas: 1", "  replcas: 1");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (6, 3));
        assert_eq!(
            message,
            "m.yaml:6:3: unknown field `spec.replcas` in Deployment `sleep`; check the spelling \
             against the apps/v1 Deployment schema"
        );
    }

    #[test]
    fn unknown_container_field_is_located() {
        let text = DEPLOYMENT.replace("          image:", "          imag:");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (15, 11));
        assert!(
            message.contains("`spec.template.spec.containers[0].imag`"),
            "{message}"
        );
    }

    #[test]
    fn null_fields_are_not_unknown() {
        let text = DEPLOYMENT.replace("  name: sleep\n", "  name: sleep\n  creationTimestamp:\n");
        assert!(read(&text).is_ok());
    }

    #[test]
    fn manifest_error_table() {
        let peer_authentication = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                                   metadata:\n  name: default\n";
        let cases = [
            (
                "apiVersion: v1\nkind: Gadget\nmetadata: {name: x}\n".to_owned(),
                2,
                7,
                "unsupported kind `Gadget`",
            ),
            (
                "apiVersion: apps/v1beta1\nkind: Deployment\n".to_owned(),
                1,
                13,
                "unsupported apiVersion `apps/v1beta1` for kind `Deployment`; expected apps/v1",
            ),
            (
                "kind: Namespace\n".to_owned(),
                1,
                1,
                "the manifest document has no `apiVersion`",
            ),
            (
                "- a\n- b\n".to_owned(),
                1,
                1,
                "a manifest document must be a mapping",
            ),
            (
                format!("{peer_authentication}spec:\n  mtsl: {{mode: STRICT}}\n"),
                6,
                3,
                "unknown field `mtsl` in spec, expected one of `selector`, `mtls`, \
                 `portLevelMtls`; check the spelling",
            ),
            (
                format!("{peer_authentication}  lables: {{a: b}}\n"),
                5,
                3,
                "unknown field `metadata.lables` in PeerAuthentication `default`",
            ),
            (
                format!("{peer_authentication}spec:\n  mtls: {{mode: STRICTER}}\n"),
                6,
                16,
                "unknown value `STRICTER` for mode",
            ),
            (
                "apiVersion: api.tsb.tetrate.io/v2\nkind: TenantSetting\nmetadata:\n  name: s\n  \
                 organisation: ${ORG}\n"
                    .to_owned(),
                5,
                3,
                "unknown field `organisation` in metadata",
            ),
            (
                "apiVersion: api.tsb.tetrate.io/v2\nkind: TenantSetting\nmetadata:\n  name: s\n  \
                 organization: ${ORG}\n"
                    .to_owned(),
                2,
                1,
                "TenantSetting s needs metadata.tenant (tctl form) or the annotation \
                 tsb.tetrate.io/tenant (Kubernetes form); add it",
            ),
            (
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {a: b}\n".to_owned(),
                2,
                1,
                "Namespace has no metadata.name; add metadata.name",
            ),
            (
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${TEAM}\n".to_owned(),
                4,
                9,
                "undefined variable `TEAM`",
            ),
            (
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels: {a: 1}\n"
                    .to_owned(),
                5,
                15,
                "invalid type for a: found integer `1`, expected a string",
            ),
        ];
        for (text, line, column, message) in cases {
            let (actual_line, actual_column, display) = error_at(&text);
            assert_eq!((actual_line, actual_column), (line, column), "{display}");
            assert!(display.contains(message), "{display}");
            assert!(!display.contains('\n'), "{display}");
        }
    }

    #[test]
    fn tsb_objects_take_variables() {
        let text = "apiVersion: api.tsb.tetrate.io/v2\nkind: TenantSetting\nmetadata:\n  \
                    organization: ${ORG}\n  tenant: default\n  name: default-setting\nspec:\n  \
                    defaultSecuritySetting:\n    authenticationSettings:\n      trafficMode: \
                    REQUIRED\n";
        let objects = read(text).unwrap();
        let meta = objects[0].resource.tsb_meta().unwrap();
        assert_eq!(meta.organization.as_deref(), Some("tetrate"));
        assert_eq!(
            objects[0].resource.key().unwrap().to_string(),
            "TenantSetting organizations/tetrate/tenants/default/settings/default-setting"
        );
    }

    #[test]
    fn tsb_kubernetes_form_keeps_its_namespace() {
        let text = "apiVersion: tsb.tetrate.io/v2\nkind: TenantSetting\nmetadata:\n  name: s\n  \
                    namespace: tsb\n  annotations:\n    tsb.tetrate.io/organization: ${ORG}\n    \
                    tsb.tetrate.io/tenant: default\n";
        let objects = read(text).unwrap();
        let meta = objects[0].resource.tsb_meta().unwrap();
        assert_eq!(meta.namespace.as_deref(), Some("tsb"));
        assert_eq!(
            objects[0].resource.key().unwrap().to_string(),
            "TenantSetting organizations/tetrate/tenants/default/settings/s"
        );
    }
}
