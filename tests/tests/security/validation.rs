//! Findings 7 and 9: a backoff that overflowed into a retry storm, and
//! junk that was accepted (a PEM that is no certificate as the webhook CA,
//! a one-letter backup password, user names differing only by case).

use e2e::{Auth, Engine, Stack};
use reqwest::{Method, StatusCode};
use serde_json::json;

e2e::on_all_engines!(
    settings_beyond_their_range_are_refused,
    only_certificates_become_the_webhook_ca,
    backups_need_a_strong_password,
    user_names_are_unique_regardless_of_case,
);

async fn settings_beyond_their_range_are_refused(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    // The value as found: it wrapped the retry delay negative.
    for patch in [
        json!({"callback_backoff_delay_ms": "9223372036854775808"}),
        json!({"max_callback_backoff_delay_ms": 18_446_744_073_709_551_615u64}),
        json!({"heartbeat_interval": 4_294_967_296u64}),
    ] {
        let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(patch.clone())).await;
        a.assert_error(400, 1009);
    }
    let a = s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&token), None).await;
    let settings = &a.body["settings"]["application"];
    assert_eq!(settings["callback_backoff_delay_ms"], 3000, "{}", a.body);
    assert_eq!(settings["max_callback_backoff_delay_ms"], 900_000, "{}", a.body);
    // The largest values allowed are taken.
    let top = json!({"callback_backoff_delay_ms": "3600000", "max_callback_backoff_delay_ms": 86_400_000});
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(top)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    s.stop().await;
}

async fn only_certificates_become_the_webhook_ca(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let post = |pem: String| {
        let token = token.clone();
        let s = &s;
        async move {
            let r = s
                .raw_on(
                    0,
                    Method::POST,
                    "/v1/certificates/webhooks/ca",
                    Auth::Bearer(&token),
                    Some("text/plain"),
                    pem.into(),
                )
                .await;
            e2e::Answer::read(r).await
        }
    };
    let ca = rcgen::generate_simple_self_signed(vec!["hooks.example".into()]).unwrap();
    let junk = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n";
    for bad in [junk.to_string(), format!("{}{}", ca.cert.pem(), ca.signing_key.serialize_pem())] {
        post(bad).await.assert_error(400, 1009);
        let a = s.call(Method::GET, "/v1/certificates/webhooks/ca", Auth::Bearer(&token), None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "nothing was stored: {}", a.body);
    }
    let a = post(ca.cert.pem()).await;
    assert!(a.status.is_success(), "{}", a.body);
    s.stop().await;
}

async fn backups_need_a_strong_password(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    for weak in ["a", "password", "Password1", "short#1A"] {
        let body = json!({"password": weak});
        let a = s.call(Method::POST, "/v1/settings/backup", Auth::Bearer(&token), Some(body)).await;
        if weak == "short#1A" {
            // Eight characters with every class: the rules are met.
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        } else {
            a.assert_error(400, 1009);
        }
    }
    s.stop().await;
}

async fn user_names_are_unique_regardless_of_case(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let create = |name: &str| json!({"username": name, "password": "Viewer-pass1"});
    let a = s.call(Method::POST, "/v1/users", Auth::Bearer(&token), Some(create("Viewer1"))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    for look_alike in ["viewer1", "VIEWER1", "ADMIN", "Admin"] {
        let a = s.call(Method::POST, "/v1/users", Auth::Bearer(&token), Some(create(look_alike))).await;
        a.assert_error(400, 1009);
    }
    // The names themselves stay as created, and exact.
    let a = s.call(Method::GET, "/v1/users/Viewer1", Auth::Bearer(&token), None).await;
    assert_eq!(a.body["users"][0]["username"], "Viewer1", "{}", a.body);
    s.stop().await;
}
