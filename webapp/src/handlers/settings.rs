//! `/v1/settings/application` (admin).

use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::json;
use wire::users::Role;

use super::{json_body, required_str};
use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{OnPrem, Reply};

pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let reply = state.cores.any().get_settings(proto::core::Empty {}).await?;
    let (settings, wa_id) = proto::settings::from_proto(reply)?;
    Ok(OnPrem::ok(json!({"settings": {"application": settings.to_onprem_json(wa_id.as_deref())}})))
}

/// `PATCH`: partial update. The body is read and checked here, so a bad
/// request never reaches a coreapp; the typed patch is what crosses.
pub async fn patch(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let patch = wire::settings::SettingsPatch::parse(&json_body(&body)?)?;
    state.cores.any().patch_settings(proto::settings::patch_to_proto(&patch)).await?;
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
    let listed = state.cores.any().list_media_providers(proto::core::Empty {}).await?;
    let list = listed
        .providers
        .into_iter()
        .map(|p| proto::providers::from_proto(p).map(|p| p.to_onprem_masked()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OnPrem::ok(json!({"settings": {"application": {"media": {"providers": list}}}})))
}

/// `POST .../media/providers`: an array holding one provider; one of the
/// same name is replaced.
pub async fn add_provider(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let provider = wire::providers::parse(&json_body(&body)?)?;
    state.cores.any().put_media_provider(proto::providers::to_proto(&provider)).await?;
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
