//! TLS building blocks shared by the CA, the controller and the proxies: workload credentials,
//! the mesh trust bundle, SPIFFE identity checks and rustls configurations (ring provider).
//!
//! webpki verifies certificate chains but knows nothing of SPIFFE URI SANs, so peers are
//! verified in two steps: the chain against the trust bundle, then the SPIFFE id from the
//! leaf's URI SAN against the identities the caller accepts.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::SpiffeId;

/// Why a TLS configuration or credential could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls rejected the configuration.
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built from the trust bundle.
    #[error("invalid client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A certificate could not be parsed.
    #[error("invalid certificate: {0}")]
    Certificate(String),
}

/// The ring crypto provider every configuration of the mesh uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A workload's certificate chain (leaf first) and private key, with the identity the leaf
/// names. `Debug` never prints the key.
pub struct WorkloadCredentials {
    identity: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for WorkloadCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadCredentials")
            .field("identity", &self.identity)
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Clone for WorkloadCredentials {
    fn clone(&self) -> Self {
        Self {
            identity: self.identity.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl WorkloadCredentials {
    /// Wraps a chain and key, reading the identity from the leaf's URI SAN.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let leaf = chain
            .first()
            .ok_or_else(|| TlsError::Certificate("empty certificate chain".to_owned()))?;
        let identity = spiffe_id_of(leaf)?;
        Ok(Self {
            identity,
            chain,
            key,
        })
    }

    /// The identity in the leaf certificate.
    pub fn identity(&self) -> &SpiffeId {
        &self.identity
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }
}

/// The root certificates a mesh trusts.
#[derive(Clone, Debug)]
pub struct TrustBundle {
    roots: Vec<CertificateDer<'static>>,
}

impl TrustBundle {
    /// A bundle of the given roots.
    pub fn new(roots: Vec<CertificateDer<'static>>) -> Self {
        Self { roots }
    }

    /// The roots.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    fn store(&self) -> Result<RootCertStore, TlsError> {
        let mut store = RootCertStore::empty();
        for root in &self.roots {
            store.add(root.clone())?;
        }
        Ok(store)
    }
}

/// The SPIFFE id in a certificate's URI SAN. Istio certificates carry exactly one.
pub fn spiffe_id_of(certificate: &CertificateDer<'_>) -> Result<SpiffeId, TlsError> {
    let (_, parsed) = X509Certificate::from_der(certificate.as_ref())
        .map_err(|error| TlsError::Certificate(error.to_string()))?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|error| TlsError::Certificate(error.to_string()))?
        .ok_or_else(|| TlsError::Certificate("no subject alternative name".to_owned()))?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [uri] => uri
            .parse()
            .map_err(|error: crate::identity::SpiffeIdError| {
                TlsError::Certificate(error.to_string())
            }),
        [] => Err(TlsError::Certificate("no URI SAN".to_owned())),
        _ => Err(TlsError::Certificate(format!(
            "{} URI SANs, expected exactly one",
            uris.len()
        ))),
    }
}

/// Whether a server asks TLS clients for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A certificate from the trust bundle is required; without one the handshake fails with
    /// the `certificate_required` alert (TLS 1.3).
    Required,
    /// No certificate is requested.
    None,
}

/// Builds a server configuration presenting `credentials`.
pub fn server_config(
    credentials: &WorkloadCredentials,
    bundle: &TrustBundle,
    client_auth: ClientAuth,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_auth {
        ClientAuth::Required => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(bundle.store()?), provider)
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        ClientAuth::None => builder.with_no_client_auth(),
    };
    let mut config =
        builder.with_single_cert(credentials.chain.clone(), credentials.key.clone_key())?;
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// Which server identities a client accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerIdentity {
    /// Any of these SPIFFE ids.
    AnyOf(Vec<SpiffeId>),
    /// Any certificate that chains to the bundle and names a SPIFFE id.
    AnyInBundle,
}

/// Builds a client configuration, presenting `credentials` when given.
pub fn client_config(
    credentials: Option<&WorkloadCredentials>,
    bundle: &TrustBundle,
    expected: ServerIdentity,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(SpiffeServerVerifier::new(bundle, expected, &provider)?);
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match credentials {
        Some(credentials) => {
            builder.with_client_auth_cert(credentials.chain.clone(), credentials.key.clone_key())?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// Builds a client configuration that verifies a server by DNS name against the bundle, as
/// proxies do towards the control plane.
pub fn control_plane_client_config(bundle: &TrustBundle) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(bundle.store()?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Verifies a server chain against the trust bundle, then its SPIFFE id.
#[derive(Debug)]
struct SpiffeServerVerifier {
    anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
    expected: ServerIdentity,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpiffeServerVerifier {
    fn new(
        bundle: &TrustBundle,
        expected: ServerIdentity,
        provider: &CryptoProvider,
    ) -> Result<Self, TlsError> {
        let anchors = bundle
            .roots
            .iter()
            .map(|root| {
                webpki::anchor_from_trusted_cert(root)
                    .map(|anchor| anchor.to_owned())
                    .map_err(|error| TlsError::Certificate(error.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            anchors,
            expected,
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

fn webpki_error(error: webpki::Error) -> rustls::Error {
    use rustls::CertificateError;
    let certificate_error = match error {
        webpki::Error::UnknownIssuer => CertificateError::UnknownIssuer,
        webpki::Error::CertExpired { .. } => CertificateError::Expired,
        webpki::Error::CertNotValidYet { .. } => CertificateError::NotValidYet,
        webpki::Error::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        other => CertificateError::Other(rustls::OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(certificate_error)
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let certificate = webpki::EndEntityCert::try_from(end_entity).map_err(webpki_error)?;
        certificate
            .verify_for_usage(
                self.algorithms.all,
                &self.anchors,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(webpki_error)?;
        let identity = spiffe_id_of(end_entity).map_err(|error| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(error),
            )))
        })?;
        match &self.expected {
            ServerIdentity::AnyInBundle => Ok(ServerCertVerified::assertion()),
            ServerIdentity::AnyOf(accepted) if accepted.contains(&identity) => {
                Ok(ServerCertVerified::assertion())
            }
            ServerIdentity::AnyOf(_) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
