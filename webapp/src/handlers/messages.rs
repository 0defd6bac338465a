//! `/v1/messages`: sending, and marking a user's message read.

use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;

use super::json_body;
use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{OnPrem, Reply};

/// Validates, hands the message to the coreapp owning the recipient, and
/// answers 201 with our id once it is durably queued.
pub async fn send(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require_user()?;
    state.limits.messages()?;
    let body = json_body(&body)?;
    let out = wire::messages::validate(&body)?;
    // The id is chosen here, so a send whose answer was lost can be made
    // again through another coreapp without storing the message twice.
    let request = proto::core::SendMessageRequest {
        message: Some(proto::messages::to_proto(&out.message)),
        recipient: out.recipient,
        message_id: wire::ids::message_id(),
    };
    let reply = state.cores.send_message(request).await?;
    Ok(OnPrem::created(json!({"messages": [{"id": reply.message_id}]})))
}

/// `PUT /v1/messages/{id}` `{"status":"read"}`.
pub async fn update(State(state): State<AppState>, who: Principal, Path(id): Path<String>, body: Bytes) -> Reply {
    who.require_user()?;
    let body = json_body(&body)?;
    match body.get("status") {
        None | Some(Value::Null) => return Err(ApiError::missing("status").into()),
        Some(Value::String(s)) if s == "read" => {}
        Some(other) => return Err(ApiError::invalid_value("status", other).into()),
    }
    state.cores.any().mark_read(proto::core::MessageId { message_id: id }).await?;
    Ok(OnPrem::empty())
}

/// `DELETE /v1/messages` (admin) with exactly one of `{"age": <seconds>}`
/// or `{"before": <Unix seconds>}`: removes stored messages older than
/// that whose work is done (the old client's database purge).
pub async fn purge(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(wire::users::Role::Admin)?;
    let body = json_body(&body)?;
    let now_s = chrono::Utc::now().timestamp();
    let before_s = match (seconds(&body, "age")?, seconds(&body, "before")?) {
        (Some(age), None) => now_s - age,
        (None, Some(before)) => before,
        (None, None) => return Err(ApiError::missing("age").into()),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                wire::ErrorCode::ParameterNotRequired,
                "Only one of 'age' and 'before' may be given",
            )
            .into());
        }
    };
    let request = proto::core::PurgeRequest { before_ms: before_s.saturating_mul(1000) };
    let deleted = state.cores.any().purge_messages(request).await?.deleted;
    tracing::info!(deleted, before_s, "stored messages purged");
    Ok(OnPrem::empty())
}

/// A non-negative whole number of seconds, as a JSON number or a string.
fn seconds(body: &Value, name: &str) -> Result<Option<i64>, ApiError> {
    let parsed = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match parsed {
        Some(v) if v >= 0 => Ok(Some(v)),
        _ => Err(ApiError::invalid_value(name, &body[name])),
    }
}

/// `GET /v1/messages/{id}`: the old client routed it and answered with
/// `meta` only; so do we.
pub async fn get(who: Principal, Path(_id): Path<String>) -> Reply {
    who.require_user()?;
    Ok(OnPrem::empty())
}

/// `DELETE /v1/messages/{id}`: a no-op in the old client too (a sent
/// message cannot be recalled through the API).
pub async fn delete(who: Principal, Path(_id): Path<String>) -> Reply {
    who.require_user()?;
    Ok(OnPrem::empty())
}
