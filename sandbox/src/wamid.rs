//! WhatsApp message ids (`wamid.…`) in the layout Cloud API uses (`docs/cloud-api.md` §2.4).
//!
//! The base64 part is a Thrift-compact struct: `1C 18 <len> <wa_id> 15 02 00`
//! (the chat: user wa_id and an i32 1), then `11` for a message the business
//! sent or `12` for one the user sent, then `18 <len> <key>` and a final `00`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;

const PREFIX: &str = "wamid.";
const HEAD: [u8; 2] = [0x1C, 0x18];
const CHAT_TAIL: [u8; 3] = [0x15, 0x02, 0x00];
const FROM_BUSINESS: u8 = 0x11;
const FROM_USER: u8 = 0x12;
const KEY_FIELD: u8 = 0x18;

/// Length in hex characters of the key of a business-sent message.
const BUSINESS_KEY_LEN: usize = 18;
/// Length in hex characters of the key of a user-sent message (an iOS-style key).
const USER_KEY_LEN: usize = 20;

/// What a wamid encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The user's wa_id (the chat the message belongs to).
    pub wa_id: String,
    /// True when the business sent the message, false when the user did.
    pub from_business: bool,
    /// The message key, upper-case hex.
    pub key: String,
}

/// A fresh id for a message the business sends to `wa_id`.
pub fn business(wa_id: &str) -> String {
    encode(wa_id, true, &random_key(BUSINESS_KEY_LEN))
}

/// A fresh id for a message the user `wa_id` sends to the business.
pub fn user(wa_id: &str) -> String {
    encode(wa_id, false, &random_key(USER_KEY_LEN))
}

/// Builds a wamid from its parts.
pub fn encode(wa_id: &str, from_business: bool, key: &str) -> String {
    let mut raw = Vec::with_capacity(16 + wa_id.len() + key.len());
    raw.extend_from_slice(&HEAD);
    put_string(&mut raw, wa_id);
    raw.extend_from_slice(&CHAT_TAIL);
    raw.push(if from_business { FROM_BUSINESS } else { FROM_USER });
    raw.push(KEY_FIELD);
    put_string(&mut raw, key);
    raw.push(0x00);
    format!("{PREFIX}{}", STANDARD.encode(raw))
}

/// Reads back a wamid in this layout; `None` for anything else (ids are opaque
/// to clients, so other layouts are not errors, just unknown).
pub fn decode(wamid: &str) -> Option<Decoded> {
    let raw = STANDARD.decode(wamid.strip_prefix(PREFIX)?).ok()?;
    let rest = raw.strip_prefix(&HEAD)?;
    let (wa_id, rest) = take_string(rest)?;
    let rest = rest.strip_prefix(&CHAT_TAIL)?;
    let (flag, rest) = rest.split_first()?;
    let from_business = match *flag {
        FROM_BUSINESS => true,
        FROM_USER => false,
        _ => return None,
    };
    let rest = rest.strip_prefix(&[KEY_FIELD])?;
    let (key, rest) = take_string(rest)?;
    if rest != [0x00] {
        return None;
    }
    Some(Decoded { wa_id, from_business, key })
}

fn random_key(hex_len: usize) -> String {
    let mut bytes = vec![0u8; hex_len.div_ceil(2)];
    rand::rng().fill(&mut bytes[..]);
    let mut key = hex::encode_upper(bytes);
    key.truncate(hex_len);
    key
}

/// Thrift compact binary: a varint length, then the bytes.
fn put_string(out: &mut Vec<u8>, s: &str) {
    let mut len = s.len();
    loop {
        let byte = (len & 0x7F) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

fn take_string(input: &[u8]) -> Option<(String, &[u8])> {
    let mut len = 0usize;
    let mut shift = 0;
    let mut rest = input;
    loop {
        let (byte, tail) = rest.split_first()?;
        rest = tail;
        len |= usize::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    if rest.len() < len {
        return None;
    }
    let (s, rest) = rest.split_at(len);
    Some((String::from_utf8(s.to_vec()).ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_sample() {
        // From Meta's docs (`docs/cloud-api.md` §2.4).
        let sample = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA";
        assert_eq!(
            decode(sample),
            Some(Decoded { wa_id: "16503879439".into(), from_business: true, key: "CB6B39DAA892A118E5".into() })
        );
        assert_eq!(encode("16503879439", true, "CB6B39DAA892A118E5"), sample);
    }

    #[test]
    fn decodes_a_user_sample() {
        let sample = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";
        let decoded = decode(sample).unwrap();
        assert_eq!(decoded.wa_id, "16503879439");
        assert!(!decoded.from_business);
        assert_eq!(decoded.key, "3A4A6599AEE03810144F");
    }

    #[test]
    fn fresh_ids_round_trip() {
        let id = business("4915112345678");
        let decoded = decode(&id).unwrap();
        assert_eq!(decoded.wa_id, "4915112345678");
        assert!(decoded.from_business);
        assert_eq!(decoded.key.len(), 18);
        assert!(decoded.key.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));

        let id = user("4915112345678");
        let decoded = decode(&id).unwrap();
        assert!(!decoded.from_business);
        assert_eq!(decoded.key.len(), 20);
        assert_ne!(user("1"), user("1"));
    }

    #[test]
    fn rejects_other_layouts() {
        assert_eq!(decode("wamid.gBGGSFcCNEOPAgkO_KJ55r4w_ww"), None);
        assert_eq!(decode("HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"), None);
        assert_eq!(decode("wamid.AAAA"), None);
    }
}
