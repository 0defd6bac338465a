//! Table-driven tests: every validation error with its code, and every type
//! translated from on-prem JSON to Cloud JSON.

use serde_json::{Value, json};

use super::super::{MAX_TEXT_LEN, to_cloud, validate};

const TO: &str = "15551234567";

fn with(ty: &str, object: Value) -> Value {
    let mut m = json!({"to": TO, "type": ty});
    m[ty] = object;
    m
}

#[test]
fn invalid_payloads_get_the_old_clients_codes() {
    let long = "x".repeat(MAX_TEXT_LEN + 1);
    let sections = |n: usize| -> Value {
        json!(
            (0..n)
                .map(|i| json!({"title": format!("s{i}"), "rows": [{"id": format!("r{i}"), "title": "t"}]}))
                .collect::<Vec<_>>()
        )
    };
    let cases: Vec<(Value, u32, &str)> = vec![
        // common fields
        (json!({"type": "text", "text": {"body": "hi"}}), 1008, "'to'"),
        (json!({"to": "", "text": {"body": "hi"}}), 1008, "'to'"),
        (json!({"to": "1555x", "text": {"body": "hi"}}), 1009, "'to'"),
        (json!({"to": TO, "type": "fax", "text": {"body": "x"}}), 1009, "'type'"),
        (json!({"to": TO, "text": {"body": "x"}, "image": {"id": "1"}}), 1010, "'image'"),
        (json!({"to": TO, "text": {"body": "x"}, "preview_url": "yes"}), 1009, "'preview_url'"),
        (json!({"to": TO, "type": "image", "image": {"id": "1"}, "preview_url": true}), 1010, "'preview_url'"),
        (json!({"to": TO, "text": {"body": "x"}, "recipient_type": "group"}), 1002, "recipient_type"),
        (json!({"to": TO, "text": {"body": "x"}, "ttl": ""}), 1009, "Empty TTL"),
        (json!({"to": TO, "text": {"body": "x"}, "ttl": "soon"}), 1009, "'ttl'"),
        (json!({"to": TO, "text": {"body": "x"}, "context": {}}), 1008, "'context.message_id'"),
        (json!({"to": TO, "text": {"body": "x"}, "biz_opaque_callback_data": 5}), 1009, "biz_opaque"),
        // text
        (json!({"to": TO}), 1008, "'text'"),
        (with("text", json!({})), 1008, "'text.body'"),
        (with("text", json!({"body": 5})), 1009, "'text.body'"),
        (with("text", json!({"body": long})), 1001, "4096"),
        (with("text", json!({"body": "x", "preview_url": 1})), 1009, "'text.preview_url'"),
        // media
        (with("image", json!({})), 1008, "'image.id' or 'image.link'"),
        (with("image", json!({"id": "1", "link": "https://a.example/x.png"})), 1009, "Only one"),
        (with("image", json!({"link": "ftp://a.example/x.png"})), 1009, "'image.link'"),
        (with("audio", json!({"id": "1", "caption": "no"})), 1010, "'caption'"),
        (with("sticker", json!({"id": "1", "caption": "no"})), 1010, "'caption'"),
        (with("image", json!({"id": "1", "filename": "a.png"})), 1010, "'filename'"),
        (
            with("video", json!({"link": "https://a.example/v.mp4", "caption": "x".repeat(1025)})),
            1009,
            "'video.caption'",
        ),
        (
            with("document", json!({"link": "https://a.example/d.pdf", "provider": {}})),
            1008,
            "'document.provider.name'",
        ),
        // location
        (with("location", json!({"longitude": 1.0})), 1008, "'location.latitude'"),
        (with("location", json!({"latitude": 91.0, "longitude": 1.0})), 1009, "'location.latitude'"),
        (with("location", json!({"latitude": 1.0, "longitude": "east"})), 1009, "'location.longitude'"),
        // contacts
        (json!({"to": TO, "type": "contacts"}), 1008, "'contacts'"),
        (json!({"to": TO, "type": "contacts", "contacts": []}), 1008, "'contacts'"),
        (json!({"to": TO, "type": "contacts", "contacts": [{"phones": []}]}), 1008, "'contacts[0].name'"),
        (json!({"to": TO, "type": "contacts", "contacts": [{"name": {"first_name": "A"}}]}), 1008, "formatted_name"),
        (
            json!({"to": TO, "type": "contacts", "contacts": [{"name": {"formatted_name": "A"}, "birthday": "1.2.1990"}]}),
            1009,
            "birthday",
        ),
        // interactive
        (with("interactive", json!({"type": "button", "action": {}})), 1008, "'interactive.body'"),
        (with("interactive", json!({"type": "poll", "body": {"text": "b"}, "action": {}})), 1009, "'interactive.type'"),
        (with("interactive", json!({"type": "button", "body": {"text": "b"}})), 1008, "'interactive.action'"),
        (
            with(
                "interactive",
                json!({"type": "button", "body": {"text": "x".repeat(1025)}, "action": {"buttons": []}}),
            ),
            1009,
            "'interactive.body.text'",
        ),
        (
            with(
                "interactive",
                json!({"type": "button", "header": {"type": "text", "text": "h".repeat(61)}, "body": {"text": "b"}, "action": {"buttons": []}}),
            ),
            1009,
            "'interactive.header.text'",
        ),
        (
            with("interactive", json!({"type": "button", "body": {"text": "b"}, "action": {"buttons": []}})),
            1009,
            "1 to 3 buttons",
        ),
        (
            with(
                "interactive",
                json!({"type": "button", "body": {"text": "b"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "1", "title": "a"}}, {"type": "reply", "reply": {"id": "2", "title": "b"}},
            {"type": "reply", "reply": {"id": "3", "title": "c"}}, {"type": "reply", "reply": {"id": "4", "title": "d"}}]}}),
            ),
            1009,
            "1 to 3 buttons",
        ),
        (
            with(
                "interactive",
                json!({"type": "button", "body": {"text": "b"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "1", "title": "Twenty one characters"}}]}}),
            ),
            1009,
            "title",
        ),
        (
            with(
                "interactive",
                json!({"type": "button", "body": {"text": "b"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "1", "title": "Same"}}, {"type": "reply", "reply": {"id": "2", "title": "Same"}}]}}),
            ),
            1009,
            "unique",
        ),
        (
            with("interactive", json!({"type": "list", "body": {"text": "b"}, "action": {"sections": sections(1)}})),
            1008,
            "'interactive.action.button'",
        ),
        (
            with(
                "interactive",
                json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick", "sections": []}}),
            ),
            2015,
            "sections",
        ),
        (
            with(
                "interactive",
                json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick", "sections": sections(11)}}),
            ),
            2015,
            "sections",
        ),
        (
            with(
                "interactive",
                json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick", "sections": [{"title": "s", "rows": []}]}}),
            ),
            2016,
            "no rows",
        ),
        (
            with(
                "interactive",
                json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick", "sections": [
            {"title": "s", "rows": (0..11).map(|i| json!({"id": i.to_string(), "title": "t"})).collect::<Vec<_>>()}]}}),
            ),
            2016,
            "at most 10 rows",
        ),
        (
            with(
                "interactive",
                json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick", "sections": [
            {"rows": [{"id": "1", "title": "t"}]}, {"title": "two", "rows": [{"id": "2", "title": "t"}]}]}}),
            ),
            1008,
            "sections[0].title",
        ),
        (
            with(
                "interactive",
                json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick", "sections": [
            {"rows": [{"id": "1", "title": "t", "description": "d".repeat(73)}]}]}}),
            ),
            1009,
            "description",
        ),
        // template
        (
            with("template", json!({"name": "t", "language": {"code": "en", "policy": "deterministic"}})),
            1008,
            "'template.namespace'",
        ),
        (
            with(
                "template",
                json!({"namespace": " ", "name": "t", "language": {"code": "en", "policy": "deterministic"}}),
            ),
            2014,
            "namespace",
        ),
        (
            with("template", json!({"namespace": "ns", "language": {"code": "en", "policy": "deterministic"}})),
            1008,
            "'template.name'",
        ),
        (with("template", json!({"namespace": "ns", "name": "t"})), 1008, "'template.language'"),
        (
            with("template", json!({"namespace": "ns", "name": "t", "language": {"code": "en"}})),
            1008,
            "'template.language.policy'",
        ),
        (
            with("template", json!({"namespace": "ns", "name": "t", "language": {"code": "en", "policy": "loose"}})),
            1009,
            "'template.language.policy'",
        ),
        (
            with(
                "template",
                json!({"namespace": "ns", "name": "t", "language": {"code": "en", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "USD"}}]}]}),
            ),
            1008,
            "amount_1000",
        ),
        (
            with(
                "template",
                json!({"namespace": "ns", "name": "t", "language": {"code": "en", "policy": "deterministic"},
            "components": [{"type": "button", "index": "0", "parameters": []}]}),
            ),
            1008,
            "sub_type",
        ),
        (
            with(
                "template",
                json!({"namespace": "ns", "name": "t", "language": {"code": "en", "policy": "deterministic"},
            "components": [{"type": "header", "parameters": [{"type": "text", "text": "h".repeat(61)}]}]}),
            ),
            1009,
            "parameters[0].text",
        ),
        // hsm
        (
            with("hsm", json!({"element_name": "t", "language": {"code": "en", "policy": "fallback"}})),
            1008,
            "'hsm.namespace'",
        ),
        (
            with(
                "hsm",
                json!({"namespace": "", "element_name": "t", "language": {"code": "en", "policy": "fallback"}}),
            ),
            2014,
            "namespace",
        ),
        (
            with("hsm", json!({"namespace": "ns", "language": {"code": "en", "policy": "fallback"}})),
            1008,
            "'hsm.element_name'",
        ),
        (
            with(
                "hsm",
                json!({"namespace": "ns", "element_name": "t", "language": {"code": "en", "policy": "fallback"},
            "localizable_params": [{"currency": {"code": "USD", "amount_1000": 1}}]}),
            ),
            1008,
            "default",
        ),
        // reaction
        (with("reaction", json!({"emoji": "👍"})), 1008, "'reaction.message_id'"),
        (with("reaction", json!({"message_id": "x"})), 1008, "'reaction.emoji'"),
    ];
    for (body, want, needle) in cases {
        let err = validate(&body).expect_err(&format!("should fail: {body}"));
        assert_eq!(err.code.number(), want, "{body}: {}", err.details);
        assert!(err.details.contains(needle), "{body}: '{}' lacks '{needle}'", err.details);
    }
}

#[test]
fn valid_payloads_pass() {
    let bodies = [
        json!({"to": "+1 (555) 123-4567", "text": {"body": "hi"}, "preview_url": true}),
        with("text", json!({"body": "é".repeat(MAX_TEXT_LEN)})),
        with("image", json!({"link": "https://a.example/x.png", "caption": "c"})),
        with("document", json!({"id": "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68", "caption": "c", "filename": "a.pdf"})),
        with("document", json!({"link": "https://a.example/d.pdf", "provider": {"name": "corp"}})),
        with("audio", json!({"id": "1"})),
        with("video", json!({"id": "1", "caption": "c"})),
        with("sticker", json!({"link": "https://a.example/s.webp"})),
        with("location", json!({"latitude": "37.758056", "longitude": -122.425332, "name": "n", "address": "a"})),
        json!({"to": TO, "type": "contacts", "contacts": [{"name": {"formatted_name": "A B", "first_name": "A"},
               "phones": [{"phone": "+1 555", "type": "CELL"}], "birthday": "1990-01-31", "org": {"company": "C"}}]}),
        with(
            "interactive",
            json!({"type": "button", "header": {"type": "image", "image": {"link": "https://a.example/i.png"}},
               "body": {"text": "b"}, "footer": {"text": "f"},
               "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]}}),
        ),
        with(
            "interactive",
            json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick",
               "sections": [{"title": "s", "rows": [{"id": "1", "title": "t", "description": "d"}]}]}}),
        ),
        with(
            "template",
            json!({"namespace": "ns", "name": "t", "language": {"code": "en", "policy": "deterministic"}}),
        ),
        with(
            "hsm",
            json!({"namespace": "ns", "element_name": "t", "language": {"code": "en", "policy": "fallback"},
               "localizable_params": [{"default": "x"}]}),
        ),
        with("reaction", json!({"message_id": "abc", "emoji": ""})),
        json!({"to": TO, "text": {"body": "x"}, "ttl": "P1D", "context": {"message_id": "abc"}, "render_mentions": false}),
    ];
    for b in bodies {
        let out = validate(&b).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(out.recipient, "15551234567");
        assert!(out.message.to_json()["type"].is_string());
    }
}

fn cloud(onprem: Value) -> Value {
    let checked = validate(&onprem).unwrap_or_else(|e| panic!("{onprem}: {e}"));
    let map = |id: &str| (id == "OUR_ID").then(|| "wamid.MAPPED".to_string());
    to_cloud(&checked.recipient, &checked.message, &map)
}

fn envelope(ty: &str, object: Value) -> Value {
    let mut m =
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+15551234567", "type": ty});
    m[ty] = object;
    m
}

#[test]
fn every_type_translates_to_cloud() {
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"to": TO, "text": {"body": "hi"}, "preview_url": true, "ttl": 3600}),
            envelope("text", json!({"body": "hi", "preview_url": true})),
        ),
        (
            with("image", json!({"link": "https://a.example/x.png", "caption": "c"})),
            envelope("image", json!({"link": "https://a.example/x.png", "caption": "c"})),
        ),
        (
            with(
                "document",
                json!({"link": "https://a.example/d.pdf", "filename": "d.pdf", "provider": {"name": "corp"}}),
            ),
            envelope("document", json!({"link": "https://a.example/d.pdf", "filename": "d.pdf"})),
        ),
        (with("audio", json!({"id": "123"})), envelope("audio", json!({"id": "123"}))),
        (with("sticker", json!({"id": "9"})), envelope("sticker", json!({"id": "9"}))),
        (
            with("location", json!({"latitude": "37.5", "longitude": -122.25, "name": "HQ", "address": "Main St"})),
            envelope("location", json!({"latitude": 37.5, "longitude": -122.25, "name": "HQ", "address": "Main St"})),
        ),
        (
            json!({"to": TO, "type": "contacts", "contacts": [{"name": {"formatted_name": "A B"}, "phones": [{"phone": "+1 555", "type": "CELL"}]}]}),
            envelope(
                "contacts",
                json!([{"name": {"formatted_name": "A B"}, "phones": [{"phone": "+1 555", "type": "CELL"}]}]),
            ),
        ),
        (
            with(
                "interactive",
                json!({"type": "button", "body": {"text": "b"},
                  "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]}}),
            ),
            envelope(
                "interactive",
                json!({"type": "button", "body": {"text": "b"},
                  "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]}}),
            ),
        ),
        (
            with(
                "template",
                json!({"namespace": "ns", "name": "order_update", "language": {"code": "en_US", "policy": "fallback"},
                  "components": [
                      {"type": "body", "parameters": [{"type": "text", "text": "Jo"},
                          {"type": "currency", "currency": {"fallback_value": "$1.50", "code": "USD", "amount_1000": 1500}},
                          {"type": "date_time", "date_time": {"fallback_value": "May 1"}}]},
                      {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "OK"}]}]}),
            ),
            envelope(
                "template",
                json!({"name": "order_update", "language": {"code": "en_US", "policy": "deterministic"},
                  "components": [
                      {"type": "body", "parameters": [{"type": "text", "text": "Jo"},
                          {"type": "currency", "currency": {"fallback_value": "$1.50", "code": "USD", "amount_1000": 1500}},
                          {"type": "date_time", "date_time": {"fallback_value": "May 1"}}]},
                      {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "OK"}]}]}),
            ),
        ),
        (
            with(
                "hsm",
                json!({"namespace": "ns", "element_name": "ticket", "language": {"code": "en", "policy": "deterministic"},
                  "localizable_params": [{"default": "Jo"}, {"default": "$10", "currency": {"code": "USD", "amount_1000": 10000}},
                                         {"default": "today", "date_time": {"day_of_month": 1}}]}),
            ),
            envelope(
                "template",
                json!({"name": "ticket", "language": {"code": "en", "policy": "deterministic"},
                  "components": [{"type": "body", "parameters": [
                      {"type": "text", "text": "Jo"},
                      {"type": "currency", "currency": {"code": "USD", "amount_1000": 10000, "fallback_value": "$10"}},
                      {"type": "date_time", "date_time": {"fallback_value": "today"}}]}]}),
            ),
        ),
        (
            with(
                "hsm",
                json!({"namespace": "ns", "element_name": "plain", "language": {"code": "en", "policy": "fallback"}}),
            ),
            envelope("template", json!({"name": "plain", "language": {"code": "en", "policy": "deterministic"}})),
        ),
        (
            with("reaction", json!({"message_id": "OUR_ID", "emoji": "👍"})),
            envelope("reaction", json!({"message_id": "wamid.MAPPED", "emoji": "👍"})),
        ),
    ];
    for (onprem, want) in cases {
        assert_eq!(cloud(onprem.clone()), want, "{onprem}");
    }
}

#[test]
fn context_and_tracking_data_carry_over() {
    let out = cloud(
        json!({"to": TO, "text": {"body": "re"}, "context": {"message_id": "OUR_ID"}, "biz_opaque_callback_data": "o-1"}),
    );
    assert_eq!(out["context"], json!({"message_id": "wamid.MAPPED"}));
    assert_eq!(out["biz_opaque_callback_data"], "o-1");
    let unknown = cloud(json!({"to": TO, "text": {"body": "re"}, "context": {"message_id": "wamid.ALREADY"}}));
    assert_eq!(unknown["context"], json!({"message_id": "wamid.ALREADY"}), "ids we do not know pass as given");
}

#[test]
fn media_ids_are_found_and_mapped() {
    use super::super::is_our_media_id;
    let ours = "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68";
    let cases = vec![
        with("image", json!({"id": ours, "caption": "c"})),
        with("document", json!({"id": ours, "filename": "a.pdf"})),
        with(
            "interactive",
            json!({"type": "button", "header": {"type": "video", "video": {"id": ours}}, "body": {"text": "b"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "t"}}]}}),
        ),
        with(
            "template",
            json!({"namespace": "ns", "name": "spring_promo", "language": {"policy": "deterministic", "code": "en"},
                   "components": [{"type": "header", "parameters": [{"type": "image", "image": {"id": ours}}]},
                                  {"type": "body", "parameters": [{"type": "text", "text": "x"}]}]}),
        ),
    ];
    for payload in cases {
        let checked = validate(&payload).unwrap_or_else(|e| panic!("{payload}: {e}"));
        let mut message = checked.message;
        assert_eq!(message.media_ids(), vec![ours], "{payload}");
        message.each_media_mut(&mut |m| m.id = m.id.as_ref().map(|id| format!("cloud-{id}")));
        let cloud = to_cloud(TO, &message, &|_| None).to_string();
        assert!(cloud.contains(&format!("\"cloud-{ours}\"")), "{cloud}");
        assert!(!cloud.contains(&format!("\"{ours}\"")), "{cloud}");
    }
    let by_link = validate(&with("image", json!({"link": "https://x.test/a.jpg"}))).unwrap();
    assert!(by_link.message.media_ids().is_empty());
    assert!(is_our_media_id(ours));
    assert!(!is_our_media_id("1037543291543636"));
    assert!(!is_our_media_id("f043afd0_f0ae-4b9c-ab3d-696fb4c8cd68"));
}

#[test]
fn users_without_a_phone_are_addressed_by_stand_in_or_bsuid() {
    // A stand-in identifier has the digits shape of a phone number.
    let standin = validate(&json!({"to": "280000000000007", "text": {"body": "hi"}})).unwrap();
    assert_eq!(standin.recipient, "280000000000007");
    // A BSUID is kept as Cloud wrote it and goes to Cloud in `recipient`.
    let bsuid = validate(&json!({"to": "US.13491208655302741918", "text": {"body": "hi"}})).unwrap();
    assert_eq!(bsuid.recipient, "US.13491208655302741918");
    let out = to_cloud(&bsuid.recipient, &bsuid.message, &|_| None);
    assert_eq!(out["recipient"], "US.13491208655302741918");
    assert!(out.get("to").is_none(), "{out}");
    // Anything else is still an invalid `to`.
    for to in ["us.1349", "US.", "US.12#4", "USA.1"] {
        let err = validate(&json!({"to": to, "text": {"body": "hi"}})).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::ParameterInvalid, "{to}");
    }
}

#[test]
fn the_request_for_a_users_number_is_cloud_s_interactive() {
    let ask = |action: Value| {
        let mut i = json!({"type": "request_contact_info", "body": {"text": "May we have your number?"}});
        if !action.is_null() {
            i["action"] = action;
        }
        json!({"to": TO, "type": "interactive", "interactive": i})
    };
    let expected = envelope(
        "interactive",
        json!({"type": "request_contact_info", "body": {"text": "May we have your number?"},
               "action": {"name": "request_contact_info"}}),
    );
    assert_eq!(cloud(ask(Value::Null)), expected);
    assert_eq!(cloud(ask(json!({"name": "request_contact_info"}))), expected);
    let err = validate(&ask(json!({"name": "send_location"}))).unwrap_err();
    assert!(err.details.contains("interactive.action.name"), "{}", err.details);
    let no_body = json!({"to": TO, "type": "interactive", "interactive": {"type": "request_contact_info"}});
    assert!(validate(&no_body).unwrap_err().details.contains("interactive.body"));
}

#[test]
fn hsm_currencies_take_the_old_clients_currency_code() {
    let hsm = |currency: Value| {
        json!({"to": TO, "type": "hsm", "hsm": {"namespace": "ns", "element_name": "bill",
            "language": {"policy": "deterministic", "code": "en"},
            "localizable_params": [{"default": "$100.99", "currency": currency}]}})
    };
    let expected =
        json!({"type": "currency", "currency": {"code": "USD", "amount_1000": 100990, "fallback_value": "$100.99"}});
    for c in [json!({"currency_code": "USD", "amount_1000": 100990}), json!({"code": "USD", "amount_1000": 100990})] {
        let out = cloud(hsm(c.clone()));
        assert_eq!(out["template"]["components"][0]["parameters"][0], expected, "{c}");
    }
    let err = validate(&hsm(json!({"amount_1000": 100990}))).unwrap_err();
    assert_eq!(err.code, crate::ErrorCode::ParameterMissing);
    assert!(err.details.contains("currency.currency_code"), "{}", err.details);
    let err = validate(&hsm(json!({"currency_code": "US", "amount_1000": 1}))).unwrap_err();
    assert!(err.details.contains("currency.currency_code"), "{}", err.details);
    let err = validate(&hsm(json!({"currency_code": "USD", "code": "EUR", "amount_1000": 1}))).unwrap_err();
    assert_eq!(err.code, crate::ErrorCode::ParameterInvalid);
}

#[test]
fn translation_sends_only_what_cloud_documents() {
    // What the old client took and Cloud's send body has no place for: a
    // media `provider` (in an interactive header or a template parameter), a
    // template `footer` component, date/time localisation fields, a template
    // currency's `currency_code` beside `code`.
    let header_image = cloud(with(
        "interactive",
        json!({"type": "button", "header": {"type": "image", "image": {"link": "https://a.example/i.png", "provider": {"name": "cdn"}}},
               "body": {"text": "b"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]}}),
    ));
    assert_eq!(
        header_image["interactive"]["header"],
        json!({"type": "image", "image": {"link": "https://a.example/i.png"}})
    );

    let out = cloud(with(
        "template",
        json!({"namespace": "ns", "name": "t", "language": {"code": "en", "policy": "deterministic"}, "components": [
            {"type": "header", "parameters": [{"type": "document",
                "document": {"link": "https://a.example/d.pdf", "filename": "d.pdf", "provider": {"name": "cdn"}}}]},
            {"type": "body", "parameters": [
                {"type": "date_time", "date_time": {"fallback_value": "Feb 25", "component": {"month": 2, "day_of_month": 25}}},
                {"type": "currency", "parameter_name": "total",
                 "currency": {"fallback_value": "$1", "code": "USD", "currency_code": "USD", "amount_1000": 1000}}]},
            {"type": "footer"}]}),
    ));
    assert_eq!(
        out["template"]["components"],
        json!([
            {"type": "header", "parameters": [{"type": "document", "document": {"link": "https://a.example/d.pdf", "filename": "d.pdf"}}]},
            {"type": "body", "parameters": [
                {"type": "date_time", "date_time": {"fallback_value": "Feb 25"}},
                {"type": "currency", "parameter_name": "total", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1000}}]}]),
    );

    // Only a footer: no components at all rather than an empty list.
    let footer_only = cloud(with(
        "template",
        json!({"namespace": "ns", "name": "t", "language": {"code": "en", "policy": "deterministic"}, "components": [{"type": "footer"}]}),
    ));
    assert!(footer_only["template"].get("components").is_none(), "{footer_only}");

    // A legacy hsm's date/time is its `default` as the fallback text.
    let hsm = cloud(with(
        "hsm",
        json!({"namespace": "ns", "element_name": "t", "language": {"code": "en", "policy": "fallback"}, "localizable_params": [
            {"default": "Jan 26, 2017", "date_time": {"unix_epoch": {"timestamp": 1485470276}}},
            {"default": "Feb 25, 1977", "date_time": {"component": {"year": 1977, "month": 2, "day_of_month": 25}}}]}),
    ));
    assert_eq!(
        hsm["template"]["components"][0]["parameters"],
        json!([{"type": "date_time", "date_time": {"fallback_value": "Jan 26, 2017"}},
               {"type": "date_time", "date_time": {"fallback_value": "Feb 25, 1977"}}]),
    );
}
