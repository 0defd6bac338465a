//! Errors inside coreapp and their one mapping onto gRPC.
//!
//! Policy: services return [`CoreError`]. An `Api` error is the client's
//! fault or a documented condition and travels as is. Everything else is
//! ours: it is logged once here, and the client gets a generic 1023/1014.
//! The gRPC form of an on-prem error is `proto::errors`'s, the one the
//! webapp reads back.

use wire::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// The database is unavailable (an outage in progress): refused at
    /// once, nothing was stored.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl CoreError {
    /// Whether the database could not be used at all (an outage, a
    /// connection that went away, no connection to be had): nothing was
    /// done, and trying again later may work.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CoreError::Unavailable(_) | CoreError::Pool(_))
            || crate::store::db::connection_fault(self).is_some()
    }
}

/// What clients are told when the database cannot be used. The old
/// client's database error (1023, HTTP 500); the reason (a client library
/// message that may name hosts) stays in the logs and in `/v1/support`.
pub const DATABASE_UNAVAILABLE: &str = "Database is not reachable: nothing was stored. Retry later";

impl From<CoreError> for tonic::Status {
    fn from(err: CoreError) -> tonic::Status {
        let api = match err {
            CoreError::Api(api) => api,
            // Refused at once during an outage, which is logged once.
            CoreError::Unavailable(_) => ApiError::new(ErrorCode::DatabaseError, DATABASE_UNAVAILABLE),
            CoreError::Db(_) | CoreError::Pool(_) if err.is_unavailable() => {
                tracing::warn!(error = %err, "request failed: the database is unavailable");
                ApiError::new(ErrorCode::DatabaseError, DATABASE_UNAVAILABLE)
            }
            CoreError::Db(_) | CoreError::Pool(_) => {
                tracing::error!(error = %err, "request failed");
                ApiError::new(ErrorCode::DatabaseError, "Database error occurred")
            }
            CoreError::Internal(_) => {
                tracing::error!(error = ?err, "request failed");
                ApiError::internal()
            }
        };
        proto::errors::status(&api)
    }
}
