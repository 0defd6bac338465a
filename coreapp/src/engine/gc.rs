//! The media garbage collector. One node at a time runs it (a lease in
//! `job_leases`); every step:
//! - with `garbagecollector_enable.media` on, removes media ids older than
//!   the retention (`WA_MEDIA_RETENTION_DAYS`, 30 days: as long as Cloud
//!   keeps an upload) and their files, unless other ids share the bytes;
//! - with `garbagecollector_enable.messages` on (the default), removes
//!   stored messages and webhook events finished more than 7 days ago, as
//!   the old client did (`DELETE /v1/messages` does the same on demand);
//! - always, clears what crashes leave: temporary files of unfinished
//!   uploads, file rows no media id uses, files no row knows.
//!
//! `PUT /v1/services/{message,media}/gc` runs a collector at once
//! ([`start_on_request`]) with the same retention, whatever the switches
//! say (they govern the periodic runs), and tells the business the result
//! with the old client's `services` webhook.
//!
//! Files go through the same locked protocol as uploads
//! (`store::media::reclaim_blob`), so the collector never races an upload
//! of identical bytes on another node.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::Core;
use crate::store::db::now_ms;
use crate::store::{leases, media, outbox};

/// Finished messages are kept this long when the messages collector is on.
const MESSAGE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
/// Temporary files older than this belong to no upload still running.
const TMP_AGE: Duration = Duration::from_secs(24 * 3600);
/// A file that no row knows is left this long (an upload may be between
/// placing it and committing).
const ORPHAN_AGE: Duration = Duration::from_secs(3600);
const BATCH: i64 = 500;

pub async fn step(core: &Arc<Core>) -> anyhow::Result<usize> {
    let interval = core.config.workers.gc_interval;
    let (owner, now) = (core.owner.clone(), now_ms());
    let until = now + 3 * interval.as_millis() as i64;
    let mine = core.db.run(move |conn| Ok(leases::acquire(conn, leases::MEDIA_GC, &owner, now, until)?)).await?;
    if !mine {
        return Ok(0);
    }
    let settings = core.settings().await?;
    if settings.garbagecollector_enable.messages {
        let purged = crate::api::admin::purge_messages(core, now - MESSAGE_RETENTION_MS).await?;
        if purged > 0 {
            tracing::info!(rows = purged, "finished messages older than 7 days removed");
        }
    }
    if settings.garbagecollector_enable.media {
        let (purged, _) = purge_expired(core, now - core.config.workers.media_retention.as_millis() as i64).await?;
        if purged > 0 {
            // More may be due: the worker loop runs the next step at once.
            return Ok(purged);
        }
    }
    clear_leftovers(core).await?;
    Ok(0)
}

/// Which collector a request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collector {
    Messages,
    Media,
}

impl Collector {
    /// The old client's name, in its answers and webhooks.
    pub fn name(self) -> &'static str {
        match self {
            Collector::Messages => "message",
            Collector::Media => "media",
        }
    }
}

/// Starts one run of a collector in the background, as the old client
/// did; its result reaches the business as a `services` webhook. A run of
/// the same collector already going on in this node is not doubled.
pub fn start_on_request(core: Arc<Core>, collector: Collector) {
    if !core.gc_running.lock().expect("gc flags").insert(collector.name()) {
        tracing::info!(collector = collector.name(), "garbage collection already running here");
        return;
    }
    tokio::spawn(async move {
        let outcome = match collector {
            Collector::Messages => collect_messages_now(&core).await.map_err(anyhow::Error::from),
            Collector::Media => collect_media_now(&core).await,
        };
        core.gc_running.lock().expect("gc flags").remove(&collector.name());
        let event = services_event(collector, outcome.as_ref().map(|n| *n).map_err(|_| ()));
        if let Err(e) = &outcome {
            tracing::error!(collector = collector.name(), error = ?e, "garbage collection failed");
        }
        let now = now_ms();
        let queued = core
            .db
            .run(move |conn| Ok(outbox::insert(conn, "", outbox::EventKind::Services, &event.to_string(), now)?))
            .await;
        match queued {
            Ok(_) => core.wake.delivery.notify_one(),
            Err(e) => tracing::error!(error = ?e, "the garbage collection webhook could not be queued"),
        }
    });
}

/// The old client's webhook at the end of a run: how many items went, or
/// what failed.
fn services_event(collector: Collector, outcome: Result<u64, ()>) -> serde_json::Value {
    let count = match collector {
        Collector::Messages => "messages_deleted",
        Collector::Media => "items_deleted",
    };
    let gc = match outcome {
        Ok(n) => json!({ count: n, "status": "complete" }),
        Err(_) => json!({
            count: 0,
            "status": "failed",
            "errors": [{"code": 1014, "title": "Internal error", "details": format!("The {} garbage collection failed; see the coreapp's log", collector.name())}],
        }),
    };
    json!({"services": [{ collector.name(): {"gc": gc} }]})
}

/// The messages collector, now: every finished message and webhook event
/// past the retention. Returns the rows removed.
async fn collect_messages_now(core: &Arc<Core>) -> Result<u64, crate::error::CoreError> {
    let purged = crate::api::admin::purge_messages(core, now_ms() - MESSAGE_RETENTION_MS).await?;
    tracing::info!(rows = purged, "message garbage collection run on request");
    Ok(purged)
}

/// The media collector, now: every media id past the retention and its
/// files, then the leftovers of crashes. Returns the media ids removed.
async fn collect_media_now(core: &Arc<Core>) -> anyhow::Result<u64> {
    let before = now_ms() - core.config.workers.media_retention.as_millis() as i64;
    let (mut ids, mut files) = (0, 0);
    loop {
        let (n, reclaimed) = purge_expired(core, before).await?;
        (ids, files) = (ids + n as u64, files + reclaimed);
        if n == 0 {
            break;
        }
    }
    files += clear_leftovers(core).await?;
    tracing::info!(media = ids, files, "media garbage collection run on request");
    Ok(ids)
}

/// Removes one batch of media ids made before `before`, and their files;
/// returns how many of each went.
async fn purge_expired(core: &Arc<Core>, before: i64) -> anyhow::Result<(usize, usize)> {
    let expired = core.db.run(move |conn| Ok(media::older_than(conn, before, BATCH)?)).await?;
    if expired.is_empty() {
        return Ok((0, 0));
    }
    let ids: Vec<String> = expired.iter().map(|(id, _)| id.clone()).collect();
    let blobs: BTreeSet<String> = expired.into_iter().filter_map(|(_, sha)| sha).collect();
    let n = ids.len();
    core.db.run(move |conn| Ok(media::delete_many(conn, &ids)?)).await?;
    let reclaimed = reclaim(core, blobs.into_iter().collect()).await?;
    tracing::info!(media = n, files = reclaimed, "media past retention removed");
    Ok((n, reclaimed))
}

/// Removes what crashes leave; returns how many files went.
async fn clear_leftovers(core: &Arc<Core>) -> anyhow::Result<usize> {
    let store = core.media.clone();
    let swept = tokio::task::spawn_blocking(move || store.sweep_tmp(TMP_AGE)).await??;
    let unused = core.db.run(|conn| Ok(media::unreferenced_blobs(conn, BATCH)?)).await?;
    let store = core.media.clone();
    let old_files =
        tokio::task::spawn_blocking(move || store.blobs_older_than(SystemTime::now() - ORPHAN_AGE, BATCH as usize))
            .await??;
    let unknown = core.db.run(move |conn| Ok(media::unknown_blobs(conn, &old_files)?)).await?;
    let reclaimed = reclaim(core, unused.into_iter().chain(unknown).collect()).await?;
    if swept + reclaimed > 0 {
        tracing::info!(temporary = swept, files = reclaimed, "media leftovers removed");
    }
    Ok(swept + reclaimed)
}

/// Removes each file no media id uses any more; returns how many went.
async fn reclaim(core: &Arc<Core>, shas: Vec<String>) -> anyhow::Result<usize> {
    if shas.is_empty() {
        return Ok(0);
    }
    let store = core.media.clone();
    let n = core
        .db
        .run(move |conn| {
            let mut n = 0;
            for sha in &shas {
                n += usize::from(media::reclaim_blob(conn, &store, sha, now_ms())?);
            }
            Ok(n)
        })
        .await?;
    Ok(n)
}
