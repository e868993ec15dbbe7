//! `meshcheck translate`: the Istio resources that the TSB settings in some manifest files
//! generate for the cluster state those files describe, printed as YAML. Users compare them
//! with what TSB generates on a real cluster; the kube backend applies them to a plain Istio
//! cluster.

use std::collections::BTreeSet;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use mesh_sim::cluster::{ClusterConfig, ClusterState};
use mesh_sim::policy::tsb::{self, Generated};
use mesh_sim::resources::Resource;

use crate::scenario::{self, ClusterSettings, LocatedResource, ScenarioError};

/// Errors of reading or applying the files to translate.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// A file could not be read or is invalid.
    #[error(transparent)]
    Invalid(#[from] ScenarioError),
    /// An object cannot be applied to the cluster state the files describe, such as a
    /// setting whose tenant is missing.
    #[error("{location}: {message}")]
    Rejected {
        /// `file:line:column` of the object.
        location: String,
        /// The cluster's error.
        message: String,
    },
}

/// The cluster to translate for, and the namespaces it has besides those in the files.
#[derive(Clone, Debug, Default)]
pub struct TranslateOptions {
    /// The cluster whose name TSB namespace selectors match and whose trust domain the
    /// generated principals use.
    pub cluster: ClusterSettings,
    /// Namespaces that exist besides those the files create or their selectors name exactly,
    /// for selectors with wildcards.
    pub namespaces: Vec<String>,
}

fn namespace(name: &str) -> Resource {
    Resource::Namespace(Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

/// Namespaces that workspace and group selectors name exactly (`cluster/ns` or `*/ns`).
fn selected_namespaces(objects: &[LocatedResource]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for object in objects {
        let selectors: Vec<&String> = match &object.resource {
            Resource::Workspace(workspace) => {
                workspace.spec.namespace_selector.names.iter().collect()
            }
            Resource::SecurityGroup(group) => group
                .spec
                .namespace_selector
                .iter()
                .flat_map(|selector| &selector.names)
                .collect(),
            _ => Vec::new(),
        };
        for selector in selectors {
            if let Some((_, name)) = selector.split_once('/')
                && !name.contains('*')
            {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// Reads `paths` in order and translates their TSB settings.
pub fn translate_files(
    paths: &[PathBuf],
    options: &TranslateOptions,
) -> Result<Generated, TranslateError> {
    let mut objects = Vec::new();
    for path in paths {
        objects.extend(scenario::load_manifest(path, None)?);
    }
    translate_objects(&objects, options)
}

/// Translates the TSB settings among `objects`, applied in order to a cluster that also has
/// the namespaces they select.
pub fn translate_objects(
    objects: &[LocatedResource],
    options: &TranslateOptions,
) -> Result<Generated, TranslateError> {
    let config = ClusterConfig {
        name: options.cluster.name.clone(),
        trust_domain: options.cluster.trust_domain.clone(),
        ..ClusterConfig::default()
    };
    let mut state = ClusterState::new(config, 0);
    let declared: BTreeSet<&str> = objects
        .iter()
        .filter(|object| matches!(object.resource, Resource::Namespace(_)))
        .map(|object| object.resource.name())
        .collect();
    let implicit: BTreeSet<String> = selected_namespaces(objects)
        .into_iter()
        .chain(options.namespaces.iter().cloned())
        .filter(|name| !declared.contains(name.as_str()))
        .collect();
    let implicit: Vec<Resource> = implicit.iter().map(|name| namespace(name)).collect();
    state
        .apply(implicit)
        .map_err(|error| TranslateError::Rejected {
            location: "--namespace".to_owned(),
            message: error.to_string(),
        })?;
    for object in objects {
        state
            .apply(vec![object.resource.clone()])
            .map_err(|error| TranslateError::Rejected {
                location: object.location.to_string(),
                message: error.to_string(),
            })?;
    }
    Ok(tsb::translate(&state))
}

/// Renders generated resources as YAML documents: PeerAuthentications, then
/// AuthorizationPolicies, each sorted by namespace and name.
pub fn render(generated: &Generated) -> Result<String, serde_saphyr::SerializeError> {
    let mut peer_authentications: Vec<_> = generated
        .peer_authentications
        .iter()
        .map(|ordered| &ordered.object)
        .collect();
    peer_authentications.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    let mut authorization_policies: Vec<_> = generated
        .authorization_policies
        .iter()
        .map(|ordered| &ordered.object)
        .collect();
    authorization_policies.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    // Plain scalars, as kubectl prints them, rather than folded blocks for long strings.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    let mut documents = Vec::new();
    for policy in peer_authentications {
        documents.push(serde_saphyr::to_string_with_options(
            policy,
            options.clone(),
        )?);
    }
    for policy in authorization_policies {
        documents.push(serde_saphyr::to_string_with_options(
            policy,
            options.clone(),
        )?);
    }
    Ok(documents.join("---\n"))
}

#[cfg(test)]
mod tests;
