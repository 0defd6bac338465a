//! Management endpoints: phone numbers, the business account, templates,
//! the business profile, the business compliance information, registration,
//! webhook subscription.

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
async fn phone_number_node_answers_every_documented_field() {
    let sandbox = TestSandbox::start(config(Some("http://127.0.0.1:1/app".into()))).await;
    let fields = "account_mode,certificate,code_verification_status,conversational_automation,country_code,\
        country_dial_code,display_phone_number,eligibility_for_api_business_global_search,health_status,\
        host_platform,is_official_business_account,is_on_biz_app,is_pin_enabled,is_preverified_number,\
        last_onboarded_time,messaging_limit_tier,name_status,new_certificate,new_name_status,platform_type,\
        quality_rating,quality_score,search_visibility,status,throughput,unified_cert_status,username,\
        verified_name,webhook_configuration,whatsapp_business_manager_messaging_limit";
    let (status, body) = sandbox.graph_get(&format!("{PNID}?fields={fields}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["country_code"], "US");
    assert_eq!(body["country_dial_code"], "1");
    assert_eq!(body["quality_score"], json!({"score": "GREEN"}));
    assert_eq!(body["quality_rating"], "GREEN");
    assert_eq!(body["is_on_biz_app"], false);
    assert_eq!(body["is_preverified_number"], false);
    assert_eq!(body["conversational_automation"]["enable_welcome_message"], false);
    assert_eq!(body["conversational_automation"]["id"], body["id"], "the node names its number");
    assert!(body["search_visibility"].is_string() && body["eligibility_for_api_business_global_search"].is_string());
    assert!(!body["certificate"].as_str().unwrap().is_empty());
    assert_eq!(body["webhook_configuration"], json!({"application": "http://127.0.0.1:1/app"}));
    // Known but empty here: accepted, and left out as Graph leaves them out.
    assert!(body.get("new_certificate").is_none() && body.get("username").is_none(), "{body}");
    let health = &body["health_status"];
    assert_eq!(health["can_send_message"], "AVAILABLE");
    let entities: Vec<&str> =
        health["entities"].as_array().unwrap().iter().map(|e| e["entity_type"].as_str().unwrap()).collect();
    assert_eq!(entities, ["PHONE_NUMBER", "WABA", "BUSINESS", "APP"]);
    assert_eq!(health["entities"][0]["id"], PNID);

    // A deregistered number is blocked, with the reason.
    sandbox.graph_post(&format!("{PNID}/deregister"), &json!({})).await;
    let (_, body) = sandbox.graph_get(&format!("{PNID}?fields=health_status")).await;
    assert_eq!(body["health_status"]["can_send_message"], "BLOCKED");
    assert_eq!(body["health_status"]["entities"][0]["errors"][0]["error_code"], 133010);

    for bogus in ["bogus", "quality_rating,not_a_field"] {
        let (status, body) = sandbox.graph_get(&format!("{PNID}?fields={bogus}")).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn business_account_answers_every_documented_field() {
    let sandbox = TestSandbox::start(config(None)).await;
    let fields = "status,health_status,subscribed_apps,owner_business_info,is_enabled_for_insights,\
        marketing_messages_lite_api_status,marketing_messages_onboarding_status,on_behalf_of_business_info,\
        owner_business,is_shared_with_partners,creation_time,template_auto_archival_enabled,\
        disable_marketing_messages_on_cloud_api,whatsapp_business_manager_messaging_limit,\
        linked_commerce_account,primary_funding_id,purchase_order_number";
    let (status, body) = sandbox.graph_get(&format!("{WABA_ID}?fields={fields}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], WABA_ID);
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["is_enabled_for_insights"], true);
    assert_eq!(body["marketing_messages_lite_api_status"], "ELIGIBLE");
    assert_eq!(body["marketing_messages_onboarding_status"], "ELIGIBLE");
    assert!(body["owner_business_info"]["id"].is_string() && body["owner_business_info"]["name"].is_string());
    assert_eq!(body["owner_business"], body["owner_business_info"]);
    assert!(body["creation_time"].is_i64());
    assert_eq!(body["health_status"]["can_send_message"], "AVAILABLE");
    let entities: Vec<&str> = body["health_status"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_type"].as_str().unwrap())
        .collect();
    assert_eq!(entities, ["WABA", "BUSINESS", "APP"]);
    assert_eq!(body["subscribed_apps"]["data"][0]["whatsapp_business_api_data"]["name"], "wa-onprem sandbox");
    for empty in ["linked_commerce_account", "primary_funding_id", "purchase_order_number"] {
        assert!(body.get(empty).is_none(), "{empty}: {body}");
    }
    // The defaults are unchanged.
    let (_, defaults) = sandbox.graph_get(WABA_ID).await;
    let mut keys: Vec<&String> = defaults.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "message_template_namespace", "name", "timezone_id"]);
    let (status, body) = sandbox.graph_get(&format!("{WABA_ID}?fields=name,bogus")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn templates_answer_every_documented_field() {
    let sandbox = TestSandbox::start(config(None)).await;
    let fields = "name,message_send_ttl_seconds,correct_category,library_template_name,\
        cta_url_link_tracking_opted_out,degrees_of_freedom_spec,previous_category,sub_category,rejected_reason,\
        quality_score,health_status";
    let (status, one) = sandbox.graph_get(&format!("1000000000000001?fields={fields}")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["correct_category"], "UTILITY");
    assert_eq!(one["cta_url_link_tracking_opted_out"], false);
    assert_eq!(one["quality_score"]["score"], "UNKNOWN");
    assert!(one["quality_score"]["date"].is_i64(), "dated, as Graph: {one}");
    assert_eq!(one["health_status"]["can_send_message"], "AVAILABLE");
    assert_eq!(
        one["health_status"]["entities"][0],
        json!({"entity_type": "MESSAGE_TEMPLATE", "id": "1000000000000001", "can_send_message": "AVAILABLE"})
    );
    for empty in ["message_send_ttl_seconds", "library_template_name", "degrees_of_freedom_spec"] {
        assert!(one.get(empty).is_none(), "{empty}: {one}");
    }

    // The listing takes the same fields.
    let (status, list) = sandbox.graph_get(&format!("{WABA_ID}/message_templates?name=hello&fields={fields}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"][0]["correct_category"], "UTILITY");
    assert_eq!(list["data"][0]["id"], "1000000000000001");
    assert!(list["data"][0]["quality_score"]["date"].is_i64(), "a dated score: {list}");
    // Aggregates on request, as Graph's `summary=`.
    let asked = "total_count,message_template_count,message_template_limit,are_translations_complete";
    let (status, list) = sandbox.graph_get(&format!("{WABA_ID}/message_templates?name=hello&summary={asked}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["summary"]["total_count"], 1, "{list}");
    assert!(list["summary"]["message_template_count"].as_u64().unwrap() >= 6, "{list}");
    assert_eq!(list["summary"]["message_template_limit"], 250);
    let (status, body) = sandbox.graph_get(&format!("{WABA_ID}/message_templates?summary=bogus")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    // A paused template is blocked.
    sandbox.control_post("/_sandbox/templates/status", &json!({"id": "1000000000000001", "status": "PAUSED"})).await;
    let (_, one) = sandbox.graph_get("1000000000000001?fields=health_status").await;
    assert_eq!(one["health_status"]["can_send_message"], "BLOCKED");
    assert_eq!(one["health_status"]["entities"][0]["errors"][0]["error_code"], 132015);

    for path in ["1000000000000001?fields=bogus".to_owned(), format!("{WABA_ID}/message_templates?fields=name,bogus")] {
        let (status, body) = sandbox.graph_get(&path).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    }
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
    for vertical in ["ALCOHOL", "ONLINE_GAMBLING", "PHYSICAL_GAMBLING", "OTC_DRUGS"] {
        let (status, body) =
            sandbox.graph_post(&path, &json!({"messaging_product": "whatsapp", "vertical": vertical})).await;
        assert_eq!(status, StatusCode::OK, "{vertical}: {body}");
    }
    let (_, body) = sandbox.graph_get(&format!("{path}?fields=vertical")).await;
    assert_eq!(body["data"][0]["vertical"], "OTC_DRUGS");
    for bad in [
        json!({"about": "x"}),
        json!({"messaging_product": "whatsapp", "about": "x".repeat(140)}),
        json!({"messaging_product": "whatsapp", "vertical": "SPACE"}),
        json!({"messaging_product": "whatsapp", "vertical": "UNDEFINED"}),
        json!({"messaging_product": "whatsapp", "vertical": "NOT_A_BIZ"}),
    ] {
        let (status, body) = sandbox.graph_post(&path, &bad).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn business_compliance_info_round_trip() {
    let sandbox = TestSandbox::start(two_numbers(None)).await;
    let path = format!("{PNID}/business_compliance_info");
    // Nothing set yet.
    assert_eq!(sandbox.graph_get(&path).await, (StatusCode::OK, json!({"data": []})));

    let info = json!({
        "messaging_product": "whatsapp",
        "entity_name": "Lucky Shrub Private Limited",
        "entity_type": "PARTNERSHIP",
        "is_registered": true,
        "grievance_officer_details": {"name": "Chandravati P.", "email": "chandravati@luckyshrub.com",
            "landline_number": "+913857614343", "mobile_number": "+913854559033"},
        "customer_care_details": {"email": "support@luckyshrub.com", "landline_number": "+913857614343",
            "mobile_number": "+913854559033"}
    });
    assert_eq!(sandbox.graph_post(&path, &info).await, (StatusCode::OK, json!({"success": true})));
    let (status, body) = sandbox.graph_get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"data": [{
            "entity_name": "Lucky Shrub Private Limited",
            "entity_type": "Partnership",
            "is_registered": true,
            "grievance_officer_details": {"name": "Chandravati P.", "email": "chandravati@luckyshrub.com",
                "landline_number": "+913857614343", "mobile_number": "+913854559033"},
            "customer_care_details": {"email": "support@luckyshrub.com", "landline_number": "+913857614343",
                "mobile_number": "+913854559033"},
            "messaging_product": "whatsapp"
        }]})
    );
    let (_, picked) = sandbox.graph_get(&format!("{path}?fields=entity_name,is_registered")).await;
    assert_eq!(picked, json!({"data": [{"entity_name": "Lucky Shrub Private Limited", "is_registered": true}]}));
    let (status, body) = sandbox.graph_get(&format!("{path}?fields=bogus")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);

    // Per number: the other one has none; an update replaces it all.
    assert_eq!(sandbox.graph_get(&format!("{PNID2}/business_compliance_info")).await.1, json!({"data": []}));
    let other = json!({
        "messaging_product": "whatsapp", "entity_name": "Innovative Tech Solutions", "entity_type": "OTHER",
        "entity_type_custom": "Limited Liability Partnership", "is_registered": false,
        "grievance_officer_details": {"name": "Rajesh Kumar", "email": "rajesh@innovativetech.com"},
        "customer_care_details": {"email": "support@innovativetech.com", "mobile_number": "+918901234567"}
    });
    assert_eq!(sandbox.graph_post(&path, &other).await.0, StatusCode::OK);
    let (_, body) = sandbox.graph_get(&path).await;
    assert_eq!(body["data"][0]["entity_type"], "Other");
    assert_eq!(body["data"][0]["entity_type_custom"], "Limited Liability Partnership");
    assert_eq!(body["data"][0]["is_registered"], false);
    assert!(body["data"][0]["grievance_officer_details"].get("mobile_number").is_none(), "{body}");

    // A reset forgets it, like the number's other settings.
    sandbox.control_post("/_sandbox/reset", &json!({})).await;
    assert_eq!(sandbox.graph_get(&path).await.1, json!({"data": []}));
    sandbox.stop().await;
}

#[tokio::test]
async fn business_compliance_info_refuses_what_graph_refuses() {
    let sandbox = TestSandbox::start(config(None)).await;
    let path = format!("{PNID}/business_compliance_info");
    let valid = json!({
        "messaging_product": "whatsapp", "entity_name": "Lucky Shrub", "entity_type": "PRIVATE_COMPANY",
        "grievance_officer_details": {"name": "Chandravati P.", "email": "chandravati@luckyshrub.com"},
        "customer_care_details": {"email": "support@luckyshrub.com", "mobile_number": "+913854559033"}
    });
    let with = |key: &str, value: serde_json::Value| {
        let mut body = valid.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value;
        }
        body
    };
    for bad in [
        with("messaging_product", json!(null)),
        with("messaging_product", json!("sms")),
        with("entity_name", json!(null)),
        with("entity_type", json!(null)),
        with("entity_type", json!("CORPORATION")),
        with("entity_type", json!("OTHER")),
        with("entity_type_custom", json!("Trust")),
        with("is_registered", json!(true)),
        with("grievance_officer_details", json!(null)),
        with("grievance_officer_details", json!({"name": "Chandravati P."})),
        with("grievance_officer_details", json!({"name": "Chandravati P.", "email": "chandravati"})),
        with("customer_care_details", json!({"email": "support@luckyshrub.com"})),
        with("customer_care_details", json!({"email": "support@luckyshrub.com", "mobile_number": "3854559033"})),
    ] {
        let (status, body) = sandbox.graph_post(&path, &bad).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    }
    // Nothing refused was stored.
    assert_eq!(sandbox.graph_get(&path).await.1, json!({"data": []}));
    // Not a hosted number.
    let (status, body) = sandbox.graph_post("123456/business_compliance_info", &valid).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    let (status, body) = sandbox.graph_delete(&path).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    // The valid one goes through: other entity types count as registered.
    assert_eq!(sandbox.graph_post(&path, &valid).await.0, StatusCode::OK);
    let (_, body) = sandbox.graph_get(&path).await;
    assert_eq!(body["data"][0]["is_registered"], true);
    assert_eq!(body["data"][0]["entity_type"], "Private company");
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

#[tokio::test]
async fn subscribing_again_without_an_override_goes_back_to_the_app() {
    let app = Receiver::start(0).await;
    let alternate = Receiver::start(0).await;
    let sandbox = TestSandbox::start(config(Some(app.url.clone()))).await;
    let path = format!("{WABA_ID}/subscribed_apps");
    let override_body = json!({"override_callback_uri": alternate.url, "verify_token": "t"});
    assert_eq!(sandbox.graph_post(&path, &override_body).await.0, StatusCode::OK);
    let (_, node) = sandbox.graph_get(&format!("{PNID}?fields=webhook_configuration")).await;
    assert_eq!(
        node["webhook_configuration"],
        json!({"whatsapp_business_account": alternate.url, "application": app.url})
    );
    // The app's URL stays the app's: the override does not replace it.
    let settings = sandbox.control_get("/_sandbox/settings").await.1;
    assert_eq!(settings["webhooks"]["url"], app.url.as_str());
    let wamid = sandbox.send_text(USER, "to the alternate").await;
    alternate.status(&wamid, "read").await;

    // Template webhooks never take the override: they go to the app.
    let create = json!({"name": "override_check", "language": "en_US", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hello"}]});
    assert_eq!(sandbox.graph_post(&format!("{WABA_ID}/message_templates"), &create).await.0, StatusCode::OK);
    let is_template =
        |r: &crate::support::Received| r.json()["entry"][0]["changes"][0]["field"] == "message_template_status_update";
    eventually("the template webhook at the app", || app.received().into_iter().find(|r| is_template(r))).await;
    assert!(!alternate.received().iter().any(is_template));
    assert!(app.statuses().is_empty(), "statuses went to the app while overridden");

    // A plain subscription removes the override.
    assert_eq!(sandbox.graph_post(&path, &json!({})).await, (StatusCode::OK, json!({"success": true})));
    let (_, apps) = sandbox.graph_get(&path).await;
    assert!(apps["data"][0].get("override_callback_uri").is_none(), "{apps}");
    assert_eq!(apps["data"][0]["whatsapp_business_api_data"]["name"], "wa-onprem sandbox");
    let (_, node) = sandbox.graph_get(&format!("{PNID}?fields=webhook_configuration")).await;
    assert_eq!(node["webhook_configuration"], json!({"application": app.url}));
    let before = alternate.received().len();
    let wamid = sandbox.send_text(USER, "back to the app").await;
    app.status(&wamid, "read").await;
    assert_eq!(alternate.received().len(), before, "the alternate got more after the override was removed");
    sandbox.stop().await;
}
