//! The stack under test: the binaries of sandbox, coreapp and webapp (the
//! ones built next to `bench`) as child processes on ephemeral loopback
//! ports, MariaDB as the database (a database of its own, dropped at the
//! end), and a receiver standing in for the business's webhook server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coreapp::config::DbConfig;
use coreapp::store::db::Db;
use coreapp::store::queue::{self, Queue};
use proto::core::core_client::CoreClient;
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};

pub const PNID: &str = "100000000000001";
/// A second number on the sandbox, not the stack's: the baseline sends from
/// it, so its status webhooks are dropped by the stack as not ours.
pub const BASELINE_PNID: &str = "100000000000002";
pub const CLOUD_TOKEN: &str = "sandbox-token";
const ADMIN_PASSWORD: &str = "Bench#pass1";

/// The database server the stacks of this run use (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Engine {
    /// MariaDB or MySQL (`WA_TEST_MYSQL_*`, default root@127.0.0.1:3306).
    #[default]
    Mysql,
    /// PostgreSQL (`WA_TEST_PGSQL_*`, default postgres@127.0.0.1:5432).
    Pgsql,
}

/// Chosen once, from the command line, for every stack of the run.
static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();

/// Sets the engine of the run (before the first stack starts).
pub fn use_engine(engine: Engine) {
    let _ = ENGINE.set(engine);
}

pub fn engine() -> Engine {
    ENGINE.get().copied().unwrap_or_default()
}

/// Which server of the engine the stacks use (`--db-server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DbServer {
    /// The machine's server (`WA_TEST_MYSQL_*`, `WA_TEST_PGSQL_*`).
    #[default]
    Shared,
    /// A private server started for the run (as the outage tests make
    /// them), plain TCP: the baseline of `private-tls`.
    Private,
    /// The same private server taking TLS clients only, reached with
    /// `WA_DB_SSL_MODE=VERIFY_FULL`: what TLS to the database costs.
    PrivateTls,
}

/// The private server of the run, when `--db-server` asks for one: every
/// stack gets a database of its own on it.
static PRIVATE: std::sync::OnceLock<DbConfig> = std::sync::OnceLock::new();

/// Points the run's stacks at `config`'s server (before the first starts).
pub fn use_private_server(config: DbConfig) {
    let _ = PRIVATE.set(config);
}

impl Engine {
    /// The name figures are printed under.
    pub fn label(self) -> &'static str {
        match self {
            Engine::Mysql => "MariaDB",
            Engine::Pgsql => "PostgreSQL",
        }
    }
}

pub struct Options {
    pub send_rate: u32,
    /// Sends per second Cloud (the sandbox) allows the number.
    pub cloud_throughput: u32,
    /// Coreapps sharing the database (each its own process).
    pub coreapps: usize,
    /// `WA_WORK_LEASE_S` of the coreapps.
    pub lease_s: u64,
    /// Plain gRPC between webapp and coreapps (loopback, no cluster
    /// credentials), to measure what mutual TLS costs; otherwise mutual
    /// TLS, as deployed.
    pub plain_link: bool,
    /// The database to use; `None`: a database of its own on the server
    /// the tests share (`WA_TEST_MYSQL_*` or `WA_TEST_PGSQL_*`, by
    /// [`engine`]). The soak passes its private server, the one it stops
    /// and restarts.
    pub db: Option<DbConfig>,
}

impl Options {
    pub fn new(send_rate: u32) -> Options {
        Options { send_rate, cloud_throughput: 100_000, coreapps: 1, lease_s: 60, plain_link: false, db: None }
    }
}

/// Counts the on-prem webhooks the business would receive, and for status
/// events keeps when each arrived (the webhooks scenario's latencies). It
/// can also play a failing server (refusing a share of POSTs) and keep
/// every POST it accepted (the soak's record of what reached the business).
#[derive(Clone, Default)]
pub struct Receiver {
    count: Arc<AtomicU64>,
    arrivals: Arc<std::sync::Mutex<Vec<(String, String, Instant)>>>,
    pub record: Arc<AtomicBool>,
    /// Share of POSTs answered 500, in millionths.
    refuse_ppm: Arc<AtomicU32>,
    refused: Arc<AtomicU64>,
    keep: Arc<AtomicBool>,
    kept: Arc<std::sync::Mutex<Vec<(Instant, Value)>>>,
}

impl Receiver {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// (message id, status, arrival) of every status event since the last call.
    pub fn take_arrivals(&self) -> Vec<(String, String, Instant)> {
        std::mem::take(&mut *self.arrivals.lock().expect("arrivals lock"))
    }

    /// Answers this share of POSTs (0 to 1) with HTTP 500 from now on, as a
    /// business server that fails now and then; 0 accepts every POST.
    pub fn refuse(&self, share: f64) {
        self.refuse_ppm.store((share.clamp(0.0, 1.0) * 1e6) as u32, Ordering::Relaxed);
    }

    /// POSTs answered 500 so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Keeps the body of every POST accepted from now on.
    pub fn keep_bodies(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    /// The bodies accepted (answered 200) since `keep_bodies`, with when each
    /// arrived, oldest first.
    pub fn kept(&self) -> Vec<(Instant, Value)> {
        self.kept.lock().expect("kept lock").clone()
    }

    fn take(&self, body: &[u8]) -> (axum::http::StatusCode, &'static str) {
        let now = Instant::now();
        let ppm = self.refuse_ppm.load(Ordering::Relaxed);
        if ppm > 0 && rand::random_range(0..1_000_000) < ppm {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "refused");
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let parsed = || serde_json::from_slice::<Value>(body).ok();
        if self.record.load(Ordering::Relaxed)
            && let Some(v) = parsed()
        {
            let mut arrivals = self.arrivals.lock().expect("arrivals lock");
            for st in v["statuses"].as_array().into_iter().flatten() {
                let id = st["id"].as_str().unwrap_or_default().to_string();
                arrivals.push((id, st["status"].as_str().unwrap_or_default().to_string(), now));
            }
        }
        if self.keep.load(Ordering::Relaxed) {
            let v = parsed().unwrap_or(Value::Null);
            self.kept.lock().expect("kept lock").push((now, v));
        }
        (axum::http::StatusCode::OK, "ok")
    }
}

/// How to start one process of the stack, kept to start it again.
struct Spec {
    name: &'static str,
    program: &'static str,
    env: Vec<(&'static str, String)>,
}

/// A stack dropped without [`Stack::stop`] (a scenario that failed) takes
/// its processes with it: left running, they would load the runs after it.
impl Drop for Stack {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Stack {
    pub web: String,
    pub sandbox: String,
    pub http: reqwest::Client,
    pub receiver: Receiver,
    receiver_url: String,
    specs: Vec<Spec>,
    children: Vec<(&'static str, Child)>,
    /// The coreapps' gRPC addresses (`host:port`), in order.
    core_addrs: Vec<String>,
    /// The internal link's credentials; `None` for plain gRPC.
    cluster: Option<PathBuf>,
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
        bail!("{} is missing: build the binaries first (scripts/bench does)", path.display());
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
        let db_config = match options.db {
            Some(config) => config,
            None if PRIVATE.get().is_some() => {
                let mut config = PRIVATE.get().cloned().expect("checked");
                if let DbConfig::Mysql(server) | DbConfig::Pgsql(server) = &mut config {
                    server.name_prefix = format!("bench{}_", wire::ids::random_hex(4));
                }
                config
            }
            None => {
                let (name, port, user) = match engine() {
                    Engine::Mysql => ("MYSQL", "3306", "root"),
                    Engine::Pgsql => ("PGSQL", "5432", "postgres"),
                };
                let server = coreapp::config::ServerDb {
                    host: env_or(&format!("WA_TEST_{name}_HOST"), "127.0.0.1"),
                    port: env_or(&format!("WA_TEST_{name}_PORT"), port).parse()?,
                    username: env_or(&format!("WA_TEST_{name}_USER"), user),
                    password: env_or(&format!("WA_TEST_{name}_PASSWORD"), ""),
                    name_prefix: format!("bench{}_", wire::ids::random_hex(4)),
                    tls: Default::default(),
                };
                match engine() {
                    Engine::Mysql => DbConfig::Mysql(server),
                    Engine::Pgsql => DbConfig::Pgsql(server),
                }
            }
        };
        let migrate_config = db_config.clone();
        tokio::task::spawn_blocking(move || coreapp::store::db::migrate(&migrate_config)).await??;
        let db_for_pool = db_config.clone();
        let db = tokio::task::spawn_blocking(move || Db::connect(&db_for_pool, 2)).await??;

        let receiver = Receiver::default();
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let r = r.clone();
                async move { r.take(&body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let receiver_url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (sandbox_port, web_port) = (free_port(), free_port());
        let core_ports: Vec<u16> = (0..options.coreapps.max(1)).map(|_| free_port()).collect();
        let sandbox = format!("http://127.0.0.1:{sandbox_port}");
        let web = format!("https://127.0.0.1:{web_port}");
        let (db_engine, server) = match &db_config {
            DbConfig::Mysql(server) => ("MYSQL", server),
            DbConfig::Pgsql(server) => ("PGSQL", server),
            DbConfig::Sqlite { .. } => anyhow::bail!("the bench runs on a database server"),
        };
        let (db_host, db_port, db_user, db_password, db_prefix) = (
            server.host.clone(),
            server.port.to_string(),
            server.username.clone(),
            server.password.clone(),
            server.name_prefix.clone(),
        );
        // The internal link runs mutual TLS, as deployed.
        let cluster_dir = dir.join("cluster");
        let roles = [proto::cluster::Role::Coreapp, proto::cluster::Role::Webapp];
        coreapp::cluster::write(&cluster_dir, &cluster_dir, &roles, 30, false)?;
        let cluster = cluster_dir.display().to_string();
        let mut specs = Vec::new();
        let sandbox_env = vec![
            ("WA_SANDBOX_LISTEN", format!("127.0.0.1:{sandbox_port}")),
            ("WA_SANDBOX_WEBHOOK_URL", format!("{web}/cloud/webhooks")),
            ("WA_SANDBOX_STATUS_DELAY_MS", "100".into()),
            ("WA_SANDBOX_PHONE_NUMBER_IDS", format!("{PNID},{BASELINE_PNID}")),
            ("WA_SANDBOX_THROUGHPUT", options.cloud_throughput.to_string()),
            ("RUST_LOG", "warn".into()),
        ];
        specs.push(Spec { name: "sandbox", program: "sandbox", env: sandbox_env });
        for (i, core_port) in core_ports.iter().enumerate() {
            let core_env = vec![
                ("WA_CORE_LISTEN", format!("127.0.0.1:{core_port}")),
                ("WA_NODE_ID", format!("bench-core-{}", i + 1)),
                ("WA_WORK_LEASE_S", options.lease_s.to_string()),
                ("WA_DB_ENGINE", db_engine.into()),
                ("WA_DB_HOSTNAME", db_host.clone()),
                ("WA_DB_PORT", db_port.clone()),
                ("WA_DB_USERNAME", db_user.clone()),
                ("WA_DB_PASSWORD", db_password.clone()),
                ("WA_DB_NAME_PREFIX", db_prefix.clone()),
                ("WA_DB_SSL_MODE", server.tls.mode.as_str().into()),
                ("WA_DB_SSL_CA", server.tls.ca.display().to_string()),
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
            specs.push(Spec { name, program: "coreapp", env: core_env });
        }
        let core_addrs: Vec<String> = core_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let web_env = vec![
            ("WA_WEB_LISTEN", format!("127.0.0.1:{web_port}")),
            ("WA_CORE_ADDRS", core_addrs.join(",")),
            ("WA_CLUSTER_DIR", if options.plain_link { String::new() } else { cluster.clone() }),
            ("WA_CLOUD_APP_SECRET", "sandbox-app-secret".into()),
            ("WA_CLOUD_VERIFY_TOKEN", "sandbox-verify-token".into()),
            ("RUST_LOG", "warn".into()),
        ];
        specs.push(Spec { name: "webapp", program: "webapp", env: web_env });
        let mut children = Vec::new();
        for spec in &specs {
            children.push((spec.name, spec.spawn(&dir)?));
        }

        let http =
            reqwest::Client::builder().danger_accept_invalid_certs(true).timeout(Duration::from_secs(30)).build()?;
        let mut stack = Stack {
            web,
            sandbox,
            http,
            receiver,
            receiver_url,
            specs,
            children,
            core_addrs,
            cluster: (!options.plain_link).then_some(cluster_dir),
            db,
            db_config,
            _dir: dir,
        };
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

    /// Starts a process killed with [`Stack::kill`] again, as it was first
    /// started (same ports, same node id, its log appended to).
    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let spec = self.specs.iter().find(|s| s.name == name).with_context(|| format!("no process {name}"))?;
        let child = spec.spawn(&self._dir)?;
        match self.children.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = child,
            None => self.children.push((spec.name, child)),
        }
        Ok(())
    }

    /// The names of the coreapps, in the order of [`Stack::core_client`].
    pub fn coreapps(&self) -> Vec<&'static str> {
        self.specs.iter().filter(|s| s.program == "coreapp").map(|s| s.name).collect()
    }

    /// A gRPC client of coreapp `i` (of [`Stack::coreapps`]) holding the
    /// webapp's credentials, as a webapp would; it connects on first use,
    /// and again after the coreapp was restarted. Calls time out after 5 s.
    pub fn core_client(&self, i: usize) -> anyhow::Result<CoreClient<Channel>> {
        let addr = self.core_addrs.get(i).context("no such coreapp")?;
        let endpoint = match &self.cluster {
            Some(dir) => {
                let credentials = proto::cluster::Credentials::load(dir, proto::cluster::Role::Webapp)?;
                Endpoint::from_shared(format!("https://{addr}"))?.tls_config(credentials.client_tls())?
            }
            None => Endpoint::from_shared(format!("http://{addr}"))?,
        };
        let endpoint = endpoint.connect_timeout(Duration::from_secs(2)).timeout(Duration::from_secs(5));
        Ok(CoreClient::new(endpoint.connect_lazy()))
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

    /// The database's configuration, for a scenario that needs a pool of
    /// its own (after a database restart, say).
    pub fn db_config(&self) -> &DbConfig {
        &self.db_config
    }

    async fn count(&self, state: queue::State) -> anyhow::Result<i64> {
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

    /// Whether the sandbox has no status lifecycle or webhook under way.
    pub async fn sandbox_idle(&self) -> anyhow::Result<bool> {
        let stats: Value = self.http.get(format!("{}/_sandbox/stats", self.sandbox)).send().await?.json().await?;
        Ok(stats["pending"]["tasks"] == 0 && stats["pending"]["webhook_items"] == 0)
    }

    pub async fn wait_queue_empty(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        while self.count(queue::State::Pending).await? > 0 {
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
            let count = |state: queue::State| {
                let db = db.clone();
                async move { db.run(move |c| Ok(queue::count_in_state(c, Queue::Outbound, state)?)).await.unwrap_or(0) }
            };
            let mut samples: Vec<(Instant, i64)> = Vec::new();
            let mut seen_backlog = false;
            loop {
                let (sent, pending) = (count(queue::State::Sent).await, count(queue::State::Pending).await);
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

    /// The last `lines` lines of a process's log (`coreapp-1`, `webapp`, ...)
    /// that contain none of `skip` (the faults a run injects on purpose),
    /// for a failed run's report.
    pub fn log_tail(&self, name: &str, lines: usize, skip: &[&str]) -> String {
        let text = std::fs::read_to_string(self._dir.join(format!("{name}.log"))).unwrap_or_default();
        let all: Vec<&str> = text.lines().filter(|l| !skip.iter().any(|s| l.contains(s))).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn stop(mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let config = self.db_config.clone();
        let _ = tokio::task::spawn_blocking(move || coreapp::store::db::drop_server_database(&config)).await;
        if std::env::var_os("WA_BENCH_KEEP_LOGS").is_some() {
            println!("logs kept in {}", self._dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self._dir);
        }
    }
}

impl Spec {
    /// Starts the binary; its log (tracing writes to stdout) goes to
    /// `<name>.log` in `dir`, appended to when it is started again.
    fn spawn(&self, dir: &Path) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{}.log", self.name)))?;
        Command::new(binary(self.program)?)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.name))
    }
}
