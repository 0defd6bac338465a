//! On-prem webhooks with the old client's guarantees, whatever Cloud does:
//! duplicates and late statuses (injected as signed Cloud POSTs) reach the
//! business once and never go backwards; batches are split; events for
//! other numbers are dropped; the status toggles hold; a private CA is
//! trusted once uploaded; a full backlog makes the API answer 1016. Also:
//! an inbound text reaches the business, the Cloud intake checks signatures
//! and answers the verification handshake, and failed deliveries are retried;
//! notifications are handled as they arrive, and one that cannot be waits
//! in the intake's queue.

use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use e2e::payloads::{notification, status, statuses, user_text};
use e2e::{APP_SECRET, Auth, Engine, Options, PHONE_NUMBER_ID, PrivateCa, Receiver, Stack, VERIFY_TOKEN};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

e2e::on_all_engines!(
    statuses_arrive_once_and_never_go_backwards,
    status_toggles_are_honoured,
    played_is_forwarded_only_when_asked,
    batches_are_split_and_foreign_numbers_dropped,
    a_private_ca_is_trusted_once_uploaded,
    a_full_backlog_answers_1016,
    a_server_down_for_a_while_gets_everything_in_order,
    every_inbound_fixture_reaches_the_business,
    delivery_results_are_counted,
    nothing_moves_until_drained,
    inbound_text_reaches_the_business,
    cloud_webhook_signature_and_handshake,
    failed_webhook_deliveries_are_retried,
    notifications_are_handled_on_arrival_and_a_failing_one_waits_for_the_intake,
);

const WAIT: Duration = Duration::from_secs(20);

/// Sends a text and returns (our id, Cloud's wamid).
async fn send_text(s: &Stack, token: &str, to: &str) -> (String, String) {
    let a =
        s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(json!({"to": to, "text": {"body": "x"}}))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["messages"][0]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(e) = s.cloud_received().await.into_iter().find(|e| e["payload"]["to"] == format!("+{to}")) {
            return (id, e["wamid"].as_str().unwrap().to_string());
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn statuses_for(r: &Receiver, id: &str) -> Vec<String> {
    r.received()
        .iter()
        .flat_map(|v| v["statuses"].as_array().cloned().unwrap_or_default())
        .filter(|st| st["id"] == id)
        .map(|st| st["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn statuses_arrive_once_and_never_go_backwards(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let to = "15556000001";
    let (id, wamid) = send_text(&s, &token, to).await;
    s.receiver.wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "read").await;

    // Cloud repeats itself and its stragglers arrive late: a second `read`,
    // a `delivered` after `read`, a `sent` after everything.
    let late = notification(vec![statuses(
        PHONE_NUMBER_ID,
        vec![status(&wamid, "read", to), status(&wamid, "delivered", to), status(&wamid, "sent", to)],
    )]);
    assert_eq!(s.cloud_posts(&late).await, 200);
    assert_eq!(s.cloud_posts(&late).await, 200);
    // A marker event behind them, on the same contact, proves they were handled.
    let marker = notification(vec![user_text(PHONE_NUMBER_ID, to, "wamid.MARKER", "after")]);
    assert_eq!(s.cloud_posts(&marker).await, 200);
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == "after").await;
    assert_eq!(statuses_for(&s.receiver, &id), ["delivered", "read"], "each once, in order");
    s.stop().await;
}

async fn status_toggles_are_honoured(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let toggles = json!({"webhooks": {"message": {"sent": true, "delivered": true, "read": false}}});
    assert_eq!(
        s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(toggles)).await.status,
        200
    );
    let to = "15556000002";
    let (id, _) = send_text(&s, &token, to).await;
    s.receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "delivered")
        .await;
    // `read` is off: once Cloud's `read` went through the stack, it was
    // not passed on.
    s.settled().await;
    assert_eq!(statuses_for(&s.receiver, &id), ["sent", "delivered"]);
    s.stop().await;
}

/// Cloud's `played` (a voice message listened to) never came from the old
/// client: it reaches the business only with `webhooks.message.played`.
async fn played_is_forwarded_only_when_asked(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let to = "15556000003";
    let (id, wamid) = send_text(&s, &token, to).await;
    s.receiver.wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "read").await;
    let played = |wamid: &str| notification(vec![statuses(PHONE_NUMBER_ID, vec![status(wamid, "played", to)])]);
    assert_eq!(s.cloud_posts(&played(&wamid)).await, 200);
    s.settled().await;
    assert_eq!(statuses_for(&s.receiver, &id), ["delivered", "read"], "played is off by default");

    let on = json!({"webhooks": {"message": {"played": true}}});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(on)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (id, wamid) = send_text(&s, &token, "15556000004").await;
    s.receiver.wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "read").await;
    assert_eq!(s.cloud_posts(&played(&wamid)).await, 200);
    s.receiver
        .wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "played")
        .await;
    s.stop().await;
}

async fn batches_are_split_and_foreign_numbers_dropped(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let mut errors = statuses(PHONE_NUMBER_ID, vec![]);
    errors["errors"] = json!([{"code": 131000, "title": "Something went wrong", "message": "Something went wrong",
                                "error_data": {"details": "Unsupported webhook payload"}}]);
    let batch = notification(vec![
        user_text(PHONE_NUMBER_ID, "15557000001", "wamid.B1", "first"),
        user_text("999999999999999", "15557000002", "wamid.B2", "not ours"),
        user_text(PHONE_NUMBER_ID, "15557000003", "wamid.B3", "third"),
        errors,
    ]);
    assert_eq!(s.cloud_posts(&batch).await, 200);
    s.receiver.wait_for(WAIT, |v| v.get("errors").is_some()).await;
    s.settled().await;
    let got = s.receiver.received();
    let bodies: Vec<&str> = got.iter().filter_map(|v| v["messages"][0]["text"]["body"].as_str()).collect();
    assert_eq!(bodies.len(), 2, "one on-prem event per message: {got:?}");
    assert!(bodies.contains(&"first") && bodies.contains(&"third") && !bodies.contains(&"not ours"));
    let error = got.iter().find(|v| v.get("errors").is_some()).unwrap();
    assert_eq!(error["errors"][0]["code"], 500);
    assert!(error.get("messages").is_none());
    s.stop().await;
}

async fn a_private_ca_is_trusted_once_uploaded(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let ca = PrivateCa::new();
    let secure = Receiver::start_tls(&ca).await;
    let patch = json!({"webhooks": {"url": secure.url()}, "callback_backoff_delay_ms": 200, "max_callback_backoff_delay_ms": 400});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch)).await.status, 200);

    let hello = notification(vec![user_text(PHONE_NUMBER_ID, "15558000001", "wamid.TLS1", "over tls")]);
    assert_eq!(s.cloud_posts(&hello).await, 200);
    s.wait_delivery_attempts(2).await;
    assert!(secure.received().is_empty(), "an unknown CA is not trusted");

    let url = format!("{}/v1/certificates/webhooks/ca", s.webs[0]);
    let upload = |ct: &'static str, body: String| {
        s.http.post(&url).bearer_auth(&token).header("content-type", ct).body(body).send()
    };
    let a = e2e::Answer::read(upload("application/json", ca.ca_pem.clone()).await.unwrap()).await;
    a.assert_error(400, 1009);
    e2e::Answer::read(upload("text/plain", String::new()).await.unwrap()).await.assert_error(400, 1008);
    e2e::Answer::read(upload("text/plain", "not a certificate".into()).await.unwrap()).await.assert_error(400, 1009);
    let ok = upload("text/plain", ca.ca_pem.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);

    let got = secure.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == "over tls").await;
    assert_eq!(got["contacts"][0]["wa_id"], "15558000001");
    let pem = s.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(pem.status(), 200);
    assert!(pem.headers()["content-disposition"].to_str().unwrap().contains("webhookCaCerts.pem"));
    assert_eq!(pem.text().await.unwrap(), ca.ca_pem);
    assert_eq!(s.http.delete(&url).bearer_auth(&token).send().await.unwrap().status(), 200);
    s.call(Method::GET, "/v1/certificates/webhooks/ca", Auth::Bearer(&token), None).await.assert_error(404, 1006);
    s.stop().await;
}

async fn a_full_backlog_answers_1016(engine: Engine) {
    let s = Stack::start_with(engine, Options { max_callback_backlog: 2, ..Options::default() }).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    s.receiver.fail_with(503);
    for i in 0..4 {
        let m = notification(vec![user_text(
            PHONE_NUMBER_ID,
            &format!("1555900000{i}"),
            &format!("wamid.BL{i}"),
            "queued",
        )]);
        assert_eq!(s.cloud_posts(&m).await, 200);
    }
    let send = || {
        s.call(
            Method::POST,
            "/v1/messages",
            Auth::Bearer(&token),
            Some(json!({"to": "15559100000", "text": {"body": "x"}})),
        )
    };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let a = send().await;
        if a.status == 503 {
            a.assert_error(503, 1016);
            break;
        }
        assert_eq!(a.status, 201);
        assert!(std::time::Instant::now() < deadline, "never refused with 1016");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Once the webhook server catches up, sends are accepted again.
    s.receiver.fail_with(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while send().await.status != 201 {
        assert!(std::time::Instant::now() < deadline, "sends never resumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.stop().await;
}

async fn a_server_down_for_a_while_gets_everything_in_order(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let fast = json!({"callback_backoff_delay_ms": "100", "max_callback_backoff_delay_ms": "300"});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(fast)).await.status, 200);
    s.receiver.fail_with(500);
    let users = ["15557100001", "15557100002", "15557100003"];
    for round in 0..4 {
        for (u, user) in users.iter().enumerate() {
            let m = notification(vec![user_text(
                PHONE_NUMBER_ID,
                user,
                &format!("wamid.D{u}-{round}"),
                &format!("{u}:{round}"),
            )]);
            assert_eq!(s.cloud_posts(&m).await, 200);
        }
    }
    // Each contact's first event is tried again and again (a failing one
    // holds back those after it), and nothing counts as delivered.
    s.receiver.wait_refused(2 * users.len(), WAIT).await;
    assert!(s.receiver.received().is_empty(), "{:?}", s.receiver.received());
    let tried: std::collections::BTreeSet<String> = s
        .receiver
        .refused()
        .iter()
        .filter_map(|v| v["messages"][0]["text"]["body"].as_str().map(String::from))
        .collect();
    assert!(tried.iter().all(|b| b.ends_with(":0")), "only first events are tried while failing: {tried:?}");
    s.receiver.fail_with(0);
    let deadline = std::time::Instant::now() + WAIT;
    while s.receiver.received().len() < 12 {
        assert!(std::time::Instant::now() < deadline, "only {} of 12 events arrived", s.receiver.received().len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = s.receiver.received();
    assert_eq!(got.len(), 12, "each event once: {got:?}");
    for u in 0..users.len() {
        let order: Vec<String> = got
            .iter()
            .filter_map(|v| v["messages"][0]["text"]["body"].as_str())
            .filter(|b| b.starts_with(&format!("{u}:")))
            .map(String::from)
            .collect();
        assert_eq!(order, (0..4).map(|r| format!("{u}:{r}")).collect::<Vec<_>>(), "contact {u} in order");
    }
    s.stop().await;
}

/// Every real inbound payload, signed and POSTed to the intake (addressed to
/// our number): the business gets one on-prem event per message, unwrapped,
/// with our ids and the on-prem type.
async fn every_inbound_fixture_reaches_the_business(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    // (fixture, on-prem type)
    let fixtures: &[(&str, &str)] = &[
        ("pywa-text.json", "text"),
        ("bindambc-text.json", "text"),
        ("pywa-text-reply-context.json", "text"),
        ("pywa-text-referral-ctwa.json", "text"),
        ("pywa-image.json", "image"),
        ("pywa-image-with-url.json", "image"),
        ("pywa-video-forwarded.json", "video"),
        ("pywa-document.json", "document"),
        ("pywa-audio-voice.json", "voice"),
        ("pywa-sticker-animated.json", "sticker"),
        ("pywa-location.json", "location"),
        ("pywa-contacts.json", "contacts"),
        ("pywa-interactive-button-reply.json", "interactive"),
        ("pywa-interactive-list-reply.json", "interactive"),
        ("pywa-interactive-nfm-reply.json", "interactive"),
        ("pywa-button-quick-reply.json", "button"),
        ("pywa-reaction.json", "reaction"),
        ("pywa-reaction-removed.json", "reaction"),
        ("pywa-order.json", "order"),
        ("pywa-system-user-changed-number.json", "system"),
        ("pywa-system-identity-changed.json", "system"),
        ("pywa-unsupported.json", "unknown"),
    ];
    let dir = format!("{}/../wire/tests/fixtures/cloud-webhooks", env!("CARGO_MANIFEST_DIR"));
    for (i, (name, want)) in fixtures.iter().enumerate() {
        let mut body: Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap()).unwrap();
        let value = &mut body["entry"][0]["changes"][0]["value"];
        value["metadata"]["phone_number_id"] = json!(PHONE_NUMBER_ID);
        // Unique wamids: several fixtures share theirs, and duplicates are dropped.
        value["messages"][0]["id"] = json!(format!("wamid.FIXTURE{i}"));
        let from = value["messages"][0]["from"].as_str().unwrap().to_string();
        let before = s.receiver.received().len();
        assert_eq!(s.cloud_posts(&body).await, 200, "{name}");
        let deadline = std::time::Instant::now() + WAIT;
        while s.receiver.received().len() == before {
            assert!(std::time::Instant::now() < deadline, "{name} never reached the business");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let event = s.receiver.received()[before].clone();
        assert!(event.get("entry").is_none() && event.get("object").is_none(), "{name}: unwrapped");
        let m = &event["messages"][0];
        assert_eq!(m["type"], *want, "{name}: {event}");
        assert_eq!(m["from"], from.as_str(), "{name}");
        assert!(!m["id"].as_str().unwrap().starts_with("wamid."), "{name}: our id");
        if let Some(media) = ["image", "video", "document", "voice", "sticker"].iter().find(|k| m.get(**k).is_some()) {
            let id = m[*media]["id"].as_str().unwrap();
            assert_eq!(id.len(), 36, "{name}: a UUID media id, not Cloud's ({id})");
        }
    }
    s.stop().await;
}

async fn delivery_results_are_counted(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let m = notification(vec![user_text(PHONE_NUMBER_ID, "15557200001", "wamid.COUNT1", "count me")]);
    assert_eq!(s.cloud_posts(&m).await, 200);
    s.receiver.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == "count me").await;
    let mut core = e2e::core_client(&s.cores[0]).await.unwrap();
    let (_, families) =
        proto::metrics::from_proto(core.stats(proto::core::Empty {}).await.unwrap().into_inner()).unwrap();
    let stats = families.to_json();
    let calls = families.get("callback_requests").unwrap();
    let delivered = calls.find(&[("result", "success"), ("type", "inbound_message")]);
    assert!(delivered.and_then(|v| v.as_number()).unwrap_or_default() >= 1.0, "{stats}");
    assert_eq!(families.get("callback_queue_size").unwrap().find(&[]).unwrap().as_number(), Some(0.0), "{stats}");
    let latency = families.get("callback_requests_duration_ms").unwrap().find(&[]).unwrap();
    assert!(latency.as_histogram().unwrap().count >= 1, "{stats}");
    s.stop().await;
}

/// With the workers stopped, an accepted message stays queued; one drain
/// sends it, carries Cloud's statuses through, and delivers exactly the
/// webhooks the settings ask for; a second drain finds nothing to do.
async fn nothing_moves_until_drained(engine: Engine) {
    let s = Stack::start_with(engine, Options { background_workers: false, ..Options::default() }).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let body = json!({"to": "15556000009", "text": {"body": "queued"}});
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(s.cloud_received().await.is_empty(), "nothing is sent while the workers are stopped");
    let done = s.drain().await;
    assert_eq!(done.sends, 1, "{done:?}");
    assert_eq!(s.cloud_received().await.len(), 1);
    assert_eq!(statuses_for(&s.receiver, &id), ["delivered", "read"], "`sent` is off by default");
    assert_eq!(s.receiver.received().len(), 2, "{:?}", s.receiver.received());
    assert_eq!(s.drain().await, coreapp::engine::Drained::default(), "nothing left");
    s.stop().await;
}

async fn inbound_text_reaches_the_business(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let inbound = json!({"from": "15557654321", "name": "Kerry Fisher", "type": "text", "text": {"body": "hi there"}});
    let r = s.http.post(format!("{}/_sandbox/inbound", s.sandbox)).json(&inbound).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let event = s.receiver.wait_for(WAIT, |v| v.get("messages").is_some()).await;
    assert_eq!(event["contacts"], json!([{"profile": {"name": "Kerry Fisher"}, "wa_id": "15557654321"}]));
    let m = &event["messages"][0];
    assert_eq!((m["from"].as_str(), m["type"].as_str()), (Some("15557654321"), Some("text")));
    assert_eq!(m["text"]["body"], "hi there");
    let id = m["id"].as_str().unwrap();
    assert!(!id.starts_with("wamid."), "our own id, not Cloud's: {id}");
    assert!(m["timestamp"].is_string());
    s.stop().await;
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn cloud_webhook_signature_and_handshake(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let url = format!("{}/cloud/webhooks", s.webs[0]);

    let ok = s
        .http
        .get(&url)
        .query(&[("hub.mode", "subscribe"), ("hub.challenge", "1158201444"), ("hub.verify_token", VERIFY_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = s
        .http
        .get(&url)
        .query(&[("hub.mode", "subscribe"), ("hub.challenge", "1"), ("hub.verify_token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);

    // A real Cloud payload, addressed to our business number.
    let fixture = include_str!("fixtures/inbound-text.json");
    let ours = fixture.replace("1122334455667", e2e::PHONE_NUMBER_ID).into_bytes();
    let post = |body: Vec<u8>, sig: Option<String>| {
        let mut req = s.http.post(&url).header("content-type", "application/json").body(body);
        if let Some(sig) = sig {
            req = req.header("X-Hub-Signature-256", sig);
        }
        req.send()
    };
    assert_eq!(post(ours.clone(), None).await.unwrap().status(), 401);
    assert_eq!(post(ours.clone(), Some("sha256=00ff".into())).await.unwrap().status(), 401);
    let mut forged = sign(&ours);
    forged.replace_range(forged.len() - 2.., "00");
    assert_eq!(post(ours.clone(), Some(forged)).await.unwrap().status(), 401);
    // Signed, but for a number that is not ours: accepted, logged, dropped.
    let foreign = fixture.as_bytes().to_vec();
    assert_eq!(post(foreign.clone(), Some(sign(&foreign))).await.unwrap().status(), 200);
    s.settled().await;
    assert!(s.receiver.received().is_empty(), "nothing delivered from forged or foreign webhooks");

    // Signed over the raw bytes: accepted and delivered, once even if Cloud retries.
    assert_eq!(post(ours.clone(), Some(sign(&ours))).await.unwrap().status(), 200);
    assert_eq!(post(ours.clone(), Some(sign(&ours))).await.unwrap().status(), 200);
    let event = s.receiver.wait_for(WAIT, |v| v.get("messages").is_some()).await;
    assert_eq!(event["messages"][0]["text"]["body"], "Body Text");
    s.settled().await;
    assert_eq!(s.receiver.received().len(), 1, "the duplicate is dropped");
    s.stop().await;
}

async fn failed_webhook_deliveries_are_retried(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let fast = json!({"callback_backoff_delay_ms": "200", "max_callback_backoff_delay_ms": "400"});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&admin), Some(fast)).await.status, 200);
    s.receiver.fail_with(503);
    let a = s
        .call(
            Method::POST,
            "/v1/messages",
            Auth::Bearer(&admin),
            Some(json!({"to": "15551234567", "text": {"body": "x"}})),
        )
        .await;
    assert_eq!(a.status, 201);
    let id = a.body["messages"][0]["id"].as_str().unwrap().to_string();
    // While the business's server fails, deliveries are tried again and
    // again and nothing counts as delivered; once it is back, both
    // statuses arrive, in order.
    s.receiver.wait_refused(3, WAIT).await;
    assert!(s.receiver.received().is_empty(), "{:?}", s.receiver.received());
    assert!(s.receiver.refused().iter().all(|v| v["statuses"][0]["id"] == id), "{:?}", s.receiver.refused());
    s.receiver.fail_with(0);
    s.receiver.wait_for(WAIT, |v| v["statuses"][0]["status"] == "read" && v["statuses"][0]["id"] == id).await;
    let order: Vec<String> = s
        .receiver
        .received()
        .iter()
        .map(|v| v["statuses"][0]["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(order, ["delivered", "read"], "in order, each once");
    s.stop().await;
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A notification is handled in the transaction that answers Cloud: none
/// waits in the intake's queue. One whose handling fails there (here a
/// database trigger refuses its on-prem event) still gets Cloud its 200:
/// it is stored for the intake, which tries it again until it goes
/// through, and the notifications after it are not held back.
async fn notifications_are_handled_on_arrival_and_a_failing_one_waits_for_the_intake(engine: Engine) {
    let s = Stack::start_with(engine, Options { lease: Duration::from_secs(2), ..Options::default() }).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let db = s.db().await;
    let waiting = || {
        let db = db.clone();
        async move {
            let sql = "SELECT COUNT(*) AS n FROM inbound_events";
            db.run(move |c| Ok(diesel::sql_query(sql).load::<Count>(c)?)).await.unwrap()[0].n
        }
    };
    let ddl = |sql: &'static str| {
        let db = db.clone();
        async move { db.run(move |c| Ok(c.batch_execute(sql)?)).await.unwrap() }
    };
    let user_writes =
        |from: &str, wamid: &str, body: &str| notification(vec![user_text(PHONE_NUMBER_ID, from, wamid, body)]);
    let delivered = |body: &'static str| move |v: &Value| v["messages"][0]["text"]["body"] == body;

    // While nothing can be stored in the intake's queue, a notification
    // still goes through.
    ddl(match engine {
        Engine::Mysql => {
            "CREATE TRIGGER refuse_storing BEFORE INSERT ON inbound_events FOR EACH ROW \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'"
        }
        Engine::Pgsql => {
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
             CREATE TRIGGER refuse_storing BEFORE INSERT ON inbound_events FOR EACH ROW EXECUTE FUNCTION refuse()"
        }
        Engine::Sqlite => {
            "CREATE TRIGGER refuse_storing BEFORE INSERT ON inbound_events BEGIN SELECT RAISE(ABORT, 'refused'); END"
        }
    })
    .await;
    assert_eq!(s.cloud_posts(&user_writes("15557100001", "wamid.A1", "before")).await, 200);
    s.receiver.wait_for(WAIT, delivered("before")).await;
    ddl(match engine {
        Engine::Pgsql => "DROP TRIGGER refuse_storing ON inbound_events",
        _ => "DROP TRIGGER refuse_storing",
    })
    .await;

    ddl(match engine {
        Engine::Mysql => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON webhook_outbox FOR EACH ROW \
             BEGIN IF NEW.payload LIKE '%poison%' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END"
        }
        Engine::Pgsql => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON webhook_outbox FOR EACH ROW \
             WHEN (NEW.payload LIKE '%poison%') EXECUTE FUNCTION refuse()"
        }
        Engine::Sqlite => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON webhook_outbox WHEN NEW.payload LIKE '%poison%' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END"
        }
    })
    .await;
    assert_eq!(s.cloud_posts(&user_writes("15557100002", "wamid.P1", "poison")).await, 200);
    assert_eq!(waiting().await, 1, "the notification that failed is stored for the intake");
    assert_eq!(s.cloud_posts(&user_writes("15557100003", "wamid.A2", "after")).await, 200);
    s.receiver.wait_for(WAIT, delivered("after")).await;
    assert!(!s.receiver.received().iter().any(delivered("poison")));

    ddl(match engine {
        Engine::Pgsql => "DROP TRIGGER refuse_poison ON webhook_outbox",
        _ => "DROP TRIGGER refuse_poison",
    })
    .await;
    s.receiver.wait_for(WAIT, delivered("poison")).await;
    s.settled().await;
    assert_eq!(waiting().await, 0, "the intake finished it");
    let got = s.receiver.received();
    for body in ["before", "poison", "after"] {
        assert_eq!(got.iter().filter(|v| delivered(body)(v)).count(), 1, "{body} once: {got:?}");
    }
    s.stop().await;
}
