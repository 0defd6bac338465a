//! A coreapp killed with `kill -9` while sending loses no accepted message.
//!
//! A real coreapp process (`e2e-host coreapp`, the coreapp's own serving
//! code) runs as a child process between an in-process
//! sandbox (Cloud) and webapp (which hands Cloud's status webhooks back to
//! it). Messages are accepted over gRPC; once Cloud has seen a part of
//! them, the process is killed and started again on the same database.
//! Every accepted message must then reach `read`; a message that was in
//! flight at the kill may have been sent twice (the window the README
//! states), and the test prints how many were.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coreapp::config::DbConfig;
use proto::core::core_client::CoreClient;
use serde_json::{Value, json};

const PNID: &str = "100000000000001";
const MESSAGES: usize = 120;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Node {
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_e2e-host"));
        cmd.arg("coreapp");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(cmd.spawn().expect("start coreapp"));
    }

    /// SIGKILL: no shutdown, no cleanup, claims left as they were.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn connect(addr: &str) -> CoreClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(c) = e2e::core_client(addr).await {
            return c;
        }
        assert!(Instant::now() < deadline, "coreapp did not come up on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

async fn crash_and_resume(db: DbConfig) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    coreapp::store::db::migrate(&db).unwrap();
    let http = reqwest::Client::new();

    let core_addr = format!("127.0.0.1:{}", free_port());
    let web_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = format!("http://{}", web_l.local_addr().unwrap());
    let cloud = format!("http://{}", sandbox_l.local_addr().unwrap());

    let sandbox_config = sandbox::Config {
        webhook_url: Some(format!("{web}/cloud/webhooks")),
        status_delay: Duration::from_millis(20),
        ..sandbox::Config::default()
    };
    let secret = sandbox_config.app_secret.clone();
    tokio::spawn(sandbox::run(sandbox_config, sandbox_l, std::future::pending()));
    let web_config = webapp::Config {
        servername: "localhost".into(),
        tls: false,
        core_addrs: vec![core_addr.clone()],
        cluster: e2e::cluster_link(proto::cluster::Role::Webapp),
        api_key: None,
        version: "2.53.0".into(),
        cloud_app_secret: secret,
        cloud_verify_token: "v".into(),
        jwt_key: Some(b"crash-test-key-crash-test-key-00".to_vec()),
        revocation_poll: Duration::from_secs(2),
        messages_rps: 0,
        messages_burst: 0,
        edge: Default::default(),
    };
    tokio::spawn(webapp::run(web_config, web_l, std::future::pending()));

    let mut env = vec![
        ("WA_CORE_LISTEN", core_addr.clone()),
        ("WA_NODE_ID", "crash-node".into()),
        ("WA_MEDIA_DIR", dir.path().join("media").display().to_string()),
        ("WA_CLOUD_BASE_URL", cloud.clone()),
        ("WA_CLOUD_ACCESS_TOKEN", sandbox::Config::default().access_token),
        ("WA_CLOUD_PHONE_NUMBER_ID", PNID.into()),
        // Slow enough that the kill lands mid-stream.
        ("WA_CLOUD_SEND_RATE", "40".into()),
        ("RUST_LOG", "warn".into()),
        ("WA_CLUSTER_DIR", dir.path().join("cluster").display().to_string()),
    ];
    e2e::write_cluster_dir(&dir.path().join("cluster"));
    env.extend(e2e::db_env(&db));
    let mut node = Node { env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), child: None };
    node.start();
    let mut grpc = connect(&core_addr).await;
    let patch = wire::settings::SettingsPatch {
        webhook_url: Some(Some(format!("{cloud}/_sandbox/inbox"))),
        ..Default::default()
    };
    grpc.patch_settings(proto::settings::patch_to_proto(&patch)).await.unwrap();

    let mut accepted = HashMap::new();
    for i in 0..MESSAGES {
        let recipient = format!("1666{i:07}");
        let payload = json!({"to": recipient, "type": "text", "text": {"body": format!("crash-{i}")}});
        let message = wire::messages::validate(&payload).expect("a valid message").message;
        let message = Some(proto::messages::to_proto(&message));
        let request = proto::core::SendMessageRequest { message, recipient, ..Default::default() };
        let id = grpc.send_message(request).await.expect("accepted").into_inner().message_id;
        accepted.insert(id, i);
    }

    // Kill it once Cloud has seen a part of the stream.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent = get(&http, &format!("{cloud}/_sandbox/sent")).await["data"].as_array().map_or(0, Vec::len);
        if sent >= MESSAGES / 4 {
            break;
        }
        assert!(Instant::now() < deadline, "Cloud saw only {sent} messages");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.kill9();
    let at_kill = get(&http, &format!("{cloud}/_sandbox/sent")).await["data"].as_array().map_or(0, Vec::len);
    assert!(at_kill < MESSAGES, "the kill came after everything was sent ({at_kill}); nothing was tested");
    node.start();

    // Every accepted message reaches `read`.
    let deadline = Instant::now() + Duration::from_secs(60);
    let read = loop {
        let inbox = get(&http, &format!("{cloud}/_sandbox/inbox")).await;
        let read: HashSet<String> = inbox["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["body"]["statuses"].as_array().cloned().unwrap_or_default())
            .filter(|s| s["status"] == "read")
            .filter_map(|s| s["id"].as_str().map(String::from))
            .collect();
        if accepted.keys().all(|id| read.contains(id)) {
            break read;
        }
        if Instant::now() >= deadline {
            let missing: Vec<(&String, &usize)> = accepted.iter().filter(|(id, _)| !read.contains(*id)).collect();
            let seen: Vec<Value> = inbox["data"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|e| e["body"]["statuses"].as_array().cloned().unwrap_or_default())
                .filter(|s| missing.iter().any(|(id, _)| s["id"] == id.as_str()))
                .collect();
            let cloud: Vec<Value> = get(&http, &format!("{cloud}/_sandbox/sent")).await["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| missing.iter().any(|(_, i)| e["payload"]["text"]["body"] == format!("crash-{i}")))
                .cloned()
                .collect();
            panic!(
                "{} of {MESSAGES} accepted messages never reached read: {missing:?}; their statuses: {seen:?}; Cloud got: {cloud:?}",
                missing.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(accepted.keys().all(|id| read.contains(id)));

    let sent = get(&http, &format!("{cloud}/_sandbox/sent")).await;
    let mut per_body: HashMap<String, usize> = HashMap::new();
    for e in sent["data"].as_array().unwrap() {
        if let Some(b) = e["payload"]["text"]["body"].as_str() {
            *per_body.entry(b.to_string()).or_default() += 1;
        }
    }
    assert_eq!(per_body.len(), MESSAGES, "every message reached Cloud");
    let twice = per_body.values().filter(|n| **n > 1).count();
    eprintln!(
        "kill -9 after Cloud saw {at_kill}/{MESSAGES}: all {MESSAGES} reached read; {twice} sent twice (in flight at the kill)"
    );
    // The double-send window is the in-flight batch; it is bounded.
    assert!(twice <= 64, "{twice} messages were sent twice");
    if !matches!(db, DbConfig::Sqlite { .. }) {
        drop(node);
        coreapp::store::db::drop_server_database(&db).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_resume(DbConfig::Sqlite { path: dir.path().join("crash.db") }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_kill_9_loses_nothing() {
    crash_and_resume(e2e::mysql_config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_kill_9_loses_nothing() {
    crash_and_resume(coreapp::testing::pgsql_config()).await;
}
