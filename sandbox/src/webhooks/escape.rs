//! Meta's JSON rendering of webhook bodies: compact, `/` as `\/`, and every
//! non-ASCII character as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs).
//!
//! The signature covers these exact bytes, so a receiver that re-serialises
//! before verifying fails on the first `é` or URL; the sandbox renders the
//! same way to catch that.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A compact [`Formatter`] (the trait's defaults write no whitespace) that
/// escapes strings the way Meta's webhook sender does.
#[derive(Debug, Default, Clone, Copy)]
pub struct MetaFormatter;

impl Formatter for MetaFormatter {
    // serde_json hands over the runs of characters it does not escape itself
    // (it already escapes `"`, `\` and control characters); `/` and non-ASCII
    // characters all arrive here.
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut plain_from = 0;
        for (at, ch) in fragment.char_indices() {
            if ch.is_ascii() && ch != '/' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[plain_from..at])?;
            plain_from = at + ch.len_utf8();
            if ch == '/' {
                writer.write_all(b"\\/")?;
                continue;
            }
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                let u = *unit;
                writer.write_all(&[
                    b'\\',
                    b'u',
                    HEX[usize::from(u >> 12)],
                    HEX[usize::from((u >> 8) & 0xF)],
                    HEX[usize::from((u >> 4) & 0xF)],
                    HEX[usize::from(u & 0xF)],
                ])?;
            }
        }
        writer.write_all(&fragment.as_bytes()[plain_from..])
    }
}

/// Serialises `value` the way Meta does for webhook bodies.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    let mut serializer = Serializer::with_formatter(&mut out, MetaFormatter);
    value.serialize(&mut serializer)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(value: &serde_json::Value) -> String {
        String::from_utf8(to_vec(value).unwrap()).unwrap()
    }

    #[test]
    fn escapes_slash_and_non_ascii_like_meta() {
        let value = json!({"a": "text/html", "b": "äöå", "c": "😀"});
        assert_eq!(render(&value), r#"{"a":"text\/html","b":"\u00e4\u00f6\u00e5","c":"\ud83d\ude00"}"#);
    }

    #[test]
    fn keeps_serde_escapes_and_mixed_runs() {
        let value = json!({"k/é": "a\"b\\c\n\u{1}x/y€z"});
        assert_eq!(render(&value), r#"{"k\/\u00e9":"a\"b\\c\n\u0001x\/y\u20acz"}"#);
    }

    #[test]
    fn output_is_ascii_and_parses_back_to_the_same_value() {
        let value = json!({"name": "Zoë 🇩🇪", "url": "https://x.test/a?b=c", "n": [1, 2.5, null, true]});
        let bytes = to_vec(&value).unwrap();
        assert!(bytes.is_ascii());
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, value);
    }
}
