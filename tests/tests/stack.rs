//! End to end, like a legacy client: every test drives the real webapp over
//! HTTPS, with the real coreapp behind it and the sandbox as Cloud, once on
//! MariaDB and once on SQLite.

use std::time::Duration;

use e2e::{ADMIN_PASSWORD, API_KEY, APP_SECRET, Auth, Engine, Options, Stack, VERIFY_TOKEN};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

e2e::on_both_engines!(
    first_login_and_password_change,
    users_and_roles,
    settings_round_trip,
    health_with_api_key_and_without_auth,
    text_send_reaches_delivered_and_read,
    inbound_text_reaches_the_business,
    cloud_webhook_signature_and_handshake,
    bad_inputs_get_their_codes,
    logout_revokes_on_every_webapp,
    restart_keeps_users_settings_and_certificate,
    failed_logins_are_rate_limited,
    plain_http_when_tls_is_off,
    every_coreapp_and_webapp_shares_settings_and_certificate,
    health_reports_a_rejected_cloud_token,
    failed_webhook_deliveries_are_retried,
);

const WAIT: Duration = Duration::from_secs(20);

async fn first_login_and_password_change(engine: Engine) {
    let s = Stack::start(engine).await;
    let login = |user: &'static str, pass: &'static str, body: Option<Value>| {
        let s = &s;
        async move { s.login(user, pass, body).await }
    };
    login("admin", "secret", None).await.assert_error(401, 1024);
    login("admin", "secret", Some(json!({"new_password": "weak"}))).await.assert_error(400, 1009);
    login("admin", "wrong", Some(json!({"new_password": ADMIN_PASSWORD}))).await.assert_error(401, 1005);

    let a = login("admin", "secret", Some(json!({"new_password": ADMIN_PASSWORD}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let expires = a.body.pointer("/users/0/expires_after").and_then(Value::as_str).unwrap();
    // The old client's form: `YYYY-MM-DD HH:MM:SS+00:00`.
    let parsed = chrono::DateTime::parse_from_str(expires, "%Y-%m-%d %H:%M:%S%:z")
        .unwrap_or_else(|e| panic!("expires_after {expires}: {e}"));
    assert_eq!(parsed.offset().local_minus_utc(), 0, "{expires} is in UTC");
    let days = (parsed.timestamp() - chrono::Utc::now().timestamp()) as f64 / 86400.0;
    assert!((6.99..=7.01).contains(&days), "expires_after {expires} is not 7 days ahead");
    assert_eq!(a.token().split('.').count(), 3, "a JWT");

    login("admin", "secret", None).await.assert_error(401, 1005);
    let again = login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    // The token works.
    let h = s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&again.token()), None).await;
    assert_eq!(h.status, 200, "{}", h.body);
    s.stop().await;
}

async fn users_and_roles(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    let create = |body: Value| {
        let (s, admin) = (&s, admin.clone());
        async move { s.call(Method::POST, "/v1/users", Auth::Bearer(&admin), Some(body)).await }
    };
    let a = create(json!({"username": "ops-user", "password": "Us3r#pass"})).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["users"], json!([{"username": "ops-user"}]));
    create(json!({"username": "ops-user", "password": "Us3r#pass"})).await.assert_error(500, 1014);
    create(json!({"username": "other", "password": "short"})).await.assert_error(400, 1009);
    create(json!({"username": "no", "password": "Us3r#pass"})).await.assert_error(400, 1009);
    create(json!({"password": "Us3r#pass"})).await.assert_error(400, 1008);

    let user = s.login("ops-user", "Us3r#pass", None).await;
    assert_eq!(user.status, 200, "{}", user.body);
    let user = user.token();

    let me = s.call(Method::GET, "/v1/users/ops-user", Auth::Bearer(&user), None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["users"], json!([{"ROLES": "ROLE_USER", "username": "ops-user"}]));
    s.call(Method::GET, "/v1/users/admin", Auth::Bearer(&user), None).await.assert_error(403, 1005);
    s.call(Method::POST, "/v1/users", Auth::Bearer(&user), Some(json!({"username": "x1234", "password": "Us3r#pass"})))
        .await
        .assert_error(403, 1005);
    s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&user), None).await.assert_error(403, 1005);
    s.call(Method::DELETE, "/v1/users/ops-user", Auth::Bearer(&user), None).await.assert_error(403, 1005);

    let put =
        s.call(Method::PUT, "/v1/users/ops-user", Auth::Bearer(&user), Some(json!({"password": "N3w#password"}))).await;
    assert_eq!(put.status, 200, "{}", put.body);
    s.login("ops-user", "Us3r#pass", None).await.assert_error(401, 1005);
    let relog = s.login("ops-user", "N3w#password", None).await;
    assert_eq!(relog.status, 200);

    let admin_view = s.call(Method::GET, "/v1/users/ops-user", Auth::Bearer(&admin), None).await;
    assert_eq!(admin_view.status, 200);
    s.call(Method::GET, "/v1/users/nobody", Auth::Bearer(&admin), None).await.assert_error(404, 1006);
    s.call(Method::DELETE, "/v1/users/admin", Auth::Bearer(&admin), None).await.assert_error(400, 1009);
    let del = s.call(Method::DELETE, "/v1/users/ops-user", Auth::Bearer(&admin), None).await;
    assert_eq!(del.status, 200, "{}", del.body);
    // Deleting a user revokes its tokens.
    s.call(Method::GET, "/v1/users/ops-user", Auth::Bearer(&user), None).await.assert_error(401, 1005);
    s.call(Method::DELETE, "/v1/users/ops-user", Auth::Bearer(&admin), None).await.assert_error(404, 1006);
    s.stop().await;
}

async fn settings_round_trip(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    let get = || async { s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&admin), None).await };
    let defaults = get().await;
    assert_eq!(defaults.status, 200);
    let app = &defaults.body["settings"]["application"];
    assert_eq!(app["callback_backoff_delay_ms"], 3000);
    assert_eq!(app["max_callback_backoff_delay_ms"], 900000);
    assert_eq!(app["callback_persist"], true);
    assert_eq!(app["sent_status"], false);
    assert_eq!(app["webhooks"]["max_concurrent_requests"], 6);

    let patch = json!({
        "callback_backoff_delay_ms": "4000",
        "max_callback_backoff_delay_ms": "60000",
        "sent_status": true,
        "webhooks": {"url": "https://hooks.example.com/wa", "max_concurrent_requests": 12},
        "media": {"auto_download": ["image", "voice"]},
        "on_call_pager": "+15550000000",
        "tcp_listen_address": "any",
    });
    let p = s.call(Method::PATCH, "/v1/settings/application/", Auth::Bearer(&admin), Some(patch)).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let app = get().await.body["settings"]["application"].clone();
    assert_eq!(app["callback_backoff_delay_ms"], 4000);
    assert_eq!(app["max_callback_backoff_delay_ms"], 60000);
    assert_eq!(app["sent_status"], true);
    assert_eq!(app["webhooks"]["url"], "https://hooks.example.com/wa");
    assert_eq!(app["webhooks"]["max_concurrent_requests"], 12);
    assert_eq!(app["media"]["auto_download"], json!(["image", "voice"]));
    assert!(app.get("on_call_pager").is_none());

    for bad in [
        json!({"sent_status": "true"}),
        json!({"callback_backoff_delay_ms": "soon"}),
        json!({"webhooks": {"max_concurrent_requests": 7}}),
        json!({"no_such_setting": 1}),
    ] {
        s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&admin), Some(bad))
            .await
            .assert_error(400, 1009);
    }
    assert_eq!(get().await.body["settings"]["application"], app, "a refused PATCH changes nothing");

    let d = s.call(Method::DELETE, "/v1/settings/application", Auth::Bearer(&admin), None).await;
    assert_eq!(d.status, 200);
    assert_eq!(get().await.body["settings"]["application"], defaults.body["settings"]["application"]);
    s.stop().await;
}

async fn health_with_api_key_and_without_auth(engine: Engine) {
    let s = Stack::start(engine).await;
    s.call(Method::GET, "/v1/health", Auth::None, None).await.assert_error(401, 1005);
    s.call(Method::GET, "/v1/health", Auth::ApiKey("not-the-key-at-all"), None).await.assert_error(401, 1005);
    // The Cloud probe runs every 500 ms here; until its first answer the
    // gateway is "connecting".
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let a = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["health"]["gateway_status"] == "connected" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never connected: {}", a.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = s.admin_token().await;
    let a = s.call(Method::GET, "/v1/health/", Auth::Bearer(&admin), None).await;
    assert_eq!(a.body["health"], json!({"gateway_status": "connected"}));
    // The API key opens health only.
    s.call(Method::GET, "/v1/settings/application", Auth::ApiKey(API_KEY), None).await.assert_error(403, 1005);
    s.call(
        Method::POST,
        "/v1/messages",
        Auth::ApiKey(API_KEY),
        Some(json!({"to": "15551234567", "text": {"body": "x"}})),
    )
    .await
    .assert_error(403, 1005);
    s.stop().await;
}

async fn text_send_reaches_delivered_and_read(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let body = json!({"to": "+1 555 123 4567", "type": "text", "recipient_type": "individual",
                      "preview_url": true, "text": {"body": "Hello / wörld 👋"}});
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&admin), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body.pointer("/messages/0/id").and_then(Value::as_str).unwrap().to_string();
    assert!((27..=32).contains(&id.len()), "compact id: {id}");

    for status in ["delivered", "read"] {
        let event = s
            .receiver
            .wait_for(WAIT, |v| v.pointer("/statuses/0/status") == Some(&json!(status)) && v["statuses"][0]["id"] == id)
            .await;
        assert!(event.get("object").is_none() && event.get("entry").is_none(), "no Cloud wrapper: {event}");
        assert_eq!(event["statuses"][0]["recipient_id"], "15551234567");
    }
    // `sent` is off by default.
    assert!(!s.receiver.received().iter().any(|v| v.pointer("/statuses/0/status") == Some(&json!("sent"))));

    let sent: Value = s.http.get(format!("{}/_sandbox/sent", s.sandbox)).send().await.unwrap().json().await.unwrap();
    let cloud = sent["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["payload"]["type"] == "text")
        .expect("Cloud got the message");
    assert_eq!(
        cloud["payload"],
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+15551234567",
               "type": "text", "text": {"body": "Hello / wörld 👋", "preview_url": true}})
    );
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

async fn bad_inputs_get_their_codes(engine: Engine) {
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    let msg = |body: &str| {
        let (s, admin) = (&s, admin.clone());
        let body = body.to_string();
        async move {
            let r = s
                .http
                .post(format!("{}/v1/messages", s.webs[0]))
                .bearer_auth(admin)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            e2e::Answer::read(r).await
        }
    };
    msg("{not json").await.assert_error(400, 1025);
    msg(r#"{"type":"text","text":{"body":"x"}}"#).await.assert_error(400, 1008);
    msg(r#"{"to":"15551234567","text":{"body":"x"},"preview_url":"yes"}"#).await.assert_error(400, 1009);
    msg(r#"{"to":"15551234567","type":"carrier-pigeon","text":{"body":"x"}}"#).await.assert_error(400, 1009);
    msg(r#"{"to":"15551234567","text":{"body":"x"},"image":{"id":"1"}}"#).await.assert_error(400, 1010);
    msg(&json!({"to": "15551234567", "text": {"body": "x".repeat(4097)}}).to_string()).await.assert_error(400, 1001);
    msg(r#"{"to":"15551234567"}"#).await.assert_error(400, 1008);

    s.call(Method::GET, "/v1/no/such/thing", Auth::Bearer(&admin), None).await.assert_error(404, 1006);
    s.call(Method::GET, "/v1/messages", Auth::Bearer(&admin), None).await.assert_error(404, 1006);
    s.call(Method::POST, "/v1/messages", Auth::None, Some(json!({}))).await.assert_error(401, 1005);
    s.call(Method::POST, "/v1/messages", Auth::Bearer("not.a.token"), Some(json!({}))).await.assert_error(401, 1005);

    // Legacy header spellings, a trailing slash, and request ids.
    let r = s
        .http
        .post(format!("{}/v1/messages/", s.webs[0]))
        .header("AUTHORIZATION", format!("Bearer {admin}"))
        .header("CONTENT_TYPE", "application/json")
        .header("X-Request-ID", "legacy-42")
        .body(r#"{"to":"15551234567","text":{"body":"hello"}}"#)
        .send()
        .await
        .unwrap();
    let a = e2e::Answer::read(r).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.headers["x-request-id"], "legacy-42");
    let generated = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
    let rid = generated.headers["x-request-id"].to_str().unwrap();
    assert!(rid.len() == 32 && rid.chars().all(|c| c.is_ascii_hexdigit()), "{rid}");
    // A GET with a JSON content type and an empty body is fine.
    let r = s
        .http
        .get(format!("{}/v1/settings/application", s.webs[0]))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

async fn logout_revokes_on_every_webapp(engine: Engine) {
    let s = Stack::start_with(engine, Options { webapps: 2, ..Options::default() }).await;
    let admin = s.admin_token().await;
    let other = s.login("admin", ADMIN_PASSWORD, None).await.token();
    let on = |web: usize, token: String| {
        let s = &s;
        async move { s.call_on(web, Method::GET, "/v1/settings/application", Auth::Bearer(&token), None).await.status }
    };
    assert_eq!(on(1, admin.clone()).await, 200, "a token works on every webapp");
    let out = s.call_on(0, Method::POST, "/v1/users/logout", Auth::Bearer(&admin), None).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(on(0, admin.clone()).await, 401, "revoked at once where it was logged out");
    let started = std::time::Instant::now();
    s.wait_until(Duration::from_secs(5), || on(1, admin.clone()).then(|s| async move { s == 401 }))
        .await
        .expect("revoked on the other webapp within 5 s");
    eprintln!("revocation reached the second webapp after {:?}", started.elapsed());
    assert_eq!(on(1, other.clone()).await, 200, "other tokens of the same user stay valid");
    s.call_on(1, Method::POST, "/v1/users/logout", Auth::Bearer(&admin), None).await.assert_error(401, 1005);
    s.stop().await;
}

trait Then: std::future::Future + Sized {
    fn then<F, Fut>(self, f: F) -> impl std::future::Future<Output = Fut::Output>
    where
        F: FnOnce(Self::Output) -> Fut,
        Fut: std::future::Future,
    {
        async move { f(self.await).await }
    }
}
impl<T: std::future::Future> Then for T {}

async fn restart_keeps_users_settings_and_certificate(engine: Engine) {
    let mut s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    let a = s
        .call(
            Method::POST,
            "/v1/users",
            Auth::Bearer(&admin),
            Some(json!({"username": "keeper", "password": "K33p#pass"})),
        )
        .await;
    assert_eq!(a.status, 201);
    let patch = json!({"callback_backoff_delay_ms": 1234, "webhooks": {"url": "https://hooks.example.com/x"}});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&admin), Some(patch)).await.status, 200);
    let cert_before = s.call(Method::GET, "/", Auth::None, None).await.peer_certificate.expect("TLS certificate");

    s.restart().await;

    let cert_after = s.call(Method::GET, "/", Auth::None, None).await.peer_certificate.unwrap();
    assert_eq!(cert_before, cert_after, "the same certificate after a restart");
    let user = s.login("keeper", "K33p#pass", None).await;
    assert_eq!(user.status, 200, "{}", user.body);
    // The admin password change survived too, and so did the old token's key.
    let relogin = s.login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(relogin.status, 200);
    let app = s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&admin), None).await;
    assert_eq!(app.status, 200, "tokens outlive a restart: {}", app.body);
    assert_eq!(app.body["settings"]["application"]["callback_backoff_delay_ms"], 1234);
    assert_eq!(app.body["settings"]["application"]["webhooks"]["url"], "https://hooks.example.com/x");
    s.stop().await;
}

async fn failed_logins_are_rate_limited(engine: Engine) {
    let s = Stack::start_with(engine, Options { login_failures_per_hour: 3, ..Options::default() }).await;
    for _ in 0..3 {
        s.login("admin", "nope", None).await.assert_error(401, 1005);
    }
    s.login("admin", "nope", None).await.assert_error(429, 1015);
    // Even right credentials wait for the window to pass.
    s.login("admin", "secret", None).await.assert_error(429, 1015);
    s.stop().await;
}

async fn plain_http_when_tls_is_off(engine: Engine) {
    let s = Stack::start_with(engine, Options { tls: false, ..Options::default() }).await;
    assert!(s.webs[0].starts_with("http://"));
    let a = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.peer_certificate.is_none());
    s.stop().await;
}

async fn every_coreapp_and_webapp_shares_settings_and_certificate(engine: Engine) {
    let s = Stack::start_with(engine, Options { webapps: 2, coreapps: 2, ..Options::default() }).await;
    // Webapp 0 talks to coreapp 0, webapp 1 to coreapp 1.
    let admin = s.admin_token().await;
    let patch = json!({"callback_backoff_delay_ms": "2500", "webhooks": {"message": {"sent": true}}});
    let p = s.call_on(0, Method::PATCH, "/v1/settings/application", Auth::Bearer(&admin), Some(patch)).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let other = s.call_on(1, Method::GET, "/v1/settings/application", Auth::Bearer(&admin), None).await;
    assert_eq!(other.status, 200, "a token from one webapp works on the other: {}", other.body);
    let app = &other.body["settings"]["application"];
    assert_eq!(app["callback_backoff_delay_ms"], 2500);
    assert_eq!(app["webhooks"]["message"]["sent"], true);
    let c0 = s.call_on(0, Method::GET, "/", Auth::None, None).await.peer_certificate.unwrap();
    let c1 = s.call_on(1, Method::GET, "/", Auth::None, None).await.peer_certificate.unwrap();
    assert_eq!(c0, c1, "every webapp serves the same certificate");
    s.stop().await;
}

async fn health_reports_a_rejected_cloud_token(engine: Engine) {
    let s = Stack::start_with(engine, Options { cloud_token: "revoked-token".into(), ..Options::default() }).await;
    let deadline = std::time::Instant::now() + WAIT;
    let health = loop {
        let a = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["health"]["gateway_status"] != "connecting" {
            break a.body["health"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "the Cloud probe never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["gateway_status"], "unregistered", "{health}");
    assert_eq!(health["errors"][0]["code"], 1005, "{health}");
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
