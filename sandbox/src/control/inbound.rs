//! `POST /_sandbox/inbound`: a simulated WhatsApp user sends the business a
//! message, which reaches the business as a signed `messages` webhook.
//!
//! Body: `{"from":"<wa_id>","phone_number_id":"…"?,"name":"…"?,"type":"text","text":{"body":"hi"}}`.
//! `phone_number_id` defaults to the first hosted number, `name` to
//! "Sandbox User", `type` to `text`. Answers `{"id":"<wamid>"}`. Only text
//! messages so far.
//!
//! Each webhook is delivered (and retried) on its own, so two messages sent
//! in quick succession can reach a failing receiver out of order, as on Cloud.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::{Instrument as _, info, info_span, warn};

use super::ControlError;
use crate::state::AppState;
use crate::store::InboundRecord;
use crate::wamid;
use crate::webhooks::Outcome;
use crate::webhooks::payload::{Contact, Message, Notification, Profile, timestamp_now};

const DEFAULT_NAME: &str = "Sandbox User";

#[derive(Debug, Deserialize)]
struct InboundRequest {
    from: String,
    phone_number_id: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<TextBody>,
}

#[derive(Debug, Deserialize)]
struct TextBody {
    body: String,
}

pub(crate) async fn post(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ControlError> {
    let request: InboundRequest = serde_json::from_slice(&body)
        .map_err(|err| ControlError::bad_request(format!("invalid request body: {err}")))?;

    if request.from.is_empty() || !request.from.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ControlError::bad_request("from must be the user's wa_id: digits only, no '+'"));
    }
    let phone_number_id = match request.phone_number_id {
        Some(id) if state.hosts(&id) => id,
        Some(id) => {
            return Err(ControlError::bad_request(format!(
                "phone_number_id {id:?} is not hosted by this sandbox (hosted: {})",
                state.config.phone_number_ids.join(", ")
            )));
        }
        None => state.config.phone_number_ids[0].clone(),
    };
    let name = request.name.filter(|name| !name.trim().is_empty()).unwrap_or_else(|| DEFAULT_NAME.to_owned());

    let kind = request.kind.unwrap_or_else(|| "text".to_owned());
    let content = match kind.as_str() {
        "text" => {
            let text = request.text.ok_or_else(|| ControlError::bad_request("text.body is required"))?;
            if text.body.is_empty() {
                return Err(ControlError::bad_request("text.body must not be empty"));
            }
            let mut content = Map::new();
            content.insert("text".into(), json!({ "body": text.body }));
            content
        }
        other => {
            return Err(ControlError::bad_request(format!(
                "inbound type {other:?} is not supported yet (supported: text)"
            )));
        }
    };

    let id = wamid::user(&request.from);
    let mut value = crate::webhooks::payload::Value::new(&phone_number_id);
    value.contacts.push(Contact { profile: Profile { name }, wa_id: request.from.clone() });
    value.messages.push(Message {
        from: request.from.clone(),
        id: id.clone(),
        timestamp: timestamp_now(),
        content,
        kind,
    });
    let notification = Notification::messages(&state.config.waba_id, value);

    state.store.push_inbound(InboundRecord { phone_number_id: phone_number_id.clone(), wamid: id.clone() });
    info!(%phone_number_id, from = %request.from, wamid = %id, "inbound message");

    if state.webhooks.enabled() {
        let signed = state.webhooks.sign(&notification).map_err(|err| ControlError {
            status: http::StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("{err:#}"),
        })?;
        let webhooks = state.webhooks.clone();
        state.tasks.spawn(
            "inbound webhook",
            async move {
                if let Outcome::Dropped { .. } = webhooks.deliver(&signed).await {
                    warn!("inbound message webhook dropped");
                }
            }
            .instrument(info_span!("inbound", wamid = %id)),
        );
    } else {
        info!("no webhook URL configured: the inbound message goes nowhere");
    }

    Ok(Json(json!({ "id": id })))
}
