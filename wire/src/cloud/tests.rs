//! Every real Cloud webhook fixture through parsing and translation, with
//! the on-prem fields each kind must carry.

use serde_json::{Value, json};

use super::*;

/// Stands in for the coreapp's id maps: the messages we "sent" are the
/// wamids listed; media get predictable ids.
struct Ids;

impl InboundIds for Ids {
    fn message(&mut self, wamid: &str) -> Option<String> {
        ["wamid.gvwegfretge==", "wamid.yzxyzx=", "wamid.xyzxyz=="].contains(&wamid).then(|| format!("ours:{wamid}"))
    }
    fn media(&mut self, kind: &str, media: &Value) -> String {
        format!("media:{kind}:{}", media["id"].as_str().unwrap_or_default())
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/cloud-webhooks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The on-prem events a fixture becomes, in order.
fn translate(name: &str) -> Vec<Value> {
    parse_notification(&fixture(name))
        .unwrap()
        .into_iter()
        .map(|e| match e {
            CloudEvent::Status { status, .. } => json!({"statuses": [onprem_status(&status, "OUR-MSG", None)]}),
            CloudEvent::Message { contact, message, .. } => {
                onprem_inbound(contact.as_ref(), &message, "OUR-IN", &mut Ids)
            }
            CloudEvent::Error { error, .. } => json!({"errors": [onprem_error(&error)]}),
            CloudEvent::UserChange { user, .. } => json!({"user_change": format!("{user:?}")}),
        })
        .collect()
}

#[test]
fn every_fixture_translates_to_the_on_prem_shape() {
    // (fixture, events expected, [(event index, JSON pointer, expected value; Null = absent)])
    type Check = (usize, &'static str, Value);
    let table: Vec<(&str, usize, Vec<Check>)> = vec![
        (
            "pywa-text.json",
            1,
            vec![
                (0, "/messages/0/id", json!("OUR-IN")),
                (0, "/messages/0/type", json!("text")),
                (0, "/messages/0/text/body", json!("Body Text")),
                (0, "/contacts/0", json!({"profile": {"name": "Test Name"}, "wa_id": "972987654321"})),
            ],
        ),
        ("bindambc-text.json", 1, vec![(0, "/messages/0/type", json!("text")), (0, "/messages/0/id", json!("OUR-IN"))]),
        ("pywa-text-reply-context.json", 1, vec![(0, "/messages/0/context/from", json!("972123456789"))]),
        (
            "pywa-text-referral-ctwa.json",
            1,
            vec![
                (0, "/messages/0/referral/ctwa_clid", json!("CTWA_CLID")),
                (0, "/messages/0/referral/source_id", json!("ADID")),
            ],
        ),
        (
            "pywa-image.json",
            1,
            vec![
                (0, "/messages/0/type", json!("image")),
                (0, "/messages/0/image/id", json!("media:image:65463453")),
                (0, "/messages/0/image/mime_type", json!("image/jpeg")),
            ],
        ),
        (
            "pywa-image-with-url.json",
            1,
            vec![(0, "/messages/0/image/url", Value::Null), (0, "/messages/0/type", json!("image"))],
        ),
        (
            "pywa-video-forwarded.json",
            1,
            vec![
                (0, "/messages/0/context/forwarded", json!(true)),
                (0, "/messages/0/video/caption", json!("caption")),
                (0, "/messages/0/video/id", json!("media:video:765756756")),
            ],
        ),
        ("pywa-document.json", 1, vec![(0, "/messages/0/type", json!("document"))]),
        (
            "pywa-audio-voice.json",
            1,
            vec![
                (0, "/messages/0/type", json!("voice")),
                (0, "/messages/0/audio", Value::Null),
                (0, "/messages/0/voice/id", json!("media:voice:1234567890987654321")),
                (0, "/messages/0/voice/mime_type", json!("audio/ogg; codecs=opus")),
                (
                    0,
                    "/messages/0/voice/sha256",
                    json!("9b4e2915fd8445d6a8a53c859063c0d3e6d7de2f986367588151703a00cb4832"),
                ),
            ],
        ),
        (
            "pywa-sticker-animated.json",
            1,
            vec![(0, "/messages/0/type", json!("sticker")), (0, "/messages/0/sticker/animated", json!(true))],
        ),
        ("pywa-location.json", 1, vec![(0, "/messages/0/type", json!("location"))]),
        ("pywa-contacts.json", 1, vec![(0, "/messages/0/type", json!("contacts"))]),
        ("pywa-interactive-button-reply.json", 1, vec![(0, "/messages/0/interactive/type", json!("button_reply"))]),
        ("pywa-interactive-list-reply.json", 1, vec![(0, "/messages/0/interactive/type", json!("list_reply"))]),
        (
            "pywa-interactive-nfm-reply.json",
            1,
            vec![
                (0, "/messages/0/interactive/type", json!("nfm_reply")),
                (0, "/messages/0/interactive/nfm_reply/name", json!("flow")),
                (0, "/messages/0/context/id", json!("ours:wamid.gvwegfretge==")),
            ],
        ),
        (
            "pywa-button-quick-reply.json",
            1,
            vec![
                (0, "/messages/0/button", json!({"payload": "callback_data", "text": "title"})),
                (0, "/messages/0/context/id", json!("ours:wamid.xyzxyz==")),
            ],
        ),
        (
            "pywa-reaction.json",
            1,
            vec![
                (0, "/messages/0/reaction/message_id", json!("ours:wamid.yzxyzx=")),
                (0, "/messages/0/reaction/emoji", json!("😮")),
            ],
        ),
        ("pywa-reaction-removed.json", 1, vec![(0, "/messages/0/type", json!("reaction"))]),
        ("pywa-order.json", 1, vec![(0, "/messages/0/type", json!("order"))]),
        (
            "pywa-system-user-changed-number.json",
            1,
            vec![
                (0, "/messages/0/system/type", json!("user_changed_number")),
                (0, "/messages/0/system/new_wa_id", json!("972912345678")),
                (0, "/contacts", Value::Null),
            ],
        ),
        (
            "pywa-system-identity-changed.json",
            1,
            vec![
                (0, "/messages/0/system/type", json!("customer_identity_changed")),
                (0, "/messages/0/identity/hash", json!("xyzxyz")),
            ],
        ),
        (
            "pywa-unsupported.json",
            1,
            vec![
                (0, "/messages/0/type", json!("unknown")),
                (0, "/messages/0/unsupported", Value::Null),
                (0, "/messages/0/errors/0/code", json!(501)),
                (0, "/messages/0/errors/0/title", json!("Unknown message type")),
            ],
        ),
        (
            "pywa-value-errors-131000.json",
            2,
            vec![
                (0, "/messages/0/type", json!("interactive")),
                (1, "/errors/0/code", json!(500)),
                (
                    1,
                    "/errors/0/details",
                    json!("Cloud API error 131000: Something went wrong. Unsupported webhook payload"),
                ),
            ],
        ),
        (
            "pywa-status-sent.json",
            1,
            vec![
                (0, "/statuses/0/id", json!("OUR-MSG")),
                (0, "/statuses/0/status", json!("sent")),
                (0, "/statuses/0/conversation/origin/type", json!("service")),
                (0, "/statuses/0/pricing/category", json!("service")),
                (0, "/contacts", Value::Null),
            ],
        ),
        ("pywa-status-sent-biz-opaque.json", 1, vec![(0, "/statuses/0/status", json!("sent"))]),
        ("bindambc-status-sent-cbp-business-initiated.json", 1, vec![(0, "/statuses/0/status", json!("sent"))]),
        ("pywa-status-delivered.json", 1, vec![(0, "/statuses/0/status", json!("delivered"))]),
        ("pywa-status-read.json", 1, vec![(0, "/statuses/0/status", json!("read"))]),
        ("pywa-status-played.json", 1, vec![(0, "/statuses/0/status", json!("played"))]),
        (
            "pywa-status-failed-130472.json",
            1,
            vec![
                (0, "/statuses/0/status", json!("failed")),
                (0, "/statuses/0/errors/0/code", json!(472)),
                (0, "/statuses/0/type", json!("message")),
            ],
        ),
        ("bindambc-status-failed-131047.json", 1, vec![(0, "/statuses/0/errors/0/code", json!(470))]),
        ("bindambc-status-failed-131053.json", 1, vec![(0, "/statuses/0/errors/0/code", json!(400))]),
        // Template updates are not message events: nothing for the business webhook.
        ("pywa-template-status-approved.json", 0, vec![]),
        // Business-scoped user ids (the coreapp names the user afterwards,
        // see `users_are_named_as_the_business_knows_them`).
        ("bsuid-text-username-no-phone.json", 1, vec![(0, "/messages/0/text/body", json!("hi"))]),
        ("bsuid-text-with-phone.json", 1, vec![(0, "/contacts/0/wa_id", json!("16505551234"))]),
        ("bsuid-status-delivered-no-phone.json", 1, vec![(0, "/statuses/0/recipient_id", Value::Null)]),
        ("bsuid-system-user-changed-number.json", 1, vec![(0, "/messages/0/system/new_wa_id", json!("16505559876"))]),
        (
            "bsuid-system-user-changed-user-id.json",
            1,
            vec![(0, "/messages/0/system/type", json!("user_changed_user_id"))],
        ),
        (
            "bsuid-contacts-contact-request.json",
            1,
            vec![(0, "/messages/0/contacts/0/phones/0/wa_id", json!("16505551234"))],
        ),
    ];
    let mut covered: Vec<&str> = Vec::new();
    for (name, count, checks) in table {
        let events = translate(name);
        assert_eq!(events.len(), count, "{name}: {events:?}");
        for (i, pointer, want) in checks {
            let got = events[i].pointer(pointer).cloned().unwrap_or(Value::Null);
            assert_eq!(got, want, "{name} event {i} at {pointer}: {}", events[i]);
        }
        for e in &events {
            assert!(e.get("entry").is_none() && e.get("object").is_none(), "{name}: no Cloud wrapper");
            for m in e["messages"].as_array().into_iter().flatten() {
                assert_eq!(m["id"], "OUR-IN", "{name}: message ids are ours");
                assert!(m["timestamp"].is_string(), "{name}: timestamps stay strings");
            }
        }
        covered.push(name);
    }
    // Every fixture in the folder has a row.
    let dir = format!("{}/tests/fixtures/cloud-webhooks", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert!(covered.contains(&name.as_str()), "fixture {name} has no row in the table");
        }
    }
}

#[test]
fn failed_status_maps_the_error_and_keeps_legacy_fields() {
    let events = parse_notification(&fixture("bindambc-status-failed-131047.json")).unwrap();
    let [CloudEvent::Status { status, .. }] = events.as_slice() else { panic!("{events:?}") };
    let out = onprem_status(status, "gBEGkYiEB1VXAglK1ZEqA1YKPrU", None);
    assert_eq!(out["id"], "gBEGkYiEB1VXAglK1ZEqA1YKPrU");
    assert_eq!(out["type"], "message");
    assert_eq!(out["message"]["recipient_id"], "5511111111111");
    assert_eq!(out["errors"][0]["title"], "Re-engagement message");
    assert!(out["errors"][0]["details"].as_str().unwrap().contains("131047"));
}

#[test]
fn batches_split_into_events_in_order() {
    let status = |id: &str, st: &str| json!({"id": id, "status": st, "timestamp": "1", "recipient_id": "1"});
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "w", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "A"}, "statuses": [status("w1", "sent"), status("w1", "delivered")]}},
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
            {"field": "messages", "value": {"metadata": {"phone_number_id": "B"},
                "contacts": [{"wa_id": "2", "profile": {"name": "x"}}], "messages": [{"from": "2", "id": "w2", "timestamp": "1", "type": "text", "text": {"body": "b"}}]}}]},
        {"id": "w", "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "A"}, "statuses": [status("w1", "read")]}}]}]});
    let events = parse_notification(body.to_string().as_bytes()).unwrap();
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| match e {
            CloudEvent::Status { phone_number_id, status, .. } => {
                (phone_number_id.clone(), status["status"].as_str().unwrap().to_string())
            }
            CloudEvent::Message { phone_number_id, .. } => (phone_number_id.clone(), "message".into()),
            CloudEvent::Error { phone_number_id, .. } => (phone_number_id.clone(), "error".into()),
            CloudEvent::UserChange { phone_number_id, .. } => (phone_number_id.clone(), "user".into()),
        })
        .collect();
    let want: Vec<(String, String)> = [("A", "sent"), ("A", "delivered"), ("B", "message"), ("A", "read")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(summary, want);
}

#[test]
fn other_objects_and_bad_json_are_rejected() {
    assert!(matches!(parse_notification(br#"{"object":"page"}"#), Err(ParseError::NotWhatsApp)));
    assert!(matches!(parse_notification(b"not json"), Err(ParseError::Json(_))));
}

#[test]
fn synchronous_errors_map_to_on_prem_codes() {
    let cases = [
        (130429, 1015),
        (131056, 1015),
        (131008, 1008),
        (131009, 1009),
        (131021, 1021),
        (132001, 2001),
        (132000, 2000),
        (190, 1005),
        (250, 1005),
        (131000, 1014),
        (999999, 1014),
    ];
    for (cloud, onprem) in cases {
        let e = onprem_api_error(&json!({"code": cloud, "message": "m", "error_data": {"details": "d"}}));
        assert_eq!(e.code.number(), onprem, "{cloud}");
        assert!(e.details.contains(&cloud.to_string()) && e.details.ends_with('d'));
    }
}

#[test]
fn sha256_in_base64_or_hex_or_nothing() {
    let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    assert_eq!(sha256_to_hex(b64).as_deref(), Some(hex));
    assert_eq!(sha256_to_hex(hex).as_deref(), Some(hex));
    assert_eq!(sha256_to_hex(&hex.to_uppercase()).as_deref(), Some(hex));
    // Unreadable, or of another length: nothing to check against.
    for bad in
        ["", "not a hash", &hex[..62], "AAAA", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA", &format!("{hex}00")]
    {
        assert_eq!(sha256_to_hex(bad), None, "{bad}");
    }
}

#[test]
fn users_are_named_as_the_business_knows_them() {
    use crate::identity::Bsuid;
    let events = parse_notification(&fixture("bsuid-text-username-no-phone.json")).unwrap();
    let [CloudEvent::Message { contact, message, user: Some(user), .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(user.bsuid, Bsuid::parse("US.13491208655302741918"));
    assert_eq!(user.phone, None);
    assert_eq!(user.username.as_deref(), Some("realsheenanelson"));

    let mut out = onprem_inbound(contact.as_ref(), message, "OUR-IN", &mut Ids);
    let plain = Presented { identifier: "280000000000007", user_id: None, username: None };
    present_sender(&mut out, &plain);
    assert_eq!(out["messages"][0]["from"], "280000000000007");
    assert_eq!(out["contacts"][0]["wa_id"], "280000000000007");
    assert_eq!(out["contacts"][0]["profile"], json!({"name": "Sheena Nelson"}));
    assert!(
        out["messages"][0].get("from_user_id").is_none() && out["messages"][0].get("from_parent_user_id").is_none()
    );
    assert!(out["contacts"][0].get("user_id").is_none() && out["contacts"][0].get("username").is_none());

    let asked = Presented {
        identifier: "280000000000007",
        user_id: Some("US.13491208655302741918"),
        username: Some("realsheenanelson"),
    };
    present_sender(&mut out, &asked);
    assert_eq!(out["contacts"][0]["user_id"], "US.13491208655302741918");
    assert_eq!(out["contacts"][0]["username"], "realsheenanelson");
}

#[test]
fn statuses_name_the_recipient_the_business_wrote() {
    let events = parse_notification(&fixture("bsuid-status-delivered-no-phone.json")).unwrap();
    let [CloudEvent::Status { status, user: Some(user), .. }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(user.bsuid.as_ref().map(|b| b.as_str()), Some("US.13491208655302741918"));
    let out = onprem_status(status, "OUR-MSG", Some("280000000000007"));
    assert_eq!(out["recipient_id"], "280000000000007");
    assert!(out.get("recipient_user_id").is_none() && out.get("contacts").is_none());
}

#[test]
fn the_older_user_id_update_field_is_a_user_change() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
        {"field": "user_id_update", "value": {"messaging_product": "whatsapp",
            "metadata": {"phone_number_id": "A"},
            "user_id": {"previous": "US.13491208655302741918", "current": "US.20000000000000000002"}}}]}]});
    let events = parse_notification(body.to_string().as_bytes()).unwrap();
    let [CloudEvent::UserChange { phone_number_id, user }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(phone_number_id, "A");
    assert_eq!(user.bsuid.as_ref().map(|b| b.as_str()), Some("US.20000000000000000002"));
    assert_eq!(user.previous_bsuid.as_ref().map(|b| b.as_str()), Some("US.13491208655302741918"));
}

#[test]
fn the_number_change_event_is_the_old_clients() {
    let out = user_changed_number("OUR-IN", "280000000000007", "16505551234", Some("Sheena Nelson"), "1780000300");
    assert_eq!(out["contacts"], json!([{"wa_id": "280000000000007", "profile": {"name": "Sheena Nelson"}}]));
    let m = &out["messages"][0];
    assert_eq!(m["from"], "280000000000007");
    assert_eq!(m["type"], "system");
    assert_eq!(m["timestamp"], "1780000300");
    assert_eq!(
        m["system"],
        json!({"body": "User Sheena Nelson changed from 280000000000007 to 16505551234",
               "new_wa_id": "16505551234", "type": "user_changed_number"})
    );
}

#[test]
fn bsuid_refusals_map_to_an_invalid_parameter() {
    let cloud = json!({"code": 131062, "message": "Business-scoped User ID (BSUID) recipients are not supported for this message."});
    let api = onprem_api_error(&cloud);
    assert_eq!(api.code, ErrorCode::ParameterInvalid);
    assert!(api.details.contains("131062") && api.details.contains("BSUID"), "{}", api.details);
    let hook = onprem_error(
        &json!({"code": 131062, "title": "Business-scoped User ID (BSUID) recipients are not supported for this message."}),
    );
    assert_eq!(hook["code"], 1009);
    assert!(hook["details"].as_str().unwrap().contains("BSUID"));
}

#[test]
fn a_sender_named_by_phone_still_gets_the_bsuid_of_their_contact() {
    let events = parse_notification(&fixture("pywa-text.json")).unwrap();
    let [CloudEvent::Message { user: Some(user), .. }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(user.phone.as_deref(), Some("972987654321"));
    assert_eq!(user.bsuid.as_ref().map(|b| b.as_str()), Some("US.13491208655302741918"));
}
