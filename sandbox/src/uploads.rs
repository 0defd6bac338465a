//! Graph's Resumable Upload API, where Cloud clients get the handles that
//! `profile_picture_handle` (and template header examples) take:
//! `POST /{app-id}/uploads` opens a session for a declared file,
//! `POST /upload:{id}` sends bytes from `file_offset` on (so an interrupted
//! upload resumes where it stopped), `GET /upload:{id}` says how far it got,
//! and the chunk with the last byte answers the file's handle `h`.

pub mod store;

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, Method};
use rand::Rng as _;
use serde_json::{Map, Value, json};
use tracing::info;

use crate::graph::{self, GraphError};
use crate::state::AppState;
use store::{ChunkError, NewUpload, Progress};

/// The MIME types Meta accepts for a session.
pub const FILE_TYPES: &[&str] = &["application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4"];
/// The largest file a session may declare: files live in memory, and media
/// stops at 100 MB too.
pub const MAX_FILE_LENGTH: u64 = 100 * 1024 * 1024;
/// Session node ids are this prefix and an opaque id.
pub const ID_PREFIX: &str = "upload:";
/// Header of a chunk's position in the file.
const OFFSET_HEADER: &str = "file_offset";

/// `POST /{app-id}/uploads?file_name=…&file_length=…&file_type=…` →
/// `{"id":"upload:…"}`.
pub(crate) async fn start(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    if method != Method::POST || node != state.config.app_id {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let params = graph::read_params(&headers, &query, &body)?;
    let upload = NewUpload {
        file_name: file_name(&params)?,
        file_length: file_length(&params)?,
        file_type: file_type(&params)?,
    };
    let id = session_id(&state, &upload);
    info!(upload_id = %id, file_name = %upload.file_name, file_type = %upload.file_type,
        file_length = upload.file_length, "upload session opened");
    state.uploads.open(id.clone(), upload);
    Ok(Json(json!({ "id": format!("{ID_PREFIX}{id}") })))
}

/// A parameter as text: Graph takes numbers as strings and strings as numbers.
fn text_param(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// `file_name`: required by Meta's current guide, any non-empty name.
fn file_name(params: &Map<String, Value>) -> Result<String, GraphError> {
    match text_param(params, "file_name") {
        Some(name) if !name.is_empty() => Ok(name),
        _ => Err(GraphError::missing_parameter("file_name")),
    }
}

/// `file_length`: the whole file's size in bytes, positive.
fn file_length(params: &Map<String, Value>) -> Result<u64, GraphError> {
    let raw = text_param(params, "file_length").ok_or_else(|| GraphError::missing_parameter("file_length"))?;
    match raw.parse::<u64>() {
        Ok(length) if (1..=MAX_FILE_LENGTH).contains(&length) => Ok(length),
        _ => Err(GraphError::invalid_parameter(format!(
            "Param file_length must be a number of bytes from 1 to {MAX_FILE_LENGTH}, got \"{raw}\"."
        ))),
    }
}

/// `file_type`: one of [`FILE_TYPES`], spelled as Meta lists them.
fn file_type(params: &Map<String, Value>) -> Result<String, GraphError> {
    let raw = text_param(params, "file_type").ok_or_else(|| GraphError::missing_parameter("file_type"))?;
    if FILE_TYPES.contains(&raw.as_str()) {
        return Ok(raw);
    }
    Err(GraphError::invalid_parameter(format!(
        "Param file_type must be one of {{{}}} - got \"{raw}\".",
        FILE_TYPES.join(", ")
    )))
}

/// A fresh opaque session id, shaped like Meta's: URL-safe base64 of an
/// attachment reference that names the declared length and type.
fn session_id(state: &AppState, upload: &NewUpload) -> String {
    loop {
        let nonce: [u8; 16] = rand::rng().random();
        let reference = format!(
            "1:attachment:{}?file_length={}&file_type={}",
            hex::encode(nonce),
            upload.file_length,
            upload.file_type
        );
        let id = URL_SAFE_NO_PAD.encode(reference);
        if !state.uploads.contains(&id) {
            return id;
        }
    }
}

/// A fresh file handle, shaped like Meta's: `4::` and the base64 of the
/// file's type, then an opaque part.
fn new_handle(file_type: &str) -> String {
    let secret: [u8; 32] = rand::rng().random();
    format!("4::{}:AR{}", STANDARD.encode(file_type), URL_SAFE_NO_PAD.encode(secret))
}

/// `GET` / `POST /upload:{id}`, where `session` is the id after the prefix.
pub(crate) fn node(
    state: &AppState,
    method: &Method,
    session: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    let node = format!("{ID_PREFIX}{session}");
    let unknown = || GraphError::unsupported_request(method, &node);
    match *method {
        Method::GET => {
            let offset = state.uploads.offset(session).ok_or_else(unknown)?;
            Ok(progress(&node, offset))
        }
        Method::POST => {
            let offset = file_offset(headers)?;
            match state.uploads.append(session, offset, body, new_handle) {
                Ok(Progress::Partial(received)) => Ok(progress(&node, received)),
                Ok(Progress::Complete(handle)) => {
                    info!(upload_id = %session, "upload complete");
                    Ok(Json(json!({ "h": handle })).into_response())
                }
                Err(ChunkError::Unknown) => Err(unknown()),
                Err(ChunkError::WrongOffset { expected }) => Err(GraphError::invalid_parameter(format!(
                    "Param file_offset must be {expected}, the bytes received so far - got {offset}."
                ))),
                Err(ChunkError::PastEnd { file_length }) => Err(GraphError::invalid_parameter(format!(
                    "The chunk of {} bytes at offset {offset} goes past the file_length of {file_length} bytes.",
                    body.len()
                ))),
            }
        }
        _ => Err(unknown()),
    }
}

/// `{"id":"upload:…","file_offset":n}`: where an unfinished session stands.
fn progress(node: &str, offset: u64) -> Response {
    Json(json!({ "id": node, "file_offset": offset })).into_response()
}

/// The `file_offset` header: where in the file the body's bytes start.
fn file_offset(headers: &HeaderMap) -> Result<u64, GraphError> {
    let value = headers.get(OFFSET_HEADER).ok_or_else(|| GraphError::missing_parameter(OFFSET_HEADER))?;
    value.to_str().ok().and_then(|text| text.trim().parse().ok()).ok_or_else(|| {
        GraphError::invalid_parameter(format!("Param {OFFSET_HEADER} must be a number of bytes from 0 up."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn session_parameters_are_checked() {
        let ok = params(json!({"file_name": "a.png", "file_length": "10", "file_type": "image/png"}));
        assert_eq!(file_name(&ok).unwrap(), "a.png");
        assert_eq!(file_length(&ok).unwrap(), 10);
        assert_eq!(file_type(&ok).unwrap(), "image/png");
        assert_eq!(file_length(&params(json!({"file_length": 7}))).unwrap(), 7);
        for bad in [json!({}), json!({"file_length": "0"}), json!({"file_length": "-1"}), json!({"file_length": "ten"})]
        {
            assert_eq!(file_length(&params(bad.clone())).unwrap_err().code, 100, "{bad}");
        }
        let too_big = params(json!({"file_length": (MAX_FILE_LENGTH + 1).to_string()}));
        assert!(file_length(&too_big).is_err());
        for bad in [json!({}), json!({"file_type": "image/gif"}), json!({"file_type": "IMAGE/PNG"})] {
            assert_eq!(file_type(&params(bad.clone())).unwrap_err().code, 100, "{bad}");
        }
        assert!(file_name(&params(json!({"file_name": " "}))).is_err());
    }

    #[test]
    fn handles_name_their_type() {
        let handle = new_handle("image/jpeg");
        assert!(handle.starts_with("4::aW1hZ2UvanBlZw==:AR"), "{handle}");
        assert_ne!(handle, new_handle("image/jpeg"));
    }

    #[test]
    fn offsets_come_from_the_header() {
        let mut headers = HeaderMap::new();
        assert!(file_offset(&headers).is_err());
        headers.insert(OFFSET_HEADER, http::HeaderValue::from_static("12"));
        assert_eq!(file_offset(&headers).unwrap(), 12);
        headers.insert(OFFSET_HEADER, http::HeaderValue::from_static("-1"));
        assert!(file_offset(&headers).is_err());
    }
}
