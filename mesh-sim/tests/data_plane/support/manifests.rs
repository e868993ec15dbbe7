//! Kubernetes and Istio objects for the tests, built from JSON in the shapes of the bundled
//! sample manifests (mesh-sim has no YAML parser), with namespaces set.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use mesh_sim::resources::Resource;
use mesh_sim::resources::istio::{AuthorizationPolicy, DestinationRule, PeerAuthentication};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Image of the bundled httpbin manifest (go-httpbin, listening on 8080).
const HTTPBIN_IMAGE: &str = "docker.io/mccutchen/go-httpbin:v2.15.0";
/// Image of the bundled sleep manifest.
const SLEEP_IMAGE: &str = "curlimages/curl:8.16.0";
/// Image of the bundled tcp-echo manifest.
const TCP_ECHO_IMAGE: &str = "docker.io/istio/tcp-echo-server:1.3";

/// Port of the httpbin Service; it forwards to container port [`HTTPBIN_TARGET_PORT`].
pub const HTTPBIN_PORT: u16 = 8000;
/// Container port of httpbin.
pub const HTTPBIN_TARGET_PORT: u16 = 8080;
/// The tcp-echo port the tests deny.
pub const TCP_ECHO_PORT: u16 = 9000;
/// The second tcp-echo port, left open.
pub const TCP_ECHO_OTHER_PORT: u16 = 9001;

fn decode<T: DeserializeOwned>(value: Value) -> T {
    let text = value.to_string();
    serde_json::from_value(value)
        .unwrap_or_else(|error| panic!("test object does not decode: {error}\n{text}"))
}

/// Builds a Namespace, labelled `istio-injection=enabled` when `injected`.
pub fn namespace(name: &str, injected: bool) -> Resource {
    let labels = if injected {
        json!({ "istio-injection": "enabled" })
    } else {
        json!({})
    };
    Resource::Namespace(decode::<Namespace>(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": labels },
    })))
}

fn service_account(namespace: &str, name: &str) -> Resource {
    Resource::ServiceAccount(decode::<ServiceAccount>(json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": { "name": name, "namespace": namespace },
    })))
}

/// Builds a Service selecting pods labelled `app: <app>`, with `ports` as Kubernetes JSON.
pub fn service(namespace: &str, name: &str, app: &str, ports: Value) -> Resource {
    Resource::Service(decode::<Service>(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": app } },
        "spec": { "selector": { "app": app }, "ports": ports },
    })))
}

/// Builds a one-replica Deployment of pods labelled `app: <name>` running `container`.
fn deployment(namespace: &str, name: &str, account: Option<&str>, container: Value) -> Resource {
    let mut pod_spec = json!({ "containers": [container] });
    if let Some(account) = account {
        pod_spec["serviceAccountName"] = json!(account);
    }
    Resource::Deployment(decode::<Deployment>(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name, "version": "v1" } },
                "spec": pod_spec,
            },
        },
    })))
}

/// Builds the bundled httpbin sample: ServiceAccount, Service port 8000 (`http`) to 8080, and the
/// go-httpbin Deployment.
pub fn httpbin(namespace: &str) -> Vec<Resource> {
    vec![
        service_account(namespace, "httpbin"),
        service(
            namespace,
            "httpbin",
            "httpbin",
            json!([{ "name": "http", "port": HTTPBIN_PORT, "targetPort": HTTPBIN_TARGET_PORT }]),
        ),
        deployment(
            namespace,
            "httpbin",
            Some("httpbin"),
            json!({
                "name": "httpbin",
                "image": HTTPBIN_IMAGE,
                "ports": [{ "containerPort": HTTPBIN_TARGET_PORT }],
            }),
        ),
    ]
}

/// Builds a client like the bundled sleep sample, with Deployment and ServiceAccount both called
/// `name`, and no Service.
pub fn sleep_named(namespace: &str, name: &str) -> Vec<Resource> {
    vec![
        service_account(namespace, name),
        deployment(
            namespace,
            name,
            Some(name),
            json!({
                "name": "sleep",
                "image": SLEEP_IMAGE,
                "command": ["/bin/sleep", "infinity"],
            }),
        ),
    ]
}

/// Builds the bundled sleep client: Deployment and ServiceAccount `sleep`.
pub fn sleep(namespace: &str) -> Vec<Resource> {
    sleep_named(namespace, "sleep")
}

/// Builds the bundled tcp-echo sample: ports 9000 (`tcp`) and 9001 (`tcp-other`), which
/// echo each line back as `hello <line>`.
pub fn tcp_echo(namespace: &str) -> Vec<Resource> {
    vec![
        service(
            namespace,
            "tcp-echo",
            "tcp-echo",
            json!([
                { "name": "tcp", "port": TCP_ECHO_PORT },
                { "name": "tcp-other", "port": TCP_ECHO_OTHER_PORT },
            ]),
        ),
        deployment(
            namespace,
            "tcp-echo",
            None,
            json!({
                "name": "tcp-echo",
                "image": TCP_ECHO_IMAGE,
                "args": [format!("{TCP_ECHO_PORT},{TCP_ECHO_OTHER_PORT}"), "hello"],
                "ports": [
                    { "containerPort": TCP_ECHO_PORT },
                    { "containerPort": TCP_ECHO_OTHER_PORT },
                ],
            }),
        ),
    ]
}

/// Builds a namespace-wide PeerAuthentication `default` with `mtls.mode` set to `mode`.
pub fn peer_authentication(namespace: &str, mode: &str) -> Resource {
    Resource::PeerAuthentication(decode::<PeerAuthentication>(json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": { "name": "default", "namespace": namespace },
        "spec": { "mtls": { "mode": mode } },
    })))
}

/// Builds a DestinationRule in `namespace` for `host` with `trafficPolicy.tls.mode` set to `mode`.
pub fn destination_rule(namespace: &str, host: &str, mode: &str) -> Resource {
    Resource::DestinationRule(decode::<DestinationRule>(json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": { "name": "client-tls", "namespace": namespace },
        "spec": { "host": host, "trafficPolicy": { "tls": { "mode": mode } } },
    })))
}

/// Builds an AuthorizationPolicy `name` in `namespace` selecting pods labelled `app: <app>`, with
/// `action` and `rules` as Istio JSON.
pub fn authorization_policy(
    namespace: &str,
    name: &str,
    app: &str,
    action: &str,
    rules: Value,
) -> Resource {
    Resource::AuthorizationPolicy(decode::<AuthorizationPolicy>(json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "selector": { "matchLabels": { "app": app } },
            "action": action,
            "rules": rules,
        },
    })))
}
