//! Media files: uploads onto the shared volume, downloads from it, deletes,
//! inbound files fetched from Cloud, and our files uploaded to Cloud when a
//! message first sends them.
//!
//! Bytes are streamed at every step (gRPC chunks or Cloud's response body
//! into a temporary file, the file back out in chunks), so memory stays a
//! few chunks whatever the size. The file protocol that keeps several
//! coreapps from racing is in [`crate::store::media`].

use std::collections::HashMap;
use std::io::{self, Read};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wire::media::MAX_UPLOAD;
use wire::{ApiError, ErrorCode};

use crate::Core;
use crate::clients::cloud::{CallError, SendOutcome};
use crate::error::CoreError;
use crate::store::db::now_ms;
use crate::store::media::{self as rows, Media};

/// Bytes arriving from an async source, for a blocking writer.
pub type Chunks = mpsc::Receiver<io::Result<Bytes>>;

/// How many chunks may wait between an async source and the writer.
pub const CHUNKS_IN_FLIGHT: usize = 8;

/// Why a file cannot be had.
#[derive(Debug, Clone, PartialEq)]
pub enum Unavailable {
    /// For good: the row or the file is gone, Cloud no longer has it, or it
    /// is too big.
    Missing(String),
    /// For now: Cloud or the database did not answer.
    Retry(String),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Missing(why) | Unavailable::Retry(why) => f.write_str(why),
        }
    }
}

/// A blocking [`Read`] over chunks sent from async code. The sender ends
/// the stream by dropping its side; an `Err` it sends fails the read (and
/// so the write of a partial file).
pub struct ChunkReader {
    rx: Chunks,
    current: Bytes,
}

impl ChunkReader {
    pub fn new(rx: Chunks) -> Self {
        ChunkReader { rx, current: Bytes::new() }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Writes chunks to a temporary file on the volume (not yet placed).
async fn write_chunks(core: &Core, chunks: Chunks, limit: u64) -> Result<media::Written, media::MediaError> {
    let store = core.media.clone();
    tokio::task::spawn_blocking(move || store.write(ChunkReader::new(chunks), limit))
        .await
        .map_err(|e| media::MediaError::Io(io::Error::other(e)))?
}

/// The error the sender of an upload puts in the stream when it stops
/// before the end (the client went away, the webapp gave up).
pub fn interrupted(why: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, why.to_string())
}

// === uploads: POST /v1/media ===

/// Stores an uploaded file and returns its new media id.
pub async fn upload(core: &Core, mime_type: String, chunks: Chunks) -> Result<String, CoreError> {
    let mime_type = mime_type.trim().to_string();
    let limit = wire::media::upload_limit(Some(&mime_type))?;
    let written = write_chunks(core, chunks, limit).await.map_err(|e| upload_error(e, &mime_type, limit))?;
    if written.stored.size == 0 {
        return Err(wire::media::empty_body().into());
    }
    let now = now_ms();
    let row = Media {
        id: uuid::Uuid::new_v4().to_string(),
        origin: rows::ORIGIN_UPLOAD.into(),
        mime_type,
        cloud_id: None,
        cloud_expires_at: None,
        cloud_sha256: None,
        blob_sha256: Some(written.stored.sha256.clone()),
        size: Some(written.stored.size as i64),
        filename: None,
        created_at: now,
        upload_id: None,
        upload_expires_at: None,
        cloud_url: None,
    };
    let id = row.id.clone();
    let store = core.media.clone();
    core.db.run(move |conn| rows::commit_upload(conn, &store, written, &row, now)).await.map_err(|e| match e {
        CoreError::Db(ref d) if crate::store::is_unique_violation(d) => {
            ApiError::new(ErrorCode::AlreadyExists, "A media file with this id already exists").into()
        }
        other => other,
    })?;
    tracing::info!(media_id = %id, "media uploaded");
    Ok(id)
}

fn upload_error(e: media::MediaError, mime_type: &str, limit: u64) -> CoreError {
    use media::MediaError as M;
    match e {
        M::TooLarge { .. } => wire::media::too_large(mime_type, limit).into(),
        M::Io(e) | M::Volume { source: e, .. } => match e.kind() {
            io::ErrorKind::ConnectionAborted => ApiError::invalid("The upload ended before all of it arrived").into(),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                tracing::error!(error = %e, "media volume is not writable");
                ApiError::forbidden("The media volume is not writable").into()
            }
            io::ErrorKind::StorageFull => {
                tracing::error!(error = %e, "media volume is full");
                ApiError::new(ErrorCode::InternalError, "The media volume is full").into()
            }
            _ => CoreError::Internal(anyhow::Error::from(e).context("cannot store an upload")),
        },
        M::NotFound(what) => CoreError::Internal(anyhow::anyhow!("unexpected: {what}")),
    }
}

// === downloads: GET /v1/media/{id} ===

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("File with id {id} not found"))
}

/// Opens a media file for reading, fetching an inbound one from Cloud
/// first when it is not on the volume yet.
pub async fn open(core: &Core, id: String) -> Result<(Media, std::fs::File), CoreError> {
    let lookup = id.clone();
    let Some(row) = core.db.run(move |conn| Ok(rows::find(conn, &lookup)?)).await? else {
        return Err(not_found(&id).into());
    };
    let row = ensure_local(core, row).await.map_err(|u| -> CoreError {
        match u {
            Unavailable::Missing(why) => {
                tracing::warn!(media_id = %id, %why, "media file cannot be had");
                not_found(&id).into()
            }
            Unavailable::Retry(why) => {
                tracing::warn!(media_id = %id, %why, "media file could not be fetched from Cloud");
                ApiError::new(ErrorCode::InternalError, "The file could not be fetched from Cloud API; try again")
                    .into()
            }
        }
    })?;
    let store = core.media.clone();
    let sha = row.blob_sha256.clone().unwrap_or_default();
    let file = tokio::task::spawn_blocking(move || store.open_blob(&sha)).await.map_err(anyhow::Error::from)?;
    match file {
        Ok(file) => Ok((row, file)),
        // Deleted between the look-up and the open.
        Err(media::MediaError::NotFound(_)) => Err(not_found(&id).into()),
        Err(e) => Err(CoreError::Internal(e.into())),
    }
}

/// The name a download is offered under: the document's own, else the id
/// with the type's usual extension.
pub fn file_name(row: &Media) -> String {
    if let Some(name) = row.filename.as_deref().filter(|n| !n.trim().is_empty()) {
        return name.to_string();
    }
    let extension = wire::media::extension_of(&row.mime_type);
    format!("{}.{extension}", row.id)
}

// === deletes: DELETE /v1/media/{id} ===

/// Removes a media id; its file goes too unless another id has the same
/// bytes. The copy uploaded to Cloud is deleted there as well (best effort).
pub async fn delete(core: &Core, id: String) -> Result<(), CoreError> {
    let lookup = id.clone();
    let Some(row) = core.db.run(move |conn| Ok(rows::delete(conn, &lookup)?)).await? else {
        return Err(not_found(&id).into());
    };
    if let Some(sha) = row.blob_sha256.clone() {
        let store = core.media.clone();
        // A failure here leaves the file to the garbage collector.
        if let Err(e) = core.db.run(move |conn| rows::reclaim_blob(conn, &store, &sha, now_ms())).await {
            tracing::warn!(media_id = %id, error = %e, "media file not removed yet; the collector will");
        }
    }
    if let Some(upload_id) = row.upload_id.filter(|_| row.upload_expires_at.unwrap_or(0) > now_ms()) {
        let cloud = core.cloud.clone();
        tokio::spawn(async move {
            if let Err(e) = cloud.delete_media(&upload_id).await {
                tracing::info!(%upload_id, error = %e, "Cloud copy of a deleted media file not removed");
            }
        });
    }
    tracing::info!(media_id = %id, "media deleted");
    Ok(())
}

// === inbound files, fetched from Cloud ===

/// Makes sure a media file is on the volume: an inbound one not fetched
/// yet is downloaded from Cloud (and recorded). Returns the row with its
/// file.
pub async fn ensure_local(core: &Core, mut row: Media) -> Result<Media, Unavailable> {
    if let Some(sha) = row.blob_sha256.as_deref() {
        let (store, sha) = (core.media.clone(), sha.to_string());
        if tokio::task::spawn_blocking(move || store.contains(&sha)).await.unwrap_or(false) {
            return Ok(row);
        }
    }
    if row.cloud_id.is_none() {
        return Err(Unavailable::Missing("the file is not on the media volume".into()));
    }
    let written = fetch(core, &row).await?;
    let stored = written.stored.clone();
    let (store, id) = (core.media.clone(), row.id.clone());
    let kept = core
        .db
        .run(move |conn| rows::attach_blob(conn, &store, &id, written, now_ms()))
        .await
        .map_err(|e| Unavailable::Retry(format!("cannot record the downloaded file: {e}")))?;
    if !kept {
        return Err(Unavailable::Missing("the media id was deleted meanwhile".into()));
    }
    tracing::debug!(media_id = %row.id, size = stored.size, "inbound media downloaded");
    row.blob_sha256 = Some(stored.sha256);
    row.size = Some(stored.size as i64);
    Ok(row)
}

/// Downloads an inbound file from Cloud into a temporary file: with the
/// URL the webhook carried while it works, else with a fresh one
/// (`GET /{media-id}`), checking Cloud's sha256.
///
/// The token goes only to Cloud's hosts: a webhook URL elsewhere is not
/// used. A file whose sha256 Cloud does not give in a readable form cannot
/// be checked, and is not downloaded.
async fn fetch(core: &Core, row: &Media) -> Result<media::Written, Unavailable> {
    let cloud_id = row.cloud_id.clone().unwrap_or_default();
    let unverifiable = || Unavailable::Missing(format!("Cloud gave no readable sha256 for media {cloud_id}"));
    let mut expected = match row.cloud_sha256.as_deref() {
        None => None,
        Some(sha) => Some(wire::cloud::sha256_to_hex(sha).ok_or_else(unverifiable)?),
    };
    let webhook_url = row.cloud_url.as_deref().filter(|url| {
        let cloud = core.cloud.is_cloud_url(url);
        if !cloud {
            let url = wire::redact::url(url);
            tracing::warn!(media_id = %row.id, %url, "a webhook's media URL is not on a Cloud host; looking it up instead");
        }
        // Without Cloud's sha256 at hand the lookup gives one.
        cloud && expected.is_some()
    });
    let mut response = None;
    if let Some(url) = webhook_url {
        match core.cloud.media_download(url).await {
            Ok(r) => response = Some(r),
            // Expired (URLs live 5 minutes): look up a fresh one.
            Err(CallError::Refused(_)) => tracing::debug!(media_id = %row.id, "webhook's media URL expired"),
            Err(CallError::Retry(why)) => return Err(Unavailable::Retry(why)),
        }
    }
    let response = match response {
        Some(r) => r,
        None => {
            let info = core.cloud.media_info(&cloud_id).await.map_err(|e| match e {
                CallError::Retry(why) => Unavailable::Retry(why),
                CallError::Refused(error) => {
                    Unavailable::Missing(format!("Cloud no longer has media {cloud_id}: {error}"))
                }
            })?;
            if info.file_size.is_some_and(|n| n > MAX_UPLOAD) {
                return Err(Unavailable::Missing(format!("media {cloud_id} is larger than 100 MB")));
            }
            if let Some(sha) = info.sha256 {
                expected = Some(wire::cloud::sha256_to_hex(&sha).ok_or_else(unverifiable)?);
            }
            if expected.is_none() {
                return Err(unverifiable());
            }
            if !core.cloud.is_cloud_url(&info.url) {
                let url = wire::redact::url(&info.url);
                return Err(Unavailable::Retry(format!(
                    "Cloud's download URL {url} for media {cloud_id} is not on a Cloud host (WA_CLOUD_MEDIA_HOSTS)"
                )));
            }
            // A URL just handed out that does not work is Cloud's hiccup.
            core.cloud.media_download(&info.url).await.map_err(|e| Unavailable::Retry(e.to_string()))?
        }
    };

    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let pump = async move {
        let mut response = response;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        return; // the writer stopped (too large)
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let why = crate::clients::outbound::error_text(e);
                    let _ = tx.send(Err(interrupted(format!("download interrupted: {why}")))).await;
                    return;
                }
            }
        }
    };
    let (_, written) = tokio::join!(pump, write_chunks(core, rx, MAX_UPLOAD));
    let written = written.map_err(|e| match e {
        media::MediaError::TooLarge { .. } => Unavailable::Missing(format!("media {cloud_id} is larger than 100 MB")),
        other => Unavailable::Retry(other.to_string()),
    })?;
    let want = expected.ok_or_else(unverifiable)?;
    if want != written.stored.sha256 {
        return Err(Unavailable::Retry(format!(
            "downloaded media {cloud_id} has sha256 {}, Cloud said {want}",
            written.stored.sha256
        )));
    }
    Ok(written)
}

// === sending our media ids ===

/// A failed send for a media file that cannot be sent, worded as Cloud's
/// media error so it maps to the on-prem code like Cloud's own.
fn unsendable(id: &str, why: &str) -> SendOutcome {
    SendOutcome::Failed {
        error: json!({"code": 131053, "title": "Media upload error",
                      "error_data": {"details": format!("Media {id} cannot be sent: {why}")}}),
    }
}

fn retry(reason: String) -> SendOutcome {
    SendOutcome::Retry { reason, after: None, error: Value::Null }
}

/// Cloud media ids for the media ids of ours a message sends. A file sent
/// for the first time (or whose upload Cloud no longer keeps) is uploaded
/// from the volume; an inbound file not on the volume is fetched first.
/// Ids that are not ours are left to pass through.
pub async fn cloud_ids_for_send(core: &Core, ids: &[String]) -> Result<HashMap<String, String>, SendOutcome> {
    let ours: Vec<String> = ids.iter().filter(|id| wire::messages::is_our_media_id(id)).cloned().collect();
    if ours.is_empty() {
        return Ok(HashMap::new());
    }
    let lookup = ours.clone();
    let found = core
        .db
        .run(move |conn| Ok(rows::find_many(conn, &lookup)?))
        .await
        .map_err(|e| retry(format!("cannot read media rows: {e}")))?;
    let mut map = HashMap::new();
    for id in ours {
        let Some(row) = found.iter().find(|r| r.id == id).cloned() else {
            return Err(unsendable(&id, "it was deleted"));
        };
        if let (Some(upload_id), Some(until)) = (&row.upload_id, row.upload_expires_at)
            && until > now_ms()
        {
            map.insert(id, upload_id.clone());
            continue;
        }
        let row = ensure_local(core, row).await.map_err(|u| match u {
            Unavailable::Missing(why) => unsendable(&id, &why),
            Unavailable::Retry(why) => retry(why),
        })?;
        let path = core.media.blob_path(row.blob_sha256.as_deref().unwrap_or_default());
        let size = row.size.unwrap_or_default() as u64;
        let upload_id =
            core.cloud.upload_media(&path, &row.mime_type, &file_name(&row), size).await.map_err(|e| match e {
                CallError::Retry(why) => retry(format!("media upload: {why}")),
                CallError::Refused(error) => SendOutcome::Failed { error },
            })?;
        tracing::debug!(media_id = %id, %upload_id, "media uploaded to Cloud");
        let (rid, uid) = (id.clone(), upload_id.clone());
        core.db
            .run(move |conn| Ok(rows::set_upload(conn, &rid, &uid, now_ms() + rows::UPLOAD_USABLE_MS)?))
            .await
            .map_err(|e| retry(format!("cannot record the Cloud media id: {e}")))?;
        map.insert(id, upload_id);
    }
    Ok(map)
}

/// Ids of ours a message sends that we have no row for (checked when the
/// message is accepted, so the client hears of a typo at once).
pub async fn unknown_ids(core: &Core, message: &wire::messages::Message) -> Result<Vec<String>, CoreError> {
    let ours: Vec<String> =
        message.media_ids().into_iter().filter(|id| wire::messages::is_our_media_id(id)).map(String::from).collect();
    if ours.is_empty() {
        return Ok(Vec::new());
    }
    let lookup = ours.clone();
    let found = core.db.run(move |conn| Ok(rows::find_many(conn, &lookup)?)).await?;
    Ok(ours.into_iter().filter(|id| !found.iter().any(|r| &r.id == id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_reader_reads_across_chunks_and_fails_on_an_error() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"hello "))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"world"))).unwrap();
        drop(tx);
        let mut out = String::new();
        ChunkReader::new(rx).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"part"))).unwrap();
        tx.try_send(Err(interrupted("gone"))).unwrap();
        let mut out = Vec::new();
        let err = ChunkReader::new(rx).read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[test]
    fn download_names() {
        let mut row = Media::inbound("f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68".into(), "image/jpeg".into(), None, 0);
        assert_eq!(file_name(&row), "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68.jpg");
        row.mime_type = "audio/ogg; codecs=opus".into();
        assert_eq!(file_name(&row), "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68.ogg");
        row.filename = Some("invoice.pdf".into());
        assert_eq!(file_name(&row), "invoice.pdf");
    }
}
