//! The console's server side (`GET /_sandbox/ui`): who it answers, what it
//! keeps of a conversation, its live feed, and that a stopping sandbox ends
//! the feed. The page itself is driven in a browser by `tests/tests/console.rs`.

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{DEADLINE, PNID, Receiver, TestSandbox, USER, config};

#[tokio::test]
async fn the_console_answers_its_own_address_only_and_loads_nothing_from_elsewhere() {
    let sandbox = TestSandbox::start(config(None)).await;
    let page = sandbox.client.get(sandbox.url("/_sandbox/ui")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/_sandbox/ui/app.js") && !html.contains("http:") && !html.contains("https:"),
        "the page loads only its own assets"
    );
    for path in ["/_sandbox/ui/app.js", "/_sandbox/ui/app.css", "/_sandbox/ui/api/conversations"] {
        let ok = sandbox.client.get(sandbox.url(path)).header("Host", "localhost:9080").send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK, "{path}");
        // A name an attacker's page could point here (DNS rebinding).
        let rebound = sandbox.client.get(sandbox.url(path)).header("Host", "evil.example:9080").send().await.unwrap();
        assert_eq!(rebound.status(), StatusCode::FORBIDDEN, "{path}");
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn a_conversation_keeps_both_sides_and_the_statuses_and_the_feed_tells_them_live() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let feed = sandbox.client.get(sandbox.url("/_sandbox/ui/events")).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    let mut feed = feed.bytes_stream();

    let inbound = sandbox.inbound(json!({"from": USER, "name": "Ada", "type": "text", "text": {"body": "hi"}})).await;
    let wamid = sandbox.send_text(USER, "hello Ada").await;
    receiver.status(&wamid, "read").await;

    // The feed: the user's message, the business's, then its statuses.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !(seen.contains("event: item") && seen.contains("\"status\":\"read\"")) {
        let chunk =
            tokio::time::timeout_at(deadline, feed.next()).await.expect("the feed goes quiet").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: status") && seen.contains(&wamid), "{seen}");

    let (status, list) = sandbox.control_get("/_sandbox/ui/api/conversations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"][0]["user"], USER, "{list}");
    assert_eq!(list["data"][0]["name"], "Ada", "{list}");
    let (_, chat) = sandbox.control_get(&format!("/_sandbox/ui/api/conversations/{PNID}/{USER}")).await;
    let items = chat["data"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{chat}");
    assert_eq!(items[0]["from"], "user");
    assert_eq!(items[0]["id"], inbound["id"]);
    assert_eq!(items[0]["message"]["text"]["body"], "hi");
    assert_eq!(items[1]["from"], "business");
    assert_eq!(items[1]["id"], wamid.as_str());
    let statuses: Vec<&str> =
        items[1]["statuses"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent", "delivered", "read"]);

    // The webhooks sent to the business, with their results.
    let (_, deliveries) = sandbox.control_get("/_sandbox/ui/api/deliveries").await;
    let rows = deliveries["data"].as_array().unwrap();
    assert!(
        rows.iter().any(|d| d["outcome"] == "delivered" && d["items"].to_string().contains("message text")),
        "{deliveries}"
    );
    assert!(rows.iter().any(|d| d["items"].to_string().contains("status read")), "{deliveries}");

    // A reset forgets the conversations.
    sandbox.control_post("/_sandbox/reset", &json!({})).await;
    let (_, list) = sandbox.control_get("/_sandbox/ui/api/conversations").await;
    assert_eq!(list["data"], json!([]));
    sandbox.stop().await;
}

#[tokio::test]
async fn a_stopping_sandbox_ends_the_open_feeds() {
    let sandbox = TestSandbox::start(config(None)).await;
    let feed = sandbox.client.get(sandbox.url("/_sandbox/ui/events")).send().await.unwrap();
    let mut feed = feed.bytes_stream();
    let stopped = tokio::time::Instant::now();
    let stopping = tokio::spawn(sandbox.stop());
    // The feed ends (the stream closes) rather than holding the shutdown.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = feed.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the feed was still open 20 s after the stop");
    stopping.await.unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(20));
}
