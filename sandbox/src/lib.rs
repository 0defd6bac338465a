//! A local WhatsApp Cloud API simulator: the Graph send endpoint with every
//! message type validated, media, templates, phone numbers and the business
//! account; signed, batched status and inbound-message webhooks; the rules
//! Cloud enforces (throughput, pair rate limit, 24-hour window, undeliverable
//! numbers), each switchable; fault injection; and a control API under
//! `/_sandbox/` to play the WhatsApp user and drive all of it.
//!
//! It is the dev stack's upstream (no internet needed) and a product feature
//! for demos and benchmarks, not a test mock. Everything lives in memory.

mod clock;
mod config;
mod console;
mod contact_book;
mod control;
mod faults;
pub mod graph;
mod health;
mod lifecycle;
mod media;
mod messages;
mod nodes;
mod phone_numbers;
mod router;
mod rules;
mod settings;
mod state;
mod stats;
mod store;
mod tasks;
mod templates;
mod uploads;
mod users;
mod waba;
pub mod wamid;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::{Config, DEFAULT_LISTEN, VARS};
/// Small valid media files (tests and demos use them too).
pub use media::samples;
pub use settings::{
    DEFAULT_UNDELIVERABLE, HttpKnobs, Lifecycle, PairRateLimit, Rules, Settings, Throughput, Undeliverable,
    WebhookKnobs, WindowRule,
};

use clock::Clock;
use settings::SettingsCell;
use state::AppState;
use stats::Stats;
use tasks::Tasks;
use webhooks::Webhooks;

/// How long in-flight requests may take to finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the sandbox on `listener` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish (at most 10 s), and cancels the
/// pending status and webhook tasks.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    let address = listener.local_addr().context("reading the listen address")?;
    info!(
        %address,
        phone_number_ids = ?config.phone_number_ids,
        waba_id = %config.waba_id,
        webhook_url = config.webhook_url.as_deref().unwrap_or("(none)"),
        webhook_tls_verify = config.webhook_tls_verify,
        status_delay_ms = config.status_delay.as_millis() as u64,
        rules = ?config.rules,
        webhook_version = %config.webhook_version,
        "sandbox listening"
    );

    let (tasks, stopper) = Tasks::new();
    let clock = Clock::new();
    let settings = Arc::new(SettingsCell::new(Settings::from_config(&config), config.phone_number_ids.clone()));
    let stats = Arc::new(Stats::default());
    let console = Arc::new(console::Console::default());
    let (webhooks, queue) = Webhooks::new(&config, settings.clone(), stats.clone(), console.clone())?;
    tasks.spawn_service(
        "webhook batcher",
        webhooks::batcher::run(queue, webhooks.clone(), tasks.clone(), clock.clone()),
    );
    let app = router::build(AppState::new(config, clock, settings, stats, webhooks, tasks, console.clone()));

    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        info!("shutting down");
        // Open console pages hold event streams: end them.
        console.close();
        let _ = stopping_tx.send(true);
    };
    // Small answers on kept-alive connections: never wait for Nagle.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let serve = axum::serve(listener, app).with_graceful_shutdown(signal);
    let grace_expired = async move {
        if stopping_rx.wait_for(|stopping| *stopping).await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            // The signal future was dropped without firing: serve has ended.
            std::future::pending::<()>().await;
        }
    };

    tokio::select! {
        served = serve => served.context("serving HTTP")?,
        () = grace_expired => warn!("in-flight requests did not finish within the grace period"),
    }

    let cancelled = stopper.stop();
    if cancelled > 0 {
        warn!(cancelled, "pending status and webhook tasks cancelled by shutdown");
    }
    info!("sandbox stopped");
    Ok(())
}
