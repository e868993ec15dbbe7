//! The CA's HTTPS API: `POST /v1/certificates` signs a workload CSR for the identity that the
//! caller's pod token proves.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{
    CertificateAuthority, CertificateRequest, CertificateResponse, DEFAULT_WORKLOAD_TTL, SIGN_PATH,
};
use crate::identity::SpiffeId;
use crate::net::api::{ApiBody, bearer_token, error_response, json_response, read_json};
use crate::net::https::{self, ServeOptions};
use crate::token::TokenAuthority;

/// Serves the CA API on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    authority: Arc<CertificateAuthority>,
    tokens: Arc<TokenAuthority>,
    tls: Arc<ServerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let address = listener.local_addr().ok();
    info!(address = ?address, trust_domain = authority.trust_domain(), "CA listening");
    let service = service_fn(move |request| {
        let authority = authority.clone();
        let tokens = tokens.clone();
        async move { Ok::<_, Infallible>(handle(&authority, &tokens, request).await) }
    });
    https::serve(
        listener,
        Some(tls),
        service,
        shutdown,
        ServeOptions::default(),
    )
    .await;
    info!(address = ?address, "CA stopped");
}

async fn handle(
    authority: &CertificateAuthority,
    tokens: &TokenAuthority,
    request: Request<Incoming>,
) -> Response<ApiBody> {
    if request.uri().path() != SIGN_PATH {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("no such endpoint: {}", request.uri().path()),
        );
    }
    if request.method() != Method::POST {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    let Some(token) = bearer_token(&request) else {
        return error_response(StatusCode::UNAUTHORIZED, "missing bearer token");
    };
    let claims = match tokens.verify(token) {
        Ok(claims) => claims,
        Err(error) => {
            warn!(%error, "CA rejected a request with an invalid token");
            return error_response(StatusCode::UNAUTHORIZED, &format!("invalid token: {error}"));
        }
    };
    let body: CertificateRequest = match read_json(request).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let identity = SpiffeId::new(
        authority.trust_domain(),
        &claims.namespace,
        &claims.service_account,
    );
    let ttl = body
        .ttl_seconds
        .map_or(DEFAULT_WORKLOAD_TTL, Duration::from_secs);
    match authority.sign_workload(&body.csr, &identity, ttl) {
        Ok(certificate) => {
            info!(pod = %format!("{}/{}", claims.namespace, claims.pod_name), %identity, ttl_seconds = ttl.as_secs(), "issued workload certificate");
            json_response(
                StatusCode::OK,
                &CertificateResponse {
                    certificate_chain: vec![certificate.pem()],
                    root_certificates: vec![authority.root_pem().to_owned()],
                },
            )
        }
        Err(error) => {
            warn!(%identity, %error, "CA refused a signing request");
            error_response(StatusCode::BAD_REQUEST, &error.to_string())
        }
    }
}
