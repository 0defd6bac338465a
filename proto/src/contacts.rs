//! Contact checks and identity keys on the wire: `wire::contacts` to its
//! [`core`](crate::core) messages and back.

use wire::ApiError;
use wire::contacts::{ContactResult, ContactStatus, IdentityKey};
use wire::error::ErrorCode;

use crate::core as p;

pub fn results_to_proto(results: &[ContactResult]) -> p::ContactResults {
    let results = results
        .iter()
        .map(|r| p::ContactResult {
            input: r.input.clone(),
            status: match r.status {
                ContactStatus::Valid => p::ContactStatus::Valid,
                ContactStatus::Invalid => p::ContactStatus::Invalid,
            }
            .into(),
            wa_id: r.wa_id.clone(),
        })
        .collect();
    p::ContactResults { results }
}

/// The results a coreapp answered; a status this build does not know is an
/// internal error.
pub fn results_from_proto(results: p::ContactResults) -> Result<Vec<ContactResult>, ApiError> {
    results
        .results
        .into_iter()
        .map(|r| {
            let status = match p::ContactStatus::try_from(r.status) {
                Ok(p::ContactStatus::Valid) => ContactStatus::Valid,
                Ok(p::ContactStatus::Invalid) => ContactStatus::Invalid,
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::InternalError,
                        format!("a coreapp answered contact status {}", r.status),
                    ));
                }
            };
            Ok(ContactResult { input: r.input, status, wa_id: r.wa_id })
        })
        .collect()
}

pub fn identity_to_proto(key: &IdentityKey) -> p::IdentityKey {
    p::IdentityKey { hash: key.hash.clone(), created_timestamp: key.created_timestamp, acknowledged: key.acknowledged }
}

pub fn identity_from_proto(key: p::IdentityKey) -> IdentityKey {
    IdentityKey { hash: key.hash, created_timestamp: key.created_timestamp, acknowledged: key.acknowledged }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let results = vec![
            ContactResult {
                input: "+1 631 555 1019".into(),
                status: ContactStatus::Valid,
                wa_id: Some("16315551019".into()),
            },
            ContactResult { input: "nope".into(), status: ContactStatus::Invalid, wa_id: None },
        ];
        assert_eq!(results_from_proto(results_to_proto(&results)).unwrap(), results);
        let key = IdentityKey { hash: "h".into(), created_timestamp: 7, acknowledged: true };
        assert_eq!(identity_from_proto(identity_to_proto(&key)), key);
        let unknown = p::ContactResults { results: vec![p::ContactResult { status: 0, ..Default::default() }] };
        assert_eq!(results_from_proto(unknown).unwrap_err().code, ErrorCode::InternalError);
    }
}
