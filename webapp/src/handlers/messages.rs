//! `POST /v1/messages`.

use axum::extract::State;
use bytes::Bytes;
use serde_json::json;

use super::json_body;
use crate::AppState;
use crate::auth::Principal;
use crate::core::to_api_error;
use crate::envelope::{OnPrem, Reply};

/// Validates, hands the message to the coreapp owning the recipient, and
/// answers 201 with our id once it is durably queued.
pub async fn send(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require_user()?;
    let body = json_body(&body)?;
    let out = wire::messages::validate(&body)?;
    let request =
        proto::core::SendMessageRequest { payload_json: out.payload.to_string(), recipient: out.recipient.clone() };
    let reply = state.cores.for_recipient(&out.recipient).send_message(request).await.map_err(to_api_error)?;
    Ok(OnPrem::created(json!({"messages": [{"id": reply.into_inner().message_id}]})))
}
