//! Several coreapps on one database (MySQL and PostgreSQL, the engines for
//! several nodes) behind one webapp that knows all of them: health in the multiconnect
//! shape, and a coreapp killed mid-stream, its traffic and its claimed
//! work taken over by the other.

use std::collections::HashMap;
use std::time::Duration;

use e2e::{API_KEY, Auth, Engine, Options, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn two_cores() -> Options {
    Options { coreapps: 2, webapps_see_all_cores: true, lease: Duration::from_secs(3), ..Options::default() }
}

async fn health(s: &Stack) -> Option<Value> {
    let a = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
    (a.status == StatusCode::OK).then(|| a.body["health"].clone())
}

/// Both scenarios on each engine that serves several coreapps.
macro_rules! on_server_engines {
    ($($name:ident),* $(,)?) => {
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Engine::Mysql).await })*
        }
        mod pgsql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Engine::Pgsql).await })*
        }
    };
}

on_server_engines!(
    health_lists_every_coreapp_and_a_dead_one_as_disconnected,
    a_killed_coreapps_traffic_and_work_are_taken_over
);

async fn health_lists_every_coreapp_and_a_dead_one_as_disconnected(engine: Engine) {
    let mut s = Stack::start_with(engine, two_cores()).await;
    let token = s.admin_token().await;
    let patch = json!({"heartbeat_interval": 1, "unhealthy_interval": 2});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let both_up = |h: &Value| {
        ["test-core-0", "test-core-1"]
            .iter()
            .all(|n| h[n]["gateway_status"] == "connected" && h[n]["role"] == "coreapp")
    };
    s.wait_until(WAIT, || async { health(&s).await.is_some_and(|h| both_up(&h)) }).await.expect("both nodes listed");
    let h = health(&s).await.unwrap();
    assert!(h.get("gateway_status").is_none(), "multiconnect shape is keyed by node: {h}");

    s.kill_core(1);
    let dead_reported = |h: &Value| {
        h["test-core-0"]["gateway_status"] == "connected"
            && h["test-core-1"]["gateway_status"] == "disconnected"
            && h["test-core-1"]["errors"][0]["code"] == 1011
    };
    let reported = s.wait_until(WAIT, || async { health(&s).await.is_some_and(|h| dead_reported(&h)) }).await;
    if let Err(e) = reported {
        panic!("{e}: {:?}", health(&s).await);
    }
    s.stop().await;
}

async fn send(s: &Stack, token: &str, to: &str, body: &str) -> String {
    let message = json!({"to": to, "type": "text", "text": {"body": body}});
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(message)).await;
    assert_eq!(a.status, StatusCode::CREATED, "a send failed while a coreapp was down: {}", a.body);
    a.body["messages"][0]["id"].as_str().unwrap().to_string()
}

async fn a_killed_coreapps_traffic_and_work_are_taken_over(engine: Engine) {
    let mut s = Stack::start_with(engine, two_cores()).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    // Both nodes in rotation before the load starts.
    s.wait_until(WAIT, || async { health(&s).await.is_some_and(|h| h.get("test-core-1").is_some()) }).await.unwrap();

    let mut ids: HashMap<String, String> = HashMap::new();
    for i in 0..40 {
        let to = format!("1555100{i:04}");
        ids.insert(send(&s, &token, &to, "before").await, to);
    }
    // Killed with work in hand: its claims wait for their lease to lapse.
    s.kill_core(1);
    // A killed process's sockets close at once; the aborted in-process
    // node's connections close as its tasks wind down. A send racing that
    // could have reached it, so it is not sent elsewhere (README, Limits).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut after = Vec::new();
    for i in 0..40 {
        let to = format!("1555200{i:04}");
        let id = send(&s, &token, &to, "after").await;
        after.push(to.clone());
        ids.insert(id, to);
    }
    // Users keep writing; their webhooks reach the business through the live node.
    for i in 0..5 {
        s.user_sends(json!({"from": format!("1555300{i:04}"), "type": "text", "text": {"body": "still there?"}})).await;
    }

    let final_status = |v: &Value, id: &str| {
        v["statuses"][0]["id"] == id && matches!(v["statuses"][0]["status"].as_str(), Some("delivered" | "read"))
    };
    s.wait_until(Duration::from_secs(60), || async {
        let got = s.receiver.received();
        ids.keys().all(|id| got.iter().any(|v| final_status(v, id)))
    })
    .await
    .unwrap_or_else(|e| {
        let got = s.receiver.received();
        let missing: Vec<_> = ids.keys().filter(|id| !got.iter().any(|v| final_status(v, id))).collect();
        panic!("{e}: {} of {} messages never reached a final status: {missing:?}", missing.len(), ids.len())
    });
    let inbound = s.receiver.received().iter().filter(|v| v["messages"][0]["text"]["body"] == "still there?").count();
    assert_eq!(inbound, 5);

    // Sent at most twice (the in-flight window of the killed node), and
    // exactly once when accepted after the kill.
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for e in s.cloud_received().await {
        if let Some(to) = e["payload"]["to"].as_str() {
            *per_recipient.entry(to.trim_start_matches('+').to_string()).or_default() += 1;
        }
    }
    for to in ids.values() {
        let n = per_recipient.get(to).copied().unwrap_or(0);
        assert!((1..=2).contains(&n), "{to} was sent {n} times");
    }
    for to in &after {
        assert_eq!(per_recipient[to], 1, "{to}, accepted after the kill, was sent twice");
    }
    s.stop().await;
}
