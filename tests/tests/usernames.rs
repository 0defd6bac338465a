//! Users without phone numbers (README, "Users without phone numbers"): the
//! sandbox plays today's Cloud, which names every user by a business-scoped
//! user ID (BSUID) and withholds the phone of users with a username. The
//! business keeps seeing what the old client showed: digits in `from`,
//! `wa_id` and `recipient_id`, replies addressed to them reach the user, and
//! a user who becomes known by another identifier is announced with the old
//! client's `user_changed_number` event, exactly once. Once per engine.

use std::time::Duration;

use e2e::{Auth, Engine, Stack};
use reqwest::Method;
use serde_json::{Value, json};

e2e::on_all_engines!(
    a_username_user_is_known_by_a_stand_in_until_they_share_their_number,
    number_and_bsuid_changes_each_give_one_event,
    the_raw_bsuid_setting_names_users_by_their_bsuid,
    an_authentication_template_to_a_bsuid_user_is_refused_at_once,
    a_user_whose_phone_is_known_sees_no_change,
    a_phone_cloud_shares_again_is_one_change_and_then_kept,
);

const WAIT: Duration = Duration::from_secs(20);

/// POSTs to the sandbox's control API and returns its answer.
async fn sandbox(s: &Stack, path: &str, body: Value) -> Value {
    let r = s.http.post(format!("{}{path}", s.sandbox)).json(&body).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "sandbox {path} answered {status}: {v}");
    v
}

/// A WhatsApp user with a username; Cloud withholds their phone.
async fn username_user(s: &Stack, phone: &str, username: &str) -> String {
    let user =
        sandbox(s, "/_sandbox/users", json!({"phone": phone, "username": username, "name": "Sheena Nelson"})).await;
    assert_eq!(user["phone_shared"], false, "{user}");
    user["user_id"].as_str().expect("a BSUID").to_string()
}

fn is_standin(id: &str) -> bool {
    id.len() == 15 && id.starts_with("280") && id.bytes().all(|b| b.is_ascii_digit())
}

async fn send(s: &Stack, token: &str, body: Value) -> String {
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(body.clone())).await;
    assert_eq!(a.status, 201, "{body} -> {}", a.body);
    a.body["messages"][0]["id"].as_str().unwrap().to_string()
}

/// The user's message with this text body, as the business got it.
async fn message_with(s: &Stack, body: &str) -> Value {
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == body).await
}

/// The business's `user_changed_number` events, in order.
fn changes(s: &Stack) -> Vec<(String, String)> {
    s.receiver
        .received()
        .iter()
        .filter(|v| v["messages"][0]["system"]["type"] == "user_changed_number")
        .map(|v| {
            let m = &v["messages"][0];
            (
                m["from"].as_str().unwrap_or_default().to_string(),
                m["system"]["new_wa_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// What Cloud received for the business's message whose body is `text`.
async fn cloud_got(s: &Stack, text: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(e) = s.cloud_received().await.into_iter().find(|e| e["payload"]["text"]["body"] == text) {
            return e;
        }
        assert!(tokio::time::Instant::now() < deadline, "Cloud never received {text:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_username_user_is_known_by_a_stand_in_until_they_share_their_number(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let bsuid = username_user(&s, "15550107001", "sheena.n").await;

    // The user writes first: the business gets digits it can store, never
    // a phone number, with the user's name.
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "hi there"}})).await;
    let first = message_with(&s, "hi there").await;
    let standin = first["messages"][0]["from"].as_str().unwrap().to_string();
    assert!(is_standin(&standin), "a stand-in identifier: {first}");
    assert_eq!(first["contacts"][0]["wa_id"], standin.as_str());
    assert_eq!(first["contacts"][0]["profile"], json!({"name": "Sheena Nelson"}));
    assert!(first["contacts"][0].get("user_id").is_none(), "no extra fields unless asked: {first}");
    assert!(first["messages"][0].get("from_user_id").is_none(), "{first}");

    // A reply to the stand-in reaches the user through `recipient`, and its
    // statuses name the stand-in.
    let reply = send(&s, &token, json!({"to": standin, "text": {"body": "hello Sheena"}})).await;
    let got = cloud_got(&s, "hello Sheena").await;
    assert_eq!(got["payload"]["recipient"], bsuid.as_str(), "{got}");
    assert!(got["payload"].get("to").is_none(), "{got}");
    assert_eq!(got["user_id"], bsuid.as_str());
    let read = s
        .receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == reply.as_str() && v["statuses"][0]["status"] == "read")
        .await;
    assert_eq!(read["statuses"][0]["recipient_id"], standin.as_str(), "{read}");

    // Contacts: the stand-in and the BSUID are valid, a stand-in never
    // given out is not, and sending to it is refused at once.
    let unknown = "280999999999998";
    let check = json!({"blocking": "wait", "contacts": [standin, bsuid, unknown]});
    let a = s.call(Method::POST, "/v1/contacts", Auth::Bearer(&token), Some(check)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["contacts"],
        json!([{"input": standin, "status": "valid", "wa_id": standin},
               {"input": bsuid, "status": "valid", "wa_id": standin},
               {"input": unknown, "status": "invalid"}])
    );
    let a = s
        .call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(json!({"to": unknown, "text": {"body": "?"}})))
        .await;
    a.assert_error(404, 1006);

    // The business asks for the number, as Cloud defines the request.
    let ask = json!({"to": standin, "type": "interactive", "interactive": {"type": "request_contact_info",
        "body": {"text": "May we have your number?"}}});
    send(&s, &token, ask).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let asked = loop {
        let found = s.cloud_received().await.into_iter().find(|e| e["payload"]["type"] == "interactive");
        if let Some(e) = found {
            break e;
        }
        assert!(tokio::time::Instant::now() < deadline, "the request never reached Cloud");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(
        asked["payload"]["interactive"],
        json!({"type": "request_contact_info", "body": {"text": "May we have your number?"},
               "action": {"name": "request_contact_info"}})
    );
    assert_eq!(asked["payload"]["recipient"], bsuid.as_str());

    // The user shares it: the share comes as the old `contacts` message
    // from the stand-in, then the change from the stand-in to the phone.
    sandbox(&s, &format!("/_sandbox/users/{bsuid}/share_contact"), json!({})).await;
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["system"]["type"] == "user_changed_number").await;
    let got = s.receiver.received();
    let share = got.iter().position(|v| v["messages"][0]["type"] == "contacts").expect("the share");
    let change = got.iter().position(|v| v["messages"][0]["type"] == "system").unwrap();
    assert!(share < change, "the share, then the change: {got:?}");
    assert_eq!(got[share]["messages"][0]["from"], standin.as_str());
    assert_eq!(got[share]["messages"][0]["contacts"][0]["phones"][0]["wa_id"], "15550107001");
    assert_eq!(
        got[change]["messages"][0]["system"]["body"],
        format!("User Sheena Nelson changed from {standin} to 15550107001")
    );

    // From now on the user is their phone number, and sends go to it, even
    // those addressed to the stand-in.
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "after sharing"}})).await;
    let later = message_with(&s, "after sharing").await;
    assert_eq!(later["messages"][0]["from"], "15550107001", "{later}");
    assert_eq!(later["contacts"][0]["wa_id"], "15550107001");
    send(&s, &token, json!({"to": standin, "text": {"body": "by phone now"}})).await;
    let got = cloud_got(&s, "by phone now").await;
    assert_eq!(got["payload"]["to"], "+15550107001", "{got}");
    assert!(got["payload"].get("recipient").is_none(), "{got}");
    assert_eq!(changes(&s), [(standin.clone(), "15550107001".to_string())], "exactly one change");
    s.stop().await;
}

async fn number_and_bsuid_changes_each_give_one_event(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;

    // A user without a username changes number: the new number is shared.
    s.user_sends(json!({"from": "15550108001", "type": "text", "text": {"body": "old number"}})).await;
    assert_eq!(message_with(&s, "old number").await["messages"][0]["from"], "15550108001");
    let moved = sandbox(&s, "/_sandbox/users/15550108001/change_number", json!({"phone": "15550108002"})).await;
    let new_bsuid = moved["user_id"].as_str().unwrap().to_string();
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["system"]["new_wa_id"] == "15550108002").await;
    s.user_sends(json!({"from": "15550108002", "type": "text", "text": {"body": "new number"}})).await;
    assert_eq!(message_with(&s, "new number").await["messages"][0]["from"], "15550108002");
    assert_eq!(changes(&s), [("15550108001".to_string(), "15550108002".to_string())]);
    assert_ne!(moved["previous_user_id"], new_bsuid.as_str());

    // A username user known by a stand-in gets a new BSUID (in the older
    // June 2026 shape: a system message and a user_id_update change): one
    // event, to a new stand-in, and the old one still reaches them.
    let bsuid = username_user(&s, "15550108101", "lee.k").await;
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "before the change"}})).await;
    let before = message_with(&s, "before the change").await["messages"][0]["from"].as_str().unwrap().to_string();
    assert!(is_standin(&before));
    let moved = sandbox(
        &s,
        &format!("/_sandbox/users/{bsuid}/change_number"),
        json!({"phone": "15550108102", "shape": "june"}),
    )
    .await;
    let new_bsuid = moved["user_id"].as_str().unwrap().to_string();
    assert_ne!(new_bsuid, bsuid);
    s.receiver
        .wait_for(WAIT, |v| v["messages"][0]["from"] == before.as_str() && v["messages"][0]["type"] == "system")
        .await;
    s.user_sends(json!({"from": new_bsuid, "type": "text", "text": {"body": "after the change"}})).await;
    let after = message_with(&s, "after the change").await["messages"][0]["from"].as_str().unwrap().to_string();
    assert!(is_standin(&after) && after != before, "a new stand-in: {after}");
    // Once nothing is under way, a duplicate event would have arrived.
    s.settled().await;
    let all = changes(&s);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], (before.clone(), after.clone()));
    send(&s, &token, json!({"to": before, "text": {"body": "to the old stand-in"}})).await;
    assert_eq!(cloud_got(&s, "to the old stand-in").await["payload"]["recipient"], new_bsuid.as_str());
    s.stop().await;
}

async fn the_raw_bsuid_setting_names_users_by_their_bsuid(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let patch = json!({"identity": {"identifier": "bsuid", "user_fields": true}});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&token), None).await;
    assert_eq!(a.body["settings"]["application"]["identity"], json!({"identifier": "bsuid", "user_fields": true}));

    let bsuid = username_user(&s, "15550109001", "raw.user").await;
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "raw hello"}})).await;
    let got = message_with(&s, "raw hello").await;
    assert_eq!(got["messages"][0]["from"], bsuid.as_str(), "{got}");
    assert_eq!(got["contacts"][0]["wa_id"], bsuid.as_str());
    assert_eq!(got["contacts"][0]["user_id"], bsuid.as_str());
    assert_eq!(got["contacts"][0]["username"], "raw.user");

    let reply = send(&s, &token, json!({"to": bsuid, "text": {"body": "raw reply"}})).await;
    assert_eq!(cloud_got(&s, "raw reply").await["payload"]["recipient"], bsuid.as_str());
    let delivered = s
        .receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == reply.as_str() && v["statuses"][0]["status"] == "delivered")
        .await;
    assert_eq!(delivered["statuses"][0]["recipient_id"], bsuid.as_str());
    s.stop().await;
}

async fn an_authentication_template_to_a_bsuid_user_is_refused_at_once(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let bsuid = username_user(&s, "15550110001", "otp.user").await;
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "send me a code"}})).await;
    let standin = message_with(&s, "send me a code").await["messages"][0]["from"].as_str().unwrap().to_string();

    let otp = json!({"to": standin, "type": "template", "template": {"namespace": "ns", "name": "verification_code",
        "language": {"code": "en_US", "policy": "deterministic"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "123456"}]}]}});
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(otp)).await;
    a.assert_error(400, 1009);
    let details = a.body["errors"][0]["details"].as_str().unwrap_or_default();
    assert!(details.contains("131062"), "Cloud's reason is kept: {}", a.body);
    // Nothing else about the user changed: a text still goes.
    send(&s, &token, json!({"to": standin, "text": {"body": "a text is fine"}})).await;
    assert_eq!(cloud_got(&s, "a text is fine").await["payload"]["recipient"], bsuid.as_str());
    s.stop().await;
}

async fn a_user_whose_phone_is_known_sees_no_change(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    s.user_sends(json!({"from": "15550111001", "name": "Pat", "type": "text", "text": {"body": "plain user"}})).await;
    let got = message_with(&s, "plain user").await;
    assert_eq!(got["messages"][0]["from"], "15550111001");
    assert_eq!(got["contacts"], json!([{"wa_id": "15550111001", "profile": {"name": "Pat"}}]));
    assert!(got["messages"][0].get("from_user_id").is_none(), "{got}");

    let id = send(&s, &token, json!({"to": "+1 555-011-1001", "text": {"body": "plain reply"}})).await;
    let cloud = cloud_got(&s, "plain reply").await;
    assert_eq!(cloud["payload"]["to"], "+15550111001");
    assert!(cloud["payload"].get("recipient").is_none());
    let read = s
        .receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "read")
        .await;
    let status = &read["statuses"][0];
    assert_eq!(status["recipient_id"], "15550111001");
    assert!(status.get("recipient_user_id").is_none() && status.get("contacts").is_none(), "{read}");
    assert!(changes(&s).is_empty());
    s.stop().await;
}

async fn a_phone_cloud_shares_again_is_one_change_and_then_kept(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let bsuid = username_user(&s, "15550112001", "book.user").await;
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "not in the book"}})).await;
    let standin = message_with(&s, "not in the book").await["messages"][0]["from"].as_str().unwrap().to_string();
    assert!(is_standin(&standin));

    // The user enters the contact book: Cloud shares the phone again, and
    // the business hears of it before the message that carries it.
    let user = sandbox(&s, "/_sandbox/users", json!({"phone": "15550112001", "contact_book": true})).await;
    assert_eq!(user["phone_shared"], true, "{user}");
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "in the book"}})).await;
    let got = message_with(&s, "in the book").await;
    assert_eq!(got["messages"][0]["from"], "15550112001");
    assert_eq!(changes(&s), [(standin.clone(), "15550112001".to_string())]);
    let all = s.receiver.received();
    let change = all.iter().position(|v| v["messages"][0]["type"] == "system").unwrap();
    let message = all.iter().position(|v| v["messages"][0]["text"]["body"] == "in the book").unwrap();
    assert!(change < message, "the change, then the message: {all:?}");

    // Cloud withholds it again (out of the book): the user keeps the phone.
    let r = s
        .http
        .delete(format!("{}/v24.0/{}/contact_book", s.sandbox, e2e::PHONE_NUMBER_ID))
        .query(&[("messaging_product", "whatsapp"), ("bsuid", bsuid.as_str())])
        .bearer_auth(sandbox::Config::default().access_token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    s.advance_cloud_clock(json!({"days": 31})).await;
    let user: Value =
        s.http.get(format!("{}/_sandbox/users/{bsuid}", s.sandbox)).send().await.unwrap().json().await.unwrap();
    assert_eq!(user["phone_shared"], false, "{user}");
    s.user_sends(json!({"from": bsuid, "type": "text", "text": {"body": "withheld again"}})).await;
    assert_eq!(message_with(&s, "withheld again").await["messages"][0]["from"], "15550112001");
    assert_eq!(changes(&s).len(), 1);
    s.stop().await;
}
