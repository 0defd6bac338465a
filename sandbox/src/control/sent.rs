//! `GET /_sandbox/sent`: what the business sent, as the Cloud payloads received.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// `{"data":[{"phone_number_id","wamid","payload","received_at"}]}`, oldest
/// first. Mark-as-read calls are listed too, with `wamid: null`.
pub(crate) async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "data": state.store.sent() }))
}

/// `DELETE /_sandbox/sent`: forget every recorded send.
pub(crate) async fn clear(State(state): State<AppState>) -> StatusCode {
    state.store.clear_sent();
    StatusCode::NO_CONTENT
}
