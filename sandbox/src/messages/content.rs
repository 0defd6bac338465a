//! The `type` of a send and the object it names.
//!
//! This cut validates `text` fully and only checks that the other types'
//! objects are present; each type gets its own checks as the simulator grows.

use serde_json::Value;

use crate::graph::GraphError;

/// Message types Cloud API accepts on the send endpoint.
pub const TYPES: &[&str] = &[
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
];

/// Longest text body Cloud accepts.
pub const TEXT_BODY_MAX: usize = 4096;

/// Checks the `type` and its object; returns the type (default `text`).
pub fn check(payload: &Value) -> Result<String, GraphError> {
    let kind = match payload.get("type") {
        None | Some(Value::Null) => "text".to_owned(),
        Some(Value::String(kind)) if TYPES.contains(&kind.as_str()) => kind.clone(),
        Some(other) => {
            let list = TYPES.join(", ").to_uppercase();
            return Err(GraphError::invalid_parameter(format!("Param type must be one of {{{list}}} - got {other}.")));
        }
    };
    let object = match payload.get(&kind) {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter(&kind)),
        Some(object) => object,
    };
    match kind.as_str() {
        "text" => check_text(object)?,
        // A contacts message is an array of cards; everything else an object.
        "contacts" if object.is_array() => {}
        "contacts" => {
            return Err(GraphError::invalid_parameter("Param contacts must be an array."));
        }
        other if !object.is_object() => {
            return Err(GraphError::invalid_parameter(format!("Param {other} must be a JSON object.")));
        }
        _ => {}
    }
    Ok(kind)
}

fn check_text(text: &Value) -> Result<(), GraphError> {
    if !text.is_object() {
        return Err(GraphError::invalid_parameter("Param text must be a JSON object."));
    }
    let body = match text.get("body") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("text['body']")),
        Some(Value::String(body)) => body,
        Some(_) => {
            return Err(GraphError::invalid_parameter("Param text['body'] must be a string."));
        }
    };
    if body.trim().is_empty() {
        return Err(GraphError::missing_parameter("text['body']"));
    }
    if body.chars().count() > TEXT_BODY_MAX {
        return Err(GraphError::invalid_parameter(format!(
            "Param text['body'] must be at most {TEXT_BODY_MAX} characters long."
        )));
    }
    match text.get("preview_url") {
        None | Some(Value::Null | Value::Bool(_)) => Ok(()),
        Some(_) => Err(GraphError::invalid_parameter("Param text['preview_url'] must be a boolean.")),
    }
}

/// The pricing category a send is billed in.
///
/// Free-form messages are `service`. The sandbox has no template store yet,
/// so a template is `marketing` when its name says so (`marketing`, `promo`,
/// `offer`) and `utility` otherwise.
pub fn pricing_category(kind: &str, payload: &Value) -> &'static str {
    if kind != "template" {
        return "service";
    }
    let name = payload.pointer("/template/name").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    if ["marketing", "promo", "offer"].iter().any(|word| name.contains(word)) { "marketing" } else { "utility" }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message_of(err: GraphError) -> String {
        assert_eq!(err.code, 100);
        err.message
    }

    #[test]
    fn text_is_the_default_type() {
        assert_eq!(check(&json!({"text": {"body": "hi"}})).unwrap(), "text");
    }

    #[test]
    fn text_body_rules() {
        let long = "x".repeat(TEXT_BODY_MAX);
        assert!(check(&json!({"type": "text", "text": {"body": long}})).is_ok());
        // Counted in characters, not bytes.
        let long_umlauts = "ä".repeat(TEXT_BODY_MAX);
        assert!(check(&json!({"type": "text", "text": {"body": long_umlauts}})).is_ok());

        let too_long = "x".repeat(TEXT_BODY_MAX + 1);
        let err = check(&json!({"type": "text", "text": {"body": too_long}})).unwrap_err();
        assert!(message_of(err).contains("4096"));

        let err = check(&json!({"type": "text", "text": {}})).unwrap_err();
        assert_eq!(message_of(err), "(#100) The parameter text['body'] is required.");
        let err = check(&json!({"type": "text", "text": {"body": "  "}})).unwrap_err();
        assert_eq!(message_of(err), "(#100) The parameter text['body'] is required.");
        assert!(check(&json!({"type": "text", "text": {"body": 5}})).is_err());
        assert!(check(&json!({"type": "text", "text": "hi"})).is_err());
        assert!(check(&json!({"text": {"body": "hi", "preview_url": "yes"}})).is_err());
    }

    #[test]
    fn the_named_object_must_be_present() {
        let err = check(&json!({"type": "image", "text": {"body": "hi"}})).unwrap_err();
        assert_eq!(message_of(err), "(#100) The parameter image is required.");
        assert_eq!(check(&json!({"type": "image", "image": {"link": "https://x.test/a.jpg"}})).unwrap(), "image");
        assert!(check(&json!({"type": "contacts", "contacts": [{}]})).is_ok());
        assert!(check(&json!({"type": "contacts", "contacts": {}})).is_err());
        assert!(check(&json!({"type": "location", "location": "here"})).is_err());
    }

    #[test]
    fn unknown_types_are_refused() {
        let err = check(&json!({"type": "hologram", "hologram": {}})).unwrap_err();
        assert!(message_of(err).contains("Param type must be one of"));
        assert!(check(&json!({"type": 3})).is_err());
    }

    #[test]
    fn pricing_categories() {
        assert_eq!(pricing_category("text", &json!({})), "service");
        let template = |name: &str| json!({"template": {"name": name}});
        assert_eq!(pricing_category("template", &template("order_update")), "utility");
        assert_eq!(pricing_category("template", &template("spring_PROMO")), "marketing");
    }
}
