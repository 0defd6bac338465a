//! `GET /_sandbox/clock` and `POST /_sandbox/clock/advance`: the sandbox
//! clock that the 24-hour window, media expiry, download URLs, the pair rate
//! limit and fault durations run on.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use serde_json::{Value, json};
use tracing::info;

use super::{ControlError, json_body};
use crate::state::AppState;

/// `{"now": <unix s>, "now_ms": <unix ms>, "offset_ms": <ahead of real time>}`.
pub(crate) async fn get(State(state): State<AppState>) -> Json<Value> {
    Json(show(&state))
}

fn show(state: &AppState) -> Value {
    json!({
        "now": state.clock.now_secs(),
        "now_ms": state.clock.now_ms(),
        "offset_ms": u64::try_from(state.clock.offset().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Body: any of `days`, `hours`, `minutes`, `seconds`, `ms` (non-negative
/// numbers, summed). Answers like `GET`.
pub(crate) async fn advance(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ControlError> {
    let body = json_body(&body)?;
    let body = body.as_object().ok_or_else(|| ControlError::bad_request("the body must be a JSON object"))?;
    let mut total = 0.0;
    for (key, value) in body {
        let unit = match key.as_str() {
            "days" => 86_400_000.0,
            "hours" => 3_600_000.0,
            "minutes" => 60_000.0,
            "seconds" => 1000.0,
            "ms" => 1.0,
            other => {
                return Err(ControlError::bad_request(format!(
                    "unknown key {other:?}: use days, hours, minutes, seconds, ms"
                )));
            }
        };
        let amount = value
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| ControlError::bad_request(format!("{key} must be a non-negative number")))?;
        total += amount * unit;
    }
    if total == 0.0 {
        return Err(ControlError::bad_request("say how far: {\"hours\": 25}, {\"days\": 7}, {\"seconds\": 6}, …"));
    }
    if total > 3650.0 * 86_400_000.0 {
        return Err(ControlError::bad_request("at most ten years at a time"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    state.clock.advance(Duration::from_millis(total as u64));
    state.console.changed("clock");
    info!(by_ms = total as u64, "clock advanced");
    Ok(Json(show(&state)))
}
