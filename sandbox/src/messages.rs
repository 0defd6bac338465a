//! `POST /{version}/{phone_number_id}/messages`: sends, mark-as-read, typing indicators.

pub mod content;
pub mod recipient;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::Method;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{debug, info};

use crate::graph::GraphError;
use crate::lifecycle::{self, Outgoing};
use crate::state::AppState;
use crate::store::{SentRecord, now_ms};
use crate::wamid;

/// Handles every method on the `messages` edge; only POST is supported.
pub(crate) async fn edge(
    State(state): State<AppState>,
    method: Method,
    Path((_version, phone_number_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, GraphError> {
    if method != Method::POST || !state.hosts(&phone_number_id) {
        return Err(GraphError::unsupported_request(&method, &phone_number_id));
    }
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|_| GraphError::invalid_parameter("Request body must be a JSON object."))?;
    let Some(fields) = payload.as_object() else {
        return Err(GraphError::invalid_parameter("Request body must be a JSON object."));
    };

    match fields.get("messaging_product") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("messaging_product")),
        Some(Value::String(product)) if product == "whatsapp" => {}
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
            )));
        }
    }

    if fields.get("status").is_some_and(|status| !status.is_null()) {
        return mark_read(&state, &phone_number_id, payload);
    }
    send(&state, &phone_number_id, payload)
}

/// A message send: validate, answer with a wamid, start its status lifecycle.
fn send(state: &AppState, phone_number_id: &str, payload: Value) -> Result<Response, GraphError> {
    let to = match payload.get("to") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("to")),
        Some(Value::String(to)) => to.clone(),
        Some(_) => return Err(GraphError::invalid_parameter("Param to must be a string.")),
    };
    let wa_id = recipient::normalise(&to)?;
    let kind = content::check(&payload)?;
    let biz_opaque_callback_data = match payload.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(data)) if data.chars().count() <= 512 => Some(data.clone()),
        Some(_) => {
            return Err(GraphError::invalid_parameter(
                "Param biz_opaque_callback_data must be a string of at most 512 characters.",
            ));
        }
    };

    let wamid = wamid::business(&wa_id);
    let category = content::pricing_category(&kind, &payload);
    info!(%phone_number_id, %wa_id, %wamid, %kind, "message accepted");

    let answer = SendAnswer {
        messaging_product: "whatsapp",
        contacts: [AnswerContact { input: to, wa_id: wa_id.clone() }],
        messages: [AnswerMessage {
            id: wamid.clone(),
            // Only template sends carry message_status (template pacing).
            message_status: (kind == "template").then_some("accepted"),
        }],
    };

    state.store.push_sent(SentRecord {
        phone_number_id: phone_number_id.to_owned(),
        wamid: Some(wamid.clone()),
        payload,
        received_at: now_ms(),
    });

    lifecycle::start(
        state,
        Outgoing {
            phone_number_id: phone_number_id.to_owned(),
            wamid,
            recipient_id: wa_id.clone(),
            category,
            biz_opaque_callback_data,
        },
    );

    Ok(Json(answer).into_response())
}

/// The 200 answer to a send, in Cloud's key order.
#[derive(Serialize)]
struct SendAnswer {
    messaging_product: &'static str,
    contacts: [AnswerContact; 1],
    messages: [AnswerMessage; 1],
}

#[derive(Serialize)]
struct AnswerContact {
    input: String,
    wa_id: String,
}

#[derive(Serialize)]
struct AnswerMessage {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_status: Option<&'static str>,
}

/// `{"status":"read","message_id":…}`, optionally with a typing indicator.
fn mark_read(state: &AppState, phone_number_id: &str, payload: Value) -> Result<Response, GraphError> {
    match payload.get("status") {
        Some(Value::String(status)) if status == "read" => {}
        other => {
            return Err(GraphError::invalid_parameter(format!(
                "Param status must be one of {{READ}} - got {}.",
                other.unwrap_or(&Value::Null)
            )));
        }
    }
    let message_id = match payload.get("message_id") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("message_id")),
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => {
            return Err(GraphError::invalid_parameter("Param message_id must be a non-empty string."));
        }
    };
    match payload.get("typing_indicator") {
        None | Some(Value::Null) => {}
        Some(indicator) if indicator.get("type") == Some(&json!("text")) => {}
        Some(_) => {
            return Err(GraphError::invalid_parameter("Param typing_indicator['type'] must be one of {TEXT}."));
        }
    }
    if !state.store.is_inbound(phone_number_id, &message_id) {
        // Cloud's exact answer for foreign ids is unconfirmed; accept and say so.
        debug!(%message_id, "mark-as-read for a message no simulated user sent");
    }
    info!(%phone_number_id, %message_id, "marked as read");
    state.store.push_sent(SentRecord {
        phone_number_id: phone_number_id.to_owned(),
        wamid: None,
        payload,
        received_at: now_ms(),
    });
    Ok(Json(json!({ "success": true })).into_response())
}
