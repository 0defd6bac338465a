//! Cloud misbehaving, through the sandbox's fault injection and rules:
//! throttling, server errors, dropped connections and timeouts are retried
//! until the message goes through; a recipient hit by the pair rate limit is
//! held back with its later messages behind it; the 24-hour window,
//! undeliverable numbers and permanent refusals become `failed` webhooks
//! with the mapped on-prem codes.

use std::time::Duration;

use e2e::{Auth, Engine, Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};

e2e::on_all_engines!(
    throttling_is_retried_until_accepted,
    server_errors_drops_and_timeouts_are_retried,
    the_pair_rate_limit_holds_a_recipient_back,
    the_24_hour_window_fails_with_470,
    undeliverable_numbers_fail_with_1026,
    a_permanent_refusal_fails_once,
);

const WAIT: Duration = Duration::from_secs(30);

async fn send(s: &Stack, token: &str, body: Value) -> String {
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["messages"][0]["id"].as_str().unwrap().to_string()
}

async fn final_status(s: &Stack, id: &str) -> Value {
    s.receiver
        .wait_for(WAIT, |v| {
            v["statuses"][0]["id"] == id && matches!(v["statuses"][0]["status"].as_str(), Some("read" | "failed"))
        })
        .await["statuses"][0]
        .clone()
}

async fn fired(s: &Stack) -> u64 {
    let v: Value = s.http.get(format!("{}/_sandbox/faults", s.sandbox)).send().await.unwrap().json().await.unwrap();
    v["data"].as_array().map_or(0, |d| d.iter().map(|f| f["fired"].as_u64().unwrap_or(0)).sum())
}

async fn throttling_is_retried_until_accepted(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    s.cloud_fault(json!({"match": {"path": "messages", "method": "POST"}, "error": {"code": 130429}, "count": 2}))
        .await;
    s.cloud_fault(json!({"match": {"path": "messages", "method": "POST"}, "error": {"code": 131048}, "count": 1}))
        .await;
    let id = send(&s, &token, json!({"to": "15551110001", "text": {"body": "busy Cloud"}})).await;
    let st = final_status(&s, &id).await;
    assert_eq!(st["status"], "read", "{st}");
    assert!(s.cloud_received().await.iter().any(|e| e["payload"]["to"] == "+15551110001"));
    s.stop().await;
}

async fn server_errors_drops_and_timeouts_are_retried(engine: Engine) {
    let s =
        Stack::start_with(engine, Options { cloud_timeout: Duration::from_millis(800), ..Options::default() }).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let m = json!({"path": "messages", "method": "POST"});
    s.cloud_fault(json!({"match": m, "status": 503, "count": 1})).await;
    s.cloud_fault(json!({"match": m, "drop_connection": true, "count": 1})).await;
    s.cloud_fault(json!({"match": m, "delay_ms": 3000, "count": 1})).await;
    let id = send(&s, &token, json!({"to": "15551110002", "text": {"body": "flaky Cloud"}})).await;
    let st = final_status(&s, &id).await;
    assert_eq!(st["status"], "read", "{st}");
    assert!(fired(&s).await == 0, "every fault fired and was used up");
    s.stop().await;
}

async fn the_pair_rate_limit_holds_a_recipient_back(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let held = "15551110003";
    s.cloud_fault(json!({"match": {"path": "messages", "method": "POST"}, "error": {"code": 131056}, "count": 1}))
        .await;
    let first = send(&s, &token, json!({"to": held, "text": {"body": "one"}})).await;
    let second = send(&s, &token, json!({"to": held, "text": {"body": "two"}})).await;
    let other = send(&s, &token, json!({"to": "15551110004", "text": {"body": "not held"}})).await;
    assert_eq!(final_status(&s, &other).await["status"], "read", "another recipient is not held back");
    let started = std::time::Instant::now();
    assert_eq!(final_status(&s, &first).await["status"], "read");
    assert_eq!(final_status(&s, &second).await["status"], "read");
    eprintln!("held-back recipient delivered {:?} after the other one", started.elapsed());
    let order: Vec<String> = s
        .cloud_received()
        .await
        .iter()
        .filter(|e| e["payload"]["to"] == format!("+{held}"))
        .map(|e| e["payload"]["text"]["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, ["one", "two"], "its later message waited behind it");
    let sent_first = s.cloud_received().await.iter().position(|e| e["payload"]["to"] == "+15551110004").unwrap();
    let sent_held = s.cloud_received().await.iter().position(|e| e["payload"]["to"] == format!("+{held}")).unwrap();
    assert!(sent_first < sent_held, "the other recipient went first");
    s.stop().await;
}

async fn the_24_hour_window_fails_with_470(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    s.cloud_settings(json!({"rules": {"window": {"enabled": true}}})).await;
    let user = "15551110005";
    let id = send(&s, &token, json!({"to": user, "text": {"body": "out of the blue"}})).await;
    let st = final_status(&s, &id).await;
    assert_eq!(st["status"], "failed", "{st}");
    assert_eq!(st["errors"][0]["code"], 470);
    assert_eq!(st["errors"][0]["title"], "Re-engagement message");
    // A template passes outside the window; a text passes once the user wrote.
    let template = json!({"to": user, "type": "template",
        "template": {"namespace": "ns", "name": "hello_world", "language": {"code": "en_US", "policy": "deterministic"}}});
    let t = send(&s, &token, template).await;
    assert_eq!(final_status(&s, &t).await["status"], "read");
    s.user_sends(json!({"from": user, "type": "text", "text": {"body": "hi"}})).await;
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == user).await;
    let ok = send(&s, &token, json!({"to": user, "text": {"body": "now inside"}})).await;
    assert_eq!(final_status(&s, &ok).await["status"], "read");
    s.stop().await;
}

async fn undeliverable_numbers_fail_with_1026(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    s.cloud_settings(json!({"rules": {"undeliverable": {"enabled": true, "patterns": ["*9999"]}}})).await;
    let bad = send(&s, &token, json!({"to": "15551119999", "text": {"body": "nobody"}})).await;
    let good = send(&s, &token, json!({"to": "15551110006", "text": {"body": "somebody"}})).await;
    let st = final_status(&s, &bad).await;
    assert_eq!((st["status"].as_str(), st["errors"][0]["code"].as_u64()), (Some("failed"), Some(1026)), "{st}");
    assert_eq!(final_status(&s, &good).await["status"], "read");
    s.stop().await;
}

async fn a_permanent_refusal_fails_once(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    s.cloud_fault(json!({"match": {"path": "messages", "method": "POST"}, "error": {"code": 131009, "details": "bad value"}, "count": 1})).await;
    let id = send(&s, &token, json!({"to": "15551110007", "text": {"body": "refused"}})).await;
    let st = final_status(&s, &id).await;
    assert_eq!(st["status"], "failed", "{st}");
    assert!(st["errors"][0]["details"].as_str().unwrap().contains("131009"), "{st}");
    s.settled().await;
    let failed = s.receiver.received().iter().filter(|v| v["statuses"][0]["id"] == id.as_str()).count();
    assert_eq!(failed, 1, "one failed webhook, no retry of a permanent refusal");
    assert!(!s.cloud_received().await.iter().any(|e| e["payload"]["to"] == "+15551110007"), "never accepted");
    s.stop().await;
}
