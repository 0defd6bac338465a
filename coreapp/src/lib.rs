//! coreapp: the engine behind the webapp. Serves gRPC, owns the database,
//! the media volume and the Cloud API client, and runs the background
//! workers (sending, webhook intake, webhook delivery, media downloads and
//! the media garbage collector).

pub mod accept;
pub mod accounts;
pub mod admin;
pub mod auth;
pub mod backup;
pub mod cached;
pub mod cloud;
pub mod cluster;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod identities;
pub mod media_files;
pub mod media_links;
pub mod messaging;
pub mod metrics;
pub mod outbound;
pub mod schema;
pub mod service;
pub mod store;
pub mod support;
#[doc(hidden)]
pub mod testing;
pub mod webhook_client;
pub mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use proto::cluster::Security;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use config::Config;
use db::Db;
use store::queue::Queue;

/// How long shutdown waits for workers to finish the batch in hand.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Nudges for the workers, so locally written work starts at once.
#[derive(Default)]
pub struct Wake {
    pub sender: Arc<Notify>,
    pub intake: Arc<Notify>,
    pub delivery: Arc<Notify>,
    pub downloader: Arc<Notify>,
}

/// Everything a request or a worker needs.
pub struct Core {
    pub config: Config,
    pub db: Db,
    pub cloud: cloud::CloudClient,
    pub health: health::HealthState,
    pub media: media::MediaStore,
    pub wake: Wake,
    /// The HTTP client for the business's webhook server.
    pub webhooks: webhook_client::WebhookClient,
    /// This process's name on claimed work: `<node id>/<instance>`.
    pub owner: String,
    settings: cached::Cached<wire::settings::ApplicationSettings>,
    webhook_ca: cached::Cached<Option<String>>,
    /// Pending webhook events, refreshed by the delivery worker; above
    /// `workers.max_callback_backlog` the API answers 1016 (as the old client).
    pub outbox_depth: std::sync::atomic::AtomicI64,
    /// Stores accepted messages with group commit.
    pub acceptor: accept::Acceptor,
    pub metrics: metrics::Metrics,
    pub started_at_ms: i64,
    /// `POST /v1/contacts` requests worked on at once by this coreapp.
    pub contact_checks: tokio::sync::Semaphore,
    /// Garbage collectors running on request in this coreapp (by name).
    pub gc_running: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
}

/// Contact checks one coreapp works on at once; the rest wait their turn
/// (each holds at most one pooled connection at a time).
const CONTACT_CHECKS_AT_ONCE: usize = 2;

/// How stale the cached settings may be. A PATCH through this node applies
/// at once; through another node, within this time.
const SETTINGS_TTL: Duration = Duration::from_secs(1);

impl Core {
    /// The application settings, read from the database at most once per
    /// second (every message and every worker step needs them).
    pub async fn settings(&self) -> Result<wire::settings::ApplicationSettings, error::CoreError> {
        self.settings.get(|| messaging::get_settings(&self.db)).await
    }

    /// The private CA the webhook client trusts, if one was uploaded.
    pub async fn webhook_ca(&self) -> Result<Option<String>, error::CoreError> {
        self.webhook_ca.get(|| self.db.run(|conn| Ok(store::settings::get(conn, store::settings::WEBHOOK_CA)?))).await
    }

    /// Forgets cached settings and CA (after this node changed them).
    pub fn settings_changed(&self) {
        self.settings.invalidate();
        self.webhook_ca.invalidate();
    }
}

/// `coreapp migrate`.
pub fn migrate(config: &Config) -> anyhow::Result<Vec<String>> {
    db::migrate(&config.db)
}

/// Opens the database and the media volume and prepares the shared state.
pub async fn open(config: Config) -> anyhow::Result<Arc<Core>> {
    let (db_config, pool_size) = (config.db.clone(), config.db_pool_size);
    let db = tokio::task::spawn_blocking(move || Db::connect(&db_config, pool_size)).await??;
    let acceptor = accept::Acceptor::start(db.clone());
    accounts::bootstrap(&db).await.context("cannot prepare users and keys")?;
    let media_dir = config.media_dir.clone();
    let media = tokio::task::spawn_blocking(move || media::MediaStore::open(media_dir)).await??;
    let webhooks = webhook_client::WebhookClient::new()?;
    let owner = format!("{}/{}", config.node_id, wire::ids::random_hex(4));
    Ok(Arc::new(Core {
        cloud: cloud::CloudClient::new(config.cloud.clone())?,
        config,
        db,
        health: health::HealthState::new(),
        media,
        wake: Wake::default(),
        webhooks,
        owner,
        settings: cached::Cached::new(SETTINGS_TTL),
        webhook_ca: cached::Cached::new(SETTINGS_TTL),
        outbox_depth: std::sync::atomic::AtomicI64::new(0),
        acceptor,
        metrics: metrics::Metrics::default(),
        started_at_ms: db::now_ms(),
        contact_checks: tokio::sync::Semaphore::new(CONTACT_CHECKS_AT_ONCE),
        gc_running: Default::default(),
    }))
}

/// Serves gRPC on `listener` and runs the workers until `shutdown`
/// resolves; then stops taking requests, lets the workers finish the work
/// in hand (bounded by a grace period) and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Decided before anything starts: a node that may not serve does nothing.
    let addr = listener.local_addr()?;
    let security = config
        .cluster
        .decide(&addr.ip().to_string())
        .map_err(|refusal| anyhow::anyhow!("refusing to serve on {addr}: {refusal}"))?;
    let core = open(config).await?;
    tracing::info!(config = %core.config.describe(), "coreapp starting");
    resume_own_claims(&core).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let poll = core.config.workers.poll_interval;

    let worker = |name, queue: Option<Queue>, wake: &Arc<Notify>, poll| workers::Worker {
        name,
        db: core.db.clone(),
        claims: queue.map(|q| (q, core.owner.clone())),
        wake: wake.clone(),
        poll,
    };
    // Without background workers (tests that drive them with
    // `workers::drain`), the node serves the API and nothing else moves.
    if core.config.workers.background {
        // The pacer outlives each step: it holds the send rate across batches.
        let pacer = Arc::new(tokio::sync::Mutex::new(workers::Pacer::new(core.config.workers.send_rate)));
        let c = core.clone();
        let sender = worker("sender", Some(Queue::Outbound), &core.wake.sender, poll);
        tasks.spawn(workers::run_loop(sender, stop_rx.clone(), move || {
            let (c, pacer) = (c.clone(), pacer.clone());
            async move { workers::sender::step(&c, &mut *pacer.lock().await).await }
        }));
        let c = core.clone();
        let intake = worker("intake", Some(Queue::Inbound), &core.wake.intake, poll);
        tasks.spawn(workers::run_loop(intake, stop_rx.clone(), move || {
            let c = c.clone();
            async move { workers::intake::step(&c).await }
        }));
        let c = core.clone();
        let delivery = worker("delivery", Some(Queue::Outbox), &core.wake.delivery, poll);
        tasks.spawn(workers::run_loop(delivery, stop_rx.clone(), move || {
            let c = c.clone();
            async move { workers::delivery::step(&c).await }
        }));
        let c = core.clone();
        let downloader = worker("downloader", Some(Queue::MediaDownload), &core.wake.downloader, poll);
        tasks.spawn(workers::run_loop(downloader, stop_rx.clone(), move || {
            let c = c.clone();
            async move { workers::downloader::step(&c).await }
        }));
        let c = core.clone();
        let gc = worker("media-gc", None, &Arc::new(Notify::new()), core.config.workers.gc_interval);
        tasks.spawn(workers::run_loop(gc, stop_rx.clone(), move || {
            let c = c.clone();
            async move { workers::gc::step(&c).await }
        }));
    }
    tasks.spawn(backlog_loop(core.clone(), stop_rx.clone()));
    tasks.spawn(health::heartbeat_loop(core.clone(), stop_rx.clone(), Some(health::state_file(addr.port()))));
    tasks.spawn(health::probe_loop(
        core.health.clone(),
        core.cloud.clone(),
        core.config.workers.health_interval,
        stop_rx.clone(),
    ));

    let mut server = tonic::transport::Server::builder();
    match security {
        Security::MutualTls => {
            let credentials = core.config.cluster.credentials.as_ref().expect("mutual TLS has credentials");
            server = server.tls_config(credentials.server_tls()).context("cannot use the cluster credentials")?;
        }
        Security::PlainLoopback => {
            tracing::warn!(%addr, "no cluster credentials (WA_CLUSTER_DIR): serving plain gRPC, on loopback only");
        }
        Security::PlainInsecure => tracing::error!(
            %addr,
            "INSECURE: serving plain gRPC beyond loopback (WA_CLUSTER_INSECURE): anyone who reaches this port \
             can read the token signing key, the webapp's TLS key and every message"
        ),
    }
    tracing::info!(%addr, node = %core.config.node_id, link = core.config.cluster.describe(), "coreapp serving gRPC");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let served = server
        .initial_stream_window_size(proto::MEDIA_WINDOW)
        .initial_connection_window_size(proto::MEDIA_WINDOW)
        .add_service(
            proto::core::core_server::CoreServer::new(service::Service::new(core.clone()))
                .max_decoding_message_size(proto::MAX_MESSAGE),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;

    tracing::info!("coreapp stopping: finishing work in hand");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        // What is still in hand is handed back, so other nodes resume it now
        // rather than when the lease lapses; a late result of ours is then
        // discarded (settling checks the claim).
        let owner = core.owner.clone();
        let released = core
            .db
            .run(move |conn| {
                use store::queue::{Queue, release_owner};
                let mut n = 0;
                for q in [Queue::Outbound, Queue::Inbound, Queue::Outbox, Queue::MediaDownload] {
                    n += release_owner(conn, q, &owner)?;
                }
                Ok(n)
            })
            .await;
        tracing::warn!(released = ?released.ok(), "workers did not finish within the grace period; their claims were released");
    }
    // A periodic job this node ran (the media collector) is handed back
    // too: its lease lasts three collector intervals (30 minutes by
    // default), and no other node would run the job until it lapsed.
    let owner = core.owner.clone();
    if let Err(e) = core.db.run(move |conn| Ok(store::leases::release_owner(conn, &owner)?)).await {
        tracing::warn!(error = %e, "could not hand back this node's job leases; they lapse on their own");
    }
    served.context("gRPC server failed")
}

/// Keeps `outbox_depth` current (once a second), so the API can refuse
/// new messages while the webhook backlog is over its limit.
async fn backlog_loop(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    loop {
        match core.db.run(|conn| Ok(store::queue::depth(conn, store::queue::Queue::Outbox)?)).await {
            Ok(n) => core.outbox_depth.store(n, std::sync::atomic::Ordering::Relaxed),
            // An outage is logged once, where it is found.
            Err(e) if e.is_unavailable() => {}
            Err(e) => tracing::warn!(error = %e, "cannot measure the webhook backlog"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn resume_own_claims(core: &Arc<Core>) -> anyhow::Result<()> {
    let node = core.config.node_id.clone();
    let released = core
        .db
        .run(move |conn| {
            let mut n = 0;
            use store::queue::Queue;
            for q in [Queue::Outbound, Queue::Inbound, Queue::Outbox, Queue::MediaDownload] {
                n += store::queue::release_node(conn, q, &node)?;
            }
            Ok(n)
        })
        .await?;
    if released > 0 {
        tracing::info!(released, "resumed work this node held before it stopped");
    }
    Ok(())
}
