//! Every on-prem message the validator accepts, translated for Cloud, must be
//! a body Cloud's documentation allows: each case below goes through
//! `wire::messages::validate` (as the webapp and the coreapp run it) and
//! `to_cloud`, for a phone recipient and for a BSUID recipient, and the
//! result is checked against `tests/data/cloud-messages.schema.json`, a
//! JSON Schema of Cloud's send body written from Meta's pages
//! (`tests/data/SOURCES.md`). Bodies the schema must refuse keep the check
//! from passing vacuously.

use std::collections::BTreeSet;

use jsonschema::Validator;
use serde_json::{Value, json};
use wire::messages::{MEDIA_TYPES, TYPES, is_our_media_id, to_cloud, validate};

const PHONE: &str = "15551234567";
const BSUID: &str = "US.13491208655302741918";
/// A media id of ours, as `/v1/media` hands out; the sender replaces it by
/// Cloud's before sending.
const OUR_MEDIA: &str = "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68";
const LINK: &str = "https://media.example/a/file";

fn schema() -> Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cloud-messages.schema.json");
    let text = std::fs::read_to_string(path).expect("the schema file");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("the schema is not valid JSON Schema 2020-12: {e}");
    }
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the schema does not compile: {e}"))
}

fn violations(schema: &Validator, body: &Value) -> Vec<String> {
    schema.iter_errors(body).map(|e| format!("at '{}': {e}", e.instance_path())).collect()
}

/// An on-prem body of `ty` with `object` as its type object.
fn msg(ty: &str, object: Value) -> Value {
    let mut m = json!({"to": PHONE, "type": ty});
    m[ty] = object;
    m
}

fn interactive(object: Value) -> Value {
    msg("interactive", object)
}

fn template(components: Value) -> Value {
    msg(
        "template",
        json!({"namespace": "ns", "name": "order_update", "language": {"code": "en_US", "policy": "deterministic"},
               "components": components}),
    )
}

fn hsm(params: Value) -> Value {
    msg(
        "hsm",
        json!({"namespace": "ns", "element_name": "bill", "language": {"code": "en", "policy": "fallback"},
               "localizable_params": params}),
    )
}

fn full_card(name: &str) -> Value {
    json!({
        "name": {"formatted_name": format!("Dr. {name} Q. Public Jr."), "first_name": name, "last_name": "Public",
                 "middle_name": "Q.", "prefix": "Dr.", "suffix": "Jr."},
        "phones": [{"phone": "+1 (650) 555-1234", "type": "CELL", "wa_id": "16505551234"},
                   {"phone": "+1 650 555 9876", "type": "WORK"}],
        "emails": [{"email": "jane@corp.example", "type": "WORK"}, {"email": "jane@home.example", "type": "HOME"}],
        "addresses": [{"street": "1 Main St", "city": "Menlo Park", "state": "CA", "zip": "94025",
                       "country": "United States", "country_code": "us", "type": "WORK"}],
        "org": {"company": "Corp", "department": "Design", "title": "Manager"},
        "urls": [{"url": "https://corp.example", "type": "WORK"}],
        "birthday": "1990-01-31",
    })
}

fn reply_buttons() -> Value {
    json!({"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                       {"type": "reply", "reply": {"id": "no", "title": "No"}},
                       {"type": "reply", "reply": {"id": "later", "title": "Ask me later"}}]})
}

/// Every type and variant the on-prem validator accepts, as a business would
/// send it to `POST /v1/messages`.
fn cases() -> Vec<(&'static str, Value)> {
    vec![
        // text
        ("text without type", json!({"to": PHONE, "text": {"body": "hi"}})),
        (
            "text with preview_url",
            json!({"to": PHONE, "type": "text", "text": {"body": "see https://a.example/"}, "preview_url": true}),
        ),
        ("text with preview_url in text", msg("text", json!({"body": "x", "preview_url": false}))),
        (
            "text with on-prem extras",
            json!({"to": "+1 (555) 123-4567", "recipient_type": "individual", "text": {"body": "é".repeat(4096)},
                   "ttl": "P1D", "render_mentions": true, "biz_opaque_callback_data": "tracker-1"}),
        ),
        (
            "reply by context.message_id",
            json!({"to": PHONE, "text": {"body": "re"}, "context": {"message_id": "OUR_ID"}}),
        ),
        ("reply by legacy context.id", json!({"to": PHONE, "text": {"body": "re"}, "context": {"id": "wamid.KNOWN"}})),
        // media, by id and by link
        ("image by id with caption", msg("image", json!({"id": OUR_MEDIA, "caption": "c"}))),
        ("image by link with caption", msg("image", json!({"link": LINK, "caption": "c".repeat(1024)}))),
        ("image by link with provider", msg("image", json!({"link": LINK, "provider": {"name": "cdn"}}))),
        ("audio by id", msg("audio", json!({"id": OUR_MEDIA}))),
        ("audio by link", msg("audio", json!({"link": LINK}))),
        ("video by id with caption", msg("video", json!({"id": OUR_MEDIA, "caption": "c"}))),
        ("video by link", msg("video", json!({"link": LINK}))),
        ("document by id", msg("document", json!({"id": OUR_MEDIA, "caption": "c", "filename": "invoice.pdf"}))),
        (
            "document by link with provider",
            msg("document", json!({"link": LINK, "filename": "invoice.pdf", "provider": {"name": "cdn"}})),
        ),
        ("sticker by id", msg("sticker", json!({"id": OUR_MEDIA}))),
        ("sticker by link", msg("sticker", json!({"link": "https://media.example/s.webp"}))),
        // location
        (
            "location",
            msg(
                "location",
                json!({"latitude": 37.758056, "longitude": -122.425332, "name": "HQ", "address": "Main St"}),
            ),
        ),
        (
            "location with string coordinates and url",
            msg("location", json!({"latitude": "-33.8688", "longitude": "151.2093", "url": "https://maps.example/x"})),
        ),
        // contacts
        ("contacts full card", json!({"to": PHONE, "type": "contacts", "contacts": [full_card("Jane")]})),
        (
            "contacts several cards",
            json!({"to": PHONE, "type": "contacts", "contacts": [
                full_card("Ann"), {"name": {"formatted_name": "Bob"}, "phones": [{"phone": "+44 20 7946 0958"}]}]}),
        ),
        // reaction
        ("reaction to our id", msg("reaction", json!({"message_id": "OUR_ID", "emoji": "👍"}))),
        ("reaction removed", msg("reaction", json!({"message_id": "wamid.KNOWN", "emoji": ""}))),
        // interactive
        (
            "interactive button, text header and footer",
            interactive(json!({"type": "button", "header": {"type": "text", "text": "h".repeat(60)},
                "body": {"text": "b".repeat(1024)}, "footer": {"text": "f".repeat(60)}, "action": reply_buttons()})),
        ),
        (
            "interactive button, image header by link with provider",
            interactive(json!({"type": "button",
                "header": {"type": "image", "image": {"link": LINK, "provider": {"name": "cdn"}}},
                "body": {"text": "b"}, "action": reply_buttons()})),
        ),
        (
            "interactive button, video header by id",
            interactive(json!({"type": "button", "header": {"type": "video", "video": {"id": OUR_MEDIA}},
                "body": {"text": "b"}, "action": reply_buttons()})),
        ),
        (
            "interactive button, document header",
            interactive(json!({"type": "button",
                "header": {"type": "document", "document": {"link": LINK, "filename": "menu.pdf"}},
                "body": {"text": "b"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "OK"}}]}})),
        ),
        (
            "interactive list, one untitled section",
            interactive(json!({"type": "list", "body": {"text": "b"}, "action": {"button": "Pick",
                "sections": [{"rows": [{"id": "1", "title": "One"}]}]}})),
        ),
        (
            "interactive list, sections with titles",
            interactive(json!({"type": "list", "header": {"type": "text", "text": "Menu"}, "body": {"text": "b"},
                "footer": {"text": "f"}, "action": {"button": "b".repeat(20), "sections": [
                    {"title": "t".repeat(24), "rows": [{"id": "i".repeat(200), "title": "r".repeat(24), "description": "d".repeat(72)}]},
                    {"title": "Second", "rows": (0..9).map(|i| json!({"id": i.to_string(), "title": format!("Row {i}")})).collect::<Vec<_>>()}]}})),
        ),
        (
            "interactive product without body",
            interactive(json!({"type": "product", "action": {"catalog_id": "1234", "product_retailer_id": "sku-1"}})),
        ),
        (
            "interactive product with body and footer",
            interactive(json!({"type": "product", "body": {"text": "b"}, "footer": {"text": "f"},
                "action": {"catalog_id": "1234", "product_retailer_id": "sku-1"}})),
        ),
        (
            "interactive product_list",
            interactive(json!({"type": "product_list", "header": {"type": "text", "text": "Our picks"},
                "body": {"text": "b"}, "footer": {"text": "f"}, "action": {"catalog_id": "1234", "sections": [
                    {"title": "Shoes", "product_items": [{"product_retailer_id": "sku-1"}, {"product_retailer_id": "sku-2"}]},
                    {"title": "Hats", "product_items": [{"product_retailer_id": "sku-3"}]}]}})),
        ),
        (
            "interactive cta_url",
            interactive(json!({"type": "cta_url", "header": {"type": "text", "text": "Offer"}, "body": {"text": "b"},
                "footer": {"text": "f"}, "action": {"name": "cta_url",
                    "parameters": {"display_text": "See dates", "url": "https://shop.example/dates?ref=wa"}}})),
        ),
        (
            "interactive flow by id",
            interactive(json!({"type": "flow", "header": {"type": "text", "text": "Sign up"}, "body": {"text": "b"},
                "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_token": "tok-1",
                    "flow_id": "1197715005513101", "flow_cta": "Start", "flow_action": "navigate",
                    "flow_action_payload": {"screen": "WELCOME", "data": {"name": "Jo"}}}}})),
        ),
        (
            "interactive flow by name, draft",
            interactive(json!({"type": "flow", "body": {"text": "b"}, "action": {"name": "flow", "parameters": {
                "flow_message_version": "3", "flow_name": "signup", "flow_cta": "Open", "mode": "draft",
                "flow_action": "data_exchange"}}})),
        ),
        (
            "interactive location_request_message",
            interactive(json!({"type": "location_request_message", "body": {"text": "Where should we pick you up?"},
                "action": {"name": "send_location"}})),
        ),
        (
            "interactive request_contact_info without action",
            interactive(json!({"type": "request_contact_info", "body": {"text": "May we have your number?"}})),
        ),
        (
            "interactive request_contact_info with action",
            interactive(json!({"type": "request_contact_info", "body": {"text": "May we have your number?"},
                "action": {"name": "request_contact_info"}})),
        ),
        // template
        (
            "template without components",
            msg(
                "template",
                json!({"namespace": "ns", "name": "hello_world", "language": {"code": "en_US", "policy": "fallback"}}),
            ),
        ),
        (
            "template, image header by id, body parameters, quick reply",
            template(json!([
                {"type": "header", "parameters": [{"type": "image", "image": {"id": OUR_MEDIA}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Jo"},
                    {"type": "currency", "currency": {"fallback_value": "$1.50", "code": "USD", "amount_1000": 1500}},
                    {"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "OK"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "NO"}]}])),
        ),
        (
            "template, image header by link with provider, url button",
            template(json!([
                {"type": "header", "parameters": [{"type": "image", "image": {"link": LINK, "provider": {"name": "cdn"}}}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "order/123"}]}])),
        ),
        (
            "template, text header and named parameters",
            template(json!([
                {"type": "header", "parameters": [{"type": "text", "text": "h".repeat(60), "parameter_name": "title"}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Jo", "parameter_name": "first_name"},
                    {"type": "currency", "parameter_name": "total",
                     "currency": {"fallback_value": "€9.99", "code": "EUR", "amount_1000": 9990}},
                    {"type": "date_time", "parameter_name": "due", "date_time": {"fallback_value": "tomorrow"}}]}])),
        ),
        (
            "template, document header with filename",
            template(json!([{"type": "header", "parameters": [
                {"type": "document", "document": {"link": LINK, "filename": "invoice.pdf"}}]}])),
        ),
        (
            "template, video header by id",
            template(json!([{"type": "header", "parameters": [{"type": "video", "video": {"id": OUR_MEDIA}}]}])),
        ),
        (
            "template, location header",
            template(json!([{"type": "header", "parameters": [{"type": "location", "location":
                {"latitude": "37.483307", "longitude": "-122.148981", "name": "HQ", "address": "1 Hacker Way"}}]}])),
        ),
        (
            "template, copy code and flow buttons",
            template(json!([
                {"type": "body", "parameters": [{"type": "text", "text": "Jo"}]},
                {"type": "button", "sub_type": "copy_code", "index": 0, "parameters": [{"type": "coupon_code", "coupon_code": "SAVE25"}]},
                {"type": "button", "sub_type": "flow", "index": 1, "parameters": [{"type": "action",
                    "action": {"flow_token": "tok-1", "flow_action_data": {"order": "123"}}}]}])),
        ),
        (
            "template, catalog and multi-product buttons",
            template(json!([
                {"type": "button", "sub_type": "catalog", "index": 0, "parameters": [{"type": "action",
                    "action": {"thumbnail_product_retailer_id": "sku-1"}}]},
                {"type": "button", "sub_type": "mpm", "index": 1, "parameters": [{"type": "action",
                    "action": {"thumbnail_product_retailer_id": "sku-1", "sections": [
                        {"title": "Picks", "product_items": [{"product_retailer_id": "sku-1"}, {"product_retailer_id": "sku-2"}]}]}}]}])),
        ),
        (
            "template, currency also given as currency_code",
            template(json!([{"type": "body", "parameters": [{"type": "currency", "currency":
                {"fallback_value": "$5", "code": "USD", "currency_code": "USD", "amount_1000": 5000}}]}])),
        ),
        (
            "template with a footer component",
            template(json!([{"type": "body", "parameters": [{"type": "text", "text": "Jo"}]}, {"type": "footer"}])),
        ),
        (
            "template, date_time with on-prem localisation",
            template(json!([{"type": "body", "parameters": [{"type": "date_time", "date_time": {
                "fallback_value": "February 25, 1977",
                "component": {"day_of_week": 5, "year": 1977, "month": 2, "day_of_month": 25, "hour": 15, "minute": 33}}}]}])),
        ),
        // hsm, the legacy template
        ("hsm without parameters", hsm(json!([]))),
        ("hsm with text parameters", hsm(json!([{"default": "Jo"}, {"default": "order 123"}]))),
        (
            "hsm currency with currency_code",
            hsm(json!([{"default": "$100.99", "currency": {"currency_code": "USD", "amount_1000": 100990}}])),
        ),
        (
            "hsm currency with code and fallback_value",
            hsm(
                json!([{"default": "$1", "currency": {"code": "USD", "amount_1000": 1000, "fallback_value": "one dollar"}}]),
            ),
        ),
        (
            "hsm date_time by component",
            hsm(json!([{"default": "February 25, 1977", "date_time": {"component":
                {"day_of_week": 5, "year": 1977, "month": 2, "day_of_month": 25, "hour": 15, "minute": 33}}}])),
        ),
        (
            "hsm date_time by unix_epoch",
            hsm(json!([{"default": "January 26, 2017", "date_time": {"unix_epoch": {"timestamp": 1485470276}}}])),
        ),
    ]
}

/// What the sender does: validate, translate for the user's phone or BSUID
/// (quoted and reacted-to ids we know mapped to Cloud's), and replace our
/// media ids by Cloud's.
fn cloud_body(name: &str, onprem: &Value) -> Value {
    let checked = validate(onprem).unwrap_or_else(|e| panic!("case '{name}' is not valid on-prem: {e}\n{onprem}"));
    let map = |id: &str| (id == "OUR_ID").then(|| "wamid.MAPPED".to_string());
    let mut message = checked.message;
    message.each_media_mut(&mut |m| {
        if m.id.as_deref().is_some_and(is_our_media_id) {
            m.id = Some("1037543291543636".to_string());
        }
    });
    to_cloud(&checked.recipient, &message, &map)
}

#[test]
fn every_translated_message_is_a_body_cloud_documents() {
    let schema = schema();
    let cases = cases();

    // The table covers every on-prem type, every media type by id and by
    // link, and every interactive type the validator accepts.
    let mut seen = BTreeSet::new();
    for (_, body) in &cases {
        let ty = body.get("type").and_then(Value::as_str).unwrap_or("text");
        seen.insert(ty.to_string());
        if MEDIA_TYPES.contains(&ty) {
            let how = if body[ty].get("id").is_some() { "id" } else { "link" };
            seen.insert(format!("{ty} by {how}"));
        }
        if let Some(kind) = body.pointer("/interactive/type").and_then(Value::as_str) {
            seen.insert(format!("interactive {kind}"));
        }
    }
    let mut wanted: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
    for media in MEDIA_TYPES {
        wanted.push(format!("{media} by id"));
        wanted.push(format!("{media} by link"));
    }
    for kind in [
        "button",
        "list",
        "product",
        "product_list",
        "cta_url",
        "flow",
        "location_request_message",
        "request_contact_info",
    ] {
        wanted.push(format!("interactive {kind}"));
    }
    let missing: Vec<&String> = wanted.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "no case covers {missing:?}");

    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, onprem) in &cases {
        for (label, to) in [("phone", None), ("bsuid", Some(BSUID))] {
            let mut body = onprem.clone();
            if let Some(to) = to {
                body["to"] = json!(to);
            }
            let cloud = cloud_body(name, &body);
            match to {
                Some(bsuid) => assert!(cloud["recipient"] == bsuid && cloud.get("to").is_none(), "{name}: {cloud}"),
                None => assert!(cloud["to"].is_string() && cloud.get("recipient").is_none(), "{name}: {cloud}"),
            }
            checked += 1;
            let found = violations(&schema, &cloud);
            if !found.is_empty() {
                failures.push(format!("{name} [{label}]\n  {}\n  {}", found.join("\n  "), cloud));
            }
        }
    }
    println!("{checked} translated bodies checked against Cloud's send schema ({} cases)", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} translated bodies break Cloud's documented shape:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A valid Cloud body and a change that must make it invalid: the valid one
/// passing proves the rejection is the change's doing.
struct Bad {
    name: &'static str,
    good: Value,
    change: fn(&mut Value),
}

fn cloud(ty: &str, object: Value) -> Value {
    let mut m =
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+15551234567", "type": ty});
    m[ty] = object;
    m
}

fn bad_bodies() -> Vec<Bad> {
    let text = cloud("text", json!({"body": "hi"}));
    let audio = cloud("audio", json!({"id": "1037543291543636"}));
    let image = cloud("image", json!({"link": LINK}));
    let buttons = cloud("interactive", json!({"type": "button", "body": {"text": "b"}, "action": reply_buttons()}));
    let template = cloud(
        "template",
        json!({"name": "t", "language": {"code": "en", "policy": "deterministic"}, "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": LINK}}]},
            {"type": "body", "parameters": [{"type": "date_time", "date_time": {"fallback_value": "today"}}]}]}),
    );
    let contacts = cloud("contacts", json!([full_card("Jane")]));
    let ask = cloud(
        "interactive",
        json!({"type": "request_contact_info", "body": {"text": "b"}, "action": {"name": "request_contact_info"}}),
    );
    vec![
        Bad { name: "both to and recipient", good: text.clone(), change: |b| b["recipient"] = json!(BSUID) },
        Bad {
            name: "neither to nor recipient",
            good: text.clone(),
            change: |b| {
                b.as_object_mut().unwrap().remove("to");
            },
        },
        Bad {
            name: "recipient that is not a BSUID",
            good: text.clone(),
            change: |b| {
                b.as_object_mut().unwrap().remove("to");
                b["recipient"] = json!("us.1349");
            },
        },
        Bad { name: "another product", good: text.clone(), change: |b| b["messaging_product"] = json!("sms") },
        Bad { name: "unknown top-level field (on-prem ttl)", good: text.clone(), change: |b| b["ttl"] = json!(3600) },
        Bad {
            name: "text over 4096 characters",
            good: text.clone(),
            change: |b| b["text"]["body"] = json!("x".repeat(4097)),
        },
        Bad { name: "object of another type", good: text.clone(), change: |b| b["image"] = json!({"link": LINK}) },
        Bad { name: "caption on audio", good: audio.clone(), change: |b| b["audio"]["caption"] = json!("no") },
        Bad {
            name: "missing type object",
            good: image.clone(),
            change: |b| {
                b.as_object_mut().unwrap().remove("image");
            },
        },
        Bad { name: "filename on image", good: image.clone(), change: |b| b["image"]["filename"] = json!("a.png") },
        Bad { name: "media by id and link", good: image.clone(), change: |b| b["image"]["id"] = json!("1") },
        Bad {
            name: "media provider (on-prem only)",
            good: image.clone(),
            change: |b| b["image"]["provider"] = json!({"name": "cdn"}),
        },
        Bad {
            name: "four reply buttons",
            good: buttons.clone(),
            change: |b| {
                let extra = json!({"type": "reply", "reply": {"id": "4", "title": "Four"}});
                b["interactive"]["action"]["buttons"].as_array_mut().unwrap().push(extra);
            },
        },
        Bad {
            name: "header text over 60 characters",
            good: buttons.clone(),
            change: |b| b["interactive"]["header"] = json!({"type": "text", "text": "h".repeat(61)}),
        },
        Bad {
            name: "request_contact_info named otherwise",
            good: ask,
            change: |b| b["interactive"]["action"]["name"] = json!("send_location"),
        },
        Bad {
            name: "contact without formatted_name",
            good: contacts,
            change: |b| b["contacts"][0]["name"] = json!({"first_name": "J"}),
        },
        Bad {
            name: "template namespace (on-prem only)",
            good: template.clone(),
            change: |b| b["template"]["namespace"] = json!("ns"),
        },
        Bad {
            name: "template fallback language policy",
            good: template.clone(),
            change: |b| b["template"]["language"]["policy"] = json!("fallback"),
        },
        Bad {
            name: "template footer component",
            good: template.clone(),
            change: |b| b["template"]["components"].as_array_mut().unwrap().push(json!({"type": "footer"})),
        },
        Bad {
            name: "date_time with on-prem localisation",
            good: template.clone(),
            change: |b| b["template"]["components"][1]["parameters"][0]["date_time"]["day_of_month"] = json!(25),
        },
        Bad {
            name: "template media provider",
            good: template,
            change: |b| b["template"]["components"][0]["parameters"][0]["image"]["provider"] = json!({"name": "cdn"}),
        },
    ]
}

#[test]
fn the_schema_rejects_bodies_cloud_does_not_take() {
    let schema = schema();
    let mut wrong = Vec::new();
    for Bad { name, good, change } in bad_bodies() {
        let found = violations(&schema, &good);
        assert!(found.is_empty(), "the valid base of '{name}' is refused:\n  {}\n  {good}", found.join("\n  "));
        let mut body = good;
        change(&mut body);
        let found = violations(&schema, &body);
        if found.is_empty() {
            wrong.push(format!("{name}: {body}"));
        } else {
            let first: String = found[0].chars().take(160).collect();
            println!("{name}: refused ({first})");
        }
    }
    assert!(wrong.is_empty(), "the schema accepts bodies it must refuse:\n{}", wrong.join("\n"));
}
