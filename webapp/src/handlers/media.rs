//! `/v1/media`: upload (the raw body, with its `Content-Type`), download
//! and delete. Bytes stream through to a coreapp and back in chunks; the
//! webapp never holds a whole file, and never touches the volume.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::BytesMut;
use proto::core::media_chunk::Part;
use proto::core::{MediaChunk, MediaEnd, MediaId, MediaInfo};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use wire::ApiError;

use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{Failure, OnPrem, Reply};

/// Bytes per gRPC message.
const CHUNK: usize = 256 * 1024;

fn chunk(part: Part) -> MediaChunk {
    MediaChunk { part: Some(part) }
}

/// `POST /v1/media`: 201 `{"media":[{"id"}]}`.
pub async fn upload(State(state): State<AppState>, who: Principal, headers: HeaderMap, body: Body) -> Reply {
    who.require_user()?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let limit = wire::media::upload_limit(content_type)?;
    let mime_type = content_type.unwrap_or_default().trim().to_string();
    // Refused before a byte is read when the client says how much it sends.
    match headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
        Some(0) => return Err(wire::media::empty_body().into()),
        Some(n) if n > limit => return Err(wire::media::too_large(&mime_type, limit).into()),
        _ => {}
    }

    let (tx, rx) = mpsc::channel(8);
    let info = MediaInfo { mime_type: mime_type.clone(), ..Default::default() };
    tx.send(chunk(Part::Info(info))).await.expect("the receiver is alive");
    let call = state.cores.media().upload_media(tokio_stream::wrappers::ReceiverStream::new(rx));
    // When feeding fails the stream stops without `end`, and the coreapp
    // stores nothing; our own error is then the answer.
    let (fed, answer) = tokio::join!(feed(body, tx, limit, &mime_type), call);
    fed?;
    let id = answer?.media_id;
    Ok(OnPrem::created(json!({"media": [{"id": id}]})))
}

/// Reads the request body into `CHUNK`-sized messages, counting against
/// `limit`, and ends the stream with `end` once all of it is sent.
async fn feed(body: Body, tx: mpsc::Sender<MediaChunk>, limit: u64, mime_type: &str) -> Result<(), Failure> {
    let mut frames = body.into_data_stream();
    let mut buf = BytesMut::with_capacity(CHUNK);
    let mut total = 0u64;
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| ApiError::invalid(format!("The upload could not be read: {e}")))?;
        total += frame.len() as u64;
        if total > limit {
            return Err(wire::media::too_large(mime_type, limit).into());
        }
        buf.extend_from_slice(&frame);
        if buf.len() >= CHUNK && tx.send(chunk(Part::Data(buf.split().freeze()))).await.is_err() {
            return Ok(()); // the coreapp stopped reading: its answer says why
        }
    }
    if total == 0 {
        return Err(wire::media::empty_body().into());
    }
    if !buf.is_empty() && tx.send(chunk(Part::Data(buf.freeze()))).await.is_err() {
        return Ok(());
    }
    let _ = tx.send(chunk(Part::End(MediaEnd { size: total }))).await;
    Ok(())
}

/// `GET /v1/media/{id}`: the bytes, with `Content-Type` and
/// `Content-Disposition: attachment; filename=...`.
pub async fn download(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    who.require_user()?;
    let mut stream = state.cores.media().download_media(MediaId { media_id: id }).await?;
    let info = match stream.message().await.map_err(crate::coreapps::api_error)? {
        Some(MediaChunk { part: Some(Part::Info(info)) }) => info,
        other => {
            tracing::error!(first = ?other.map(|c| c.part.is_some()), "a media download did not start with its info");
            return Err(ApiError::internal().into());
        }
    };
    let bytes = stream.map(|item| match item {
        Ok(MediaChunk { part: Some(Part::Data(data)) }) => Ok(data),
        Ok(_) => Err(std::io::Error::other("unexpected message in a media download")),
        Err(status) => Err(std::io::Error::other(status.message().to_string())),
    });
    let mut response = Response::new(Body::from_stream(bytes));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let content_type =
        HeaderValue::from_str(&info.mime_type).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    let filename: String = info.filename.chars().filter(|c| c.is_ascii_graphic() && !matches!(c, '"' | ';')).collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename={filename}")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `DELETE /v1/media/{id}`.
pub async fn delete(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Reply {
    who.require_user()?;
    state.cores.any().delete_media(MediaId { media_id: id }).await?;
    Ok(OnPrem::empty())
}
