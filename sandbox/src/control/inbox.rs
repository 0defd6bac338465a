//! `/_sandbox/inbox`: a webhook receiver that records what it is sent, so a
//! dev stack can point its webhook URL here and show the events without a
//! server of its own.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};
use tracing::info;

use crate::state::AppState;
use crate::store::{InboxRecord, now_ms};

/// `POST /_sandbox/inbox[/…]`: records headers and body, answers 200.
pub(crate) async fn receive(State(state): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let body =
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    info!(path = uri.path(), "inbox received a webhook");
    state.store.push_inbox(InboxRecord {
        received_at: now_ms(),
        path: uri.path().to_owned(),
        headers: header_map(&headers),
        body,
    });
    StatusCode::OK
}

/// `GET /_sandbox/inbox`: `{"data":[{"received_at","path","headers","body"}]}`,
/// oldest first. With `hub.mode=subscribe` it answers Meta's verification
/// handshake instead: the challenge when `hub.verify_token` is the sandbox's.
pub(crate) async fn list(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Response {
    if let Some(mode) = query.get("hub.mode") {
        let given = query.get("hub.verify_token").map(String::as_bytes).unwrap_or_default();
        let token_ok = bool::from(subtle::ConstantTimeEq::ct_eq(given, state.config.verify_token.as_bytes()));
        return match query.get("hub.challenge") {
            Some(challenge) if mode == "subscribe" && token_ok => challenge.clone().into_response(),
            _ => StatusCode::FORBIDDEN.into_response(),
        };
    }
    Json(json!({ "data": state.store.inbox() })).into_response()
}

/// `DELETE /_sandbox/inbox`: forget every received webhook.
pub(crate) async fn clear(State(state): State<AppState>) -> StatusCode {
    state.store.clear_inbox();
    StatusCode::NO_CONTENT
}

fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn repeated_headers_are_joined() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append("content-type", HeaderValue::from_static("application/json"));
        let map = header_map(&headers);
        assert_eq!(map["x-a"], "1, 2");
        assert_eq!(map["content-type"], "application/json");
    }
}
