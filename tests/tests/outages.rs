//! The database going away and coming back, as routine operations do it
//! (an upgrade, a crash, a failover), on a private MariaDB or PostgreSQL
//! server of the test's own, and SQLite's file locked by another process:
//! - during the outage, sends and Cloud webhooks are refused at once with
//!   the documented error (500/1023 for the API, a non-2xx for Cloud, which
//!   then retries), and health says the database is not reachable;
//! - once the database answers again, the coreapp serves within seconds,
//!   with no restart, and nothing accepted before the outage is lost:
//!   every message reaches `read` at the business, every user message
//!   arrives;
//! - a database that comes back under the same name at another address is
//!   followed (the name is resolved again for every new connection).

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::servers::PrivateServer;
use e2e::{Auth, Engine, Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};

/// Generous bounds on failure behaviour (ten times what is expected).
const RECOVERY_BOUND: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(60);

async fn send(s: &Stack, token: &str, to: &str, body: &str) -> e2e::Answer {
    let message = json!({"to": to, "text": {"body": body}});
    s.call(Method::POST, "/v1/messages", Auth::Bearer(token), Some(message)).await
}

fn message_id(a: &e2e::Answer) -> String {
    a.body["messages"][0]["id"].as_str().expect("a message id").to_string()
}

/// Waits until the business got `read` for each of `ids`.
async fn all_read(s: &Stack, ids: &[String]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = s.receiver.received();
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| {
                !got.iter().any(|v| {
                    v["statuses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|st| st["id"] == id.as_str() && st["status"] == "read")
                })
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} messages never reached read: {missing:?}",
            missing.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn health(s: &Stack, token: &str) -> Value {
    s.call(Method::GET, "/v1/health", Auth::Bearer(token), None).await.body
}

fn says_database_unreachable(health: &Value) -> bool {
    health.to_string().contains("Database is not reachable")
}

/// Sends until one is accepted; returns how long that took.
async fn until_accepted(s: &Stack, token: &str, to: &str) -> (Duration, String) {
    let start = Instant::now();
    loop {
        let a = send(s, token, to, "back").await;
        if a.status == 201 {
            return (start.elapsed(), message_id(&a));
        }
        assert!(
            start.elapsed() < RECOVERY_BOUND,
            "no send accepted {RECOVERY_BOUND:?} after the database returned: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn database_restart(engine: Engine, crash: bool) {
    let mut server = PrivateServer::start(engine).expect("a private database server");
    let options = Options { db: Some(server.config("outage_")), ..Options::default() };
    let s = Stack::start_with(engine, options).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;

    let mut accepted = Vec::new();
    for i in 0..5 {
        let a = send(&s, &token, "15557200001", &format!("before {i}")).await;
        assert_eq!(a.status, 201, "{}", a.body);
        accepted.push(message_id(&a));
    }

    if crash {
        server.kill()
    } else {
        server.stop()
    }

    // Refused at once, with the database error; nothing stored.
    let outage = Instant::now();
    for i in 0..10 {
        let a = send(&s, &token, "15557200002", &format!("during {i}")).await;
        a.assert_error(500, 1023);
    }
    let refusing = outage.elapsed();
    assert!(refusing < Duration::from_secs(25), "10 refused sends took {refusing:?}: each waited for the pool");
    // A user writes meanwhile: Cloud's webhook is refused, so Cloud keeps it.
    let wamid = s.user_sends(json!({"from": "15557200003", "type": "text", "text": {"body": "while down"}})).await;
    let signed = json!({"object": "whatsapp_business_account", "entry": [{"id": "200000000000001", "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550001111", "phone_number_id": e2e::PHONE_NUMBER_ID},
                  "contacts": [{"profile": {"name": "U"}, "wa_id": "15557200005"}],
                  "messages": [{"from": "15557200005", "id": "wamid.OUTAGE1", "timestamp": "1790000000",
                                "type": "text", "text": {"body": "signed while down"}}]}}]}]});
    let status = s.cloud_posts(&signed).await;
    assert!(status.is_server_error(), "Cloud's webhook must get a non-2xx to be retried, got {status}");
    let h = health(&s, &token).await;
    assert!(says_database_unreachable(&h), "health during the outage: {h}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    server.start_again().expect("the server starts again");
    let (recovered_in, id) = until_accepted(&s, &token, "15557200004").await;
    println!(
        "outage: 10 sends refused in {refusing:?}; the first send accepted {recovered_in:?} after the database returned"
    );
    accepted.push(id);
    for i in 0..20 {
        let a = send(&s, &token, "15557200004", &format!("after {i}")).await;
        assert_eq!(a.status, 201, "every send after the recovery is accepted: {}", a.body);
        accepted.push(message_id(&a));
    }

    // Cloud retries the webhook it could not hand over.
    assert_eq!(s.cloud_posts(&signed).await, 200);
    all_read(&s, &accepted).await;
    for body in ["while down", "signed while down"] {
        s.receiver.wait_for(WAIT, |v| v["messages"][0]["text"]["body"] == body).await;
    }
    let inbound = s.receiver.received().iter().filter(|v| v["messages"][0]["text"]["body"] == "while down").count();
    assert_eq!(inbound, 1, "the user message ({wamid}) arrives once");
    let deadline = Instant::now() + RECOVERY_BOUND;
    while says_database_unreachable(&health(&s, &token).await) {
        assert!(Instant::now() < deadline, "health still says the database is not reachable");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_clean_restart_is_survived() {
    database_restart(Engine::Mysql, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_crash_and_restart_is_survived() {
    database_restart(Engine::Mysql, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_clean_restart_is_survived() {
    database_restart(Engine::Pgsql, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_crash_and_restart_is_survived() {
    database_restart(Engine::Pgsql, true).await;
}

/// SQLite's outage: another process holds the file's write lock longer
/// than the busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_file_is_survived() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    let s = Stack::start(Engine::Sqlite).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let first = send(&s, &token, "15557300001", "before").await;
    assert_eq!(first.status, 201, "{}", first.body);
    let mut accepted = vec![message_id(&first)];

    let path = match s.core_config(0).db {
        coreapp::config::DbConfig::Sqlite { path } => path,
        _ => panic!("the stack runs on SQLite"),
    };
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut conn = diesel::SqliteConnection::establish(&path.display().to_string()).expect("open the file");
        conn.batch_execute("PRAGMA busy_timeout = 30000; BEGIN EXCLUSIVE;").expect("take the write lock");
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(120));
        conn.batch_execute("COMMIT;").expect("release the lock");
    });
    locked_rx.recv().unwrap();

    // The first write waits out the busy timeout; the ones after it are
    // refused at once.
    let first_refusal = send(&s, &token, "15557300002", "during").await;
    first_refusal.assert_error(500, 1023);
    let start = Instant::now();
    for i in 0..10 {
        send(&s, &token, "15557300002", &format!("during {i}")).await.assert_error(500, 1023);
    }
    let refusing = start.elapsed();
    assert!(refusing < Duration::from_secs(25), "10 refused sends took {refusing:?}");

    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let (recovered_in, id) = until_accepted(&s, &token, "15557300003").await;
    println!("locked file: 10 sends refused in {refusing:?}; first send accepted {recovered_in:?} after the lock went");
    accepted.push(id);
    for i in 0..10 {
        let a = send(&s, &token, "15557300003", &format!("after {i}")).await;
        assert_eq!(a.status, 201, "{}", a.body);
        accepted.push(message_id(&a));
    }
    all_read(&s, &accepted).await;
    s.stop().await;
}

/// A coreapp process whose `/etc/hosts` is a file of the test's, in a mount
/// namespace of its own (`unshare`, as root): the test moves the database's
/// name to another address as a failover would.
struct NamedCoreapp {
    child: Child,
    addr: String,
    hosts: tempfile::NamedTempFile,
}

impl NamedCoreapp {
    fn start(server: &PrivateServer, at: IpAddr, cluster: &std::path::Path, media: &std::path::Path) -> NamedCoreapp {
        let hosts = tempfile::NamedTempFile::new().unwrap();
        write_hosts(hosts.path(), at);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let script = "mount --bind \"$WA_TEST_HOSTS\" /etc/hosts && exec \"$0\" coreapp";
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", script, env!("CARGO_BIN_EXE_e2e-host")])
            .envs(e2e::db_env(&server.config("moved_")))
            .env("WA_TEST_HOSTS", hosts.path())
            .env("WA_CORE_LISTEN", &addr)
            .env("WA_NODE_ID", "named-core")
            .env("WA_DB_HOSTNAME", "database.wa-test")
            .env("WA_MEDIA_DIR", media)
            .env("WA_CLOUD_BASE_URL", "http://127.0.0.1:9")
            .env("WA_CLOUD_ACCESS_TOKEN", "unused")
            .env("WA_CLOUD_PHONE_NUMBER_ID", "100000000000001")
            .env("WA_CLUSTER_DIR", cluster)
            .env("RUST_LOG", std::env::var("WA_TEST_LOG").unwrap_or_else(|_| "off".into()))
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) starts the coreapp");
        NamedCoreapp { child, addr, hosts }
    }

    /// Rewrites the hosts file in place (the bind mount follows the file,
    /// not its name).
    fn point_name_at(&self, ip: IpAddr) {
        write_hosts(self.hosts.path(), ip);
    }

    /// The database error the coreapp's health reports, if any.
    async fn database_error(&self) -> Result<bool, String> {
        let mut client = e2e::core_client(&self.addr).await.map_err(|e| e.to_string())?;
        let reply = client.health(proto::core::Empty {}).await.map_err(|e| e.to_string())?.into_inner();
        Ok(reply.errors.iter().any(|e| e.code == 1023))
    }

    async fn until_database_answers(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the coreapp exited ({status})");
            }
            if self.database_error().await == Ok(false) {
                return start.elapsed();
            }
            assert!(start.elapsed() < within, "the coreapp did not reach the database within {within:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn write_hosts(path: &std::path::Path, database: IpAddr) {
    std::fs::write(path, format!("127.0.0.1 localhost\n{database} database.wa-test\n")).unwrap();
}

impl Drop for NamedCoreapp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_failover_that_moves_the_name_is_followed() {
    failover_that_moves_the_name(Engine::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_a_failover_that_moves_the_name_is_followed() {
    failover_that_moves_the_name(Engine::Pgsql).await;
}

async fn failover_that_moves_the_name(engine: Engine) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (first, second): (IpAddr, IpAddr) = ([127, 0, 0, 2].into(), [127, 0, 0, 3].into());
    let mut server = PrivateServer::start_on(engine, first).expect("a private database server");
    let config = server.config("moved_");
    tokio::task::spawn_blocking(move || coreapp::store::db::migrate(&config)).await.unwrap().expect("migrations");
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster");
    e2e::write_cluster_dir(&cluster);
    let mut core = NamedCoreapp::start(&server, first, &cluster, &dir.path().join("media"));
    core.until_database_answers(WAIT).await;

    // The database moves: the old address stops answering, the name now
    // points at the new one.
    server.move_to(second).expect("the server starts at its new address");
    core.point_name_at(second);
    // Every connection to the old address is gone with it: health passes
    // only once the coreapp has connected to the new one.
    let took = core.until_database_answers(RECOVERY_BOUND).await;
    println!("the moved database was reached {took:?} after the move");
    let mut client = e2e::core_client(&core.addr).await.unwrap();
    let login = proto::core::LoginRequest {
        username: "admin".into(),
        password: "secret".into(),
        new_password: "Moved#pass1".into(),
        client: "127.0.0.1".into(),
    };
    client.login(login).await.expect("a write through the new address");
}
