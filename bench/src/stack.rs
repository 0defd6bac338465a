//! The stack under test: the release binaries of sandbox, coreapp and
//! webapp as child processes on ephemeral loopback ports, MariaDB as the
//! database (a database of its own, dropped at the end), and a receiver
//! standing in for the business's webhook server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coreapp::config::DbConfig;
use coreapp::db::Db;
use coreapp::store::queue::{self, Queue};
use serde_json::{Value, json};

pub const PNID: &str = "100000000000001";
/// A second number on the sandbox, not the stack's: the baseline sends from
/// it, so its status webhooks are dropped by the stack as not ours.
pub const BASELINE_PNID: &str = "100000000000002";
pub const CLOUD_TOKEN: &str = "sandbox-token";
const ADMIN_PASSWORD: &str = "Bench#pass1";

pub struct Options {
    pub send_rate: u32,
    /// Coreapps sharing the database (each its own process).
    pub coreapps: usize,
    /// `WA_WORK_LEASE_S` of the coreapps.
    pub lease_s: u64,
    /// Plain gRPC between webapp and coreapps (loopback, no cluster
    /// credentials), to measure what mutual TLS costs; otherwise mutual
    /// TLS, as deployed.
    pub plain_link: bool,
}

impl Options {
    pub fn new(send_rate: u32) -> Options {
        Options { send_rate, coreapps: 1, lease_s: 60, plain_link: false }
    }
}

/// Counts the on-prem webhooks the business would receive, and for status
/// events keeps when each arrived (the webhooks scenario's latencies).
#[derive(Clone, Default)]
pub struct Receiver {
    count: Arc<AtomicU64>,
    arrivals: Arc<std::sync::Mutex<Vec<(String, String, Instant)>>>,
    pub record: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// (message id, status, arrival) of every status event since the last call.
    pub fn take_arrivals(&self) -> Vec<(String, String, Instant)> {
        std::mem::take(&mut *self.arrivals.lock().expect("arrivals lock"))
    }
}

pub struct Stack {
    pub web: String,
    pub sandbox: String,
    pub http: reqwest::Client,
    pub receiver: Receiver,
    receiver_url: String,
    children: Vec<(&'static str, Child)>,
    db: Db,
    db_config: DbConfig,
    _dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
}

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::current_exe()?.parent().context("bench has a folder")?.to_path_buf();
    let path = dir.join(name);
    if !path.exists() {
        bail!("{} is missing: build the release binaries first (scripts/bench does)", path.display());
    }
    Ok(path)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl Stack {
    pub async fn start(options: Options) -> anyhow::Result<Stack> {
        let dir = std::env::temp_dir().join(format!("wa-bench-{}", wire::ids::random_hex(4)));
        std::fs::create_dir_all(&dir)?;
        let db_config = DbConfig::Mysql {
            host: env_or("WA_TEST_MYSQL_HOST", "127.0.0.1"),
            port: env_or("WA_TEST_MYSQL_PORT", "3306").parse()?,
            username: env_or("WA_TEST_MYSQL_USER", "root"),
            password: env_or("WA_TEST_MYSQL_PASSWORD", ""),
            name_prefix: format!("bench{}_", wire::ids::random_hex(4)),
        };
        let migrate_config = db_config.clone();
        tokio::task::spawn_blocking(move || coreapp::db::migrate(&migrate_config)).await??;
        let db_for_pool = db_config.clone();
        let db = tokio::task::spawn_blocking(move || Db::connect(&db_for_pool, 2)).await??;

        let receiver = Receiver::default();
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    let now = Instant::now();
                    r.count.fetch_add(1, Ordering::Relaxed);
                    if r.record.load(Ordering::Relaxed)
                        && let Ok(v) = serde_json::from_slice::<Value>(&body)
                    {
                        let mut arrivals = r.arrivals.lock().expect("arrivals lock");
                        for st in v["statuses"].as_array().into_iter().flatten() {
                            let id = st["id"].as_str().unwrap_or_default().to_string();
                            arrivals.push((id, st["status"].as_str().unwrap_or_default().to_string(), now));
                        }
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let receiver_url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (sandbox_port, web_port) = (free_port(), free_port());
        let core_ports: Vec<u16> = (0..options.coreapps.max(1)).map(|_| free_port()).collect();
        let sandbox = format!("http://127.0.0.1:{sandbox_port}");
        let web = format!("https://127.0.0.1:{web_port}");
        let (db_host, db_port, db_user, db_password, db_prefix) = match &db_config {
            DbConfig::Mysql { host, port, username, password, name_prefix } => {
                (host.clone(), port.to_string(), username.clone(), password.clone(), name_prefix.clone())
            }
            DbConfig::Sqlite { .. } => unreachable!("the bench runs on MariaDB"),
        };
        let logs = |name: &str| -> anyhow::Result<std::fs::File> {
            Ok(std::fs::File::create(dir.join(format!("{name}.log")))?)
        };
        // The internal link runs mutual TLS, as deployed.
        let cluster = dir.join("cluster");
        let roles = [proto::cluster::Role::Coreapp, proto::cluster::Role::Webapp];
        coreapp::cluster::write(&cluster, &cluster, &roles, 30, false)?;
        let cluster = cluster.display().to_string();
        let mut children = Vec::new();
        let sandbox_env = [
            ("WA_SANDBOX_LISTEN", format!("127.0.0.1:{sandbox_port}")),
            ("WA_SANDBOX_WEBHOOK_URL", format!("{web}/cloud/webhooks")),
            ("WA_SANDBOX_STATUS_DELAY_MS", "100".into()),
            ("WA_SANDBOX_PHONE_NUMBER_IDS", format!("{PNID},{BASELINE_PNID}")),
            ("WA_SANDBOX_THROUGHPUT", "100000".into()),
            ("RUST_LOG", "warn".into()),
        ];
        children.push(("sandbox", spawn("sandbox", &sandbox_env, logs("sandbox")?)?));
        for (i, core_port) in core_ports.iter().enumerate() {
            let core_env = [
                ("WA_CORE_LISTEN", format!("127.0.0.1:{core_port}")),
                ("WA_NODE_ID", format!("bench-core-{}", i + 1)),
                ("WA_WORK_LEASE_S", options.lease_s.to_string()),
                ("WA_DB_ENGINE", "MYSQL".into()),
                ("WA_DB_HOSTNAME", db_host.clone()),
                ("WA_DB_PORT", db_port.clone()),
                ("WA_DB_USERNAME", db_user.clone()),
                ("WA_DB_PASSWORD", db_password.clone()),
                ("WA_DB_NAME_PREFIX", db_prefix.clone()),
                ("WA_DB_POOL_SIZE", "16".into()),
                ("WA_MEDIA_DIR", dir.join("media").display().to_string()),
                ("WA_CLOUD_BASE_URL", sandbox.clone()),
                ("WA_CLOUD_ACCESS_TOKEN", CLOUD_TOKEN.into()),
                ("WA_CLOUD_PHONE_NUMBER_ID", PNID.into()),
                ("WA_CLOUD_SEND_RATE", options.send_rate.to_string()),
                ("WA_CLUSTER_DIR", if options.plain_link { String::new() } else { cluster.clone() }),
                ("RUST_LOG", "warn".into()),
            ];
            let name: &'static str =
                ["coreapp-1", "coreapp-2", "coreapp-3", "coreapp-4"].get(i).copied().unwrap_or("coreapp-n");
            children.push((name, spawn("coreapp", &core_env, logs(name)?)?));
        }
        let core_addrs: Vec<String> = core_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let web_env = [
            ("WA_WEB_LISTEN", format!("127.0.0.1:{web_port}")),
            ("WA_CORE_ADDRS", core_addrs.join(",")),
            ("WA_CLUSTER_DIR", if options.plain_link { String::new() } else { cluster.clone() }),
            ("WA_CLOUD_APP_SECRET", "sandbox-app-secret".into()),
            ("WA_CLOUD_VERIFY_TOKEN", "sandbox-verify-token".into()),
            ("RUST_LOG", "warn".into()),
        ];
        children.push(("webapp", spawn("webapp", &web_env, logs("webapp")?)?));

        let http =
            reqwest::Client::builder().danger_accept_invalid_certs(true).timeout(Duration::from_secs(30)).build()?;
        let mut stack = Stack { web, sandbox, http, receiver, receiver_url, children, db, db_config, _dir: dir };
        stack.wait_ready().await?;
        Ok(stack)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.http.get(format!("{}/", self.web)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            for (name, child) in &mut self.children {
                if let Some(status) = child.try_wait()? {
                    bail!("{name} exited during start-up ({status}); see {}/{name}.log", self._dir.display());
                }
            }
            if Instant::now() > deadline {
                bail!("the stack did not come up within 60 s; logs in {}", self._dir.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Logs in as admin (changing the factory password) and points the
    /// business webhooks at the receiver.
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let login = self
            .http
            .post(format!("{}/v1/users/login", self.web))
            .basic_auth("admin", Some("secret"))
            .json(&json!({"new_password": ADMIN_PASSWORD}))
            .send()
            .await?
            .json::<Value>()
            .await?;
        let token = login.pointer("/users/0/token").and_then(Value::as_str).context("login gave no token")?.to_string();
        let patch = json!({"webhooks": {"url": self.receiver_url, "max_concurrent_requests": 24}});
        let r = self
            .http
            .patch(format!("{}/v1/settings/application", self.web))
            .bearer_auth(&token)
            .json(&patch)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("could not set the webhook URL: {}", r.text().await?);
        }
        Ok(token)
    }

    /// Kills one of the stack's processes with SIGKILL (no shutdown).
    pub fn kill(&mut self, name: &str) {
        if let Some((_, child)) = self.children.iter_mut().find(|(n, _)| *n == name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id of one of the stack's processes.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children.iter().find(|(n, _)| *n == name).map(|(_, c)| c.id())
    }

    /// A client for long transfers (no overall timeout).
    pub fn media_http(&self) -> reqwest::Client {
        reqwest::Client::builder().danger_accept_invalid_certs(true).build().expect("a client")
    }

    /// The database, for scenarios that seed rows.
    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn count(&self, state: &'static str) -> anyhow::Result<i64> {
        Ok(self.db.run(move |conn| Ok(queue::count_in_state(conn, Queue::Outbound, state)?)).await?)
    }

    /// Waits until no Cloud webhook and no on-prem event is pending.
    pub async fn wait_idle(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let (inbound, outbox) =
                self.db.run(|c| Ok((queue::depth(c, Queue::Inbound)?, queue::depth(c, Queue::Outbox)?))).await?;
            if inbound == 0 && outbox == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("webhooks still pending after {within:?}: {inbound} from Cloud, {outbox} to the business");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_queue_empty(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        while self.count(queue::PENDING).await? > 0 {
            if Instant::now() > deadline {
                bail!("the send queue did not empty within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Samples the number of messages Cloud accepted every 100 ms until the
    /// queue, once filled, is empty again; returns the best 1 s rate.
    pub fn watch_queue(&self, _since: Instant) -> tokio::task::JoinHandle<f64> {
        let db = self.db.clone();
        tokio::spawn(async move {
            let count = |state: &'static str| {
                let db = db.clone();
                async move { db.run(move |c| Ok(queue::count_in_state(c, Queue::Outbound, state)?)).await.unwrap_or(0) }
            };
            let mut samples: Vec<(Instant, i64)> = Vec::new();
            let mut seen_backlog = false;
            loop {
                let (sent, pending) = (count("sent").await, count(queue::PENDING).await);
                samples.push((Instant::now(), sent));
                seen_backlog |= pending > 0;
                if seen_backlog && pending == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let mut best = 0.0f64;
            for (i, (t, n)) in samples.iter().enumerate() {
                if let Some((t0, n0)) =
                    samples[..i].iter().rev().find(|(t0, _)| t.duration_since(*t0) >= Duration::from_secs(1))
                {
                    best = best.max((n - n0) as f64 / t.duration_since(*t0).as_secs_f64());
                }
            }
            best
        })
    }

    pub async fn stop(mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let config = self.db_config.clone();
        let _ = tokio::task::spawn_blocking(move || coreapp::db::drop_mysql_database(&config)).await;
        if std::env::var_os("WA_BENCH_KEEP_LOGS").is_some() {
            println!("logs kept in {}", self._dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self._dir);
        }
    }
}

/// Starts a binary; its log (tracing writes to stdout) goes to `log`.
fn spawn(name: &str, env: &[(&str, String)], log: std::fs::File) -> anyhow::Result<Child> {
    Command::new(binary(name)?)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {name}"))
}
