//! Every on-prem message type through the real stack: what Cloud (the
//! sandbox) receives is checked field by field. Replies and reactions name
//! our message ids; Cloud must get its own wamids. A text send reaches
//! `delivered` and `read`, and malformed requests get their error codes.
//! Once per engine.

use std::time::Duration;

use e2e::{API_KEY, Auth, Engine, Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};

e2e::on_all_engines!(
    every_type_reaches_cloud_as_translated,
    replies_reactions_and_read_marks_use_clouds_ids,
    validation_errors_end_to_end,
    sync_send_answers_with_clouds_verdict,
    contacts_are_checked_and_cached,
    request_limit_answers_429_with_retry_after,
    text_send_reaches_delivered_and_read,
    bad_inputs_get_their_codes,
);

const WAIT: Duration = Duration::from_secs(20);

/// The Cloud payload expected for a recipient.
type Expected = Box<dyn Fn(&str) -> Value>;

fn cloud(ty: &str, to: &str, object: Value) -> Value {
    let mut m =
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": format!("+{to}"), "type": ty});
    m[ty] = object;
    m
}

async fn every_type_reaches_cloud_as_translated(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    // (on-prem object without `to`, expected Cloud payload for recipient)
    let cases: Vec<(Value, Expected)> = vec![
        (
            json!({"type": "text", "text": {"body": "Hi / ünïcode 👋"}, "preview_url": true, "ttl": "P1D"}),
            Box::new(|to| cloud("text", to, json!({"body": "Hi / ünïcode 👋", "preview_url": true}))),
        ),
        (
            json!({"type": "image", "image": {"link": "https://cdn.example.com/a.png", "caption": "cap"}}),
            Box::new(|to| cloud("image", to, json!({"link": "https://cdn.example.com/a.png", "caption": "cap"}))),
        ),
        (
            json!({"type": "document", "document": {"link": "https://cdn.example.com/d.pdf", "filename": "d.pdf", "caption": "c"}}),
            Box::new(|to| {
                cloud(
                    "document",
                    to,
                    json!({"link": "https://cdn.example.com/d.pdf", "filename": "d.pdf", "caption": "c"}),
                )
            }),
        ),
        (
            json!({"type": "audio", "audio": {"link": "https://cdn.example.com/a.ogg"}}),
            Box::new(|to| cloud("audio", to, json!({"link": "https://cdn.example.com/a.ogg"}))),
        ),
        (
            json!({"type": "video", "video": {"link": "https://cdn.example.com/v.mp4", "caption": "v"}}),
            Box::new(|to| cloud("video", to, json!({"link": "https://cdn.example.com/v.mp4", "caption": "v"}))),
        ),
        (
            json!({"type": "sticker", "sticker": {"link": "https://cdn.example.com/s.webp"}}),
            Box::new(|to| cloud("sticker", to, json!({"link": "https://cdn.example.com/s.webp"}))),
        ),
        (
            json!({"type": "location", "location": {"latitude": "37.758056", "longitude": -122.425332, "name": "HQ", "address": "1 Main St"}}),
            Box::new(|to| {
                cloud(
                    "location",
                    to,
                    json!({"latitude": 37.758056, "longitude": -122.425332, "name": "HQ", "address": "1 Main St"}),
                )
            }),
        ),
        (
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ada L", "first_name": "Ada"},
                   "phones": [{"phone": "+1 555 0100", "type": "WORK"}], "emails": [{"email": "ada@example.com", "type": "WORK"}]}]}),
            Box::new(|to| {
                cloud(
                    "contacts",
                    to,
                    json!([{"name": {"formatted_name": "Ada L", "first_name": "Ada"},
                   "phones": [{"phone": "+1 555 0100", "type": "WORK"}], "emails": [{"email": "ada@example.com", "type": "WORK"}]}]),
                )
            }),
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "button", "header": {"type": "text", "text": "H"},
                   "body": {"text": "Pick"}, "footer": {"text": "F"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}, {"type": "reply", "reply": {"id": "n", "title": "No"}}]}}}),
            Box::new(|to| {
                cloud(
                    "interactive",
                    to,
                    json!({"type": "button", "header": {"type": "text", "text": "H"},
                   "body": {"text": "Pick"}, "footer": {"text": "F"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}, {"type": "reply", "reply": {"id": "n", "title": "No"}}]}}),
                )
            }),
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "Menu"},
                   "action": {"button": "Open", "sections": [{"title": "Food", "rows": [{"id": "1", "title": "Pizza", "description": "Hot"}]}]}}}),
            Box::new(|to| {
                cloud(
                    "interactive",
                    to,
                    json!({"type": "list", "body": {"text": "Menu"},
                   "action": {"button": "Open", "sections": [{"title": "Food", "rows": [{"id": "1", "title": "Pizza", "description": "Hot"}]}]}}),
                )
            }),
        ),
        (
            json!({"type": "template", "template": {"namespace": "legacy_ns", "name": "hello_world",
                   "language": {"code": "en_US", "policy": "fallback"}}}),
            Box::new(|to| {
                cloud(
                    "template",
                    to,
                    json!({"name": "hello_world", "language": {"code": "en_US", "policy": "deterministic"}}),
                )
            }),
        ),
        (
            json!({"type": "hsm", "hsm": {"namespace": "legacy_ns", "element_name": "hello_world",
                   "language": {"code": "en_US", "policy": "deterministic"}, "localizable_params": []}}),
            Box::new(|to| {
                cloud(
                    "template",
                    to,
                    json!({"name": "hello_world", "language": {"code": "en_US", "policy": "deterministic"}}),
                )
            }),
        ),
    ];
    for (i, (mut onprem, expected)) in cases.into_iter().enumerate() {
        let to = format!("1555200{i:04}");
        onprem["to"] = json!(to);
        let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(onprem.clone())).await;
        assert_eq!(a.status, 201, "{onprem}: {}", a.body);
        assert_eq!(s.cloud_payload_for(&to).await, expected(&to), "{onprem}");
    }
    s.stop().await;
}

async fn replies_reactions_and_read_marks_use_clouds_ids(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let user = "15553000001";
    let wamid = s.user_sends(json!({"from": user, "type": "text", "text": {"body": "hello business"}})).await;
    let inbound = s.receiver.wait_for(Duration::from_secs(20), |v| v.get("messages").is_some()).await;
    let ours = inbound["messages"][0]["id"].as_str().unwrap().to_string();
    assert_ne!(ours, wamid);

    // A quoted reply and a reaction name our id; Cloud gets its wamid.
    let reply = json!({"to": user, "text": {"body": "re"}, "context": {"message_id": ours}});
    assert_eq!(s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(reply)).await.status, 201);
    let react = json!({"to": user, "type": "reaction", "reaction": {"message_id": ours, "emoji": "👍"}});
    assert_eq!(s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(react)).await.status, 201);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (reply, reaction) = loop {
        let got = s.cloud_received().await;
        let find = |ty: &str| {
            got.iter().find(|e| e["payload"]["type"] == ty && e["payload"]["to"] == format!("+{user}")).cloned()
        };
        if let (Some(r), Some(x)) = (find("text"), find("reaction")) {
            break (r, x);
        }
        assert!(std::time::Instant::now() < deadline, "Cloud never got the reply and the reaction");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(reply["payload"]["context"], json!({"message_id": wamid}));
    assert_eq!(reaction["payload"]["reaction"], json!({"message_id": wamid, "emoji": "👍"}));

    // Mark as read by our id.
    let r = s
        .call(Method::PUT, &format!("/v1/messages/{ours}"), Auth::Bearer(&token), Some(json!({"status": "read"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let marks: Vec<Value> = s.cloud_received().await.into_iter().filter(|e| e["payload"]["status"] == "read").collect();
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0]["payload"], json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid}));
    s.call(Method::PUT, "/v1/messages/unknown-id", Auth::Bearer(&token), Some(json!({"status": "read"})))
        .await
        .assert_error(404, 1006);
    s.call(Method::PUT, &format!("/v1/messages/{ours}"), Auth::Bearer(&token), Some(json!({"status": "unread"})))
        .await
        .assert_error(400, 1009);
    s.call(Method::PUT, &format!("/v1/messages/{ours}"), Auth::Bearer(&token), Some(json!({})))
        .await
        .assert_error(400, 1008);
    s.stop().await;
}

async fn validation_errors_end_to_end(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let to = "15551234567";
    let cases: Vec<(Value, u16, u64)> = vec![
        (json!({"to": to, "text": {"body": "x".repeat(4097)}}), 400, 1001),
        (json!({"to": to, "text": {"body": "x"}, "recipient_type": "group"}), 400, 1002),
        (json!({"to": to, "type": "image", "image": {}}), 400, 1008),
        (json!({"to": to, "type": "audio", "audio": {"id": "1", "caption": "x"}}), 400, 1010),
        (json!({"to": to, "type": "location", "location": {"latitude": 100, "longitude": 0}}), 400, 1009),
        (
            json!({"to": to, "type": "template", "template": {"namespace": "", "name": "t", "language": {"code": "en", "policy": "deterministic"}}}),
            400,
            2014,
        ),
        (
            json!({"to": to, "type": "interactive", "interactive": {"type": "list", "body": {"text": "b"}, "action": {"button": "b", "sections": []}}}),
            400,
            2015,
        ),
        (
            json!({"to": to, "type": "interactive", "interactive": {"type": "list", "body": {"text": "b"}, "action": {"button": "b",
              "sections": [{"title": "s", "rows": (0..11).map(|i| json!({"id": i.to_string(), "title": "t"})).collect::<Vec<_>>()}]}}}),
            400,
            2016,
        ),
        (
            json!({"to": to, "type": "hsm", "hsm": {"namespace": "ns", "language": {"code": "en", "policy": "fallback"}}}),
            400,
            1008,
        ),
    ];
    for (body, status, code) in cases {
        s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(body)).await.assert_error(status, code);
    }
    assert!(s.cloud_received().await.is_empty(), "nothing invalid reached Cloud");
    s.stop().await;
}

async fn sync_send_answers_with_clouds_verdict(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let on = json!({"sync_send": true});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(on)).await.status, 200);
    let ok = s
        .call(
            Method::POST,
            "/v1/messages",
            Auth::Bearer(&token),
            Some(json!({"to": "15554000001", "text": {"body": "sync"}})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    // Answered after Cloud accepted: it is already there.
    assert!(s.cloud_received().await.iter().any(|e| e["payload"]["to"] == "+15554000001"));
    // A template Cloud does not know: its refusal is the answer, and the
    // message is not left behind to be sent later.
    let unknown = json!({"to": "15554000002", "type": "template",
        "template": {"namespace": "ns", "name": "no_such_template", "language": {"code": "en_US", "policy": "deterministic"}}});
    let refused = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(unknown)).await;
    refused.assert_error(404, 2001);
    assert!(refused.body["errors"][0]["details"].as_str().unwrap().contains("132001"), "{}", refused.body);
    s.settled().await;
    assert!(
        !s.receiver.received().iter().any(|v| v["statuses"][0]["status"] == "failed"),
        "no webhook for a refused sync send"
    );
    s.stop().await;
}

async fn contacts_are_checked_and_cached(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let body = json!({"blocking": "wait", "contacts": ["+1 (631) 555-1001", "16315551002", "not a number"], "force_check": false});
    let a = s.call(Method::POST, "/v1/contacts", Auth::Bearer(&token), Some(body.clone())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["contacts"],
        json!([{"input": "+1 (631) 555-1001", "status": "valid", "wa_id": "16315551001"},
               {"input": "16315551002", "status": "valid", "wa_id": "16315551002"},
               {"input": "not a number", "status": "invalid"}])
    );
    let again = s
        .call(
            Method::POST,
            "/v1/contacts/",
            Auth::Bearer(&token),
            Some(json!({"contacts": ["16315551002"], "force_check": true})),
        )
        .await;
    assert_eq!(again.body["contacts"][0]["status"], "valid");
    for (bad, code) in [
        (json!({"contacts": []}), 1009),
        (json!({}), 1008),
        (json!({"contacts": ["1"], "blocking": "later"}), 1009),
        (json!({"contacts": ["1"], "force_check": "yes"}), 1009),
        (json!({"contacts": [{}]}), 1009),
    ] {
        s.call(Method::POST, "/v1/contacts", Auth::Bearer(&token), Some(bad)).await.assert_error(400, code);
    }
    s.call(Method::GET, "/v1/contacts/16315551001/identity", Auth::Bearer(&token), None).await.assert_error(404, 1006);
    s.stop().await;
}

async fn request_limit_answers_429_with_retry_after(engine: Engine) {
    let s = Stack::start_with(engine, Options { messages_rps: 2, ..Options::default() }).await;
    let token = s.admin_token().await;
    let mut limited = None;
    for i in 0..5 {
        let a = s
            .call(
                Method::POST,
                "/v1/messages",
                Auth::Bearer(&token),
                Some(json!({"to": format!("1555500000{i}"), "text": {"body": "x"}})),
            )
            .await;
        if a.status == 429 {
            limited = Some(a);
            break;
        }
        assert_eq!(a.status, 201);
    }
    let a = limited.expect("the third request in a burst of 2 is limited");
    a.assert_error(429, 1015);
    assert!(a.headers.get("retry-after").is_some_and(|v| v.to_str().unwrap().parse::<u64>().unwrap() >= 1));
    s.stop().await;
}

async fn text_send_reaches_delivered_and_read(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let body = json!({"to": "+1 555 123 4567", "type": "text", "recipient_type": "individual",
                      "preview_url": true, "text": {"body": "Hello / wörld 👋"}});
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&admin), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body.pointer("/messages/0/id").and_then(Value::as_str).unwrap().to_string();
    assert!((27..=32).contains(&id.len()), "compact id: {id}");

    for status in ["delivered", "read"] {
        let event = s
            .receiver
            .wait_for(WAIT, |v| v.pointer("/statuses/0/status") == Some(&json!(status)) && v["statuses"][0]["id"] == id)
            .await;
        assert!(event.get("object").is_none() && event.get("entry").is_none(), "no Cloud wrapper: {event}");
        assert_eq!(event["statuses"][0]["recipient_id"], "15551234567");
    }
    // `sent` is off by default.
    assert!(!s.receiver.received().iter().any(|v| v.pointer("/statuses/0/status") == Some(&json!("sent"))));

    let sent: Value = s.http.get(format!("{}/_sandbox/sent", s.sandbox)).send().await.unwrap().json().await.unwrap();
    let cloud = sent["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["payload"]["type"] == "text")
        .expect("Cloud got the message");
    assert_eq!(
        cloud["payload"],
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+15551234567",
               "type": "text", "text": {"body": "Hello / wörld 👋", "preview_url": true}})
    );
    s.stop().await;
}

async fn bad_inputs_get_their_codes(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    let msg = |body: &str| {
        let (s, admin) = (&s, admin.clone());
        let body = body.to_string();
        async move {
            let r = s
                .http
                .post(format!("{}/v1/messages", s.webs[0]))
                .bearer_auth(admin)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            e2e::Answer::read(r).await
        }
    };
    msg("{not json").await.assert_error(400, 1025);
    msg(r#"{"type":"text","text":{"body":"x"}}"#).await.assert_error(400, 1008);
    msg(r#"{"to":"15551234567","text":{"body":"x"},"preview_url":"yes"}"#).await.assert_error(400, 1009);
    msg(r#"{"to":"15551234567","type":"carrier-pigeon","text":{"body":"x"}}"#).await.assert_error(400, 1009);
    msg(r#"{"to":"15551234567","text":{"body":"x"},"image":{"id":"1"}}"#).await.assert_error(400, 1010);
    msg(&json!({"to": "15551234567", "text": {"body": "x".repeat(4097)}}).to_string()).await.assert_error(400, 1001);
    msg(r#"{"to":"15551234567"}"#).await.assert_error(400, 1008);

    s.call(Method::GET, "/v1/no/such/thing", Auth::Bearer(&admin), None).await.assert_error(404, 1006);
    s.call(Method::GET, "/v1/messages", Auth::Bearer(&admin), None).await.assert_error(404, 1006);
    s.call(Method::POST, "/v1/messages", Auth::None, Some(json!({}))).await.assert_error(401, 1005);
    s.call(Method::POST, "/v1/messages", Auth::Bearer("not.a.token"), Some(json!({}))).await.assert_error(401, 1005);

    // Legacy header spellings, a trailing slash, and request ids.
    let r = s
        .http
        .post(format!("{}/v1/messages/", s.webs[0]))
        .header("AUTHORIZATION", format!("Bearer {admin}"))
        .header("CONTENT_TYPE", "application/json")
        .header("X-Request-ID", "legacy-42")
        .body(r#"{"to":"15551234567","text":{"body":"hello"}}"#)
        .send()
        .await
        .unwrap();
    let a = e2e::Answer::read(r).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.headers["x-request-id"], "legacy-42");
    let generated = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
    let rid = generated.headers["x-request-id"].to_str().unwrap();
    assert!(rid.len() == 32 && rid.chars().all(|c| c.is_ascii_hexdigit()), "{rid}");
    // A GET with a JSON content type and an empty body is fine.
    let r = s
        .http
        .get(format!("{}/v1/settings/application", s.webs[0]))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}
