//! DestinationRule TLS modes that contradict the server's PeerAuthentication: the client's
//! own sidecar returns 503 with Envoy's reset reason, and the server records why.

use std::net::IpAddr;

use mesh_sim::records::{Direction, Outcome, Transport};

use crate::support::clients::http_get;
use crate::support::manifests::{destination_rule, httpbin, namespace, peer_authentication, sleep};
use crate::support::{pod, start_mesh, wait_for_record};

/// The httpbin URL the clients call.
const GET_URL: &str = "http://httpbin.httpbin:8000/get";
/// The DestinationRule host of the httpbin service.
const HTTPBIN_HOST: &str = "httpbin.httpbin.svc.cluster.local";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_rule_fails_against_strict() {
    let mut resources = vec![namespace("httpbin", true), namespace("frontend", true)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("frontend"));
    resources.push(peer_authentication("httpbin", "STRICT"));
    resources.push(destination_rule("frontend", HTTPBIN_HOST, "DISABLE"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "frontend", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");

    let response = http_get(&mesh, "frontend", "sleep", GET_URL).await;
    assert_eq!(response.exit_code, Some(0), "curl: {response:?}");
    assert_eq!(response.status, 503, "curl: {response:?}");
    assert!(
        response.body.contains(
            "upstream connect error or disconnect/reset before headers. \
             reset reason: connection termination"
        ),
        "503 body: {:?}",
        response.body
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
    assert!(
        matches!(&outbound.outcome, Outcome::UpstreamFailed { reason }
            if reason.ends_with("reset reason: connection termination")),
        "client outcome in {outbound:#?}"
    );
    let inbound = wait_for_record(&mesh, "the httpbin sidecar's inbound record", |r| {
        r.reporter == server.id() && r.direction == Direction::Inbound
    })
    .await;
    assert_eq!(
        inbound.outcome,
        Outcome::RejectedPlaintext,
        "server outcome in {inbound:#?}"
    );
    assert_eq!(
        inbound.source.address.ip(),
        IpAddr::V4(client.ip),
        "client address the server saw"
    );
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_mutual_rule_fails_against_disable() {
    let mut resources = vec![namespace("httpbin", true), namespace("frontend", true)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("frontend"));
    resources.push(peer_authentication("httpbin", "DISABLE"));
    resources.push(destination_rule("frontend", HTTPBIN_HOST, "ISTIO_MUTUAL"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "frontend", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");

    let response = http_get(&mesh, "frontend", "sleep", GET_URL).await;
    assert_eq!(response.exit_code, Some(0), "curl: {response:?}");
    assert_eq!(response.status, 503, "curl: {response:?}");
    assert!(
        response.body.contains("WRONG_VERSION_NUMBER"),
        "503 body: {:?}",
        response.body
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
    assert!(
        matches!(&outbound.outcome, Outcome::UpstreamFailed { reason }
            if reason.contains("WRONG_VERSION_NUMBER")),
        "client outcome in {outbound:#?}"
    );
    let inbound = wait_for_record(&mesh, "the httpbin sidecar's inbound record", |r| {
        r.reporter == server.id() && r.direction == Direction::Inbound
    })
    .await;
    assert_eq!(
        inbound.outcome,
        Outcome::UnexpectedTls,
        "server outcome in {inbound:#?}"
    );
    assert_eq!(
        inbound.transport,
        Transport::TlsPassthrough,
        "server transport in {inbound:#?}"
    );
    mesh.shutdown().await;
}
