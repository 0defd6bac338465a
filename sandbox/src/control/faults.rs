//! `/_sandbox/faults`: install, list and remove faults on the Graph API
//! (see `crate::faults` for the shape).

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use super::{ControlError, json_body};
use crate::state::AppState;

/// `GET /_sandbox/faults`: `{"data":[…]}` with what is left of each.
pub(crate) async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "data": state.faults.list(state.clock.now_ms()) }))
}

/// `POST /_sandbox/faults`: one fault, or `{"faults":[…]}` for several; 201 with what was installed.
pub(crate) async fn add(State(state): State<AppState>, body: Bytes) -> Result<(StatusCode, Json<Value>), ControlError> {
    let body = json_body(&body)?;
    let several = body.get("faults").is_some();
    let specs = match body.get("faults") {
        Some(Value::Array(list)) => list.clone(),
        Some(_) => return Err(ControlError::bad_request("faults must be an array")),
        None => vec![body],
    };
    let now = state.clock.now_ms();
    let mut added = Vec::new();
    for spec in &specs {
        // Validate all before installing any.
        state.faults.check(spec, now).map_err(ControlError::bad_request)?;
    }
    for spec in &specs {
        let fault = state.faults.add(spec, now).map_err(ControlError::bad_request)?;
        info!(id = %fault.id, "fault installed");
        added.push(fault);
    }
    let answer = if added.len() == 1 && !several { json!(added.remove(0)) } else { json!({ "data": added }) };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `DELETE /_sandbox/faults`: remove all.
pub(crate) async fn clear(State(state): State<AppState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

/// `DELETE /_sandbox/faults/{id}`.
pub(crate) async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ControlError> {
    if state.faults.remove(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ControlError::not_found(format!("no fault {id:?}")))
    }
}
