//! `/cloud/webhooks`: where the Cloud API (or the sandbox) delivers
//! webhooks. GET answers the verification handshake; POST checks
//! `X-Hub-Signature-256` over the raw bytes, then hands them to a coreapp,
//! which stores them before we answer 200 (so Cloud's own retries cover any
//! failure before that point).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::AppState;

#[derive(Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

pub async fn verify(State(state): State<AppState>, Query(q): Query<Handshake>) -> Response {
    let expected = &state.config.cloud_verify_token;
    let given = q.verify_token.as_deref().unwrap_or_default();
    let ok = q.mode.as_deref() == Some("subscribe")
        && !expected.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()));
    match (ok, q.challenge) {
        (true, Some(challenge)) => (StatusCode::OK, challenge).into_response(),
        _ => (StatusCode::FORBIDDEN, "verification failed").into_response(),
    }
}

/// True when `header` is `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn signature_valid(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let secret = &state.config.cloud_app_secret;
    let header = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if secret.is_empty() || !signature_valid(secret, header, &body) {
        tracing::warn!(bytes = body.len(), "Cloud webhook with a missing or wrong signature rejected");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    // Takes the buffer over instead of copying it when nothing else holds it.
    let request = proto::core::CloudWebhook { body: Vec::from(body) };
    match state.cores.ingest_cloud_webhook(request).await {
        Ok(_) => (StatusCode::OK, "OK").into_response(),
        Err(err) => {
            tracing::error!(error = %err, "Cloud webhook could not be stored; Cloud will retry");
            (StatusCode::SERVICE_UNAVAILABLE, "not stored, retry").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_valid("s3cret", Some(&good), body));
        assert!(!signature_valid("other", Some(&good), body));
        assert!(!signature_valid("s3cret", Some(&good), b"{}"));
        assert!(!signature_valid("s3cret", None, body));
        assert!(!signature_valid("s3cret", Some("sha256=zz"), body));
    }
}
