//! The control API under /_sandbox/.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{DEADLINE, PNID, TestSandbox, config, expected_signature};

#[tokio::test]
async fn sent_lists_accepted_calls_in_order() {
    let sandbox = TestSandbox::start(config(None)).await;
    let first = sandbox.send_text("+16505551234", "one").await;
    let second = sandbox.send_text("16505551234", "two").await;
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"});
    let (status, _) = sandbox.graph_post(&format!("{PNID}/messages"), &read).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = sandbox.control_get("/_sandbox/sent").await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3, "{body}");
    assert_eq!(data[0]["wamid"], first.as_str());
    assert_eq!(data[0]["phone_number_id"], PNID);
    assert_eq!(data[0]["payload"]["to"], "+16505551234");
    assert_eq!(data[0]["payload"]["text"]["body"], "one");
    assert_eq!(data[1]["wamid"], second.as_str());
    assert_eq!(data[2]["wamid"], Value::Null);
    assert_eq!(data[2]["payload"], read);
    let times: Vec<i64> = data.iter().map(|d| d["received_at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(times[0] > 1_600_000_000_000, "unix milliseconds");

    let response = sandbox.client.delete(sandbox.url("/_sandbox/sent")).send().await.unwrap();
    assert!(response.status().is_success());
    let (_, body) = sandbox.control_get("/_sandbox/sent").await;
    assert_eq!(body, json!({"data": []}));
    sandbox.stop().await;
}

#[tokio::test]
async fn one_sandbox_delivers_into_anothers_inbox() {
    let inbox = TestSandbox::start(config(None)).await;
    let sandbox = TestSandbox::start(config(Some(inbox.url("/_sandbox/inbox/cloud")))).await;

    let (status, answer) = sandbox
        .control_post(
            "/_sandbox/inbound",
            &json!({"from": "16505551234", "phone_number_id": PNID, "text": {"body": "hello"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let client = inbox.client.clone();
    let url = inbox.url("/_sandbox/inbox");
    let data = loop_until_records(&client, &url, 1).await;
    let record = &data[0];
    assert_eq!(record["path"], "/_sandbox/inbox/cloud");
    assert_eq!(record["headers"]["content-type"], "application/json");
    assert!(record["headers"]["x-hub-signature-256"].as_str().unwrap().starts_with("sha256="));
    assert_eq!(record["body"]["object"], "whatsapp_business_account");
    assert_eq!(record["body"]["entry"][0]["changes"][0]["value"]["messages"][0]["id"], answer["id"]);
    assert!(record["received_at"].as_i64().unwrap() > 1_600_000_000_000);

    // Anything else is recorded as a string; DELETE clears.
    let response = inbox.client.post(inbox.url("/_sandbox/inbox")).body("not json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let data = loop_until_records(&client, &url, 2).await;
    assert_eq!(data[1]["body"], "not json");
    assert_eq!(data[1]["path"], "/_sandbox/inbox");

    let response = inbox.client.delete(&url).send().await.unwrap();
    assert!(response.status().is_success());
    let (_, body) = inbox.control_get("/_sandbox/inbox").await;
    assert_eq!(body, json!({"data": []}));

    sandbox.stop().await;
    inbox.stop().await;
}

async fn loop_until_records(client: &reqwest::Client, url: &str, count: usize) -> Vec<Value> {
    let started = tokio::time::Instant::now();
    loop {
        let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        let data = body["data"].as_array().unwrap().clone();
        if data.len() >= count {
            return data;
        }
        assert!(started.elapsed() < DEADLINE, "inbox never got {count} records");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn inbox_answers_the_verification_handshake() {
    let inbox = TestSandbox::start(config(None)).await;
    let url =
        inbox.url("/_sandbox/inbox?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=sandbox-verify-token");
    let response = inbox.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "1158201444");

    let url = inbox.url("/_sandbox/inbox?hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope");
    let response = inbox.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A sandbox pointed at that inbox passes its own handshake.
    let sandbox = TestSandbox::start(config(Some(inbox.url("/_sandbox/inbox")))).await;
    let (status, body) = sandbox.control_post("/_sandbox/verify-webhook", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified"], true);
    assert_eq!(body["status"], 200);
    assert_eq!(body["body"], body["challenge"]);

    let unconfigured = TestSandbox::start(config(None)).await;
    let (status, _) = unconfigured.control_post("/_sandbox/verify-webhook", &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    sandbox.stop().await;
    unconfigured.stop().await;
    inbox.stop().await;
}

#[tokio::test]
async fn inbound_rejects_bad_requests() {
    let sandbox = TestSandbox::start(config(None)).await;
    let cases = [
        json!({"from": "+16505551234", "text": {"body": "x"}}),
        json!({"from": "", "text": {"body": "x"}}),
        json!({"from": "16505551234"}),
        json!({"from": "16505551234", "text": {"body": ""}}),
        json!({"from": "16505551234", "phone_number_id": "42", "text": {"body": "x"}}),
        json!({"from": "16505551234", "type": "image", "image": {"id": "1"}}),
        json!({"text": {"body": "x"}}),
    ];
    for case in cases {
        let (status, body) = sandbox.control_post("/_sandbox/inbound", &case).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}");
        assert!(body["error"]["message"].is_string(), "{case}: {body}");
    }
    let (_, body) =
        sandbox.control_post("/_sandbox/inbound", &json!({"from": "1", "type": "image", "image": {"id": "1"}})).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("not supported yet"));
    sandbox.stop().await;
}

#[tokio::test]
async fn control_api_needs_no_token_and_graph_still_does() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox.control_get("/_sandbox/health").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, _) = sandbox.control_get("/_sandbox/sent").await;
    assert_eq!(status, StatusCode::OK);
    // Sanity check of the helper used elsewhere: a known HMAC.
    assert_eq!(
        expected_signature("key", b"The quick brown fox jumps over the lazy dog"),
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn shutdown_cancels_pending_webhooks() {
    // Nothing listens on port 1: the status webhooks keep retrying until shutdown.
    let sandbox = TestSandbox::start(config(Some("http://127.0.0.1:1/hook".into()))).await;
    sandbox.send_text("16505551234", "into the void").await;
    sandbox.stop().await;
}

#[tokio::test]
async fn run_refuses_a_bad_config() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad = sandbox::Config { webhook_url: Some("ftp://example.test/hook".into()), ..sandbox::Config::default() };
    let err = sandbox::run(bad, listener, std::future::pending()).await.unwrap_err();
    assert!(format!("{err:#}").contains("webhook_url"), "{err:#}");
}
