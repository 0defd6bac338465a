//! Graph API conventions: versioned paths, token checks, the error envelope.

pub mod auth;
pub mod error;

pub use error::GraphError;

/// Whether a path segment is a Graph version like `v24.0`.
pub(crate) fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|rest| rest.strip_suffix(".0"))
        .is_some_and(|major| !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()))
}

/// The first segment of `path`, e.g. `v24.0` for `/v24.0/123/messages`.
pub(crate) fn first_segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_versions() {
        for ok in ["v24.0", "v1.0", "v100.0"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in ["v24", "24.0", "v24.1", "v.0", "va.0", "_sandbox", ""] {
            assert!(!is_version(bad), "{bad}");
        }
        assert_eq!(first_segment("/v24.0/123/messages"), "v24.0");
        assert_eq!(first_segment("/"), "");
    }
}
