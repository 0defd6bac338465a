//! `POST /v1/messages`: validation of the on-prem payload, as the old client
//! answered (`validate`), and its translation to a Cloud API send
//! (`to_cloud`).
//!
//! The webapp validates, so a bad request never crosses gRPC; the coreapp
//! stores the validated on-prem object and translates it when it sends, with
//! the message ids it knows mapped to Cloud's.

mod to_cloud;
mod validate;

pub use to_cloud::to_cloud;
pub use validate::validate;

use serde_json::Value;

/// Longest text body the old client accepted.
pub const MAX_TEXT_LEN: usize = 4096;

/// Every message type the on-prem API knew; a payload may carry only the
/// object of its own type.
pub const TYPES: &[&str] = &[
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

/// The media types, sent by `id` (from `/v1/media`) or `link`.
pub const MEDIA_TYPES: &[&str] = &["image", "audio", "video", "document", "sticker"];

/// Visits every media `id` a message carries, in the on-prem payload and
/// in the Cloud payload made from it alike (both keep these paths): the
/// media object of a media message, an interactive message's media
/// header, and a template's media parameters. `link`s are not visited.
pub fn for_each_media_id(payload: &mut Value, f: &mut dyn FnMut(&mut String)) {
    let mut visit = |holder: Option<&mut Value>| {
        if let Some(Value::String(id)) = holder.and_then(|m| m.get_mut("id")) {
            f(id);
        }
    };
    let ty = payload.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
    match ty.as_str() {
        media if MEDIA_TYPES.contains(&media) => visit(payload.get_mut(media)),
        "interactive" => {
            if let Some(header) = payload.pointer_mut("/interactive/header") {
                let kind = header.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                if MEDIA_TYPES.contains(&kind.as_str()) {
                    visit(header.get_mut(&kind));
                }
            }
        }
        "template" => {
            let components = payload.pointer_mut("/template/components").and_then(Value::as_array_mut);
            for component in components.into_iter().flatten() {
                let parameters = component.get_mut("parameters").and_then(Value::as_array_mut);
                for parameter in parameters.into_iter().flatten() {
                    let kind = parameter.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                    if MEDIA_TYPES.contains(&kind.as_str()) {
                        visit(parameter.get_mut(&kind));
                    }
                }
            }
        }
        _ => {}
    }
}

/// The media ids a payload sends (see [`for_each_media_id`]).
pub fn media_ids(payload: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut copy = payload.clone();
    for_each_media_id(&mut copy, &mut |id| ids.push(id.clone()));
    ids
}

/// Whether a media id has the shape of ours (a UUID from `/v1/media` or an
/// inbound message); Cloud's media ids are digits.
pub fn is_our_media_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A validated outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The recipient as digits only (the WhatsApp id).
    pub recipient: String,
    /// The on-prem message object, with `type` filled in, as it is stored.
    pub payload: Value,
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

/// Message ids a stored payload refers to (a quoted reply's `context`, a
/// reaction's target): the coreapp maps those it knows to Cloud ids.
pub fn referenced_ids(payload: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for pointer in ["/context/message_id", "/context/id", "/reaction/message_id"] {
        if let Some(id) = payload.pointer(pointer).and_then(Value::as_str) {
            ids.push(id.to_string());
        }
    }
    ids
}
