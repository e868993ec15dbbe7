//! A dry run of a scenario's changes against the in-process cluster model, before any mesh
//! starts: every object the cluster would reject, every object a step deletes, labels or
//! restarts that does not exist by then, and every workload a probe runs in or checks.
//!
//! The in-process cluster starts empty apart from its initial namespaces, so whatever a step
//! needs must have been applied by an earlier one. A real cluster may already hold it, which
//! is why this check belongs to this backend.

use mesh_sim::apps::AppKind;
use mesh_sim::cluster::{ClusterError, ClusterState, LabelChange};
use mesh_sim::resources::{Resource, ResourceKey};

use super::{cluster_config, contains, key_of};
use crate::scenario::{
    Action, DeleteTarget, LocatedResource, Scenario, ScenarioError, SourceLocation, Step,
    TrafficDestination, WorkloadRef,
};

/// The address block the rehearsal's cluster model uses; it binds nothing, so any block works.
const REHEARSAL_BLOCK: u8 = 0;

/// Annotation value the rehearsal writes for `rolloutRestart`.
const REHEARSAL_RESTART: &str = "rehearsal";

/// Turns a rejection into a located scenario error. The cluster's messages end with what to
/// do after `; `, which becomes the hint.
fn rejected(location: &SourceLocation, step: &Step, error: &ClusterError) -> ScenarioError {
    let text = error.to_string();
    let (problem, hint) = text
        .split_once("; ")
        .unwrap_or((text.as_str(), "fix the manifest or the order of the steps"));
    ScenarioError::invalid(
        location.clone(),
        format!("step `{}` would be rejected: {problem}", step.name),
        hint,
    )
}

/// Returns why the in-process backend cannot serve `service` as written, if it cannot: it
/// models ClusterIP Services only.
fn unsupported_service(service: &k8s_openapi::api::core::v1::Service) -> Option<&'static str> {
    let spec = service.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return Some("an ExternalName Service");
    }
    if spec.cluster_ip.as_deref() == Some("None") {
        return Some("a headless Service (clusterIP: None)");
    }
    None
}

/// Returns where to report a problem with `object`: its manifest, or the step for a bundled
/// manifest, which is not the user's to edit.
fn object_location<'a>(step: &'a Step, object: &'a LocatedResource) -> &'a SourceLocation {
    if object
        .location
        .file
        .to_string_lossy()
        .starts_with("<bundled:")
    {
        &step.location
    } else {
        &object.location
    }
}

/// Checks that the in-process backend can run every object in `objects`: each container of
/// a Deployment or Pod uses an image it maps to a built-in app, and each Service is a
/// ClusterIP Service.
fn check_supported(step: &Step, objects: &[LocatedResource]) -> Result<(), ScenarioError> {
    for object in objects {
        if let Resource::Service(service) = &object.resource
            && let Some(what) = unsupported_service(service)
        {
            return Err(ScenarioError::invalid(
                object_location(step, object).clone(),
                format!("the in-process backend cannot serve {what}"),
                "use a ClusterIP Service, the default type",
            ));
        }
        let containers = match &object.resource {
            Resource::Deployment(deployment) => deployment
                .spec
                .template
                .spec
                .as_ref()
                .map(|spec| spec.containers.as_slice()),
            Resource::Pod(pod) => pod.spec.as_ref().map(|spec| spec.containers.as_slice()),
            _ => None,
        };
        let unknown = containers.unwrap_or_default().iter().find(|container| {
            container
                .image
                .as_deref()
                .is_none_or(|image| AppKind::from_image(image).is_none())
        });
        if let Some(container) = unknown {
            return Err(ScenarioError::invalid(
                object_location(step, object).clone(),
                format!(
                    "container `{}` uses image `{}`, which the in-process backend cannot run",
                    container.name,
                    container.image.as_deref().unwrap_or_default()
                ),
                "use one of the images the README lists under bundled manifests, such as \
                 curlimages/curl or mccutchen/go-httpbin, with any tag",
            ));
        }
    }
    Ok(())
}

/// Finds the object of `objects` that the cluster rejects when they are applied one by one
/// on `state`, to point at its manifest rather than at the step.
fn rejected_object<'a>(
    state: &ClusterState,
    objects: &'a [LocatedResource],
) -> Option<&'a LocatedResource> {
    let mut trial = state.clone();
    objects
        .iter()
        .find(|object| trial.apply(vec![object.resource.clone()]).is_err())
}

/// Checks that `workload` exists at this step: a Deployment, a bare Pod, or a pod that a
/// Deployment created (for `pod/NAME`).
fn check_workload(
    state: &ClusterState,
    step: &Step,
    workload: &WorkloadRef,
    role: &str,
) -> Result<(), ScenarioError> {
    if contains(state, &workload.object()) {
        return Ok(());
    }
    Err(ScenarioError::invalid(
        step.location.clone(),
        format!(
            "step `{}` {role} {workload} in namespace {}, which does not exist at this step",
            step.name, workload.namespace
        ),
        "apply it in an earlier step, or fix the name and namespace",
    ))
}

/// Replays the scenario's changes on an in-process cluster model, and checks its probes'
/// workloads, returning the first problem located at the object or step that causes it.
pub fn rehearse(scenario: &Scenario) -> Result<(), ScenarioError> {
    let config = cluster_config(&scenario.cluster);
    let mut state =
        ClusterState::with_initial_namespaces(config, REHEARSAL_BLOCK).map_err(|error| {
            ScenarioError::invalid(
                SourceLocation::new(scenario.path.clone(), 1, 1),
                format!("the in-process cluster model cannot start: {error}"),
                "report this as a bug in meshcheck",
            )
        })?;
    for step in &scenario.steps {
        let result = match &step.action {
            Action::Apply(set) => {
                check_supported(step, &set.objects)?;
                let before = state.clone();
                let resources = set.objects.iter().map(|object| object.resource.clone());
                state.apply(resources.collect()).map(drop).map_err(|error| {
                    let location = rejected_object(&before, &set.objects)
                        .map_or(&step.location, |object| object_location(step, object));
                    rejected(location, step, &error)
                })
            }
            Action::Delete(DeleteTarget::Objects(set)) => {
                let keys: Result<Vec<ResourceKey>, _> = set
                    .objects
                    .iter()
                    .map(|object| object.resource.key())
                    .collect();
                match keys {
                    Ok(keys) => state
                        .delete(&keys)
                        .map_err(|error| rejected(&step.location, step, &error)),
                    Err(error) => Err(rejected(&step.location, step, &ClusterError::Key(error))),
                }
            }
            Action::Delete(DeleteTarget::Refs(refs)) => {
                let keys: Vec<ResourceKey> = refs.iter().map(key_of).collect();
                state
                    .delete(&keys)
                    .map_err(|error| rejected(&step.location, step, &error))
            }
            Action::Label(label) => {
                let change = LabelChange {
                    set: label.set.clone(),
                    remove: label.remove.clone(),
                };
                state
                    .label(&key_of(&label.target), &change)
                    .map_err(|error| rejected(&step.location, step, &error))
            }
            Action::RolloutRestart(target) => state
                .rollout_restart(&key_of(&target.object()), REHEARSAL_RESTART)
                .map_err(|error| rejected(&step.location, step, &error)),
            Action::Exec(exec) => check_workload(&state, step, &exec.target, "runs in"),
            Action::Matrix(matrix) => matrix
                .sources
                .iter()
                .try_for_each(|source| check_workload(&state, step, &source.target, "runs in")),
            Action::Traffic(traffic) => {
                check_workload(&state, step, &traffic.from, "checks connections from")?;
                match &traffic.to {
                    TrafficDestination::Workload(workload) => {
                        check_workload(&state, step, workload, "checks connections to")
                    }
                    TrafficDestination::Service { namespace, name } => {
                        if state.service(namespace, name).is_some() {
                            Ok(())
                        } else {
                            Err(ScenarioError::invalid(
                                step.location.clone(),
                                format!(
                                    "step `{}` checks connections to service {namespace}/{name}, \
                                     which does not exist at this step",
                                    step.name
                                ),
                                "apply the Service in an earlier step, or fix the name and \
                                 namespace",
                            ))
                        }
                    }
                }
            }
        };
        result?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a scenario with `steps` (YAML lines under `steps:`) and loads it.
    fn scenario(name: &str, steps: &str) -> (Scenario, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "meshcheck-rehearse-{}-{name}.yaml",
            std::process::id()
        ));
        let text = format!(
            "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: {name}}}\nspec:\n  steps:\n{steps}"
        );
        std::fs::write(&path, text).expect("write scenario");
        let loaded = crate::scenario::load(&path).expect("the scenario loads");
        (loaded, path)
    }

    fn rehearsal_error(name: &str, steps: &str) -> String {
        let (loaded, path) = scenario(name, steps);
        let error = rehearse(&loaded).expect_err("the dry run finds the problem");
        std::fs::remove_file(&path).ok();
        let text = error.to_string();
        let file = path.display().to_string();
        text.strip_prefix(&file).map(str::to_owned).unwrap_or(text)
    }

    const SLEEP: &str = "    - apply: {bundled: sleep, namespace: default}\n";

    #[test]
    fn valid_changes_and_probes_pass() {
        let steps = format!(
            "{SLEEP}    - label: {{target: namespace/default, set: {{istio-injection: enabled}}}}\n    - rolloutRestart: {{target: deploy/sleep, namespace: default}}\n    - exec: {{target: deploy/sleep, command: curl -sS http://sleep}}\n      expect: {{}}\n    - traffic: {{from: {{target: deploy/sleep}}, to: {{service: sleep, namespace: default}}}}\n    - delete: {{resources: [deploy/sleep]}}\n"
        );
        let (loaded, path) = scenario("valid", &steps);
        let result = rehearse(&loaded);
        std::fs::remove_file(&path).ok();
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn bundled_rejection_points_at_step() {
        let error = rehearsal_error("no-ns", "    - apply: {bundled: sleep, namespace: sleep}\n");
        assert!(error.starts_with(":6:7: "), "{error}");
        assert!(error.contains("namespaces \"sleep\" not found"), "{error}");
        assert!(error.ends_with("; create the Namespace first"), "{error}");
    }

    #[test]
    fn probes_need_their_workloads() {
        let exec = format!(
            "{SLEEP}    - exec: {{target: deploy/sleep, namespace: slep, command: curl http://sleep}}\n      expect: {{}}\n"
        );
        let error = rehearsal_error("exec", &exec);
        assert!(error.starts_with(":7:7: "), "{error}");
        assert!(
            error.contains("runs in deploy/sleep in namespace slep, which does not exist"),
            "{error}"
        );

        let traffic = format!(
            "{SLEEP}    - traffic: {{from: {{target: deploy/sleep}}, to: {{service: productpage, namespace: bookinfo}}}}\n"
        );
        let error = rehearsal_error("traffic", &traffic);
        assert!(
            error.contains("checks connections to service bookinfo/productpage"),
            "{error}"
        );
    }

    #[test]
    fn changes_need_their_objects() {
        let cases = [
            ("delete", "    - delete: {resources: [deploy/sleep]}\n"),
            (
                "restart",
                "    - rolloutRestart: {target: deploy/sleep, namespace: default}\n",
            ),
            (
                "label",
                "    - label: {target: namespace/sleep, set: {a: b}}\n",
            ),
        ];
        for (name, step) in cases {
            let error = rehearsal_error(name, step);
            assert!(error.starts_with(":6:7: "), "{name}: {error}");
            assert!(error.contains("not found"), "{name}: {error}");
        }
    }

    #[test]
    fn unknown_image_is_invalid() {
        let steps = "    - apply:\n        namespace: default\n        manifest: |\n          apiVersion: apps/v1\n          kind: Deployment\n          metadata: {name: web}\n          spec:\n            selector: {matchLabels: {app: web}}\n            template:\n              metadata: {labels: {app: web}}\n              spec: {containers: [{name: web, image: \"nginx:1.27\"}]}\n";
        let error = rehearsal_error("image", steps);
        assert!(error.starts_with(":10:11: "), "{error}");
        assert!(
            error.contains("container `web` uses image `nginx:1.27`, which the in-process"),
            "{error}"
        );
    }

    #[test]
    fn unsupported_service_types_are_invalid() {
        let service = |spec: &str| {
            format!(
                "    - apply:\n        namespace: default\n        manifest: |\n          apiVersion: v1\n          kind: Service\n          metadata: {{name: web}}\n          spec: {spec}\n"
            )
        };
        let cases = [
            (
                "{clusterIP: None, ports: [{port: 80}]}",
                "a headless Service (clusterIP: None)",
            ),
            (
                "{type: ExternalName, externalName: example.com}",
                "an ExternalName Service",
            ),
        ];
        for (spec, what) in cases {
            let error = rehearsal_error("service", &service(spec));
            assert!(error.starts_with(":10:11: "), "{error}");
            assert!(
                error.contains(&format!("the in-process backend cannot serve {what}")),
                "{error}"
            );
        }
    }

    #[test]
    fn probe_after_delete_is_invalid() {
        let steps = format!(
            "{SLEEP}    - delete: {{resources: [deploy/sleep]}}\n    - exec: {{target: deploy/sleep, command: curl http://sleep}}\n      expect: {{}}\n"
        );
        let error = rehearsal_error("deleted", &steps);
        assert!(error.starts_with(":8:7: "), "{error}");
    }
}
