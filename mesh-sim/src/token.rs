//! Pod tokens: what a pod presents to the control plane to prove who it is, in the role of
//! Kubernetes' projected service account tokens.
//!
//! A token is `<claims>.<mac>`: base64url JSON claims and an HMAC-SHA256 over them with the
//! mesh's signing key. The controller and the CA accept only tokens of their own mesh.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Who a token was issued to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenClaims {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod_name: String,
    /// The pod's service account.
    pub service_account: String,
    /// Expiry, in seconds since the Unix epoch.
    pub expires: u64,
}

/// A signed token. `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct PodToken(String);

impl PodToken {
    /// Wraps a token received from elsewhere (an environment variable, a file).
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token itself, for the `Authorization` header only.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PodToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PodToken(<redacted>)")
    }
}

/// Why a token was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `<claims>.<mac>` in base64url.
    #[error("malformed token")]
    Malformed,
    /// The MAC does not match: the token is forged or from another mesh.
    #[error("token signature does not match")]
    BadSignature,
    /// The token's lifetime is over.
    #[error("token expired")]
    Expired,
    /// The system random source failed, so no signing key could be made.
    #[error("the system random number generator failed")]
    RandomUnavailable,
}

/// Issues and verifies the tokens of one mesh.
pub struct TokenAuthority {
    key: hmac::Key,
}

impl fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenAuthority(<redacted>)")
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl TokenAuthority {
    /// An authority with a fresh random key.
    pub fn generate() -> Result<Self, TokenError> {
        let mut secret = [0u8; 32];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| TokenError::RandomUnavailable)?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        })
    }

    /// Issues a token for a pod, valid for `lifetime`.
    pub fn issue(
        &self,
        namespace: &str,
        pod_name: &str,
        service_account: &str,
        lifetime: Duration,
    ) -> PodToken {
        let claims = TokenClaims {
            namespace: namespace.to_owned(),
            pod_name: pod_name.to_owned(),
            service_account: service_account.to_owned(),
            expires: now_seconds().saturating_add(lifetime.as_secs()),
        };
        let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let tag = hmac::sign(&self.key, encoded.as_bytes());
        PodToken(format!(
            "{encoded}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// Verifies a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let (encoded, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, encoded.as_bytes(), &tag).map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| TokenError::Malformed)?;
        let claims: TokenClaims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.expires < now_seconds() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_verifies() {
        let authority = TokenAuthority::generate().unwrap();
        let token = authority.issue("sleep", "sleep-abc", "sleep", Duration::from_secs(60));
        let claims = authority.verify(token.expose_secret()).unwrap();
        assert_eq!(claims.namespace, "sleep");
        assert_eq!(claims.pod_name, "sleep-abc");
        assert_eq!(claims.service_account, "sleep");
    }

    #[test]
    fn token_of_another_mesh_is_rejected() {
        let ours = TokenAuthority::generate().unwrap();
        let theirs = TokenAuthority::generate().unwrap();
        let token = theirs.issue("a", "b", "c", Duration::from_secs(60));
        assert_eq!(
            ours.verify(token.expose_secret()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn altered_claims_are_rejected() {
        let authority = TokenAuthority::generate().unwrap();
        let token = authority.issue("a", "b", "c", Duration::from_secs(60));
        let (_, tag) = token.expose_secret().split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(
            br#"{"namespace":"a","podName":"b","serviceAccount":"admin","expires":99999999999}"#,
        );
        assert_eq!(
            authority.verify(&format!("{forged_claims}.{tag}")),
            Err(TokenError::BadSignature)
        );
        assert_eq!(authority.verify("no-dot"), Err(TokenError::Malformed));
    }

    #[test]
    fn expired_token_is_rejected() {
        let authority = TokenAuthority::generate().unwrap();
        let claims = TokenClaims {
            namespace: "a".into(),
            pod_name: "b".into(),
            service_account: "c".into(),
            expires: 1,
        };
        let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let tag = hmac::sign(&authority.key, encoded.as_bytes());
        let token = format!("{encoded}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert_eq!(authority.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn debug_hides_the_token() {
        let authority = TokenAuthority::generate().unwrap();
        let token = authority.issue("a", "b", "c", Duration::from_secs(60));
        assert_eq!(format!("{token:?}"), "PodToken(<redacted>)");
    }
}
