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
pub mod settings;
pub mod support;
pub mod users;

use bytes::Bytes;
use serde_json::Value;
use wire::{ApiError, ErrorCode};

use crate::envelope::{Failure, OnPrem};

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

/// 404/1006 for every path and method we do not serve.
pub async fn not_found() -> Failure {
    ApiError::not_found("URL path not found").into()
}

/// `GET /`: 200 without credentials, for liveness probes (as the old client).
pub async fn root() -> OnPrem {
    OnPrem::empty()
}
