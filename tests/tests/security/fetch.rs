//! Outbound fetches and secrets in errors: a media provider's credentials
//! go only to hosts it allows and never to loopback unless the coreapp
//! allows it; Cloud's token goes only to Cloud's hosts, and a file whose
//! sha256 cannot be read is not taken; webhook URL secrets stay out of
//! stored errors and `/v1/support`, whose host-level errors only admins see.
//!
//! Each test points links at a capture server and asserts, once the
//! message or download has reached its end, that nothing reached it.

use std::time::Duration;

use base64::Engine as _;
use coreapp::config::LinkConfig;
use e2e::{Auth, Capture, Engine, Options, PHONE_NUMBER_ID, Stack, files};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

e2e::on_all_engines!(
    provider_credentials_go_only_to_hosts_the_provider_allows,
    loopback_needs_an_explicit_allowance_even_for_a_listed_host,
    cloud_token_goes_only_to_cloud_hosts,
    an_unreadable_sha256_fails_the_download,
    url_secrets_stay_out_of_stored_errors_and_support,
    host_level_errors_are_for_admins_only,
);

const WAIT: Duration = Duration::from_secs(20);
const PROVIDERS: &str = "/v1/settings/application/media/providers";
const USER: (&str, &str) = ("ops-user", "Us3r#pass");

/// A USER's session token (the account is made on first use).
async fn user_token(s: &Stack, admin: &str) -> String {
    let body = json!({"username": USER.0, "password": USER.1});
    let a = s.call(Method::POST, "/v1/users", Auth::Bearer(admin), Some(body)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = s.login(USER.0, USER.1, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.token()
}

async fn add_provider(s: &Stack, admin: &str, provider: Value) {
    let a = s.call(Method::POST, PROVIDERS, Auth::Bearer(admin), Some(json!([provider]))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

async fn send(s: &Stack, token: &str, body: Value) -> String {
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(body)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body.pointer("/messages/0/id").and_then(Value::as_str).unwrap().to_string()
}

/// Waits for the `failed` status of message `id`; returns its error.
async fn failure_of(s: &Stack, id: &str) -> Value {
    let hook =
        s.receiver.wait_for(WAIT, |v| v["statuses"][0]["id"] == id && v["statuses"][0]["status"] == "failed").await;
    hook["statuses"][0]["errors"][0].clone()
}

async fn patch_settings(s: &Stack, admin: &str, patch: Value) {
    let a = s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(admin), Some(patch)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

// === provider credentials ===

async fn provider_credentials_go_only_to_hosts_the_provider_allows(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    // Loopback is allowed, so only the host lists decide; the coreapp lists
    // no hosts for providers without their own.
    let links = LinkConfig { provider_hosts: Vec::new(), ..e2e::loopback_links() };
    let s = Stack::start_with(engine, Options { links, ..Options::default() }).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let user = user_token(&s, &admin).await;
    let png = files::png(32, 32, 41);
    let capture = Capture::start("image/png", png.clone()).await;
    let link = capture.url("127.0.0.1", "/internal/report.png");

    let basic = json!({"basic": {"username": "corp", "password": "s3cret-corp"}});
    add_provider(&s, &admin, json!({"name": "corp", "type": "www", "config": basic})).await;
    let hosts = json!(["files.example.com", "*.cdn.example.com"]);
    add_provider(&s, &admin, json!({"name": "cdn", "type": "www", "config": {"bearer": "cdn-token"}, "hosts": hosts}))
        .await;
    let listed = s.call(Method::GET, PROVIDERS, Auth::Bearer(&admin), None).await;
    let listed = listed.body.pointer("/settings/application/media/providers").unwrap().clone();
    let cdn = listed.as_array().unwrap().iter().find(|p| p["name"] == "cdn").unwrap();
    assert_eq!(cdn["hosts"], hosts, "{listed}");
    assert!(listed.as_array().unwrap().iter().find(|p| p["name"] == "corp").unwrap().get("hosts").is_none());

    // A provider without hosts, and one listing other hosts: the USER's
    // link fails the message and nothing reaches the host.
    for (to, provider) in [("15550004001", "corp"), ("15550004002", "cdn")] {
        let message = json!({"to": to, "type": "document",
            "document": {"link": link, "provider": {"name": provider}, "filename": "report.pdf"}});
        let id = send(&s, &user, message).await;
        let error = failure_of(&s, &id).await;
        assert!(error.to_string().contains("not among its hosts"), "{provider}: {error}");
    }
    assert_eq!(capture.hits(), vec![], "a request reached a host no provider allows");

    // Listed by the provider: fetched with its credentials, sent as an upload.
    let listed_here = json!({"name": "corp", "type": "www", "config": basic, "hosts": ["127.0.0.1"]});
    add_provider(&s, &admin, listed_here).await;
    let to = "15550004003";
    send(&s, &user, json!({"to": to, "type": "image", "image": {"link": link, "provider": {"name": "corp"}}})).await;
    let sent = s.cloud_payload_for(to).await;
    assert!(sent["image"]["id"].is_string() && sent["image"].get("link").is_none(), "{sent}");
    let hits = capture.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].request_line, "GET /internal/report.png HTTP/1.1");
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("corp:s3cret-corp"));
    assert_eq!(hits[0].authorization.as_deref(), Some(expected.as_str()));
    s.stop().await;
}

async fn loopback_needs_an_explicit_allowance_even_for_a_listed_host(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    // No address range allowed: the production default.
    let s = Stack::start_with(engine, Options { links: LinkConfig::default(), ..Options::default() }).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    let user = user_token(&s, &admin).await;
    let capture = Capture::start("image/png", files::png(8, 8, 42)).await;
    let hosts = json!(["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"]);
    let bearer = json!({"bearer": "s3cret-bearer"});
    add_provider(&s, &admin, json!({"name": "corp", "type": "www", "config": bearer, "hosts": hosts})).await;

    // Named exactly, the address is still the coreapp's own loopback: refused,
    // as an IP literal, a name resolving there, and an IPv4-mapped IPv6 literal.
    for (to, host) in
        [("15550004101", "127.0.0.1"), ("15550004102", "localhost"), ("15550004103", "[::ffff:127.0.0.1]")]
    {
        let link = capture.url(host, "/x.png");
        let id =
            send(&s, &user, json!({"to": to, "type": "image", "image": {"link": link, "provider": {"name": "corp"}}}))
                .await;
        let error = failure_of(&s, &id).await;
        assert!(error.to_string().contains("loopback"), "{host}: {error}");
    }
    assert_eq!(capture.hits(), vec![], "a request reached loopback");
    s.stop().await;
}

// === Cloud's token ===

/// Uploads a file to the sandbox as Cloud media; returns Cloud's id.
async fn cloud_upload(s: &Stack, mime_type: &str, bytes: Vec<u8>) -> String {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg").mime_str(mime_type).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", mime_type.to_string())
        .part("file", part);
    let url = format!("{}/v24.0/{PHONE_NUMBER_ID}/media", s.sandbox);
    let r = s.http.post(url).bearer_auth(sandbox::Config::default().access_token).multipart(form).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    body["id"].as_str().unwrap_or_else(|| panic!("no media id: {body}")).to_string()
}

/// A signed Cloud webhook of a user sending an image.
fn image_webhook(from: &str, wamid: &str, image: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": sandbox::Config::default().waba_id, "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "A user"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": "1700000000", "type": "image", "image": image}],
        },
    }]}]})
}

fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

async fn cloud_token_goes_only_to_cloud_hosts(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    patch_settings(&s, &admin, json!({"media": {"auto_download": ["image"]}})).await;
    let photo = files::jpeg(40_000, 43);
    // The capture server would serve the same bytes, were it asked: only
    // where the request went tells the two apart.
    let capture = Capture::start("image/jpeg", photo.clone()).await;
    let cloud_id = cloud_upload(&s, "image/jpeg", photo.clone()).await;

    let from = "15550005001";
    let url = capture.url("127.0.0.1", "/whatsapp_business/attachments/?mid=1&ext=2&hash=3");
    let image = json!({"id": cloud_id, "mime_type": "image/jpeg", "sha256": sha256_base64(&photo), "url": url});
    assert_eq!(s.cloud_posts(&image_webhook(from, "wamid.security-1", image)).await, StatusCode::OK);
    // Auto-download holds the webhook until the file is on the volume.
    let hook = s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == from).await;
    let file = hook["messages"][0]["image"]["file"].as_str().unwrap_or_else(|| panic!("no file in {hook}"));
    assert!(std::fs::read(file).unwrap() == photo, "the file is Cloud's, through GET /{{media-id}}");
    assert_eq!(capture.hits(), vec![], "the token went to the webhook's URL");
    s.stop().await;
}

async fn an_unreadable_sha256_fails_the_download(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    s.use_receiver(&admin).await;
    patch_settings(&s, &admin, json!({"media": {"auto_download": ["image"]}})).await;
    let photo = files::jpeg(30_000, 45);
    let cloud_id = cloud_upload(&s, "image/jpeg", photo.clone()).await;
    // A working download URL of Cloud's, so only the hash is wrong.
    let info = s.cloud_get(&format!("{cloud_id}?phone_number_id={PHONE_NUMBER_ID}")).await;
    let url = info["url"].as_str().unwrap_or_else(|| panic!("{info}"));

    let from = "15550005101";
    let image = json!({"id": cloud_id, "mime_type": "image/jpeg", "sha256": "not-a-sha256", "url": url});
    assert_eq!(s.cloud_posts(&image_webhook(from, "wamid.security-2", image)).await, StatusCode::OK);
    let hook = s.receiver.wait_for(WAIT, |v| v["messages"][0]["from"] == from).await;
    let object = &hook["messages"][0]["image"];
    assert!(object.get("file").is_none(), "a file that could not be checked was kept: {hook}");
    let (status, _, _) = s.download(&admin, object["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(s.media_files().iter().all(|f| std::fs::read(f).unwrap() != photo), "the bytes reached the volume");
    s.stop().await;
}

// === secrets in errors, and who sees them ===

/// `/v1/support` as `token` sees it.
async fn support(s: &Stack, token: &str) -> Value {
    let a = s.call(Method::GET, "/v1/support", Auth::Bearer(token), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["support"].clone()
}

/// The recent errors of `kind` (`sends`, `webhooks`) over every coreapp.
fn recent_errors(support: &Value, kind: &str) -> Vec<Value> {
    let cores = support["coreapps"].as_object().cloned().unwrap_or_default();
    cores.values().flat_map(|c| c["recent_errors"][kind].as_array().cloned().unwrap_or_default()).collect()
}

async fn url_secrets_stay_out_of_stored_errors_and_support(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    let closed = closed_port().await;

    // A webhook URL with credentials and a token, on a port that refuses.
    let hook = format!("http://hookuser:hookpass@127.0.0.1:{closed}/hook?token=s3cret-hook-token");
    patch_settings(&s, &admin, json!({"webhooks": {"url": hook}})).await;
    s.user_sends(json!({"from": "15550006001", "type": "text", "text": {"body": "hello"}})).await;
    // A provider link with a signature in its query, on the same port.
    add_provider(&s, &admin, json!({"name": "corp", "type": "www", "config": {"bearer": "t"}})).await;
    let link = format!("http://127.0.0.1:{closed}/file.png?sig=s3cret-link-sig");
    send(
        &s,
        &admin,
        json!({"to": "15550006002", "type": "image", "image": {"link": link, "provider": {"name": "corp"}}}),
    )
    .await;

    s.wait_until(WAIT, || async {
        let shown = support(&s, &admin).await;
        !recent_errors(&shown, "webhooks").is_empty() && !recent_errors(&shown, "sends").is_empty()
    })
    .await
    .expect("both failures show in /v1/support");
    let shown = support(&s, &admin).await;
    let db = s.db().await;
    let stored: Vec<Option<String>> = db
        .run(|conn| {
            use coreapp::store::schema::{outbound_messages as om, webhook_outbox as wo};
            use diesel::prelude::*;
            let mut all: Vec<Option<String>> = wo::table.select(wo::last_error).load(conn)?;
            all.extend(om::table.select(om::last_error).load::<Option<String>>(conn)?);
            Ok(all)
        })
        .await
        .unwrap();
    let stored: Vec<String> = stored.into_iter().flatten().collect();
    let text = format!("{shown} {stored:?}");
    for secret in ["s3cret-hook-token", "hookpass", "hookuser", "s3cret-link-sig"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    // The errors still say where: the host, port and path.
    assert!(stored.iter().any(|e| e.contains(&format!("127.0.0.1:{closed}/hook"))), "{stored:?}");
    assert!(stored.iter().any(|e| e.contains(&format!("127.0.0.1:{closed}/file.png"))), "{stored:?}");
    s.stop().await;
}

async fn host_level_errors_are_for_admins_only(engine: Engine) {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(engine).await;
    let admin = s.admin_token().await;
    let user = user_token(&s, &admin).await;
    let closed = closed_port().await;
    patch_settings(&s, &admin, json!({"webhooks": {"url": format!("http://127.0.0.1:{closed}/hook")}})).await;
    s.user_sends(json!({"from": "15550006101", "type": "text", "text": {"body": "hello"}})).await;
    s.wait_until(WAIT, || async { !recent_errors(&support(&s, &admin).await, "webhooks").is_empty() })
        .await
        .expect("the admin sees the webhook error");
    let admin_view = support(&s, &admin).await;
    assert!(admin_view["webapp"]["core_addrs"].is_array(), "{admin_view}");
    assert!(admin_view["webapp"]["coreapps_seen"][0]["address"].is_string(), "{admin_view}");

    let seen = support(&s, &user).await;
    assert_eq!(seen["webapp"]["version"], "2.53.0", "{seen}");
    let cores = seen["coreapps"].as_object().unwrap();
    assert_eq!(cores.len(), 1, "{seen}");
    for info in cores.values() {
        assert!(info["version"].is_string() && info["gateway_status"].is_string(), "{info}");
        assert!(info["queues"]["webhook_outbox"].is_number(), "{info}");
        for hidden in ["recent_errors", "cloud", "media_dir", "database"] {
            assert!(info.get(hidden).is_none(), "a USER sees {hidden}: {info}");
        }
    }
    assert!(seen["webapp"].get("core_addrs").is_none(), "{seen}");
    assert!(seen["webapp"]["coreapps_seen"][0].get("address").is_none(), "{seen}");
    let text = seen.to_string();
    assert!(!text.contains(&format!("127.0.0.1:{closed}")), "a USER sees the failing host: {text}");
    assert!(!text.contains(&s.cores[0]), "a USER sees a node's address: {text}");
    s.stop().await;
}
