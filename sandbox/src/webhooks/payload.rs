//! The Cloud API webhook envelope and the pieces the sandbox puts in it.
//!
//! Typed structs rather than `json!` so the keys come out in Meta's order
//! (serde_json's own map sorts them); the shapes follow the fixtures in
//! `tests/fixtures/` (one per event kind).

use serde::Serialize;

use crate::users::Shown;

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
    /// Unix seconds, a number; Meta sets it on management fields (template updates), not on `messages`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    pub changes: Vec<Change>,
}

/// One `changes[]` item.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub value: ChangeValue,
    pub field: String,
}

/// `changes[].value`: typed for the fields the sandbox emits itself, free-form
/// for the others.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ChangeValue {
    Messages(Value),
    TemplateStatus(TemplateStatusUpdate),
    UserIdUpdate(UserIdUpdate),
    Other(serde_json::Value),
}

/// `message_template_status_update`: a template was approved, rejected, paused, …
#[derive(Debug, Clone, Serialize)]
pub struct TemplateStatusUpdate {
    pub event: String,
    /// A number here, unlike most ids (fixture `pywa-template-status-approved.json`).
    pub message_template_id: u64,
    pub message_template_name: String,
    pub message_template_language: String,
    pub reason: String,
    pub message_template_category: String,
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
    /// System, app or account level errors (`docs/cloud-api.md` §5.7).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<WebhookError>,
}

/// Which business number the change is about.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// Digits, no `+`.
    pub display_phone_number: String,
    pub phone_number_id: String,
}

/// The older (June 2026) report of a user's new BSUID: a change of the
/// `user_id_update` field beside the system message, in the same notification.
#[derive(Debug, Clone, Serialize)]
pub struct UserIdUpdate {
    pub messaging_product: &'static str,
    pub metadata: Metadata,
    pub user_id: UserIdPair,
    /// The user's new phone, only when the business may see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
}

/// `user_id: {previous, current}` of a [`UserIdUpdate`].
#[derive(Debug, Clone, Serialize)]
pub struct UserIdPair {
    pub previous: String,
    pub current: String,
}

/// `contacts[]`: the user who wrote, or the recipient of a status. Fields
/// the business may not see are left out, never empty: `wa_id` when the
/// phone is withheld, `parent_user_id` unless parent BSUIDs are on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// Absent on statuses of users without a username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
}

/// `contacts[].profile`: the name on messages, the username of users who
/// adopted one (statuses carry only the username).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// An inbound `messages[]` item.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// `{from, id}` of the message replied to, or `{forwarded: true}`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// The sender's phone; absent when the business may not see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The sender's BSUID, always there.
    pub from_user_id: String,
    /// Only while parent BSUIDs are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_parent_user_id: Option<String>,
    pub id: String,
    /// Unix seconds, as a string like Meta sends it.
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The object named by `type` (e.g. `{"text":{"body":"hi"}}`) and any
    /// optional siblings (`referral`, `identity`, `errors`).
    #[serde(flatten)]
    pub content: serde_json::Map<String, serde_json::Value>,
}

/// The state a status webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Sent,
    Delivered,
    Read,
    /// First play of a voice message.
    Played,
    Failed,
}

/// A `statuses[]` item about a message the business sent.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The wamid.
    pub id: String,
    pub status: StatusKind,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// The recipient's phone: always for messages sent to the phone (`to`),
    /// for those sent to a BSUID only when the phone is shareable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// The recipient's BSUID; absent only on `failed` statuses of messages
    /// sent to the phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<String>,
    /// Beside `recipient_user_id`, while parent BSUIDs are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_parent_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    /// Only in webhook payload versions up to v23.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Conversation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// Why a `failed` message failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<WebhookError>,
}

/// The conversation a status belongs to (webhooks v23.0 and older).
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: String,
    /// Only on `sent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Origin {
    #[serde(rename = "type")]
    pub kind: &'static str,
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

/// An error in a webhook (`statuses[].errors`, `messages[].errors`, `value.errors`).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookError {
    pub code: u32,
    pub title: String,
    /// Always the title (`docs/cloud-api.md` §5.7).
    pub message: String,
    pub error_data: ErrorData,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorData {
    pub details: String,
}

// === impl Notification ===

impl Notification {
    /// A body with one entry holding one `messages` change.
    pub fn messages(waba_id: &str, value: Value) -> Self {
        Notification {
            object: "whatsapp_business_account",
            entry: vec![Entry {
                id: waba_id.to_owned(),
                time: None,
                changes: vec![Change { value: ChangeValue::Messages(value), field: "messages".into() }],
            }],
        }
    }
}

// === impl Value ===

impl Value {
    /// An empty value for `phone_number_id`; fill one of the lists.
    pub fn new(phone_number_id: &str) -> Self {
        Value {
            messaging_product: "whatsapp",
            metadata: Metadata::new(phone_number_id),
            contacts: Vec::new(),
            messages: Vec::new(),
            statuses: Vec::new(),
            errors: Vec::new(),
        }
    }
}

// === impl Metadata ===

impl Metadata {
    pub fn new(phone_number_id: &str) -> Self {
        Metadata {
            display_phone_number: display_phone_number(phone_number_id),
            phone_number_id: phone_number_id.to_owned(),
        }
    }
}

// === impl Contact ===

impl Contact {
    /// The card of a message's sender: the profile name, and the username
    /// of users who adopted one.
    pub(crate) fn sender(user: &Shown) -> Self {
        Contact {
            profile: Some(Profile { name: Some(user.name.clone()), username: user.username.clone() }),
            wa_id: user.phone.clone(),
            user_id: user.user_id.clone(),
            parent_user_id: user.parent_user_id.clone(),
        }
    }

    /// The card of a status's recipient: no name; the username (of users
    /// who adopted one) only when `with_username`, as Cloud shows it on
    /// `delivered` and `read` but not on `sent`.
    pub(crate) fn recipient(user: &Shown, with_username: bool) -> Self {
        let username = user.username.clone().filter(|_| with_username);
        Contact {
            profile: username.map(|username| Profile { name: None, username: Some(username) }),
            wa_id: user.phone.clone(),
            user_id: user.user_id.clone(),
            parent_user_id: user.parent_user_id.clone(),
        }
    }

    /// Adds what `other`, a card of the same user, shows and this one does
    /// not (a batch may carry a `sent` and a `delivered` of one recipient).
    pub fn merge(&mut self, other: Contact) {
        if self.wa_id.is_none() {
            self.wa_id = other.wa_id;
        }
        if self.parent_user_id.is_none() {
            self.parent_user_id = other.parent_user_id;
        }
        match (&mut self.profile, other.profile) {
            (None, theirs) => self.profile = theirs,
            (Some(mine), Some(theirs)) => {
                if mine.name.is_none() {
                    mine.name = theirs.name;
                }
                if mine.username.is_none() {
                    mine.username = theirs.username;
                }
            }
            (Some(_), None) => {}
        }
    }
}

// === impl Pricing ===

impl Pricing {
    /// Pricing of a message in `category`; service conversations and
    /// utility templates inside an open window are free (PMP, July 2025).
    pub fn for_message(category: &'static str, free: bool) -> Self {
        if free {
            Pricing { billable: false, pricing_model: "PMP", category, kind: "free_customer_service" }
        } else {
            Pricing { billable: true, pricing_model: "PMP", category, kind: "regular" }
        }
    }
}

// === impl WebhookError ===

impl WebhookError {
    /// The webhook form of `code` (title from the code table).
    pub fn new(code: u32, details: impl Into<String>) -> Self {
        let title = crate::graph::codes::lookup(code).map_or("Unknown error", |row| row.title).to_owned();
        WebhookError {
            code,
            message: title.clone(),
            title,
            error_data: ErrorData { details: details.into() },
            href: Some(crate::graph::codes::HREF),
        }
    }

    /// The table's default details for `code`.
    pub fn with_default_details(code: u32) -> Self {
        Self::new(code, crate::graph::codes::lookup(code).map_or("", |row| row.details))
    }
}

/// The display number of a hosted phone number id: `1555` and the id's last
/// seven digits (zero padded), so every id gets a stable, distinct-looking number.
pub fn display_phone_number(phone_number_id: &str) -> String {
    let digits: Vec<char> = phone_number_id.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(7)..].iter().collect();
    format!("1555{tail:0>7}")
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
            recipient_id: Some("491701234567".into()),
            recipient_user_id: None,
            recipient_parent_user_id: None,
            biz_opaque_callback_data: None,
            conversation: None,
            pricing: Some(Pricing::for_message("service", false)),
            errors: Vec::new(),
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

    #[test]
    fn errors_repeat_the_title_as_message() {
        let error = serde_json::to_value(WebhookError::with_default_details(131047)).unwrap();
        assert_eq!(error["title"], "Re-engagement message");
        assert_eq!(error["message"], "Re-engagement message");
        assert!(error["error_data"]["details"].as_str().unwrap().contains("24 hours"));
        assert_eq!(error["href"], crate::graph::codes::HREF);
    }
}
