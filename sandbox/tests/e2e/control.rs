//! The control API under /_sandbox/.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{DEADLINE, PNID, Receiver, TestSandbox, USER, config, expected_signature, names};

#[tokio::test]
async fn sent_lists_accepted_calls_in_order() {
    let sandbox = TestSandbox::start(config(None)).await;
    let first = sandbox.send_text("+16505551234", "one").await;
    let second = sandbox.send_text("16505551234", "two").await;
    let inbound = sandbox.inbound(json!({"from": USER, "text": {"body": "hi"}})).await;
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": inbound["id"]});
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
    assert_eq!(data[0]["to"], USER);
    assert_eq!(data[0]["type"], "text");
    // The user it reached: a send to a phone has no `recipient`.
    assert_eq!(data[0]["recipient"], Value::Null);
    assert_eq!(data[0]["phone"], USER);
    assert_eq!(data[0]["user_id"], sandbox.user_id(USER).await.as_str());
    assert_eq!((data[2]["user_id"].clone(), data[2]["phone"].clone()), (Value::Null, Value::Null));
    assert_eq!(data[1]["wamid"], second.as_str());
    assert_eq!(data[2]["wamid"], Value::Null);
    assert_eq!(data[2]["payload"], read);

    // Filters, and the newest few.
    let (_, only) = sandbox.control_get(&format!("/_sandbox/sent?wamid={second}")).await;
    assert_eq!(only["data"].as_array().unwrap().len(), 1);
    let (_, newest) = sandbox.control_get("/_sandbox/sent?limit=1").await;
    assert_eq!(newest["data"][0]["payload"], read);
    let (_, to) = sandbox.control_get("/_sandbox/sent?to=%2B16505551234&type=text").await;
    assert_eq!(to["data"].as_array().unwrap().len(), 2);
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
        json!({"from": "16505551234", "type": "hologram", "hologram": {}}),
        json!({"from": "16505551234", "type": "image", "image": {"mime_type": "application/pdf"}}),
        json!({"from": "16505551234", "type": "audio", "audio": {"mime_type": "audio/amr"}}),
        json!({"from": "16505551234", "type": "image", "image": {"data": "not base64!"}}),
        json!({"from": "16505551234", "type": "audio", "audio": {"caption": "no"}}),
        json!({"from": "16505551234", "type": "location", "location": {"latitude": "north"}}),
        json!({"from": "16505551234", "type": "contacts", "contacts": []}),
        json!({"from": "16505551234", "type": "interactive", "interactive": {"type": "poll_reply"}}),
        json!({"from": "16505551234", "type": "button", "button": {}}),
        json!({"from": "16505551234", "type": "reaction", "reaction": {"emoji": "x"}}),
        json!({"from": "16505551234", "type": "order", "order": {"catalog_id": "1", "product_items": []}}),
        json!({"from": "16505551234", "type": "system", "system": {"type": "user_changed_number"}}),
        json!({"from": "16505551234", "text": {"body": "x"}, "context": "yes"}),
        json!({"from": "16505551234", "text": {"body": "x"}, "referral": "ad"}),
        json!({"text": {"body": "x"}}),
        json!("just a string"),
    ];
    for case in cases {
        let (status, body) = sandbox.control_post("/_sandbox/inbound", &case).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}");
        assert!(body["error"]["message"].is_string(), "{case}: {body}");
    }
    let (_, body) = sandbox
        .control_post("/_sandbox/inbound", &json!({"from": "1", "type": "audio", "audio": {"mime_type": "audio/amr"}}))
        .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("base64"), "{body}");
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

#[tokio::test]
async fn clock_advances_and_resets() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (_, before) = sandbox.control_get("/_sandbox/clock").await;
    assert_eq!(before["offset_ms"], 0);
    let (status, after) =
        sandbox.control_post("/_sandbox/clock/advance", &json!({"days": 1, "hours": 2, "seconds": 3})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["offset_ms"], 93_603_000);
    assert!(after["now"].as_i64().unwrap() - before["now"].as_i64().unwrap() >= 93_603);
    for bad in [json!({}), json!({"weeks": 1}), json!({"days": -1}), json!({"days": "one"})] {
        let (status, _) = sandbox.control_post("/_sandbox/clock/advance", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = sandbox.control_post("/_sandbox/reset", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sandbox.control_get("/_sandbox/clock").await.1["offset_ms"], 0);
    sandbox.stop().await;
}

#[tokio::test]
async fn settings_are_read_and_patched() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, settings) = sandbox.control_get("/_sandbox/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["rules"]["window"], json!({"enabled": false}));
    assert_eq!(settings["rules"]["pair_rate_limit"], json!({"enabled": false, "burst": 45, "period_ms": 6000}));
    assert_eq!(settings["rules"]["throughput"], json!({"enabled": true, "mps": 80.0, "per_number": {}}));
    assert_eq!(settings["rules"]["undeliverable"], json!({"enabled": false, "patterns": ["*0000"]}));
    assert_eq!(settings["lifecycle"], json!({"status_delay_ms": 20, "read_rate": 1.0, "skip_delivered_rate": 0.0}));
    assert_eq!(settings["webhooks"]["payload_version"], "v24.0");
    assert_eq!(settings["webhooks"]["batch_window_ms"], 20);
    assert_eq!(settings["http"], json!({"auth_error_status": 401, "throttle_status": 400}));

    let patched = sandbox.settings(json!({"lifecycle": {"status_delay_ms": 5}})).await;
    assert_eq!(patched["lifecycle"]["status_delay_ms"], 5);
    assert_eq!(patched["rules"], settings["rules"], "untouched parts stay");
    for bad in [
        json!({"lifecycle": {"read_rate": 2}}),
        json!({"rules": {"throughput": {"per_number": {"999": 5}}}}),
        json!({"webhooks": {"batch_max": 5000}}),
        json!({"surprise": true}),
    ] {
        let response = sandbox.client.patch(sandbox.url("/_sandbox/settings")).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(sandbox.control_get("/_sandbox/settings").await.1["lifecycle"]["status_delay_ms"], 5);
    sandbox.stop().await;
}

#[tokio::test]
async fn reset_forgets_everything() {
    let sandbox = TestSandbox::start(config(None)).await;
    sandbox.send_text(USER, "before").await;
    sandbox.settings(json!({"rules": {"window": {"enabled": true}}})).await;
    sandbox.fault(json!({"delay_ms": 1})).await;
    sandbox
        .control_post(
            "/_sandbox/templates/status",
            &json!({"name": "hello_world", "language": "en_US", "status": "PAUSED"}),
        )
        .await;
    let id = sandbox.upload_ok(include_bytes!("../../src/media/samples/sample.png"), "image/png").await;

    let (status, body) = sandbox.control_post("/_sandbox/reset", &json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    assert_eq!(sandbox.control_get("/_sandbox/sent").await.1, json!({"data": []}));
    assert_eq!(sandbox.control_get("/_sandbox/faults").await.1, json!({"data": []}));
    assert_eq!(sandbox.control_get("/_sandbox/settings").await.1["rules"]["window"]["enabled"], false);
    assert_eq!(sandbox.graph_get(&id).await.0, StatusCode::BAD_REQUEST);
    let (_, template) = sandbox.graph_get("1000000000000001?fields=status").await;
    assert_eq!(template["status"], "APPROVED");
    assert_eq!(sandbox.stats().await["sends"]["accepted"], 0);
    sandbox.stop().await;
}

#[tokio::test]
async fn statuses_and_raw_webhooks_on_demand() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let wamid = sandbox.send_text(USER, "will fail late").await;
    receiver.statuses_of(&wamid, |s| s.len() >= 3).await;
    let (status, shown) = sandbox
        .control_post("/_sandbox/status", &json!({"id": wamid, "status": "failed", "error": {"code": 131049}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["errors"][0]["code"], 131049);
    let statuses = receiver.statuses_of(&wamid, |s| s.len() >= 4).await;
    assert_eq!(names(&statuses), ["sent", "delivered", "read", "failed"]);
    let (status, _) = sandbox.control_post("/_sandbox/status", &json!({"id": "wamid.nope", "status": "read"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = sandbox
        .control_post(
            "/_sandbox/webhook",
            &json!({"field": "account_update", "value": {"phone_number": "15550000001", "event": "VERIFIED_ACCOUNT"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = crate::support::eventually("the account update", || {
        receiver
            .received()
            .into_iter()
            .map(|r| r.json())
            .find(|b| b["entry"][0]["changes"][0]["field"] == "account_update")
    })
    .await;
    assert_eq!(body["entry"][0]["changes"][0]["value"]["event"], "VERIFIED_ACCOUNT");
    assert!(body["entry"][0]["time"].is_number());
    sandbox.stop().await;
}

#[tokio::test]
async fn stats_count_what_happened() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let wamid = sandbox.send_text(USER, "count me").await;
    sandbox.inbound(json!({"from": USER, "text": {"body": "and me"}})).await;
    receiver.statuses_of(&wamid, |s| s.len() >= 3).await;
    let stats = sandbox.stats().await;
    assert_eq!(stats["sends"]["accepted"], 1);
    assert_eq!(stats["inbound"], 1);
    assert_eq!(stats["statuses"]["read"], 1);
    assert!(stats["webhooks"]["items"].as_u64().unwrap() >= 3, "{stats}");
    sandbox.stop().await;
}
