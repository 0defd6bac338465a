//! `POST /_sandbox/templates/status`: change a template's status as Meta's
//! review would (approve, reject, pause, disable, …), with the
//! `message_template_status_update` webhook.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use serde_json::{Value, json};

use super::{ControlError, json_body};
use crate::state::AppState;
use crate::templates::{self, STATUSES};

/// Body: `{"id"}` or `{"name","language"}`, plus `"status"` and optional `"reason"`.
pub(crate) async fn set_status(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ControlError> {
    let body = json_body(&body)?;
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    let status =
        text("status").map(str::to_ascii_uppercase).ok_or_else(|| ControlError::bad_request("status is required"))?;
    if !STATUSES.contains(&status.as_str()) {
        return Err(ControlError::bad_request(format!("status must be one of {}", STATUSES.join(", "))));
    }
    let template = match (text("id"), text("name")) {
        (Some(id), _) => state.templates.by_id(id),
        (None, Some(name)) => {
            let language =
                text("language").ok_or_else(|| ControlError::bad_request("language is required with name"))?;
            state.templates.find(name, language)
        }
        (None, None) => return Err(ControlError::bad_request("give the template's id, or its name and language")),
    }
    .ok_or_else(|| ControlError::not_found("no such template"))?;
    let default_reason = if status == "REJECTED" { "INVALID_FORMAT" } else { "NONE" };
    let reason = text("reason").unwrap_or(default_reason);
    let updated = templates::set_status(&state, &template.id, &status, reason)
        .ok_or_else(|| ControlError::not_found("no such template"))?;
    Ok(Json(json!(updated.fields())))
}
