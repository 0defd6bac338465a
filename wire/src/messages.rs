//! `POST /v1/messages`: validation of the on-prem payload, exactly as the old
//! client answered, and its translation to a Cloud API send.
//!
//! The webapp validates (so a bad request never crosses gRPC); the coreapp
//! stores the validated on-prem object and translates it when sending.

use serde_json::{Map, Value, json};

use crate::{ApiError, ErrorCode};

/// Longest text body the old client accepted.
pub const MAX_TEXT_LEN: usize = 4096;

/// Every message type the on-prem API knew; a payload may carry only the
/// object of its own type.
const TYPES: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "template",
    "hsm",
    "reaction",
];

/// The types this release sends; the rest answer a clear 1009.
const SUPPORTED: &[&str] = &["text"];

/// A validated outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The recipient as digits only (the WhatsApp id).
    pub recipient: String,
    /// The on-prem message object, normalised (`type` filled in, `to` as
    /// given), as it will be stored.
    pub payload: Value,
}

/// Validates a `POST /v1/messages` body.
pub fn validate(body: &Value) -> Result<Outbound, ApiError> {
    let obj = body.as_object().ok_or_else(|| ApiError::invalid("Request body must be a JSON object"))?;

    let to = match obj.get("to") {
        None | Some(Value::Null) => return Err(ApiError::missing("to")),
        Some(Value::String(s)) if s.trim().is_empty() => return Err(ApiError::missing("to")),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(ApiError::invalid_value("to", other)),
    };
    let recipient = normalise_phone(&to).ok_or_else(|| ApiError::invalid_value("to", &to))?;

    match obj.get("recipient_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "individual" => {}
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRecipientType,
                format!("Parameter 'recipient_type' has invalid value '{}'", display(other)),
            ));
        }
    }

    let ty = match obj.get("type") {
        None | Some(Value::Null) => "text".to_string(),
        Some(Value::String(s)) if TYPES.contains(&s.as_str()) => s.clone(),
        Some(other) => return Err(ApiError::invalid_value("type", display(other))),
    };
    for other in TYPES.iter().filter(|t| **t != ty) {
        if obj.contains_key(*other) {
            return Err(ApiError::not_required(other, &ty));
        }
    }
    if !SUPPORTED.contains(&ty.as_str()) {
        return Err(ApiError::invalid(format!("Message type '{ty}' is not supported by this release")));
    }

    if let Some(v) = obj.get("preview_url") {
        if !v.is_boolean() {
            return Err(ApiError::invalid_value("preview_url", display(v)));
        }
        if ty != "text" {
            return Err(ApiError::not_required("preview_url", &ty));
        }
    }
    if let Some(ttl) = obj.get("ttl") {
        validate_ttl(ttl)?;
    }
    if let Some(v) = obj.get("biz_opaque_callback_data") {
        match v.as_str() {
            Some(s) if s.chars().count() <= 512 => {}
            _ => {
                return Err(ApiError::invalid_value("biz_opaque_callback_data", display(v)));
            }
        }
    }

    match ty.as_str() {
        "text" => validate_text(obj)?,
        _ => unreachable!("only supported types get here"),
    }

    let mut payload = obj.clone();
    payload.insert("type".into(), Value::String(ty));
    Ok(Outbound { recipient, payload: Value::Object(payload) })
}

fn validate_text(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let text = match obj.get("text") {
        None | Some(Value::Null) => return Err(ApiError::missing("text")),
        Some(Value::Object(t)) => t,
        Some(other) => return Err(ApiError::invalid_value("text", display(other))),
    };
    let body = match text.get("body") {
        None | Some(Value::Null) => return Err(ApiError::missing("text.body")),
        Some(Value::String(s)) if s.is_empty() => return Err(ApiError::missing("text.body")),
        Some(Value::String(s)) => s,
        Some(other) => return Err(ApiError::invalid_value("text.body", display(other))),
    };
    if body.chars().count() > MAX_TEXT_LEN {
        return Err(ApiError::new(
            ErrorCode::MessageTooLong,
            format!("Text body is longer than {MAX_TEXT_LEN} characters"),
        ));
    }
    if let Some(v) = text.get("preview_url")
        && !v.is_boolean()
    {
        return Err(ApiError::invalid_value("text.preview_url", display(v)));
    }
    Ok(())
}

/// `ttl`: seconds as a number or numeric string, or an ISO-8601 duration
/// such as `P1D`. Cloud has no per-message TTL; it is accepted and stored.
fn validate_ttl(ttl: &Value) -> Result<(), ApiError> {
    match ttl {
        Value::Number(n) if n.as_u64().is_some() => Ok(()),
        Value::String(s) if s.trim().is_empty() => Err(ApiError::invalid("Empty TTL value not allowed")),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Value::String(s) if s.starts_with('P') && s.len() > 1 => Ok(()),
        other => Err(ApiError::invalid_value("ttl", display(other))),
    }
}

/// Digits of a phone number written with `+`, spaces, dashes, dots or
/// parentheses; `None` when anything else is left or too few digits remain.
pub fn normalise_phone(input: &str) -> Option<String> {
    let mut digits = String::with_capacity(input.len());
    for c in input.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' | ' ' | '-' | '(' | ')' | '.' => {}
            _ => return None,
        }
    }
    (5..=20).contains(&digits.len()).then_some(digits)
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Translates a stored on-prem message into the Cloud API send payload.
pub fn to_cloud(recipient: &str, payload: &Value) -> Value {
    let ty = payload.get("type").and_then(Value::as_str).unwrap_or("text");
    let mut out = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        // With the `+`, Cloud never prepends the business's country code.
        "to": format!("+{recipient}"),
        "type": ty,
    });
    if ty == "text" {
        let text = payload.get("text").cloned().unwrap_or_else(|| json!({}));
        let preview =
            payload.get("preview_url").or_else(|| text.get("preview_url")).and_then(Value::as_bool).unwrap_or(false);
        out["text"] = json!({"body": text.get("body").cloned().unwrap_or(Value::Null), "preview_url": preview});
    }
    for key in ["biz_opaque_callback_data", "context"] {
        if let Some(v) = payload.get(key) {
            out[key] = v.clone();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: Value) -> (u32, String) {
        let e = validate(&body).unwrap_err();
        (e.code.number(), e.details)
    }

    #[test]
    fn text_is_validated_like_the_old_client() {
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        let cases: Vec<(Value, u32, &str)> = vec![
            (json!({"type": "text", "text": {"body": "hi"}}), 1008, "'to'"),
            (json!({"to": "", "text": {"body": "hi"}}), 1008, "'to'"),
            (json!({"to": "1555x", "text": {"body": "hi"}}), 1009, "'to'"),
            (json!({"to": "15551234567"}), 1008, "'text'"),
            (json!({"to": "15551234567", "text": {}}), 1008, "'text.body'"),
            (json!({"to": "15551234567", "text": {"body": 5}}), 1009, "'text.body'"),
            (json!({"to": "15551234567", "text": {"body": long}}), 1001, "4096"),
            (json!({"to": "15551234567", "type": "fax", "text": {"body": "x"}}), 1009, "'type'"),
            (json!({"to": "15551234567", "text": {"body": "x"}, "image": {"id": "1"}}), 1010, "'image'"),
            (json!({"to": "15551234567", "text": {"body": "x"}, "preview_url": "yes"}), 1009, "'preview_url'"),
            (json!({"to": "15551234567", "text": {"body": "x"}, "recipient_type": "group"}), 1002, "recipient_type"),
            (json!({"to": "15551234567", "text": {"body": "x"}, "ttl": ""}), 1009, "Empty TTL"),
            (json!({"to": "15551234567", "type": "image", "image": {"id": "1"}}), 1009, "not supported"),
        ];
        for (body, want, needle) in cases {
            let (got, details) = code(body.clone());
            assert_eq!(got, want, "{body}");
            assert!(details.contains(needle), "{body}: {details}");
        }
    }

    #[test]
    fn valid_text_normalises_recipient_and_type() {
        let out = validate(&json!({"to": "+1 (555) 123-4567", "text": {"body": "hi"}, "preview_url": true})).unwrap();
        assert_eq!(out.recipient, "15551234567");
        assert_eq!(out.payload["type"], "text");
        let body_4096 = "é".repeat(MAX_TEXT_LEN);
        assert!(validate(&json!({"to": "15551234567", "text": {"body": body_4096}})).is_ok());
    }

    #[test]
    fn text_translates_to_cloud() {
        let cases = vec![
            (
                json!({"to": "15551234567", "type": "text", "text": {"body": "hi"}, "preview_url": true}),
                json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+15551234567",
                       "type": "text", "text": {"body": "hi", "preview_url": true}}),
            ),
            (
                json!({"to": "15551234567", "type": "text", "text": {"body": "a/b"}, "biz_opaque_callback_data": "o-1"}),
                json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+15551234567",
                       "type": "text", "text": {"body": "a/b", "preview_url": false}, "biz_opaque_callback_data": "o-1"}),
            ),
        ];
        for (onprem, cloud) in cases {
            assert_eq!(to_cloud("15551234567", &onprem), cloud);
        }
    }
}
