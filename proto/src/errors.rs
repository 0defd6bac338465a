//! The one error model of the internal link.
//!
//! Every error a client may see is a [`wire::ApiError`]: an on-prem code
//! from the table in `wire::error`, which alone decides the HTTP status and
//! the gRPC code. A coreapp answers a failed call with [`status`]: the
//! table's gRPC code, the details as the message (for generic tooling), and
//! the whole on-prem error encoded as [`OnpremError`] in the status details.
//! The webapp reads it back with [`answered`]. A failed call whose status
//! carries no such details never got an answer from a coreapp's handler:
//! it failed in transport, and [`answered`] says so with `None`.

use prost::Message;
use wire::error::GrpcClass;
use wire::{ApiError, ErrorCode};

use crate::core::OnpremError;

/// The gRPC status a coreapp answers `error` with.
pub fn status(error: &ApiError) -> tonic::Status {
    let code =
        if error.http_status() == 401 { tonic::Code::Unauthenticated } else { grpc_code(error.code.grpc_class()) };
    let detail = OnpremError {
        code: error.code.number(),
        details: error.details.clone(),
        http_status: error.status_override.map_or(0, u32::from),
        retry_after_s: error.retry_after.unwrap_or(0),
    };
    tonic::Status::with_details(code, error.details.clone(), detail.encode_to_vec().into())
}

/// The on-prem error a coreapp answered with; `None` when the status did
/// not come from a coreapp's handler (the call failed in transport, or the
/// details are not ours).
pub fn answered(status: &tonic::Status) -> Option<ApiError> {
    let detail = OnpremError::decode(status.details()).ok()?;
    let code = ErrorCode::from_number(detail.code)?;
    let mut error = ApiError::new(code, detail.details);
    error.status_override = u16::try_from(detail.http_status).ok().filter(|s| *s != 0);
    error.retry_after = Some(detail.retry_after_s).filter(|s| *s != 0);
    Some(error)
}

fn grpc_code(class: GrpcClass) -> tonic::Code {
    match class {
        GrpcClass::InvalidArgument => tonic::Code::InvalidArgument,
        GrpcClass::Unauthenticated => tonic::Code::Unauthenticated,
        GrpcClass::PermissionDenied => tonic::Code::PermissionDenied,
        GrpcClass::NotFound => tonic::Code::NotFound,
        GrpcClass::AlreadyExists => tonic::Code::AlreadyExists,
        GrpcClass::ResourceExhausted => tonic::Code::ResourceExhausted,
        GrpcClass::Unavailable => tonic::Code::Unavailable,
        GrpcClass::FailedPrecondition => tonic::Code::FailedPrecondition,
        GrpcClass::Unimplemented => tonic::Code::Unimplemented,
        GrpcClass::Internal => tonic::Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_crosses_whole() {
        let mut error = ApiError::new(ErrorCode::TooManyRequests, "slow down");
        error.retry_after = Some(7);
        let sent = status(&error);
        assert_eq!(sent.code(), tonic::Code::ResourceExhausted, "the table's gRPC code");
        assert_eq!(sent.message(), "slow down");
        assert_eq!(answered(&sent), Some(error));

        let login = ApiError::unauthenticated("bad credentials");
        let sent = status(&login);
        assert_eq!(sent.code(), tonic::Code::Unauthenticated);
        let back = answered(&sent).expect("ours");
        assert_eq!((back.http_status(), back.code), (401, ErrorCode::AccessDenied));
    }

    #[test]
    fn a_status_without_our_details_is_a_transport_failure() {
        assert_eq!(answered(&tonic::Status::unavailable("tcp connect error")), None);
        assert_eq!(answered(&tonic::Status::internal("h2 protocol error")), None);
        // Details that are not an on-prem error (an unknown code).
        let odd = OnpremError { code: 4242, ..Default::default() };
        let status = tonic::Status::with_details(tonic::Code::Internal, "x", odd.encode_to_vec().into());
        assert_eq!(answered(&status), None);
    }
}
