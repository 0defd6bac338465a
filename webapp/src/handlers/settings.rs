//! `/v1/settings/application` (admin).

use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;
use wire::users::Role;

use super::{json_body, required_str};
use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{OnPrem, Reply};

fn application(doc: proto::core::JsonDoc) -> Result<Value, ApiError> {
    let app = crate::coreapps::json_of(&doc, "settings")?;
    Ok(json!({"settings": {"application": app}}))
}

pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let doc = state.cores.any().get_settings(proto::core::Empty {}).await?;
    Ok(OnPrem::ok(application(doc)?))
}

/// `PATCH`: partial update, validated by the shared settings model.
pub async fn patch(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let patch = json_body(&body)?;
    // Validate here too, so a bad request never reaches a coreapp.
    wire::settings::ApplicationSettings::default().apply_patch(&patch)?;
    let doc = proto::core::JsonDoc { json: patch.to_string() };
    state.cores.any().patch_settings(doc).await?;
    Ok(OnPrem::empty())
}

/// `DELETE`: back to the defaults.
pub async fn reset(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    state.cores.any().reset_settings(proto::core::Empty {}).await?;
    Ok(OnPrem::empty())
}

/// `GET .../media/providers`: the providers, secrets masked.
pub async fn providers(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let doc = state.cores.any().list_media_providers(proto::core::Empty {}).await?;
    let list = crate::coreapps::json_of(&doc, "media providers")?;
    Ok(OnPrem::ok(json!({"settings": {"application": {"media": {"providers": list}}}})))
}

/// `POST .../media/providers`: an array holding one provider; one of the
/// same name is replaced.
pub async fn add_provider(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let body = json_body(&body)?;
    wire::providers::parse(&body)?;
    let doc = proto::core::JsonDoc { json: body.to_string() };
    state.cores.any().put_media_provider(doc).await?;
    Ok(OnPrem::empty())
}

pub async fn delete_provider(State(state): State<AppState>, who: Principal, Path(name): Path<String>) -> Reply {
    who.require(Role::Admin)?;
    state.cores.any().delete_media_provider(proto::core::Name { name }).await?;
    Ok(OnPrem::empty())
}

/// `POST /v1/settings/backup {"password"}`: the encrypted settings.
pub async fn backup(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let password = required_str(&json_body(&body)?, "password")?.to_string();
    let reply = state.cores.any().backup(proto::core::BackupRequest { password }).await?;
    Ok(OnPrem::ok(json!({"settings": {"data": reply.data}})))
}

/// `POST /v1/settings/restore {"password","data"}`.
pub async fn restore(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let body = json_body(&body)?;
    let password = required_str(&body, "password")?.to_string();
    let data = required_str(&body, "data")?.to_string();
    state.cores.any().restore(proto::core::RestoreRequest { password, data }).await?;
    // A restored certificate is served at once here, and by the other
    // webapps at their next check.
    if let Some(tls) = &state.tls {
        tls.refresh(&state.cores).await;
    }
    Ok(OnPrem::empty())
}
