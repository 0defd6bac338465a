//! `GET /v1/health` (any user, or the API key).

use axum::extract::State;
use serde_json::json;
use wire::users::Role;

use crate::AppState;
use crate::auth::Principal;
use crate::core::to_api_error;
use crate::envelope::{OnPrem, Reply};

pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Api)?;
    let h = state.cores.any().health(proto::core::Empty {}).await.map_err(to_api_error)?.into_inner();
    let mut health = json!({"gateway_status": h.gateway_status});
    if !h.errors.is_empty() {
        let errors: Vec<_> = h
            .errors
            .iter()
            .map(|e| {
                let code = wire::ErrorCode::from_number(e.code);
                json!({"code": e.code, "title": code.map(|c| c.title()).unwrap_or("Error"), "details": e.details})
            })
            .collect();
        health["errors"] = json!(errors);
    }
    Ok(OnPrem::ok(json!({"health": health})))
}
