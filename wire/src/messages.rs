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
/// Numbers one `POST /v1/contacts` may check. The old client set no
/// documented limit; this one keeps a request's work bounded (a request
/// over it gets 400/1009 and is not partly done).
pub const MAX_CONTACTS: usize = 10_000;

/// The error for a `POST /v1/contacts` listing `n` numbers, over the limit.
pub fn too_many_contacts(n: usize) -> crate::ApiError {
    crate::ApiError::invalid(format!(
        "Parameter 'contacts' lists {n} numbers; at most {MAX_CONTACTS} may be checked per request"
    ))
}

pub const MEDIA_TYPES: &[&str] = &["image", "audio", "video", "document", "sticker"];

/// Where a message carries media `id`s, as JSON pointers: the media object
/// of a media message, an interactive message's media header, and a
/// template's media parameters. The on-prem payload and the Cloud payload
/// made from it keep these paths alike. `link`s are not included.
fn media_id_pointers(payload: &Value) -> Vec<String> {
    let kind_of =
        |v: &Value| v.get("type").and_then(Value::as_str).filter(|k| MEDIA_TYPES.contains(k)).map(String::from);
    match payload.get("type").and_then(Value::as_str).unwrap_or_default() {
        media if MEDIA_TYPES.contains(&media) => vec![format!("/{media}/id")],
        "interactive" => payload
            .pointer("/interactive/header")
            .and_then(kind_of)
            .map(|kind| vec![format!("/interactive/header/{kind}/id")])
            .unwrap_or_default(),
        "template" => {
            let components = payload.pointer("/template/components").and_then(Value::as_array);
            let mut out = Vec::new();
            for (c, component) in components.into_iter().flatten().enumerate() {
                let parameters = component.get("parameters").and_then(Value::as_array);
                for (p, parameter) in parameters.into_iter().flatten().enumerate() {
                    if let Some(kind) = kind_of(parameter) {
                        out.push(format!("/template/components/{c}/parameters/{p}/{kind}/id"));
                    }
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The media ids a payload sends.
pub fn media_ids(payload: &Value) -> Vec<String> {
    media_id_pointers(payload)
        .iter()
        .filter_map(|p| payload.pointer(p).and_then(Value::as_str).map(String::from))
        .collect()
}

/// Visits every media id a payload sends, to replace it (ours by Cloud's).
pub fn for_each_media_id(payload: &mut Value, f: &mut dyn FnMut(&mut String)) {
    for pointer in media_id_pointers(payload) {
        if let Some(Value::String(id)) = payload.pointer_mut(&pointer) {
            f(id);
        }
    }
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
    /// The recipient as the business named it: the digits of a phone number
    /// or stand-in identifier, or a BSUID as Cloud wrote it.
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
