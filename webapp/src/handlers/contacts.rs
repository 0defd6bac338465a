//! `/v1/contacts`: number checks and identity keys.

use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;

use super::{json_body, required_str};
use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{OnPrem, Reply};

/// `POST /v1/contacts` `{"blocking","contacts":[...],"force_check"}`.
pub async fn check(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require_user()?;
    let body = json_body(&body)?;
    match body.get("blocking") {
        None | Some(Value::Null) => {}
        Some(Value::String(b)) if b == "wait" || b == "no_wait" => {}
        Some(other) => return Err(ApiError::invalid_value("blocking", other).into()),
    }
    let force_check = match body.get("force_check") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(ApiError::invalid_value("force_check", other).into()),
    };
    let contacts = match body.get("contacts") {
        None | Some(Value::Null) => return Err(ApiError::missing("contacts").into()),
        Some(Value::Array(list)) if list.len() > wire::messages::MAX_CONTACTS => {
            return Err(wire::messages::too_many_contacts(list.len()).into());
        }
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(other) => return Err(ApiError::invalid_value("contacts", other).into()),
    };
    let mut inputs = Vec::with_capacity(contacts.len());
    for c in contacts {
        match c {
            Value::String(s) => inputs.push(s.clone()),
            Value::Number(n) => inputs.push(n.to_string()),
            other => return Err(ApiError::invalid_value("contacts", other).into()),
        }
    }
    let request = proto::core::CheckContactsRequest { contacts: inputs, force_check };
    let results = proto::contacts::results_from_proto(state.cores.any().check_contacts(request).await?)?;
    let results: Vec<Value> = results.iter().map(|r| r.to_onprem_json()).collect();
    Ok(OnPrem::ok(json!({"contacts": results})))
}

/// `GET /v1/contacts/{wa_id}/identity`.
pub async fn identity(State(state): State<AppState>, who: Principal, Path(wa_id): Path<String>) -> Reply {
    who.require_user()?;
    let key = proto::contacts::identity_from_proto(state.cores.any().get_identity(proto::core::WaId { wa_id }).await?);
    Ok(OnPrem::ok(json!({"contacts": key.to_onprem_json()})))
}

/// `PUT /v1/contacts/{wa_id}/identity` `{"hash"}`.
pub async fn acknowledge(
    State(state): State<AppState>,
    who: Principal,
    Path(wa_id): Path<String>,
    body: Bytes,
) -> Reply {
    who.require_user()?;
    let body = json_body(&body)?;
    let hash = required_str(&body, "hash")?.to_string();
    let request = proto::core::AcknowledgeIdentityRequest { wa_id, hash };
    state.cores.any().acknowledge_identity(request).await?;
    Ok(OnPrem::empty())
}
