//! The inbound side: connections to the pod's container ports. The first bytes of each
//! connection pick a filter chain, as Envoy's virtual inbound listener does:
//!
//! | PeerAuthentication | mesh mTLS (TLS, `istio*` ALPN) | other TLS | plaintext |
//! |---|---|---|---|
//! | STRICT | terminate, client certificate required | terminate, client certificate required | reset |
//! | PERMISSIVE | terminate, client certificate required | pass through to the app | serve |
//! | DISABLE | pass through to the app | pass through to the app | serve |
//!
//! Served traffic is authorized with the workload's AuthorizationPolicies and forwarded to the
//! application, over HTTP when the port speaks HTTP (403 on denial) and as bytes otherwise
//! (reset on denial).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ring::digest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use super::http::{
    BAD_REQUEST, ProxyBody, RBAC_DENIED, UPSTREAM_RESET_PREFIX, authority_of, incoming,
    is_known_method, local_reply, new_request_id, normalize_path, strip_hop_by_hop,
};
use super::io::{PrefixedIo, Side, Tls12AlertAsEnvoy, reset, splice};
use super::sniff::{self, Protocol};
use super::{DETECTION_TIMEOUT, Shared};
use crate::cluster::services::AppProtocol;
use crate::identity::SpiffeId;
use crate::policy::authz::{self, HttpAttributes, RequestAttributes};
use crate::policy::peer_auth::MtlsMode;
use crate::records::{ConnectionRecord, Direction, Outcome, Peer, Transport};
use crate::tls::spiffe_id_of;
use crate::xds::InboundPort;

/// Source address of the proxy's connections to its application, as Istio's inbound
/// passthrough uses, so the application can tell proxied traffic from direct traffic.
const INBOUND_PASSTHROUGH_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);
/// Limit for connecting to the application.
const APP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a rejected TLS client may keep sending before the socket closes; long enough for
/// the alert to reach it ahead of the close.
const ALERT_DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

/// ALPN protocols that mark a connection from a mesh sidecar.
fn is_mesh_alpn(alpn: &[Vec<u8>]) -> bool {
    alpn.iter().any(|protocol| protocol.starts_with(b"istio"))
}

/// One accepted connection and the configuration of its port.
#[derive(Clone)]
struct Connection {
    shared: Arc<Shared>,
    port: InboundPort,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Connection {
    fn record(
        &self,
        transport: Transport,
        peer_identity: Option<SpiffeId>,
        request: Option<String>,
        outcome: Outcome,
    ) {
        let own_identity =
            matches!(transport, Transport::Mtls).then(|| self.shared.bootstrap.identity.clone());
        self.shared.reporter.report(ConnectionRecord {
            reporter: self.shared.bootstrap.pod.clone(),
            direction: Direction::Inbound,
            source: Peer {
                address: self.peer,
                pod: None,
                identity: peer_identity,
            },
            destination: Peer {
                address: self.local,
                pod: Some(self.shared.bootstrap.pod.clone()),
                identity: own_identity,
            },
            service: self.port.services.first().cloned(),
            port: self.port.port,
            transport,
            request,
            outcome,
        });
    }
}

/// Serves one inbound connection to container port `port`.
pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr, port: u16) {
    let config = shared.config();
    let Some(inbound) = config
        .inbound
        .iter()
        .find(|inbound| inbound.port == port)
        .cloned()
    else {
        debug!(
            pod = shared.bootstrap.pod,
            port, "no inbound configuration for port; resetting"
        );
        reset(stream);
        return;
    };
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(shared.bootstrap.pod_ip, port));
    let connection = Connection {
        shared,
        port: inbound,
        peer,
        local,
    };
    let detection = match sniff::detect(&mut stream, DETECTION_TIMEOUT).await {
        Ok(detection) => detection,
        Err(error) => {
            debug!(%peer, %error, "connection failed during protocol detection");
            return;
        }
    };
    let mode = connection.port.mtls.mode;
    let stream = PrefixedIo::new(detection.prefix, stream);
    match (&detection.protocol, mode) {
        (Protocol::Tls { .. }, MtlsMode::Strict) => terminate_mtls(connection, stream).await,
        (Protocol::Tls { alpn, .. }, MtlsMode::Permissive) if is_mesh_alpn(alpn) => {
            terminate_mtls(connection, stream).await;
        }
        (Protocol::Tls { .. }, MtlsMode::Permissive) => {
            pass_through(connection, stream, Outcome::Closed).await;
        }
        (Protocol::Tls { .. }, MtlsMode::Disable) => {
            info!(
                pod = connection.shared.bootstrap.pod,
                client.addr = %peer,
                port,
                "TLS connection passed to the application as bytes: PeerAuthentication is DISABLE"
            );
            pass_through(connection, stream, Outcome::UnexpectedTls).await;
        }
        (Protocol::Empty, MtlsMode::Strict) => {}
        (_, MtlsMode::Strict) => {
            // No plaintext filter chain exists: close with the request unread, so the kernel
            // sends a reset.
            info!(
                pod = connection.shared.bootstrap.pod,
                client.addr = %peer,
                port,
                "plaintext connection rejected: PeerAuthentication is STRICT"
            );
            connection.record(Transport::Plaintext, None, None, Outcome::RejectedPlaintext);
            reset(stream.into_inner());
        }
        (protocol, MtlsMode::Permissive | MtlsMode::Disable) => {
            let http = speaks_http(connection.port.protocol, protocol);
            serve_application(connection, stream, Transport::Plaintext, None, http).await;
        }
    }
}

/// Decides whether to serve a connection as HTTP: always on declared HTTP ports, by
/// detection on undeclared ones.
fn speaks_http(declared: AppProtocol, detected: &Protocol) -> bool {
    match declared {
        AppProtocol::Http | AppProtocol::Http2 => true,
        AppProtocol::Tcp => false,
        AppProtocol::Auto => matches!(detected, Protocol::Http1 | Protocol::Http2),
    }
}

/// Terminates mesh mTLS with a client certificate required, then serves the application.
async fn terminate_mtls(connection: Connection, stream: PrefixedIo<TcpStream>) {
    let tls = connection.shared.tls();
    let acceptor = TlsAcceptor::from(tls.mtls_server());
    let stream = Tls12AlertAsEnvoy::new(stream);
    let mut tls_stream = match acceptor.accept(stream).into_fallible().await {
        Ok(tls_stream) => tls_stream,
        Err((error, stream)) => {
            let outcome = match tls_error(&error) {
                Some(rustls::Error::NoCertificatesPresented) => Outcome::CertificateRequired,
                _ => Outcome::HandshakeFailed {
                    error: error.to_string(),
                },
            };
            info!(
                pod = connection.shared.bootstrap.pod,
                client.addr = %connection.peer,
                port = connection.port.port,
                %error,
                "TLS connection rejected"
            );
            connection.record(Transport::Tls, None, None, outcome);
            drain_before_close(&mut stream.into_inner().into_inner()).await;
            return;
        }
    };
    let (_, session) = tls_stream.get_ref();
    let peer_identity = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| {
            (
                spiffe_id_of(leaf),
                digest::digest(&digest::SHA256, leaf.as_ref()),
            )
        });
    let (peer_identity, certificate_hash) = match peer_identity {
        Some((Ok(identity), hash)) => (identity, hex(hash.as_ref())),
        Some((Err(error), _)) => {
            reject_after_handshake(&connection, tls_stream, &error.to_string()).await;
            return;
        }
        None => {
            reject_after_handshake(&connection, tls_stream, "no client certificate").await;
            return;
        }
    };
    let config = connection.shared.config();
    if !config
        .trust_domains
        .iter()
        .any(|domain| domain == peer_identity.trust_domain())
    {
        let reason = format!(
            "peer trust domain {} is not trusted",
            peer_identity.trust_domain()
        );
        reject_after_handshake(&connection, tls_stream, &reason).await;
        return;
    }
    let http = match connection.port.protocol {
        AppProtocol::Http | AppProtocol::Http2 => true,
        AppProtocol::Tcp => false,
        AppProtocol::Auto => {
            let alpn = tls_stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            match alpn.as_deref() {
                Some(protocol)
                    if protocol.starts_with(b"istio-http") || protocol == b"istio-h2" =>
                {
                    true
                }
                Some(b"istio-peer-exchange") => false,
                _ => {
                    let detection = match sniff::detect(&mut tls_stream, DETECTION_TIMEOUT).await {
                        Ok(detection) => detection,
                        Err(_) => return,
                    };
                    let http = matches!(detection.protocol, Protocol::Http1 | Protocol::Http2);
                    let stream = PrefixedIo::new(detection.prefix, tls_stream);
                    let peer = MtlsPeer {
                        identity: peer_identity,
                        certificate_hash,
                    };
                    serve_application(connection, stream, Transport::Mtls, Some(peer), http).await;
                    return;
                }
            }
        }
    };
    let peer = MtlsPeer {
        identity: peer_identity,
        certificate_hash,
    };
    if http {
        let stream = PrefixedIo::new(bytes::Bytes::new(), tls_stream);
        serve_application(connection, stream, Transport::Mtls, Some(peer), http).await;
        return;
    }
    // Envoy's RBAC network filter decides when the first bytes arrive, not when the
    // connection is accepted, so a client that talks first has sent its request before a
    // denial closes the connection. Plaintext connections were read during detection already.
    // NOTE: a client that sends nothing is judged after the detection timeout, so that
    // server-first protocols work. Envoy would not judge it at all.
    let mut tls_stream = tls_stream;
    let first_bytes = match sniff::detect(&mut tls_stream, DETECTION_TIMEOUT).await {
        Ok(detection) => detection.prefix,
        Err(error) => {
            debug!(
                client.addr = %connection.peer,
                %error,
                "mTLS connection failed before its first bytes"
            );
            return;
        }
    };
    let stream = PrefixedIo::new(first_bytes, tls_stream);
    serve_application(connection, stream, Transport::Mtls, Some(peer), http).await;
}

/// Closes an mTLS connection whose peer certificate the proxy does not accept.
async fn reject_after_handshake<S>(connection: &Connection, mut stream: S, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    info!(
        pod = connection.shared.bootstrap.pod,
        client.addr = %connection.peer,
        reason,
        "mTLS peer rejected"
    );
    connection.record(
        Transport::Mtls,
        None,
        None,
        Outcome::HandshakeFailed {
            error: reason.to_owned(),
        },
    );
    let _ = stream.shutdown().await;
}

/// Drains what a rejected TLS client still sends, so that closing the socket does not reset
/// the connection before the client has read the alert.
pub(super) async fn drain_before_close(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(ALERT_DRAIN_TIMEOUT, async {
        while matches!(stream.read(&mut sink).await, Ok(count) if count > 0) {}
    })
    .await;
}

/// Returns the rustls error inside an I/O error from tokio-rustls.
pub(super) fn tls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The verified peer of an mTLS connection.
#[derive(Clone, Debug)]
struct MtlsPeer {
    identity: SpiffeId,
    certificate_hash: String,
}

/// Forwards TLS the proxy does not terminate to the application as bytes. `forwarded` is the
/// outcome recorded once the bytes were passed on: `Closed` where TLS passthrough is a
/// supported path, `UnexpectedTls` where only plaintext is accepted.
async fn pass_through(connection: Connection, stream: PrefixedIo<TcpStream>, forwarded: Outcome) {
    let outcome = match connect_app(connection.port.app).await {
        Ok(app) => {
            let (client, _, end) = splice(stream, app).await;
            if end.reset_by() == Some(Side::B) {
                reset(client.into_inner());
            }
            forwarded
        }
        Err(error) => {
            reset(stream.into_inner());
            Outcome::UpstreamFailed {
                reason: format!("cannot connect to the application: {error}"),
            }
        }
    };
    connection.record(Transport::TlsPassthrough, None, None, outcome);
}

/// Connects to the application from the inbound passthrough address.
async fn connect_app(address: SocketAddr) -> io::Result<TcpStream> {
    let socket = match address {
        SocketAddr::V4(_) => {
            let socket = TcpSocket::new_v4()?;
            // The application may listen on localhost only (transparent capture) or on the
            // pod's application address (in-process); either is reachable from 127.0.0.6.
            if address.ip().is_loopback() {
                socket.bind(SocketAddr::new(IpAddr::V4(INBOUND_PASSTHROUGH_SOURCE), 0))?;
            }
            socket
        }
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let stream = tokio::time::timeout(APP_CONNECT_TIMEOUT, socket.connect(address))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Authorizes and forwards an accepted connection to the application.
async fn serve_application<S>(
    connection: Connection,
    stream: PrefixedIo<S>,
    transport: Transport,
    peer: Option<MtlsPeer>,
    http: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static + IntoTcp,
{
    if http {
        serve_http(connection, stream, transport, peer).await;
    } else {
        serve_tcp(connection, stream, transport, peer).await;
    }
}

/// Streams whose TCP socket can be taken back to reset it.
pub(super) trait IntoTcp {
    /// Unwraps the TCP stream under any TLS layer.
    fn into_tcp(self) -> TcpStream;
}

impl IntoTcp for TcpStream {
    fn into_tcp(self) -> TcpStream {
        self
    }
}

impl<S: IntoTcp> IntoTcp for PrefixedIo<S> {
    fn into_tcp(self) -> TcpStream {
        self.into_inner().into_tcp()
    }
}

impl<S: IntoTcp> IntoTcp for Tls12AlertAsEnvoy<S> {
    fn into_tcp(self) -> TcpStream {
        self.into_inner().into_tcp()
    }
}

impl<S: IntoTcp> IntoTcp for tokio_rustls::server::TlsStream<S> {
    fn into_tcp(self) -> TcpStream {
        self.into_inner().0.into_tcp()
    }
}

async fn serve_tcp<S>(
    connection: Connection,
    stream: PrefixedIo<S>,
    transport: Transport,
    peer: Option<MtlsPeer>,
) where
    S: AsyncRead + AsyncWrite + Unpin + IntoTcp,
{
    let identity = peer.map(|peer| peer.identity);
    let attributes = RequestAttributes {
        principal: identity.as_ref().map(SpiffeId::principal),
        source_ip: connection.peer.ip(),
        port: connection.port.port,
        http: None,
    };
    let decision = authz::evaluate(&connection.port.authorization, &attributes);
    if !decision.is_allowed() {
        let reason = denial_reason(&decision);
        info!(
            pod = connection.shared.bootstrap.pod,
            client.addr = %connection.peer,
            peer.identity = ?identity.as_ref().map(ToString::to_string),
            port = connection.port.port,
            reason,
            "TCP connection denied by AuthorizationPolicy"
        );
        connection.record(transport, identity, None, Outcome::Denied { reason });
        reset(stream.into_tcp());
        return;
    }
    let outcome = match connect_app(connection.port.app).await {
        Ok(app) => {
            let (client, _, end) = splice(stream, app).await;
            if end.reset_by() == Some(Side::B) {
                reset(client.into_tcp());
            }
            Outcome::Closed
        }
        Err(error) => {
            reset(stream.into_tcp());
            Outcome::UpstreamFailed {
                reason: format!("cannot connect to the application: {error}"),
            }
        }
    };
    connection.record(transport, identity, None, outcome);
}

fn denial_reason(decision: &authz::Decision) -> String {
    match decision {
        authz::Decision::Allowed => "allowed".to_owned(),
        authz::Decision::DeniedByPolicy { policy } => format!("denied by {policy}"),
        authz::Decision::NotAllowed => "no ALLOW policy matched".to_owned(),
    }
}

async fn serve_http<S>(
    connection: Connection,
    stream: PrefixedIo<S>,
    transport: Transport,
    peer: Option<MtlsPeer>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new(connection);
    let peer = Arc::new(peer);
    let service = service_fn(move |request: Request<Incoming>| {
        let connection = connection.clone();
        let peer = peer.clone();
        async move {
            Ok::<_, std::convert::Infallible>(
                handle_request(&connection, transport, peer.as_ref().as_ref(), request).await,
            )
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(error) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        debug!(%error, "inbound HTTP connection ended with an error");
    }
}

async fn handle_request(
    connection: &Connection,
    transport: Transport,
    peer: Option<&MtlsPeer>,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let identity = peer.map(|peer| peer.identity.clone());
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let summary = format!("{method} {path}");
    let normalized = normalize_path(&path).filter(|_| is_known_method(&method));
    let Some(normalized) = normalized else {
        connection.record(
            transport,
            identity,
            Some(summary),
            Outcome::Response { status: 400 },
        );
        return local_reply(StatusCode::BAD_REQUEST, BAD_REQUEST);
    };
    if normalized != path {
        // The application sees the normalized path, as behind Envoy.
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = normalized.parse().ok();
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    // Istio matches `hosts` against the whole authority, so a port the client sent
    // (`httpbin.foo:8000`) is part of what a rule must name.
    let host = authority_of(&request).unwrap_or_default();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let attributes = RequestAttributes {
        principal: identity.as_ref().map(SpiffeId::principal),
        source_ip: connection.peer.ip(),
        port: connection.port.port,
        http: Some(HttpAttributes {
            method: method.clone(),
            path: request.uri().path().to_owned(),
            host,
            headers,
        }),
    };
    let decision = authz::evaluate(&connection.port.authorization, &attributes);
    if !decision.is_allowed() {
        let reason = denial_reason(&decision);
        info!(
            pod = connection.shared.bootstrap.pod,
            client.addr = %connection.peer,
            peer.identity = ?identity.as_ref().map(ToString::to_string),
            request = summary,
            reason,
            "request denied by AuthorizationPolicy"
        );
        connection.record(
            transport,
            identity,
            Some(summary),
            Outcome::Denied { reason },
        );
        return local_reply(StatusCode::FORBIDDEN, RBAC_DENIED);
    }

    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    if !headers.contains_key("x-request-id")
        && let Ok(value) = HeaderValue::from_str(&new_request_id())
    {
        headers.insert("x-request-id", value);
    }
    let scheme = if transport == Transport::Mtls {
        "https"
    } else {
        "http"
    };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(scheme));
    // Istio's inbound listeners use Envoy's APPEND_FORWARD mode: over mTLS the sidecar appends
    // the client's certificate to the header, and on any other connection it removes the
    // header, so that a plaintext client cannot claim an identity.
    if let Some(peer) = peer {
        let element = format!(
            "By={};Hash={};Subject=\"\";URI={}",
            connection.shared.bootstrap.identity, peer.certificate_hash, peer.identity
        );
        let value = match headers
            .get("x-forwarded-client-cert")
            .and_then(|value| value.to_str().ok())
        {
            Some(existing) => format!("{existing},{element}"),
            None => element,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-client-cert", value);
        }
    } else {
        headers.remove("x-forwarded-client-cert");
    }

    let response = forward_to_app(connection.port.app, request).await;
    let outcome = match &response {
        Ok(response) => Outcome::Response {
            status: response.status().as_u16(),
        },
        Err(reason) => Outcome::UpstreamFailed {
            reason: reason.clone(),
        },
    };
    connection.record(transport, identity, Some(summary), outcome);
    match response {
        Ok(response) => response,
        Err(reason) => local_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{UPSTREAM_RESET_PREFIX}reset reason: {reason}"),
        ),
    }
}

/// Sends a request to the application on a fresh connection; the error is Envoy's reset
/// reason.
async fn forward_to_app(
    app: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, String> {
    let stream = connect_app(app).await.map_err(|error| {
        format!("connection failure, transport failure reason: delayed connect error: {error}")
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("connection failure, transport failure reason: {error}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(parts, incoming(body));
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|_| "connection termination".to_owned())?;
    strip_hop_by_hop(response.headers_mut());
    response.headers_mut().insert(
        http::header::SERVER,
        HeaderValue::from_static("istio-envoy"),
    );
    Ok(response.map(incoming))
}
