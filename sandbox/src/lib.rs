//! A local WhatsApp Cloud API simulator: the Graph send endpoint and phone
//! number node, signed status and inbound-message webhooks, and a control
//! API under `/_sandbox/` to play the WhatsApp user.
//!
//! It is the dev stack's upstream (no internet needed) and a product feature
//! for demos and benchmarks, not a test mock. Everything lives in memory.

mod config;
mod control;
mod graph;
mod lifecycle;
mod messages;
mod phone_numbers;
mod router;
mod state;
mod store;
mod tasks;
pub mod wamid;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::Config;

use state::AppState;
use tasks::Tasks;
use webhooks::Webhooks;
use webhooks::retry::RetryPolicy;

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
        "sandbox listening"
    );

    let (tasks, stopper) = Tasks::new();
    let webhooks = Webhooks::new(&config, RetryPolicy::default())?;
    let app = router::build(AppState::new(config, webhooks, tasks));

    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        info!("shutting down");
        let _ = stopping_tx.send(true);
    };
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
