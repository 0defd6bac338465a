//! Fault injection, each knob shown firing and not firing: error codes,
//! 5xx, latency, dropped connections; by count, rate, duration and match.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;

use crate::support::{PNID, PNID2, TestSandbox, USER, assert_graph_error, config, two_numbers};

fn text() -> serde_json::Value {
    json!({"to": USER, "text": {"body": "x"}})
}

#[tokio::test]
async fn error_codes_for_a_count() {
    let sandbox = TestSandbox::start(config(None)).await;
    let fault = sandbox.fault(json!({"match": {"path": "messages"}, "error": {"code": 130429}, "count": 2})).await;
    assert_eq!(fault["id"], "f1");
    assert_eq!(fault["remaining"], 2);
    for _ in 0..2 {
        let (status, body) = sandbox.send(text()).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 130429);
        assert_eq!(body["error"]["error_subcode"], 2494055);
    }
    // Used up: gone, and the next send is fine.
    assert_eq!(sandbox.send(text()).await.0, StatusCode::OK);
    assert_eq!(sandbox.control_get("/_sandbox/faults").await.1, json!({"data": []}));
    assert_eq!(sandbox.stats().await["faults_fired"], 2);

    // Any code, status and details.
    sandbox.fault(json!({"error": {"code": 131000, "http": 500, "details": "boom"}, "count": 1})).await;
    let (status, body) = sandbox.send(text()).await;
    assert_graph_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, 131000);
    assert_eq!(body["error"]["error_data"]["details"], "boom");
    sandbox.stop().await;
}

#[tokio::test]
async fn rate_zero_never_fires_and_rate_one_always_does() {
    let sandbox = TestSandbox::start(config(None)).await;
    let never = sandbox.fault(json!({"error": {"code": 131000}, "rate": 0.0})).await;
    for _ in 0..10 {
        assert_eq!(sandbox.send(text()).await.0, StatusCode::OK);
    }
    let (_, list) = sandbox.control_get("/_sandbox/faults").await;
    assert_eq!(list["data"][0]["fired"], 0);
    assert_eq!(
        sandbox.control_delete(&format!("/_sandbox/faults/{}", never["id"].as_str().unwrap())).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(sandbox.control_delete("/_sandbox/faults/f99").await, StatusCode::NOT_FOUND);

    sandbox.fault(json!({"status": 503, "rate": 1.0})).await;
    for _ in 0..3 {
        let (status, body) = sandbox.send(text()).await;
        assert_graph_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, 2);
    }
    assert_eq!(sandbox.control_delete("/_sandbox/faults").await, StatusCode::NO_CONTENT);
    assert_eq!(sandbox.send(text()).await.0, StatusCode::OK);
    sandbox.stop().await;
}

#[tokio::test]
async fn faults_for_a_while_on_the_sandbox_clock() {
    let sandbox = TestSandbox::start(config(None)).await;
    sandbox.fault(json!({"status": 500, "duration_ms": 60000})).await;
    let (status, body) = sandbox.send(text()).await;
    assert_graph_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, 1);
    sandbox.advance(json!({"seconds": 61})).await;
    assert_eq!(sandbox.send(text()).await.0, StatusCode::OK);
    sandbox.stop().await;
}

#[tokio::test]
async fn latency_is_added() {
    let sandbox = TestSandbox::start(config(None)).await;
    // Without the fault, well under the delay (a lower bound is all that is checked).
    sandbox.fault(json!({"delay_ms": 300, "count": 1})).await;
    let started = Instant::now();
    assert_eq!(sandbox.send(text()).await.0, StatusCode::OK, "a delay lets the request through");
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert_eq!(sandbox.control_get("/_sandbox/faults").await.1, json!({"data": []}));
    sandbox.stop().await;
}

#[tokio::test]
async fn dropped_connections() {
    let sandbox = TestSandbox::start(config(None)).await;
    sandbox.fault(json!({"drop_connection": true, "count": 1})).await;
    let error = sandbox
        .client
        .post(sandbox.graph_url(&format!("{PNID}/messages")))
        .bearer_auth(crate::support::TOKEN)
        .json(&json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}}))
        .send()
        .await
        .expect_err("the connection is dropped without an answer");
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    // The dropped send was never accepted; the next one is.
    assert_eq!(sandbox.control_get("/_sandbox/sent").await.1, json!({"data": []}));
    assert_eq!(sandbox.send(text()).await.0, StatusCode::OK);
    sandbox.stop().await;
}

#[tokio::test]
async fn faults_match_path_method_and_number() {
    let sandbox = TestSandbox::start(two_numbers(None)).await;
    sandbox
        .fault(json!({"match": {"phone_number_id": PNID2, "path": "messages", "method": "POST"}, "status": 503}))
        .await;
    assert_eq!(sandbox.send(text()).await.0, StatusCode::OK, "the other number");
    assert_eq!(sandbox.send_from(PNID2, text()).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sandbox.graph_get(PNID2).await.0, StatusCode::OK, "another path and method");

    sandbox.fault(json!({"match": {"path": "attachments"}, "status": 500})).await;
    let id = sandbox.upload_ok(include_bytes!("../../src/media/samples/sample.png"), "image/png").await;
    let (_, meta) = sandbox.graph_get(&id).await;
    let response =
        sandbox.client.get(meta["url"].as_str().unwrap()).bearer_auth(crate::support::TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "downloads can fail too");

    // Several at once, and bad ones refused whole.
    let (status, body) = sandbox
        .control_post("/_sandbox/faults", &json!({"faults": [{"delay_ms": 1}, {"error": {"code": 131000}, "rate": 0}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    for bad in [json!({}), json!({"status": 200}), json!({"faults": [{"delay_ms": 1}, {"nope": 1}]})] {
        let (status, body) = sandbox.control_post("/_sandbox/faults", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"]["message"].is_string());
    }
    assert_eq!(sandbox.control_get("/_sandbox/faults").await.1["data"].as_array().unwrap().len(), 4);
    sandbox.stop().await;
}
