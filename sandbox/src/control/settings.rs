//! `GET` / `PATCH /_sandbox/settings`: the run-time knobs (rules, lifecycle,
//! webhooks, HTTP statuses) as one JSON document, patched by JSON merge patch.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use tracing::info;

use super::{ControlError, json_body};
use crate::settings::Settings;
use crate::state::AppState;

/// The typed document, so it reads in the order of the README.
pub(crate) async fn get(State(state): State<AppState>) -> Json<Settings> {
    Json((*state.settings.get()).clone())
}

/// Applies the patch and answers with the whole new document; a refused
/// patch changes nothing and says which field is wrong.
pub(crate) async fn patch(State(state): State<AppState>, body: Bytes) -> Result<Json<Settings>, ControlError> {
    let patch = json_body(&body)?;
    let next = state.settings.patch(&patch).map_err(ControlError::bad_request)?;
    info!(%patch, "settings changed");
    Ok(Json((*next).clone()))
}
