//! The synchronous Graph error envelope (`docs/cloud-api.md` §6.1) and the errors the sandbox answers with.

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Method, StatusCode};
use rand::Rng as _;
use serde::Serialize;

use super::codes;

/// `type` of a Graph error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    OAuthException,
    GraphMethodException,
}

/// A Graph error: `{"error":{"message","type","code","error_subcode"?,"error_data"?,"fbtrace_id"}}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Graph error {code}: {message}")]
pub struct GraphError {
    pub status: StatusCode,
    pub message: String,
    pub kind: ErrorType,
    pub code: u32,
    pub subcode: Option<u32>,
    pub data: Option<serde_json::Value>,
}

// === impl ErrorType ===

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::OAuthException => "OAuthException",
            ErrorType::GraphMethodException => "GraphMethodException",
        }
    }
}

// === impl GraphError ===

impl GraphError {
    fn new(status: StatusCode, kind: ErrorType, code: u32, message: impl Into<String>) -> Self {
        GraphError { status, message: message.into(), kind, code, subcode: None, data: None }
    }

    /// No token in the `Authorization` header nor in `?access_token=`.
    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::OAuthException,
            190,
            "An access token is required to request this resource.",
        )
    }

    /// A token that is not the sandbox's.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::OAuthException,
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// Unknown node, or a method the node does not support (code 100, subcode 33).
    pub fn unsupported_request(method: &Method, id: &str) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::GraphMethodException,
            100,
            format!(
                "Unsupported {} request. Object with ID '{id}' does not exist, cannot be loaded \
                 due to missing permissions, or does not support this operation.",
                method.as_str().to_ascii_lowercase()
            ),
        );
        err.subcode = Some(33);
        err
    }

    /// A versioned path with no such edge.
    pub fn unknown_path(components: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::OAuthException,
            100,
            format!("Unknown path components: {components}"),
        )
    }

    /// `(#100) The parameter <name> is required.`
    pub fn missing_parameter(name: &str) -> Self {
        Self::invalid_parameter(format!("The parameter {name} is required."))
    }

    /// `(#100) <detail>` for a parameter with a bad value.
    pub fn invalid_parameter(detail: impl AsRef<str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorType::OAuthException, 100, format!("(#100) {}", detail.as_ref()))
    }

    /// A `fields=` entry the node type does not have.
    pub fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::invalid_parameter(format!("Tried accessing nonexisting field ({field}) on node type ({node_type})"))
    }

    /// A WhatsApp-specific error: `(#<code>) <title>` with
    /// `error_data: {messaging_product, details}`, status from the code table.
    pub fn whatsapp(code: u32, details: impl Into<String>) -> Self {
        let (title, status) = match codes::lookup(code) {
            Some(row) => (row.title, StatusCode::from_u16(row.http).unwrap_or(StatusCode::BAD_REQUEST)),
            None => ("Unknown error", StatusCode::BAD_REQUEST),
        };
        let mut err = Self::new(status, ErrorType::OAuthException, code, format!("(#{code}) {title}"));
        err.data = Some(serde_json::json!({ "messaging_product": "whatsapp", "details": details.into() }));
        err
    }

    /// A WhatsApp error with the table's default details.
    pub fn whatsapp_default(code: u32) -> Self {
        let details = codes::lookup(code).map_or("", |row| row.details);
        Self::whatsapp(code, details)
    }

    /// The 5xx answers Graph gives when it fails (code 2 for 503, 1 otherwise).
    pub fn server_failure(status: StatusCode) -> Self {
        let (code, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
            (2, "Service temporarily unavailable")
        } else {
            (1, "An unknown error has occurred.")
        };
        Self::new(status, ErrorType::OAuthException, code, message)
    }

    /// `appsecret_proof` missing or wrong while the sandbox requires it.
    pub fn invalid_appsecret_proof() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::GraphMethodException,
            100,
            "Invalid appsecret_proof provided in the API argument",
        )
    }

    /// The same error with another HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same error with an `error_subcode`.
    pub fn with_subcode(mut self, subcode: u32) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// `error_data.details`, when there is one.
    pub fn details(&self) -> Option<&str> {
        self.data.as_ref()?.get("details")?.as_str()
    }
}

/// The wire shape, in Graph's key order.
#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    code: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_subcode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_data: Option<&'a serde_json::Value>,
    fbtrace_id: &'a str,
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let trace_id = fbtrace_id();
        let envelope = Envelope {
            error: Body {
                message: &self.message,
                kind: self.kind.as_str(),
                code: self.code,
                error_subcode: self.subcode,
                error_data: self.data.as_ref(),
                fbtrace_id: &trace_id,
            },
        };
        let mut response = (self.status, Json(envelope)).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&trace_id) {
            headers.insert("x-fb-trace-id", value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge =
                format!("OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"", self.message.replace('"', "'"));
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(http::header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// A random id shaped like Meta's (23 characters of URL-safe base64).
fn fbtrace_id() -> String {
    let mut bytes = [0u8; 17];
    rand::rng().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(err: GraphError) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn unknown_object_envelope() {
        let (status, body) = body_of(GraphError::unsupported_request(&Method::POST, "123")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let error = &body["error"];
        assert_eq!(
            error["message"],
            "Unsupported post request. Object with ID '123' does not exist, cannot be loaded \
             due to missing permissions, or does not support this operation."
        );
        assert_eq!(error["type"], "GraphMethodException");
        assert_eq!(error["code"], 100);
        assert_eq!(error["error_subcode"], 33);
        assert_eq!(error["fbtrace_id"].as_str().unwrap().len(), 23);
        let keys: Vec<&String> = error.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5);
    }

    #[tokio::test]
    async fn token_error_envelope_has_no_optional_keys() {
        let (status, body) = body_of(GraphError::invalid_token()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let mut keys: Vec<&str> = body["error"].as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "fbtrace_id", "message", "type"]);
        assert_eq!(body["error"]["code"], 190);
        assert_eq!(body["error"]["type"], "OAuthException");
    }
}
