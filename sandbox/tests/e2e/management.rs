//! Management endpoints: phone numbers, the business account, templates,
//! the business profile, registration, webhook subscription.

use http::StatusCode;
use serde_json::json;

use crate::support::{
    PNID, PNID2, Receiver, TestSandbox, USER, WABA_ID, assert_graph_error, config, eventually, two_numbers,
};

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
    let (_, body) =
        sandbox.graph_get(&format!("{PNID}?fields=id,status,is_pin_enabled,health_status{{can_send_message}}")).await;
    assert_eq!(body["status"], "CONNECTED");
    assert_eq!(body["is_pin_enabled"], false);
    assert_eq!(body["health_status"]["can_send_message"], "AVAILABLE");
    let (status, body) = sandbox.graph_get(&format!("{PNID}?fields=bogus")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn business_account_and_its_numbers() {
    let sandbox = TestSandbox::start(two_numbers(None)).await;
    let (status, waba) = sandbox.graph_get(WABA_ID).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(waba["id"], WABA_ID);
    assert_eq!(waba["message_template_namespace"].as_str().unwrap().len(), 36);

    let (status, list) = sandbox.graph_get(&format!("{WABA_ID}/phone_numbers")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], PNID);
    assert_eq!(data[1]["display_phone_number"], "15550000002");
    assert!(list["paging"]["cursors"]["after"].is_string());
    assert!(list["paging"].get("next").is_none());

    // Paging one at a time.
    let (_, page) = sandbox.graph_get(&format!("{WABA_ID}/phone_numbers?limit=1&fields=id")).await;
    assert_eq!(page["data"], json!([{"id": PNID}]));
    let next = page["paging"]["next"].as_str().unwrap();
    let (_, second) =
        crate::support::into_json(sandbox.client.get(next).bearer_auth(crate::support::TOKEN).send().await.unwrap())
            .await;
    assert_eq!(second["data"], json!([{"id": PNID2}]));
    sandbox.stop().await;
}

#[tokio::test]
async fn templates_can_be_listed_created_and_deleted() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let (status, list) = sandbox.graph_get(&format!("{WABA_ID}/message_templates")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"hello_world") && names.contains(&"order_confirmation"), "{names:?}");
    let (_, filtered) = sandbox
        .graph_get(&format!("{WABA_ID}/message_templates?name=order&language=es&fields=name,language,status"))
        .await;
    assert_eq!(
        filtered["data"],
        json!([{"name": "order_confirmation", "language": "es", "status": "APPROVED", "id": "1000000000000003"}])
    );
    let (_, one) = sandbox.graph_get("1000000000000001?fields=name,status").await;
    assert_eq!(one, json!({"name": "hello_world", "status": "APPROVED", "id": "1000000000000001"}));

    let create = json!({"name": "shipping_update", "language": "en_US", "category": "utility",
        "components": [{"type": "BODY", "text": "Your parcel {{1}} ships today.", "example": {"body_text": [["#7"]]}}]});
    let (status, created) = sandbox.graph_post(&format!("{WABA_ID}/message_templates"), &create).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["category"], "UTILITY");
    let id = created["id"].as_str().unwrap().to_owned();
    let send = json!({"to": USER, "type": "template", "template": {"name": "shipping_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "#7"}]}]}});
    // Pending templates cannot be sent…
    let (status, body) = sandbox.send(send.clone()).await;
    assert_graph_error(status, &body, StatusCode::NOT_FOUND, 132001);
    // …until the review approves them, with a webhook.
    let update = eventually("the approval webhook", || {
        receiver
            .received()
            .into_iter()
            .map(|r| r.json())
            .find(|b| b["entry"][0]["changes"][0]["field"] == "message_template_status_update")
    })
    .await;
    let value = &update["entry"][0]["changes"][0]["value"];
    assert_eq!(value["event"], "APPROVED");
    assert_eq!(value["message_template_name"], "shipping_update");
    assert_eq!(value["message_template_id"].as_u64().unwrap().to_string(), id);
    assert!(update["entry"][0]["time"].is_number());
    assert_eq!(sandbox.send(send.clone()).await.0, StatusCode::OK);

    let (status, body) = sandbox.graph_post(&format!("{WABA_ID}/message_templates"), &create).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["error_subcode"], 2388024);
    for bad in [
        json!({"name": "Bad Name", "language": "en", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
        json!({"name": "x", "language": "en", "category": "GOSSIP", "components": [{"type": "BODY", "text": "x"}]}),
        json!({"name": "x", "language": "en", "category": "UTILITY", "components": [{"type": "FOOTER", "text": "x"}]}),
        json!({"name": "x", "language": "en", "category": "UTILITY"}),
    ] {
        let (status, body) = sandbox.graph_post(&format!("{WABA_ID}/message_templates"), &bad).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    }

    let (status, body) = sandbox.graph_delete(&format!("{WABA_ID}/message_templates?name=shipping_update")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (status, body) = sandbox.send(send).await;
    assert_graph_error(status, &body, StatusCode::NOT_FOUND, 132001);
    let (status, _) = sandbox.graph_delete(&format!("{WABA_ID}/message_templates?name=shipping_update")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sandbox.stop().await;
}

#[tokio::test]
async fn rejected_and_paused_templates() {
    let receiver = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(receiver.url.clone()))).await;
    let create = json!({"name": "please_reject_me", "language": "en", "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Buy now!"}]});
    let (status, _) = sandbox.graph_post(&format!("{WABA_ID}/message_templates"), &create).await;
    assert_eq!(status, StatusCode::OK);
    let update = eventually("the rejection", || {
        receiver
            .received()
            .into_iter()
            .map(|r| r.json())
            .find(|b| b["entry"][0]["changes"][0]["value"]["event"] == "REJECTED")
    })
    .await;
    assert_eq!(update["entry"][0]["changes"][0]["value"]["reason"], "INVALID_FORMAT");

    let (status, _) = sandbox
        .control_post(
            "/_sandbox/templates/status",
            &json!({"name": "hello_world", "language": "en_US", "status": "PAUSED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let send =
        json!({"to": USER, "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let (status, body) = sandbox.send(send.clone()).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 132015);
    sandbox.control_post("/_sandbox/templates/status", &json!({"id": "1000000000000001", "status": "DISABLED"})).await;
    let (status, body) = sandbox.send(send).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 132016);
    sandbox.stop().await;
}

#[tokio::test]
async fn business_profile() {
    let sandbox = TestSandbox::start(config(None)).await;
    let path = format!("{PNID}/whatsapp_business_profile");
    let (status, body) = sandbox.graph_get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let profile = &body["data"][0];
    assert_eq!(profile["messaging_product"], "whatsapp");
    for key in ["about", "address", "description", "email", "profile_picture_url", "websites", "vertical"] {
        assert!(profile.get(key).is_some(), "{key}");
    }
    let update = json!({"messaging_product": "whatsapp", "about": "Open 9 to 5", "websites": ["https://shop.example.com"],
        "vertical": "RETAIL"});
    let (status, body) = sandbox.graph_post(&path, &update).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (_, body) = sandbox.graph_get(&format!("{path}?fields=about,vertical,websites")).await;
    assert_eq!(
        body,
        json!({"data": [{"about": "Open 9 to 5", "vertical": "RETAIL", "websites": ["https://shop.example.com"], "messaging_product": "whatsapp"}]})
    );
    for bad in [
        json!({"about": "x"}),
        json!({"messaging_product": "whatsapp", "about": "x".repeat(140)}),
        json!({"messaging_product": "whatsapp", "vertical": "SPACE"}),
    ] {
        let (status, body) = sandbox.graph_post(&path, &bad).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn register_deregister_and_pins() {
    let sandbox = TestSandbox::start(config(None)).await;
    let register = |pin: &str| json!({"messaging_product": "whatsapp", "pin": pin});
    let (status, body) = sandbox.graph_post(&format!("{PNID}/deregister"), &json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (_, node) = sandbox.graph_get(&format!("{PNID}?fields=status")).await;
    assert_eq!(node["status"], "DISCONNECTED");
    let (status, body) = sandbox.send(json!({"to": USER, "text": {"body": "x"}})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 133010);

    // The first registration sets the PIN; later ones must repeat it.
    let (status, _) = sandbox.graph_post(&format!("{PNID}/register"), &register("123456")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sandbox.send(json!({"to": USER, "text": {"body": "x"}})).await.0, StatusCode::OK);
    let (status, body) = sandbox.graph_post(&format!("{PNID}/register"), &register("654321")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 133005);
    let (status, body) = sandbox.graph_post(&format!("{PNID}/register"), &register("12")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    // Ten calls per 72 hours (three made so far, one refused by its PIN).
    for _ in 0..7 {
        assert_eq!(sandbox.graph_post(&format!("{PNID}/register"), &register("123456")).await.0, StatusCode::OK);
    }
    let (status, body) = sandbox.graph_post(&format!("{PNID}/register"), &register("123456")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 133016);
    sandbox.advance(json!({"hours": 72})).await;
    assert_eq!(sandbox.graph_post(&format!("{PNID}/register"), &register("123456")).await.0, StatusCode::OK);

    // Two-step PIN, verification codes.
    let (status, _) = sandbox.graph_post(PNID, &json!({"pin": "111111"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, node) = sandbox.graph_get(&format!("{PNID}?fields=is_pin_enabled")).await;
    assert_eq!(node["is_pin_enabled"], true);
    let (status, _) =
        sandbox.graph_post(&format!("{PNID}/request_code"), &json!({"code_method": "SMS", "language": "en_US"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sandbox.graph_post(&format!("{PNID}/verify_code"), &json!({"code": "000000"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sandbox.graph_post(&format!("{PNID}/verify_code"), &json!({"code": "12"})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 136025);
    sandbox.stop().await;
}

#[tokio::test]
async fn subscribed_apps_control_the_webhooks() {
    let first = Receiver::start(0).await;
    let second = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(first.url.clone()))).await;
    let path = format!("{WABA_ID}/subscribed_apps");
    let (_, apps) = sandbox.graph_get(&path).await;
    assert_eq!(apps["data"][0]["whatsapp_business_api_data"]["name"], "wa-onprem sandbox");

    // Unsubscribed: no webhooks at all.
    assert_eq!(sandbox.graph_delete(&path).await, (StatusCode::OK, json!({"success": true})));
    assert_eq!(sandbox.graph_get(&path).await.1, json!({"data": []}));
    sandbox.send_text(USER, "nobody hears").await;
    assert_eq!(sandbox.stats().await["statuses"]["sent"], 0);

    // Subscribed with an override: webhooks go there.
    let (status, body) =
        sandbox.graph_post(&path, &json!({"override_callback_uri": second.url, "verify_token": "t"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (_, apps) = sandbox.graph_get(&path).await;
    assert_eq!(apps["data"][0]["override_callback_uri"], second.url.as_str());
    let wamid = sandbox.send_text(USER, "over here").await;
    second.status(&wamid, "read").await;
    assert!(first.received().is_empty());
    let (status, _) =
        sandbox.graph_post(&path, &json!({"override_callback_uri": "not a url", "verify_token": "t"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sandbox.stop().await;
}
