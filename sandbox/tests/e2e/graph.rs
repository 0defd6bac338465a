//! Graph conventions: versions, tokens, the error envelope, unknown nodes,
//! the send answer, mark-as-read.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{PNID, TOKEN, TestSandbox, USER, assert_graph_error, config, into_json};

#[tokio::test]
async fn send_text_answers_with_a_wamid_for_the_normalised_number() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox
        .send(json!({
            "recipient_type": "individual",
            "to": "+1 (650) 555-1234",
            "type": "text",
            "text": {"preview_url": false, "body": "Hello"},
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    let user_id = sandbox.user_id(USER).await;
    assert_eq!(body["contacts"], json!([{"input": "+1 (650) 555-1234", "wa_id": "16505551234", "user_id": user_id}]));
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
async fn to_is_normalised_like_cloud() {
    let sandbox = TestSandbox::start(config(None)).await;
    for (input, wa_id) in [
        ("(650) 555-1234", "16505551234"),
        ("+44 20 7946 0958", "442079460958"),
        ("0044 20 7946 0958", "442079460958"),
        ("+52 55 1234 5678", "5215512345678"),
    ] {
        let (status, body) = sandbox.send(json!({"to": input, "text": {"body": "x"}})).await;
        assert_eq!(status, StatusCode::OK, "{input}: {body}");
        let user_id = sandbox.user_id(wa_id).await;
        assert_eq!(body["contacts"][0], json!({"input": input, "wa_id": wa_id, "user_id": user_id}));
    }
    // The business cannot write to itself.
    let (status, body) = sandbox.send(json!({"to": "+1 555 000 0001", "text": {"body": "x"}})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131021);
    sandbox.stop().await;
}

#[tokio::test]
async fn any_version_prefix_works() {
    let sandbox = TestSandbox::start(config(None)).await;
    for version in ["v1.0", "v20.0", "v24.0", "v99.0"] {
        let response =
            sandbox.client.get(sandbox.url(&format!("/{version}/{PNID}"))).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{version}");
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn tokens_are_checked() {
    let sandbox = TestSandbox::start(config(None)).await;
    let send = json!({"messaging_product": "whatsapp", "to": "1", "text": {"body": "x"}});
    let url = sandbox.graph_url(&format!("{PNID}/messages"));

    let response = sandbox.client.post(&url).json(&send).send().await.unwrap();
    let (status, body) = into_json(response).await;
    assert_graph_error(status, &body, StatusCode::UNAUTHORIZED, 190);
    assert_eq!(body["error"]["type"], "OAuthException");

    let response = sandbox.client.post(&url).bearer_auth("wrong").json(&send).send().await.unwrap();
    let (status, body) = into_json(response).await;
    assert_graph_error(status, &body, StatusCode::UNAUTHORIZED, 190);
    assert_eq!(body["error"]["type"], "OAuthException");

    // The health check of the stack: GET the phone number node.
    let response = sandbox.client.get(sandbox.graph_url(PNID)).send().await.unwrap();
    let (status, body) = into_json(response).await;
    assert_graph_error(status, &body, StatusCode::UNAUTHORIZED, 190);

    // The token may also come as a query parameter.
    let response = sandbox.client.post(format!("{url}?access_token={TOKEN}")).json(&send).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Real Graph often answers 400 to bad tokens: the status is a setting.
    sandbox.settings(json!({"http": {"auth_error_status": 400}})).await;
    let response = sandbox.client.post(&url).bearer_auth("wrong").json(&send).send().await.unwrap();
    let (status, body) = into_json(response).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 190);
    sandbox.stop().await;
}

#[tokio::test]
async fn appsecret_proof_when_required() {
    let sandbox = TestSandbox::start(sandbox::Config { require_appsecret_proof: true, ..config(None) }).await;
    let (status, body) = sandbox.graph_get(PNID).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["message"], "Invalid appsecret_proof provided in the API argument");

    let mut mac = Hmac::<Sha256>::new_from_slice(b"sandbox-app-secret").unwrap();
    mac.update(TOKEN.as_bytes());
    let proof = hex::encode(mac.finalize().into_bytes());
    let (status, body) = sandbox.graph_get(&format!("{PNID}?appsecret_proof={proof}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sandbox.stop().await;
}

#[tokio::test]
async fn unknown_node_ids_are_graph_method_errors() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox.send_from("999999", json!({"to": "1", "text": {"body": "x"}})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(
        body["error"]["message"],
        "Unsupported post request. Object with ID '999999' does not exist, cannot be loaded \
         due to missing permissions, or does not support this operation."
    );
    assert_eq!(body["error"]["type"], "GraphMethodException");
    assert_eq!(body["error"]["error_subcode"], 33);

    for path in ["999999", "999999/whatsapp_business_profile", "999999/phone_numbers", "999999/message_templates"] {
        let (status, body) = sandbox.graph_get(path).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
        assert_eq!(body["error"]["error_subcode"], 33, "{path}");
        assert!(
            body["error"]["message"].as_str().unwrap().starts_with("Unsupported get request. Object with ID '999999'")
        );
    }
    // A phone number is not a business account, and the other way round.
    let (status, body) = sandbox.graph_get(&format!("{PNID}/message_templates")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    let (status, body) = sandbox.graph_get("200000000000001/whatsapp_business_profile").await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
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
        (json!({"messaging_product": "whatsapp", "to": "1", "recipient_type": "crowd", "text": {"body": "x"}}), None),
        (json!(["not", "an", "object"]), None),
    ];
    for (payload, message) in cases {
        let (status, body) = sandbox.graph_post(&path, &payload).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
        if let Some(message) = message {
            assert_eq!(body["error"]["message"], message, "{payload}");
        }
    }
    // Nothing invalid was recorded, and the refusals were counted.
    let (_, sent) = sandbox.control_get("/_sandbox/sent").await;
    assert_eq!(sent, json!({"data": []}));
    assert_eq!(sandbox.stats().await["sends"]["refused"]["100"], 10);
    sandbox.stop().await;
}

#[tokio::test]
async fn mark_as_read_and_typing_indicator() {
    let sandbox = TestSandbox::start(config(None)).await;
    let inbound = sandbox.inbound(json!({"from": USER, "text": {"body": "hi"}})).await;
    let wamid = inbound["id"].as_str().unwrap();
    for payload in [
        json!({"status": "read", "message_id": wamid}),
        json!({"status": "read", "message_id": wamid, "typing_indicator": {"type": "text"}}),
    ] {
        let (status, body) = sandbox.send(payload).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    }

    // Only messages the number received can be marked read.
    let sent = sandbox.send_text(USER, "mine").await;
    for unknown in ["wamid.ABC", sent.as_str()] {
        let (status, body) = sandbox.send(json!({"status": "read", "message_id": unknown})).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    }
    let (status, body) = sandbox.send(json!({"status": "read"})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["message"], "(#100) The parameter message_id is required.");
    let (status, body) =
        sandbox.send(json!({"status": "read", "message_id": wamid, "typing_indicator": {"type": "audio"}})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    let (status, body) = sandbox.send(json!({"status": "unread", "message_id": wamid})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn unknown_paths() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox.graph_get(&format!("{PNID}/nothing/here")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    let (status, body) = sandbox.graph_get(&format!("{PNID}/nothing")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    let response = sandbox.client.get(sandbox.graph_url(&format!("{PNID}/nothing/here"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    for path in ["/nope", "/v24/123", "/_sandbox/nope", "/api/1/messages"] {
        let response = sandbox.client.get(sandbox.url(path)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn errors_carry_a_trace_header() {
    let sandbox = TestSandbox::start(config(None)).await;
    let response = sandbox.client.get(sandbox.graph_url("999999")).bearer_auth(TOKEN).send().await.unwrap();
    let header = response.headers().get("x-fb-trace-id").unwrap().to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["fbtrace_id"], header.as_str());
    sandbox.stop().await;
}
