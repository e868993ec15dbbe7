//! PeerAuthentication on the server side: what plaintext, TLS and mesh clients get under
//! STRICT, PERMISSIVE and DISABLE, as both peers see it.

use std::io;
use std::net::{IpAddr, SocketAddr};

use mesh_sim::records::{Direction, Outcome, Transport};
use rustls::AlertDescription;
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsConnector;

use crate::support::clients::{
    connect_from, curl, http_get, read_to_end, rustls_error, tls_client_without_certificate,
};
use crate::support::manifests::{
    HTTPBIN_PORT, HTTPBIN_TARGET_PORT, httpbin, namespace, peer_authentication, sleep,
};
use crate::support::{
    apply_and_settle, cluster_ip, forwarded_client_cert, pod, start_mesh, wait_for_record,
};

/// httpbin's endpoint that returns the request headers as the application received them.
const HEADERS_URL: &str = "http://httpbin.httpbin:8000/headers";
/// A request line and headers, as a plaintext HTTP client sends them.
const PLAINTEXT_REQUEST: &[u8] = b"GET /get HTTP/1.1\r\nHost: httpbin.httpbin:8000\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_resets_plaintext_client() {
    let mut resources = vec![namespace("httpbin", true), namespace("legacy", false)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("legacy"));
    resources.push(peer_authentication("httpbin", "STRICT"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "legacy", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");
    let service = SocketAddr::new(cluster_ip(&mesh, "httpbin", "httpbin").into(), HTTPBIN_PORT);

    let mut stream = connect_from(client.ip, service)
        .await
        .expect("the ClusterIP accepts the TCP connection");
    stream
        .write_all(PLAINTEXT_REQUEST)
        .await
        .expect("the request is written before the server reads it");
    let (error, received) = read_to_end(&mut stream)
        .await
        .expect_err("reading the response fails");
    assert_eq!(
        error.kind(),
        io::ErrorKind::ConnectionReset,
        "the client's read error: {error}"
    );
    assert_eq!(received, b"", "bytes the client got before the reset");

    let record = wait_for_record(&mesh, "the httpbin sidecar's inbound record", |record| {
        record.reporter == server.id() && record.direction == Direction::Inbound
    })
    .await;
    assert_eq!(
        record.outcome,
        Outcome::RejectedPlaintext,
        "server outcome in {record:#?}"
    );
    assert_eq!(
        record.transport,
        Transport::Plaintext,
        "server transport in {record:#?}"
    );
    assert_eq!(
        record.source.address.ip(),
        IpAddr::V4(client.ip),
        "client address the server saw"
    );
    assert_eq!(record.port, HTTPBIN_TARGET_PORT, "port the server saw");
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_alerts_tls_client_without_certificate() {
    let mut resources = vec![namespace("httpbin", true), namespace("legacy", false)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("legacy"));
    resources.push(peer_authentication("httpbin", "STRICT"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "legacy", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");
    let service = SocketAddr::new(cluster_ip(&mesh, "httpbin", "httpbin").into(), HTTPBIN_PORT);

    let stream = connect_from(client.ip, service)
        .await
        .expect("the ClusterIP accepts the TCP connection");
    let name = ServerName::try_from("httpbin.httpbin.svc.cluster.local").expect("valid name");
    let mut tls = TlsConnector::from(tls_client_without_certificate())
        .connect(name, stream)
        .await
        .expect("under TLS 1.3 the client completes its side of the handshake");
    tls.write_all(PLAINTEXT_REQUEST)
        .await
        .expect("the request is written after the handshake");
    let (error, received) = read_to_end(&mut tls)
        .await
        .expect_err("reading the response fails");
    assert_eq!(
        rustls_error(&error),
        Some(&rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
        )),
        "the client's read error: {error}"
    );
    assert_eq!(received, b"", "bytes the client got before the alert");

    let record = wait_for_record(&mesh, "the httpbin sidecar's inbound record", |record| {
        record.reporter == server.id()
            && record.direction == Direction::Inbound
            && record.source.address.ip() == IpAddr::V4(client.ip)
    })
    .await;
    assert_eq!(
        record.outcome,
        Outcome::CertificateRequired,
        "server outcome in {record:#?}"
    );
    assert_eq!(
        record.transport,
        Transport::Tls,
        "server transport in {record:#?}"
    );
    assert_eq!(
        record.source.identity, None,
        "client identity the server saw"
    );
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_fails_curl_https_with_alert() {
    let mut resources = vec![namespace("httpbin", true), namespace("legacy", false)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("legacy"));
    resources.push(peer_authentication("httpbin", "STRICT"));
    let mesh = start_mesh(resources).await;
    let server = pod(&mesh, "httpbin", "httpbin");

    let output = curl(
        &mesh,
        "legacy",
        "sleep",
        &["-sSk", "https://httpbin.httpbin:8000/get"],
    )
    .await;
    assert_eq!(output.exit_code, Some(56), "curl's exit code: {output:?}");
    assert!(
        output.stderr.contains("tlsv13 alert certificate required"),
        "curl's stderr: {:?}",
        output.stderr
    );
    assert_eq!(output.stdout, "", "curl's stdout");

    let record = wait_for_record(&mesh, "the httpbin sidecar's inbound record", |record| {
        record.reporter == server.id() && record.direction == Direction::Inbound
    })
    .await;
    assert_eq!(
        record.outcome,
        Outcome::CertificateRequired,
        "server outcome in {record:#?}"
    );
    assert_eq!(
        record.transport,
        Transport::Tls,
        "server transport in {record:#?}"
    );
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_accepts_plaintext_and_mtls() {
    let mut resources = vec![
        namespace("httpbin", true),
        namespace("legacy", false),
        namespace("mesh", true),
    ];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("legacy"));
    resources.extend(sleep("mesh"));
    let mesh = start_mesh(resources).await;
    let outside = pod(&mesh, "legacy", "sleep");
    let inside = pod(&mesh, "mesh", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");

    let plaintext = http_get(&mesh, "legacy", "sleep", HEADERS_URL).await;
    assert_eq!(
        plaintext.exit_code,
        Some(0),
        "plaintext client: {plaintext:?}"
    );
    assert_eq!(plaintext.status, 200, "plaintext client: {plaintext:?}");
    assert_eq!(
        forwarded_client_cert(&plaintext.body),
        None,
        "XFCC the server app got from the plaintext client"
    );
    let mtls = http_get(&mesh, "mesh", "sleep", HEADERS_URL).await;
    assert_eq!(mtls.exit_code, Some(0), "mesh client: {mtls:?}");
    assert_eq!(mtls.status, 200, "mesh client: {mtls:?}");
    assert!(
        forwarded_client_cert(&mtls.body).is_some(),
        "the server app gets XFCC from the mesh client: {}",
        mtls.body
    );

    let from_outside = wait_for_record(&mesh, "httpbin's record of the plaintext client", |r| {
        r.reporter == server.id()
            && r.direction == Direction::Inbound
            && r.source.address.ip() == IpAddr::V4(outside.ip)
    })
    .await;
    assert_eq!(
        from_outside.transport,
        Transport::Plaintext,
        "server transport in {from_outside:#?}"
    );
    assert_eq!(
        from_outside.outcome,
        Outcome::Response { status: 200 },
        "server outcome in {from_outside:#?}"
    );
    let from_inside = wait_for_record(&mesh, "httpbin's record of the mesh client", |r| {
        r.reporter == server.id()
            && r.direction == Direction::Inbound
            && r.source.address.ip() == IpAddr::V4(inside.ip)
    })
    .await;
    assert_eq!(
        from_inside.transport,
        Transport::Mtls,
        "server transport in {from_inside:#?}"
    );
    assert_eq!(
        from_inside.outcome,
        Outcome::Response { status: 200 },
        "server outcome in {from_inside:#?}"
    );
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_serves_mesh_client_in_plaintext() {
    let mut resources = vec![namespace("httpbin", true), namespace("mesh", true)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("mesh"));
    resources.push(peer_authentication("httpbin", "DISABLE"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "mesh", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");

    let response = http_get(&mesh, "mesh", "sleep", HEADERS_URL).await;
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
        outbound.destination.identity, None,
        "server identity the client saw"
    );
    let inbound = wait_for_record(&mesh, "the httpbin sidecar's inbound record", |r| {
        r.reporter == server.id() && r.direction == Direction::Inbound
    })
    .await;
    assert_eq!(
        inbound.transport,
        Transport::Plaintext,
        "server transport in {inbound:#?}"
    );
    assert_eq!(
        inbound.source.identity, None,
        "client identity the server saw"
    );
    assert_eq!(
        inbound.outcome,
        Outcome::Response { status: 200 },
        "server outcome in {inbound:#?}"
    );
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_policy_applies_to_next_request() {
    let mut resources = vec![
        namespace("httpbin", true),
        namespace("legacy", false),
        namespace("mesh", true),
    ];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("legacy"));
    resources.extend(sleep("mesh"));
    let mesh = start_mesh(resources).await;
    let server = pod(&mesh, "httpbin", "httpbin");
    let before = http_get(&mesh, "legacy", "sleep", HEADERS_URL).await;
    assert_eq!(before.status, 200, "plaintext before STRICT: {before:?}");
    let version_before = mesh.controller().acked_version(&server.id());

    apply_and_settle(&mesh, vec![peer_authentication("httpbin", "STRICT")]).await;
    let state = mesh.store().snapshot();
    let injected: Vec<String> = state
        .pods()
        .filter(|pod| pod.injected)
        .map(|pod| pod.id())
        .collect();
    assert_eq!(injected.len(), 2, "injected pods: {injected:?}");
    for pod in &injected {
        assert!(
            mesh.controller().is_synced(pod),
            "{pod} acknowledged its latest configuration"
        );
    }
    let version_after = mesh.controller().acked_version(&server.id());
    assert!(
        version_before.is_some(),
        "httpbin acknowledged a version before STRICT"
    );
    assert!(
        version_after > version_before,
        "httpbin acknowledged a new version: {version_before:?} then {version_after:?}"
    );

    // One probe, no retry: the acknowledgement promises the new behaviour already.
    let after = curl(&mesh, "legacy", "sleep", &["-sS", HEADERS_URL]).await;
    assert_eq!(
        after.exit_code,
        Some(56),
        "plaintext after STRICT: {after:?}"
    );
    assert!(
        after.stderr.contains("Connection reset by peer"),
        "curl's stderr: {:?}",
        after.stderr
    );
    let rejected = wait_for_record(&mesh, "httpbin's record of the rejected request", |r| {
        r.reporter == server.id()
            && r.direction == Direction::Inbound
            && r.outcome == Outcome::RejectedPlaintext
    })
    .await;
    assert_eq!(
        rejected.source.address.ip(),
        IpAddr::V4(pod(&mesh, "legacy", "sleep").ip),
        "client address the server rejected"
    );
    mesh.shutdown().await;
}
