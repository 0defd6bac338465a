//! Downloader: fetches inbound media named in `media.auto_download` from
//! Cloud onto the volume, then lets its held webhook go out with the
//! file's path in `file`. A download that keeps failing gives up after a
//! few tries (the webhook then goes out without `file`; the file is
//! fetched on its first `GET /v1/media/{id}`), so a contact's webhooks are
//! never held back for long.

use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use crate::Core;
use crate::clients::cloud::retry_delay;
use crate::error::CoreError;
use crate::media_files::{self, Unavailable};
use crate::store::db::{AnyConnection, now_ms, transaction};
use crate::store::downloads::{self, Download};
use crate::store::queue::{self, Queue, Settle, State};
use crate::store::{media, outbox};

/// Downloads at once per node.
const CONCURRENCY: i64 = 4;
/// Tries before a download gives up (about a minute of backoff).
const MAX_ATTEMPTS: i32 = 6;

pub async fn step(core: &Arc<Core>) -> anyhow::Result<usize> {
    let (owner, lease) = (core.owner.clone(), core.config.workers.lease.as_millis() as i64);
    let jobs = core
        .db
        .run(move |conn| {
            let ids = queue::claim(conn, Queue::MediaDownload, &owner, now_ms(), lease, CONCURRENCY)?;
            Ok(if ids.is_empty() { Vec::new() } else { downloads::load(conn, &ids)? })
        })
        .await?;
    let n = jobs.len();
    let mut tasks = JoinSet::new();
    for job in jobs {
        let core = core.clone();
        tasks.spawn(async move {
            let id = job.id.clone();
            if let Err(e) = download_and_settle(&core, job).await {
                tracing::error!(download_id = %id, error = %e, "could not settle a download; retried when its claim lapses");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    if n > 0 {
        core.wake.delivery.notify_one();
    }
    Ok(n)
}

async fn download_and_settle(core: &Arc<Core>, job: Download) -> Result<(), CoreError> {
    let media_id = job.media_id.clone();
    let row = core.db.run(move |conn| Ok(media::find(conn, &media_id)?)).await?;
    let outcome = match row {
        None => Err(Unavailable::Missing("the media id was deleted".into())),
        Some(row) => {
            super::keep_claimed(core, Queue::MediaDownload, &job.id, media_files::ensure_local(core, row)).await
        }
    };
    let attempts = job.attempts + 1;
    let owner = core.owner.clone();
    // A fetched file is recorded even if the database is away for a while.
    let patience = core.config.workers.lease;
    match outcome {
        Ok(row) => {
            let path = core.media.blob_path(row.blob_sha256.as_deref().unwrap_or_default());
            let file = path.display().to_string();
            core.db
                .run_patiently(patience, move |conn| transaction(conn, |conn| finish(conn, &job, &owner, Some(&file))))
                .await
        }
        Err(Unavailable::Retry(why)) if attempts < MAX_ATTEMPTS => {
            let delay = retry_delay(attempts as u32);
            tracing::warn!(media_id = %job.media_id, attempts, retry_in = ?delay, %why, "media download will be retried");
            let settle = Settle {
                state: State::Pending,
                attempts,
                next_attempt_at: now_ms() + delay.as_millis() as i64,
                last_error: Some(why),
            };
            core.db
                .run_patiently(patience, move |conn| {
                    Ok(queue::settle(conn, Queue::MediaDownload, &job.id, &owner, &settle)?)
                })
                .await
                .map(drop)
        }
        Err(why) => {
            tracing::warn!(media_id = %job.media_id, attempts, %why, "media download gave up; the webhook goes out without 'file'");
            core.db
                .run_patiently(patience, move |conn| transaction(conn, |conn| finish(conn, &job, &owner, None)))
                .await
        }
    }
}

/// Ends a download: its held webhook goes out (with `file` when the file
/// is on the volume) and the job leaves the queue.
fn finish(conn: &mut AnyConnection, job: &Download, owner: &str, file: Option<&str>) -> Result<(), CoreError> {
    if queue::finish_many(conn, Queue::MediaDownload, std::slice::from_ref(&job.id), owner)? == 0 {
        return Ok(()); // the claim lapsed; whoever holds it now finishes
    }
    let Some(event_id) = job.event_id.as_deref() else { return Ok(()) };
    let payload = match (file, outbox::payload_of(conn, event_id)?) {
        (Some(file), Some(payload)) => with_file(&payload, file),
        _ => None,
    };
    outbox::release(conn, event_id, payload.as_deref(), now_ms())?;
    Ok(())
}

/// The webhook with the downloaded file's path in its media object, as the
/// old client's `file`.
fn with_file(payload: &str, file: &str) -> Option<String> {
    let mut body: Value = serde_json::from_str(payload).ok()?;
    let message = body.pointer_mut("/messages/0")?;
    let kind = message.get("type")?.as_str()?.to_string();
    let object = message.get_mut(&kind).filter(|o| o.is_object())?;
    object["file"] = Value::String(file.to_string());
    Some(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_goes_into_the_media_object() {
        let payload = r#"{"contacts":[{"wa_id":"1"}],"messages":[{"id":"x","type":"voice","voice":{"id":"m"}}]}"#;
        let out: Value = serde_json::from_str(&with_file(payload, "/usr/local/wamedia/blobs/ab/abc").unwrap()).unwrap();
        assert_eq!(out["messages"][0]["voice"]["file"], "/usr/local/wamedia/blobs/ab/abc");
        assert_eq!(out["messages"][0]["voice"]["id"], "m");
        assert!(with_file(r#"{"statuses":[]}"#, "/f").is_none());
    }
}
