//! Test harness: the real sandbox, coreapp and webapp, started through
//! their `run` functions on ephemeral ports, against MariaDB or SQLite, with
//! a webhook receiver standing in for the business's server.
//!
//! MySQL/MariaDB is found through `WA_TEST_MYSQL_HOST`, `WA_TEST_MYSQL_PORT`,
//! `WA_TEST_MYSQL_USER` and `WA_TEST_MYSQL_PASSWORD` (default
//! `root@127.0.0.1:3306`, no password); each stack gets its own database,
//! dropped at the end.

pub mod capture;
pub mod files;
pub mod mariadb;
pub mod payloads;
pub mod raw;
pub mod receiver;

/// Declares each listed scenario `async fn name(engine: Engine)` as two
/// tests, `mysql::name` and `sqlite::name`, so every end-to-end scenario
/// runs once on MariaDB and once on SQLite. The calling file imports
/// `Engine`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Engine::Mysql).await })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Engine::Sqlite).await })*
        }
    };
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use coreapp::config::{CloudConfig, DbConfig, LinkConfig, WorkerConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use capture::Capture;
pub use receiver::{PrivateCa, Receiver};

pub const PHONE_NUMBER_ID: &str = "100000000000001";
pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const API_KEY: &str = "test-monitoring-key";
pub const ADMIN_PASSWORD: &str = "Adm1n#pass";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Mysql,
    Sqlite,
}

/// A running process of the stack: how to stop it and its task.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(Ok(()))) => {}
            // Killed by the test (`kill_core`).
            Ok(Err(e)) if e.is_cancelled() => {}
            other => panic!("a process did not stop cleanly: {other:?}"),
        }
    }
}

/// What survives a restart: the database and the media folder.
struct Storage {
    db: DbConfig,
    dir: tempfile::TempDir,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if matches!(self.db, DbConfig::Mysql { .. }) {
            let _ = coreapp::db::drop_mysql_database(&self.db);
        }
    }
}

/// A whole stack: sandbox, one coreapp, one or more webapps, a receiver.
pub struct Stack {
    pub engine: Engine,
    pub http: reqwest::Client,
    /// `https://127.0.0.1:<port>` of each webapp.
    pub webs: Vec<String>,
    pub sandbox: String,
    pub receiver: Receiver,
    pub web_config: webapp::Config,
    /// gRPC addresses of the coreapps.
    pub cores: Vec<String>,
    options: Options,
    storage: Storage,
    processes: Vec<Running>,
    /// Index in `processes` of each coreapp.
    core_processes: Vec<usize>,
}

fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("WA_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// Credentials of the internal link for `role`, from one cluster CA made
/// once per test process: every stack talks mutual TLS, as deployed.
pub fn cluster_link(role: proto::cluster::Role) -> proto::cluster::LinkConfig {
    use proto::cluster::Role;
    static ISSUED: std::sync::OnceLock<(coreapp::cluster::Issued, coreapp::cluster::Issued)> =
        std::sync::OnceLock::new();
    let (core, web) = ISSUED.get_or_init(|| {
        let ca = coreapp::cluster::new_authority().expect("a cluster CA");
        let issue = |role| coreapp::cluster::issue(&ca, role, 30, &[]).expect("a cluster certificate");
        (issue(Role::Coreapp), issue(Role::Webapp))
    });
    let issued = if role == Role::Coreapp { core } else { web };
    proto::cluster::LinkConfig {
        credentials: Some(issued.credentials().expect("issued credentials check out")),
        insecure: false,
    }
}

/// Writes the test process's cluster credentials for `role` into `dir`
/// (a `WA_CLUSTER_DIR` for processes started as programs).
pub fn write_cluster_dir(dir: &std::path::Path) {
    use proto::cluster::Role;
    std::fs::create_dir_all(dir).expect("cluster dir");
    for role in [Role::Coreapp, Role::Webapp] {
        let link = cluster_link(role);
        let c = link.credentials.expect("credentials");
        let (cert, key) = role.files(dir);
        std::fs::write(dir.join(proto::cluster::CA_FILE), c.ca_pem()).unwrap();
        std::fs::write(cert, c.cert_pem()).unwrap();
        std::fs::write(key, c.key_pem()).unwrap();
    }
}

/// A gRPC client of the coreapp at `addr` (`host:port`), holding the
/// webapp's cluster credentials, as a webapp would.
pub async fn core_client(
    addr: &str,
) -> Result<proto::core::core_client::CoreClient<tonic::transport::Channel>, tonic::transport::Error> {
    let tls = cluster_link(proto::cluster::Role::Webapp).credentials.expect("credentials").client_tls();
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls)?.connect().await?;
    Ok(proto::core::core_client::CoreClient::new(channel))
}

/// The MySQL server the tests use; each stack gets a unique prefix.
pub fn mysql_config() -> DbConfig {
    coreapp::testing::mysql_config()
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port")
}

fn spawn<F>(f: impl FnOnce(oneshot::Receiver<()>) -> F) -> Running
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (stop, rx) = oneshot::channel();
    Running { stop, task: tokio::spawn(f(rx)) }
}

/// Stack knobs a test may change before start.
#[derive(Clone)]
pub struct Options {
    pub webapps: usize,
    /// Webapp `i` talks to coreapp `i % coreapps`; all share one database.
    pub coreapps: usize,
    pub tls: bool,
    pub login_failures_per_hour: u32,
    /// The token coreapps present to the sandbox.
    pub cloud_token: String,
    /// `POST /v1/messages` limit per webapp (0 = none).
    pub messages_rps: u32,
    /// Pending webhook events above which sends answer 1016.
    pub max_callback_backlog: i64,
    /// Timeout of one Cloud API request.
    pub cloud_timeout: Duration,
    /// How often the media garbage collector runs, and what it keeps.
    pub gc_interval: Duration,
    pub media_retention: Duration,
    /// Every webapp talks to every coreapp (else webapp `i` to coreapp
    /// `i % coreapps`).
    pub webapps_see_all_cores: bool,
    /// How long a claim holds before another node may take the work over.
    pub lease: Duration,
    /// Where provider links may be fetched (`WA_MEDIA_PROVIDER_HOSTS`,
    /// `WA_MEDIA_LINK_ALLOW`). By default, as the dev stack: providers
    /// without hosts of their own may fetch from `127.0.0.1` and
    /// `localhost`, and loopback is allowed explicitly, since every test
    /// server listens there.
    pub links: LinkConfig,
    /// The webapps' timeouts, connection cap and unauthenticated body budget.
    pub edge: webapp::config::EdgeLimits,
    /// A database of the test's own (a private MariaDB server it stops and
    /// starts) instead of the shared server or a fresh SQLite file.
    pub db: Option<DbConfig>,
    /// The coreapps run their workers in the background (the default). Off,
    /// nothing moves until the test calls [`Stack::drain`].
    pub background_workers: bool,
}

/// What `scripts/dev-up` sets too: local test servers may serve provider links.
pub fn loopback_links() -> LinkConfig {
    LinkConfig {
        provider_hosts: wire::netpolicy::parse_hosts("127.0.0.1,localhost").unwrap(),
        allow: wire::netpolicy::parse_ranges("127.0.0.0/8,::1/128").unwrap(),
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            webapps: 1,
            coreapps: 1,
            tls: true,
            login_failures_per_hour: 30,
            cloud_token: sandbox::Config::default().access_token,
            messages_rps: 0,
            max_callback_backlog: 100_000,
            cloud_timeout: Duration::from_secs(10),
            gc_interval: WorkerConfig::default().gc_interval,
            media_retention: WorkerConfig::default().media_retention,
            webapps_see_all_cores: false,
            lease: WorkerConfig::default().lease,
            links: loopback_links(),
            edge: webapp::config::EdgeLimits::default(),
            db: None,
            background_workers: true,
        }
    }
}

impl Stack {
    pub async fn start(engine: Engine) -> Stack {
        Self::start_with(engine, Options::default()).await
    }

    pub async fn start_with(engine: Engine, options: Options) -> Stack {
        init();
        let dir = tempfile::tempdir().expect("temp dir");
        let db = match (&options.db, engine) {
            (Some(own), _) => own.clone(),
            (None, Engine::Sqlite) => DbConfig::Sqlite { path: dir.path().join("wa.db") },
            (None, Engine::Mysql) => mysql_config(),
        };
        let storage = Storage { db, dir };
        let migrate_cfg = storage.db.clone();
        tokio::task::spawn_blocking(move || coreapp::db::migrate(&migrate_cfg))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("migrations failed ({engine:?}); is MariaDB running on 127.0.0.1:3306? {e:#}"));
        let receiver = Receiver::start().await;
        let web_config = webapp::Config {
            servername: "localhost".into(),
            tls: options.tls,
            core_addrs: Vec::new(),
            cluster: cluster_link(proto::cluster::Role::Webapp),
            api_key: Some(API_KEY.into()),
            version: "2.53.0".into(),
            cloud_app_secret: APP_SECRET.into(),
            cloud_verify_token: VERIFY_TOKEN.into(),
            jwt_key: None,
            revocation_poll: Duration::from_secs(1),
            messages_rps: options.messages_rps,
            messages_burst: options.messages_rps,
            edge: options.edge.clone(),
        };
        let mut stack = Stack {
            engine,
            http: reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .tls_info(true)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            webs: Vec::new(),
            sandbox: String::new(),
            receiver,
            web_config,
            cores: Vec::new(),
            options,
            storage,
            processes: Vec::new(),
            core_processes: Vec::new(),
        };
        stack.boot().await;
        stack
    }

    /// The media volume every coreapp of the stack shares.
    pub fn media_dir(&self) -> PathBuf {
        self.storage.dir.path().join("media")
    }

    async fn boot(&mut self) {
        let sandbox_l = bind().await;
        let mut core_ls = Vec::new();
        for _ in 0..self.options.coreapps {
            core_ls.push(bind().await);
        }
        let mut web_ls = Vec::new();
        for _ in 0..self.options.webapps {
            web_ls.push(bind().await);
        }
        let scheme = if self.options.tls { "https" } else { "http" };
        let sandbox_addr = sandbox_l.local_addr().unwrap();
        let core_addrs: Vec<SocketAddr> = core_ls.iter().map(|l| l.local_addr().unwrap()).collect();
        self.cores = core_addrs.iter().map(|a| a.to_string()).collect();
        self.webs = web_ls.iter().map(|l| format!("{scheme}://{}", l.local_addr().unwrap())).collect();
        self.sandbox = format!("http://{sandbox_addr}");

        let sandbox_config = sandbox::Config {
            app_secret: APP_SECRET.into(),
            webhook_url: Some(format!("{}/cloud/webhooks", self.webs[0])),
            status_delay: Duration::from_millis(50),
            ..sandbox::Config::default()
        };
        self.processes.push(spawn(|rx| {
            sandbox::run(sandbox_config, sandbox_l, async move {
                let _ = rx.await;
            })
        }));

        for (i, l) in core_ls.into_iter().enumerate() {
            let core_config = self.core_config(i);
            self.core_processes.push(self.processes.len());
            self.processes.push(spawn(|rx| {
                coreapp::run(core_config, l, async move {
                    let _ = rx.await;
                })
            }));
        }

        for (i, l) in web_ls.into_iter().enumerate() {
            let core_addrs = if self.options.webapps_see_all_cores {
                core_addrs.iter().map(ToString::to_string).collect()
            } else {
                vec![core_addrs[i % core_addrs.len()].to_string()]
            };
            let config = webapp::Config { core_addrs, ..self.web_config.clone() };
            self.processes.push(spawn(|rx| {
                webapp::run(config, l, async move {
                    let _ = rx.await;
                })
            }));
        }
        for web in self.webs.clone() {
            self.wait_until(Duration::from_secs(30), || async {
                self.http.get(format!("{web}/")).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
            })
            .await
            .expect("webapp did not come up");
        }
    }

    /// The configuration of coreapp `i` of this stack.
    pub fn core_config(&self, i: usize) -> coreapp::Config {
        coreapp::Config {
            node_id: format!("test-core-{i}"),
            cluster: cluster_link(proto::cluster::Role::Coreapp),
            login_failures_per_hour: self.options.login_failures_per_hour,
            db: self.storage.db.clone(),
            db_pool_size: 8,
            media_dir: self.media_dir(),
            cloud: CloudConfig {
                base_url: self.sandbox.clone(),
                api_version: "v24.0".into(),
                access_token: self.options.cloud_token.clone(),
                phone_number_id: PHONE_NUMBER_ID.into(),
                waba_id: sandbox::Config::default().waba_id,
                app_id: sandbox::Config::default().app_id,
                timeout: self.options.cloud_timeout,
                media_hosts: wire::netpolicy::parse_hosts(coreapp::config::CLOUD_MEDIA_HOSTS).unwrap(),
            },
            links: self.options.links.clone(),
            workers: WorkerConfig {
                poll_interval: Duration::from_millis(100),
                health_interval: Duration::from_millis(500),
                max_callback_backlog: self.options.max_callback_backlog,
                gc_interval: self.options.gc_interval,
                media_retention: self.options.media_retention,
                lease: self.options.lease,
                background: self.options.background_workers,
                ..WorkerConfig::default()
            },
        }
    }

    /// Stops every process gracefully and starts them again on the same
    /// database and media folder (new ports).
    pub async fn restart(&mut self) {
        self.core_processes.clear();
        for p in self.processes.drain(..).rev() {
            p.stop().await;
        }
        self.boot().await;
    }

    /// Kills coreapp `i` the hard way: its tasks are dropped mid-work, with
    /// no shutdown (claims held, no deregistration), as `kill -9` would.
    pub fn kill_core(&mut self, i: usize) {
        let p = self.core_processes[i];
        self.processes[p].task.abort();
    }

    pub async fn stop(mut self) {
        for p in self.processes.drain(..).rev() {
            p.stop().await;
        }
    }

    /// Polls `check` until it holds or `within` passes.
    pub async fn wait_until<F, Fut>(&self, within: Duration, mut check: F) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if check().await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("condition not met within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request to the first webapp.
    pub async fn call(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
        self.call_on(0, method, path, auth, body).await
    }

    pub async fn call_on(&self, web: usize, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
        let mut req = auth.apply(self.http.request(method, format!("{}{path}", self.webs[web])));
        if let Some(b) = body {
            req = req.json(&b);
        }
        Answer::read(req.send().await.expect("request reaches the webapp")).await
    }

    /// `POST /v1/users/login` with HTTP Basic and an optional body.
    pub async fn login(&self, user: &str, password: &str, body: Option<Value>) -> Answer {
        self.call(Method::POST, "/v1/users/login", Auth::Basic(user, password), body).await
    }

    /// A request with a raw body and content type; the raw response.
    pub async fn raw_on(
        &self,
        web: usize,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = auth.apply(self.http.request(method, format!("{}{path}", self.webs[web])).body(body));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req.send().await.expect("request reaches the webapp")
    }

    /// The certificate webapp `web` presents to a new connection (the shared
    /// client would reuse a connection made before a certificate change).
    pub async fn fresh_peer_certificate(&self, web: usize) -> Option<Vec<u8>> {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .tls_info(true)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let r = client.get(format!("{}/", self.webs[web])).send().await.ok()?;
        r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
    }

    /// A GET straight to the sandbox's Graph API, with its token.
    pub async fn cloud_get(&self, path_and_query: &str) -> Value {
        let url = format!("{}/v24.0/{path_and_query}", self.sandbox);
        let r = self.http.get(url).bearer_auth(&self.options.cloud_token).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// Logs in as admin, changing the factory password on first use.
    pub async fn admin_token(&self) -> String {
        let a = self.call(Method::POST, "/v1/users/login", Auth::Basic("admin", ADMIN_PASSWORD), None).await;
        if a.status == StatusCode::OK {
            return a.token();
        }
        let body = serde_json::json!({"new_password": ADMIN_PASSWORD});
        let a = self.call(Method::POST, "/v1/users/login", Auth::Basic("admin", "secret"), Some(body)).await;
        assert_eq!(a.status, StatusCode::OK, "first admin login: {}", a.body);
        a.token()
    }

    /// `POST /v1/media` with a raw body; no `Content-Type` when `None`.
    pub async fn upload(&self, token: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Answer {
        self.upload_on(0, token, content_type, bytes).await
    }

    pub async fn upload_on(&self, web: usize, token: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Answer {
        let mut req = self.http.post(format!("{}/v1/media", self.webs[web])).bearer_auth(token).body(bytes);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        Answer::read(req.send().await.expect("request reaches the webapp")).await
    }

    /// `GET /v1/media/{id}`: the status, headers and raw bytes.
    pub async fn download(&self, token: &str, id: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        self.download_on(0, token, id).await
    }

    pub async fn download_on(
        &self,
        web: usize,
        token: &str,
        id: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self.http.get(format!("{}/v1/media/{id}", self.webs[web])).bearer_auth(token).send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.bytes().await.expect("the whole download").to_vec())
    }

    /// The stack's database, for checks and edits a client could not make.
    pub async fn db(&self) -> coreapp::db::Db {
        let config = self.storage.db.clone();
        tokio::task::spawn_blocking(move || coreapp::db::Db::connect(&config, 2)).await.unwrap().unwrap()
    }

    /// Files on the media volume (content addressed: one per distinct content).
    pub fn media_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(prefixes) = std::fs::read_dir(self.media_dir().join("blobs")) {
            for prefix in prefixes.flatten() {
                out.extend(std::fs::read_dir(prefix.path()).into_iter().flatten().flatten().map(|e| e.path()));
            }
        }
        out
    }

    /// `POST /_sandbox/clock/advance`.
    pub async fn advance_cloud_clock(&self, by: Value) {
        let r = self.http.post(format!("{}/_sandbox/clock/advance", self.sandbox)).json(&by).send().await.unwrap();
        assert!(r.status().is_success(), "sandbox refused to advance its clock by {by}");
    }

    /// What Cloud (the sandbox) received, oldest first.
    /// Work still under way anywhere in the stack, by where it waits, in
    /// the order a message flows: sends Cloud has not answered, the
    /// sandbox's status lifecycles and webhooks not yet delivered, Cloud
    /// webhooks not yet turned into events, media not yet fetched, events
    /// not yet delivered to the business. Each hand-off is committed before
    /// the earlier stage lets go, so counting in this order misses nothing.
    pub async fn unsettled(&self, db: &coreapp::db::Db) -> Vec<(&'static str, i64)> {
        use coreapp::schema::{
            inbound_events as ie, media_downloads as md, outbound_messages as om, webhook_outbox as wo,
        };
        use diesel::prelude::*;
        let pending = "pending";
        let sends = db
            .run(move |conn| Ok(om::table.filter(om::state.eq(pending)).count().get_result::<i64>(conn)?))
            .await
            .unwrap();
        let stats: Value =
            self.http.get(format!("{}/_sandbox/stats", self.sandbox)).send().await.unwrap().json().await.unwrap();
        let cloud =
            stats["pending"]["tasks"].as_i64().unwrap_or(0) + stats["pending"]["webhook_items"].as_i64().unwrap_or(0);
        let rest = db
            .run(move |conn| {
                let inbound = ie::table.filter(ie::state.eq(pending)).count().get_result::<i64>(conn)?;
                let media = md::table.filter(md::state.eq(pending)).count().get_result::<i64>(conn)?;
                let events = wo::table.filter(wo::state.eq(pending)).count().get_result::<i64>(conn)?;
                Ok([inbound, media, events])
            })
            .await
            .unwrap();
        [("sends", sends), ("cloud", cloud), ("inbound", rest[0]), ("media", rest[1]), ("events", rest[2])]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Waits until nothing is under way (see [`Stack::unsettled`]): after
    /// it, the receiver holds everything that what came before will ever
    /// produce, so "nothing else arrived" can be asserted without sleeping.
    pub async fn settled(&self) {
        let db = self.db().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = self.unsettled(&db).await;
            if left.is_empty() {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the stack never settled: {left:?} still under way");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Moves everything along with the workers stopped (see
    /// [`Options::background_workers`]): runs every worker's step on a node
    /// of the test's own (`coreapp::workers::drain`) and waits for the
    /// sandbox's statuses and webhooks, until neither has anything left.
    /// Returns what the workers did.
    pub async fn drain(&self) -> coreapp::workers::Drained {
        let mut config = self.core_config(0);
        config.node_id = "test-drain".into();
        let core = coreapp::open(config).await.expect("a node for draining");
        let mut total = coreapp::workers::Drained::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            self.sandbox_idle(deadline).await;
            let round = coreapp::workers::drain(&core).await.expect("the workers' steps");
            if round.total() == 0 {
                return total;
            }
            total.intake += round.intake;
            total.downloads += round.downloads;
            total.sends += round.sends;
            total.deliveries += round.deliveries;
        }
    }

    /// Waits until the sandbox has no status lifecycle or webhook under way.
    async fn sandbox_idle(&self, deadline: tokio::time::Instant) {
        loop {
            let stats: Value =
                self.http.get(format!("{}/_sandbox/stats", self.sandbox)).send().await.unwrap().json().await.unwrap();
            if stats["pending"]["tasks"] == 0 && stats["pending"]["webhook_items"] == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the sandbox never went idle: {}", stats["pending"]);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until an event for the business has been tried `n` times
    /// without being delivered (its server refuses, or cannot be reached):
    /// proof that delivery was attempted, for "nothing arrived" asserts.
    pub async fn wait_delivery_attempts(&self, n: i32) {
        use coreapp::schema::webhook_outbox as wo;
        use diesel::prelude::*;
        let db = self.db().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let tried = db
                .run(|conn| {
                    Ok(wo::table
                        .filter(wo::state.eq("pending"))
                        .select(diesel::dsl::max(wo::attempts))
                        .first::<Option<i32>>(conn)?)
                })
                .await
                .unwrap()
                .unwrap_or(0);
            if tried >= n {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no event tried {n} times within 30 s (at most {tried})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the garbage collector has run `n` more times (each run
    /// renews its lease), for "the collector left it alone" asserts.
    pub async fn wait_collector_runs(&self, n: usize) {
        use coreapp::schema::job_leases as jl;
        use diesel::prelude::*;
        let db = self.db().await;
        let lease = || {
            let db = db.clone();
            async move {
                db.run(|conn| {
                    Ok(jl::table
                        .filter(jl::name.eq("media_gc"))
                        .select(jl::lease_until)
                        .first::<i64>(conn)
                        .optional()?)
                })
                .await
                .unwrap()
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let (mut last, mut runs) = (lease().await, 0);
        while runs < n {
            assert!(tokio::time::Instant::now() < deadline, "the collector ran {runs} of {n} times within 30 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = lease().await;
            if now != last {
                (last, runs) = (now, runs + 1);
            }
        }
    }

    pub async fn cloud_received(&self) -> Vec<Value> {
        let v: Value =
            self.http.get(format!("{}/_sandbox/sent", self.sandbox)).send().await.unwrap().json().await.unwrap();
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until Cloud received a message for `to` (digits) and returns
    /// the payload it received.
    pub async fn cloud_payload_for(&self, to: &str) -> Value {
        let want = format!("+{to}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.cloud_received().await.into_iter().find(|e| e["payload"]["to"] == want.as_str()) {
                return e["payload"].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "Cloud never received a message for {to}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Plays a WhatsApp user writing to the business; returns Cloud's wamid.
    pub async fn user_sends(&self, message: Value) -> String {
        let r = self.http.post(format!("{}/_sandbox/inbound", self.sandbox)).json(&message).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "sandbox refused the inbound message");
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().expect("the inbound wamid").to_string()
    }

    /// Signs a body as Cloud would and POSTs it to the webapp's intake.
    pub async fn cloud_posts(&self, body: &Value) -> StatusCode {
        use hmac::Mac;
        let bytes = serde_json::to_vec(body).unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
        mac.update(&bytes);
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let r = self
            .http
            .post(format!("{}/cloud/webhooks", self.webs[0]))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(bytes)
            .send()
            .await
            .unwrap();
        r.status()
    }

    /// `POST /_sandbox/faults`: installs a fault on the sandbox's Graph API.
    pub async fn cloud_fault(&self, fault: Value) -> Value {
        let r = self.http.post(format!("{}/_sandbox/faults", self.sandbox)).json(&fault).send().await.unwrap();
        assert!(r.status().is_success(), "sandbox refused the fault {fault}");
        r.json().await.unwrap()
    }

    /// `PATCH /_sandbox/settings`: switches the sandbox's rules and knobs.
    pub async fn cloud_settings(&self, patch: Value) {
        let r = self.http.patch(format!("{}/_sandbox/settings", self.sandbox)).json(&patch).send().await.unwrap();
        assert!(
            r.status().is_success(),
            "sandbox refused the settings {patch}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Points `webhooks.url` at the receiver.
    pub async fn use_receiver(&self, token: &str) {
        let patch = serde_json::json!({"webhooks": {"url": self.receiver.url()}});
        let a = self.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(token), Some(patch)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
}

/// Credentials for a request.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
    ApiKey(&'a str),
}

impl Auth<'_> {
    fn apply(self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::ApiKey(k) => req.header("Authorization", format!("Apikey {k}")),
        }
    }
}

/// A webapp answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// DER of the certificate the webapp presented.
    pub peer_certificate: Option<Vec<u8>>,
}

impl Answer {
    pub async fn read(r: reqwest::Response) -> Answer {
        let status = r.status();
        let headers = r.headers().clone();
        let peer_certificate =
            r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|i| i.peer_certificate().map(<[u8]>::to_vec));
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, headers, body, peer_certificate }
    }

    /// The first error's code.
    pub fn error_code(&self) -> Option<u64> {
        self.body.pointer("/errors/0/code").and_then(Value::as_u64)
    }

    pub fn token(&self) -> String {
        self.body.pointer("/users/0/token").and_then(Value::as_str).expect("a token").to_string()
    }

    /// Asserts an on-prem error with this HTTP status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64) {
        assert_eq!(self.status.as_u16(), status, "HTTP status of {}", self.body);
        assert_eq!(self.error_code(), Some(code), "error code of {}", self.body);
        assert!(self.body.get("meta").is_some(), "meta missing in {}", self.body);
    }
}
