//! Webhooks on demand: `POST /_sandbox/status` (a status for a message the
//! business sent, e.g. a late `failed`) and `POST /_sandbox/webhook` (value
//! errors, or any change as given), for the failure payloads of the
//! fixtures that no rule produces by itself.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use serde_json::{Value, json};

use super::{ControlError, json_body};
use crate::lifecycle::{self, Addressee, Fate, Outgoing};
use crate::state::AppState;
use crate::store::SentRecord;
use crate::users::{DEFAULT_NAME, Shown};
use crate::webhooks::ItemChange;
use crate::webhooks::payload::{StatusKind, WebhookError};

/// Body: `{"id":"<wamid>","status":"sent|delivered|read|played|failed",
/// "error"?:{"code","details"?}}` (an error only with `failed`; default 131000).
pub(crate) async fn status(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ControlError> {
    let body = json_body(&body)?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ControlError::bad_request("id (a wamid) is required"))?;
    let record = state
        .store
        .sent_message(id)
        .ok_or_else(|| ControlError::not_found(format!("{id} is not a message the business sent")))?;
    let kind = match body.get("status").and_then(Value::as_str) {
        Some("sent") => StatusKind::Sent,
        Some("delivered") => StatusKind::Delivered,
        Some("read") => StatusKind::Read,
        Some("played") => StatusKind::Played,
        Some("failed") => StatusKind::Failed,
        _ => return Err(ControlError::bad_request("status must be one of sent, delivered, read, played, failed")),
    };
    let fate = match (kind, body.get("error")) {
        (StatusKind::Failed, error) => {
            let code = error
                .and_then(|e| e.get("code"))
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(131_000);
            let details = error
                .and_then(|e| e.get("details"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| crate::graph::codes::lookup(code).map_or("", |row| row.details).to_owned());
            Fate::Fail { code, details }
        }
        (_, Some(_)) => return Err(ControlError::bad_request("error goes with status failed only")),
        (_, None) => Fate::Deliver,
    };
    if !state.webhooks.enabled() {
        return Err(ControlError::conflict("no webhook URL is configured"));
    }
    let message = Outgoing {
        phone_number_id: record.phone_number_id.clone(),
        wamid: id.to_owned(),
        recipient: addressee(&state, &record),
        category: if record.kind.as_deref() == Some("template") { "utility" } else { "service" },
        free: record.kind.as_deref() != Some("template"),
        biz_opaque_callback_data: record
            .payload
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .map(str::to_owned),
        voice: false,
        fate,
    };
    let priced = matches!(kind, StatusKind::Sent | StatusKind::Delivered);
    let status = lifecycle::status(&state, &message, kind, priced);
    let shown = json!(status);
    state.console.status(id, shown.clone());
    let contact = lifecycle::contact(&message.recipient, kind);
    drop(state.webhooks.send(&record.phone_number_id, ItemChange::Status { status, contact }));
    Ok(Json(shown))
}

/// The user `record` went to, as a status shows them now: the phone when
/// the message went to the phone or the phone is shareable. A user who has
/// since changed number is shown as the record knew them.
fn addressee(state: &AppState, record: &SentRecord) -> Addressee {
    let by_phone = record.recipient.is_none();
    let index = state.number_index(&record.phone_number_id).unwrap_or(0);
    let parents = state.settings.get().parent_user_ids;
    match record.user_id.as_deref().and_then(|id| state.users.find_by_id(id)) {
        Some(user) => {
            let shared = by_phone || user.phone_shared(index, state.clock.now_ms());
            Addressee { user: user.shown(shared, parents), by_phone }
        }
        None => Addressee {
            user: Shown {
                phone: record.phone.clone().filter(|_| by_phone),
                user_id: record.user_id.clone().unwrap_or_default(),
                parent_user_id: None,
                username: None,
                name: DEFAULT_NAME.to_owned(),
            },
            by_phone,
        },
    }
}

/// Body, one of:
/// - `{"errors":[{"code","details"?}], "phone_number_id"?}`: a `messages`
///   change with `value.errors` (system, app or account errors);
/// - `{"field":"<field>","value":{…}}`: any change, value as given (for
///   `messages`, `messaging_product` and `metadata` are added if missing).
pub(crate) async fn webhook(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ControlError> {
    let body = json_body(&body)?;
    let phone_number_id = match body.get("phone_number_id").and_then(Value::as_str) {
        Some(id) if state.hosts(id) => id.to_owned(),
        Some(id) => return Err(ControlError::bad_request(format!("phone_number_id {id:?} is not hosted here"))),
        None => state.config.phone_number_ids[0].clone(),
    };
    if !state.webhooks.enabled() {
        return Err(ControlError::conflict("no webhook URL is configured"));
    }
    let change = if let Some(errors) = body.get("errors") {
        let list = errors
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| ControlError::bad_request("errors must be a non-empty array"))?;
        let mut out = Vec::new();
        for error in list {
            let code = error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| ControlError::bad_request("errors[].code must be a Cloud error code"))?;
            out.push(match error.get("details").and_then(Value::as_str) {
                Some(details) => WebhookError::new(code, details),
                None => WebhookError::with_default_details(code),
            });
        }
        ItemChange::Errors(out)
    } else {
        let field = body.get("field").and_then(Value::as_str).unwrap_or("messages").to_owned();
        let mut value =
            body.get("value").cloned().ok_or_else(|| ControlError::bad_request("give errors, or field and value"))?;
        let object = value.as_object_mut().ok_or_else(|| ControlError::bad_request("value must be an object"))?;
        if field == "messages" {
            let index = state.number_index(&phone_number_id).unwrap_or(0);
            object.entry("messaging_product").or_insert_with(|| json!("whatsapp"));
            object.entry("metadata").or_insert_with(
                || json!({"display_phone_number": state.display_numbers[index], "phone_number_id": phone_number_id}),
            );
        }
        ItemChange::Other { field, value }
    };
    drop(state.webhooks.send(&phone_number_id, change));
    Ok(Json(json!({ "success": true })))
}
