//! `GET /v1/health` (any user, or the API key): one coreapp's status, or
//! with several registered, each node's (the old multiconnect shape).

use axum::extract::State;
use serde_json::json;
use wire::users::Role;

use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{OnPrem, Reply};

pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Api)?;
    let h = state.cores.any().health(proto::core::Empty {}).await?;
    if h.nodes.len() <= 1 {
        let mut health = json!({"gateway_status": h.gateway_status});
        if !h.errors.is_empty() {
            health["errors"] = errors(&h.errors);
        }
        return Ok(OnPrem::ok(json!({"health": health})));
    }
    // Several coreapps: the old client's multiconnect shape, keyed by node.
    let mut health = serde_json::Map::new();
    for node in &h.nodes {
        let mut entry = json!({"gateway_status": node.gateway_status, "role": "coreapp"});
        if node.node_id == h.node_id && !h.errors.is_empty() {
            entry["errors"] = errors(&h.errors);
        }
        if !node.alive {
            entry["gateway_status"] = json!("disconnected");
            let silent = node.heartbeat_age_ms / 1000;
            let problem = proto::core::HealthError { code: 1011, details: format!("No heartbeat for {silent} s") };
            entry["errors"] = errors(std::slice::from_ref(&problem));
        }
        health.insert(node.node_id.clone(), entry);
    }
    Ok(OnPrem::ok(json!({"health": health})))
}

fn errors(list: &[proto::core::HealthError]) -> serde_json::Value {
    let items: Vec<_> = list
        .iter()
        .map(|e| {
            let code = wire::ErrorCode::from_number(e.code);
            json!({"code": e.code, "title": code.map(|c| c.title()).unwrap_or("Error"), "details": e.details})
        })
        .collect();
    json!(items)
}
