//! The control API under `/_sandbox/` (no auth): play the WhatsApp user
//! (their messages, username, number changes, contact shares), see
//! what the business sent, receive webhooks, switch rules and knobs, inject
//! faults, move the clock, reset.
//!
//! Errors answer `{"error":{"message":"…"}}` with a 4xx status.

pub mod clock;
pub mod events;
pub mod faults;
pub mod inbound;
pub mod inbox;
pub mod sent;
pub mod settings;
pub mod templates;
pub mod users;
pub mod verify;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use crate::state::AppState;

/// `GET /_sandbox/health`: `{"status":"ok"}` once the server accepts requests.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /_sandbox/stats`: counters since start (or the last reset), and
/// the work still under way: status lifecycles and webhook deliveries
/// running, webhook items not yet delivered or dropped. Both zero means
/// everything the sandbox was asked to do has reached the webhook URL.
pub(crate) async fn stats(State(state): State<AppState>) -> Json<Value> {
    let mut stats = state.stats.to_json();
    stats["pending"] = json!({"tasks": state.tasks.pending(), "webhook_items": state.webhooks.unsettled()});
    Json(stats)
}

/// `POST /_sandbox/reset`: everything back to how it started.
pub(crate) async fn reset(State(state): State<AppState>) -> Json<Value> {
    state.reset();
    info!("sandbox reset");
    Json(json!({ "success": true }))
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

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ControlError { status: StatusCode::NOT_FOUND, message: message.into() }
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

/// Parses a JSON body into a value, with the control API's error.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, ControlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|err| ControlError::bad_request(format!("invalid JSON body: {err}")))
}
