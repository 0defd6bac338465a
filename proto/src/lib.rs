//! gRPC contract between webapp and coreapp; see `proto/wa/core.proto`.

#![allow(clippy::all, clippy::pedantic)]

/// Generated types and the `Core` service client and server.
pub mod core {
    tonic::include_proto!("wa.core.v1");
}

/// HTTP/2 flow-control window of the streams that carry media chunks, on
/// both sides: large enough that a transfer does not stall on window
/// updates every 64 KB, small enough to bound what is buffered.
pub const MEDIA_WINDOW: u32 = 1024 * 1024;

/// Largest single gRPC message either side accepts: a profile photo (under
/// 5 MB) travels in one message; media travel in chunks.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

pub mod cluster;
pub mod contacts;
pub mod errors;
pub mod messages;
pub mod metrics;
pub mod providers;
pub mod settings;
