//! `/v1/messages`: sending, and marking a user's message read.

use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;

use super::json_body;
use crate::AppState;
use crate::auth::Principal;
use crate::coreapps::to_api_error;
use crate::envelope::{OnPrem, Reply};

/// Other coreapps tried when the one owning a recipient cannot be reached.
const MAX_REROUTES: usize = 2;

/// Validates, hands the message to the coreapp owning the recipient, and
/// answers 201 with our id once it is durably queued.
pub async fn send(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require_user()?;
    state.limits.messages()?;
    let body = json_body(&body)?;
    let out = wire::messages::validate(&body)?;
    let request =
        proto::core::SendMessageRequest { payload_json: out.payload.to_string(), recipient: out.recipient.clone() };
    // A coreapp that cannot be reached never saw the message: the next one
    // in line takes it. Any other failure is answered as it is, since the
    // message may have been stored.
    let mut avoid = Vec::new();
    let reply = loop {
        let (node, mut client) = state.cores.for_recipient(&out.recipient, &avoid);
        match client.send_message(request.clone()).await {
            Err(status) if crate::coreapps::not_delivered(&status) && avoid.len() < MAX_REROUTES => {
                let Some(node) = node else { break Err(status) };
                tracing::warn!(%node, "coreapp unreachable; sending the message through another");
                state.cores.mark_down(node);
                avoid.push(node);
            }
            other => break other,
        }
    };
    let reply = reply.map_err(to_api_error)?;
    Ok(OnPrem::created(json!({"messages": [{"id": reply.into_inner().message_id}]})))
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
    state.cores.any().mark_read(proto::core::MessageId { message_id: id }).await.map_err(to_api_error)?;
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
    let deleted = state.cores.any().purge_messages(request).await.map_err(to_api_error)?.into_inner().deleted;
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
