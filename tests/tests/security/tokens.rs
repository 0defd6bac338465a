//! Finding 6 and the login limit of finding 1: revoked tokens stayed
//! revoked only until their expiry (then came back for the leeway), a
//! password change left old tokens working, a token with a huge `exp`
//! overflowed, a token of a user that does not exist was accepted, and
//! failed logins were counted per webapp.

use std::time::Duration;

use e2e::{Auth, Engine, Options, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

e2e::on_all_engines!(
    failed_logins_count_across_webapps_and_coreapps,
    a_revoked_token_stays_revoked_past_its_expiry,
    a_password_change_ends_older_tokens,
    tokens_need_a_user_and_carry_its_current_role,
);

/// A token signed with the stack's own key (read from its database, as an
/// attacker who had stolen it would), with the given claims.
async fn forge(s: &Stack, claims: Value) -> String {
    let key = coreapp::api::accounts::jwt_key(&s.db().await).await.unwrap();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&key)).unwrap()
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// What a webapp answers a request any signed-in user may make.
async fn status_with(s: &Stack, web: usize, token: &str) -> StatusCode {
    s.call_on(web, Method::GET, "/v1/health", Auth::Bearer(token), None).await.status
}

async fn failed_logins_count_across_webapps_and_coreapps(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let options = Options { webapps: 2, coreapps: 2, login_failures_per_hour: 4, ..Options::default() };
    let s = Stack::start_with(engine, options).await;
    // Two failures through each webapp (each talks to its own coreapp).
    for web in [0, 1, 0, 1] {
        let a = s.call_on(web, Method::POST, "/v1/users/login", Auth::Basic("admin", "Wrong#pass1"), None).await;
        a.assert_error(401, 1005);
    }
    // The limit is shared: the next attempt is refused on either webapp,
    // even with the right password (which would otherwise be asked to
    // change: 401/1024).
    for web in [0, 1] {
        let right = Auth::Basic("admin", "secret");
        s.call_on(web, Method::POST, "/v1/users/login", right, None).await.assert_error(429, 1015);
    }
    s.stop().await;
}

async fn a_revoked_token_stays_revoked_past_its_expiry(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    s.admin_token().await;
    // A genuine-looking token that expires in two seconds: after that it is
    // still accepted for the clock leeway, so its revocation must outlive it.
    let now = now_s();
    // Issued after the admin's password change (which revoked older ones).
    let iat_ms = chrono::Utc::now().timestamp_millis() + 1;
    let token = forge(
        &s,
        json!({"user": "admin", "role": "ROLE_ADMIN", "jti": "short-lived", "iat": now, "exp": now + 2,
               "iat_ms": iat_ms}),
    )
    .await;
    assert_eq!(status_with(&s, 0, &token).await, StatusCode::OK);
    let a = s.call(Method::POST, "/v1/users/logout", Auth::Bearer(&token), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Past the expiry, and past a revocation poll of the webapp.
    let after = tokio::time::Instant::now() + Duration::from_secs(4);
    tokio::time::sleep_until(after).await;
    let polled = s
        .wait_until(Duration::from_secs(10), || async {
            // Another token issued after the logout is fine; this one never is.
            status_with(&s, 0, &token).await == StatusCode::UNAUTHORIZED
        })
        .await;
    assert!(polled.is_ok(), "a revoked token came back after its expiry");
    // And it stays refused over several polls (each second).
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(status_with(&s, 0, &token).await, StatusCode::UNAUTHORIZED);
    }
    s.stop().await;
}

async fn a_password_change_ends_older_tokens(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start_with(engine, Options { webapps: 2, ..Options::default() }).await;
    let admin = s.admin_token().await;
    let user = json!({"username": "operator", "password": "Operator-pass1"});
    let a = s.call(Method::POST, "/v1/users", Auth::Bearer(&admin), Some(user)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let old = s.login("operator", "Operator-pass1", None).await.token();
    assert_eq!(status_with(&s, 1, &old).await, StatusCode::OK);

    // The user changes its password: its older token ends on every webapp.
    let change = json!({"password": "Operator-pass2"});
    let a = s.call(Method::PUT, "/v1/users/operator", Auth::Bearer(&old), Some(change)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(status_with(&s, 0, &old).await, StatusCode::UNAUTHORIZED);
    let elsewhere =
        s.wait_until(Duration::from_secs(10), || async { status_with(&s, 1, &old).await == StatusCode::UNAUTHORIZED });
    elsewhere.await.expect("the other webapp refuses the old token too");
    let new = s.login("operator", "Operator-pass2", None).await.token();
    assert_eq!(status_with(&s, 0, &new).await, StatusCode::OK);
    assert_eq!(status_with(&s, 1, &new).await, StatusCode::OK);

    // A login that sets a new password: older tokens end, the new one works
    // at once, even within the same millisecond.
    let body = json!({"new_password": "Operator-pass3"});
    let renewed = s.login("operator", "Operator-pass2", Some(body)).await.token();
    assert_eq!(status_with(&s, 0, &new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&s, 0, &renewed).await, StatusCode::OK);
    s.stop().await;
}

async fn tokens_need_a_user_and_carry_its_current_role(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start_with(engine, Options { webapps: 2, ..Options::default() }).await;
    let admin = s.admin_token().await;
    let now = now_s();
    let claims = |user: &str, role: &str, exp: i64| {
        json!({"user": user, "role": role, "jti": format!("forged-{user}-{exp}"), "iat": now, "exp": exp,
               "iat_ms": now * 1000})
    };

    // A well-signed token of a user that never existed.
    let ghost = forge(&s, claims("ghost", "ROLE_ADMIN", now + 3600)).await;
    let a = s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&ghost), None).await;
    a.assert_error(401, 1005);

    // A user's token claiming more than the user is: the user's role counts.
    let viewer = json!({"username": "viewer1", "password": "Viewer-pass1"});
    let a = s.call(Method::POST, "/v1/users", Auth::Bearer(&admin), Some(viewer)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let promoted = forge(&s, claims("viewer1", "ROLE_ADMIN", now + 3600)).await;
    s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&promoted), None).await.assert_error(403, 1005);

    // A user created through one webapp can use its token on the other at
    // once (the other asks the coreapps about a user it has not seen yet).
    let fresh = json!({"username": "fresh01", "password": "Fresh-pass1"});
    let a = s.call_on(0, Method::POST, "/v1/users", Auth::Bearer(&admin), Some(fresh)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let token = s.call_on(0, Method::POST, "/v1/users/login", Auth::Basic("fresh01", "Fresh-pass1"), None).await;
    let a = s.call_on(1, Method::GET, "/v1/users/fresh01", Auth::Bearer(&token.token()), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // Deleted: its token is refused.
    let a = s.call(Method::DELETE, "/v1/users/viewer1", Auth::Bearer(&admin), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let viewer_token = forge(&s, claims("viewer1", "ROLE_USER", now + 3600)).await;
    s.call(Method::GET, "/v1/users/viewer1", Auth::Bearer(&viewer_token), None).await.assert_error(401, 1005);

    // Times that overflow, or a lifetime we never issue: refused, answered.
    for exp in [i64::MAX, now + 30 * 24 * 3600] {
        let token = forge(&s, claims("admin", "ROLE_ADMIN", exp)).await;
        s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&token), None).await.assert_error(401, 1005);
    }
    let token = forge(
        &s,
        json!({"user": "admin", "role": "ROLE_ADMIN", "jti": "x", "iat": i64::MIN,
                                 "exp": now + 60, "iat_ms": i64::MIN}),
    )
    .await;
    s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&token), None).await.assert_error(401, 1005);
    s.stop().await;
}
