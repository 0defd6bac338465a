//! The rules of `docs/cloud-api.md` §7, each shown firing and not firing: throughput
//! (130429), the pair rate limit (131056), the 24-hour window (131047),
//! undeliverable numbers (131026); template lookup (132001, 132000) is in
//! `send.rs`.

use http::StatusCode;
use serde_json::json;

use crate::support::{PNID, PNID2, Receiver, TestSandbox, USER, assert_graph_error, config, names, two_numbers};

fn text(to: &str) -> serde_json::Value {
    json!({"to": to, "text": {"body": "x"}})
}

#[tokio::test]
async fn throughput_limit_per_number() {
    let sandbox = TestSandbox::start(two_numbers(None)).await;
    // On by default at 80/s; here one message per 5 s for the first number
    // only, so no refill can sneak in between two requests.
    let settings = sandbox.settings(json!({"rules": {"throughput": {"per_number": {PNID: 0.2}}}})).await;
    assert_eq!(settings["rules"]["throughput"]["mps"], 80.0);
    assert_eq!(sandbox.send(text(USER)).await.0, StatusCode::OK);
    let (status, body) = sandbox.send(text(USER)).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 130429);
    assert_eq!(body["error"]["message"], "(#130429) Rate limit hit");
    assert_eq!(body["error"]["type"], "OAuthException");
    assert_eq!(body["error"]["error_subcode"], 2494055);
    assert_eq!(
        body["error"]["error_data"],
        json!({"messaging_product": "whatsapp", "details": "Message failed to send because there were too many messages sent from this phone number in a short period of time"})
    );
    // The other number has its own budget.
    assert_eq!(sandbox.send_from(PNID2, text(USER)).await.0, StatusCode::OK);
    let (_, node) = sandbox.graph_get(&format!("{PNID}?fields=throughput")).await;
    assert_eq!(node["throughput"], json!({"level": "STANDARD"}));

    // The older docs' 429, on request.
    sandbox.settings(json!({"http": {"throttle_status": 429}})).await;
    let (status, body) = sandbox.send(text(USER)).await;
    assert_graph_error(status, &body, StatusCode::TOO_MANY_REQUESTS, 130429);

    // Raised for a benchmark, then switched off: no refusals.
    sandbox.settings(json!({"rules": {"throughput": {"per_number": {PNID: 100000}}}})).await;
    let (_, node) = sandbox.graph_get(&format!("{PNID}?fields=throughput")).await;
    assert_eq!(node["throughput"], json!({"level": "HIGH"}));
    sandbox.settings(json!({"rules": {"throughput": {"enabled": false, "per_number": {PNID: 1}}}})).await;
    for _ in 0..20 {
        assert_eq!(sandbox.send(text(USER)).await.0, StatusCode::OK);
    }
    assert_eq!(sandbox.stats().await["sends"]["refused"]["130429"], 2);
    sandbox.stop().await;
}

#[tokio::test]
async fn pair_rate_limit() {
    let sandbox = TestSandbox::start(config(None)).await;
    sandbox.settings(json!({"rules": {"throughput": {"enabled": false}}})).await;
    // Off by default: 50 messages to one user in a row.
    for _ in 0..50 {
        assert_eq!(sandbox.send(text(USER)).await.0, StatusCode::OK);
    }
    // On: a burst of 3, then one per minute.
    sandbox.settings(json!({"rules": {"pair_rate_limit": {"enabled": true, "burst": 3, "period_ms": 60000}}})).await;
    for _ in 0..3 {
        assert_eq!(sandbox.send(text(USER)).await.0, StatusCode::OK);
    }
    let (status, body) = sandbox.send(text(USER)).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131056);
    assert!(body["error"]["message"].as_str().unwrap().contains("pair rate limit hit"));
    assert!(body["error"].get("error_subcode").is_none());
    // Another user is not affected; a minute later the first may get one more.
    assert_eq!(sandbox.send(text("16505559999")).await.0, StatusCode::OK);
    sandbox.advance(json!({"seconds": 60})).await;
    assert_eq!(sandbox.send(text(USER)).await.0, StatusCode::OK);
    let (status, _) = sandbox.send(text(USER)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sandbox.stop().await;
}

#[tokio::test]
async fn customer_service_window() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    // Off by default: a user who never wrote still gets a free-form message.
    let wamid = sandbox.send_text(USER, "hello out of the blue").await;
    receiver.status(&wamid, "delivered").await;

    // On: the send is accepted, then fails with 131047.
    sandbox.settings(json!({"rules": {"window": {"enabled": true}}})).await;
    let wamid = sandbox.send_text(USER, "still out of the blue").await;
    let statuses = receiver.statuses_of(&wamid, |s| !s.is_empty()).await;
    assert_eq!(names(&statuses), ["failed"]);
    assert_eq!(statuses[0]["errors"][0]["code"], 131047);
    // Templates may open a conversation.
    let template = sandbox
        .send_ok(
            json!({"to": USER, "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}),
        )
        .await;
    receiver.status(&template, "delivered").await;
    // Once the user writes, free-form messages go through…
    sandbox.inbound(json!({"from": USER, "text": {"body": "hi"}})).await;
    let wamid = sandbox.send_text(USER, "inside the window").await;
    receiver.status(&wamid, "delivered").await;
    // …for 24 hours, per number.
    let other = sandbox.send_text("16505559999", "someone else").await;
    assert_eq!(receiver.statuses_of(&other, |s| !s.is_empty()).await[0]["status"], "failed");
    sandbox.advance(json!({"hours": 23})).await;
    let wamid = sandbox.send_text(USER, "23 hours later").await;
    receiver.status(&wamid, "delivered").await;
    sandbox.advance(json!({"hours": 1})).await;
    let wamid = sandbox.send_text(USER, "24 hours later").await;
    assert_eq!(receiver.statuses_of(&wamid, |s| !s.is_empty()).await[0]["status"], "failed");
    sandbox.stop().await;
}

#[tokio::test]
async fn undeliverable_numbers() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    // Off by default: numbers matching the pattern are delivered.
    let wamid = sandbox.send_text("16505550000", "fine").await;
    receiver.status(&wamid, "delivered").await;

    sandbox.settings(json!({"rules": {"undeliverable": {"enabled": true, "patterns": ["*0000", "4477*"]}}})).await;
    for to in ["16505550000", "447700900123"] {
        let wamid = sandbox.send_text(to, "lost").await;
        let statuses = receiver.statuses_of(&wamid, |s| !s.is_empty()).await;
        assert_eq!(names(&statuses), ["failed"], "{to}");
        let error = &statuses[0]["errors"][0];
        assert_eq!(error["code"], 131026);
        assert_eq!(error["title"], "Message Undeliverable");
        assert_eq!(statuses[0]["recipient_id"], to);
    }
    // Numbers that do not match are delivered.
    let wamid = sandbox.send_text(USER, "fine").await;
    receiver.status(&wamid, "delivered").await;
    let (status, _) = sandbox.control_post("/_sandbox/settings", &json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "settings are changed with PATCH");
    sandbox.stop().await;
}

#[tokio::test]
async fn rules_are_switchable_by_environment() {
    let config = sandbox::Config::from_lookup(|name| {
        match name {
            "WA_SANDBOX_WINDOW" => Some("on"),
            "WA_SANDBOX_PAIR_RATE_LIMIT" => Some("2/60000"),
            "WA_SANDBOX_THROUGHPUT" => Some("off"),
            "WA_SANDBOX_UNDELIVERABLE" => Some("1555*"),
            "WA_SANDBOX_WEBHOOK_URL" => Some(""),
            _ => None,
        }
        .map(String::from)
    })
    .unwrap();
    let sandbox = TestSandbox::start(config).await;
    let (_, settings) = sandbox.control_get("/_sandbox/settings").await;
    assert_eq!(settings["rules"]["window"]["enabled"], true);
    assert_eq!(settings["rules"]["pair_rate_limit"], json!({"enabled": true, "burst": 2, "period_ms": 60000}));
    assert_eq!(settings["rules"]["throughput"]["enabled"], false);
    assert_eq!(settings["rules"]["undeliverable"], json!({"enabled": true, "patterns": ["1555*"]}));
    for _ in 0..2 {
        assert_eq!(sandbox.send(text(USER)).await.0, StatusCode::OK);
    }
    let (status, body) = sandbox.send(text(USER)).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131056);
    sandbox.stop().await;
}
