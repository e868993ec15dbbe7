//! Clients that act from inside a pod: the real curl binary with the pod's DNS view and source
//! address, raw TCP sockets bound to the pod's address, and a rustls client with no
//! certificate.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mesh_sim::runtime::{Mesh, PodSelector};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::Command;
use tokio::sync::{RwLock, RwLockWriteGuard};

/// Limit for one curl run; curl's own `--max-time` is set a little lower.
const CURL_TIMEOUT: Duration = Duration::from_secs(20);
/// curl's `--max-time`, in seconds.
const CURL_MAX_TIME_SECONDS: &str = "15";
/// Limit for connecting a raw TCP client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variables that would send curl through a proxy outside the mesh.
const PROXY_VARIABLES: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Held shared by every curl run and exclusively by probes that need closed listeners to be
/// gone. A child process gets copies of the parent's file descriptors and closes the
/// close-on-exec ones during exec, which can finish after `spawn` has returned. A listener
/// that a mesh closes meanwhile keeps accepting until the child's copy is closed, which made
/// a "nothing listens here" probe fail about once in a hundred runs while parallel tests ran
/// curl.
static CHILD_PROCESSES: RwLock<()> = RwLock::const_new(());

/// Waits until no curl run started before the call is still alive, and holds new ones off
/// until the guard is dropped, so that every listener closed before the call is closed in
/// the kernel too.
pub async fn exclude_child_processes() -> RwLockWriteGuard<'static, ()> {
    CHILD_PROCESSES.write().await
}

/// What one curl run printed and returned.
#[derive(Debug)]
pub struct CurlOutput {
    /// The exit code; `None` when curl was killed by a signal.
    pub exit_code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs curl with `arguments` in the pod of Deployment `namespace/deployment`.
pub async fn curl(
    mesh: &Mesh,
    namespace: &str,
    deployment: &str,
    arguments: &[&str],
) -> CurlOutput {
    let target = mesh
        .exec_target(namespace, &PodSelector::Deployment(deployment.to_owned()))
        .unwrap_or_else(|error| panic!("{error}"));
    let mut command = Command::new("curl");
    // `-q` must come first: it stops curl from reading the user's ~/.curlrc.
    command
        .arg("-q")
        .args(target.curl_network_args())
        .args(["--max-time", CURL_MAX_TIME_SECONDS])
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    // Held until curl exits, because the child's copies of descriptors outlive `spawn`.
    let _child_process = CHILD_PROCESSES.read().await;
    let child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run curl (install it on PATH): {error}"));
    let output = tokio::time::timeout(CURL_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("curl {arguments:?} did not finish within {CURL_TIMEOUT:?}"))
        .expect("curl's output is readable");
    CurlOutput {
        exit_code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// An HTTP exchange made with curl: the response status and body, or status 0 when no
/// response arrived.
#[derive(Debug)]
pub struct HttpOutcome {
    /// curl's exit code.
    pub exit_code: Option<i32>,
    /// The HTTP status, 0 when curl got no response.
    pub status: u16,
    /// The response body.
    pub body: String,
    /// curl's standard error.
    #[expect(dead_code, reason = "read only through Debug, in assertion messages")]
    pub stderr: String,
}

/// GETs `url` with curl from the pod of Deployment `namespace/deployment`.
pub async fn http_get(mesh: &Mesh, namespace: &str, deployment: &str, url: &str) -> HttpOutcome {
    let output = curl(
        mesh,
        namespace,
        deployment,
        &["-sS", "-w", "\n%{http_code}", url],
    )
    .await;
    let (body, status) = output
        .stdout
        .rsplit_once('\n')
        .unwrap_or_else(|| panic!("curl printed no status line: {output:?}"));
    HttpOutcome {
        exit_code: output.exit_code,
        status: status
            .parse()
            .unwrap_or_else(|_| panic!("curl printed an invalid status {status:?}")),
        body: body.to_owned(),
        stderr: output.stderr,
    }
}

/// Opens a TCP connection from `source` (a pod address) to `destination`.
pub async fn connect_from(source: Ipv4Addr, destination: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(destination)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connecting to {destination} timed out after {CONNECT_TIMEOUT:?}"),
        )),
    }
}

/// Builds a TLS 1.3 client configuration with the ring provider that presents no certificate and
/// accepts any server certificate, as `curl -k` does.
pub fn tls_client_without_certificate() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring supports TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer { provider }))
        .with_no_client_auth();
    Arc::new(config)
}

/// Accepts every server certificate but still checks the handshake signatures, so the
/// handshake itself is real.
#[derive(Debug)]
struct AcceptAnyServer {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Extracts the rustls error from an I/O error of tokio-rustls.
pub fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Limit for reading a reply in [`read_to_end`].
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads until the peer closes the stream or the read fails, and returns the bytes read, or
/// the error together with the bytes read before it. Panics when neither happens in time.
pub async fn read_to_end<S>(stream: &mut S) -> Result<Vec<u8>, (io::Error, Vec<u8>)>
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;

    let mut received = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) => return Ok(()),
                Ok(count) => received.extend_from_slice(&buffer[..count]),
                Err(error) => return Err(error),
            }
        }
    };
    let result = tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| panic!("the peer neither closed nor failed within {READ_TIMEOUT:?}"));
    match result {
        Ok(()) => Ok(received),
        Err(error) => Err((error, received)),
    }
}
