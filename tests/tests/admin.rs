//! The administrative and monitoring surface, end to end against the
//! sandbox: metrics and stats, support, profile and photo, two-step,
//! account, backup and restore, certificates, media providers, the
//! message purge and the retired features; also the settings round trip,
//! health (API key, Cloud token), what a restart keeps (users, settings,
//! certificate), settings and certificate shared by every node, and plain
//! HTTP when TLS is off.

use std::time::Duration;

use e2e::{ADMIN_PASSWORD, API_KEY, Auth, Engine, Options, PHONE_NUMBER_ID, Stack, files};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

e2e::on_all_engines!(
    metrics_and_stats_per_node,
    backup_and_restore,
    external_certificate_reaches_every_webapp,
    purge_and_retired_features,
    settings_round_trip,
    health_with_api_key_and_without_auth,
    health_reports_a_rejected_cloud_token,
    restart_keeps_users_settings_and_certificate,
    every_coreapp_and_webapp_shares_settings_and_certificate,
    plain_http_when_tls_is_off,
);

mod sqlite_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn support_has_nodes_and_no_secrets() {
        super::support_has_nodes_and_no_secrets(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn profile_about_business_and_photo() {
        super::profile_about_business_and_photo(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_step_and_account() {
        super::two_step_and_account(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_collector_purges_week_old_finished_messages() {
        super::the_collector_purges_week_old_finished_messages(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_route_of_the_old_client_is_served_or_retired() {
        super::every_route_of_the_old_client_is_served_or_retired(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn garbage_collection_on_request() {
        super::garbage_collection_on_request(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn media_providers_fetch_links_with_credentials() {
        super::media_providers_fetch_links_with_credentials(Engine::Sqlite).await
    }
}

const WAIT: Duration = Duration::from_secs(20);

async fn send(s: &Stack, token: &str, body: Value) -> String {
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body.pointer("/messages/0/id").and_then(Value::as_str).unwrap().to_string()
}

async fn text(s: &Stack, web: usize, path: &str, auth: Auth<'_>) -> (u16, String, String) {
    let r = s.raw_on(web, Method::GET, path, auth, None, Vec::new()).await;
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, ct, r.text().await.unwrap())
}

fn parse_prometheus(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("not Prometheus text ({e}):\n{text}"))
}

async fn metrics_and_stats_per_node(engine: Engine) {
    let s = Stack::start_with(engine, Options { coreapps: 2, webapps_see_all_cores: true, ..Options::default() }).await;
    let token = s.admin_token().await;
    send(&s, &token, json!({"to": "15550001001", "text": {"body": "counted"}})).await;
    s.wait_until(WAIT, || async {
        let a = s.call(Method::GET, "/v1/stats/app", Auth::ApiKey(API_KEY), None).await;
        let nodes = a.body.pointer("/stats/app").and_then(Value::as_object).cloned().unwrap_or_default();
        nodes
            .values()
            .map(|n| n.pointer("/messages_sent/data/0/value").and_then(Value::as_f64).unwrap_or(0.0))
            .sum::<f64>()
            >= 1.0
    })
    .await
    .expect("messages_sent counted on a node");

    // JSON: per node, the old names with their shape.
    let a = s.call(Method::GET, "/v1/stats/app", Auth::Bearer(&token), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let nodes = a.body.pointer("/stats/app").and_then(Value::as_object).unwrap();
    assert_eq!(nodes.len(), 2, "one entry per coreapp: {}", a.body);
    for (node, families) in nodes {
        assert!(node.starts_with("test-core-"), "{node}");
        assert_eq!(families["callback_queue_size"]["type"], "gauge");
        assert_eq!(families["send_queue_size"]["type"], "gauge");
        assert!(families["callback_queue_size"]["data"][0]["value"].is_number(), "{families}");
        assert_eq!(families["callback_requests_duration_ms"]["type"], "histogram");
    }

    // Prometheus: every node's samples labelled with it.
    let (status, ct, body) = text(&s, 0, "/v1/stats/app?format=prometheus", Auth::ApiKey(API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    let scrape = parse_prometheus(&body);
    let queue: Vec<_> = scrape.samples.iter().filter(|x| x.metric == "callback_queue_size").collect();
    let mut labelled: Vec<&str> = queue.iter().filter_map(|x| x.labels.get("node")).collect();
    labelled.sort();
    assert_eq!(labelled, ["test-core-0", "test-core-1"], "{body}");
    assert!(scrape.docs.contains_key("callback_requests"), "{body}");

    // DB stats.
    let a = s.call(Method::GET, "/v1/stats/db", Auth::ApiKey(API_KEY), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let node = a.body.pointer("/stats/db/test-core-0").unwrap_or_else(|| panic!("{}", a.body));
    assert_eq!(node["db_pool_size"]["data"][0]["value"], 8);
    assert_eq!(node["db_pool_connections_in_use"]["type"], "gauge");
    let engine_label = node["db_pool_connections_idle"]["data"][0]["labels"]["engine"].as_str().unwrap();
    let expected = match engine {
        Engine::Mysql => "mysql",
        Engine::Pgsql => "pgsql",
        Engine::Sqlite => "sqlite",
    };
    assert_eq!(engine_label, expected);
    let sent_rows = node["db_rows"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["labels"]["table"] == "outbound_messages" && d["labels"]["state"] == "sent" && d["value"] == 1);
    assert!(sent_rows, "the sent message is counted: {}", node["db_rows"]);
    let (status, _, body) = text(&s, 0, "/v1/stats/db/internal?format=prometheus", Auth::ApiKey(API_KEY)).await;
    assert_eq!(status, 200);
    assert!(parse_prometheus(&body).samples.iter().any(|x| x.metric == "db_rows"), "{body}");

    // /metrics and /v1/metrics: the webapp's own and the coreapps'.
    for path in ["/metrics", "/v1/metrics"] {
        let a = s.call(Method::GET, path, Auth::ApiKey(API_KEY), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let m = &a.body["metrics"];
        assert!(m["web_uptime"]["data"][0]["value"].as_f64().is_some(), "{m}");
        let latency = m["api_requests_duration_ms"]["data"].as_array().unwrap();
        assert!(
            latency.iter().any(|d| d["labels"]["method"] == "POST_v1_messages" && d["labels"]["result"] == "201"),
            "{latency:?}"
        );
        assert!(m["callback_queue_size"]["data"].as_array().unwrap().iter().all(|d| d["labels"]["node"].is_string()));
    }
    let (status, _, body) = text(&s, 0, "/metrics?format=prometheus", Auth::Bearer(&token)).await;
    assert_eq!(status, 200);
    let scrape = parse_prometheus(&body);
    assert!(scrape.samples.iter().any(|x| x.metric == "api_requests_duration_ms_count"), "{body}");
    assert!(scrape.samples.iter().any(|x| x.metric == "web_handled_requests"), "{body}");

    // Credentials and bad input.
    s.call(Method::GET, "/metrics", Auth::None, None).await.assert_error(401, 1005);
    s.call(Method::GET, "/v1/stats/app", Auth::ApiKey("not-the-key-at-all"), None).await.assert_error(401, 1005);
    s.call(Method::GET, "/v1/stats/app?format=xml", Auth::ApiKey(API_KEY), None).await.assert_error(400, 1009);
    s.stop().await;
}

async fn support_has_nodes_and_no_secrets(engine: Engine) {
    let s = Stack::start_with(engine, Options { coreapps: 2, webapps_see_all_cores: true, ..Options::default() }).await;
    let token = s.admin_token().await;
    s.call(Method::GET, "/v1/support", Auth::None, None).await.assert_error(401, 1005);
    let a = s.call(Method::GET, "/v1/support", Auth::Bearer(&token), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let support = &a.body["support"];
    assert_eq!(support["webapp"]["version"], "2.53.0");
    let cores = support["coreapps"].as_object().unwrap();
    assert_eq!(cores.len(), 2, "{support}");
    for info in cores.values() {
        assert!(info["queues"]["outbound_messages"].is_number(), "{info}");
        assert!(info["database"]["engine"].is_string(), "{info}");
        assert_eq!(info["cloud"]["access_token"], "set");
        assert!(info["recent_errors"]["sends"].is_array(), "{info}");
    }
    let text = a.body.to_string();
    for secret in [API_KEY, e2e::APP_SECRET, e2e::ADMIN_PASSWORD, &sandbox::Config::default().access_token] {
        assert!(!text.contains(secret), "support output leaks a secret: {text}");
    }
    s.stop().await;
}

async fn profile_about_business_and_photo(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let auth = Auth::Bearer(&token);

    // About.
    let a = s.call(Method::PATCH, "/v1/settings/profile/about", auth, Some(json!({"text": "Open 9 to 5"}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s.call(Method::GET, "/v1/settings/profile/about", auth, None).await;
    assert_eq!(a.body.pointer("/settings/profile/about/text"), Some(&json!("Open 9 to 5")), "{}", a.body);
    let cloud = s.cloud_get(&format!("{PHONE_NUMBER_ID}/whatsapp_business_profile?fields=about")).await;
    assert_eq!(cloud["data"][0]["about"], "Open 9 to 5", "Cloud holds it: {cloud}");
    let long = json!({"text": "x".repeat(140)});
    s.call(Method::PATCH, "/v1/settings/profile/about", auth, Some(long)).await.assert_error(400, 1009);
    s.call(Method::PATCH, "/v1/settings/profile/about", auth, Some(json!({}))).await.assert_error(400, 1008);

    // Business profile, with the old vertical names.
    let update = json!({"address": "1 Main St", "description": "Shoes", "email": "shop@example.com",
        "vertical": "Shopping and Retail", "websites": ["https://shop.example.com"]});
    let a = s.call(Method::POST, "/v1/settings/business/profile", auth, Some(update)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s.call(Method::GET, "/v1/settings/business/profile", auth, None).await;
    let p = a.body.pointer("/settings/business/profile").unwrap_or_else(|| panic!("{}", a.body));
    assert_eq!(p["vertical"], "Shopping and Retail");
    assert_eq!(p["websites"], json!(["https://shop.example.com"]));
    assert_eq!(p["email"], "shop@example.com");
    let cloud = s.cloud_get(&format!("{PHONE_NUMBER_ID}/whatsapp_business_profile?fields=vertical")).await;
    assert_eq!(cloud["data"][0]["vertical"], "RETAIL", "{cloud}");
    for bad in [
        json!({"vertical": "Space travel"}),
        json!({"websites": ["https://a.example", "https://b.example", "https://c.example"]}),
        json!({"websites": ["shop.example.com"]}),
        json!({"email": "not-an-email"}),
        json!({"address": "x".repeat(257)}),
    ] {
        s.call(Method::POST, "/v1/settings/business/profile", auth, Some(bad)).await.assert_error(400, 1009);
    }
    // A vertical Cloud added after the old client passes through as named.
    let a = s.call(Method::POST, "/v1/settings/business/profile", auth, Some(json!({"vertical": "ALCOHOL"}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s.call(Method::GET, "/v1/settings/business/profile", auth, None).await;
    assert_eq!(a.body.pointer("/settings/business/profile/vertical"), Some(&json!("ALCOHOL")), "{}", a.body);
    let retired = json!({"vertical": "UNDEFINED"});
    s.call(Method::POST, "/v1/settings/business/profile", auth, Some(retired)).await.assert_error(400, 1009);

    // India's compliance information: empty keys first, then what was set,
    // kept by Cloud.
    let path = "/v1/settings/business/compliance_info";
    let a = s.call(Method::GET, path, auth, None).await;
    let info = a.body.pointer("/settings/business/compliance_info").unwrap_or_else(|| panic!("{}", a.body));
    assert_eq!((info["entity_name"].as_str(), info["customer_care_details"]["email"].as_str()), (Some(""), Some("")));
    let compliance = json!({
        "entity_name": "Acme Traders", "entity_type": "PARTNERSHIP", "is_registered": true,
        "grievance_officer_details": {"name": "R. Iyer", "email": "grievance@acme.example", "mobile_number": "+919876543210"},
        "customer_care_details": {"email": "care@acme.example", "landline_number": "+912212345678"}
    });
    let a = s.call(Method::POST, path, auth, Some(compliance)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s.call(Method::GET, path, auth, None).await;
    let info = a.body.pointer("/settings/business/compliance_info").unwrap_or_else(|| panic!("{}", a.body));
    assert_eq!(info["entity_name"], "Acme Traders");
    assert_eq!(info["entity_type"], "Partnership");
    assert_eq!(info["is_registered"], true);
    assert_eq!(info["grievance_officer_details"]["mobile_number"], "+919876543210");
    assert_eq!(info["grievance_officer_details"]["landline_number"], "");
    assert_eq!(info["customer_care_details"]["landline_number"], "+912212345678");
    let cloud = s.cloud_get(&format!("{PHONE_NUMBER_ID}/business_compliance_info")).await;
    assert_eq!(cloud["data"][0]["entity_name"], "Acme Traders", "Cloud holds it: {cloud}");
    for (bad, code) in [
        (json!({"entity_type": "PRIVATE_COMPANY"}), 1008),
        (json!({"entity_name": "Acme", "entity_type": "TRUST"}), 1009),
        (
            json!({"entity_name": "Acme", "entity_type": "OTHER", "is_registered": false,
            "grievance_officer_details": {"name": "R", "email": "g@acme.example"},
            "customer_care_details": {"email": "c@acme.example", "mobile_number": "+919876543210"}}),
            1008,
        ),
        (
            json!({"entity_name": "Acme", "entity_type": "PRIVATE_COMPANY",
            "grievance_officer_details": {"name": "R", "email": "g@acme.example"},
            "customer_care_details": {"email": "c@acme.example", "mobile_number": "98765 43210"}}),
            1009,
        ),
    ] {
        s.call(Method::POST, path, auth, Some(bad)).await.assert_error(400, code);
    }
    let viewer = s.call(Method::GET, path, Auth::None, None).await;
    viewer.assert_error(401, 1005);

    // Photo: none yet; then a raw image in, served back from where Cloud keeps it.
    s.call(Method::GET, "/v1/settings/profile/photo?format=link", auth, None).await.assert_error(404, 1006);
    let png = files::png(64, 64, 7);
    let r = s.raw_on(0, Method::POST, "/v1/settings/profile/photo", auth, Some("image/png"), png.clone()).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let a = s.call(Method::GET, "/v1/settings/profile/photo?format=link", auth, None).await;
    let link = a.body.pointer("/settings/profile/photo/link").and_then(Value::as_str).unwrap_or_default();
    assert!(link.starts_with("http"), "{}", a.body);
    let r = s.raw_on(0, Method::GET, "/v1/settings/profile/photo", auth, None, Vec::new()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), png, "the photo's bytes come back");
    let bad = [
        (Some("text/plain"), b"hello".to_vec(), 400, 1009),
        (None, png.clone(), 400, 1008),
        (Some("image/jpeg"), Vec::new(), 400, 1008),
        (Some("image/jpeg"), files::jpeg(5 * 1024 * 1024 + 10, 3), 400, 1009),
    ];
    for (ct, body, status, code) in bad {
        let r = s.raw_on(0, Method::POST, "/v1/settings/profile/photo", auth, ct, body).await;
        e2e::Answer::read(r).await.assert_error(status, code);
    }
    s.call(Method::DELETE, "/v1/settings/profile/photo", auth, None).await.assert_error(403, 1005);
    s.call(Method::GET, "/v1/settings/profile/photo?format=gif", auth, None).await.assert_error(400, 1009);

    // Admin only.
    let user = json!({"username": "viewer1", "password": "Viewer-pass1"});
    assert_eq!(s.call(Method::POST, "/v1/users", auth, Some(user)).await.status, 201);
    let viewer = s.login("viewer1", "Viewer-pass1", None).await.token();
    s.call(Method::GET, "/v1/settings/profile/about", Auth::Bearer(&viewer), None).await.assert_error(403, 1005);
    s.stop().await;
}

async fn two_step_and_account(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let auth = Auth::Bearer(&token);

    let a = s.call(Method::POST, "/v1/settings/account/two-step", auth, Some(json!({"pin": "135790"}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let cloud = s.cloud_get(&format!("{PHONE_NUMBER_ID}?fields=is_pin_enabled")).await;
    assert_eq!(cloud["is_pin_enabled"], true, "{cloud}");
    for (body, code) in [(json!({}), 1008), (json!({"pin": ""}), 1009), (json!({"pin": "12ab56"}), 1009)] {
        s.call(Method::POST, "/v1/settings/account/two-step", auth, Some(body)).await.assert_error(400, code);
    }
    let a = s.call(Method::DELETE, "/v1/settings/account/two-step", auth, None).await;
    a.assert_error(403, 1005);
    assert!(a.body.to_string().contains("cannot disable"), "{}", a.body);

    // The account is the number Cloud hosts.
    let a = s.call(Method::GET, "/v1/account", auth, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let wa_id = a.body.pointer("/account/0/wa_id").and_then(Value::as_str).unwrap().to_string();
    assert!(wa_id.len() > 5, "{}", a.body);
    let (cc, number) = wa_id.split_at(1);
    let register = json!({"cc": cc, "phone_number": number, "method": "sms", "cert": "c2FuZGJveA=="});
    assert_eq!(s.call(Method::POST, "/v1/account", auth, Some(register.clone())).await.status, 201);
    let other = json!({"cc": "44", "phone_number": "7700900123", "method": "voice", "cert": "c2FuZGJveA=="});
    let a = s.call(Method::POST, "/v1/account", auth, Some(other)).await;
    a.assert_error(403, 1005);
    assert!(a.body.to_string().contains("biz_link_on_prem_reg_blocked"), "{}", a.body);
    for (body, code) in [
        (json!({"phone_number": number, "method": "sms", "cert": "x"}), 1008),
        (json!({"cc": cc, "phone_number": number, "method": "fax", "cert": "x"}), 1009),
        (json!({"cc": cc, "phone_number": number, "method": "sms"}), 1008),
        (json!({"cc": cc, "phone_number": number, "method": "sms", "cert": "x", "vname_cert": "y"}), 1010),
        (
            json!({"cc": cc, "phone_number": number, "method": "sms", "cert": "x", "reset": "wipe", "pin": "123456"}),
            1010,
        ),
    ] {
        s.call(Method::POST, "/v1/account", auth, Some(body)).await.assert_error(400, code);
    }
    assert_eq!(s.call(Method::POST, "/v1/account/verify", auth, Some(json!({"code": "123456"}))).await.status, 201);
    s.call(Method::POST, "/v1/account/verify", auth, Some(json!({"code": "12"}))).await.assert_error(400, 1009);
    s.call(Method::POST, "/v1/account/verify", auth, Some(json!({}))).await.assert_error(400, 1008);

    // Shards are recorded.
    let a = s.call(Method::GET, "/v1/account/shards", auth, None).await;
    assert_eq!(a.body.pointer("/account/shards"), Some(&json!(1)), "{}", a.body);
    let shards = json!({"cc": cc, "phone_number": number, "shards": 4});
    assert_eq!(s.call(Method::POST, "/v1/account/shards", auth, Some(shards)).await.status, 201);
    let a = s.call(Method::GET, "/v1/account/shards", auth, None).await;
    assert_eq!(a.body.pointer("/account/shards"), Some(&json!(4)), "{}", a.body);
    let bad = json!({"cc": cc, "phone_number": number, "shards": 3});
    s.call(Method::POST, "/v1/account/shards", auth, Some(bad)).await.assert_error(400, 1009);
    s.stop().await;
}

async fn backup_and_restore(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let auth = Auth::Bearer(&token);
    let patch = json!({"webhooks": {"url": "https://hooks.example.com/before"}, "sent_status": true});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", auth, Some(patch)).await.status, 200);
    let user = json!({"username": "operator", "password": "Operator-pass1"});
    assert_eq!(s.call(Method::POST, "/v1/users", auth, Some(user)).await.status, 201);
    let provider = json!([{"name": "corp", "type": "www", "config": {"bearer": "corp-token"}}]);
    let path = "/v1/settings/application/media/providers";
    assert_eq!(s.call(Method::POST, path, auth, Some(provider)).await.status, 200);

    let a = s.call(Method::POST, "/v1/settings/backup", auth, Some(json!({"password": "Backup-pw1"}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let data = a.body.pointer("/settings/data").and_then(Value::as_str).unwrap().to_string();
    assert!(!data.contains("operator") && !data.contains("hooks.example.com"), "the blob is encrypted");
    s.call(Method::POST, "/v1/settings/backup", auth, Some(json!({}))).await.assert_error(400, 1008);

    // Everything changes...
    let patch = json!({"webhooks": {"url": "https://hooks.example.com/after"}, "sent_status": false});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", auth, Some(patch)).await.status, 200);
    assert_eq!(s.call(Method::DELETE, "/v1/users/operator", auth, None).await.status, 200);
    assert_eq!(s.call(Method::DELETE, &format!("{path}/corp"), auth, None).await.status, 200);
    let newcomer = json!({"username": "newcomer", "password": "Newcomer-pass1"});
    assert_eq!(s.call(Method::POST, "/v1/users", auth, Some(newcomer)).await.status, 201);

    // ... a wrong password or damaged data restore nothing ...
    let wrong = json!({"password": "Wrong-pw1", "data": data});
    s.call(Method::POST, "/v1/settings/restore", auth, Some(wrong)).await.assert_error(400, 1009);
    let damaged = json!({"password": "Backup-pw1", "data": format!("{}AAAA", &data[..data.len() - 8])});
    s.call(Method::POST, "/v1/settings/restore", auth, Some(damaged)).await.assert_error(400, 1009);
    let junk = json!({"password": "Backup-pw1", "data": "bm90IGEgYmFja3Vw"});
    s.call(Method::POST, "/v1/settings/restore", auth, Some(junk)).await.assert_error(400, 1009);
    s.call(Method::POST, "/v1/settings/restore", auth, Some(json!({"password": "x"}))).await.assert_error(400, 1008);
    let a = s.call(Method::GET, "/v1/settings/application", auth, None).await;
    assert_eq!(a.body.pointer("/settings/application/webhooks/url"), Some(&json!("https://hooks.example.com/after")));

    // ... the right one brings it all back.
    let restore = json!({"password": "Backup-pw1", "data": data});
    let a = s.call(Method::POST, "/v1/settings/restore", auth, Some(restore)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s.call(Method::GET, "/v1/settings/application", auth, None).await;
    let app = &a.body["settings"]["application"];
    assert_eq!(app["webhooks"]["url"], "https://hooks.example.com/before", "{app}");
    assert_eq!(app["sent_status"], true, "{app}");
    assert_eq!(s.login("operator", "Operator-pass1", None).await.status, 200, "the restored user logs in");
    assert_eq!(s.login("newcomer", "Newcomer-pass1", None).await.status, 401, "a user the backup lacks is gone");
    let a = s.call(Method::GET, path, auth, None).await;
    assert_eq!(a.body.pointer("/settings/application/media/providers/0/name"), Some(&json!("corp")), "{}", a.body);
    s.stop().await;
}

/// A backup holds no trace of the engine it was made on: one made on each
/// engine restores on another (SQLite to PostgreSQL, PostgreSQL to
/// MariaDB, MariaDB to SQLite), users, settings and media providers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_on_another_engine() {
    for (from, to) in [(Engine::Sqlite, Engine::Pgsql), (Engine::Pgsql, Engine::Mysql), (Engine::Mysql, Engine::Sqlite)]
    {
        let data = {
            let s = Stack::start(from).await;
            let token = s.admin_token().await;
            let auth = Auth::Bearer(&token);
            let patch = json!({"webhooks": {"url": "https://hooks.example.com/moved"}, "sent_status": true});
            assert_eq!(s.call(Method::PATCH, "/v1/settings/application", auth, Some(patch)).await.status, 200);
            let user = json!({"username": "mover", "password": "Mover-pass1"});
            assert_eq!(s.call(Method::POST, "/v1/users", auth, Some(user)).await.status, 201);
            let provider = json!([{"name": "corp", "type": "www", "config": {"bearer": "corp-token"}}]);
            let path = "/v1/settings/application/media/providers";
            assert_eq!(s.call(Method::POST, path, auth, Some(provider)).await.status, 200);
            let a = s.call(Method::POST, "/v1/settings/backup", auth, Some(json!({"password": "Backup-pw1"}))).await;
            assert_eq!(a.status, 200, "{}", a.body);
            s.stop().await;
            a.body.pointer("/settings/data").and_then(Value::as_str).unwrap().to_string()
        };
        let s = Stack::start(to).await;
        let token = s.admin_token().await;
        let restore = json!({"password": "Backup-pw1", "data": data});
        let a = s.call(Method::POST, "/v1/settings/restore", Auth::Bearer(&token), Some(restore)).await;
        assert_eq!(a.status, 200, "{from:?} to {to:?}: {}", a.body);
        let login = s.login("mover", "Mover-pass1", None).await;
        assert_eq!(login.status, 200, "{from:?} to {to:?}: the restored user logs in");
        // The admin's sessions ended with the restore (its hash is the backup's).
        let token = s.admin_token().await;
        let a = s.call(Method::GET, "/v1/settings/application", Auth::Bearer(&token), None).await;
        let app = &a.body["settings"]["application"];
        assert_eq!(app["webhooks"]["url"], "https://hooks.example.com/moved", "{from:?} to {to:?}: {app}");
        assert_eq!(app["sent_status"], true, "{from:?} to {to:?}: {app}");
        let a = s.call(Method::GET, "/v1/settings/application/media/providers", Auth::Bearer(&token), None).await;
        let name = a.body.pointer("/settings/application/media/providers/0/name");
        assert_eq!(name, Some(&json!("corp")), "{from:?} to {to:?}: {}", a.body);
        s.stop().await;
    }
}

/// A CA and a server certificate it signed, for `localhost`.
fn issued_bundle() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "wa-onprem test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &rcgen::Issuer::new(ca_params, ca_key)).unwrap();
    (key.serialize_pem(), cert.pem(), ca.pem())
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

async fn external_certificate_reaches_every_webapp(engine: Engine) {
    let s = Stack::start_with(engine, Options { webapps: 2, ..Options::default() }).await;
    let token = s.admin_token().await;
    let auth = Auth::Bearer(&token);

    // The generated certificate is its own CA.
    let before = s.fresh_peer_certificate(0).await.unwrap();
    let r = s.raw_on(0, Method::GET, "/v1/certificates/external/ca", auth, None, Vec::new()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(der_of(&r.text().await.unwrap()), before);

    let (key, cert, ca) = issued_bundle();
    let post = |body: String| {
        let s = &s;
        async move { s.raw_on(0, Method::POST, "/v1/certificates/external", auth, Some("text/plain"), body.into()).await }
    };
    e2e::Answer::read(post(format!("{key}{cert}")).await).await.assert_error(400, 1009);
    let (other_key, _, _) = issued_bundle();
    e2e::Answer::read(post(format!("{other_key}{cert}{ca}")).await).await.assert_error(400, 1009);
    e2e::Answer::read(post(String::new()).await).await.assert_error(400, 1008);

    let r = post(format!("{key}{cert}{ca}")).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let wanted = der_of(&cert);
    for web in 0..2 {
        s.wait_until(WAIT, || async { s.fresh_peer_certificate(web).await.as_deref() == Some(wanted.as_slice()) })
            .await
            .unwrap_or_else(|e| panic!("webapp {web} still serves the old certificate: {e}"));
    }
    let r = s.raw_on(1, Method::GET, "/v1/certificates/external/ca", auth, None, Vec::new()).await;
    assert_eq!(der_of(&r.text().await.unwrap()), der_of(&ca), "the CA of the bundle");
    s.stop().await;
}

async fn purge_and_retired_features(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let auth = Auth::Bearer(&token);

    // Retired features answer a documented error, never 404.
    for (method, path) in [
        (Method::GET, "/v1/groups"),
        (Method::POST, "/v1/groups/"),
        (Method::PUT, "/v1/groups/123-456"),
        (Method::POST, "/v1/groups/123-456/leave"),
        (Method::DELETE, "/v1/groups/123-456/participants"),
        (Method::GET, "/v1/stickerpacks"),
        (Method::DELETE, "/v1/stickerpacks/abc/stickers/0"),
        (Method::POST, "/v1/admin/database/migrate"),
    ] {
        let a = s.call(method.clone(), path, auth, None).await;
        a.assert_error(403, 1005);
        assert!(a.body.to_string().contains("retired") || path.contains("migrate"), "{path}: {}", a.body);
    }
    s.call(Method::GET, "/v1/groups", Auth::None, None).await.assert_error(401, 1005);
    let a = s.call(Method::GET, "/v1/stickerpacks", Auth::ApiKey(API_KEY), None).await;
    a.assert_error(403, 1005);
    assert!(a.body.to_string().contains("retired"), "the API key gets the reason too: {}", a.body);
    // A body over a JSON endpoint's limit is an on-prem error, not a bare 413.
    let huge = vec![b' '; 3 * 1024 * 1024];
    let r = s.raw_on(0, Method::POST, "/v1/settings/restore", auth, Some("application/json"), huge).await;
    e2e::Answer::read(r).await.assert_error(400, 1009);
    s.call(Method::GET, "/v1/nothing-here", auth, None).await.assert_error(404, 1006);
    assert_eq!(s.call(Method::GET, "/v1/messages/gBEGkYiEB1VXAglK1ZEqA1YKPrU", auth, None).await.status, 200);
    assert_eq!(s.call(Method::DELETE, "/v1/messages/gBEGkYiEB1VXAglK1ZEqA1YKPrU", auth, None).await.status, 200);

    // The OpenAPI document is public.
    let a = s.call(Method::GET, "/v1/openapi.json", Auth::None, None).await;
    assert_eq!(a.status, 200);
    assert!(a.body["openapi"].as_str().unwrap().starts_with("3.1"), "{}", a.body);

    // DELETE /v1/messages purges finished messages, never queued ones.
    let done = send(&s, &token, json!({"to": "15550002001", "text": {"body": "finished"}})).await;
    let db = s.db().await;
    let state_of = |id: String| {
        let db = db.clone();
        async move {
            db.run(move |conn| {
                use coreapp::store::schema::outbound_messages as om;
                use diesel::prelude::*;
                Ok(om::table.find(id).select(om::state).first::<String>(conn).optional()?)
            })
            .await
            .unwrap()
        }
    };
    s.wait_until(WAIT, || async { state_of(done.clone()).await.as_deref() == Some("sent") }).await.unwrap();
    // Cloud now answers every send with a server error: this one stays queued.
    s.cloud_fault(json!({"match": {"path": "messages", "method": "POST"}, "status": 503, "count": 1000})).await;
    let queued = send(&s, &token, json!({"to": "15550002002", "text": {"body": "still queued"}})).await;

    for (body, status, code) in [
        (json!({}), 400, 1008),
        (json!({"age": 10, "before": 10}), 400, 1010),
        (json!({"age": -1}), 400, 1009),
        (json!({"before": "yesterday"}), 400, 1009),
    ] {
        s.call(Method::DELETE, "/v1/messages", auth, Some(body)).await.assert_error(status, code);
    }
    // An age of a day keeps today's messages.
    assert_eq!(s.call(Method::DELETE, "/v1/messages", auth, Some(json!({"age": 86400}))).await.status, 200);
    assert_eq!(state_of(done.clone()).await.as_deref(), Some("sent"));
    let tomorrow = chrono::Utc::now().timestamp() + 86400;
    let a = s.call(Method::DELETE, "/v1/messages", auth, Some(json!({"before": tomorrow}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(state_of(done).await, None, "the finished message is purged");
    assert_eq!(state_of(queued).await.as_deref(), Some("pending"), "the queued message stays");
    s.stop().await;
}

async fn outbound_state(db: &coreapp::store::db::Db, id: &str) -> Option<String> {
    use coreapp::store::schema::outbound_messages as om;
    use diesel::prelude::*;
    let id = id.to_string();
    db.run(move |conn| Ok(om::table.find(id).select(om::state).first::<String>(conn).optional()?)).await.unwrap()
}

/// Moves a stored message's creation `days` into the past.
async fn age(db: &coreapp::store::db::Db, id: &str, days: i64) {
    use coreapp::store::schema::outbound_messages as om;
    use diesel::prelude::*;
    let (id, by) = (id.to_string(), days * 86_400_000);
    db.run(move |conn| {
        Ok(diesel::update(om::table.find(id)).set(om::created_at.eq(om::created_at - by)).execute(conn)?)
    })
    .await
    .unwrap();
}

/// Holds a queued message back for an hour, as a long retry backoff does:
/// the sender leaves it alone meanwhile (it would otherwise fail a message
/// older than a day, which makes it finished). Done between attempts, while
/// no sender holds the message, so no settle overwrites it.
async fn hold_back(db: &coreapp::store::db::Db, id: &str) {
    use coreapp::store::schema::outbound_messages as om;
    use diesel::prelude::*;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (id, later) = (id.to_string(), chrono::Utc::now().timestamp_millis() + 3_600_000);
        let held = db
            .run(move |conn| {
                let idle = om::table.find(&id).filter(om::lease_owner.is_null()).filter(om::attempts.ge(1));
                Ok(diesel::update(idle).set(om::next_attempt_at.eq(later)).execute(conn)?)
            })
            .await
            .unwrap();
        if held == 1 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no pause between two sending attempts");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn the_collector_purges_week_old_finished_messages(engine: Engine) {
    let s = Stack::start_with(engine, Options { gc_interval: Duration::from_millis(200), ..Options::default() }).await;
    let token = s.admin_token().await;
    let db = s.db().await;
    let old = send(&s, &token, json!({"to": "15550004001", "text": {"body": "last week"}})).await;
    let recent = send(&s, &token, json!({"to": "15550004002", "text": {"body": "yesterday"}})).await;
    for id in [&old, &recent] {
        s.wait_until(WAIT, || async { outbound_state(&db, id).await.as_deref() == Some("sent") }).await.unwrap();
    }
    s.cloud_fault(json!({"match": {"path": "messages", "method": "POST"}, "status": 503, "count": 1000})).await;
    let stuck = send(&s, &token, json!({"to": "15550004003", "text": {"body": "still trying"}})).await;
    // Week-old and still queued: the collector must leave it; the sender
    // is kept away from it (it fails messages older than a day).
    hold_back(&db, &stuck).await;
    age(&db, &old, 8).await;
    age(&db, &recent, 1).await;
    age(&db, &stuck, 8).await;
    // `garbagecollector_enable.messages` is on by default.
    s.wait_until(WAIT, || async { outbound_state(&db, &old).await.is_none() }).await.expect("purged");
    assert_eq!(outbound_state(&db, &recent).await.as_deref(), Some("sent"));
    assert_eq!(outbound_state(&db, &stuck).await.as_deref(), Some("pending"), "queued work is kept");

    let off = json!({"garbagecollector_enable": {"messages": false}});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(&token), Some(off)).await.status, 200);
    // Settings reach the collector within a second (a cached copy).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    age(&db, &recent, 7).await;
    s.wait_collector_runs(3).await;
    assert_eq!(outbound_state(&db, &recent).await.as_deref(), Some("sent"), "off: nothing is purged");
    s.stop().await;
}

/// A host serving one file to those with the right credentials.
async fn file_host(file: Vec<u8>) -> String {
    use axum::http::{HeaderMap, StatusCode, header};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let expected =
        format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "corp:s3cret"));
    let app = axum::Router::new().route(
        "/private/picture.png",
        axum::routing::get(move |headers: HeaderMap| {
            let (file, expected) = (file.clone(), expected.clone());
            async move {
                let authorised = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&expected);
                if authorised {
                    (StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], file)
                } else {
                    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/plain")], b"who are you?".to_vec())
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/private/picture.png")
}

async fn media_providers_fetch_links_with_credentials(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    let auth = Auth::Bearer(&token);
    s.use_receiver(&token).await;
    let png = files::png(32, 32, 11);
    let link = file_host(png.clone()).await;
    let path = "/v1/settings/application/media/providers";

    let good =
        json!([{"name": "corp", "type": "www", "config": {"basic": {"username": "corp", "password": "s3cret"}}}]);
    assert_eq!(s.call(Method::POST, path, auth, Some(good.clone())).await.status, 200);
    let a = s.call(Method::GET, path, auth, None).await;
    let listed = a.body.pointer("/settings/application/media/providers").unwrap().clone();
    assert_eq!(listed[0]["name"], "corp", "{listed}");
    assert!(!listed.to_string().contains("s3cret"), "secrets are masked: {listed}");
    let two = json!([good[0], good[0]]);
    s.call(Method::POST, path, auth, Some(two)).await.assert_error(400, 1009);
    let no_config = json!([{"name": "x", "type": "www"}]);
    s.call(Method::POST, path, auth, Some(no_config)).await.assert_error(400, 1008);

    // Cloud cannot log in to the host: the coreapp fetches the file and
    // sends it as an upload.
    let image = json!({"to": "15550003001", "type": "image",
        "image": {"link": link, "provider": {"name": "corp"}, "caption": "private"}});
    send(&s, &token, image).await;
    let sent = s.cloud_payload_for("15550003001").await;
    assert!(sent["image"].get("link").is_none(), "{sent}");
    let cloud_id = sent["image"]["id"].as_str().unwrap_or_else(|| panic!("sent by id: {sent}"));
    let info = s.cloud_get(&format!("{cloud_id}?phone_number_id={PHONE_NUMBER_ID}")).await;
    assert_eq!(info["sha256"], hex::encode(sha2::Sha256::digest(&png)), "Cloud got the host's bytes: {info}");

    // Wrong credentials, or a provider nobody configured: a failed status.
    let wrong = json!([{"name": "corp", "type": "www", "config": {"basic": {"username": "corp", "password": "nope"}}}]);
    assert_eq!(s.call(Method::POST, path, auth, Some(wrong)).await.status, 200);
    let refused = send(
        &s,
        &token,
        json!({"to": "15550003002", "type": "image",
        "image": {"link": link, "provider": {"name": "corp"}}}),
    )
    .await;
    let unknown = send(
        &s,
        &token,
        json!({"to": "15550003003", "type": "image",
        "image": {"link": link, "provider": {"name": "nobody"}}}),
    )
    .await;
    for id in [refused, unknown] {
        let st = s
            .receiver
            .wait_for(WAIT, |v| v["statuses"][0]["id"] == id.as_str() && v["statuses"][0]["status"] == "failed")
            .await;
        assert!(st["statuses"][0]["errors"][0]["code"].is_number(), "{st}");
    }

    assert_eq!(s.call(Method::DELETE, &format!("{path}/corp"), auth, None).await.status, 200);
    s.call(Method::DELETE, &format!("{path}/corp"), auth, None).await.assert_error(404, 1006);
    s.stop().await;
}

/// The old client's routes, as documented (`webapp/tests/data/onprem-routes.txt`).
fn old_routes() -> Vec<(Method, String)> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../webapp/tests/data/onprem-routes.txt");
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    let routes: Vec<(Method, String)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (method, path) = l.split_once(' ').unwrap_or_else(|| panic!("not METHOD PATH: {l}"));
            (method.parse().unwrap_or_else(|_| panic!("bad method in {l}")), path.trim().to_string())
        })
        .collect();
    assert!(routes.len() >= 60, "the list lost most routes: {}", routes.len());
    routes
}

/// Every documented route of the old client, called as a client would
/// (placeholders filled in, an empty JSON object as the body), answers
/// from a handler: never the router's 404 or a 405. Retired features
/// answer 403/1005 with the reason.
async fn every_route_of_the_old_client_is_served_or_retired(engine: Engine) {
    let s = Stack::start(engine).await;
    let token = s.admin_token().await;
    for (method, template) in old_routes() {
        let path = template
            .replace("{id}", "inventory-1")
            .replace("{index}", "0")
            .replace("{wa_id}", "15550009999")
            .replace("{name}", "nobody");
        assert!(!path.contains('{'), "a placeholder this test does not fill: {template}");
        // Logging out would end the token the other calls use.
        let own = if path == "/v1/users/logout" { s.admin_token().await } else { token.clone() };
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let a = s.call(method.clone(), &path, Auth::Bearer(&own), body).await;
        let route = format!("{method} {template}");
        assert_ne!(a.status, 405, "{route}: {}", a.body);
        let details = a.body.pointer("/errors/0/details").and_then(Value::as_str).unwrap_or_default();
        assert!(!(a.status == 404 && details == "URL path not found"), "{route} is not routed: {}", a.body);
        if template.starts_with("/v1/groups") || template.starts_with("/v1/stickerpacks") {
            a.assert_error(403, 1005);
            assert!(details.contains("retired"), "{route} says why: {}", a.body);
        }
        let json = a.headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if json {
            assert!(a.body.get("meta").is_some() || a.body.get("errors").is_some(), "{route}: {}", a.body);
        }
    }
    s.stop().await;
}

fn media_id(a: &e2e::Answer) -> String {
    assert_eq!(a.status, 201, "upload: {}", a.body);
    a.body.pointer("/media/0/id").and_then(Value::as_str).expect("a media id").to_string()
}

/// `PUT /v1/services/{message,media}/gc`: the collector runs at once with
/// the periodic rules (whatever the switches say), the answer says it is
/// processing, and the result reaches the business as a `services` webhook.
async fn garbage_collection_on_request(engine: Engine) {
    let options = Options { media_retention: Duration::from_secs(2), ..Options::default() };
    let s = Stack::start_with(engine, options).await;
    let token = s.admin_token().await;
    let auth = Auth::Bearer(&token);
    s.use_receiver(&token).await;
    let off = json!({"garbagecollector_enable": {"messages": false, "media": false}});
    assert_eq!(s.call(Method::PATCH, "/v1/settings/application", auth, Some(off)).await.status, 200);

    let db = s.db().await;
    let old = send(&s, &token, json!({"to": "15550004101", "text": {"body": "last week"}})).await;
    let recent = send(&s, &token, json!({"to": "15550004102", "text": {"body": "today"}})).await;
    for id in [&old, &recent] {
        s.wait_until(WAIT, || async { outbound_state(&db, id).await.as_deref() == Some("sent") }).await.unwrap();
    }
    age(&db, &old, 8).await;
    let stale = media_id(&s.upload(&token, Some("application/pdf"), files::pdf(4_000, 61)).await);

    // Only the admin may.
    let (user, password) = ("gc-user", "Str0ng-enough!");
    let created = json!({"username": user, "password": password});
    assert_eq!(s.call(Method::POST, "/v1/users", auth, Some(created)).await.status, 201);
    let user_token = s.login(user, password, None).await.token();
    s.call(Method::PUT, "/v1/services/message/gc", Auth::Bearer(&user_token), None).await.assert_error(403, 1005);
    s.call(Method::PUT, "/v1/services/media/gc", Auth::None, None).await.assert_error(401, 1005);

    let a = s.call(Method::PUT, "/v1/services/message/gc", auth, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["services"], json!({"message": {"gc": {"status": "processing"}}}));
    let hook = s.receiver.wait_for(WAIT, |v| v.pointer("/services/0/message/gc").is_some()).await;
    let gc = &hook["services"][0]["message"]["gc"];
    assert_eq!(gc["status"], "complete", "{hook}");
    assert!(gc["messages_deleted"].as_u64().is_some_and(|n| n >= 1), "{hook}");
    assert_eq!(outbound_state(&db, &old).await, None, "the week-old message went");
    assert_eq!(outbound_state(&db, &recent).await.as_deref(), Some("sent"), "today's stays");

    // The media collector: the upload is past the retention.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fresh = media_id(&s.upload(&token, Some("application/pdf"), files::pdf(4_000, 62)).await);
    let a = s.call(Method::PUT, "/v1/services/media/gc", auth, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["services"], json!({"media": {"gc": {"status": "processing"}}}));
    let hook = s.receiver.wait_for(WAIT, |v| v.pointer("/services/0/media/gc").is_some()).await;
    assert_eq!(hook["services"][0]["media"]["gc"], json!({"items_deleted": 1, "status": "complete"}), "{hook}");
    assert_eq!(s.download(&token, &stale).await.0, 404);
    assert_eq!(s.download(&token, &fresh).await.0, 200);
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

async fn plain_http_when_tls_is_off(engine: Engine) {
    let s = Stack::start_with(engine, Options { tls: false, ..Options::default() }).await;
    assert!(s.webs[0].starts_with("http://"));
    let a = s.call(Method::GET, "/v1/health", Auth::ApiKey(API_KEY), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.peer_certificate.is_none());
    s.stop().await;
}
