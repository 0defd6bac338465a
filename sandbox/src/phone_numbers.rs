//! `GET /{version}/{phone_number_id}`: the phone number node, with `fields=`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::Method;
use serde_json::{Map, Value, json};

use crate::graph::GraphError;
use crate::state::AppState;
use crate::webhooks::payload::display_phone_number;

const NODE_TYPE: &str = "WhatsAppBusinessPhoneNumber";

/// Fields returned when the request names none (Graph's defaults).
const DEFAULT_FIELDS: &[&str] = &[
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
];

/// Handles every method on a node path; only GET on a hosted number is supported.
pub(crate) async fn node(
    State(state): State<AppState>,
    method: Method,
    Path((_version, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    if method != Method::GET || !state.hosts(&id) {
        return Err(GraphError::unsupported_request(&method, &id));
    }
    let all = fields_of(&state, &id);
    let requested = match query.get("fields") {
        Some(list) => parse_fields(list),
        None => DEFAULT_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
    };

    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    for field in requested {
        if field == "id" {
            continue;
        }
        let value = all.get(&field).ok_or_else(|| GraphError::nonexisting_field(&field, NODE_TYPE))?;
        out.insert(field, value.clone());
    }
    Ok(Json(Value::Object(out)))
}

/// Every field the sandbox knows for a hosted number.
fn fields_of(state: &AppState, id: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut put = |name: &str, value: Value| {
        fields.insert(name.to_owned(), value);
    };
    put("verified_name", json!("Sandbox Business"));
    put("code_verification_status", json!("VERIFIED"));
    put("display_phone_number", json!(display_phone_number(id)));
    put("quality_rating", json!("GREEN"));
    put("platform_type", json!("CLOUD_API"));
    put("throughput", json!({ "level": "STANDARD" }));
    put("status", json!("CONNECTED"));
    put("name_status", json!("APPROVED"));
    put("account_mode", json!("LIVE"));
    put("is_official_business_account", json!(false));
    put("is_pin_enabled", json!(false));
    put("messaging_limit_tier", json!("TIER_1K"));
    if let Some(url) = &state.config.webhook_url {
        put("webhook_configuration", json!({ "application": url }));
    }
    fields
}

/// Splits `a,b{c,d},e` at top-level commas and keeps each field's name
/// (sub-field selections are answered in full).
fn parse_fields(list: &str) -> Vec<String> {
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
    use super::*;

    #[test]
    fn parses_field_lists() {
        assert_eq!(parse_fields("a,b"), ["a", "b"]);
        assert_eq!(parse_fields(" a , throughput{level},b,"), ["a", "throughput", "b"]);
        assert_eq!(parse_fields("x{y{z},w},v"), ["x", "v"]);
        assert!(parse_fields("").is_empty());
    }
}
