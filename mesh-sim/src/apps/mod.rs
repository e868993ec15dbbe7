//! Built-in sample applications that stand in for container images: bookinfo, httpbin, sleep
//! and tcp-echo.
//!
//! A backend that cannot run containers maps each container image to one of these apps with
//! [`AppKind::from_image`] and starts it with [`start`]. The apps open real sockets; their
//! outgoing calls go through a [`PodNetwork`], which gives them the pod's view of the cluster
//! (its DNS names, and its own sidecar when the pod is injected).
//!
//! The HTTP apps speak HTTP/1.1 only, like the images they stand in for.

mod bookinfo;
mod http_util;
mod httpbin;
mod image;
mod manifests;
mod python_json;
mod running;
mod tcp_echo;
#[cfg(test)]
mod test_support;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpStream;
use tracing::{Instrument, info, info_span};

pub use self::manifests::{bundled_manifest, bundled_manifest_names};
pub use self::running::RunningApp;

/// A boxed future, as returned by [`PodNetwork`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The network as one pod sees it.
pub trait PodNetwork: Send + Sync + 'static {
    /// Connects to `host:port` the way a process inside the pod would: `host` is resolved with
    /// the pod's DNS search path, and the connection leaves from the pod's address.
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<TcpStream>>;
}

/// The sample applications known to the in-process backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppKind {
    /// Bookinfo `productpage`: renders the book page from details and reviews.
    BookinfoProductpage,
    /// Bookinfo `details`: book metadata as JSON.
    BookinfoDetails,
    /// Bookinfo `reviews` in version 1 (no stars), 2 (black stars) or 3 (red stars).
    BookinfoReviews {
        /// 1, 2 or 3.
        version: u8,
    },
    /// Bookinfo `ratings`: star ratings as JSON.
    BookinfoRatings,
    /// httpbin: echoes requests (`/get`, `/headers`, `/ip`, `/status/N`, ...).
    Httpbin {
        /// The httpbin implementation in the image.
        flavor: HttpbinFlavor,
    },
    /// Istio's `tcp-echo-server`: echoes each line prefixed by a configured word.
    TcpEcho,
    /// A container that only sleeps, used as the place to run curl from (`curlimages/curl`).
    Sleep,
}

/// Everything a started app needs to know about its pod.
#[derive(Clone)]
pub struct AppContext {
    /// Pod name, used in logs and in responses that report the serving pod.
    pub pod_name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Address the app's listeners bind to.
    pub bind_ip: IpAddr,
    /// Ports declared in the container spec (`containerPort`); an app listens on its usual
    /// port when this is empty.
    pub ports: Vec<u16>,
    /// Container arguments (`args`), which some images read (tcp-echo takes its port and
    /// prefix from them).
    pub args: Vec<String>,
    /// Container environment (`env` entries with literal values).
    pub env: BTreeMap<String, String>,
    /// The pod's view of the network for outgoing calls.
    pub network: Arc<dyn PodNetwork>,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("pod_name", &self.pod_name)
            .field("namespace", &self.namespace)
            .field("bind_ip", &self.bind_ip)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

/// The httpbin implementations, which differ in their default port and in details of their
/// JSON output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpbinFlavor {
    /// `mccutchen/go-httpbin`: port 8080, header values as JSON arrays, `origin` is the first
    /// `X-Forwarded-For` entry.
    Go,
    /// The original Python httpbin (`kennethreitz/httpbin`, `kong/httpbin`): port 80, header
    /// values as strings, proxy headers such as `X-Forwarded-For` hidden from `/headers`.
    Python,
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BookinfoProductpage => f.write_str("bookinfo-productpage"),
            Self::BookinfoDetails => f.write_str("bookinfo-details"),
            Self::BookinfoReviews { version } => write!(f, "bookinfo-reviews-v{version}"),
            Self::BookinfoRatings => f.write_str("bookinfo-ratings"),
            Self::Httpbin {
                flavor: HttpbinFlavor::Go,
            } => f.write_str("go-httpbin"),
            Self::Httpbin {
                flavor: HttpbinFlavor::Python,
            } => f.write_str("httpbin"),
            Self::TcpEcho => f.write_str("tcp-echo"),
            Self::Sleep => f.write_str("sleep"),
        }
    }
}

/// Starts the app and returns once every listener is bound, so callers can mark the pod ready.
///
/// The app listens on `context.bind_ip` at each of `context.ports`, or at
/// [`AppKind::default_ports`] when the container declares none. tcp-echo takes its ports from
/// its arguments first. Nothing is left listening when an error is returned.
///
/// # Errors
///
/// Returns the bind error when a listener cannot be bound (the address is in use or not
/// local). Returns [`io::ErrorKind::InvalidInput`] for invalid tcp-echo container arguments
/// and for a bookinfo reviews version other than 1, 2 or 3.
pub async fn start(kind: AppKind, context: AppContext) -> io::Result<RunningApp> {
    let span = info_span!(
        "app",
        app = %kind,
        pod = %format_args!("{}/{}", context.namespace, context.pod_name),
    );
    let declared_ports = if context.ports.is_empty() {
        kind.default_ports()
    } else {
        context.ports.clone()
    };
    let (ports, handler) = match &kind {
        AppKind::Sleep => {
            span.in_scope(|| info!("started without listeners: the container only sleeps"));
            return Ok(RunningApp::without_listeners(kind, span));
        }
        AppKind::BookinfoProductpage => (declared_ports, bookinfo::productpage_handler(&context)),
        AppKind::BookinfoDetails => (declared_ports, bookinfo::details_handler()),
        AppKind::BookinfoReviews { version } => (
            declared_ports,
            bookinfo::reviews_handler(*version, &context)?,
        ),
        AppKind::BookinfoRatings => (declared_ports, bookinfo::ratings_handler()),
        AppKind::Httpbin { flavor } => (declared_ports, httpbin::handler(*flavor)),
        AppKind::TcpEcho => {
            let config = tcp_echo::EchoConfig::from_context(&context)?;
            (config.ports.clone(), tcp_echo::handler(config))
        }
    };
    let bind_ip = context.bind_ip;
    running::serve(kind, bind_ip, &ports, handler, span.clone())
        .instrument(span)
        .await
}
