//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of everything this
//! webapp serves (`webapp/openapi.json`; `webapp/tests/openapi.rs` checks it
//! against the router, so the two cannot drift). No credentials needed.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> Response {
    let mut r = DOCUMENT.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
