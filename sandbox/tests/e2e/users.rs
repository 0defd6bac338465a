//! Users, usernames and business-scoped user IDs (BSUIDs): the control API
//! under `/_sandbox/users`, the withheld phone of users with a username and
//! the 30-day rule, sends through `recipient`, their statuses, the contact
//! book, number changes in both system-message shapes, parent BSUIDs. The
//! webhooks are compared with the `bsuid-*.json` fixtures too.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    PNID, PNID2, Received, Receiver, TestSandbox, WABA_ID, assert_graph_error, assert_same_shape, assert_signed,
    config, eventually, fixture, items, two_numbers,
};

/// A user who adopted a username.
const SHEENA: &str = "16505550101";
const SHEENA_NAME: &str = "Sheena Nelson";
const SHEENA_USERNAME: &str = "realsheenanelson";

/// A sandbox whose POSTs carry one item each (a `sent` and a `delivered`
/// never share a body), with its receiver.
async fn start() -> (Receiver, TestSandbox) {
    let receiver = Receiver::start(0).await;
    let sandbox =
        TestSandbox::start(sandbox::Config { webhook_batch_max: 1, ..config(Some(receiver.url.clone())) }).await;
    (receiver, sandbox)
}

/// Creates Sheena, with her username; returns her BSUID.
async fn sheena(sandbox: &TestSandbox) -> String {
    let user = sandbox.save_user(json!({"phone": SHEENA, "username": SHEENA_USERNAME, "name": SHEENA_NAME})).await;
    user["user_id"].as_str().unwrap().to_owned()
}

/// The user writes `body`; returns the webhook POST that carried it.
async fn writes(receiver: &Receiver, sandbox: &TestSandbox, from: &str, body: &str) -> Received {
    let answer = sandbox.inbound(json!({"from": from, "text": {"body": body}})).await;
    receiver.message_post(answer["id"].as_str().unwrap()).await
}

/// The `value` of the only change of `post`.
fn value(post: &Received) -> Value {
    let body = post.json();
    let changes = body["entry"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{body}");
    changes[0]["value"].clone()
}

/// The POST carrying status `status` of `wamid`.
async fn status_post(receiver: &Receiver, wamid: &str, status: &str) -> Received {
    eventually(&format!("{status} of {wamid}"), || {
        receiver
            .received()
            .into_iter()
            .find(|r| items(&r.json(), "statuses").iter().any(|s| s["id"] == wamid && s["status"] == status))
    })
    .await
}

/// The POST carrying a message from the user with BSUID `user_id` of type `kind`.
async fn message_from(receiver: &Receiver, user_id: &str, kind: &str) -> Received {
    eventually(&format!("a {kind} message from {user_id}"), || {
        receiver
            .received()
            .into_iter()
            .find(|r| items(&r.json(), "messages").iter().any(|m| m["from_user_id"] == user_id && m["type"] == kind))
    })
    .await
}

/// Asserts the raw body never names `phone` (in any field or text).
fn assert_no_phone(post: &Received, phone: &str) {
    let raw = std::str::from_utf8(&post.body).unwrap();
    assert!(!raw.contains(phone), "the phone {phone} leaked: {raw}");
}

#[tokio::test]
async fn the_control_api_creates_finds_and_changes_users() {
    let sandbox = TestSandbox::start(config(None)).await;
    let created = sandbox.save_user(json!({"phone": SHEENA, "username": "sheena.n", "name": SHEENA_NAME})).await;
    let user_id = created["user_id"].as_str().unwrap().to_owned();
    assert_eq!(
        created,
        json!({"user_id": user_id, "phone": SHEENA, "username": "sheena.n", "name": SHEENA_NAME,
               "contact_book": false, "phone_shared": false})
    );
    let (country, digits) = user_id.split_once('.').unwrap();
    assert_eq!(country, "US");
    assert!(digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()), "{user_id}");

    // Found by phone, with or without '+', and by BSUID; unknown is 404.
    assert_eq!(sandbox.user(SHEENA).await, created);
    assert_eq!(sandbox.user(&format!("+{SHEENA}")).await, created);
    assert_eq!(sandbox.user(&user_id).await, created);
    for unknown in ["16505550404", "US.12345678901234567890"] {
        let (status, body) = sandbox.control_get(&format!("/_sandbox/users/{unknown}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }

    // An update keeps what it does not name; null drops the username, and
    // with it the withholding.
    let updated = sandbox.save_user(json!({"phone": SHEENA, "contact_book": true})).await;
    assert_eq!((updated["username"].as_str(), updated["name"].as_str()), (Some("sheena.n"), Some(SHEENA_NAME)));
    assert_eq!((updated["contact_book"].as_bool(), updated["phone_shared"].as_bool()), (Some(true), Some(true)));
    let plain = sandbox.save_user(json!({"phone": SHEENA, "username": null, "contact_book": false})).await;
    assert_eq!((plain["username"].clone(), plain["phone_shared"].clone()), (Value::Null, json!(true)));
    assert_eq!(plain["user_id"], user_id.as_str(), "the BSUID depends on the phone only");

    // A user created without a name or username.
    let bare = sandbox.save_user(json!({"phone": "4915112345678"})).await;
    assert_eq!(bare["name"], "Sandbox User");
    assert!(bare["user_id"].as_str().unwrap().starts_with("DE."), "{bare}");

    // Usernames are unique.
    sandbox.save_user(json!({"phone": SHEENA, "username": "sheena.n"})).await;
    let (status, body) =
        sandbox.control_post("/_sandbox/users", &json!({"phone": "16505550102", "username": "sheena.n"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    for (bad, says) in [
        (json!({"phone": SHEENA, "username": "Sheena"}), "a-z"),
        (json!({"phone": SHEENA, "username": "sn"}), "3 to 35"),
        (json!({"phone": SHEENA, "username": "x".repeat(36)}), "3 to 35"),
        (json!({"phone": SHEENA, "username": "sheena-n"}), "a-z"),
        (json!({"phone": "+16505550101"}), "digits"),
        (json!({"phone": "123"}), "digits"),
        (json!({"username": "sheena.n"}), "phone"),
        (json!({"phone": "15550000001"}), "business number"),
        (json!({"phone": SHEENA, "contact_book": "yes"}), "contact_book"),
        (json!({"phone": SHEENA, "nickname": "x"}), "unknown field"),
        (json!(["x"]), "object"),
    ] {
        let (status, body) = sandbox.control_post("/_sandbox/users", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{bad}: {message}");
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn bsuids_are_derived_from_the_portfolio_and_the_phone() {
    let first = TestSandbox::start(config(None)).await;
    let again = TestSandbox::start(config(None)).await;
    let other = TestSandbox::start(sandbox::Config { waba_id: "200000000000009".into(), ..config(None) }).await;
    let id = first.save_user(json!({"phone": SHEENA})).await["user_id"].clone();
    let restarted = again.save_user(json!({"phone": SHEENA})).await["user_id"].clone();
    let elsewhere = other.save_user(json!({"phone": SHEENA})).await["user_id"].clone();
    assert_eq!(restarted, id, "a restarted sandbox gives the same BSUID");
    assert_ne!(elsewhere, id, "another portfolio, another BSUID");
    let uk = first.save_user(json!({"phone": "442079460958"})).await["user_id"].clone();
    assert!(uk.as_str().unwrap().starts_with("GB."), "{uk}");
    for sandbox in [first, again, other] {
        sandbox.stop().await;
    }
}

#[tokio::test]
async fn phone_users_show_their_phone_beside_their_bsuid() {
    let (receiver, sandbox) = start().await;
    let phone = "16505550111";
    let post = writes(&receiver, &sandbox, phone, "hi").await;
    let user_id = sandbox.user_id(phone).await;
    let value = value(&post);
    assert_eq!(value["contacts"], json!([{"profile": {"name": "Sandbox User"}, "wa_id": phone, "user_id": user_id}]));
    let message = &value["messages"][0];
    assert_eq!((message["from"].as_str(), message["from_user_id"].as_str()), (Some(phone), Some(user_id.as_str())));
    assert!(message.get("from_parent_user_id").is_none());

    let wamid = sandbox.send_text(phone, "hello").await;
    for status in ["sent", "delivered", "read"] {
        let post = status_post(&receiver, &wamid, status).await;
        let value = self::value(&post);
        assert_eq!(value["contacts"], json!([{"wa_id": phone, "user_id": user_id}]), "{status}");
        let item = &value["statuses"][0];
        assert_eq!((item["recipient_id"].as_str(), item["recipient_user_id"].as_str()), (Some(phone), Some(&*user_id)));
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn a_username_users_phone_is_shared_for_30_days_after_a_send_to_it() {
    let (receiver, sandbox) = start().await;
    let user_id = sheena(&sandbox).await;

    // Unknown to the business: the BSUID and username, no phone anywhere.
    let post = writes(&receiver, &sandbox, SHEENA, "hi").await;
    assert_signed(&post);
    assert_no_phone(&post, SHEENA);
    let value = value(&post);
    assert_eq!(
        value["contacts"],
        json!([{"profile": {"name": SHEENA_NAME, "username": SHEENA_USERNAME}, "user_id": user_id}])
    );
    let message = &value["messages"][0];
    assert!(message.get("from").is_none(), "{message}");
    assert_eq!(message["from_user_id"], user_id.as_str());
    assert_eq!(message["text"]["body"], "hi");
    assert_same_shape(&post.json(), &fixture("bsuid-text-username-no-phone.json"), PARENTS, &[]);
    // The wamid names the chat by BSUID, not by phone.
    let wamid = sandbox::wamid::decode(message["id"].as_str().unwrap()).unwrap();
    assert_eq!(wamid.wa_id, user_id);

    // Writing does not reveal the phone: a second message is the same, and
    // the user may also write as their BSUID.
    let post = writes(&receiver, &sandbox, &user_id, "still me").await;
    assert_no_phone(&post, SHEENA);
    assert_eq!(sandbox.user(SHEENA).await["phone_shared"], false);

    // A send to her phone: from now on the number sees it.
    sandbox.send_text(SHEENA, "We have your number").await;
    assert_eq!(sandbox.user(SHEENA).await["phone_shared"], true);
    let post = writes(&receiver, &sandbox, SHEENA, "hello again").await;
    let value = self::value(&post);
    assert_eq!(value["contacts"][0]["wa_id"], SHEENA);
    assert_eq!(value["contacts"][0]["profile"]["username"], SHEENA_USERNAME);
    assert_eq!(value["messages"][0]["from"], SHEENA);
    assert_same_shape(&post.json(), &fixture("bsuid-text-with-phone.json"), &[], &[]);
    sandbox.stop().await;
}

#[tokio::test]
async fn the_phone_is_withheld_again_30_days_after_the_last_interaction_by_phone() {
    let (receiver, sandbox) = start().await;
    sheena(&sandbox).await;
    sandbox.send_text(SHEENA, "hi").await;
    sandbox.advance(json!({"days": 29})).await;
    let post = writes(&receiver, &sandbox, SHEENA, "day 29").await;
    assert_eq!(value_of_message(&post)["from"], SHEENA, "still shared on day 29");
    sandbox.advance(json!({"days": 29})).await;
    let post = writes(&receiver, &sandbox, SHEENA, "day 58").await;
    assert_eq!(value_of_message(&post)["from"], SHEENA, "her message on day 29, while shared, renewed it");
    // 31 days after her last message.
    sandbox.advance(json!({"days": 31})).await;
    assert_eq!(sandbox.user(SHEENA).await["phone_shared"], false);
    let post = writes(&receiver, &sandbox, SHEENA, "day 89").await;
    assert_no_phone(&post, SHEENA);
    sandbox.stop().await;
}

fn value_of_message(post: &Received) -> Value {
    value(post)["messages"][0].clone()
}

#[tokio::test]
async fn interactions_by_phone_are_per_business_number() {
    let receiver = Receiver::start(0).await;
    let sandbox =
        TestSandbox::start(sandbox::Config { webhook_batch_max: 1, ..two_numbers(Some(receiver.url.clone())) }).await;
    sheena(&sandbox).await;
    sandbox.send_from(PNID2, json!({"to": SHEENA, "text": {"body": "from the second number"}})).await;
    // `phone_shared` is about the first number.
    assert_eq!(sandbox.user(SHEENA).await["phone_shared"], false);
    for (pnid, shared) in [(PNID, false), (PNID2, true)] {
        let answer = sandbox.inbound(json!({"from": SHEENA, "phone_number_id": pnid, "text": {"body": "hi"}})).await;
        let post = receiver.message_post(answer["id"].as_str().unwrap()).await;
        assert_eq!(value_of_message(&post).get("from").is_some(), shared, "{pnid}");
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn sends_through_recipient_and_their_statuses() {
    let (receiver, sandbox) = start().await;
    let user_id = sheena(&sandbox).await;

    let (status, answer) = sandbox.send(json!({"recipient": user_id, "text": {"body": "Hi Sheena"}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["contacts"], json!([{"input": user_id, "user_id": user_id}]));
    let wamid = answer["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(sandbox::wamid::decode(&wamid).unwrap().wa_id, user_id, "the wamid does not carry the phone");

    // What the business sent, and whom it reached.
    let (_, sent) = sandbox.control_get(&format!("/_sandbox/sent?wamid={wamid}")).await;
    let record = &sent["data"][0];
    assert_eq!(record["payload"]["recipient"], user_id.as_str());
    assert_eq!(record["recipient"], user_id.as_str());
    assert_eq!(record["to"], Value::Null);
    assert_eq!((record["user_id"].as_str(), record["phone"].as_str()), (Some(user_id.as_str()), Some(SHEENA)));
    let (_, by_user) = sandbox.control_get(&format!("/_sandbox/sent?user_id={user_id}&phone={SHEENA}")).await;
    assert_eq!(by_user["data"].as_array().unwrap().len(), 1);

    // sent: the BSUID, no phone, no username yet.
    let post = status_post(&receiver, &wamid, "sent").await;
    assert_no_phone(&post, SHEENA);
    let value = value(&post);
    assert_eq!(value["contacts"], json!([{"user_id": user_id}]));
    let sent_status = &value["statuses"][0];
    assert!(sent_status.get("recipient_id").is_none(), "{sent_status}");
    assert_eq!(sent_status["recipient_user_id"], user_id.as_str());
    // delivered and read: the username joins the card.
    for status in ["delivered", "read"] {
        let post = status_post(&receiver, &wamid, status).await;
        assert_no_phone(&post, SHEENA);
        let value = self::value(&post);
        assert_eq!(value["contacts"], json!([{"profile": {"username": SHEENA_USERNAME}, "user_id": user_id}]));
        assert_eq!(value["statuses"][0]["recipient_user_id"], user_id.as_str());
        assert!(value["statuses"][0].get("recipient_id").is_none());
        if status == "delivered" {
            assert_same_shape(&post.json(), &fixture("bsuid-status-delivered-no-phone.json"), &[], &[]);
        }
    }
    // A send through `recipient` does not make the phone shareable.
    assert_eq!(sandbox.user(SHEENA).await["phone_shared"], false);

    // Once the phone is shareable, statuses of `recipient` sends show it.
    sandbox.save_user(json!({"phone": SHEENA, "contact_book": true})).await;
    let shared = sandbox.send_ok(json!({"recipient": user_id, "text": {"body": "again"}})).await;
    let value = self::value(&status_post(&receiver, &shared, "delivered").await);
    assert_eq!(value["statuses"][0]["recipient_id"], SHEENA);
    assert_eq!(value["contacts"][0]["wa_id"], SHEENA);

    // To her phone: the answer and the statuses carry the phone and the BSUID.
    let (status, answer) = sandbox.send(json!({"to": "+1 650 555 0101", "text": {"body": "by phone"}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["contacts"], json!([{"input": "+1 650 555 0101", "wa_id": SHEENA, "user_id": user_id}]));
    let by_phone = answer["messages"][0]["id"].as_str().unwrap().to_owned();
    let value = self::value(&status_post(&receiver, &by_phone, "read").await);
    assert_eq!(
        (value["statuses"][0]["recipient_id"].as_str(), value["statuses"][0]["recipient_user_id"].as_str()),
        (Some(SHEENA), Some(user_id.as_str()))
    );
    assert_eq!(
        value["contacts"],
        json!([{"profile": {"username": SHEENA_USERNAME}, "wa_id": SHEENA, "user_id": user_id}])
    );

    // With both, `to` wins.
    let (status, answer) =
        sandbox.send(json!({"to": "16505550199", "recipient": user_id, "text": {"body": "to wins"}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["contacts"][0]["wa_id"], "16505550199");
    let (_, sent) = sandbox.control_get("/_sandbox/sent?limit=1").await;
    assert_eq!(
        (sent["data"][0]["to"].as_str(), sent["data"][0]["recipient"].clone()),
        (Some("16505550199"), Value::Null)
    );
    assert_eq!(sent["data"][0]["phone"], "16505550199");

    // A reply of the user names the last message sent to her, whichever way.
    let last = sandbox
        .send_ok(json!({"recipient": user_id, "type": "interactive", "interactive": {
        "type": "button", "body": {"text": "OK?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}}))
        .await;
    let answer = sandbox
        .inbound(json!({"from": user_id, "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}}))
        .await;
    let post = receiver.message_post(answer["id"].as_str().unwrap()).await;
    assert_eq!(value_of_message(&post)["context"]["id"], last.as_str());
    sandbox.stop().await;
}

#[tokio::test]
async fn recipients_cloud_refuses() {
    let sandbox = TestSandbox::start(config(None)).await;
    let user_id = sheena(&sandbox).await;
    for (payload, says) in [
        (json!({"to": user_id, "text": {"body": "x"}}), "recipient"),
        (json!({"recipient": "US.12345678901234567890", "text": {"body": "x"}}), "not a WhatsApp user"),
        (json!({"recipient": SHEENA, "text": {"body": "x"}}), "not a business-scoped user ID"),
        (json!({"recipient": 42, "text": {"body": "x"}}), "recipient must be a string"),
        (json!({"text": {"body": "x"}}), "to is required"),
        // Parent BSUIDs only reach users of enrolled businesses.
        (json!({"recipient": "US.ENT.11815799212886844830", "text": {"body": "x"}}), "not a business-scoped"),
    ] {
        let (status, body) = sandbox.send(payload.clone()).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{payload}: {message}");
    }
    let (_, sent) = sandbox.control_get("/_sandbox/sent").await;
    assert_eq!(sent["data"], json!([]), "refused sends leave no trace");
    sandbox.stop().await;
}

#[tokio::test]
async fn failed_statuses_name_the_user_the_way_the_business_did() {
    let (receiver, sandbox) = start().await;
    sheena(&sandbox).await;
    sandbox.settings(json!({"rules": {"undeliverable": {"enabled": true, "patterns": [SHEENA]}}})).await;

    // Sent to the phone: the phone only, no card.
    let by_phone = sandbox.send_text(SHEENA, "x").await;
    let post = status_post(&receiver, &by_phone, "failed").await;
    let value = value(&post);
    assert!(value.get("contacts").is_none(), "{value}");
    let failed = &value["statuses"][0];
    assert_eq!(failed["recipient_id"], SHEENA);
    assert!(failed.get("recipient_user_id").is_none(), "{failed}");
    assert_eq!(failed["errors"][0]["code"], 131026);

    // Sent to the BSUID of a user whose phone is withheld: the BSUID only.
    let other = sandbox.save_user(json!({"phone": "16505550102", "username": "other.user"})).await;
    let other_id = other["user_id"].as_str().unwrap().to_owned();
    sandbox.settings(json!({"rules": {"undeliverable": {"patterns": ["16505550102"]}}})).await;
    let (status, answer) = sandbox.send(json!({"recipient": other_id, "text": {"body": "x"}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let by_bsuid = answer["messages"][0]["id"].as_str().unwrap().to_owned();
    let post = status_post(&receiver, &by_bsuid, "failed").await;
    assert_no_phone(&post, "16505550102");
    let value = self::value(&post);
    assert!(value.get("contacts").is_none(), "{value}");
    let failed = &value["statuses"][0];
    assert!(failed.get("recipient_id").is_none(), "{failed}");
    assert_eq!(failed["recipient_user_id"], other_id.as_str());

    // A late failure on demand follows the same rule.
    let (status, shown) = sandbox.control_post("/_sandbox/status", &json!({"id": by_phone, "status": "failed"})).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(shown.get("recipient_user_id").is_none() && shown["recipient_id"] == SHEENA, "{shown}");
    let (_, shown) = sandbox.control_post("/_sandbox/status", &json!({"id": by_bsuid, "status": "read"})).await;
    assert_eq!(shown["recipient_user_id"], other_id.as_str());
    assert!(shown.get("recipient_id").is_none(), "{shown}");
    sandbox.stop().await;
}

#[tokio::test]
async fn authentication_templates_cannot_go_to_a_bsuid() {
    let sandbox = TestSandbox::start(config(None)).await;
    let user_id = sheena(&sandbox).await;
    let otp = |target: Value| {
        let mut payload = json!({"type": "template", "template": {"name": "verification_code", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                           {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "123456"}]}]}});
        for (key, value) in target.as_object().unwrap() {
            payload[key] = value.clone();
        }
        payload
    };
    let (status, body) = sandbox.send(otp(json!({"recipient": user_id}))).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131062);
    assert_eq!(
        body["error"]["message"],
        "(#131062) Business-scoped User ID (BSUID) recipients are not supported for this message."
    );
    assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");

    // To the phone, or with `to` beside `recipient`, it goes.
    for target in [json!({"to": SHEENA}), json!({"to": SHEENA, "recipient": user_id})] {
        let (status, body) = sandbox.send(otp(target.clone())).await;
        assert_eq!(status, StatusCode::OK, "{target}: {body}");
    }
    // Other categories go to a BSUID.
    let (status, body) = sandbox
        .send(json!({"recipient": user_id, "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    sandbox.stop().await;
}

#[tokio::test]
async fn contact_requests_and_the_contact_book() {
    let (receiver, sandbox) = start().await;
    let user_id = sheena(&sandbox).await;

    // The business asks for the number; the request is validated.
    let ask = json!({"recipient": user_id, "type": "interactive", "interactive": {"type": "request_contact_info",
        "body": {"text": "May we have your number?"}, "action": {"name": "request_contact_info"}}});
    let (status, body) = sandbox.send(ask.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut no_body = ask.clone();
    no_body["interactive"].as_object_mut().unwrap().remove("body");
    let (status, body) = sandbox.send(no_body).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131008);
    let mut wrong = ask.clone();
    wrong["interactive"]["action"]["name"] = json!("send_location");
    let (status, body) = sandbox.send(wrong).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 131009);

    // She shares it: a `contacts` message from her BSUID, the phone in the card only.
    let (status, answer) = sandbox.control_post(&format!("/_sandbox/users/{user_id}/share_contact"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let post = receiver.message_post(answer["id"].as_str().unwrap()).await;
    assert_same_shape(&post.json(), &fixture("bsuid-contacts-contact-request.json"), &[], &[]);
    let value = value(&post);
    assert!(value["contacts"][0].get("wa_id").is_none());
    let message = &value["messages"][0];
    assert!(message.get("from").is_none(), "{message}");
    assert_eq!(message["from_user_id"], user_id.as_str());
    assert_eq!(
        message["contacts"],
        json!([{"name": {"formatted_name": SHEENA_NAME, "first_name": "Sheena"}, "origin": "contact_request",
                "phones": [{"phone": "+1 650-555-0101", "wa_id": SHEENA, "type": "MOBILE"}]}])
    );

    // She is in the contact book: the phone is shared from now on.
    let user = sandbox.user(SHEENA).await;
    assert_eq!((user["contact_book"].as_bool(), user["phone_shared"].as_bool()), (Some(true), Some(true)));

    // The business deletes her from the contact book: withheld again (no
    // message went by phone in between).
    let path = format!("{PNID}/contact_book?messaging_product=whatsapp&bsuid={user_id}");
    let (status, body) = sandbox.graph_delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true, "deleted": 1}));
    let (_, body) = sandbox.graph_delete(&path).await;
    assert_eq!(body, json!({"success": true, "deleted": 0}), "already deleted");
    assert_eq!(sandbox.user(SHEENA).await["phone_shared"], false);
    let post = writes(&receiver, &sandbox, SHEENA, "gone?").await;
    assert_no_phone(&post, SHEENA);

    // In the contact book (here through the control API), the phone stays
    // shared however long ago anything was exchanged.
    sandbox.save_user(json!({"phone": SHEENA, "contact_book": true})).await;
    sandbox.advance(json!({"days": 90})).await;
    let post = writes(&receiver, &sandbox, SHEENA, "hi").await;
    assert_eq!(value_of_message(&post)["from"], SHEENA);

    // The edge's own errors.
    for (path, code) in [
        (format!("{PNID}/contact_book?bsuid={user_id}"), 100),
        (format!("{PNID}/contact_book?messaging_product=whatsapp"), 100),
        (format!("{PNID}/contact_book?messaging_product=whatsapp&bsuid={SHEENA}"), 100),
        (format!("{WABA_ID}/contact_book?messaging_product=whatsapp&bsuid={user_id}"), 100),
    ] {
        let (status, body) = sandbox.graph_delete(&path).await;
        assert_graph_error(status, &body, StatusCode::BAD_REQUEST, code);
    }
    let (status, body) = sandbox.graph_get(&format!("{PNID}/contact_book")).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(body["error"]["error_subcode"], 33, "no list endpoint");

    let (status, _) = sandbox.control_post("/_sandbox/users/US.1/share_contact", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sandbox.stop().await;
}

#[tokio::test]
async fn number_changes_in_the_current_shape() {
    let (receiver, sandbox) = start().await;

    // A phone the business may see: `user_changed_number`, old phone in `from`.
    let old_id = sheena(&sandbox).await;
    sandbox.save_user(json!({"phone": SHEENA, "contact_book": true})).await;
    let (status, changed) = sandbox
        .control_post(&format!("/_sandbox/users/{SHEENA}/change_number"), &json!({"phone": "16505559876"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let new_id = changed["user_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(changed["previous_user_id"], old_id.as_str());
    assert_eq!((changed["phone"].as_str(), changed["username"].as_str()), (Some("16505559876"), Some(SHEENA_USERNAME)));
    assert_eq!(changed["contact_book"], true, "the contact book entry carries over");
    let post = message_from(&receiver, &new_id, "system").await;
    assert_same_shape(&post.json(), &fixture("bsuid-system-user-changed-number.json"), &[], &[]);
    let value = value(&post);
    assert!(value.get("contacts").is_none(), "system webhooks carry no contacts");
    let message = &value["messages"][0];
    assert_eq!(message["from"], SHEENA);
    assert_eq!(
        message["system"],
        json!({"body": format!("User {SHEENA_NAME} changed from {SHEENA} to 16505559876"), "wa_id": "16505559876",
               "type": "user_changed_number", "previous_user_id": old_id})
    );
    // The old BSUID and phone name nobody any more.
    let (status, _) = sandbox.control_get(&format!("/_sandbox/users/{old_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sandbox.user(&new_id).await["phone"], "16505559876");
    let (status, body) = sandbox.send(json!({"recipient": old_id, "text": {"body": "x"}})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    assert_eq!(sandbox.send(json!({"recipient": new_id, "text": {"body": "x"}})).await.0, StatusCode::OK);

    // A phone the business may not see: `user_changed_user_id`, no phone at all.
    let other = sandbox.save_user(json!({"phone": "16505550102", "username": "other.user", "name": "Other"})).await;
    let other_old = other["user_id"].as_str().unwrap().to_owned();
    let (status, changed) = sandbox
        .control_post(
            &format!("/_sandbox/users/{other_old}/change_number"),
            &json!({"phone": "16505550103", "shape": "current"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let other_new = changed["user_id"].as_str().unwrap().to_owned();
    let post = message_from(&receiver, &other_new, "system").await;
    assert_same_shape(&post.json(), &fixture("bsuid-system-user-changed-user-id.json"), &[], &[]);
    assert_no_phone(&post, "16505550102");
    assert_no_phone(&post, "16505550103");
    let message = value_of_message(&post);
    assert!(message.get("from").is_none(), "{message}");
    assert_eq!(
        message["system"],
        json!({"body": "User Other changed their phone number", "type": "user_changed_user_id", "previous_user_id": other_old})
    );

    // The control API's refusals.
    for (key, body, want) in [
        (other_new.as_str(), json!({"phone": "16505559876"}), StatusCode::CONFLICT),
        (other_new.as_str(), json!({"phone": "16505550103"}), StatusCode::BAD_REQUEST),
        (other_new.as_str(), json!({"phone": "12"}), StatusCode::BAD_REQUEST),
        (other_new.as_str(), json!({"phone": "16505550104", "shape": "july"}), StatusCode::BAD_REQUEST),
        (other_new.as_str(), json!({"phone": "16505550104", "phone_number_id": "42"}), StatusCode::BAD_REQUEST),
        ("16505550404", json!({"phone": "16505550104"}), StatusCode::NOT_FOUND),
    ] {
        let (status, answer) = sandbox.control_post(&format!("/_sandbox/users/{key}/change_number"), &body).await;
        assert_eq!(status, want, "{key} {body}: {answer}");
    }
    assert_eq!(sandbox.user(&other_new).await["phone"], "16505550103", "refusals change nothing");
    sandbox.stop().await;
}

#[tokio::test]
async fn number_changes_in_the_june_shape() {
    let (receiver, sandbox) = start().await;
    for (phone, new_phone, username, shared) in
        [("16505550201", "16505550202", Some("june.user"), false), ("16505550301", "16505550302", None, true)]
    {
        let old = sandbox.save_user(json!({"phone": phone, "username": username, "name": "June"})).await;
        let old_id = old["user_id"].as_str().unwrap().to_owned();
        let (status, changed) = sandbox
            .control_post(
                &format!("/_sandbox/users/{phone}/change_number"),
                &json!({"phone": new_phone, "shape": "june"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        let new_id = changed["user_id"].as_str().unwrap().to_owned();
        let post = message_from(&receiver, &new_id, "system").await;
        assert_signed(&post);
        // One notification, one entry: the system message, then `user_id_update`.
        let body = post.json();
        let changes = body["entry"][0]["changes"].as_array().unwrap();
        assert_eq!((body["entry"].as_array().unwrap().len(), changes.len()), (1, 2), "{body}");
        assert_eq!(changes[0]["field"], "messages");
        let message = &changes[0]["value"]["messages"][0];
        assert!(changes[0]["value"].get("contacts").is_none());
        assert!(message.get("from").is_none(), "{message}");
        assert_eq!(
            message["system"],
            json!({"body": format!("User June changed from {old_id} to {new_id}"), "type": "user_changed_user_id"})
        );
        assert_eq!(changes[1]["field"], "user_id_update");
        let mut expected = json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": PNID},
            "user_id": {"previous": old_id, "current": new_id}});
        if shared {
            expected["wa_id"] = json!(new_phone);
        } else {
            assert_no_phone(&post, new_phone);
            assert_no_phone(&post, phone);
        }
        assert_eq!(changes[1]["value"], expected, "shared: {shared}");
    }
    sandbox.stop().await;
}

/// The parent BSUID fields of the pywa and bsuid fixtures.
const PARENTS: &[&str] =
    &["entry.changes.value.contacts.parent_user_id", "entry.changes.value.messages.from_parent_user_id"];

#[tokio::test]
async fn parent_bsuids_appear_while_the_setting_is_on() {
    let (receiver, sandbox) = start().await;
    let user_id = sheena(&sandbox).await;
    assert_eq!(sandbox.settings(json!({})).await["parent_user_ids"], false, "off by default");
    let post = writes(&receiver, &sandbox, SHEENA, "hi").await;
    let raw = std::str::from_utf8(&post.body).unwrap();
    assert!(!raw.contains("parent"), "nothing says parent while off: {raw}");
    assert!(sandbox.user(SHEENA).await.get("parent_user_id").is_none());

    sandbox.settings(json!({"parent_user_ids": true})).await;
    let parent = sandbox.user(SHEENA).await["parent_user_id"].as_str().unwrap().to_owned();
    assert!(parent.starts_with("US.ENT."), "{parent}");
    let post = writes(&receiver, &sandbox, SHEENA, "with parents").await;
    // Exactly the fixture's shape now, parent fields included.
    assert_same_shape(&post.json(), &fixture("bsuid-text-username-no-phone.json"), &[], &[]);
    let value = value(&post);
    assert_eq!(value["contacts"][0]["parent_user_id"], parent.as_str());
    assert_eq!(value["messages"][0]["from_parent_user_id"], parent.as_str());

    // A send through the parent BSUID reaches her; the statuses name both.
    let (status, answer) = sandbox.send(json!({"recipient": parent, "text": {"body": "via parent"}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["contacts"], json!([{"input": parent, "user_id": user_id}]));
    let wamid = answer["messages"][0]["id"].as_str().unwrap().to_owned();
    let (_, sent) = sandbox.control_get(&format!("/_sandbox/sent?wamid={wamid}")).await;
    assert_eq!(
        (sent["data"][0]["recipient"].as_str(), sent["data"][0]["user_id"].as_str()),
        (Some(&*parent), Some(&*user_id))
    );
    let value = self::value(&status_post(&receiver, &wamid, "delivered").await);
    assert_eq!(value["statuses"][0]["recipient_parent_user_id"], parent.as_str());
    assert_eq!(value["contacts"][0]["parent_user_id"], parent.as_str());

    // A number change reports the previous parent too.
    let (_, changed) = sandbox
        .control_post(&format!("/_sandbox/users/{SHEENA}/change_number"), &json!({"phone": "16505559876"}))
        .await;
    assert_eq!(changed["previous_parent_user_id"], parent.as_str());
    let new_id = changed["user_id"].as_str().unwrap();
    let message = value_of_message(&message_from(&receiver, new_id, "system").await);
    assert_eq!(message["system"]["previous_parent_user_id"], parent.as_str());
    assert_eq!(message["from_parent_user_id"], changed["parent_user_id"]);

    // Off again: gone, and parent BSUIDs no longer reach anyone.
    sandbox.settings(json!({"parent_user_ids": false})).await;
    let (status, body) = sandbox.send(json!({"recipient": changed["parent_user_id"], "text": {"body": "x"}})).await;
    assert_graph_error(status, &body, StatusCode::BAD_REQUEST, 100);
    sandbox.stop().await;
}

#[tokio::test]
async fn inbound_from_an_unknown_bsuid_is_refused() {
    let sandbox = TestSandbox::start(config(None)).await;
    let (status, body) = sandbox
        .control_post("/_sandbox/inbound", &json!({"from": "US.12345678901234567890", "text": {"body": "x"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not the BSUID of a known user"), "{body}");
    // The older number-change injection would name a withheld phone.
    sheena(&sandbox).await;
    let (status, body) = sandbox
        .control_post(
            "/_sandbox/inbound",
            &json!({"from": SHEENA, "type": "system", "system": {"type": "user_changed_number", "new_wa_id": "16505559876"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("change_number"), "{body}");
    sandbox.stop().await;
}

#[tokio::test]
async fn reset_forgets_the_users() {
    let sandbox = TestSandbox::start(config(None)).await;
    sheena(&sandbox).await;
    let (status, _) = sandbox.control_post("/_sandbox/reset", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sandbox.control_get(&format!("/_sandbox/users/{SHEENA}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sandbox.stop().await;
}
