//! Globs over wa_ids for the undeliverable rule: `*` any run of characters, `?` one.

/// Whether `text` matches `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    // Iterative matching with one backtrack point: linear for patterns with a
    // single `*`, and never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether any of `patterns` matches.
pub fn any(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|pattern| matches(pattern, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("*0000", "16505550000", true),
            ("*0000", "16505550001", false),
            ("1555*", "15551234567", true),
            ("1555*", "4915551234", false),
            ("1?55", "1555", true),
            ("1?55", "155", false),
            ("*", "", true),
            ("", "", true),
            ("", "1", false),
            ("1*2*3", "1002003", true),
            ("1*2*3", "100200", false),
            ("16505551234", "16505551234", true),
        ] {
            assert_eq!(matches(pattern, text), expected, "{pattern} ~ {text}");
        }
        assert!(any(&["9*".into(), "*0000".into()], "12340000"));
        assert!(!any(&[], "1"));
    }
}
