//! The Graph surface: send, auth, errors, the phone number node.

use base64::Engine as _;
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{PNID, TOKEN, TestSandbox, config};

fn assert_graph_error(status: StatusCode, body: &Value, want_status: StatusCode, code: u64) {
    assert_eq!(status, want_status, "{body}");
    let error = body["error"].as_object().expect("Graph error envelope");
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].is_string());
    assert!(error["type"].is_string());
    let trace = error["fbtrace_id"].as_str().unwrap();
    assert!(trace.len() >= 20, "{trace}");
    for key in error.keys() {
        assert!(
            ["message", "type", "code", "error_subcode", "error_data", "fbtrace_id"].contains(&key.as_str()),
            "unexpected key {key} in {body}"
        );
    }
}

#[tokio::test]
async fn send_text_answers_with_a_wamid_for_the_normalised_number() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox
        .graph_post(
            &format!("{PNID}/messages"),
            &json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+1 (650) 555-1234",
                "type": "text",
                "text": {"preview_url": false, "body": "Hello"},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["contacts"], json!([{"input": "+1 (650) 555-1234", "wa_id": "16505551234"}]));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].as_object().unwrap().len(), 1, "only id for non-templates");
    let wamid = messages[0]["id"].as_str().unwrap();

    // Decode by hand, independently of sandbox::wamid.
    let raw = base64::engine::general_purpose::STANDARD.decode(wamid.strip_prefix("wamid.").unwrap()).unwrap();
    let wa_id = b"16505551234";
    let mut expected_head = vec![0x1C, 0x18, wa_id.len() as u8];
    expected_head.extend_from_slice(wa_id);
    expected_head.extend_from_slice(&[0x15, 0x02, 0x00, 0x11, 0x18, 18]);
    assert_eq!(&raw[..expected_head.len()], &expected_head[..]);
    let key = &raw[expected_head.len()..raw.len() - 1];
    assert_eq!(key.len(), 18);
    assert!(key.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)));
    assert_eq!(raw.last(), Some(&0x00));

    let decoded = sandbox::wamid::decode(wamid).unwrap();
    assert_eq!(decoded.wa_id, "16505551234");
    assert!(decoded.from_business);
    sandbox.stop().await;
}

#[tokio::test]
async fn template_sends_report_message_status() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox
        .graph_post(
            &format!("{PNID}/messages"),
            &json!({
                "messaging_product": "whatsapp",
                "to": "491701234567",
                "type": "template",
                "template": {"name": "order_update", "language": {"code": "en_US"}},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    sandbox.stop().await;
}

#[tokio::test]
async fn tokens_are_checked() {
    let sandbox = TestSandbox::start(config(None)).await;
    let send = json!({"messaging_product": "whatsapp", "to": "1", "text": {"body": "x"}});
    let url = sandbox.graph_url(&format!("{PNID}/messages"));

    let response = sandbox.client.post(&url).json(&send).send().await.unwrap();
    let (status, body) = crate::support::into_json(response).await;
    assert_graph_error(status, &body, StatusCode::UNAUTHORIZED, 190);
    assert_eq!(body["error"]["type"], "OAuthException");

    let response = sandbox.client.post(&url).bearer_auth("wrong").json(&send).send().await.unwrap();
    let (status, body) = crate::support::into_json(response).await;
    assert_graph_error(status, &body, StatusCode::UNAUTHORIZED, 190);
    assert_eq!(body["error"]["type"], "OAuthException");

    // The health check of the stack: GET the phone number node.
    let response = sandbox.client.get(sandbox.graph_url(PNID)).send().await.unwrap();
    let (status, body) = crate::support::into_json(response).await;
    assert_graph_error(status, &body, StatusCode::UNAUTHORIZED, 190);

    // The token may also come as a query parameter.
    let response = sandbox.client.post(format!("{url}?access_token={TOKEN}")).json(&send).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    sandbox.stop().await;
}

#[tokio::test]
async fn unknown_phone_number_ids_are_graph_method_errors() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox
        .graph_post("999999/messages", &json!({"messaging_product": "whatsapp", "to": "1", "text": {"body": "x"}}))
        .await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(
        body["error"]["message"],
        "Unsupported post request. Object with ID '999999' does not exist, cannot be loaded \
         due to missing permissions, or does not support this operation."
    );
    assert_eq!(body["error"]["type"], "GraphMethodException");
    assert_eq!(body["error"]["error_subcode"], 33);

    let (status, body) = sandbox.graph_get("999999").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Unsupported get request. Object with ID '999999'"));
    sandbox.stop().await;
}

#[tokio::test]
async fn invalid_sends_get_code_100() {
    let sandbox = TestSandbox::start(config(None)).await;
    let path = format!("{PNID}/messages");
    let cases = [
        (json!({"to": "1", "text": {"body": "x"}}), Some("(#100) The parameter messaging_product is required.")),
        (json!({"messaging_product": "sms", "to": "1", "text": {"body": "x"}}), None),
        (json!({"messaging_product": "whatsapp", "text": {"body": "x"}}), Some("(#100) The parameter to is required.")),
        (json!({"messaging_product": "whatsapp", "to": "not a number", "text": {"body": "x"}}), None),
        (
            json!({"messaging_product": "whatsapp", "to": "1", "type": "image"}),
            Some("(#100) The parameter image is required."),
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {}}),
            Some("(#100) The parameter text['body'] is required."),
        ),
        (json!({"messaging_product": "whatsapp", "to": "1", "text": {"body": "x".repeat(4097)}}), None),
        (json!({"messaging_product": "whatsapp", "to": "1", "type": "fax", "fax": {}}), None),
        (json!(["not", "an", "object"]), None),
    ];
    for (payload, message) in cases {
        let (status, body) = sandbox.graph_post(&path, &payload).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
        if let Some(message) = message {
            assert_eq!(body["error"]["message"], message, "{payload}");
        }
    }
    // Nothing invalid was recorded.
    let (_, sent) = sandbox.control_get("/_sandbox/sent").await;
    assert_eq!(sent, json!({"data": []}));
    sandbox.stop().await;
}

#[tokio::test]
async fn mark_as_read_succeeds() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox
        .graph_post(
            &format!("{PNID}/messages"),
            &json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.ABC",
                    "typing_indicator": {"type": "text"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"success": true}));

    let (status, body) = sandbox
        .graph_post(&format!("{PNID}/messages"), &json!({"messaging_product": "whatsapp", "status": "read"}))
        .await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["message"], "(#100) The parameter message_id is required.");
    sandbox.stop().await;
}

#[tokio::test]
async fn phone_number_node_honours_fields() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox.graph_get(PNID).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "id": PNID,
            "display_phone_number": "15550000001",
            "verified_name": "Sandbox Business",
            "quality_rating": "GREEN",
            "code_verification_status": "VERIFIED",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
        })
    );

    let (status, body) = sandbox.graph_get(&format!("{PNID}?fields=display_phone_number,quality_rating")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": PNID, "display_phone_number": "15550000001", "quality_rating": "GREEN"}));

    let (status, body) = sandbox.graph_get(&format!("{PNID}?fields=id,status")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"id": PNID, "status": "CONNECTED"}));

    let (status, body) = sandbox.graph_get(&format!("{PNID}?fields=bogus")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn unknown_paths() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox.graph_get(&format!("{PNID}/nothing/here")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    let response = sandbox.client.get(sandbox.graph_url(&format!("{PNID}/nothing/here"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    for path in ["/nope", "/v24/123", "/_sandbox/nope", "/api/1/messages"] {
        let response = sandbox.client.get(sandbox.url(path)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    sandbox.stop().await;
}
