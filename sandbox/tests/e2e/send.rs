//! Sends of every type of `docs/cloud-api.md` §2.2, valid and not, through HTTP.
//! (The field-by-field rules have unit tests next to the validation code.)

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Receiver, TestSandbox, USER, assert_graph_error, config, names};

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// A valid payload of every type.
fn every_type() -> Vec<Value> {
    vec![
        json!({"type": "text", "text": {"body": "Hello / wörld 👋", "preview_url": true}}),
        json!({"type": "image", "image": {"link": "https://cdn.example.com/a.png", "caption": "cap"}}),
        json!({"type": "video", "video": {"link": "https://cdn.example.com/v.mp4", "caption": "v"}}),
        json!({"type": "audio", "audio": {"link": "https://cdn.example.com/a.ogg"}}),
        json!({"type": "document", "document": {"link": "https://cdn.example.com/d.pdf", "filename": "d.pdf", "caption": "c"}}),
        json!({"type": "sticker", "sticker": {"link": "https://cdn.example.com/s.webp"}}),
        json!({"type": "location", "location": {"latitude": 37.48, "longitude": -122.14, "name": "HQ", "address": "1 Main St"}}),
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ada L", "first_name": "Ada"},
            "phones": [{"phone": "+1 555 0100", "type": "WORK"}], "emails": [{"email": "ada@example.com", "type": "WORK"}]}]}),
        json!({"type": "interactive", "interactive": {"type": "button", "header": {"type": "text", "text": "H"},
            "body": {"text": "Pick"}, "footer": {"text": "F"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}, {"type": "reply", "reply": {"id": "n", "title": "No"}}]}}}),
        json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "Menu"},
            "action": {"button": "Open", "sections": [{"title": "Food", "rows": [{"id": "1", "title": "Pizza", "description": "Hot"}]}]}}}),
        json!({"type": "interactive", "interactive": {"type": "cta_url", "body": {"text": "Pay"},
            "action": {"name": "cta_url", "parameters": {"display_text": "Pay now", "url": "https://pay.example.com/1"}}}}),
        json!({"type": "interactive", "interactive": {"type": "flow", "body": {"text": "Book"},
            "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_token": "t", "flow_id": "1",
            "flow_cta": "Book", "flow_action": "navigate", "flow_action_payload": {"screen": "START"}}}}}),
        json!({"type": "interactive", "interactive": {"type": "location_request_message", "body": {"text": "Where are you?"},
            "action": {"name": "send_location"}}}),
        json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US", "policy": "deterministic"}}}),
        json!({"type": "template", "template": {"name": "order_confirmation", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [text("Jessica"), text("#42"),
                {"type": "date_time", "date_time": {"fallback_value": "February 25, 1977"}}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("42")]}]}}),
    ]
}

#[tokio::test]
async fn every_type_is_accepted_and_delivered() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let mut wamids = Vec::new();
    for mut payload in every_type() {
        payload["to"] = json!(USER);
        let (status, body) = sandbox.send(payload.clone()).await;
        assert_eq!(status, StatusCode::OK, "{payload}: {body}");
        let template = payload["type"] == "template";
        assert_eq!(body["messages"][0].get("message_status").is_some(), template, "{body}");
        wamids.push(body["messages"][0]["id"].as_str().unwrap().to_owned());
    }
    for wamid in &wamids {
        // (The audio is a voice note: `played` follows, later.)
        let statuses = receiver.statuses_of(wamid, |s| s.len() >= 3).await;
        assert_eq!(names(&statuses[..3]), ["sent", "delivered", "read"], "{wamid}");
    }
    let (_, sent) = sandbox.control_get("/_sandbox/sent?type=interactive").await;
    assert_eq!(sent["data"].as_array().unwrap().len(), 5);
    assert_eq!(sent["data"][0]["to"], USER);
    sandbox.stop().await;
}

#[tokio::test]
async fn invalid_payloads_get_clouds_codes() {
    let sandbox = TestSandbox::start(config(None)).await;
    let cases: Vec<(Value, u64)> = vec![
        (json!({"type": "image", "image": {}}), 131008),
        (json!({"type": "image", "image": {"id": "1", "link": "https://x.test/a.png"}}), 131009),
        (json!({"type": "audio", "audio": {"id": "1", "caption": "x"}}), 131009),
        (json!({"type": "location", "location": {"latitude": 100, "longitude": 0}}), 131009),
        (json!({"type": "location", "location": {"latitude": 1}}), 131008),
        (json!({"type": "contacts", "contacts": [{"name": {"first_name": "A"}}]}), 131008),
        (json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "two words"}}), 131009),
        (
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "b"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "a title that is far too long"}}]}}}),
            131009,
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "b"}, "action": {"button": "b",
            "sections": [{"title": "s", "rows": (0..11).map(|i| json!({"id": i.to_string(), "title": "t"})).collect::<Vec<_>>()}]}}}),
            131009,
        ),
        (json!({"type": "interactive", "interactive": {"type": "button", "action": {}}}), 131008),
        (json!({"type": "template", "template": {"name": "no_such_template", "language": {"code": "en_US"}}}), 132001),
        (json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "fr"}}}), 132001),
        (
            json!({"type": "template", "template": {"name": "order_confirmation", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [text("only one")]}]}}),
            132000,
        ),
        (json!({"type": "template", "template": {"name": "hello_world"}}), 100),
        (json!({"text": {"body": "x"}, "context": {}}), 131008),
        (json!({"text": {"body": "x"}, "biz_opaque_callback_data": "x".repeat(513)}), 100),
    ];
    for (mut payload, code) in cases {
        payload["to"] = json!(USER);
        let (status, body) = sandbox.send(payload.clone()).await;
        let want = if code == 132001 { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
        assert_eq!((status, body["error"]["code"].as_u64()), (want, Some(code)), "{payload}: {body}");
        assert_graph_error(status, &body, want, code);
        if code > 1000 {
            assert_eq!(body["error"]["type"], "OAuthException");
            assert!(body["error"]["message"].as_str().unwrap().starts_with(&format!("(#{code}) ")), "{body}");
            assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
            assert!(body["error"]["error_data"]["details"].is_string());
        }
    }
    let (_, body) = sandbox
        .send(json!({"to": USER, "type": "template", "template": {"name": "hello_world", "language": {"code": "fr"}}}))
        .await;
    assert_eq!(body["error"]["message"], "(#132001) Template name does not exist in the translation");
    assert_eq!(body["error"]["error_data"]["details"], "template name (hello_world) does not exist in fr");
    let (_, sent) = sandbox.control_get("/_sandbox/sent").await;
    assert_eq!(sent, json!({"data": []}), "refused sends leave no trace");
    sandbox.stop().await;
}

#[tokio::test]
async fn template_parameters_are_checked_against_the_template() {
    let sandbox = TestSandbox::start(config(None)).await;
    let promo = |body: Value| {
        json!({"to": USER, "type": "template", "template": {"name": "spring_promo", "language": {"code": "en"},
        "components": [{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.test/s.jpg"}}]}, body]}})
    };
    let named = json!({"type": "body", "parameters": [
        {"type": "text", "parameter_name": "first_name", "text": "Ada"},
        {"type": "text", "parameter_name": "discount", "text": "20%"}]});
    let (status, body) = sandbox.send(promo(named)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");

    let wrong_name = json!({"type": "body", "parameters": [
        {"type": "text", "parameter_name": "name", "text": "Ada"},
        {"type": "text", "parameter_name": "discount", "text": "20%"}]});
    let (status, body) = sandbox.send(promo(wrong_name)).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 132000);
    let one = json!({"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ada"}]});
    let (status, body) = sandbox.send(promo(one)).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 132000);
    assert_eq!(
        body["error"]["error_data"]["details"],
        "body: number of localizable_params (1) does not match the expected number of params (2)"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn replies_reactions_and_opaque_data() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let inbound = sandbox.inbound(json!({"from": USER, "text": {"body": "hello"}})).await;
    let user_message = inbound["id"].as_str().unwrap().to_owned();

    let reply = sandbox
        .send_ok(json!({"to": USER, "context": {"message_id": user_message}, "text": {"body": "re"},
            "biz_opaque_callback_data": "order-42"}))
        .await;
    let statuses = receiver.statuses_of(&reply, |s| s.len() >= 3).await;
    assert!(statuses.iter().all(|s| s["biz_opaque_callback_data"] == "order-42"));

    sandbox
        .send_ok(json!({"to": USER, "type": "reaction", "reaction": {"message_id": user_message, "emoji": "👍"}}))
        .await;
    sandbox
        .send_ok(json!({"to": USER, "type": "reaction", "reaction": {"message_id": user_message, "emoji": ""}}))
        .await;

    // A reaction cannot be reacted to.
    let reaction = sandbox
        .inbound(json!({"from": USER, "type": "reaction", "reaction": {"message_id": reply, "emoji": "❤️"}}))
        .await;
    let (status, body) = sandbox
        .send(json!({"to": USER, "type": "reaction", "reaction": {"message_id": reaction["id"], "emoji": "👍"}}))
        .await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131009);
    sandbox.stop().await;
}
