//! The Cloud API webhook envelope and the pieces the sandbox puts in it.
//!
//! Typed structs rather than `json!` so the keys come out in Meta's order
//! (serde_json's own map sorts them); the shapes follow the fixtures in
//! `tests/fixtures/` (pywa-text.json, pywa-status-*.json).

use serde::Serialize;

/// `{"object":"whatsapp_business_account","entry":[…]}`: one webhook POST body.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub object: &'static str,
    pub entry: Vec<Entry>,
}

/// One `entry[]`: the WABA id and its changes.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The WABA id (not the phone number id).
    pub id: String,
    pub changes: Vec<Change>,
}

/// One `changes[]` item; the sandbox only emits `field: "messages"` so far.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub value: Value,
    pub field: &'static str,
}

/// `changes[].value` for the `messages` field.
#[derive(Debug, Clone, Serialize)]
pub struct Value {
    pub messaging_product: &'static str,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<Status>,
}

/// Which business number the change is about.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// Digits, no `+`.
    pub display_phone_number: String,
    pub phone_number_id: String,
}

/// `contacts[]`: the user who wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub profile: Profile,
    pub wa_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
}

/// An inbound `messages[]` item.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub from: String,
    pub id: String,
    /// Unix seconds, as a string like Meta sends it.
    pub timestamp: String,
    /// The object named by `type`, e.g. `{"text":{"body":"hi"}}`.
    #[serde(flatten)]
    pub content: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The state a status webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Sent,
    Delivered,
    Read,
}

/// A `statuses[]` item about a message the business sent.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The wamid.
    pub id: String,
    pub status: StatusKind,
    /// Unix seconds, as a string.
    pub timestamp: String,
    pub recipient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    /// Webhooks v24.0+ carry no `conversation`, so neither does the sandbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
}

/// Per-message pricing (PMP, since July 2025).
#[derive(Debug, Clone, Serialize)]
pub struct Pricing {
    pub billable: bool,
    pub pricing_model: &'static str,
    pub category: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

// === impl Notification ===

impl Notification {
    /// A body with one entry holding one `messages` change.
    pub fn messages(waba_id: &str, value: Value) -> Self {
        Notification {
            object: "whatsapp_business_account",
            entry: vec![Entry { id: waba_id.to_owned(), changes: vec![Change { value, field: "messages" }] }],
        }
    }
}

// === impl Value ===

impl Value {
    /// An empty value for `phone_number_id`; fill one of the lists.
    pub fn new(phone_number_id: &str) -> Self {
        Value {
            messaging_product: "whatsapp",
            metadata: Metadata {
                display_phone_number: display_phone_number(phone_number_id),
                phone_number_id: phone_number_id.to_owned(),
            },
            contacts: Vec::new(),
            messages: Vec::new(),
            statuses: Vec::new(),
        }
    }
}

// === impl Pricing ===

impl Pricing {
    /// Regular billable pricing in `category`.
    pub fn regular(category: &'static str) -> Self {
        Pricing { billable: true, pricing_model: "PMP", category, kind: "regular" }
    }
}

/// The display number of a hosted phone number id: `1555` and the id's last
/// seven digits (zero padded), so every id gets a stable, distinct-looking number.
pub fn display_phone_number(phone_number_id: &str) -> String {
    let digits: Vec<char> = phone_number_id.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(7)..].iter().collect();
    format!("1555{tail:0>7}")
}

/// Now as unix seconds, the way webhook timestamps are written.
pub fn timestamp_now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_numbers_are_derived_from_the_id() {
        assert_eq!(display_phone_number("100000000000001"), "15550000001");
        assert_eq!(display_phone_number("106540352242922"), "15552242922");
        assert_eq!(display_phone_number("42"), "15550000042");
    }

    #[test]
    fn status_serialises_in_meta_order() {
        let mut value = Value::new("100000000000001");
        value.statuses.push(Status {
            id: "wamid.X".into(),
            status: StatusKind::Delivered,
            timestamp: "1700000000".into(),
            recipient_id: "491701234567".into(),
            biz_opaque_callback_data: None,
            pricing: Some(Pricing::regular("service")),
        });
        let body = serde_json::to_string(&Notification::messages("200000000000001", value)).unwrap();
        assert_eq!(
            body,
            concat!(
                r#"{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"value":"#,
                r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550000001","phone_number_id":"100000000000001"},"#,
                r#""statuses":[{"id":"wamid.X","status":"delivered","timestamp":"1700000000","recipient_id":"491701234567","#,
                r#""pricing":{"billable":true,"pricing_model":"PMP","category":"service","type":"regular"}}]},"field":"messages"}]}]}"#
            )
        );
    }
}
