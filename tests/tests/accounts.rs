//! Accounts end to end, through the webapp like a legacy client: the first
//! login and its forced password change, users and their roles, a logout
//! revoking the token on every webapp, and the limit on failed logins.
//! Once per engine.

use std::time::Duration;

use e2e::{ADMIN_PASSWORD, Auth, Engine, Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};

e2e::on_all_engines!(
    first_login_and_password_change,
    users_and_roles,
    logout_revokes_on_every_webapp,
    failed_logins_are_rate_limited,
);

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
