//! Listeners and connection tasks of a started app, and their shutdown.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, Span, debug, debug_span, info, warn};

use super::{AppKind, BoxFuture};

/// Serves one accepted connection until the peer closes it or the app stops.
pub(super) type ConnectionHandler =
    Arc<dyn Fn(TcpStream, SocketAddr) -> BoxFuture<'static, ()> + Send + Sync>;

/// Pause after a failed `accept`, so that a persistent error such as file descriptor
/// exhaustion does not spin the accept loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// A started app: its listeners and the connections they accepted.
///
/// Call [`RunningApp::stop`] to shut it down, which waits until every socket is closed.
/// Dropping a `RunningApp` aborts its listener and connection tasks, and their sockets close
/// shortly after, when the runtime drops the aborted tasks.
pub struct RunningApp {
    kind: AppKind,
    listening: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    /// One accept loop per listener, each owning the tasks of the connections it accepted.
    accept_loops: JoinSet<()>,
    span: Span,
}

impl RunningApp {
    /// Creates the handle of an app that listens on nothing (sleep).
    pub(super) fn without_listeners(kind: AppKind, span: Span) -> Self {
        Self {
            kind,
            listening: Vec::new(),
            shutdown: watch::Sender::new(false),
            accept_loops: JoinSet::new(),
            span,
        }
    }

    /// Returns which app this is.
    pub fn kind(&self) -> &AppKind {
        &self.kind
    }

    /// Returns the bound listener addresses, in the order of the ports they were started for.
    pub fn listening(&self) -> &[SocketAddr] {
        &self.listening
    }

    /// Closes the listeners and every open connection.
    ///
    /// Returns once every listener socket and connection socket is closed. Requests still in
    /// progress are cut off, as when a container is killed.
    pub async fn stop(mut self) {
        // An error only means that every accept loop has already ended.
        let _ = self.shutdown.send(true);
        let span = self.span.clone();
        async {
            while let Some(result) = self.accept_loops.join_next().await {
                if let Err(error) = result {
                    warn!(%error, "listener task failed");
                }
            }
            info!("stopped");
        }
        .instrument(span)
        .await;
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if !self.accept_loops.is_empty() {
            self.span.in_scope(|| {
                debug!(
                    listeners = self.accept_loops.len(),
                    "dropped without stop; aborting its tasks"
                );
            });
        }
        // Aborting an accept loop drops its JoinSet of connections, which aborts them too.
        self.accept_loops.abort_all();
    }
}

impl std::fmt::Debug for RunningApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningApp")
            .field("kind", &self.kind)
            .field("listening", &self.listening)
            .finish_non_exhaustive()
    }
}

/// Binds a listener on `ip` for each of `ports` and starts accepting connections.
///
/// Every listener is bound before any accept loop starts, so a failure leaves nothing
/// listening. Repeated ports are bound once.
pub(super) async fn serve(
    kind: AppKind,
    ip: IpAddr,
    ports: &[u16],
    handler: ConnectionHandler,
    span: Span,
) -> io::Result<RunningApp> {
    let mut unique_ports: Vec<u16> = Vec::with_capacity(ports.len());
    for port in ports {
        if !unique_ports.contains(port) {
            unique_ports.push(*port);
        }
    }

    let mut listeners = Vec::with_capacity(unique_ports.len());
    for port in unique_ports {
        let address = SocketAddr::new(ip, port);
        let listener = TcpListener::bind(address).await.map_err(|error| {
            warn!(%address, %error, "binding a listener failed");
            io::Error::new(
                error.kind(),
                format!("{kind} could not listen on {address}: {error}"),
            )
        })?;
        listeners.push(listener);
    }

    let mut app = RunningApp::without_listeners(kind, span);
    for listener in listeners {
        let address = listener.local_addr()?;
        app.listening.push(address);
        let accept_loop = accept_connections(listener, handler.clone(), app.shutdown.subscribe());
        app.accept_loops
            .spawn(accept_loop.instrument(debug_span!("listener", %address)));
    }
    info!(listening = ?app.listening, "started");
    Ok(app)
}

/// Accepts connections until shutdown is signalled or the [`RunningApp`] is dropped, then
/// closes every connection it accepted.
async fn accept_connections(
    listener: TcpListener,
    handler: ConnectionHandler,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // `changed` also returns when the sender is dropped.
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "accepted a connection");
                    let connection = handler(stream, peer);
                    connections.spawn(connection.instrument(debug_span!("connection", %peer)));
                }
                Err(error) => {
                    warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = finished {
                    warn!(%error, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    connections.shutdown().await;
    debug!("listener closed");
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::apps::start;
    use crate::apps::test_support::{bounded, context};

    fn ip(third: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 77, third, 1))
    }

    async fn assert_refused(address: SocketAddr) {
        let error = TcpStream::connect(address)
            .await
            .expect_err("nothing listens after stop");
        assert_eq!(
            error.kind(),
            io::ErrorKind::ConnectionRefused,
            "connect to {address}"
        );
    }

    /// Sends one line to tcp-echo on `stream` and reads the echoed line.
    async fn echo(stream: &mut TcpStream) -> String {
        bounded(stream.write_all(b"ping\n")).await.unwrap();
        let mut answer = vec![0; "hello ping\n".len()];
        bounded(stream.read_exact(&mut answer)).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn stop_closes_listeners_and_connections() {
        let context = context("tcp-echo-0", ip(30), &[9000, 9001]);
        let app = bounded(start(AppKind::TcpEcho, context)).await.unwrap();
        let addresses = app.listening().to_vec();
        let expected = [SocketAddr::new(ip(30), 9000), SocketAddr::new(ip(30), 9001)];
        assert_eq!(addresses, expected);
        let mut open = bounded(TcpStream::connect(addresses[1])).await.unwrap();
        assert_eq!(echo(&mut open).await, "hello ping\n");

        bounded(app.stop()).await;
        for address in &addresses {
            assert_refused(*address).await;
        }
        let mut buffer = [0; 16];
        let read = bounded(open.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(0)) || read.is_err(),
            "the open connection is closed, read {read:?}"
        );
    }

    #[tokio::test]
    async fn drop_aborts_listeners() {
        let app = bounded(start(AppKind::TcpEcho, context("tcp-echo-0", ip(31), &[])))
            .await
            .unwrap();
        let address = app.listening()[0];
        drop(app);
        // The aborted tasks close their sockets when the runtime drops them, so poll.
        let closed = async {
            while TcpStream::connect(address).await.is_ok() {
                tokio::task::yield_now().await;
            }
        };
        bounded(closed).await;
        assert_refused(address).await;
    }

    #[tokio::test]
    async fn failed_bind_leaves_nothing_listening() {
        let taken = SocketAddr::new(ip(32), 9080);
        let _occupant = TcpListener::bind(taken).await.unwrap();
        let context = context("tcp-echo-0", ip(32), &[9081, 9080]);
        let error = bounded(start(AppKind::TcpEcho, context))
            .await
            .expect_err("port 9080 is taken");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert!(
            error.to_string().contains("127.77.32.1:9080"),
            "error {error}"
        );
        assert_refused(SocketAddr::new(ip(32), 9081)).await;
    }

    #[tokio::test]
    async fn sleep_listens_on_nothing() {
        let app = bounded(start(AppKind::Sleep, context("sleep-0", ip(33), &[80])))
            .await
            .unwrap();
        assert_eq!(app.kind(), &AppKind::Sleep);
        assert!(
            app.listening().is_empty(),
            "listening {:?}",
            app.listening()
        );
        bounded(app.stop()).await;
    }

    #[tokio::test]
    async fn port_zero_reports_bound_port() {
        let app = bounded(start(AppKind::TcpEcho, context("tcp-echo-0", ip(34), &[0])))
            .await
            .unwrap();
        let address = app.listening()[0];
        assert_ne!(address.port(), 0, "bound port");
        let mut stream = bounded(TcpStream::connect(address)).await.unwrap();
        assert_eq!(echo(&mut stream).await, "hello ping\n");
        bounded(app.stop()).await;
    }
}
