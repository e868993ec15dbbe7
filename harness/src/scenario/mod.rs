//! Scenario files: the model they describe, and loading them with errors that point at the
//! file, line and column.
//!
//! [`Scenario`] documents the file format. [`load`] reads one file, [`load_with`] also
//! overrides variables, and [`discover`] finds scenario files under directories.

mod curl_args;
mod de;
mod discover;
mod error;
mod exec;
mod expect;
mod loader;
mod manifest;
mod matrix;
mod model;
mod refs;
mod steps;
mod text;
mod traffic;
mod vars;
mod yaml;
mod yaml_error;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

pub use self::curl_args::CURL_PROTOCOLS;
pub use self::discover::discover;
pub use self::error::{ScenarioError, SourceLocation};
pub use self::expect::{Expectation, Pattern, TextMatcher};
pub use self::manifest::{BundledManifests, MeshSimManifests};
pub use self::model::{
    Action, ClusterSettings, DeleteTarget, ExecStep, LabelStep, LocatedResource, ManifestSet,
    MatrixCell, MatrixRequest, MatrixSource, MatrixStep, ObjectRef, ProbeMode, Scenario, Step,
    Timeouts, TrafficDestination, TrafficStep, WorkloadKind, WorkloadRef,
};

/// Loads and validates the scenario file at `path`, with the bundled manifests of mesh-sim.
///
/// Nothing is applied anywhere: the result is the complete model, or the first error found.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &BTreeMap::new())
}

/// Loads the scenario at `path` as [`load`] does, with `overrides` replacing or adding
/// variables (`--set NAME=value` on the command line). Overrides for names the scenario never
/// references are ignored.
pub fn load_with(
    path: &Path,
    overrides: &BTreeMap<String, String>,
) -> Result<Scenario, ScenarioError> {
    load_with_bundled(path, overrides, &MeshSimManifests)
}

/// Loads the scenario at `path` as [`load_with`] does, resolving `bundled: NAME` sources
/// with `bundled`.
pub fn load_with_bundled(
    path: &Path,
    overrides: &BTreeMap<String, String>,
    bundled: &dyn BundledManifests,
) -> Result<Scenario, ScenarioError> {
    loader::load_scenario(path, overrides, bundled)
}

/// Reads the objects of a standalone manifest file (several documents separated by `---`),
/// as `kubectl apply -f` and `tctl apply -f` read it. Namespaced objects without a namespace
/// get `namespace`. No variables are expanded, and errors carry file, line and column.
pub fn load_manifest(
    path: &Path,
    namespace: Option<&str>,
) -> Result<Vec<LocatedResource>, ScenarioError> {
    let text = text::read_text(path, "manifest file")?;
    load_manifest_text(&text, path, namespace)
}

/// Reads manifest `text` as [`load_manifest`] does, with errors located in `file`.
pub fn load_manifest_text(
    text: &str,
    file: &Path,
    namespace: Option<&str>,
) -> Result<Vec<LocatedResource>, ScenarioError> {
    let variables = vars::Variables::standalone();
    manifest::read_manifest(text, &yaml::Origin::file(file), &variables, namespace)
}
