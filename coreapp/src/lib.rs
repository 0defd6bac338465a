//! coreapp: the engine behind the webapp. Serves gRPC, owns the database,
//! the media volume and the Cloud API client, and runs the background
//! workers.
//!
//! A reader meets it in this order:
//!
//! - [`api`]: the gRPC service and the request-side operations. A send is
//!   checked, stored durably (group commit) and handed to the engine.
//! - [`engine`]: the workers that carry stored work on (sender, webhook
//!   intake, webhook delivery, media downloader, garbage collectors), each
//!   a loop over a claim, work, settle step that tests can drive with
//!   [`engine::drain`].
//! - [`store`]: the database (connection, schema, queries per table, the
//!   claim/lease protocol of the queues).
//! - [`clients`]: Cloud, the business's webhook server, and where outbound
//!   requests may go.
//!
//! Shared by the request side and the engine: [`identities`] (who each
//! WhatsApp user is to the business), [`media_files`] (the shared media
//! volume), [`health`] (this node's view of Cloud and its peers),
//! [`metrics`], [`config`] and [`error`]. [`Core`] ties them together: one
//! per process, handed to every request and every worker.

pub mod api;
pub mod clients;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod error;
pub mod health;
pub mod identities;
pub mod media_files;
pub mod metrics;
pub mod store;
#[doc(hidden)]
pub mod testing;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use proto::cluster::Security;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use config::Config;
use store::db::Db;
use store::queue::Queue;

/// How long shutdown waits for workers to finish the batch in hand.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Nudges for the workers, so locally written work starts at once.
#[derive(Default)]
pub struct Wake {
    pub(crate) sender: Arc<Notify>,
    pub(crate) intake: Arc<Notify>,
    pub(crate) delivery: Arc<Notify>,
    pub(crate) downloader: Arc<Notify>,
}

/// Everything a request or a worker needs: one per process. Its parts are
/// the crate's own; from outside, a `Core` is opened, run and drained.
pub struct Core {
    pub(crate) config: Config,
    pub(crate) db: Db,
    pub(crate) cloud: clients::cloud::CloudClient,
    pub(crate) health: health::HealthState,
    pub(crate) media: media::MediaStore,
    pub(crate) wake: Wake,
    /// The HTTP client for the business's webhook server.
    pub(crate) webhooks: clients::webhooks::WebhookClient,
    /// This process's name on claimed work: `<node id>/<instance>`.
    pub(crate) owner: String,
    settings: store::cached::Cached<wire::settings::ApplicationSettings>,
    webhook_ca: store::cached::Cached<Option<String>>,
    /// Pending webhook events, refreshed by the delivery worker; above
    /// `workers.max_callback_backlog` the API answers 1016 (as the old client).
    pub(crate) outbox_depth: std::sync::atomic::AtomicI64,
    /// Stores accepted messages with group commit.
    pub(crate) acceptor: store::accept::Acceptor,
    /// Handles Cloud webhooks as they arrive, with group commit.
    pub(crate) receipts: engine::receive::Receipts,
    /// Records sends Cloud accepted with group commit.
    pub(crate) sent: store::sent::SentRecorder,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) started_at_ms: i64,
    /// `POST /v1/contacts` requests worked on at once by this coreapp.
    pub(crate) contact_checks: tokio::sync::Semaphore,
    /// Garbage collectors running on request in this coreapp (by name).
    pub(crate) gc_running: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
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
        self.settings.get(|| api::settings::read(&self.db)).await
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
    store::db::migrate(&config.db)
}

/// Opens the database and the media volume and prepares the shared state.
pub async fn open(config: Config) -> anyhow::Result<Arc<Core>> {
    let (db_config, pool_size) = (config.db.clone(), config.db_pool_size);
    let db = tokio::task::spawn_blocking(move || Db::connect(&db_config, pool_size)).await??;
    let acceptor = store::accept::Acceptor::start(db.clone());
    api::accounts::bootstrap(&db).await.context("cannot prepare users and keys")?;
    let media_dir = config.media_dir.clone();
    let media = tokio::task::spawn_blocking(move || media::MediaStore::open(media_dir)).await??;
    let webhooks = clients::webhooks::WebhookClient::new()?;
    let owner = format!("{}/{}", config.node_id, wire::ids::random_hex(4));
    let sent = store::sent::SentRecorder::start(db.clone(), owner.clone(), config.workers.lease);
    let cloud = clients::cloud::CloudClient::new(config.cloud.clone())?;
    // The webhook writer works with the whole core, which holds it.
    Ok(Arc::new_cyclic(|core| Core {
        cloud,
        config,
        db,
        health: health::HealthState::new(),
        media,
        wake: Wake::default(),
        webhooks,
        owner,
        settings: store::cached::Cached::new(SETTINGS_TTL),
        webhook_ca: store::cached::Cached::new(SETTINGS_TTL),
        outbox_depth: std::sync::atomic::AtomicI64::new(0),
        acceptor,
        receipts: engine::receive::Receipts::start(core.clone()),
        sent,
        metrics: metrics::Metrics::default(),
        started_at_ms: store::db::now_ms(),
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

    let worker = |name, queue: Option<Queue>, wake: &Arc<Notify>, poll| engine::Worker {
        name,
        db: core.db.clone(),
        claims: queue.map(|q| (q, core.owner.clone())),
        wake: wake.clone(),
        poll,
    };
    // Without background workers (tests that drive them with
    // `engine::drain`), the node serves the API and nothing else moves.
    if core.config.workers.background {
        // The pacer and the sends under way outlive each step: the pacer
        // holds the send rate across batches, and a batch is claimed while
        // the last one's sends are still out.
        let pacer = Arc::new(tokio::sync::Mutex::new(engine::Pacer::new(core.config.workers.send_rate)));
        let in_flight = Arc::new(tokio::sync::Mutex::new(engine::sender::InFlight::default()));
        let c = core.clone();
        let sender = worker("sender", Some(Queue::Outbound), &core.wake.sender, poll);
        let sends = in_flight.clone();
        let sender_loop = engine::run_loop(sender, stop_rx.clone(), move || {
            let (c, pacer, sends) = (c.clone(), pacer.clone(), sends.clone());
            async move { engine::sender::step(&c, &mut *pacer.lock().await, &mut *sends.lock().await).await }
        });
        tasks.spawn(async move {
            sender_loop.await;
            // The node stops once the sends under way are settled.
            in_flight.lock().await.finish().await;
        });
        let c = core.clone();
        let intake = worker("intake", Some(Queue::Inbound), &core.wake.intake, poll);
        tasks.spawn(engine::run_loop(intake, stop_rx.clone(), move || {
            let c = c.clone();
            async move { engine::intake::step(&c).await }
        }));
        let c = core.clone();
        let delivery = worker("delivery", Some(Queue::Outbox), &core.wake.delivery, poll);
        tasks.spawn(engine::run_loop(delivery, stop_rx.clone(), move || {
            let c = c.clone();
            async move { engine::delivery::step(&c).await }
        }));
        let c = core.clone();
        let downloader = worker("downloader", Some(Queue::MediaDownload), &core.wake.downloader, poll);
        tasks.spawn(engine::run_loop(downloader, stop_rx.clone(), move || {
            let c = c.clone();
            async move { engine::downloader::step(&c).await }
        }));
        let c = core.clone();
        let gc = worker("media-gc", None, &Arc::new(Notify::new()), core.config.workers.gc_interval);
        tasks.spawn(engine::run_loop(gc, stop_rx.clone(), move || {
            let c = c.clone();
            async move { engine::gc::step(&c).await }
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
    // Answers go out as written (TCP_NODELAY): tonic sets it only on the
    // connections it accepts itself. Without it, an answer written in
    // pieces (headers, body, trailers) waits on the webapp's delayed
    // acknowledgement of the first piece.
    let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(listener), |stream| {
        stream.and_then(|s| s.set_nodelay(true).map(|()| s))
    });
    let served = server
        .initial_stream_window_size(proto::MEDIA_WINDOW)
        .initial_connection_window_size(proto::MEDIA_WINDOW)
        .add_service(
            proto::core::core_server::CoreServer::new(api::service::Service::new(core.clone()))
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
