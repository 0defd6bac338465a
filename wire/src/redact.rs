//! URLs fit for logs, stored errors (`last_error`) and `/v1/support`: a URL
//! keeps its scheme, host, port and path, and loses its userinfo
//! (`user:password@`), query (`?token=...`) and fragment, which is where
//! webhook URLs and signed download links carry their secrets.
//!
//! The functions work on text, not on parsed URLs, so a value that does not
//! parse is never printed whole either.

/// `raw` without userinfo, query and fragment.
pub fn url(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    // The query and fragment go first: an `@` after them is not userinfo.
    let kept = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    // WHATWG parsers take `\` for `/` in http(s) URLs.
    let (authority, path) = kept.split_at(kept.find(['/', '\\']).unwrap_or(kept.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}{host}{path}")
}

/// `text` with every `http://` or `https://` URL in it redacted as [`url`].
/// A URL ends at whitespace, a quote or an angle bracket; one right after a
/// `(` ends at its last `)` (as in reqwest's "for url (...): ...").
pub fn urls_in(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(start) = next_url(&lower, at) {
        out.push_str(&text[at..start]);
        let len = text[start..].find(|c: char| c.is_whitespace() || "\"'<>`".contains(c)).unwrap_or(text.len() - start);
        let mut end = start + len;
        if text[..start].ends_with('(')
            && let Some(close) = text[start..end].rfind(')')
        {
            end = start + close;
        }
        out.push_str(&url(&text[start..end]));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

fn next_url(lower: &str, from: usize) -> Option<usize> {
    let rest = &lower[from..];
    [rest.find("http://"), rest.find("https://")].into_iter().flatten().min().map(|i| from + i)
}

/// An error and its sources, `: `-separated, every URL in them redacted.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let more = s.to_string();
        // Some errors repeat their source's words in their own message.
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    urls_in(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        for (raw, want) in [
            ("https://hooks.example.com/wa?token=secret", "https://hooks.example.com/wa"),
            ("https://user:pass@hooks.example.com:8443/wa", "https://hooks.example.com:8443/wa"),
            ("http://u:p@h/x?a=1#frag", "http://h/x"),
            ("http://h#frag@evil", "http://h"),
            ("http://h?x=@y", "http://h"),
            ("http://h/a@b", "http://h/a@b"),
            ("http://a@b@h", "http://h"),
            ("http://u:p@h\\path?q", "http://h\\path"),
            ("http://[::1]:8080/p?q", "http://[::1]:8080/p"),
            ("user:pass@h/x?q", "h/x"),
            ("not a url ?secret", "not a url "),
            ("", ""),
        ] {
            assert_eq!(url(raw), want, "{raw}");
        }
    }

    #[test]
    fn urls_inside_text() {
        let text = "error sending request for url (http://u:pw@127.0.0.1:9/hook?token=s3cret): connection refused";
        assert_eq!(urls_in(text), "error sending request for url (http://127.0.0.1:9/hook): connection refused");
        let two = "from HTTPS://a.example/x?k=1 to \"http://b.example/y#f\"";
        assert_eq!(urls_in(two), "from HTTPS://a.example/x to \"http://b.example/y\"");
        assert_eq!(urls_in("no url here"), "no url here");
        // A `)` inside the query, with no `(` before the URL, goes with the query.
        assert_eq!(urls_in("see http://h/p?t=a)b end"), "see http://h/p end");
    }

    #[test]
    fn error_chains_are_joined_and_redacted() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request to https://h/x?token=s3cret failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
        assert_eq!(error_chain(&e), "request to https://h/x failed: connection refused");
    }
}
