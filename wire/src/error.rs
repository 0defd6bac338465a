//! The on-prem error model.
//!
//! Policy: every error that reaches a client is an [`ApiError`] carrying an
//! [`ErrorCode`]. The code alone decides the HTTP status (webapp) and the gRPC
//! status (coreapp -> webapp); this table is the only place that does. Details
//! are safe to show a client: internal error text is logged where it happens
//! and never put into `details` of a 5xx.

use serde::Serialize;
use serde_json::{Value, json};

/// On-prem error codes, with the titles and HTTP statuses of the old client
/// (`docs/onprem-api.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    GenericError,
    MessageTooLong,
    InvalidRecipientType,
    AlreadyExists,
    AccessDenied,
    NotFound,
    ParameterMissing,
    ParameterInvalid,
    ParameterNotRequired,
    ServiceNotReady,
    UserNotValid,
    InternalError,
    TooManyRequests,
    SystemOverloaded,
    WebhooksUrlNotConfigured,
    DatabaseError,
    PasswordChangeRequired,
    InvalidRequest,
    ReceiverIncapable,
    BadUser,
    TemplateParamCountMismatch,
    TemplateMissing,
    TemplateParamFormatMismatch,
    NamespaceEmpty,
    InvalidSectionCount,
    InvalidRowCount,
}

/// What kind of failure a code is, in gRPC terms; used so the gRPC status of
/// a coreapp answer is meaningful to generic tooling as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcClass {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    ResourceExhausted,
    Unavailable,
    FailedPrecondition,
    Unimplemented,
    Internal,
}

struct Row {
    code: ErrorCode,
    number: u32,
    title: &'static str,
    http: u16,
    grpc: GrpcClass,
}

use ErrorCode as E;
use GrpcClass as G;

/// The table. One row per code; nothing else decides a status.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    Row { code: E::GenericError, number: 1000, title: "Generic error", http: 500, grpc: G::Internal },
    Row { code: E::MessageTooLong, number: 1001, title: "Message too long", http: 400, grpc: G::InvalidArgument },
    Row { code: E::InvalidRecipientType, number: 1002, title: "Invalid recipient type", http: 400, grpc: G::InvalidArgument },
    Row { code: E::AlreadyExists, number: 1004, title: "Resource already exists", http: 409, grpc: G::AlreadyExists },
    Row { code: E::AccessDenied, number: 1005, title: "Access denied", http: 403, grpc: G::PermissionDenied },
    Row { code: E::NotFound, number: 1006, title: "Resource not found", http: 404, grpc: G::NotFound },
    Row { code: E::ParameterMissing, number: 1008, title: "Required parameter is missing", http: 400, grpc: G::InvalidArgument },
    Row { code: E::ParameterInvalid, number: 1009, title: "Parameter value is not valid", http: 400, grpc: G::InvalidArgument },
    Row { code: E::ParameterNotRequired, number: 1010, title: "Parameter is not required", http: 400, grpc: G::InvalidArgument },
    Row { code: E::ServiceNotReady, number: 1011, title: "Service not ready", http: 500, grpc: G::Unavailable },
    Row { code: E::UserNotValid, number: 1013, title: "User is not valid", http: 400, grpc: G::InvalidArgument },
    Row { code: E::InternalError, number: 1014, title: "Internal error", http: 500, grpc: G::Internal },
    Row { code: E::TooManyRequests, number: 1015, title: "Too many requests", http: 429, grpc: G::ResourceExhausted },
    Row { code: E::SystemOverloaded, number: 1016, title: "System overloaded", http: 503, grpc: G::Unavailable },
    Row { code: E::WebhooksUrlNotConfigured, number: 1022, title: "Webhooks URL is not configured", http: 412, grpc: G::FailedPrecondition },
    Row { code: E::DatabaseError, number: 1023, title: "Database error occurred", http: 500, grpc: G::Internal },
    Row { code: E::PasswordChangeRequired, number: 1024, title: "Password Change Required", http: 401, grpc: G::Unauthenticated },
    Row { code: E::InvalidRequest, number: 1025, title: "Invalid Request", http: 400, grpc: G::InvalidArgument },
    Row { code: E::ReceiverIncapable, number: 1026, title: "Receiver incapable", http: 501, grpc: G::Unimplemented },
    Row { code: E::BadUser, number: 1021, title: "Bad User", http: 400, grpc: G::InvalidArgument },
    Row { code: E::TemplateParamCountMismatch, number: 2000, title: "Template Param Count Mismatch", http: 400, grpc: G::InvalidArgument },
    Row { code: E::TemplateMissing, number: 2001, title: "Template Missing", http: 404, grpc: G::NotFound },
    Row { code: E::TemplateParamFormatMismatch, number: 2012, title: "Template Parameter Format Mismatch", http: 400, grpc: G::InvalidArgument },
    Row { code: E::NamespaceEmpty, number: 2014, title: "Expected Namespace is Empty", http: 400, grpc: G::InvalidArgument },
    Row { code: E::InvalidSectionCount, number: 2015, title: "Invalid number of sections", http: 400, grpc: G::InvalidArgument },
    Row { code: E::InvalidRowCount, number: 2016, title: "Invalid number of rows", http: 400, grpc: G::InvalidArgument },
];

impl ErrorCode {
    fn row(self) -> &'static Row {
        TABLE.iter().find(|r| r.code == self).expect("every ErrorCode has a row in TABLE")
    }

    /// The numeric on-prem code, e.g. 1008.
    pub fn number(self) -> u32 {
        self.row().number
    }

    pub fn title(self) -> &'static str {
        self.row().title
    }

    /// HTTP status of a response carrying this error.
    pub fn http_status(self) -> u16 {
        self.row().http
    }

    pub fn grpc_class(self) -> GrpcClass {
        self.row().grpc
    }

    /// The code for a number, e.g. one read back from gRPC metadata.
    pub fn from_number(number: u32) -> Option<ErrorCode> {
        TABLE.iter().find(|r| r.number == number).map(|r| r.code)
    }
}

/// An error as the on-prem API reports it: code, title and details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {details}", code.title(), code.number())]
pub struct ApiError {
    pub code: ErrorCode,
    pub details: String,
    /// The HTTP status, where it differs from the code's usual one (1005 is
    /// 401 from the authentication layer but 403 for a missing role).
    pub status_override: Option<u16>,
    /// Seconds a rate-limited client should wait (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, details: impl Into<String>) -> Self {
        ApiError { code, details: details.into(), status_override: None, retry_after: None }
    }

    /// 1008 `Missing mandatory parameter '<p>'`.
    pub fn missing(param: &str) -> Self {
        Self::new(ErrorCode::ParameterMissing, format!("Missing mandatory parameter '{param}'"))
    }

    /// 1009 `Parameter '<p>' has invalid value '<v>'`.
    pub fn invalid_value(param: &str, value: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::ParameterInvalid, format!("Parameter '{param}' has invalid value '{value}'"))
    }

    /// 1009 with free details.
    pub fn invalid(details: impl Into<String>) -> Self {
        Self::new(ErrorCode::ParameterInvalid, details)
    }

    /// 1010 `Parameter '<p>' is not required for type '<t>'`.
    pub fn not_required(param: &str, ty: &str) -> Self {
        Self::new(ErrorCode::ParameterNotRequired, format!("Parameter '{param}' is not required for type '{ty}'"))
    }

    /// 404/1006 for a resource.
    pub fn not_found(details: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, details)
    }

    /// 401/1005: no valid credentials.
    pub fn unauthenticated(details: impl Into<String>) -> Self {
        ApiError { status_override: Some(401), ..Self::new(ErrorCode::AccessDenied, details) }
    }

    /// 403/1005: authenticated, but the role may not do this.
    pub fn forbidden(details: impl Into<String>) -> Self {
        Self::new(ErrorCode::AccessDenied, details)
    }

    /// 500/1014 with a generic text; the cause is logged by the caller.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "Internal server error")
    }

    pub fn http_status(&self) -> u16 {
        self.status_override.unwrap_or_else(|| self.code.http_status())
    }

    /// The `{"code","title","details"}` object of an `errors` array.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"code": self.code.number(), "title": self.code.title()});
        if !self.details.is_empty() {
            v["details"] = Value::String(self.details.clone());
        }
        v
    }
}

/// The `meta` object every on-prem response carries.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Meta {
    pub api_status: &'static str,
    pub version: String,
}

impl Meta {
    pub fn stable(version: impl Into<String>) -> Self {
        Meta { api_status: "stable", version: version.into() }
    }
}

/// Builds an on-prem response body: payload keys at top level, `meta`
/// always, `errors` only when there are errors.
pub fn envelope(payload: Value, meta: &Meta, errors: &[ApiError]) -> Value {
    let mut body = match payload {
        Value::Object(map) => Value::Object(map),
        _ => json!({}),
    };
    body["meta"] = serde_json::to_value(meta).expect("meta serialises");
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors.iter().map(ApiError::to_json).collect());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_row_and_numbers_are_unique() {
        let all = [
            E::GenericError,
            E::MessageTooLong,
            E::InvalidRecipientType,
            E::AlreadyExists,
            E::AccessDenied,
            E::NotFound,
            E::ParameterMissing,
            E::ParameterInvalid,
            E::ParameterNotRequired,
            E::ServiceNotReady,
            E::UserNotValid,
            E::InternalError,
            E::TooManyRequests,
            E::SystemOverloaded,
            E::WebhooksUrlNotConfigured,
            E::DatabaseError,
            E::PasswordChangeRequired,
            E::InvalidRequest,
            E::ReceiverIncapable,
            E::BadUser,
            E::TemplateParamCountMismatch,
            E::TemplateMissing,
            E::TemplateParamFormatMismatch,
            E::NamespaceEmpty,
            E::InvalidSectionCount,
            E::InvalidRowCount,
        ];
        assert_eq!(all.len(), TABLE.len());
        for code in all {
            assert_eq!(TABLE.iter().filter(|r| r.code == code).count(), 1, "{code:?}");
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
        }
    }

    #[test]
    fn statuses_follow_the_old_client() {
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
        assert_eq!(ErrorCode::InvalidRequest.http_status(), 400);
        assert_eq!(ErrorCode::PasswordChangeRequired.http_status(), 401);
        assert_eq!(ErrorCode::TooManyRequests.http_status(), 429);
        assert_eq!(ErrorCode::SystemOverloaded.http_status(), 503);
        assert_eq!(ApiError::unauthenticated("x").http_status(), 401);
        assert_eq!(ApiError::forbidden("x").http_status(), 403);
    }

    #[test]
    fn envelope_has_meta_and_errors_only_on_failure() {
        let meta = Meta::stable("2.53.0");
        let ok = envelope(json!({"messages": [{"id": "x"}]}), &meta, &[]);
        assert_eq!(ok, json!({"messages": [{"id": "x"}], "meta": {"api_status": "stable", "version": "2.53.0"}}));
        let err = envelope(Value::Null, &meta, &[ApiError::missing("to")]);
        assert_eq!(
            err,
            json!({"meta": {"api_status": "stable", "version": "2.53.0"},
                   "errors": [{"code": 1008, "title": "Required parameter is missing",
                               "details": "Missing mandatory parameter 'to'"}]})
        );
    }
}
