//! HTTP/1.1 over TLS (or plain TCP) for the control plane: a server loop that stops on a
//! shutdown signal and a client connection that sends one request at a time.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response, header};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::debug;

/// Limits of a server.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Time allowed for a client's TLS handshake.
    pub handshake_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves HTTP/1.1 on `listener`, over TLS when `tls` is given, until `shutdown` turns true.
/// Open connections (including long-lived streams) are closed on shutdown.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    service: S,
    mut shutdown: watch::Receiver<bool>,
    options: ServeOptions,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let acceptor = tls.map(TlsAcceptor::from);
    let mut connections = JoinSet::new();
    let mut failures = super::AcceptFailures::default();
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                let address = listener.local_addr().map_or_else(
                    |_| "control plane listener".to_owned(),
                    |address| address.to_string(),
                );
                failures.record(&address, &error).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let builder = hyper::server::conn::http1::Builder::new();
            let result = match acceptor {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(options.handshake_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(tls)) => builder.serve_connection(TokioIo::new(tls), service).await,
                        Ok(Err(error)) => {
                            debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(error) = result {
                debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    connections.shutdown().await;
}

/// Why a client connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("cannot connect to {address}: {source}")]
    Tcp {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {address} failed: {source}")]
    Tls {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The HTTP handshake failed.
    #[error("HTTP handshake with {address} failed: {source}")]
    Http {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: hyper::Error,
    },
    /// `server_name` is not a valid DNS name or address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// The whole connect took longer than allowed.
    #[error("connecting to {0} timed out")]
    Timeout(SocketAddr),
}

/// An open HTTP/1.1 client connection.
pub struct HttpsConnection<B> {
    sender: SendRequest<B>,
    authority: HeaderValue,
}

impl<B> fmt::Debug for HttpsConnection<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsConnection")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl<B> HttpsConnection<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    /// Sends a request, setting its `Host` header to the server's authority.
    pub async fn send_request(
        &mut self,
        mut request: Request<B>,
    ) -> Result<Response<Incoming>, hyper::Error> {
        request
            .headers_mut()
            .insert(header::HOST, self.authority.clone());
        self.sender.ready().await?;
        self.sender.send_request(request).await
    }

    /// Whether the connection can still send requests.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}

/// Opens a TLS connection to `address`, verifying the server as `server_name`.
pub async fn connect<B>(
    address: SocketAddr,
    server_name: &str,
    tls: Arc<ClientConfig>,
    timeout: Duration,
) -> Result<HttpsConnection<B>, ConnectError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| ConnectError::ServerName(server_name.to_owned()))?;
    let attempt = async {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|source| ConnectError::Tcp { address, source })?;
        let _ = stream.set_nodelay(true);
        let stream = TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(|source| ConnectError::Tls { address, source })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ConnectError::Http { address, source })?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%address, %error, "client connection ended with an error");
            }
        });
        let authority = HeaderValue::from_str(&format!("{server_name}:{}", address.port()))
            .map_err(|_| ConnectError::ServerName(server_name.to_owned()))?;
        Ok(HttpsConnection { sender, authority })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ConnectError::Timeout(address))?
}
