//! The workload side of certificate issuance: generate a key, send a CSR naming the workload's
//! SPIFFE id to the CA, and turn the response into credentials and a trust bundle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{CertificateRequest, CertificateResponse, SIGN_PATH};
use crate::identity::SpiffeId;
use crate::net::https::{self, ConnectError};
use crate::tls::{TlsError, TrustBundle, WorkloadCredentials};
use crate::token::PodToken;

/// Errors of obtaining a workload certificate.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Generating the key or the CSR failed.
    #[error("cannot create a CSR: {0}")]
    Csr(rcgen::Error),
    /// The CA could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The request failed on the wire.
    #[error("certificate request failed: {0}")]
    Request(String),
    /// The CA returned an error.
    #[error("CA refused the certificate request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The CA's message.
        message: String,
    },
    /// The response is not a usable certificate.
    #[error("invalid CA response: {0}")]
    InvalidResponse(String),
    /// The issued certificate does not name the requested identity.
    #[error("CA issued a certificate for {found}, expected {expected}")]
    WrongIdentity {
        /// Requested identity.
        expected: String,
        /// Identity in the certificate.
        found: String,
    },
    /// The credentials cannot be used for TLS.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The CA's address and the TLS settings to reach it.
#[derive(Clone, Debug)]
pub struct CaEndpoint {
    /// CA address.
    pub address: SocketAddr,
    /// DNS name in the CA's serving certificate.
    pub server_name: String,
    /// Client configuration trusting the mesh root.
    pub tls: Arc<ClientConfig>,
}

/// Generates a key and obtains a certificate for `identity`, proving it with `token`.
pub async fn request_certificate(
    endpoint: &CaEndpoint,
    token: &PodToken,
    identity: &SpiffeId,
    ttl: Option<Duration>,
    timeout: Duration,
) -> Result<(WorkloadCredentials, TrustBundle), IssueError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(IssueError::Csr)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let uri = identity
        .to_string()
        .try_into()
        .map_err(|error: rcgen::Error| IssueError::Csr(error))?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    let csr = params.serialize_request(&key).map_err(IssueError::Csr)?;
    let body = CertificateRequest {
        csr: csr.pem().map_err(IssueError::Csr)?,
        ttl_seconds: ttl.map(|ttl| ttl.as_secs()),
    };
    let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());

    let exchange = async {
        let mut connection = https::connect::<Full<Bytes>>(
            endpoint.address,
            &endpoint.server_name,
            endpoint.tls.clone(),
            timeout,
        )
        .await?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = http::Uri::from_static(SIGN_PATH);
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| IssueError::Request("token is not a valid header value".to_owned()))?;
        headers.insert(header::AUTHORIZATION, bearer);
        let response = connection
            .send_request(request)
            .await
            .map_err(|error| IssueError::Request(error.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| IssueError::Request(error.to_string()))?
            .to_bytes();
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|value| value.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(IssueError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice::<CertificateResponse>(&bytes)
            .map_err(|error| IssueError::InvalidResponse(error.to_string()))
    };
    let response = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| IssueError::Request(format!("timed out after {timeout:?}")))??;

    let chain = parse_certificates(&response.certificate_chain)?;
    let roots = parse_certificates(&response.root_certificates)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let credentials = WorkloadCredentials::new(chain, key)?;
    if credentials.identity() != identity {
        return Err(IssueError::WrongIdentity {
            expected: identity.to_string(),
            found: credentials.identity().to_string(),
        });
    }
    Ok((credentials, TrustBundle::new(roots)))
}

fn parse_certificates(pems: &[String]) -> Result<Vec<CertificateDer<'static>>, IssueError> {
    let mut certificates = Vec::new();
    for pem in pems {
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            certificates
                .push(certificate.map_err(|error| IssueError::InvalidResponse(error.to_string()))?);
        }
    }
    if certificates.is_empty() {
        return Err(IssueError::InvalidResponse("no certificates".to_owned()));
    }
    Ok(certificates)
}
