//! Media (`docs/cloud-api.md` §3): multipart upload to `POST /{phone-number-id}/media`,
//! `GET /{media-id}` for a download URL valid 5 minutes, the download itself
//! (Bearer token required), and `DELETE /{media-id}`.
//!
//! Download URLs mimic Meta's lookaside ones
//! (`/whatsapp_business/attachments/?mid=…&ext=…&hash=…`) but point at the
//! sandbox: `ext` is the expiry (unix seconds, sandbox clock) and `hash` an
//! HMAC over id and expiry, so a URL cannot be forged or extended.

pub mod kinds;
pub mod samples;
pub mod store;

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tracing::info;

use crate::graph::{self, GraphError};
use crate::state::AppState;
use kinds::Kind;
use store::{Media, NewMedia, Origin};

/// How long a download URL works.
pub const URL_TTL_SECS: i64 = 5 * 60;
/// Path of the download URLs.
pub const DOWNLOAD_PATH: &str = "/whatsapp_business/attachments/";
/// Largest upload accepted on the wire (the largest type, documents, is 100 MB).
pub const UPLOAD_BODY_LIMIT: usize = 101 * 1024 * 1024;

/// `POST /{phone-number-id}/media` (multipart: `messaging_product`, `file`, `type`).
pub(crate) async fn upload(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, GraphError> {
    if method != Method::POST || !state.hosts(&node) {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let mut multipart = multipart.map_err(|_| {
        GraphError::invalid_parameter(
            "Upload media with a multipart/form-data body (fields messaging_product, file, type).",
        )
    })?;

    let mut product = None;
    let mut declared_type = None;
    let mut file: Option<(Bytes, Option<String>, Option<String>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => {
                return Err(GraphError::invalid_parameter(format!("Malformed multipart body: {}", err.body_text())));
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let content_type = field.content_type().map(str::to_owned);
                let filename = field.file_name().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|err| {
                    GraphError::whatsapp(131053, format!("Could not read the uploaded file: {}", err.body_text()))
                })?;
                file = Some((bytes, content_type, filename));
            }
            "messaging_product" => product = field.text().await.ok(),
            "type" => declared_type = field.text().await.ok().filter(|t| !t.trim().is_empty()),
            // `ttl_minutes` (No Storage numbers) and anything else: ignored, as Cloud does.
            _ => {}
        }
    }
    match product.as_deref().map(str::trim) {
        None => return Err(GraphError::missing_parameter("messaging_product")),
        Some("whatsapp") => {}
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."
            )));
        }
    }
    let Some((bytes, part_type, filename)) = file else {
        return Err(GraphError::missing_parameter("file"));
    };
    let mime = declared_type.or(part_type).unwrap_or_else(|| "application/octet-stream".to_owned()).trim().to_owned();
    check_file(&mime, &bytes)?;

    let media = store(
        &state,
        NewMedia { phone_number_id: node.clone(), mime_type: mime, bytes, filename, origin: Origin::Uploaded },
    );
    info!(phone_number_id = %node, media_id = %media.id, mime_type = %media.mime_type, size = media.bytes.len(), "media uploaded");
    Ok(Json(json!({ "id": media.id })))
}

/// The upload rules of `docs/cloud-api.md` §3: a supported type, within its size,
/// whose bytes look like that type (131053 otherwise).
pub(crate) fn check_file(mime: &str, bytes: &[u8]) -> Result<(), GraphError> {
    if kinds::of_mime(mime).is_none() {
        return Err(GraphError::whatsapp(
            131053,
            format!(
                "Param file must be a file with one of the following types: {}. Received file of type '{mime}'.",
                kinds::all_mime_types().join(", ")
            ),
        ));
    }
    if bytes.is_empty() {
        return Err(GraphError::whatsapp(131053, "The uploaded file is empty."));
    }
    let animated = kinds::base_type(mime) == "image/webp" && kinds::is_animated_webp(bytes);
    let max = kinds::max_size(mime, animated);
    if bytes.len() as u64 > max {
        return Err(GraphError::whatsapp(
            131053,
            format!("File of type {mime} is {} bytes, more than the {max} bytes allowed.", bytes.len()),
        ));
    }
    if !kinds::content_matches(mime, bytes) {
        return Err(GraphError::whatsapp(131053, format!("The file's content is not of its declared type {mime}.")));
    }
    Ok(())
}

/// Stores a file under a fresh id that collides with no other node.
pub(crate) fn store(state: &AppState, new: NewMedia) -> std::sync::Arc<Media> {
    state.media.insert(new, state.clock.now_ms(), |id| state.is_fixed_id(id) || state.templates.contains_id(id))
}

/// `GET` / `DELETE /{media-id}[?phone_number_id=…]`; any unknown node id ends
/// up here too and gets the unknown-object error.
pub(crate) fn node(
    state: &AppState,
    method: &Method,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let now = state.clock.now_ms();
    let media = state.media.get(id, now).ok_or_else(|| GraphError::unsupported_request(method, id))?;
    // With `phone_number_id`, only media of that number is visible.
    if query.get("phone_number_id").is_some_and(|number| number != &media.phone_number_id) {
        return Err(GraphError::unsupported_request(method, id));
    }
    match *method {
        Method::GET => {
            let base = graph::base_url(state.config.public_url.as_deref(), headers);
            let url = download_url(state, &base, &media, now / 1000 + URL_TTL_SECS);
            let answer = MediaInfo {
                messaging_product: "whatsapp",
                url,
                mime_type: &media.mime_type,
                sha256: media.sha256_hex(),
                file_size: media.bytes.len(),
                id: &media.id,
            };
            Ok(Json(answer).into_response())
        }
        Method::DELETE => {
            state.media.remove(id, now);
            info!(media_id = %id, "media deleted");
            Ok(Json(json!({ "success": true })).into_response())
        }
        _ => Err(GraphError::unsupported_request(method, id)),
    }
}

/// `GET /{media-id}`, in Cloud's key order.
#[derive(Serialize)]
struct MediaInfo<'a> {
    messaging_product: &'static str,
    url: String,
    mime_type: &'a str,
    /// Hex here; webhooks carry base64 (`docs/cloud-api.md` §3).
    sha256: String,
    /// A number, as in real answers.
    file_size: usize,
    id: &'a str,
}

/// A download URL for `media` that expires at `expires` (unix seconds).
pub(crate) fn download_url(state: &AppState, base: &str, media: &Media, expires: i64) -> String {
    let hash = url_hash(&state.config.app_secret, &media.id, expires);
    format!("{base}{DOWNLOAD_PATH}?mid={}&ext={expires}&hash={hash}", media.id)
}

fn url_hash(secret: &str, id: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC-SHA256 takes keys of any length");
    mac.update(format!("{id}:{expires}").as_bytes());
    format!("AT{}", URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18]))
}

/// `GET /whatsapp_business/attachments/?mid=…&ext=…&hash=…` with the Bearer
/// token (checked by the route layer): the bytes, or 404 once the URL or
/// the media expired.
pub(crate) async fn download(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Response {
    let now = state.clock.now_ms();
    let (Some(id), Some(expires), Some(hash)) = (query.get("mid"), query.get("ext"), query.get("hash")) else {
        return not_found();
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return not_found();
    };
    let expected = url_hash(&state.config.app_secret, id, expires);
    if expected.as_bytes() != hash.as_bytes() || now / 1000 >= expires {
        return not_found();
    }
    let Some(media) = state.media.get(id, now) else {
        return not_found();
    };
    let mut response = Response::new(Body::from(media.bytes.clone()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&media.mime_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let filename =
        media.filename.clone().unwrap_or_else(|| format!("{}.{}", media.id, kinds::extension_of(&media.mime_type)));
    let filename: String = filename.chars().filter(|c| c.is_ascii_graphic() && *c != '"').collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Lookaside answers expired or unknown URLs with a bare 404.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// Why a media send fails asynchronously (131053), if it does: an unknown or
/// expired id, or a file a message of `kind` cannot carry.
pub(crate) fn send_problem(state: &AppState, kind: Kind, media: &crate::messages::content::MediaRef) -> Option<String> {
    use crate::messages::content::MediaRef;
    let mime = match media {
        MediaRef::Id(id) => match state.media.get(id, state.clock.now_ms()) {
            Some(stored) => stored.mime_type.clone(),
            None => return Some(format!("Media id {id} does not exist or has expired. Upload the file again.")),
        },
        MediaRef::Link(link) => {
            let path = url::Url::parse(link).map(|u| u.path().to_owned()).unwrap_or_default();
            // Links without a telling extension are taken on trust: the sandbox fetches nothing.
            kinds::mime_of_extension(&path)?.to_owned()
        }
    };
    if kind.accepts(&mime) {
        return None;
    }
    Some(format!(
        "Unsupported {} mime type {}. Please use one of {}.",
        kind.title(),
        kinds::base_type(&mime),
        kind.mime_types().join(", ")
    ))
}

/// Whether an audio message is a voice note (Opus in Ogg), which gets `played`.
pub(crate) fn is_voice(state: &AppState, media: &crate::messages::content::MediaRef) -> bool {
    use crate::messages::content::MediaRef;
    match media {
        MediaRef::Id(id) => {
            state.media.get(id, state.clock.now_ms()).is_some_and(|m| kinds::base_type(&m.mime_type) == "audio/ogg")
        }
        MediaRef::Link(link) => matches!(kinds::mime_of_extension(link), Some("audio/ogg")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_rules() {
        assert!(check_file("image/png", include_bytes!("media/samples/sample.png")).is_ok());
        for (mime, bytes) in [
            ("text/html", &b"<html>"[..]),
            ("image/png", &b""[..]),
            ("image/png", &include_bytes!("media/samples/sample.jpg")[..]),
        ] {
            assert_eq!(check_file(mime, bytes).unwrap_err().code, 131053, "{mime}");
        }
        let big_sticker = {
            let mut bytes = include_bytes!("media/samples/sample.webp").to_vec();
            bytes.resize(101 * 1024, 0);
            bytes
        };
        let err = check_file("image/webp", &big_sticker).unwrap_err();
        assert_eq!(err.code, 131053);
        assert!(err.details().unwrap().contains("102400"));
    }

    #[test]
    fn url_hashes_depend_on_id_expiry_and_secret() {
        let a = url_hash("s", "1", 100);
        assert!(a.starts_with("AT"));
        assert_ne!(a, url_hash("s", "1", 101));
        assert_ne!(a, url_hash("s", "2", 100));
        assert_ne!(a, url_hash("t", "1", 100));
    }
}
