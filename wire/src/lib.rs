//! Wire types shared by webapp and coreapp: the on-prem error table and
//! envelope, application settings, request validation, and the translation
//! between on-prem and Cloud API payloads. Pure code: no I/O, no async.

pub mod cloud;
pub mod compliance;
pub mod contacts;
pub mod error;
pub mod identity;
pub mod ids;
pub mod media;
pub mod messages;
pub mod metrics;
pub mod netpolicy;
pub mod profile;
pub mod providers;
pub mod redact;
pub mod settings;
pub mod status;
pub mod users;

pub use error::{ApiError, ErrorCode};
