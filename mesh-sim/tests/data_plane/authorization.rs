//! AuthorizationPolicy on the server side: principal-based ALLOW rules on an HTTP port (403
//! for everyone else, including clients without an identity) and DENY rules on a TCP port
//! (the connection is closed without data).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mesh_sim::records::{Direction, Outcome, Transport};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::clients::{connect_from, http_get, read_to_end};
use crate::support::manifests::{
    TCP_ECHO_OTHER_PORT, TCP_ECHO_PORT, authorization_policy, httpbin, namespace, sleep,
    sleep_named, tcp_echo,
};
use crate::support::{cluster_ip, identity, pod, start_mesh, wait_for_record};

/// The httpbin URL the clients call.
const GET_URL: &str = "http://httpbin.httpbin:8000/get";
/// Envoy's body for a request its RBAC filter denies.
const RBAC_DENIED: &str = "RBAC: access denied";
/// A line for tcp-echo, which replies `hello ping`.
const ECHO_LINE: &[u8] = b"ping\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_policy_admits_only_listed_principal() {
    let mut resources = vec![
        namespace("httpbin", true),
        namespace("frontend", true),
        namespace("legacy", false),
    ];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("frontend"));
    resources.extend(sleep_named("frontend", "other"));
    resources.extend(sleep("legacy"));
    resources.push(authorization_policy(
        "httpbin",
        "allow-sleep",
        "httpbin",
        "ALLOW",
        json!([{ "from": [{ "source": {
            "principals": ["cluster.local/ns/frontend/sa/sleep"],
        } }] }]),
    ));
    let mesh = start_mesh(resources).await;
    let server = pod(&mesh, "httpbin", "httpbin");
    let other = pod(&mesh, "frontend", "other");
    let outside = pod(&mesh, "legacy", "sleep");

    let allowed = http_get(&mesh, "frontend", "sleep", GET_URL).await;
    assert_eq!(allowed.exit_code, Some(0), "listed principal: {allowed:?}");
    assert_eq!(allowed.status, 200, "listed principal: {allowed:?}");
    let denied = http_get(&mesh, "frontend", "other", GET_URL).await;
    assert_eq!(denied.exit_code, Some(0), "other principal: {denied:?}");
    assert_eq!(denied.status, 403, "other principal: {denied:?}");
    assert_eq!(denied.body, RBAC_DENIED, "other principal's 403 body");
    let anonymous = http_get(&mesh, "legacy", "sleep", GET_URL).await;
    assert_eq!(anonymous.exit_code, Some(0), "no identity: {anonymous:?}");
    assert_eq!(anonymous.status, 403, "no identity: {anonymous:?}");
    assert_eq!(anonymous.body, RBAC_DENIED, "no identity's 403 body");

    let other_outbound = wait_for_record(&mesh, "the other sidecar's outbound record", |r| {
        r.reporter == other.id() && r.direction == Direction::Outbound
    })
    .await;
    assert_eq!(
        other_outbound.outcome,
        Outcome::Response { status: 403 },
        "client outcome in {other_outbound:#?}"
    );
    let other_inbound = wait_for_record(&mesh, "httpbin's record of the other client", |r| {
        r.reporter == server.id() && r.source.address.ip() == IpAddr::V4(other.ip)
    })
    .await;
    assert_eq!(
        other_inbound.outcome,
        Outcome::Denied {
            reason: "no ALLOW policy matched".to_owned()
        },
        "server outcome in {other_inbound:#?}"
    );
    assert_eq!(
        other_inbound.source.identity,
        Some(identity(&mesh, "frontend", "other")),
        "client identity the server checked"
    );
    let anonymous_inbound = wait_for_record(&mesh, "httpbin's record of the legacy client", |r| {
        r.reporter == server.id() && r.source.address.ip() == IpAddr::V4(outside.ip)
    })
    .await;
    assert!(
        matches!(anonymous_inbound.outcome, Outcome::Denied { .. }),
        "server outcome in {anonymous_inbound:#?}"
    );
    assert_eq!(
        anonymous_inbound.transport,
        Transport::Plaintext,
        "server transport in {anonymous_inbound:#?}"
    );
    assert_eq!(
        anonymous_inbound.source.identity, None,
        "client identity the server checked"
    );
    mesh.shutdown().await;
}

/// Sends [`ECHO_LINE`], closes the sending side and returns what came back. On failure it
/// returns the error with the bytes read before it. A denied connection may fail at the
/// write or the shutdown as well as the read, because the proxies reset it as soon as the
/// policy is evaluated.
async fn echo_exchange(
    source: Ipv4Addr,
    destination: SocketAddr,
) -> Result<Vec<u8>, (io::Error, Vec<u8>)> {
    let no_bytes = |error| (error, Vec::new());
    let mut stream = connect_from(source, destination).await.map_err(no_bytes)?;
    stream.write_all(ECHO_LINE).await.map_err(no_bytes)?;
    stream.shutdown().await.map_err(no_bytes)?;
    read_to_end(&mut stream).await
}

/// Asserts that a denied TCP client read nothing: the connection was reset or closed.
fn assert_closed_without_echo(result: &Result<Vec<u8>, (io::Error, Vec<u8>)>, client: &str) {
    let received = match result {
        Ok(received) => received,
        Err((error, received)) => {
            assert_eq!(
                error.kind(),
                io::ErrorKind::ConnectionReset,
                "{client}'s read error: {error}"
            );
            received
        }
    };
    assert_eq!(
        String::from_utf8_lossy(received),
        "",
        "bytes the denied {client} received"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_policy_closes_tcp_connection() {
    let mut resources = vec![
        namespace("echo", true),
        namespace("frontend", true),
        namespace("legacy", false),
    ];
    resources.extend(tcp_echo("echo"));
    resources.extend(sleep("frontend"));
    resources.extend(sleep("legacy"));
    resources.push(authorization_policy(
        "echo",
        "deny-9000",
        "tcp-echo",
        "DENY",
        json!([{ "to": [{ "operation": { "ports": [TCP_ECHO_PORT.to_string()] } }] }]),
    ));
    let mesh = start_mesh(resources).await;
    let server = pod(&mesh, "echo", "tcp-echo");
    let inside = pod(&mesh, "frontend", "sleep");
    let outside = pod(&mesh, "legacy", "sleep");
    let echo_ip = cluster_ip(&mesh, "echo", "tcp-echo");
    // An injected pod reaches a service through its own sidecar's outbound listener.
    let sidecar_ip = mesh
        .store()
        .snapshot()
        .resolve_address(&inside, "tcp-echo.echo")
        .expect("tcp-echo.echo resolves in the frontend pod");
    assert_ne!(
        sidecar_ip, echo_ip,
        "the mesh client goes through its sidecar"
    );

    let cases = [
        ("plaintext client", outside.ip, echo_ip),
        ("mesh client", inside.ip, sidecar_ip),
    ];
    for (client, source, destination_ip) in cases {
        let open = echo_exchange(
            source,
            SocketAddr::new(destination_ip.into(), TCP_ECHO_OTHER_PORT),
        )
        .await;
        assert_eq!(
            open.as_ref()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .ok(),
            Some("hello ping\n".to_owned()),
            "{client} on the port without a policy: {open:?}"
        );
        let denied = echo_exchange(
            source,
            SocketAddr::new(destination_ip.into(), TCP_ECHO_PORT),
        )
        .await;
        assert_closed_without_echo(&denied, client);
    }

    for (client, source, transport, peer_identity) in [
        ("plaintext client", outside.ip, Transport::Plaintext, None),
        (
            "mesh client",
            inside.ip,
            Transport::Mtls,
            Some(identity(&mesh, "frontend", "sleep")),
        ),
    ] {
        let record = wait_for_record(
            &mesh,
            &format!("tcp-echo's record of the denied {client}"),
            |r| {
                r.reporter == server.id()
                    && r.direction == Direction::Inbound
                    && r.port == TCP_ECHO_PORT
                    && r.source.address.ip() == IpAddr::V4(source)
            },
        )
        .await;
        assert_eq!(
            record.outcome,
            Outcome::Denied {
                reason: "denied by echo/deny-9000".to_owned()
            },
            "server outcome for the {client} in {record:#?}"
        );
        assert_eq!(
            record.transport, transport,
            "server transport for the {client} in {record:#?}"
        );
        assert_eq!(
            record.source.identity, peer_identity,
            "identity the server saw for the {client}"
        );
    }
    mesh.shutdown().await;
}

/// A mesh client's denied TCP connection stays open until the client sends, as with Envoy's
/// RBAC network filter, which decides on the first bytes. A denial right after the handshake
/// would reset the connection before a client such as curl has finished connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_denial_waits_for_first_bytes() {
    let mut resources = vec![namespace("echo", true), namespace("frontend", true)];
    resources.extend(tcp_echo("echo"));
    resources.extend(sleep("frontend"));
    resources.push(authorization_policy(
        "echo",
        "deny-9000",
        "tcp-echo",
        "DENY",
        json!([{ "to": [{ "operation": { "ports": [TCP_ECHO_PORT.to_string()] } }] }]),
    ));
    let mesh = start_mesh(resources).await;
    let inside = pod(&mesh, "frontend", "sleep");
    let sidecar_ip = mesh
        .store()
        .snapshot()
        .resolve_address(&inside, "tcp-echo.echo")
        .expect("tcp-echo.echo resolves in the frontend pod");
    let mut stream = connect_from(inside.ip, SocketAddr::new(sidecar_ip.into(), TCP_ECHO_PORT))
        .await
        .expect("the mesh client connects to its sidecar");

    let mut byte = [0u8; 1];
    let silent = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await;
    assert!(
        silent.is_err(),
        "the connection ended before the client sent anything: {silent:?}"
    );

    stream
        .write_all(ECHO_LINE)
        .await
        .expect("the connection is still open for the first bytes");
    let denied = read_to_end(&mut stream).await;
    assert_closed_without_echo(&denied, "mesh client");
    mesh.shutdown().await;
}
