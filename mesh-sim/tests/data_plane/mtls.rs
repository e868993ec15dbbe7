//! Mesh mTLS between sidecars and auto mTLS: the identities each side verifies and passes to
//! the application, and plaintext towards a pod without a sidecar.

use mesh_sim::records::{Direction, Outcome, Transport};

use crate::support::clients::{curl, http_get};
use crate::support::manifests::{httpbin, namespace, sleep};
use crate::support::{
    forwarded_client_cert, identity, pod, start_mesh, wait_for_record, xfcc_fields,
};

/// httpbin's endpoint that returns the request headers as the application received them.
const HEADERS_URL: &str = "http://httpbin.httpbin:8000/headers";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_mtls_carries_spiffe_ids() {
    let mut resources = vec![namespace("httpbin", true), namespace("frontend", true)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("frontend"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "frontend", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");
    let client_identity = identity(&mesh, "frontend", "sleep");
    let server_identity = identity(&mesh, "httpbin", "httpbin");
    assert_eq!(
        client_identity.to_string(),
        "spiffe://cluster.local/ns/frontend/sa/sleep",
        "the client's SPIFFE id"
    );

    let response = http_get(&mesh, "frontend", "sleep", HEADERS_URL).await;
    assert_eq!(response.exit_code, Some(0), "curl: {response:?}");
    assert_eq!(response.status, 200, "curl: {response:?}");
    let xfcc = forwarded_client_cert(&response.body)
        .unwrap_or_else(|| panic!("the server app got no XFCC: {}", response.body));
    let fields = xfcc_fields(&xfcc);
    assert_eq!(
        fields.get("URI").map(String::as_str),
        Some("spiffe://cluster.local/ns/frontend/sa/sleep"),
        "XFCC URI (the client) in {xfcc}"
    );
    assert_eq!(
        fields.get("By"),
        Some(&server_identity.to_string()),
        "XFCC By (the server) in {xfcc}"
    );
    let hash = fields.get("Hash").map_or("", String::as_str);
    assert_eq!(hash.len(), 64, "XFCC Hash length in {xfcc}");
    assert!(
        hash.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "XFCC Hash is hex in {xfcc}"
    );

    let outbound = wait_for_record(&mesh, "the sleep sidecar's outbound record", |r| {
        r.reporter == client.id() && r.direction == Direction::Outbound
    })
    .await;
    assert_eq!(
        outbound.transport,
        Transport::Mtls,
        "client transport in {outbound:#?}"
    );
    assert_eq!(
        outbound.destination.identity,
        Some(server_identity),
        "server identity the client verified"
    );
    assert_eq!(
        outbound.outcome,
        Outcome::Response { status: 200 },
        "client outcome in {outbound:#?}"
    );
    let inbound = wait_for_record(&mesh, "the httpbin sidecar's inbound record", |r| {
        r.reporter == server.id() && r.direction == Direction::Inbound
    })
    .await;
    assert_eq!(
        inbound.transport,
        Transport::Mtls,
        "server transport in {inbound:#?}"
    );
    assert_eq!(
        inbound.source.identity,
        Some(client_identity),
        "client identity the server verified"
    );
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mtls_sends_plaintext_without_sidecar() {
    let mut resources = vec![namespace("httpbin", false), namespace("frontend", true)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("frontend"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "frontend", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");
    assert!(!server.injected, "httpbin runs without a sidecar");

    let response = http_get(&mesh, "frontend", "sleep", HEADERS_URL).await;
    assert_eq!(response.exit_code, Some(0), "curl: {response:?}");
    assert_eq!(response.status, 200, "curl: {response:?}");
    assert_eq!(
        forwarded_client_cert(&response.body),
        None,
        "XFCC the server app got"
    );

    let outbound = wait_for_record(&mesh, "the sleep sidecar's outbound record", |r| {
        r.reporter == client.id() && r.direction == Direction::Outbound
    })
    .await;
    assert_eq!(
        outbound.transport,
        Transport::Plaintext,
        "client transport in {outbound:#?}"
    );
    assert_eq!(
        outbound.destination.pod,
        Some(server.id()),
        "endpoint the client sidecar picked"
    );
    assert_eq!(
        outbound.outcome,
        Outcome::Response { status: 200 },
        "client outcome in {outbound:#?}"
    );
    mesh.shutdown().await;
}

/// An XFCC header the client application set itself never reaches the server application:
/// a plaintext client's is removed by the server sidecar, and a mesh client's by its own
/// sidecar, so the server sees only the certificate its sidecar verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_supplied_xfcc_is_dropped() {
    let mut resources = vec![
        namespace("httpbin", true),
        namespace("frontend", true),
        namespace("legacy", false),
    ];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("frontend"));
    resources.extend(sleep("legacy"));
    let mesh = start_mesh(resources).await;
    let forged = "By=spiffe://cluster.local/ns/httpbin/sa/httpbin;URI=spiffe://cluster.local/ns/admin/sa/admin";
    let header = format!("X-Forwarded-Client-Cert: {forged}");
    let arguments = ["-sS", "-H", header.as_str(), HEADERS_URL];

    let plaintext = curl(&mesh, "legacy", "sleep", &arguments).await;
    assert_eq!(
        plaintext.exit_code,
        Some(0),
        "plaintext curl: {plaintext:?}"
    );
    assert_eq!(
        forwarded_client_cert(&plaintext.stdout),
        None,
        "XFCC the server app got from the plaintext client"
    );

    let mesh_client = curl(&mesh, "frontend", "sleep", &arguments).await;
    assert_eq!(
        mesh_client.exit_code,
        Some(0),
        "mesh client curl: {mesh_client:?}"
    );
    let xfcc = forwarded_client_cert(&mesh_client.stdout)
        .unwrap_or_else(|| panic!("the server app got no XFCC: {}", mesh_client.stdout));
    assert!(
        !xfcc.contains("ns/admin"),
        "the forged element reached the server app: {xfcc}"
    );
    assert_eq!(
        xfcc_fields(&xfcc).get("URI").map(String::as_str),
        Some("spiffe://cluster.local/ns/frontend/sa/sleep"),
        "XFCC URI (the client) in {xfcc}"
    );
    mesh.shutdown().await;
}
