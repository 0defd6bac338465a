//! `GET /_sandbox/sent`: what the business sent, as the Cloud payloads received.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// `{"data":[{"phone_number_id","wamid","to","recipient","user_id","phone","type","payload","received_at"}]}`,
/// oldest first: what the business sent (`to` normalised, or the
/// `recipient` BSUID) and the user it reached (`user_id`, `phone`).
/// Mark-as-read calls are listed too, with `wamid: null`. Filters:
/// `phone_number_id`, `to` (wa_id), `recipient`, `user_id`, `phone`, `type`,
/// `wamid`; `limit` keeps the newest.
pub(crate) async fn list(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    let want = |key: &str| query.get(key).map(String::as_str);
    let records = state.store.sent(
        |record| {
            want("phone_number_id").is_none_or(|id| record.phone_number_id == id)
                && want("to").is_none_or(|to| record.to.as_deref() == Some(to.trim_start_matches('+')))
                && want("recipient").is_none_or(|id| record.recipient.as_deref() == Some(id))
                && want("user_id").is_none_or(|id| record.user_id.as_deref() == Some(id))
                && want("phone").is_none_or(|phone| record.phone.as_deref() == Some(phone.trim_start_matches('+')))
                && want("type").is_none_or(|kind| record.kind.as_deref() == Some(kind))
                && want("wamid").is_none_or(|wamid| record.wamid.as_deref() == Some(wamid))
        },
        limit,
    );
    Json(json!({ "data": records }))
}

/// `DELETE /_sandbox/sent`: forget every recorded send.
pub(crate) async fn clear(State(state): State<AppState>) -> StatusCode {
    state.store.clear_sent();
    StatusCode::NO_CONTENT
}
