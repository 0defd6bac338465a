//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, keyed with the app secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the header carrying the signature.
pub const HEADER: &str = "x-hub-signature-256";

/// The header value for `body`: `sha256=` and the lowercase hex HMAC.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC-SHA256 takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a header value against `body` in constant time.
pub fn verify(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC-SHA256 takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231_test_case_2() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_own_signature_and_rejects_others() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign("secret", body);
        assert!(verify("secret", body, &header));
        assert!(!verify("other", body, &header));
        assert!(!verify("secret", b"{}", &header));
        assert!(!verify("secret", body, header.trim_start_matches("sha256=")));
        assert!(!verify("secret", body, "sha256=zz"));
    }
}
