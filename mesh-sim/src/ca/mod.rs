//! The mesh certificate authority: a self-signed root per trust domain that signs workload
//! certificates from CSRs, each naming exactly one SPIFFE id, with a bounded lifetime.
//!
//! Workloads generate their own keys; the CA sees only the CSR, as istiod's CA does.

pub mod client;
pub mod server;

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::SpiffeId;
use crate::tls::{TrustBundle, WorkloadCredentials};

/// Path of the certificate signing endpoint.
pub const SIGN_PATH: &str = "/v1/certificates";
/// Lifetime of a workload certificate when the request names none; Istio's default is 24 h.
pub const DEFAULT_WORKLOAD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest workload certificate lifetime the CA grants.
pub const MAX_WORKLOAD_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Allowance for clocks that differ between the CA and its peers.
const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Lifetime of the root certificate.
const ROOT_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A signing request as proxies send it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateRequest {
    /// PEM CSR whose only SAN is the workload's SPIFFE URI.
    pub csr: String,
    /// Requested lifetime in seconds; the CA caps it at [`MAX_WORKLOAD_TTL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// The CA's answer to a signing request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateResponse {
    /// PEM certificates, leaf first.
    pub certificate_chain: Vec<String>,
    /// PEM roots of the trust bundle.
    pub root_certificates: Vec<String>,
}

/// Why the CA refused or failed to issue a certificate.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The CSR is not valid PEM/DER or its signature does not verify.
    #[error("invalid certificate signing request: {0}")]
    InvalidCsr(rcgen::Error),
    /// The CSR asks for names other than the caller's identity.
    #[error("the CSR must name exactly {expected} as its only SAN, found {found}")]
    IdentityMismatch {
        /// The identity the caller's token proves.
        expected: SpiffeId,
        /// What the CSR asked for.
        found: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(rcgen::Error),
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A name cannot be written into a certificate.
    #[error("invalid certificate name {0:?}")]
    InvalidName(String),
    /// The issued certificate could not be turned into credentials.
    #[error("issued credentials are unusable: {0}")]
    Credentials(#[from] crate::tls::TlsError),
}

/// A certificate authority for one trust domain.
pub struct CertificateAuthority {
    trust_domain: String,
    root_der: CertificateDer<'static>,
    root_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("trust_domain", &self.trust_domain)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Random)?;
    // A positive INTEGER: clear the top bit.
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

fn validity(ttl: Duration) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - CLOCK_SKEW, now + ttl)
}

impl CertificateAuthority {
    /// Creates a CA with a fresh root key for `trust_domain`. The root's subject is
    /// `O=<trust domain>`, as Istio's self-signed root.
    pub fn new(trust_domain: &str) -> Result<Self, CaError> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CaError::Signing)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, trust_domain);
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial()?);
        (params.not_before, params.not_after) = validity(ROOT_TTL);
        let root = params.self_signed(&key).map_err(CaError::Signing)?;
        Ok(Self {
            trust_domain: trust_domain.to_owned(),
            root_der: root.der().clone(),
            root_pem: root.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The root certificate.
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// The root as PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The trust bundle of this CA.
    pub fn bundle(&self) -> TrustBundle {
        TrustBundle::new(vec![self.root_der.clone()])
    }

    /// Signs a workload CSR for `identity`. The CSR must name exactly that SPIFFE URI and no
    /// other SAN; the certificate gets an empty subject, the URI SAN, client and server
    /// usage, and `ttl` capped at [`MAX_WORKLOAD_TTL`].
    pub fn sign_workload(
        &self,
        csr_pem: &str,
        identity: &SpiffeId,
        ttl: Duration,
    ) -> Result<rcgen::Certificate, CaError> {
        let request =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(CaError::InvalidCsr)?;
        let expected = identity.to_string();
        let requested: Vec<String> = request
            .params
            .subject_alt_names
            .iter()
            .map(|name| match name {
                SanType::URI(uri) => uri.as_str().to_owned(),
                other => format!("{other:?}"),
            })
            .collect();
        if requested != [expected.clone()] {
            return Err(CaError::IdentityMismatch {
                expected: identity.clone(),
                found: if requested.is_empty() {
                    "no SAN".to_owned()
                } else {
                    requested.join(", ")
                },
            });
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = request.params.subject_alt_names.clone();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        (params.not_before, params.not_after) = validity(ttl.min(MAX_WORKLOAD_TTL));
        let certificate = params
            .signed_by(&request.public_key, &self.issuer)
            .map_err(CaError::Signing)?;
        Ok(certificate)
    }

    /// Issues the control plane's own serving certificate and key for `dns_names` and `ips`.
    /// The control plane's identity is
    /// `spiffe://<trust domain>/ns/istio-system/sa/istiod`, also in the certificate.
    pub fn issue_control_plane(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
    ) -> Result<WorkloadCredentials, CaError> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CaError::Signing)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let identity = SpiffeId::new(&self.trust_domain, "istio-system", "istiod");
        let uri = identity
            .to_string()
            .try_into()
            .map_err(|_| CaError::InvalidName(identity.to_string()))?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        for name in dns_names {
            let name = name
                .clone()
                .try_into()
                .map_err(|_| CaError::InvalidName(name.clone()))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        (params.not_before, params.not_after) = validity(ROOT_TTL);
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(CaError::Signing)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(WorkloadCredentials::new(
            vec![certificate.der().clone()],
            key,
        )?)
    }
}

#[cfg(test)]
mod tests;
