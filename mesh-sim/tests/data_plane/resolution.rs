//! Names and endpoints: an unknown service name does not resolve, and a service without
//! ready pods is refused outside the mesh and gets a 503 from a sidecar.

use mesh_sim::records::{Direction, Outcome};
use serde_json::json;

use crate::support::clients::{curl, http_get};
use crate::support::manifests::{namespace, service, sleep};
use crate::support::{pod, start_mesh, wait_for_record};

/// A service whose selector matches no pod.
const GHOST_URL: &str = "http://ghost.ghost:8000/get";

fn ghost_service() -> mesh_sim::resources::Resource {
    service(
        "ghost",
        "ghost",
        "ghost",
        json!([{ "name": "http", "port": 8000, "targetPort": 8080 }]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_service_fails_name_resolution() {
    let mut resources = vec![namespace("legacy", false), namespace("frontend", true)];
    resources.extend(sleep("legacy"));
    resources.extend(sleep("frontend"));
    let mesh = start_mesh(resources).await;

    for client_namespace in ["legacy", "frontend"] {
        let output = curl(
            &mesh,
            client_namespace,
            "sleep",
            &["-sS", "http://nosuch.default:8000/get"],
        )
        .await;
        assert_eq!(
            output.exit_code,
            Some(6),
            "curl from {client_namespace}: {output:?}"
        );
        // curl's message differs between versions and resolvers (7.88.1 over DNS over HTTPS
        // prints "Couldn't resolve host name"), so only the shared words are checked.
        assert!(
            output.stderr.contains("resolve host"),
            "curl's stderr from {client_namespace}: {:?}",
            output.stderr
        );
    }
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_without_pods_refuses_plaintext_client() {
    let mut resources = vec![namespace("legacy", false), namespace("ghost", false)];
    resources.extend(sleep("legacy"));
    resources.push(ghost_service());
    let mesh = start_mesh(resources).await;

    let output = curl(&mesh, "legacy", "sleep", &["-sS", GHOST_URL]).await;
    assert_eq!(output.exit_code, Some(7), "curl: {output:?}");
    assert!(
        output.stderr.contains("Failed to connect"),
        "curl's stderr: {:?}",
        output.stderr
    );
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_without_pods_gets_503_in_mesh() {
    let mut resources = vec![namespace("frontend", true), namespace("ghost", false)];
    resources.extend(sleep("frontend"));
    resources.push(ghost_service());
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "frontend", "sleep");

    let response = http_get(&mesh, "frontend", "sleep", GHOST_URL).await;
    assert_eq!(response.exit_code, Some(0), "curl: {response:?}");
    assert_eq!(response.status, 503, "curl: {response:?}");
    assert_eq!(response.body, "no healthy upstream", "503 body");

    let outbound = wait_for_record(&mesh, "the sleep sidecar's outbound record", |r| {
        r.reporter == client.id() && r.direction == Direction::Outbound
    })
    .await;
    assert_eq!(
        outbound.outcome,
        Outcome::UpstreamFailed {
            reason: "no healthy upstream".to_owned()
        },
        "client outcome in {outbound:#?}"
    );
    assert_eq!(
        outbound.destination.pod, None,
        "endpoint the client sidecar picked"
    );
    assert_ne!(
        outbound.destination.address.ip(),
        std::net::IpAddr::V4(client.ip),
        "the recorded destination is not the client itself"
    );
    assert_eq!(
        outbound.service.as_deref(),
        Some("ghost/ghost"),
        "service in {outbound:#?}"
    );
    mesh.shutdown().await;
}
