//! Webhooks out: status lifecycles, inbound messages, signatures, retries.

use serde_json::{Value, json};

use crate::support::{PNID, Receiver, TestSandbox, WABA_ID, assert_same_shape, assert_signed, config, fixture};

/// Fields pywa's status fixtures have that the sandbox does not send:
/// `contacts` (BSUID-era pywa fixtures carry it on statuses; Cloud's status
/// webhooks, e.g. the Bindambc ones, have none) and `conversation` (webhooks
/// v24.0+ omit it).
const STATUS_FIXTURE_ONLY: &[&str] = &["entry.changes.value.contacts", "entry.changes.value.statuses.conversation"];
/// `pricing.type` exists since per-message pricing (July 2025); the fixtures predate it.
const STATUS_OURS_ONLY: &[&str] = &["entry.changes.value.statuses.pricing.type"];

fn status_of(body: &Value) -> &Value {
    &body["entry"][0]["changes"][0]["value"]["statuses"][0]
}

#[tokio::test]
async fn statuses_arrive_in_order_signed_and_shaped_like_the_fixtures() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let wamid = sandbox.send_text("+16505551234", "Hello").await;

    let received = receiver.wait_for(3).await;
    let bodies: Vec<Value> = received.iter().map(|r| r.json()).collect();
    let order: Vec<&Value> = bodies.iter().map(|b| &status_of(b)["status"]).collect();
    assert_eq!(order, ["sent", "delivered", "read"]);

    for (request, body) in received.iter().zip(&bodies) {
        assert_signed(request);
        assert_eq!(request.headers.get("user-agent").unwrap(), "facebookexternalua");
        assert_eq!(body["object"], "whatsapp_business_account");
        assert_eq!(body["entry"][0]["id"], WABA_ID);
        let value = &body["entry"][0]["changes"][0]["value"];
        assert_eq!(body["entry"][0]["changes"][0]["field"], "messages");
        assert_eq!(value["metadata"], json!({"display_phone_number": "15550000001", "phone_number_id": PNID}));
        let status = status_of(body);
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], "16505551234");
        assert!(status["timestamp"].as_str().unwrap().parse::<u64>().is_ok());
    }

    let pricing = json!({"billable": true, "pricing_model": "PMP", "category": "service", "type": "regular"});
    assert_eq!(status_of(&bodies[0])["pricing"], pricing);
    assert_eq!(status_of(&bodies[1])["pricing"], pricing);

    assert_same_shape(&bodies[0], &fixture("pywa-status-sent.json"), STATUS_FIXTURE_ONLY, STATUS_OURS_ONLY);
    assert_same_shape(&bodies[1], &fixture("pywa-status-delivered.json"), STATUS_FIXTURE_ONLY, STATUS_OURS_ONLY);
    // `read` carries no pricing: Cloud prices on sent plus one of delivered/read.
    assert_same_shape(
        &bodies[2],
        &fixture("pywa-status-read.json"),
        &[STATUS_FIXTURE_ONLY, &["entry.changes.value.statuses.pricing"]].concat(),
        &[],
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn biz_opaque_callback_data_is_echoed_and_templates_are_priced() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let (status, answer) = sandbox
        .graph_post(
            &format!("{PNID}/messages"),
            &json!({
                "messaging_product": "whatsapp",
                "to": "491701234567",
                "type": "template",
                "template": {"name": "spring_promo", "language": {"code": "en"}},
                "biz_opaque_callback_data": "order-42",
            }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    let bodies: Vec<Value> = receiver.wait_for(3).await.iter().map(|r| r.json()).collect();
    for body in &bodies {
        assert_eq!(status_of(body)["biz_opaque_callback_data"], "order-42");
    }
    assert_eq!(status_of(&bodies[0])["pricing"]["category"], "marketing");
    assert_same_shape(&bodies[0], &fixture("pywa-status-sent-biz-opaque.json"), STATUS_FIXTURE_ONLY, STATUS_OURS_ONLY);
    sandbox.stop().await;
}

#[tokio::test]
async fn inbound_text_becomes_a_messages_webhook() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let (status, answer) = sandbox
        .control_post(
            "/_sandbox/inbound",
            &json!({"from": "16505551234", "name": "Ada", "type": "text", "text": {"body": "hi"}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let wamid = answer["id"].as_str().unwrap();
    let decoded = sandbox::wamid::decode(wamid).unwrap();
    assert_eq!(decoded.wa_id, "16505551234");
    assert!(!decoded.from_business);
    assert_eq!(decoded.key.len(), 20);

    let received = receiver.wait_for(1).await;
    assert_signed(&received[0]);
    let body = received[0].json();
    let value = &body["entry"][0]["changes"][0]["value"];
    assert_eq!(body["entry"][0]["id"], WABA_ID);
    assert_eq!(value["metadata"]["phone_number_id"], PNID);
    assert_eq!(value["contacts"], json!([{"profile": {"name": "Ada"}, "wa_id": "16505551234"}]));
    let message = &value["messages"][0];
    assert_eq!(message["from"], "16505551234");
    assert_eq!(message["id"], wamid);
    assert_eq!(message["type"], "text");
    assert_eq!(message["text"], json!({"body": "hi"}));
    assert!(message["timestamp"].as_str().unwrap().parse::<u64>().is_ok());

    // The BSUID fields are new in 2026; sandbox users have none yet.
    assert_same_shape(
        &body,
        &fixture("pywa-text.json"),
        &["entry.changes.value.contacts.user_id", "entry.changes.value.contacts.parent_user_id"],
        &[],
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn bodies_are_escaped_like_meta_and_signed_over_those_bytes() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let (status, _) = sandbox
        .control_post(
            "/_sandbox/inbound",
            &json!({"from": "4915112345678", "name": "Zoë", "text": {"body": "äöå 😀 a/b"}}),
        )
        .await;
    assert_eq!(status, 200);
    let received = receiver.wait_for(1).await;
    assert_signed(&received[0]);
    let raw = std::str::from_utf8(&received[0].body).unwrap();
    assert!(raw.contains(r#""body":"\u00e4\u00f6\u00e5 \ud83d\ude00 a\/b""#), "{raw}");
    assert!(raw.contains(r#""name":"Zo\u00eb""#), "{raw}");
    assert!(!raw.contains('\n') && !raw.contains("\": ") && !raw.contains(", \""), "compact: {raw}");
    assert_eq!(received[0].json()["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"], "äöå 😀 a/b");
    sandbox.stop().await;
}

#[tokio::test]
async fn failed_deliveries_are_retried() {
    let receiver = Receiver::start(2).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let (status, _) = sandbox
        .control_post("/_sandbox/inbound", &json!({"from": "16505551234", "text": {"body": "are you there?"}}))
        .await;
    assert_eq!(status, 200);
    let received = receiver.wait_for(1).await;
    assert_eq!(receiver.attempts(), 3, "two 500s, then the 200");
    assert_signed(&received[0]);
    assert_eq!(received[0].json()["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"], "Sandbox User");
    sandbox.stop().await;
}
