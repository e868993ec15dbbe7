use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::tls::spiffe_id_of;

fn csr_for(sans: Vec<SanType>) -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = sans;
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn uri(text: &str) -> SanType {
    SanType::URI(text.to_owned().try_into().unwrap())
}

#[test]
fn signs_csr_with_spiffe_uri_and_bounded_lifetime() {
    let ca = CertificateAuthority::new("cluster.local").unwrap();
    let identity = SpiffeId::new("cluster.local", "bookinfo", "bookinfo-productpage");
    let csr = csr_for(vec![uri(&identity.to_string())]);
    let certificate = ca
        .sign_workload(&csr, &identity, Duration::from_secs(3600))
        .unwrap();
    assert_eq!(spiffe_id_of(certificate.der()).unwrap(), identity);

    let (_, parsed) = X509Certificate::from_der(certificate.der()).unwrap();
    let lifetime =
        parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp();
    assert_eq!(lifetime, 3600 + 60, "ttl plus the clock skew allowance");
    assert!(
        parsed.subject().iter_attributes().next().is_none(),
        "empty subject"
    );
    assert!(!parsed.is_ca());
}

#[test]
fn caps_requested_lifetime() {
    let ca = CertificateAuthority::new("cluster.local").unwrap();
    let identity = SpiffeId::new("cluster.local", "a", "b");
    let csr = csr_for(vec![uri(&identity.to_string())]);
    let certificate = ca
        .sign_workload(&csr, &identity, Duration::from_secs(365 * 24 * 3600))
        .unwrap();
    let (_, parsed) = X509Certificate::from_der(certificate.der()).unwrap();
    let lifetime =
        parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp();
    assert_eq!(lifetime as u64, MAX_WORKLOAD_TTL.as_secs() + 60);
}

#[test]
fn rejects_csr_for_another_identity() {
    let ca = CertificateAuthority::new("cluster.local").unwrap();
    let caller = SpiffeId::new("cluster.local", "sleep", "sleep");
    let cases = [
        vec![uri(
            "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage",
        )],
        vec![
            uri(&caller.to_string()),
            SanType::DnsName("evil.example".try_into().unwrap()),
        ],
        vec![],
    ];
    for sans in cases {
        let description = format!("{sans:?}");
        let error = ca
            .sign_workload(&csr_for(sans), &caller, Duration::from_secs(60))
            .unwrap_err();
        assert!(
            matches!(error, CaError::IdentityMismatch { .. }),
            "{description}: {error}"
        );
    }
}

#[test]
fn rejects_malformed_csr() {
    let ca = CertificateAuthority::new("cluster.local").unwrap();
    let caller = SpiffeId::new("cluster.local", "a", "b");
    let error = ca
        .sign_workload("not a csr", &caller, Duration::from_secs(60))
        .unwrap_err();
    assert!(matches!(error, CaError::InvalidCsr(_)), "{error}");
}

#[test]
fn control_plane_certificate_names_istiod() {
    let ca = CertificateAuthority::new("cluster.local").unwrap();
    let credentials = ca
        .issue_control_plane(
            &["istiod.istio-system.svc".to_owned()],
            &["127.0.0.1".parse().unwrap()],
        )
        .unwrap();
    assert_eq!(
        credentials.identity().to_string(),
        "spiffe://cluster.local/ns/istio-system/sa/istiod"
    );
}
