//! The stack itself: its processes (sandbox, coreapps, webapps, started
//! through their `run` functions), its database and media folder, how it
//! starts, restarts and stops, and the coreapps' configuration.

use std::path::PathBuf;
use std::time::Duration;

use coreapp::config::{CloudConfig, DbConfig, LinkConfig, WorkerConfig};
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::*;

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
pub(crate) struct Storage {
    pub(crate) db: DbConfig,
    dir: tempfile::TempDir,
}

impl Drop for Storage {
    fn drop(&mut self) {
        let _ = coreapp::store::db::drop_server_database(&self.db);
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
    pub(crate) options: Options,
    pub(crate) storage: Storage,
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
            (None, Engine::Pgsql) => coreapp::testing::pgsql_config(),
        };
        let storage = Storage { db, dir };
        let migrate_cfg = storage.db.clone();
        tokio::task::spawn_blocking(move || coreapp::store::db::migrate(&migrate_cfg))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("migrations failed ({engine:?}); is its server running (MariaDB on 127.0.0.1:3306, PostgreSQL on 127.0.0.1:5432)? {e:#}"));
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

    /// The stack's database, for checks and edits a client could not make.
    pub async fn db(&self) -> coreapp::store::db::Db {
        let config = self.storage.db.clone();
        tokio::task::spawn_blocking(move || coreapp::store::db::Db::connect(&config, 2)).await.unwrap().unwrap()
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
}
