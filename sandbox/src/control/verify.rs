//! `POST /_sandbox/verify-webhook`: runs Meta's GET verification handshake
//! against the configured webhook URL, as the App Dashboard does when the
//! callback URL is saved.

use axum::Json;
use axum::extract::State;
use http::StatusCode;

use super::ControlError;
use crate::state::AppState;
use crate::webhooks::Handshake;

/// Answers `{"url","challenge","status","body","verified"}`; 409 when no
/// webhook URL is configured, 502 when the receiver cannot be reached.
pub(crate) async fn handshake(State(state): State<AppState>) -> Result<Json<Handshake>, ControlError> {
    match state.webhooks.handshake().await {
        None => Err(ControlError::conflict("no webhook URL is configured")),
        Some(Ok(result)) => Ok(Json(result)),
        Some(Err(err)) => Err(ControlError { status: StatusCode::BAD_GATEWAY, message: format!("{err:#}") }),
    }
}
