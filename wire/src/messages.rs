//! `POST /v1/messages`: validation of the on-prem payload, as the old client
//! answered (`validate`), and its translation to a Cloud API send
//! (`to_cloud`).
//!
//! The webapp validates, so a bad request never crosses gRPC: what crosses
//! is the typed [`Message`] (`model`). The coreapp checks its invariants
//! again ([`Message::check`]), stores it as the on-prem object it serialises
//! to, and translates it when it sends, with the message ids it knows mapped
//! to Cloud's and our media ids to Cloud's.

pub mod model;
mod to_cloud;
mod validate;

pub use model::{Content, Media, MediaKind, Message};
pub use to_cloud::to_cloud;
pub use validate::{check, validate};

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

/// A validated outbound message and its recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The recipient as the business named it: the digits of a phone number
    /// or stand-in identifier, or a BSUID as Cloud wrote it.
    pub recipient: String,
    pub message: Message,
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
