//! Graph list edges: `{"data":[…],"paging":{"cursors":{"before","after"},"next"?,"previous"?}}`
//! with `limit`, `after` and `before` (`docs/cloud-api.md` §1.4).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::GraphError;

/// Page size when the request names none (Graph's usual default).
pub const DEFAULT_LIMIT: usize = 25;
/// Largest page Graph serves.
pub const MAX_LIMIT: usize = 1000;

/// One page of `items` as Graph shapes it. `link` is the request URL without
/// its query (for `next` / `previous`); `query` the request's parameters.
pub fn page(items: Vec<Value>, query: &HashMap<String, String>, link: &str) -> Result<Value, GraphError> {
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(0) | Err(_) => return Err(GraphError::invalid_parameter("Param limit must be a positive integer.")),
            Ok(n) => n.min(MAX_LIMIT),
        },
    };
    let start = match (query.get("after"), query.get("before")) {
        (Some(after), _) => decode(after)? + 1,
        (None, Some(before)) => decode(before)?.saturating_sub(limit),
        (None, None) => 0,
    };
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let mut paging = Map::new();
    if !data.is_empty() {
        let last = start + data.len() - 1;
        paging.insert("cursors".into(), json!({ "before": encode(start), "after": encode(last) }));
        if last + 1 < total {
            paging.insert("next".into(), json!(link_with(link, query, "after", &encode(last))));
        }
        if start > 0 {
            paging.insert("previous".into(), json!(link_with(link, query, "before", &encode(start))));
        }
    }
    let mut out = Map::new();
    out.insert("data".into(), Value::Array(data));
    // Graph leaves `paging` out of empty lists.
    if !paging.is_empty() {
        out.insert("paging".into(), Value::Object(paging));
    }
    Ok(Value::Object(out))
}

fn encode(index: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("sandbox:{index}"))
}

fn decode(cursor: &str) -> Result<usize, GraphError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| text.strip_prefix("sandbox:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| GraphError::invalid_parameter("Param after/before is not a valid cursor."))
}

fn link_with(link: &str, query: &HashMap<String, String>, key: &str, cursor: &str) -> String {
    let mut pairs: Vec<(&String, &String)> =
        query.iter().filter(|(k, _)| !matches!(k.as_str(), "after" | "before" | "access_token")).collect();
    pairs.sort();
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.append_pair(key, cursor);
    format!("{link}?{}", serializer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn pages_forward_and_back() {
        let items: Vec<Value> = (0..5).map(|n| json!(n)).collect();
        let first = page(items.clone(), &query(&[("limit", "2")]), "http://h/x").unwrap();
        assert_eq!(first["data"], json!([0, 1]));
        assert!(first["paging"].get("previous").is_none());
        let next = first["paging"]["next"].as_str().unwrap();
        assert!(next.starts_with("http://h/x?limit=2&after="), "{next}");

        let after = first["paging"]["cursors"]["after"].as_str().unwrap();
        let second = page(items.clone(), &query(&[("limit", "2"), ("after", after)]), "http://h/x").unwrap();
        assert_eq!(second["data"], json!([2, 3]));
        let before = second["paging"]["cursors"]["before"].as_str().unwrap();
        let back = page(items.clone(), &query(&[("limit", "2"), ("before", before)]), "http://h/x").unwrap();
        assert_eq!(back["data"], json!([0, 1]));

        let last = page(items, &query(&[("limit", "10")]), "http://h/x").unwrap();
        assert!(last["paging"].get("next").is_none());
    }

    #[test]
    fn empty_lists_and_bad_input() {
        assert_eq!(page(Vec::new(), &query(&[]), "l").unwrap(), json!({"data": []}));
        assert_eq!(page(vec![json!(1)], &query(&[("limit", "0")]), "l").unwrap_err().code, 100);
        assert_eq!(page(vec![json!(1)], &query(&[("after", "zz")]), "l").unwrap_err().code, 100);
    }
}
