//! `/v1/certificates/webhooks/ca` (admin): a private CA the coreapps trust
//! when delivering webhooks to the business's server.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use wire::ApiError;
use wire::users::Role;

use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{Failure, OnPrem, Reply};

/// `POST`: the PEM text, sent as `Content-Type: text/plain`.
pub async fn set_webhook_ca(State(state): State<AppState>, who: Principal, headers: HeaderMap, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some("text/plain") {
        return Err(ApiError::invalid_value("Content-Type", content_type).into());
    }
    let pem = String::from_utf8(body.to_vec()).map_err(|_| ApiError::invalid("The certificate is not text"))?;
    if pem.trim().is_empty() {
        return Err(ApiError::missing("certificate").into());
    }
    state.cores.any().set_webhook_ca(proto::core::Pem { pem }).await?;
    Ok(OnPrem::empty())
}

/// `GET`: the stored PEM as an attachment.
pub async fn get_webhook_ca(State(state): State<AppState>, who: Principal) -> Result<Response, Failure> {
    who.require(Role::Admin)?;
    let pem = state.cores.any().get_webhook_ca(proto::core::Empty {}).await?.pem;
    let mut r = pem.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=webhookCaCerts.pem"));
    Ok(r)
}

pub async fn delete_webhook_ca(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    state.cores.any().delete_webhook_ca(proto::core::Empty {}).await?;
    Ok(OnPrem::empty())
}

/// `POST /v1/certificates/external`: a PEM bundle (private key, server
/// certificate, CA certificates) that replaces the webapp certificate on
/// every webapp, without a restart.
pub async fn set_external(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let pem = String::from_utf8(body.to_vec()).map_err(|_| ApiError::invalid("The certificate bundle is not text"))?;
    if pem.trim().is_empty() {
        return Err(ApiError::missing("certificate").into());
    }
    // The coreapp splits and checks the bundle.
    let bundle = proto::core::WebCertificate { cert_pem: pem, key_pem: String::new(), ca_pem: String::new() };
    state.cores.any().set_web_certificate(bundle).await?;
    if let Some(tls) = &state.tls {
        tls.refresh(&state.cores).await;
    }
    Ok(OnPrem::created(serde_json::Value::Null))
}

/// `GET /v1/certificates/external/ca`: the CA of the webapp certificate
/// (the certificate itself while it is the generated, self-signed one).
pub async fn external_ca(State(state): State<AppState>, who: Principal) -> Result<Response, Failure> {
    who.require_user()?;
    let stored = state.cores.any().get_web_certificate(proto::core::Empty {}).await?;
    let ca = stored.ca_pem;
    if ca.is_empty() {
        return Err(ApiError::not_found("No webapp certificate is stored").into());
    }
    let mut r = ca.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-pem-file"));
    r.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=ca.pem"));
    Ok(r)
}
