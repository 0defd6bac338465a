//! `/{version}/{node-id}`: one path for every kind of Graph node, told apart
//! by the id (a hosted phone number, the business account, a media file, a
//! template, an upload session), and the `fields=` selection they share.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value};

use crate::graph::GraphError;
use crate::state::AppState;
use crate::{media, phone_numbers, templates, uploads, waba};

/// Every method on a node path.
pub(crate) async fn node(
    State(state): State<AppState>,
    method: Method,
    Path((_version, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    if let Some(session) = id.strip_prefix(uploads::ID_PREFIX) {
        return uploads::node(&state, &method, session, &headers, &body);
    }
    if let Some(index) = state.number_index(&id) {
        return phone_numbers::node(&state, &method, index, &query, &headers, &body);
    }
    if state.is_waba(&id) {
        return waba::node(&state, &method, &query);
    }
    if let Some(template) = state.templates.by_id(&id) {
        return templates::node(&state, &method, &template, &query);
    }
    // Media last: its lookup also covers expired and deleted ids, which
    // answer like ids that never existed.
    media::node(&state, &method, &id, &query, &headers)
}

/// Picks the requested `fields=` (or the defaults) out of everything a node
/// has; `id` always comes along, last, as Graph writes it. A field the node
/// knows but has no value for (`null` in `all`) is accepted and left out of
/// the answer, as Graph leaves out empty fields; a field the node does not
/// know is Graph's error 100.
pub(crate) fn select_fields(
    mut all: Map<String, Value>,
    requested: Option<&String>,
    defaults: &[&str],
    node_type: &str,
) -> Result<Map<String, Value>, GraphError> {
    let names: Vec<String> = match requested {
        Some(list) => parse_fields(list),
        None => defaults.iter().map(|f| (*f).to_owned()).collect(),
    };
    let id = all.remove("id");
    let mut out = Map::new();
    for name in names {
        if name == "id" {
            continue;
        }
        let value = all.get(&name).ok_or_else(|| GraphError::nonexisting_field(&name, node_type))?;
        if !value.is_null() {
            out.insert(name, value.clone());
        }
    }
    if let Some(id) = id {
        out.insert("id".into(), id);
    }
    Ok(out)
}

/// Splits `a,b{c,d},e` at top-level commas and keeps each field's name
/// (sub-field selections are answered in full).
pub(crate) fn parse_fields(list: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for ch in list.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => names.push(std::mem::take(&mut current)),
            _ if depth == 0 => current.push(ch),
            _ => {}
        }
    }
    names.push(current);
    names.into_iter().map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_field_lists() {
        assert_eq!(parse_fields("a,b"), ["a", "b"]);
        assert_eq!(parse_fields(" a , throughput{level},b,"), ["a", "throughput", "b"]);
        assert_eq!(parse_fields("x{y{z},w},v"), ["x", "v"]);
        assert!(parse_fields("").is_empty());
    }

    #[test]
    fn selects_fields_with_the_id() {
        let all = json!({"id": "1", "a": 1, "b": 2}).as_object().unwrap().clone();
        let picked = select_fields(all.clone(), Some(&"b,id".to_owned()), &["a"], "Node").unwrap();
        assert_eq!(Value::Object(picked), json!({"b": 2, "id": "1"}));
        let defaults = select_fields(all.clone(), None, &["a"], "Node").unwrap();
        assert_eq!(defaults.keys().collect::<Vec<_>>(), ["a", "id"]);
        let err = select_fields(all, Some(&"nope".to_owned()), &[], "Node").unwrap_err();
        assert_eq!(err.code, 100);
    }

    #[test]
    fn known_empty_fields_are_accepted_and_left_out() {
        let all = json!({"id": "1", "a": 1, "empty": null}).as_object().unwrap().clone();
        let picked = select_fields(all, Some(&"a,empty".to_owned()), &[], "Node").unwrap();
        assert_eq!(Value::Object(picked), json!({"a": 1, "id": "1"}));
    }
}
