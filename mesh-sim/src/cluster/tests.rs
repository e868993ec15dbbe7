use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, PodSpec, PodTemplateSpec, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::pods::PodPhase;
use super::*;

fn meta(name: &str, namespace: Option<&str>, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(
            labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn namespace(name: &str, labels: &[(&str, &str)]) -> Resource {
    Resource::Namespace(Namespace {
        metadata: meta(name, None, labels),
        ..Default::default()
    })
}

fn deployment(namespace: &str, name: &str, app: &str, port: i32) -> Resource {
    let labels: BTreeMap<String, String> = [("app".to_owned(), app.to_owned())].into();
    Resource::Deployment(Deployment {
        metadata: meta(name, Some(namespace), &[]),
        spec: DeploymentSpec {
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(app.to_owned()),
                    containers: vec![Container {
                        name: app.to_owned(),
                        image: Some("docker.io/kong/httpbin:0.1.0".to_owned()),
                        ports: Some(vec![ContainerPort {
                            container_port: port,
                            name: Some("web".to_owned()),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    })
}

fn service(namespace: &str, name: &str, port: i32, target: &str) -> Resource {
    Resource::Service(Service {
        metadata: meta(name, Some(namespace), &[]),
        spec: Some(ServiceSpec {
            selector: Some([("app".to_owned(), name.to_owned())].into()),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port,
                target_port: Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                        target.to_owned(),
                    ),
                ),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn cluster() -> ClusterState {
    ClusterState::new(ClusterConfig::default(), 200)
}

fn pod_of<'a>(state: &'a ClusterState, namespace: &str, deployment: &str) -> &'a pods::PodInfo {
    state
        .pods()
        .find(|pod| {
            pod.namespace == namespace
                && pod
                    .owner
                    .as_ref()
                    .is_some_and(|owner| owner.deployment == deployment)
        })
        .expect("deployment has a pod")
}

#[test]
fn apply_rejects_missing_namespace_and_keeps_state() {
    let mut state = cluster();
    let error = state
        .apply(vec![deployment("sleep", "sleep", "sleep", 80)])
        .unwrap_err();
    assert!(
        matches!(error, ClusterError::NamespaceNotFound { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "namespaces \"sleep\" not found (applying Deployment sleep/sleep); create the Namespace first"
    );
}

#[test]
fn store_update_is_all_or_nothing() {
    let store = ClusterStore::new(cluster());
    let result = store.update(|state| {
        state.apply(vec![
            namespace("ok", &[]),
            deployment("missing", "web", "web", 80),
        ])
    });
    assert!(result.is_err());
    assert_eq!(store.snapshot().namespaces().count(), 0, "nothing applied");
}

#[test]
fn injection_is_decided_at_pod_creation() {
    let mut state = cluster();
    state
        .apply(vec![
            namespace("sleep", &[]),
            deployment("sleep", "sleep", "sleep", 80),
        ])
        .unwrap();
    let before = pod_of(&state, "sleep", "sleep").clone();
    assert!(!before.injected);

    let key = namespace("sleep", &[]).key().unwrap();
    let change = LabelChange {
        set: [("istio-injection".to_owned(), "enabled".to_owned())].into(),
        remove: vec![],
    };
    state.label(&key, &change).unwrap();
    let unchanged = pod_of(&state, "sleep", "sleep");
    assert_eq!(
        unchanged.name, before.name,
        "labelling does not re-create pods"
    );
    assert!(
        !unchanged.injected,
        "existing pods keep their injection state"
    );

    let deployment_key = deployment("sleep", "sleep", "sleep", 80).key().unwrap();
    state
        .rollout_restart(&deployment_key, "2026-01-01T00:00:00Z")
        .unwrap();
    let restarted = pod_of(&state, "sleep", "sleep");
    assert_ne!(restarted.name, before.name, "restart creates a new pod");
    assert_ne!(restarted.ip, before.ip, "the new pod gets a new address");
    assert!(restarted.injected, "the new pod is injected");
    assert_eq!(
        restarted
            .labels
            .get("security.istio.io/tlsMode")
            .map(String::as_str),
        Some("istio")
    );
    assert_eq!(state.pods().count(), 1, "the old pod is gone");
}

#[test]
fn dns_search_path_and_routes() {
    let mut state = cluster();
    state
        .apply(vec![
            namespace("bookinfo", &[("istio-injection", "enabled")]),
            namespace("sleep", &[]),
            deployment("bookinfo", "web-v1", "web", 9080),
            service("bookinfo", "web", 9080, "web"),
            deployment("sleep", "sleep", "sleep", 80),
            deployment("bookinfo", "client", "client", 80),
        ])
        .unwrap();
    let web = pod_of(&state, "bookinfo", "web-v1").id();
    state.set_pod_phase(&web, PodPhase::Ready, None);

    for host in [
        "web.bookinfo",
        "web.bookinfo.svc",
        "web.bookinfo.svc.cluster.local",
        "WEB.bookinfo.svc.cluster.local.",
    ] {
        let found = state
            .resolve_service("sleep", host)
            .map(|service| service.id());
        assert_eq!(found.as_deref(), Some("bookinfo/web"), "{host} from sleep");
    }
    assert!(
        state.resolve_service("sleep", "web").is_none(),
        "short name is namespace-relative"
    );
    assert!(state.resolve_service("bookinfo", "web").is_some());
    assert!(state.resolve_service("sleep", "web.other").is_none());

    let outside = pod_of(&state, "sleep", "sleep").clone();
    let web_ip = state.service("bookinfo", "web").unwrap().cluster_ip;
    assert_eq!(
        state.resolve_address(&outside, "web.bookinfo"),
        Some(web_ip),
        "a pod without sidecar gets the cluster IP"
    );
    let inside = pod_of(&state, "bookinfo", "client").clone();
    let listener = state.resolve_address(&inside, "web").unwrap();
    assert_ne!(listener, web_ip, "an injected pod reaches its own sidecar");
    assert_eq!(listener.octets()[2], 128, "outbound listener range");
    assert_eq!(state.resolve_address(&outside, "nosuch.bookinfo"), None);
}

#[test]
fn delete_rejects_protected_namespaces() {
    let mut state = cluster();
    let namespaces = ["foo", "istio-system"]
        .iter()
        .chain(PROTECTED_NAMESPACES)
        .map(|name| namespace(name, &[]))
        .collect();
    state.apply(namespaces).expect("namespaces apply");
    for name in PROTECTED_NAMESPACES {
        let keys = [
            namespace("foo", &[]).key().expect("key"),
            namespace(name, &[]).key().expect("key"),
        ];
        let error = state.delete(&keys).expect_err(name);
        assert_eq!(error, ClusterError::ProtectedNamespace((*name).to_owned()));
        assert!(
            error.to_string().contains("may not be deleted"),
            "{name}: {error}"
        );
        assert!(
            state.namespaces().any(|existing| existing == "foo"),
            "{name}: foo was deleted before the rejection"
        );
        assert!(
            state.namespaces().any(|existing| existing == *name),
            "{name} was deleted"
        );
    }
    let istio = namespace("istio-system", &[]).key().expect("key");
    state.delete(&[istio]).expect("istio-system can be deleted");
}
