//! Properties over arbitrary input: whatever JSON a client or a webhook
//! sender puts in front of message validation, the translation to Cloud
//! and the translation of Cloud webhooks, they answer (an error is fine)
//! and never panic. A panic in the webapp or the intake would drop a
//! connection or stall a queue instead of giving an on-prem error.
//!
//! Inputs are drawn from three sources: JSON of any shape, objects whose
//! keys are the ones these translators look for (so the deep paths are
//! reached), and the real Cloud webhooks of `tests/fixtures/` with parts
//! replaced by arbitrary JSON.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wire::cloud::{CloudEvent, InboundIds};

/// Keys the validators and translators read, so that generated objects
/// reach past the first check.
const KEYS: &[&str] = &[
    "to",
    "type",
    "recipient_type",
    "preview_url",
    "text",
    "body",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "link",
    "id",
    "caption",
    "filename",
    "provider",
    "name",
    "location",
    "latitude",
    "longitude",
    "address",
    "contacts",
    "template",
    "namespace",
    "language",
    "policy",
    "code",
    "components",
    "parameters",
    "index",
    "sub_type",
    "currency",
    "date_time",
    "fallback_value",
    "amount_1000",
    "hsm",
    "element_name",
    "localizable_params",
    "default",
    "interactive",
    "header",
    "footer",
    "action",
    "button",
    "buttons",
    "reply",
    "title",
    "sections",
    "rows",
    "description",
    "product_retailer_id",
    "catalog_id",
    "context",
    "message_id",
    "reaction",
    "emoji",
    "statuses",
    "status",
    "timestamp",
    "recipient_id",
    "errors",
    "error_data",
    "details",
    "conversation",
    "pricing",
    "messages",
    "from",
    "wa_id",
    "profile",
    "sha256",
    "mime_type",
    "voice",
    "system",
    "new_wa_id",
    "identity",
    "referral",
    "interactive_type",
    "list_reply",
    "button_reply",
    "nfm_reply",
    "object",
    "entry",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "display_phone_number",
];

/// Besides the on-prem message types (`wire::messages::TYPES`): Cloud's
/// inbound and interactive types and status names, as likely values of
/// `type` and `status`.
const CLOUD_TYPES: &[&str] = &[
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "unsupported",
    "system",
    "order",
    "sent",
    "delivered",
    "read",
    "failed",
    "played",
    "deleted",
    "voice",
];

fn types() -> Vec<&'static str> {
    wire::messages::TYPES.iter().chain(CLOUD_TYPES).copied().collect()
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
        "[0-9 +()-]{0,20}".prop_map(Value::String),
        prop::sample::select(types()).prop_map(|t| Value::String(t.to_string())),
        prop::sample::select(KEYS).prop_map(|t| Value::String(t.to_string())),
    ]
}

/// JSON of any shape whose object keys are mostly ones the code reads.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 96, 8, |inner| {
        let key = prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_string), 1 => ".{0,8}"];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..8).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A `POST /v1/messages` body: an object with `to` and `type` mostly
/// plausible, and the rest arbitrary.
fn message_body() -> impl Strategy<Value = Value> {
    let to = prop_oneof![Just(json!("15551234567")), Just(json!("+1 (555) 123-4567")), scalar()];
    let kind = prop_oneof![prop::sample::select(types()).prop_map(|t| json!(t)), scalar()];
    (to, kind, json_value(), json_value()).prop_map(|(to, kind, content, extra)| {
        let mut body = Map::new();
        body.insert("to".into(), to);
        body.insert("type".into(), kind.clone());
        if let Some(k) = kind.as_str() {
            body.insert(k.to_string(), content);
        }
        if let Value::Object(extra) = extra {
            body.extend(extra);
        }
        Value::Object(body)
    })
}

fn fixtures() -> Vec<Value> {
    let dir = format!("{}/tests/fixtures/cloud-webhooks", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the webhook fixtures") {
        let path = entry.expect("a fixture").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("a readable fixture");
            out.push(serde_json::from_str(&text).expect("fixtures are JSON"));
        }
    }
    assert!(out.len() >= 20, "the fixtures are there");
    out
}

/// Every pointer to a value inside `v`, root included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                pointers(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A real Cloud webhook with up to three of its parts replaced.
fn mutated_fixture() -> impl Strategy<Value = Value> {
    let all = fixtures();
    (prop::sample::select(all), prop::collection::vec((any::<prop::sample::Index>(), json_value()), 1..4)).prop_map(
        |(mut doc, edits)| {
            for (index, replacement) in edits {
                let mut found = Vec::new();
                pointers(&doc, String::new(), &mut found);
                let at = index.get(&found).clone();
                if at.is_empty() {
                    // Keep the envelope: replacing the root tests nothing new.
                    continue;
                }
                if let Some(slot) = doc.pointer_mut(&at) {
                    *slot = replacement;
                }
            }
            doc
        },
    )
}

/// Ids as the intake would answer them: some wamids known, media recorded.
struct Ids;

impl InboundIds for Ids {
    fn message(&mut self, wamid: &str) -> Option<String> {
        wamid.len().is_multiple_of(2).then(|| format!("our-{}", wamid.len()))
    }
    fn media(&mut self, kind: &str, _media: &Value) -> String {
        format!("media-{kind}")
    }
}

/// Runs every translation a Cloud notification goes through.
fn translate_notification(body: &[u8]) {
    let Ok(events) = wire::cloud::parse_notification(body) else { return };
    for event in events {
        match event {
            CloudEvent::Status { status, .. } => {
                let _ = wire::cloud::onprem_status(&status, "gBEGkYiEB1VXAglK1ZEqA1YKPrU", None);
                if let Some(errors) = status.get("errors").and_then(Value::as_array) {
                    for e in errors {
                        let _ = wire::cloud::onprem_error(e);
                        let _ = wire::cloud::onprem_api_error(e);
                        let _ = wire::cloud::onprem_failed_status("gBEGkYiEB1VXAglK1ZEqA1YKPrU", "1555", i64::MAX, e);
                    }
                }
                let _ = wire::status::MessageStatus::parse(
                    status.get("status").and_then(Value::as_str).unwrap_or_default(),
                );
            }
            CloudEvent::Message { contact, message, .. } => {
                let mut out =
                    wire::cloud::onprem_inbound(contact.as_ref(), &message, "gBEGkYiEB1VXAglK1ZEqA1YKPrU", &mut Ids);
                let who =
                    wire::cloud::Presented { identifier: "280000000000001", user_id: Some("US.1"), username: None };
                wire::cloud::present_sender(&mut out, &who);
            }
            CloudEvent::UserChange { .. } => {}
            CloudEvent::Error { error, .. } => {
                let _ = wire::cloud::onprem_error(&error);
                let _ = wire::cloud::onprem_api_error(&error);
            }
        }
    }
}

// 256 cases each by default; PROPTEST_CASES=20000 searches harder.
proptest! {

    #[test]
    fn message_validation_and_translation_never_panic(body in prop_oneof![message_body(), json_value()]) {
        if let Ok(out) = wire::messages::validate(&body) {
            let cloud = wire::messages::to_cloud(&out.recipient, &out.message, &|id: &str| {
                id.len().is_multiple_of(3).then(|| format!("cloud-{id}"))
            });
            prop_assert!(cloud.is_object(), "a message for Cloud is an object: {cloud}");
            // What the webapp accepts, the coreapp's check accepts, and its
            // stored form reads back as the same message.
            prop_assert!(out.message.check().is_ok(), "{body}: {:?}", out.message.check());
            let stored = out.message.to_json();
            prop_assert_eq!(wire::messages::Message::from_json(&stored).ok(), Some(out.message.clone()));
            let _ = out.message.media_ids();
            let _ = out.message.referenced_ids();
        }
    }

    #[test]
    fn reading_any_stored_payload_never_panics(payload in json_value(), to in ".{0,16}") {
        // The sender reads stored payloads: even one no validation made
        // must not bring the worker down.
        if let Ok(message) = wire::messages::Message::from_json(&payload) {
            let _ = message.check();
            let _ = wire::messages::to_cloud(&to, &message, &|_| None);
        }
    }

    #[test]
    fn cloud_webhooks_never_panic(doc in prop_oneof![3 => mutated_fixture(), 1 => json_value()]) {
        translate_notification(&serde_json::to_vec(&doc).expect("serialisable"));
    }

    #[test]
    fn webhook_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        translate_notification(&bytes);
    }
}
