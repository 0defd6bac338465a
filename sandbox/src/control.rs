//! The control API under `/_sandbox/` (no auth): play the WhatsApp user, see
//! what the business sent, receive webhooks.
//!
//! Errors answer `{"error":{"message":"…"}}` with a 4xx status.

pub mod inbound;
pub mod inbox;
pub mod sent;
pub mod verify;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// `GET /_sandbox/health`: `{"status":"ok"}` once the server accepts requests.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// A control API error: a status and a message for people.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ControlError {
    pub status: StatusCode,
    pub message: String,
}

impl ControlError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ControlError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        ControlError { status: StatusCode::CONFLICT, message: message.into() }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": { "message": self.message } }))).into_response()
    }
}
