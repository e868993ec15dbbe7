//! Test helpers: a pod network that resolves names from a fixed table, app contexts, bounded
//! waits and a plain hyper HTTP client.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{AppContext, BoxFuture, PodNetwork};

/// Upper bound of every wait in the app tests.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test when it takes longer than [`TEST_TIMEOUT`].
pub(super) async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("the operation finished within the test timeout")
}

/// A pod network whose DNS is a fixed table of host names. It replaces only name resolution:
/// it connects to the listed address at the requested port.
#[derive(Default)]
pub(super) struct StaticNetwork {
    hosts: Mutex<BTreeMap<String, IpAddr>>,
}

impl StaticNetwork {
    /// Makes `host` resolve to `ip`.
    pub(super) fn insert(&self, host: &str, ip: IpAddr) {
        self.hosts
            .lock()
            .expect("the host table lock is not poisoned")
            .insert(host.to_owned(), ip);
    }
}

impl PodNetwork for StaticNetwork {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<TcpStream>> {
        Box::pin(async move {
            let ip = self
                .hosts
                .lock()
                .expect("the host table lock is not poisoned")
                .get(host)
                .copied();
            match ip {
                Some(ip) => TcpStream::connect((ip, port)).await,
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("could not resolve host: {host}"),
                )),
            }
        })
    }
}

/// Builds a context for a pod named `pod_name` in namespace `default`, with an empty host table.
pub(super) fn context(pod_name: &str, bind_ip: IpAddr, ports: &[u16]) -> AppContext {
    context_with_network(pod_name, bind_ip, ports, Arc::new(StaticNetwork::default()))
}

/// Builds a context like [`context`] with the given network.
pub(super) fn context_with_network(
    pod_name: &str,
    bind_ip: IpAddr,
    ports: &[u16],
    network: Arc<dyn PodNetwork>,
) -> AppContext {
    AppContext {
        pod_name: pod_name.to_owned(),
        namespace: "default".to_owned(),
        bind_ip,
        ports: ports.to_vec(),
        args: Vec::new(),
        env: BTreeMap::new(),
        network,
    }
}

/// A response read by [`http_get`].
#[derive(Debug)]
pub(super) struct TestResponse {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

/// Sends `GET path` to `address` with the given headers over a new connection.
pub(super) async fn http_get(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    http_request(address, Method::GET, path, headers, "").await
}

/// Sends a request with `body` to `address` over a new connection and reads the response.
pub(super) async fn http_request(
    address: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TestResponse {
    let stream = TcpStream::connect(address)
        .await
        .unwrap_or_else(|error| panic!("connecting to {address} failed: {error}"));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("the HTTP handshake succeeds");
    let connection = tokio::spawn(connection);

    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", address.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("the test request is valid");
    let response = sender
        .send_request(request)
        .await
        .unwrap_or_else(|error| panic!("{path} on {address} failed: {error}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the response body arrives")
        .to_bytes();
    drop(sender);
    connection.abort();
    TestResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}
