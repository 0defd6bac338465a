//! `/v1/settings/application` (admin).

use axum::extract::State;
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;
use wire::users::Role;

use super::json_body;
use crate::AppState;
use crate::auth::Principal;
use crate::core::to_api_error;
use crate::envelope::{OnPrem, Reply};

fn application(doc: proto::core::JsonDoc) -> Result<Value, ApiError> {
    let app: Value = serde_json::from_str(&doc.json).map_err(|e| {
        tracing::error!(error = %e, "coreapp sent unreadable settings");
        ApiError::internal()
    })?;
    Ok(json!({"settings": {"application": app}}))
}

pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let doc = state.cores.any().get_settings(proto::core::Empty {}).await.map_err(to_api_error)?;
    Ok(OnPrem::ok(application(doc.into_inner())?))
}

/// `PATCH`: partial update, validated by the shared settings model.
pub async fn patch(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let patch = json_body(&body)?;
    // Validate here too, so a bad request never reaches a coreapp.
    wire::settings::ApplicationSettings::default().apply_patch(&patch)?;
    let doc = proto::core::JsonDoc { json: patch.to_string() };
    state.cores.any().patch_settings(doc).await.map_err(to_api_error)?;
    Ok(OnPrem::empty())
}

/// `DELETE`: back to the defaults.
pub async fn reset(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    state.cores.any().reset_settings(proto::core::Empty {}).await.map_err(to_api_error)?;
    Ok(OnPrem::empty())
}
