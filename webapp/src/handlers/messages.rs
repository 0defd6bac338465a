//! `/v1/messages`: sending, and marking a user's message read.

use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;

use super::json_body;
use crate::AppState;
use crate::auth::Principal;
use crate::core::to_api_error;
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
            Err(status) if crate::core::not_delivered(&status) && avoid.len() < MAX_REROUTES => {
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
