//! The proxy's TLS state: its workload credentials, the trust bundle, and the rustls
//! configurations built from them, cached because building one costs more than a handshake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::{ClientConfig, ServerConfig};

use crate::identity::SpiffeId;
use crate::tls::{self, ClientAuth, ServerIdentity, TlsError, TrustBundle, WorkloadCredentials};

/// Key of a cached client configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    with_certificate: bool,
    identities: Option<Vec<SpiffeId>>,
    alpn: Vec<Vec<u8>>,
}

/// Credentials and derived TLS configurations for one certificate generation.
#[derive(Debug)]
pub struct TlsContext {
    credentials: WorkloadCredentials,
    bundle: TrustBundle,
    mtls_server: Arc<ServerConfig>,
    clients: Mutex<HashMap<ClientKey, Arc<ClientConfig>>>,
}

impl TlsContext {
    /// Builds the context for `credentials`, accepting peers of `bundle`.
    pub fn new(credentials: WorkloadCredentials, bundle: TrustBundle) -> Result<Self, TlsError> {
        // No ALPN is selected by the server: mesh clients do not need one, and a client that
        // offers only protocols the server lacks must still reach the certificate check.
        let mtls_server =
            tls::server_config(&credentials, &bundle, ClientAuth::Required, Vec::new())?;
        Ok(Self {
            credentials,
            bundle,
            mtls_server,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The credentials.
    pub fn credentials(&self) -> &WorkloadCredentials {
        &self.credentials
    }

    /// The trust bundle.
    pub fn bundle(&self) -> &TrustBundle {
        &self.bundle
    }

    /// Server configuration for mesh mTLS: a client certificate is required.
    pub fn mtls_server(&self) -> Arc<ServerConfig> {
        self.mtls_server.clone()
    }

    /// Client configuration: with or without the workload certificate, accepting the given
    /// server identities (any in the bundle when `None`), offering `alpn`.
    pub fn client(
        &self,
        with_certificate: bool,
        identities: Option<&[SpiffeId]>,
        alpn: &[&[u8]],
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let key = ClientKey {
            with_certificate,
            identities: identities.map(<[SpiffeId]>::to_vec),
            alpn: alpn.iter().map(|protocol| protocol.to_vec()).collect(),
        };
        let mut cache = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(config) = cache.get(&key) {
            return Ok(config.clone());
        }
        let expected = match &key.identities {
            Some(list) => ServerIdentity::AnyOf(list.clone()),
            None => ServerIdentity::AnyInBundle,
        };
        let config = tls::client_config(
            with_certificate.then_some(&self.credentials),
            &self.bundle,
            expected,
            key.alpn.clone(),
        )?;
        cache.insert(key, config.clone());
        Ok(config)
    }
}
