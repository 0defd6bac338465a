//! Cloud API webhooks: parsing the notification envelope into events, and
//! translating those events into the on-prem webhook shape
//! (`docs/cloud-api.md` §5, `docs/onprem-api.md` §6).

use serde_json::{Value, json};

use crate::identity::{self, UserFacts};
use crate::{ApiError, ErrorCode};

/// One event out of a Cloud notification, in the order Cloud listed it.
/// `user` is what the notification said about the user concerned (their
/// BSUID, phone when shared, username...), for the identity registry.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudEvent {
    /// A status of a message the business sent.
    Status { phone_number_id: String, status: Value, user: Option<UserFacts> },
    /// A message a user sent, with the sender's contact card when Cloud gave one.
    Message { phone_number_id: String, contact: Option<Value>, message: Value, user: Option<UserFacts> },
    /// A value-level error (system, app or account).
    Error { phone_number_id: String, error: Value },
    /// A user's new BSUID in the older `user_id_update` shape (a change of
    /// that field, `user_id: {previous, current}`).
    UserChange { phone_number_id: String, user: UserFacts },
}

impl CloudEvent {
    pub fn phone_number_id(&self) -> &str {
        match self {
            CloudEvent::Status { phone_number_id, .. }
            | CloudEvent::Message { phone_number_id, .. }
            | CloudEvent::Error { phone_number_id, .. }
            | CloudEvent::UserChange { phone_number_id, .. } => phone_number_id,
        }
    }
}

/// Why a notification body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("webhook body is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("webhook body is not a whatsapp_business_account notification")]
    NotWhatsApp,
}

/// Splits a notification into its events: every entry, every `messages`
/// change, every status, message and error, in order, and every
/// `user_id_update` change. Changes of other fields (template updates and
/// the like) carry no events for the business webhook and are skipped.
pub fn parse_notification(body: &[u8]) -> Result<Vec<CloudEvent>, ParseError> {
    let root: Value = serde_json::from_slice(body)?;
    if root.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
        return Err(ParseError::NotWhatsApp);
    }
    let mut events = Vec::new();
    let entries = root.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for entry in entries {
        let changes = entry.get("changes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for change in changes {
            let field = change.get("field").and_then(Value::as_str);
            if field != Some("messages") && field != Some("user_id_update") {
                continue;
            }
            let Some(value) = change.get("value") else {
                continue;
            };
            let pnid =
                value.pointer("/metadata/phone_number_id").and_then(Value::as_str).unwrap_or_default().to_string();
            let users = identity::facts(value);
            if field == Some("user_id_update") {
                for user in users.into_iter().filter(|u| u.previous_bsuid.is_some()) {
                    events.push(CloudEvent::UserChange { phone_number_id: pnid.clone(), user });
                }
                continue;
            }
            let contacts = value.get("contacts").and_then(Value::as_array);
            for status in array(value, "statuses") {
                let user = identity::recipient_of(&users, status).cloned();
                events.push(CloudEvent::Status { phone_number_id: pnid.clone(), status: status.clone(), user });
            }
            for message in array(value, "messages") {
                let key = |field: &str| message.get(field).and_then(Value::as_str);
                let (from_user_id, from) = (key("from_user_id"), key("from"));
                let contact = contacts.and_then(|cs| {
                    let by = |k: &str, v: Option<&str>| {
                        v.and_then(|v| cs.iter().find(|c| c.get(k).and_then(Value::as_str) == Some(v)))
                    };
                    by("user_id", from_user_id).or_else(|| by("wa_id", from)).or_else(|| cs.first()).cloned()
                });
                let user = identity::sender_of(&users, message).cloned();
                events.push(CloudEvent::Message {
                    phone_number_id: pnid.clone(),
                    contact,
                    message: message.clone(),
                    user,
                });
            }
            for error in array(value, "errors") {
                events.push(CloudEvent::Error { phone_number_id: pnid.clone(), error: error.clone() });
            }
        }
    }
    Ok(events)
}

/// The objects listed under `key`; anything else there (a number where a
/// status should be) carries no event and is skipped.
fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default().iter().filter(|v| v.is_object())
}

/// Cloud error code -> on-prem code, for `failed` statuses and errors the
/// business receives. Codes not listed become 500 (Generic error) with the
/// Cloud code and title kept in `details`.
#[rustfmt::skip]
const ERROR_MAP: &[(i64, u32, &str)] = &[
    (130429, 429, "Rate limit hit"),
    (130472, 472, "User's number is part of an experiment"),
    (131021, 1021, "Bad User"),
    (131026, 1026, "Receiver incapable"),
    (131047, 470, "Re-engagement message"),
    (131048, 471, "Spam rate limit hit"),
    (131051, 501, "Unknown message type"),
    (131052, 400, "Media download error"),
    (131053, 400, "Media download error"),
    (131000, 500, "Generic error"),
    (131062, 1009, "Parameter value is not valid"),
];

/// Cloud's synchronous error codes -> the on-prem API error a legacy client
/// expected from the old client for the same problem (sync send mode,
/// mark-as-read). Codes not listed become 1014 with Cloud's words in
/// `details`.
#[rustfmt::skip]
const SYNC_ERROR_MAP: &[(&[i64], ErrorCode)] = &[
    (&[4, 80007, 130429, 131048, 131056], ErrorCode::TooManyRequests),
    (&[131008], ErrorCode::ParameterMissing),
    (&[100, 131009, 135000, 131051, 131053, 131062], ErrorCode::ParameterInvalid),
    (&[131021], ErrorCode::BadUser),
    (&[131026, 131047], ErrorCode::ReceiverIncapable),
    (&[132000], ErrorCode::TemplateParamCountMismatch),
    (&[132001], ErrorCode::TemplateMissing),
    (&[132012], ErrorCode::TemplateParamFormatMismatch),
    (&[0, 3, 10, 190, 368, 131005, 131031], ErrorCode::AccessDenied),
];

/// Translates a synchronous Cloud error (the `error` object of a Graph
/// error response) into an on-prem API error.
pub fn onprem_api_error(cloud: &Value) -> ApiError {
    let code = cloud.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = cloud.get("message").and_then(Value::as_str).unwrap_or("Cloud API error");
    let mut details = format!("Cloud API error {code}: {message}");
    if let Some(d) = cloud.pointer("/error_data/details").and_then(Value::as_str) {
        details.push_str(". ");
        details.push_str(d);
    }
    let mapped = SYNC_ERROR_MAP
        .iter()
        .find(|(codes, _)| codes.contains(&code) || (200..300).contains(&code) && codes.contains(&10))
        .map(|(_, c)| *c)
        .unwrap_or(ErrorCode::InternalError);
    ApiError::new(mapped, details)
}

/// Translates a Cloud error object (`{code,title,message,error_data}`) to an
/// on-prem one (`{code,title,details,href}`).
pub fn onprem_error(cloud: &Value) -> Value {
    let cloud_code = cloud.get("code").and_then(Value::as_i64).unwrap_or(0);
    let cloud_title =
        cloud.get("title").or_else(|| cloud.get("message")).and_then(Value::as_str).unwrap_or("Unknown error");
    let cloud_details = cloud.pointer("/error_data/details").and_then(Value::as_str);
    let (code, title) = ERROR_MAP
        .iter()
        .find(|(c, _, _)| *c == cloud_code)
        .map(|(_, code, title)| (*code, *title))
        .unwrap_or((500, "Generic error"));
    let mut details = format!("Cloud API error {cloud_code}: {cloud_title}");
    if let Some(d) = cloud_details {
        details.push_str(". ");
        details.push_str(d);
    }
    json!({"code": code, "title": title, "details": details})
}

/// Translates a Cloud status into the on-prem `statuses[]` item, with the
/// message id replaced by ours and, when given, `recipient_id` being what
/// the business put in `to` (Cloud may name the user differently: by a
/// BSUID, or not at all when it withholds the phone).
pub fn onprem_status(status: &Value, message_id: &str, recipient: Option<&str>) -> Value {
    let name = status.get("status").and_then(Value::as_str).unwrap_or_default();
    let recipient = match recipient {
        Some(r) => json!(r),
        None => status.get("recipient_id").cloned().unwrap_or(Value::Null),
    };
    let mut out = json!({
        "id": message_id,
        "recipient_id": recipient,
        "status": name,
        "timestamp": status.get("timestamp").cloned().unwrap_or(Value::Null),
    });
    for key in ["conversation", "pricing", "biz_opaque_callback_data"] {
        if let Some(v) = status.get(key) {
            out[key] = v.clone();
        }
    }
    if let Some(errors) = status.get("errors").and_then(Value::as_array) {
        out["errors"] = Value::Array(errors.iter().map(onprem_error).collect());
    }
    if name == "failed" {
        // The old client's failed statuses carried these two legacy fields.
        out["type"] = json!("message");
        out["message"] = json!({"recipient_id": recipient});
    }
    out
}

/// A failed status for a message Cloud refused synchronously (no status
/// webhook will come for it), in the on-prem shape.
pub fn onprem_failed_status(message_id: &str, recipient: &str, timestamp_s: i64, error: &Value) -> Value {
    json!({
        "id": message_id,
        "recipient_id": recipient,
        "status": "failed",
        "timestamp": timestamp_s.to_string(),
        "type": "message",
        "message": {"recipient_id": recipient},
        "errors": [error],
    })
}

/// What inbound translation needs from the coreapp: our ids for the Cloud
/// ids a user's message refers to.
pub trait InboundIds {
    /// Our id for a message we sent, by its wamid (replies, reactions).
    fn message(&mut self, wamid: &str) -> Option<String>;
    /// Our media id for a media object a user sent (the coreapp records it).
    fn media(&mut self, kind: &str, media: &Value) -> String;
}

const MEDIA_KINDS: &[&str] = &["image", "audio", "video", "document", "sticker"];

/// Cloud gives `sha256` in base64 in webhooks; the old client's webhooks
/// (and Cloud's own media lookup) carry hex. `None` unless `s` is a base64
/// SHA-256.
pub fn sha256_base64_to_hex(s: &str) -> Option<String> {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(bytes) if bytes.len() == 32 => Some(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        _ => None,
    }
}

/// A SHA-256 as Cloud gives it, in base64 (webhooks) or hex (the media
/// lookup), as lower-case hex; `None` unless it is one of those.
pub fn sha256_to_hex(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(s.to_ascii_lowercase());
    }
    sha256_base64_to_hex(s)
}

fn sha256_hex(v: &Value) -> Value {
    v.as_str().and_then(sha256_base64_to_hex).map(Value::String).unwrap_or_else(|| v.clone())
}

/// Translates a user's message into the on-prem `{"contacts","messages"}`
/// webhook, with the message id replaced by ours:
/// - media ids become ours; `audio` marked `voice` becomes the on-prem
///   `voice` type; `sha256` becomes hex;
/// - `context.id` and `reaction.message_id` naming a message we sent
///   become our ids;
/// - a number change carries `new_wa_id` (and Cloud's `wa_id`);
/// - `unsupported` becomes the on-prem `unknown` with error 501;
/// - message-level errors are mapped to on-prem codes.
pub fn onprem_inbound(contact: Option<&Value>, message: &Value, message_id: &str, ids: &mut dyn InboundIds) -> Value {
    // Only objects are messages; anything else becomes an empty one rather
    // than a panic on the first field written.
    let mut msg = if message.is_object() { message.clone() } else { json!({}) };
    msg["id"] = json!(message_id);
    let kind = msg.get("type").and_then(Value::as_str).unwrap_or_default().to_string();

    if MEDIA_KINDS.contains(&kind.as_str())
        && let Some(media) = message.get(&kind).filter(|m| m.is_object())
    {
        let voice = kind == "audio" && media.get("voice").and_then(Value::as_bool) == Some(true);
        let out_kind = if voice { "voice" } else { kind.as_str() };
        let mut out = json!({"id": ids.media(out_kind, media)});
        for key in ["mime_type", "caption", "filename", "animated"] {
            if let Some(v) = media.get(key) {
                out[key] = v.clone();
            }
        }
        if let Some(sha) = media.get("sha256") {
            out["sha256"] = sha256_hex(sha);
        }
        if let Some(map) = msg.as_object_mut() {
            map.remove(&kind);
            map.insert("type".into(), json!(out_kind));
            map.insert(out_kind.into(), out);
        }
    }
    if let Some(id) = message.pointer("/context/id").and_then(Value::as_str)
        && let Some(ours) = ids.message(id)
    {
        msg["context"]["id"] = json!(ours);
    }
    if kind == "reaction"
        && let Some(id) = message.pointer("/reaction/message_id").and_then(Value::as_str)
        && let Some(ours) = ids.message(id)
    {
        msg["reaction"]["message_id"] = json!(ours);
    }
    if kind == "system"
        && let Some(new) = message.pointer("/system/wa_id").or_else(|| message.pointer("/system/new_wa_id"))
    {
        msg["system"]["new_wa_id"] = new.clone();
    }
    if kind == "unsupported" {
        msg["type"] = json!("unknown");
        if let Some(map) = msg.as_object_mut() {
            map.remove("unsupported");
        }
        if msg.get("errors").is_none() {
            msg["errors"] = json!([{"code": 131051, "title": "Message type unknown"}]);
        }
    }
    if let Some(errors) = message.get("errors").and_then(Value::as_array) {
        msg["errors"] = Value::Array(errors.iter().map(onprem_error).collect());
    } else if kind == "unsupported" {
        let errors: Vec<Value> =
            msg["errors"].as_array().map(|e| e.iter().map(onprem_error).collect()).unwrap_or_default();
        msg["errors"] = Value::Array(errors);
    }
    let mut out = json!({"messages": [msg]});
    if let Some(c) = contact {
        let mut card = json!({"wa_id": c.get("wa_id").cloned().unwrap_or(Value::Null)});
        if let Some(p) = c.get("profile") {
            card["profile"] = p.clone();
        }
        out["contacts"] = json!([card]);
    }
    out
}

/// How the business knows a user: the identifier of `from`, `wa_id` and
/// `recipient_id` (the phone, or a stand-in or BSUID when Cloud withholds
/// the phone), and the BSUID and username when the `identity.user_fields`
/// setting asks for them.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub identifier: &'a str,
    pub user_id: Option<&'a str>,
    pub username: Option<&'a str>,
}

/// Names the sender of an on-prem message webhook (what [`onprem_inbound`]
/// made) the way the business knows them: `from` and the contact's `wa_id`
/// become the identifier; Cloud's BSUID fields and the username leave the
/// message and the profile, and come back as `user_id` and `username` on
/// the contact only when asked for.
pub fn present_sender(out: &mut Value, who: &Presented<'_>) {
    if let Some(msg) = out.pointer_mut("/messages/0").and_then(Value::as_object_mut) {
        msg.insert("from".into(), json!(who.identifier));
        msg.remove("from_user_id");
        msg.remove("from_parent_user_id");
    }
    if let Some(card) = out.pointer_mut("/contacts/0").and_then(Value::as_object_mut) {
        card.insert("wa_id".into(), json!(who.identifier));
        if let Some(profile) = card.get_mut("profile").and_then(Value::as_object_mut) {
            profile.remove("username");
        }
        if let Some(id) = who.user_id {
            card.insert("user_id".into(), json!(id));
        }
        if let Some(name) = who.username {
            card.insert("username".into(), json!(name));
        }
    }
}

/// The old client's `system` message telling that the user it knew as
/// `from` is now `to`, in the on-prem webhook shape (the contact card is the
/// user under the identifier the business had).
pub fn user_changed_number(message_id: &str, from: &str, to: &str, name: Option<&str>, timestamp: &str) -> Value {
    let who = name.unwrap_or("user");
    let mut card = json!({"wa_id": from});
    if let Some(name) = name {
        card["profile"] = json!({"name": name});
    }
    json!({
        "contacts": [card],
        "messages": [{
            "from": from,
            "id": message_id,
            "system": {
                "body": format!("User {who} changed from {from} to {to}"),
                "new_wa_id": to,
                "type": "user_changed_number",
            },
            "timestamp": timestamp,
            "type": "system",
        }],
    })
}

#[cfg(test)]
mod tests;
