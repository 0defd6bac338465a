//! Webhooks out: the status lifecycle, signatures and escaping, retries, and
//! the delivery knobs (batching, duplicates, reordering, payload version,
//! retry horizon), each shown firing and not firing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{PNID, Receiver, TestSandbox, USER, WABA_ID, assert_signed, config, eventually, items, names};

#[tokio::test]
async fn statuses_arrive_in_order_signed_and_priced() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let wamid = sandbox.send_text("+16505551234", "Hello").await;

    let statuses = receiver.statuses_of(&wamid, |s| s.len() >= 3).await;
    assert_eq!(names(&statuses), ["sent", "delivered", "read"]);
    for request in receiver.received() {
        assert_signed(&request);
        assert_eq!(request.headers.get("user-agent").unwrap(), "facebookexternalua");
        let body = request.json();
        assert_eq!(body["object"], "whatsapp_business_account");
        assert_eq!(body["entry"][0]["id"], WABA_ID);
        assert!(body["entry"][0].get("time").is_none());
        let change = &body["entry"][0]["changes"][0];
        assert_eq!(change["field"], "messages");
        assert_eq!(
            change["value"]["metadata"],
            json!({"display_phone_number": "15550000001", "phone_number_id": PNID})
        );
    }
    for status in &statuses {
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], USER);
        assert!(status["timestamp"].as_str().unwrap().parse::<u64>().is_ok());
        assert!(status.get("conversation").is_none(), "webhooks v24.0 carry no conversation");
    }
    // A service message is free; pricing rides on sent and delivered only.
    let free =
        json!({"billable": false, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"});
    assert_eq!(statuses[0]["pricing"], free);
    assert_eq!(statuses[1]["pricing"], free);
    assert!(statuses[2].get("pricing").is_none());
    sandbox.stop().await;
}

#[tokio::test]
async fn templates_are_priced_by_category() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let send = |name: &str, language: &str, components: Value| json!({"to": USER, "type": "template", "template": {"name": name, "language": {"code": language}, "components": components}});
    let promo = sandbox
        .send_ok(send(
            "spring_promo",
            "en",
            json!([
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.test/a.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ada"},
                {"type": "text", "parameter_name": "discount", "text": "10%"}]}]),
        ))
        .await;
    let hello = sandbox.send_ok(send("hello_world", "en_US", json!([]))).await;
    let sent = receiver.status(&promo, "sent").await;
    assert_eq!(
        sent["pricing"],
        json!({"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"})
    );
    // Utility outside the window is billed; inside it, free.
    assert_eq!(receiver.status(&hello, "sent").await["pricing"]["type"], "regular");
    sandbox.inbound(json!({"from": USER, "text": {"body": "hi"}})).await;
    let hello = sandbox.send_ok(send("hello_world", "en_US", json!([]))).await;
    assert_eq!(
        receiver.status(&hello, "sent").await["pricing"],
        json!({"billable": false, "pricing_model": "PMP", "category": "utility", "type": "free_customer_service"})
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn voice_notes_are_played() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let id = sandbox.upload_ok(include_bytes!("../../src/media/samples/sample.ogg"), "audio/ogg").await;
    let voice = sandbox.send_ok(json!({"to": USER, "type": "audio", "audio": {"id": id}})).await;
    let statuses = receiver.statuses_of(&voice, |s| s.len() >= 4).await;
    assert_eq!(names(&statuses), ["sent", "delivered", "read", "played"]);
    sandbox.stop().await;
}

#[tokio::test]
async fn bodies_are_escaped_like_meta_and_signed_over_those_bytes() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let answer = sandbox.inbound(json!({"from": "4915112345678", "name": "Zoë", "text": {"body": "äöå 😀 a/b"}})).await;
    let received = receiver.message_post(answer["id"].as_str().unwrap()).await;
    assert_signed(&received);
    let raw = std::str::from_utf8(&received.body).unwrap();
    assert!(raw.contains(r#""body":"\u00e4\u00f6\u00e5 \ud83d\ude00 a\/b""#), "{raw}");
    assert!(raw.contains(r#""name":"Zo\u00eb""#), "{raw}");
    assert!(!raw.contains('\n') && !raw.contains("\": ") && !raw.contains(", \""), "compact: {raw}");
    assert_eq!(items(&received.json(), "messages")[0]["text"]["body"], "äöå 😀 a/b");
    sandbox.stop().await;
}

#[tokio::test]
async fn failed_deliveries_are_retried() {
    let receiver = Receiver::start(2).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let answer = sandbox.inbound(json!({"from": USER, "text": {"body": "are you there?"}})).await;
    let received = receiver.message_post(answer["id"].as_str().unwrap()).await;
    assert_eq!(receiver.attempts(), 3, "two 500s, then the 200");
    assert_signed(&received);
    assert_eq!(sandbox.stats().await["webhooks"]["failed_attempts"], 2);
    sandbox.stop().await;
}

#[tokio::test]
async fn retries_stop_at_the_horizon() {
    // The receiver never succeeds; the horizon is short.
    let receiver = Receiver::start(u32::MAX).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    sandbox.settings(json!({"webhooks": {"retry_horizon_ms": 300}})).await;
    sandbox.inbound(json!({"from": USER, "text": {"body": "anyone?"}})).await;
    let client = sandbox.client.clone();
    let url = sandbox.url("/_sandbox/stats");
    let started = tokio::time::Instant::now();
    loop {
        let stats: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        if stats["webhooks"]["dropped_posts"] == 1 {
            assert!(stats["webhooks"]["failed_attempts"].as_u64().unwrap() >= 2, "{stats}");
            break;
        }
        assert!(started.elapsed() < crate::support::DEADLINE, "never dropped: {stats}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(receiver.received().is_empty());
    sandbox.stop().await;
}

#[tokio::test]
async fn batching_puts_several_items_in_one_post() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;

    // On: a long window gathers the `sent` statuses of three quick sends.
    sandbox.settings(json!({"webhooks": {"batch_window_ms": 1000}})).await;
    let wamids = [
        sandbox.send_text(USER, "one").await,
        sandbox.send_text("16505559999", "two").await,
        sandbox.send_text(USER, "three").await,
    ];
    let first = receiver.wait_for(1).await.remove(0);
    assert_signed(&first);
    let body = first.json();
    let statuses = items(&body, "statuses");
    assert_eq!(statuses.len(), 3, "{body}");
    assert!(statuses.iter().all(|s| s["status"] == "sent"));
    let ids: Vec<&str> = statuses.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, wamids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(body["entry"][0]["changes"].as_array().unwrap().len(), 1, "one change per number");

    // Off: at most one item per POST (once the earlier messages are done).
    sandbox.settings(json!({"webhooks": {"batch_window_ms": 0, "batch_max": 1}})).await;
    for wamid in &wamids {
        receiver.statuses_of(wamid, |s| s.len() >= 3).await;
    }
    let before = receiver.received().len();
    let wamid = sandbox.send_text(USER, "alone").await;
    receiver.statuses_of(&wamid, |s| s.len() >= 3).await;
    for request in &receiver.received()[before..] {
        assert_eq!(items(&request.json(), "statuses").len(), 1);
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn duplicates_on_request() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;

    // Off: when `read` arrives, `sent` and `delivered` came once each (a
    // duplicate is sent before the next status is even queued).
    let wamid = sandbox.send_text(USER, "once").await;
    let statuses = receiver.statuses_of(&wamid, |s| s.iter().any(|s| s["status"] == "read")).await;
    assert_eq!(names(&statuses), ["sent", "delivered", "read"]);
    assert_eq!(sandbox.stats().await["webhooks"]["duplicates"], 0);

    // On: every POST twice, byte for byte, signature and all.
    sandbox.settings(json!({"webhooks": {"duplicate_rate": 1.0}})).await;
    let answer = sandbox.inbound(json!({"from": USER, "text": {"body": "twice"}})).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let copies = eventually("two copies", || {
        let copies: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| items(&r.json(), "messages").iter().any(|m| m["id"] == id))
            .collect();
        (copies.len() == 2).then_some(copies)
    })
    .await;
    assert_eq!(copies[0].body, copies[1].body);
    assert_eq!(copies[0].headers.get("x-hub-signature-256"), copies[1].headers.get("x-hub-signature-256"));
    assert_signed(&copies[1]);
    sandbox.stop().await;
}

#[tokio::test]
async fn reordering_on_request() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    // Off (the default): in order, checked in every test above; and here too.
    let ordered = sandbox.send_text(USER, "in order").await;
    assert_eq!(names(&receiver.statuses_of(&ordered, |s| s.len() >= 3).await), ["sent", "delivered", "read"]);

    // On: newest first. A long batch window puts all three in one POST, so
    // the order seen is the order emitted.
    sandbox.settings(json!({"webhooks": {"reorder_rate": 1.0, "batch_window_ms": 1000}})).await;
    let reordered = sandbox.send_text(USER, "shuffled").await;
    let statuses = receiver.statuses_of(&reordered, |s| s.len() >= 3).await;
    assert_eq!(names(&statuses), ["read", "delivered", "sent"]);
    // Pricing still rides on sent and one other status.
    assert_eq!(statuses.iter().filter(|s| s.get("pricing").is_some()).count(), 2);
    sandbox.stop().await;
}

#[tokio::test]
async fn skipped_delivered_and_unread_messages() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    sandbox.settings(json!({"lifecycle": {"skip_delivered_rate": 1.0}})).await;
    let wamid = sandbox.send_text(USER, "seen at once").await;
    let statuses = receiver.statuses_of(&wamid, |s| s.iter().any(|s| s["status"] == "read")).await;
    assert_eq!(names(&statuses), ["sent", "read"]);
    assert!(statuses[1]["pricing"].is_object(), "read carries the pricing delivered would have");
    sandbox.stop().await;
}

#[tokio::test]
async fn conversation_objects_follow_the_payload_version() {
    let receiver = Receiver::start(0).await;
    let sandbox =
        TestSandbox::start(sandbox::Config { webhook_version: "v23.0".into(), ..config(Some(receiver.url.clone())) })
            .await;
    let wamid = sandbox.send_text(USER, "old style").await;
    let statuses = receiver.statuses_of(&wamid, |s| s.len() >= 3).await;
    let conversation = &statuses[0]["conversation"];
    assert_eq!(conversation["id"].as_str().unwrap().len(), 32);
    assert_eq!(conversation["origin"], json!({"type": "service"}));
    assert!(conversation["expiration_timestamp"].as_str().unwrap().parse::<u64>().is_ok());
    for status in &statuses[1..] {
        assert_eq!(status["conversation"]["id"], conversation["id"], "one conversation per message");
        assert!(status["conversation"].get("expiration_timestamp").is_none(), "only on sent");
    }

    // Back to v24.0: gone.
    sandbox.settings(json!({"webhooks": {"payload_version": "v24.0"}})).await;
    let wamid = sandbox.send_text(USER, "new style").await;
    let statuses = receiver.statuses_of(&wamid, |s| s.len() >= 3).await;
    assert!(statuses.iter().all(|s| s.get("conversation").is_none()));
    sandbox.stop().await;
}

#[tokio::test]
async fn the_webhook_url_can_change_at_run_time() {
    let first = Receiver::start(0).await;
    let second = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(first.url.clone()))).await;
    let answer = sandbox.inbound(json!({"from": USER, "text": {"body": "to the first"}})).await;
    first.message_post(answer["id"].as_str().unwrap()).await;
    sandbox.settings(json!({"webhooks": {"url": second.url}})).await;
    let answer = sandbox.inbound(json!({"from": USER, "text": {"body": "to the second"}})).await;
    second.message_post(answer["id"].as_str().unwrap()).await;
    assert_eq!(first.received().len(), 1);
    sandbox.stop().await;
}
