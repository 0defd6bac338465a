//! Identifiers the stack hands out (`docs/design.md` §1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// A compact on-prem style message id: 20 random bytes, base64url without
/// padding, 27 characters (like `gBEGkYiEB1VXAglK1ZEqA1YKPrU`). Short enough
/// for legacy columns, unguessable, and needs no database round trip.
pub fn message_id() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `id` has the shape [`message_id`] gives.
pub fn is_message_id(id: &str) -> bool {
    id.len() == 27 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A random hex string of `bytes` bytes (request ids, node-local keys).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_compact_base64url_and_distinct() {
        let a = message_id();
        let b = message_id();
        assert_eq!(a.len(), 27);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn random_hex_has_twice_the_length() {
        let id = random_hex(16);
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
