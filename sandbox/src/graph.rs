//! Graph API conventions: versioned paths, token checks, the error envelope.

pub mod auth;
pub mod codes;
pub mod error;
pub mod paging;

use rand::Rng as _;

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

/// The parameters of a Graph write: a JSON object body, or a form body (whose
/// JSON-looking values are parsed, as Graph does for array parameters), with
/// the query string's parameters underneath.
pub(crate) fn read_params(
    headers: &http::HeaderMap,
    query: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, GraphError> {
    use serde_json::Value;
    let mut params: serde_json::Map<String, Value> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "access_token")
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (key, value) in url::form_urlencoded::parse(body) {
            let parsed = match value.trim_start().chars().next() {
                Some('[' | '{') => serde_json::from_str(&value).unwrap_or_else(|_| Value::String(value.to_string())),
                _ => Value::String(value.to_string()),
            };
            params.insert(key.into_owned(), parsed);
        }
        return Ok(params);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => {
            params.extend(object);
            Ok(params)
        }
        _ => Err(GraphError::invalid_parameter("Request body must be a JSON object.")),
    }
}

/// A fresh node id (media, templates): 16 decimal digits, like Graph's.
pub(crate) fn new_id() -> String {
    rand::rng().random_range(1_000_000_000_000_000u64..10_000_000_000_000_000).to_string()
}

/// The base URL clients reach the sandbox at: the configured public URL, or
/// the scheme and `Host` of the request (so URLs it hands out work from
/// inside containers too).
pub(crate) fn base_url(public_url: Option<&str>, headers: &http::HeaderMap) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or("127.0.0.1:9080");
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}")
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

    #[test]
    fn ids_and_base_urls() {
        let id = new_id();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        let mut headers = http::HeaderMap::new();
        assert_eq!(base_url(Some("http://sandbox:9080/"), &headers), "http://sandbox:9080");
        headers.insert("host", http::HeaderValue::from_static("10.0.0.5:9080"));
        assert_eq!(base_url(None, &headers), "http://10.0.0.5:9080");
        headers.insert("x-forwarded-proto", http::HeaderValue::from_static("https"));
        assert_eq!(base_url(None, &headers), "https://10.0.0.5:9080");
    }
}
