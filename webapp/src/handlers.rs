//! Request handlers, one file per resource.

pub mod account;
pub mod certificates;
pub mod cloud;
pub mod contacts;
pub mod health;
pub mod media;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod profile;
pub mod retired;
pub mod services;
pub mod settings;
pub mod support;
pub mod users;

use axum::body::Body;
use axum::http::Method;
use bytes::Bytes;
use serde_json::Value;
use wire::{ApiError, ErrorCode};

use crate::envelope::{Failure, OnPrem};

/// The largest JSON body an endpoint reads (axum's default body limit,
/// which applies wherever a handler takes `Bytes`).
pub const JSON_LIMIT: usize = 2 * 1024 * 1024;

/// Reads a whole body of at most `limit` bytes, for handlers that check
/// something cheaper before they buffer. `too_large` says what a longer
/// body is; a body that cannot be read (cut off, too slow) says so.
pub async fn read_body(body: Body, limit: usize, too_large: impl FnOnce() -> ApiError) -> Result<Bytes, Failure> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over { too_large() } else { ApiError::invalid(format!("The request body could not be read: {e}")) }.into()
    })
}

/// Parses a JSON body the way the old client did: an empty body is an
/// empty object; anything unparsable is 400/1025.
pub fn json_body(body: &Bytes) -> Result<Value, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("Unable to decode the request: {e}")).into())
}

/// A string field that must be present.
pub fn required_str<'a>(body: &'a Value, name: &str) -> Result<&'a str, Failure> {
    match body.get(name) {
        None | Some(Value::Null) => Err(ApiError::missing(name).into()),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing(name).into()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ApiError::invalid_value(name, other).into()),
    }
}

/// 404/1006 for every path and method we do not serve; 400/1025 for a
/// method the API never uses (never echoed: it may be anything, of any
/// length).
pub async fn not_found(method: Method) -> Failure {
    if crate::metrics::method_label(&method).is_none() {
        return ApiError::new(
            ErrorCode::InvalidRequest,
            "Unsupported HTTP method; the API uses GET, POST, PUT, PATCH and DELETE",
        )
        .into();
    }
    ApiError::not_found("URL path not found").into()
}

/// `GET /`: 200 without credentials, for liveness probes (as the old client).
pub async fn root() -> OnPrem {
    OnPrem::empty()
}
