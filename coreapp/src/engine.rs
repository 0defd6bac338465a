//! The engine: the background workers that carry accepted work on.
//!
//! - [`sender`]: queued messages to Cloud, paced, retried, settled.
//! - [`receive`]: Cloud webhooks into messages, statuses and the outbox as
//!   they arrive, in order per contact, with group commit.
//! - [`intake`]: the same for the Cloud webhooks that had to wait (statuses
//!   ahead of their wamid, a failed batch, unreadable ones).
//! - [`delivery`]: the outbox to the business's webhook server, with the
//!   old client's retry rules.
//! - [`downloader`]: inbound media from Cloud onto the volume.
//! - [`gc`]: the garbage collectors (media, messages).
//!
//! Each worker loops: claim due rows through the database,
//! work on them, settle them; when nothing is due it sleeps until nudged by
//! a local write or until the poll interval (work written by other nodes).
//! On shutdown a worker finishes the batch in hand and stops.
//!
//! [`drain`] runs the same steps in the caller's task until none finds
//! work: what a test uses to move everything queued along, then assert on
//! what was sent, with nothing left running behind its back.

pub mod delivery;
pub mod downloader;
pub mod gc;
pub mod intake;
pub mod receive;
pub mod sender;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::error::CoreError;
use crate::store::db::Db;
use crate::store::queue::{self, Queue};

/// Below this many items a step counts as a trickle.
const LINGER_BELOW: usize = 8;
/// How long a worker lets a trickle gather into a batch.
const LINGER: Duration = Duration::from_millis(5);

/// A background worker: its name (for logs), the database, the queue it
/// claims from and the owner it claims as, what wakes it and how often it
/// polls when nothing does.
pub struct Worker {
    pub name: &'static str,
    pub db: Db,
    pub claims: Option<(Queue, String)>,
    pub wake: Arc<Notify>,
    pub poll: Duration,
}

/// Runs `step` until shutdown. `step` returns how many items it handled;
/// while it finds work it runs again at once.
///
/// While the database is unavailable the worker waits for it quietly (the
/// outage is logged once, by [`Db`]) and resumes as soon as it answers. A
/// step the database cut short may leave claims behind (claimed, then the
/// database went away): a step returns only once all its work is settled
/// or abandoned, so nothing of this worker holds them, and they are handed
/// back before the next claim instead of waiting for their lease to lapse.
pub async fn run_loop<F, Fut>(worker: Worker, mut shutdown: watch::Receiver<bool>, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let Worker { name, db, claims, wake, poll } = worker;
    tracing::info!(worker = name, "started");
    let mut failures = 0u32;
    let mut cut_short = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if cut_short && let Some((queue, owner)) = &claims {
            let (queue, owner) = (*queue, owner.clone());
            match db.run(move |conn| Ok(queue::release_owner(conn, queue, &owner)?)).await {
                Ok(released) => {
                    cut_short = false;
                    if released > 0 {
                        tracing::info!(worker = name, released, "claims left by the database outage handed back");
                    }
                }
                Err(_) => {
                    db.until_retry(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let pause = match step().await {
            Ok(0) => {
                failures = 0;
                poll
            }
            Ok(n) if n < LINGER_BELOW => {
                // A trickle: wait a moment so the next claim takes a batch
                // (one transaction for many rows) instead of one row.
                failures = 0;
                tokio::time::sleep(LINGER).await;
                continue;
            }
            Ok(_) => {
                failures = 0;
                continue;
            }
            Err(e) if database_unavailable(&e) => {
                cut_short = true;
                tokio::select! {
                    _ = db.until_retry(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            Err(e) => {
                failures += 1;
                tracing::error!(worker = name, error = ?e, "worker step failed");
                // Back off while the database is unhappy, up to 10 s.
                (poll * failures).min(Duration::from_secs(10))
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(worker = name, "stopped");
}

/// What one [`drain`] handled, per worker.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Cloud webhooks turned into events.
    pub intake: usize,
    /// Inbound media fetched from Cloud.
    pub downloads: usize,
    /// Messages sent to Cloud (or failed for good).
    pub sends: usize,
    /// Events delivered to the business (or given up).
    pub deliveries: usize,
}

impl Drained {
    pub fn total(&self) -> usize {
        self.intake + self.downloads + self.sends + self.deliveries
    }
}

/// Runs every worker's step, in the order work flows (intake, downloads,
/// sends, deliveries), round after round until a round finds nothing due.
/// Work due later (a retry after its backoff) is left for later. Meant for
/// a node whose background workers are off, or for tests; with them on it
/// competes with them for claims, which is safe.
pub async fn drain(core: &Arc<crate::Core>) -> anyhow::Result<Drained> {
    let mut pacer = Pacer::new(core.config.workers.send_rate);
    let mut in_flight = sender::InFlight::default();
    let mut done = Drained::default();
    loop {
        let intake = intake::step(core).await?;
        let downloads = downloader::step(core).await?;
        let sends = sender::step(core, &mut pacer, &mut in_flight).await?;
        // Nothing keeps running behind the caller's back.
        in_flight.finish().await;
        let round = Drained { intake, downloads, sends, deliveries: delivery::step(core).await? };
        if round.total() == 0 {
            return Ok(done);
        }
        done.intake += round.intake;
        done.downloads += round.downloads;
        done.sends += round.sends;
        done.deliveries += round.deliveries;
    }
}

/// Whether a step failed only because the database could not be used.
fn database_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.downcast_ref::<CoreError>().is_some_and(CoreError::is_unavailable))
}

/// Runs `work` while keeping this node's claim on a queue row alive,
/// renewed every third of the lease, so work that may outlast one lease (a
/// large file sent to or fetched from Cloud) is not taken over and done
/// twice by another node.
pub async fn keep_claimed<T>(core: &crate::Core, queue: Queue, id: &str, work: impl Future<Output = T>) -> T {
    let lease = core.config.workers.lease;
    let every = lease / 3;
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let (owner, row) = (core.owner.clone(), id.to_string());
                let until = crate::store::db::now_ms() + lease.as_millis() as i64;
                match core.db.run(move |conn| Ok(queue::renew(conn, queue, &row, &owner, until)?)).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(%id, "claim lost during long work"),
                    // An outage is logged once, where it is found.
                    Err(e) if e.is_unavailable() => {}
                    Err(e) => tracing::warn!(%id, error = %e, "cannot renew a claim"),
                }
            }
        }
    }
}

/// Spaces requests evenly at `rate` per second, across every coreapp of
/// the business number: before a batch, [`Pacer::reserve`] takes its slots
/// from the database, behind the slots every other node took.
///
/// Slots left unused for a moment (a node claiming its next batch) may be
/// taken up to [`PACING_SLACK`] late, so the number's rate is reached, not
/// only approached; over any time the sends stay within the rate plus that
/// much (Cloud measures its limit per second).
/// How far back a reservation may reach for unused slots.
const PACING_SLACK: Duration = Duration::from_millis(50);

pub struct Pacer {
    interval: Duration,
    next: tokio::time::Instant,
}

impl Pacer {
    pub fn new(rate: u32) -> Self {
        Pacer { interval: Duration::from_secs(1) / rate.max(1), next: tokio::time::Instant::now() }
    }

    /// Reserves the slots of this node's next `count` sends in the shared
    /// pacing row; [`Pacer::ready`] then hands them out. Should the
    /// database not answer, the node paces on its own for this batch.
    pub async fn reserve(&mut self, core: &crate::Core, count: usize) {
        let interval_us = self.interval.as_micros() as i64;
        let pnid = core.config.cloud.phone_number_id.clone();
        let now_us = crate::store::db::now_ms() * 1000;
        let floor_us = now_us - PACING_SLACK.as_micros() as i64;
        let reserved = core
            .db
            .run(move |conn| crate::store::pacing::reserve(conn, &pnid, count as i64, interval_us, floor_us))
            .await;
        match reserved {
            Ok(start_us) => {
                // The first slot may lie a little in the past (unused
                // slots, see `PACING_SLACK`): those go at once.
                let now = tokio::time::Instant::now();
                let offset = Duration::from_micros(start_us.abs_diff(now_us));
                self.next = if start_us >= now_us { now + offset } else { now.checked_sub(offset).unwrap_or(now) };
            }
            Err(e) => tracing::warn!(error = %e, "cannot reserve send slots; pacing this batch locally"),
        }
    }

    /// Waits for the next slot.
    pub async fn ready(&mut self) {
        let now = tokio::time::Instant::now();
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
        let floor = now.checked_sub(PACING_SLACK).unwrap_or(now);
        self.next = self.next.max(floor) + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests() {
        let mut pacer = Pacer::new(10);
        let start = tokio::time::Instant::now();
        for _ in 0..11 {
            pacer.ready().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_catches_up_on_slots_left_unused_but_no_more_than_the_slack() {
        let mut pacer = Pacer::new(100);
        pacer.ready().await;
        // A pause (a claim, a reservation) leaves slots unused.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let paused_at = tokio::time::Instant::now();
        let mut at_once = 0;
        loop {
            pacer.ready().await;
            if tokio::time::Instant::now() > paused_at {
                break;
            }
            at_once += 1;
        }
        // The slots of the last 50 ms at 10 ms a slot, and the current one.
        assert_eq!(at_once, 6);
    }
}
