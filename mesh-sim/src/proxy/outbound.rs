//! The outbound side: the pod's connections to a service port. The proxy picks a ready
//! endpoint, originates the transport the controller chose for it (mesh mTLS to sidecars,
//! plaintext otherwise, or what a DestinationRule requests) and reports failures as Envoy
//! does: HTTP 503 with Envoy's reset reason on HTTP ports, a reset on TCP ports.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tracing::{debug, info};

use super::http::{
    BAD_REQUEST, NO_HEALTHY_UPSTREAM, ProxyBody, UPSTREAM_RESET_PREFIX, incoming, is_known_method,
    local_reply, new_request_id, strip_hop_by_hop,
};
use super::inbound::{IntoTcp, tls_error};
use super::io::{PrefixedIo, Side, reset, splice};
use super::sniff::{self, Protocol};
use super::{DETECTION_TIMEOUT, Shared};
use crate::cluster::services::AppProtocol;
use crate::identity::SpiffeId;
use crate::records::{ConnectionRecord, Direction, Outcome, Peer, Transport};
use crate::tls::spiffe_id_of;
use crate::xds::{OutboundService, UpstreamEndpoint, UpstreamTls};

/// Envoy's default upstream connect timeout in Istio.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts for a request whose upstream connection fails: Istio's default retry policy
/// retries connect failures twice.
const CONNECT_ATTEMPTS: usize = 3;
/// Longest wait for a TCP client that sent nothing before its connection is reset; see
/// [`reset_when_client_settled`].
const CLIENT_SETTLE: Duration = Duration::from_millis(100);
/// ALPN a sidecar offers for HTTP over mesh mTLS.
const MESH_HTTP_ALPN: &[&[u8]] = &[b"istio-http/1.1", b"istio"];
/// ALPN a sidecar offers for TCP over mesh mTLS.
const MESH_TCP_ALPN: &[&[u8]] = &[b"istio-peer-exchange", b"istio"];

/// Serves one connection from the pod to `service:port`.
pub async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    service: String,
    port: u16,
) {
    let config = shared.config();
    let Some(target) = config
        .outbound
        .iter()
        .find(|candidate| candidate.service == service && candidate.port == port)
        .cloned()
    else {
        debug!(
            pod = shared.bootstrap.pod,
            service, port, "no outbound configuration; resetting"
        );
        reset(stream);
        return;
    };
    // The address the application connected to: the outbound listener, standing in for the
    // service's ClusterIP. The unspecified address is a fallback that names no pod.
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], port)));
    let connection = Arc::new(Connection {
        shared,
        target,
        peer,
        local,
    });
    match connection.target.protocol {
        AppProtocol::Http | AppProtocol::Http2 => {
            serve_http(connection, PrefixedIo::new(bytes::Bytes::new(), stream)).await;
        }
        AppProtocol::Tcp => {
            serve_tcp(connection, PrefixedIo::new(bytes::Bytes::new(), stream)).await
        }
        AppProtocol::Auto => {
            let mut stream = stream;
            let detection = match sniff::detect(&mut stream, DETECTION_TIMEOUT).await {
                Ok(detection) => detection,
                Err(_) => return,
            };
            let stream = PrefixedIo::new(detection.prefix, stream);
            if matches!(detection.protocol, Protocol::Http1 | Protocol::Http2) {
                serve_http(connection, stream).await;
            } else {
                serve_tcp(connection, stream).await;
            }
        }
    }
}

struct Connection {
    shared: Arc<Shared>,
    target: OutboundService,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Connection {
    fn record(
        &self,
        endpoint: Option<&UpstreamEndpoint>,
        transport: Transport,
        server_identity: Option<SpiffeId>,
        request: Option<String>,
        outcome: Outcome,
    ) {
        let own_identity =
            matches!(transport, Transport::Mtls).then(|| self.shared.bootstrap.identity.clone());
        self.shared.reporter.report(ConnectionRecord {
            reporter: self.shared.bootstrap.pod.clone(),
            direction: Direction::Outbound,
            source: Peer {
                address: self.peer,
                pod: Some(self.shared.bootstrap.pod.clone()),
                identity: own_identity,
            },
            destination: Peer {
                address: endpoint.map_or(self.local, |endpoint| endpoint.address),
                pod: endpoint.map(|endpoint| endpoint.pod.clone()),
                identity: server_identity,
            },
            service: Some(self.target.service.clone()),
            port: self.target.port,
            transport,
            request,
            outcome,
        });
    }

    /// Endpoints in round-robin order, starting at the next one.
    fn endpoints_in_turn(&self) -> Vec<&UpstreamEndpoint> {
        let endpoints = &self.target.endpoints;
        if endpoints.is_empty() {
            return Vec::new();
        }
        let start = self.shared.next_endpoint.fetch_add(1, Ordering::Relaxed);
        (0..endpoints.len())
            .map(|offset| &endpoints[(start + offset) % endpoints.len()])
            .collect()
    }

    /// Connects to an endpoint, retrying connect failures on the next endpoints.
    async fn connect(
        &self,
        http: bool,
    ) -> Result<(Upstream, &UpstreamEndpoint), (Option<&UpstreamEndpoint>, String)> {
        let endpoints = self.endpoints_in_turn();
        if endpoints.is_empty() {
            return Err((None, NO_HEALTHY_UPSTREAM.to_owned()));
        }
        let mut last = None;
        for attempt in 0..CONNECT_ATTEMPTS {
            let endpoint = endpoints[attempt % endpoints.len()];
            match connect_endpoint(&self.shared, &self.target, endpoint, http).await {
                Ok(upstream) => return Ok((upstream, endpoint)),
                Err(reason) => {
                    debug!(
                        pod = self.shared.bootstrap.pod,
                        upstream = %endpoint.address,
                        attempt,
                        reason,
                        "upstream connect failed"
                    );
                    last = Some((endpoint, reason));
                }
            }
        }
        let (endpoint, reason) = last.expect("at least one attempt ran");
        Err((
            Some(endpoint),
            format!(
                "{UPSTREAM_RESET_PREFIX}retried and the latest reset reason: connection failure, \
                 transport failure reason: {reason}"
            ),
        ))
    }
}

/// An upstream connection, plaintext or TLS.
enum Upstream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Upstream {
    fn transport(&self, tls: &UpstreamTls) -> Transport {
        match (self, tls) {
            (Self::Plain(_), _) => Transport::Plaintext,
            (Self::Tls(_), UpstreamTls::IstioMutual { .. }) => Transport::Mtls,
            (Self::Tls(_), _) => Transport::Tls,
        }
    }

    fn server_identity(&self) -> Option<SpiffeId> {
        match self {
            Self::Plain(_) => None,
            Self::Tls(stream) => {
                let leaf = stream.get_ref().1.peer_certificates()?.first()?;
                spiffe_id_of(leaf).ok()
            }
        }
    }
}

impl IntoTcp for Upstream {
    fn into_tcp(self) -> TcpStream {
        match self {
            Self::Plain(stream) => stream,
            Self::Tls(stream) => stream.into_inner().0,
        }
    }
}

impl AsyncRead for Upstream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Upstream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens a connection to `endpoint` from the pod's address, with the transport the
/// configuration names. The error is Envoy's transport failure reason.
async fn connect_endpoint(
    shared: &Shared,
    target: &OutboundService,
    endpoint: &UpstreamEndpoint,
    http: bool,
) -> Result<Upstream, String> {
    let socket = match endpoint.address {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|error| error.to_string())?;
    socket
        .bind(SocketAddr::new(shared.bootstrap.pod_ip, 0))
        .map_err(|error| format!("cannot bind {}: {error}", shared.bootstrap.pod_ip))?;
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(endpoint.address)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            return Err(format!(
                "delayed connect error: {}",
                connect_error_text(&error)
            ));
        }
        Err(_) => return Err("delayed connect error: Connection timed out".to_owned()),
    };
    let _ = stream.set_nodelay(true);
    let tls = shared.tls();
    let (client, sni) = match &endpoint.tls {
        UpstreamTls::Plaintext { .. } => return Ok(Upstream::Plain(stream)),
        UpstreamTls::IstioMutual { identities, .. } => {
            let alpn = if http { MESH_HTTP_ALPN } else { MESH_TCP_ALPN };
            let fqdn = target.hostnames.first().cloned().unwrap_or_default();
            let sni = format!("outbound_.{}_._.{fqdn}", target.port);
            (tls.client(true, Some(identities), alpn), sni)
        }
        UpstreamTls::Simple { sni, .. } | UpstreamTls::Mutual { sni, .. } => {
            let fallback = target.hostnames.first().cloned().unwrap_or_default();
            (
                tls.client(false, None, &[]),
                sni.clone().unwrap_or(fallback),
            )
        }
    };
    let client = client.map_err(|error| error.to_string())?;
    let name = ServerName::try_from(sni.clone()).map_err(|_| format!("invalid SNI {sni:?}"))?;
    match TlsConnector::from(client).connect(name, stream).await {
        Ok(stream) => Ok(Upstream::Tls(Box::new(stream))),
        Err(error) => Err(envoy_tls_reason(&error)),
    }
}

fn connect_error_text(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "Connection reset by peer".to_owned(),
        _ => error.to_string(),
    }
}

/// Envoy's text for a TLS failure, in BoringSSL's error format, so that scenarios written
/// against Istio match.
fn envoy_tls_reason(error: &io::Error) -> String {
    let (code, name) = match tls_error(error) {
        Some(rustls::Error::InvalidMessage(_)) => (247, "WRONG_VERSION_NUMBER".to_owned()),
        Some(rustls::Error::InvalidCertificate(_)) => (125, "CERTIFICATE_VERIFY_FAILED".to_owned()),
        Some(rustls::Error::AlertReceived(alert)) => alert_reason(*alert),
        Some(other) => return format!("TLS_error:|{other}:TLS_error_end"),
        None if error.kind() == io::ErrorKind::UnexpectedEof => {
            return "TLS_error:|connection closed during the TLS handshake:TLS_error_end"
                .to_owned();
        }
        None => return format!("TLS_error:|{error}:TLS_error_end"),
    };
    // BoringSSL packs the library (SSL = 16) into the top byte of the error code.
    let packed = (16u32 << 24) + code;
    format!("TLS_error:|{packed}:SSL routines:OPENSSL_internal:{name}:TLS_error_end")
}

/// BoringSSL's reason code and name for a received alert: the alert number plus 1000.
fn alert_reason(alert: rustls::AlertDescription) -> (u32, String) {
    let number = u8::from(alert);
    let name = format!("{alert:?}");
    // SSLv3 alerts keep the SSLV3 prefix in BoringSSL's names; later ones use TLSV1.
    let prefix = if number <= 47 {
        "SSLV3_ALERT"
    } else {
        "TLSV1_ALERT"
    };
    let mut snake = String::new();
    for (index, character) in name.chars().enumerate() {
        if character.is_uppercase() && index > 0 {
            snake.push('_');
        }
        snake.push(character.to_ascii_uppercase());
    }
    (1000 + u32::from(number), format!("{prefix}_{snake}"))
}

async fn serve_http(connection: Arc<Connection>, stream: PrefixedIo<TcpStream>) {
    let service = service_fn(move |request: Request<Incoming>| {
        let connection = connection.clone();
        async move { Ok::<_, std::convert::Infallible>(handle_request(&connection, request).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(error) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        debug!(%error, "outbound HTTP connection ended with an error");
    }
}

async fn handle_request(
    connection: &Connection,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let summary = format!(
        "{} {}",
        request.method(),
        request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str())
    );
    if !is_known_method(request.method().as_str()) {
        return local_reply(StatusCode::BAD_REQUEST, BAD_REQUEST);
    }
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    if !headers.contains_key("x-request-id")
        && let Ok(value) = HeaderValue::from_str(&new_request_id())
    {
        headers.insert("x-request-id", value);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    // The application reaches its sidecar over plaintext, so Envoy removes any client
    // certificate header the application set. The server sidecar adds the verified one.
    headers.remove("x-forwarded-client-cert");

    let (upstream, endpoint) = match connection.connect(true).await {
        Ok(connected) => connected,
        Err((endpoint, reason)) => {
            info!(
                pod = connection.shared.bootstrap.pod,
                service = connection.target.service,
                request = summary,
                reason,
                "upstream unavailable"
            );
            let transport = endpoint.map_or(Transport::Plaintext, |endpoint| {
                planned_transport(&endpoint.tls)
            });
            connection.record(
                endpoint,
                transport,
                None,
                Some(summary),
                Outcome::UpstreamFailed {
                    reason: reason.clone(),
                },
            );
            return local_reply(StatusCode::SERVICE_UNAVAILABLE, &reason);
        }
    };
    let transport = upstream.transport(&endpoint.tls);
    let server_identity = upstream.server_identity();
    let result = send_upstream(upstream, request).await;
    match result {
        Ok(mut response) => {
            strip_hop_by_hop(response.headers_mut());
            connection.record(
                Some(endpoint),
                transport,
                server_identity,
                Some(summary),
                Outcome::Response {
                    status: response.status().as_u16(),
                },
            );
            response
        }
        Err(reason) => {
            let body = format!("{UPSTREAM_RESET_PREFIX}reset reason: {reason}");
            info!(
                pod = connection.shared.bootstrap.pod,
                service = connection.target.service,
                upstream = %endpoint.address,
                request = summary,
                reason = body,
                "upstream failed before response headers"
            );
            connection.record(
                Some(endpoint),
                transport,
                server_identity,
                Some(summary),
                Outcome::UpstreamFailed {
                    reason: body.clone(),
                },
            );
            local_reply(StatusCode::SERVICE_UNAVAILABLE, &body)
        }
    }
}

fn planned_transport(tls: &UpstreamTls) -> Transport {
    match tls {
        UpstreamTls::Plaintext { .. } => Transport::Plaintext,
        UpstreamTls::IstioMutual { .. } => Transport::Mtls,
        UpstreamTls::Simple { .. } | UpstreamTls::Mutual { .. } => Transport::Tls,
    }
}

/// Sends one request on a fresh upstream connection. The error is Envoy's reset reason.
async fn send_upstream(
    upstream: Upstream,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(|_| "connection termination".to_owned())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(parts, incoming(body));
    match sender.send_request(request).await {
        Ok(response) => Ok(response.map(incoming)),
        Err(error) => Err(reset_reason(&error)),
    }
}

/// Envoy's reset reason for a request that failed after the connection was established: a
/// TLS alert read from the server counts as a connection failure, anything else as the
/// connection terminating.
fn reset_reason(error: &hyper::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(io_error) = current.downcast_ref::<io::Error>()
            && tls_error(io_error).is_some()
        {
            return format!(
                "connection failure, transport failure reason: {}",
                envoy_tls_reason(io_error)
            );
        }
        source = current.source();
    }
    "connection termination".to_owned()
}

async fn serve_tcp(connection: Arc<Connection>, stream: PrefixedIo<TcpStream>) {
    let (upstream, endpoint) = match connection.connect(false).await {
        Ok(connected) => connected,
        Err((endpoint, reason)) => {
            info!(
                pod = connection.shared.bootstrap.pod,
                service = connection.target.service,
                reason,
                "upstream unavailable; resetting the TCP connection"
            );
            let transport = endpoint.map_or(Transport::Plaintext, |endpoint| {
                planned_transport(&endpoint.tls)
            });
            connection.record(
                endpoint,
                transport,
                None,
                None,
                Outcome::UpstreamFailed { reason },
            );
            reset_when_client_settled(stream.into_tcp(), 0).await;
            return;
        }
    };
    let transport = upstream.transport(&endpoint.tls);
    let server_identity = upstream.server_identity();
    let (client, _, end) = splice(stream, upstream).await;
    let outcome = if end.reset_by() == Some(Side::B) {
        reset_when_client_settled(client.into_tcp(), end.a_to_b).await;
        Outcome::UpstreamFailed {
            reason: "the upstream reset the connection".to_owned(),
        }
    } else {
        Outcome::Closed
    };
    connection.record(Some(endpoint), transport, server_identity, None, outcome);
}

/// Resets the client's connection, but not before the client has sent something, closed, or
/// had [`CLIENT_SETTLE`] to finish connecting. On loopback an upstream refusal can arrive
/// within microseconds, and a reset before curl has checked its own connect makes curl
/// report a failed connect (exit 7) rather than the reset (exit 56) a client sees across a
/// real network, where it is connected at least one round trip before the refusal arrives.
async fn reset_when_client_settled(client: TcpStream, bytes_from_client: u64) {
    if bytes_from_client == 0 {
        let _ = tokio::time::timeout(CLIENT_SETTLE, client.readable()).await;
    }
    reset(client);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_reasons_use_boringssl_names() {
        assert_eq!(
            alert_reason(rustls::AlertDescription::HandshakeFailure),
            (1040, "SSLV3_ALERT_HANDSHAKE_FAILURE".to_owned())
        );
        assert_eq!(
            alert_reason(rustls::AlertDescription::CertificateRequired),
            (1116, "TLSV1_ALERT_CERTIFICATE_REQUIRED".to_owned())
        );
    }

    #[test]
    fn wrong_version_text_matches_envoy() {
        let error = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert_eq!(
            envoy_tls_reason(&error),
            "TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end"
        );
    }
}
