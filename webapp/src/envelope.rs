//! Responses in the on-prem envelope. Handlers return [`OnPrem`] or
//! [`ApiError`]; both only record what to say, and one middleware renders
//! the body with `meta` (which carries the configured version), so no
//! handler builds an envelope by hand and the status always follows the
//! error table.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use wire::ApiError;
use wire::error::{Meta, envelope};

/// A successful on-prem answer: status and payload keys.
#[derive(Clone)]
pub struct OnPrem {
    pub status: StatusCode,
    pub payload: Value,
}

impl OnPrem {
    pub fn ok(payload: Value) -> Self {
        OnPrem { status: StatusCode::OK, payload }
    }

    pub fn created(payload: Value) -> Self {
        OnPrem { status: StatusCode::CREATED, payload }
    }

    /// 200 with `meta` only.
    pub fn empty() -> Self {
        Self::ok(Value::Null)
    }
}

/// What the render middleware turns into a body.
#[derive(Clone)]
struct Pending {
    payload: Value,
    errors: Vec<ApiError>,
}

impl IntoResponse for OnPrem {
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(Pending { payload: self.payload, errors: Vec::new() });
        r
    }
}

/// Wrapper so handlers can `?` an [`ApiError`].
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = status.into_response();
        if let Some(secs) = self.0.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r.extensions_mut().insert(Pending { payload: Value::Null, errors: vec![self.0] });
        r
    }
}

pub type Reply = Result<OnPrem, Failure>;

/// Renders recorded answers into the on-prem JSON body.
pub async fn render(State(meta): State<Meta>, mut response: Response) -> Response {
    if let Some(p) = response.extensions_mut().remove::<Pending>() {
        let body = envelope(p.payload, &meta, &p.errors);
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, axum::body::Body::from(body.to_string()));
    }
    response
}

/// Axum's own refusals (a body over the limit, an unreadable path or query)
/// are plain text; legacy clients get them as on-prem errors instead. The
/// Cloud webhook intake keeps its plain answers (Cloud reads only the status).
pub async fn rejections(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let from_cloud = request.uri().path().starts_with("/cloud/");
    let response = next.run(request).await;
    if from_cloud || !response.status().is_client_error() || response.extensions().get::<Pending>().is_some() {
        return response;
    }
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::invalid("The request body is larger than this endpoint accepts")
    } else {
        ApiError::invalid(text)
    };
    Failure(error).into_response()
}
