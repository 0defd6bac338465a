//! The WhatsApp Business Account node and its edges (`docs/cloud-api.md` §4.2, §4.5):
//! `GET /{waba-id}`, `GET /{waba-id}/phone_numbers`, and
//! `GET`/`POST`/`DELETE /{waba-id}/subscribed_apps` (no subscription, no webhooks;
//! `override_callback_uri` sets the WABA's alternate callback, a POST
//! without it goes back to the app's callback URL).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::graph::{self, GraphError, paging};
use crate::health::{self, BUSINESS_ID};
use crate::nodes::select_fields;
use crate::phone_numbers;
use crate::state::AppState;

const NODE_TYPE: &str = "WhatsAppBusinessAccount";
const DEFAULT_FIELDS: &[&str] = &["id", "name", "timezone_id", "message_template_namespace"];
/// The business portfolio's name.
const BUSINESS_NAME: &str = "Sandbox Business";
/// When the account was created (unix seconds): 2025-10-23, with its numbers.
const CREATED: i64 = 1_761_177_600;
/// Longest alternate callback URL Meta takes.
const OVERRIDE_URL_MAX: usize = 200;

/// `GET /{waba-id}`.
pub(crate) fn node(state: &AppState, method: &Method, query: &HashMap<String, String>) -> Result<Response, GraphError> {
    let id = &state.config.waba_id;
    if method != Method::GET {
        return Err(GraphError::unsupported_request(method, id));
    }
    let fields = select_fields(fields_of(state), query.get("fields"), DEFAULT_FIELDS, NODE_TYPE)?;
    Ok(Json(Value::Object(fields)).into_response())
}

/// Every field the sandbox knows for the account; `null` for the fields
/// Graph has but leaves out here (no commerce account, funding or
/// purchase order).
fn fields_of(state: &AppState) -> Map<String, Value> {
    let id = &state.config.waba_id;
    let business = json!({ "name": BUSINESS_NAME, "id": BUSINESS_ID });
    let mut all = Map::new();
    let mut put = |name: &str, value: Value| {
        all.insert(name.to_owned(), value);
    };
    put("id", json!(id));
    put("name", json!("Sandbox Business Account"));
    put("timezone_id", json!("1"));
    put("message_template_namespace", json!(namespace(id)));
    put("currency", json!("USD"));
    put("account_review_status", json!("APPROVED"));
    put("business_verification_status", json!("verified"));
    put("country", json!("US"));
    put("ownership_type", json!("SELF"));
    put("status", json!("ACTIVE"));
    put("creation_time", json!(CREATED));
    put("health_status", health::status(state, Vec::new()));
    put("is_enabled_for_insights", json!(true));
    put("is_shared_with_partners", json!(false));
    put("disable_marketing_messages_on_cloud_api", json!(false));
    put("marketing_messages_lite_api_status", json!("ELIGIBLE"));
    put("marketing_messages_onboarding_status", json!("ELIGIBLE"));
    put("template_auto_archival_enabled", json!(true));
    put("whatsapp_business_manager_messaging_limit", json!("TIER_UNLIMITED"));
    put("owner_business_info", business.clone());
    put("owner_business", business.clone());
    put("on_behalf_of_business_info", business);
    put("subscribed_apps", json!({ "data": subscribed_apps_of(state) }));
    for empty in [
        "auth_international_rate_eligibility",
        "linked_commerce_account",
        "primary_business_location",
        "primary_funding_id",
        "purchase_order_number",
    ] {
        put(empty, Value::Null);
    }
    all
}

/// A stable namespace in Meta's shape (`c8ae5f90_307a_ca4c_b8f6_d1e2a2573574`).
fn namespace(waba_id: &str) -> String {
    let hex = hex::encode(&Sha256::digest(waba_id.as_bytes())[..16]);
    format!("{}_{}_{}_{}_{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// `GET /{waba-id}/phone_numbers`.
pub(crate) async fn phone_numbers(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    if method != Method::GET || !state.is_waba(&node) {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let mut defaults = phone_numbers::DEFAULT_FIELDS.to_vec();
    defaults.push("last_onboarded_time");
    let mut items = Vec::new();
    for index in 0..state.config.phone_number_ids.len() {
        let fields = phone_numbers::fields_of(&state, index);
        items.push(Value::Object(select_fields(
            fields,
            query.get("fields"),
            &defaults,
            "WhatsAppBusinessPhoneNumber",
        )?));
    }
    let link = format!("{}{}", graph::base_url(state.config.public_url.as_deref(), &headers), uri.path());
    Ok(Json(paging::page(items, &query, &link)?).into_response())
}

/// `GET` / `POST` / `DELETE /{waba-id}/subscribed_apps`.
pub(crate) async fn subscribed_apps(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    if !state.is_waba(&node) {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    match method {
        Method::GET => Ok(Json(json!({ "data": subscribed_apps_of(&state) })).into_response()),
        Method::POST => {
            let params = graph::read_params(&headers, &query, &body)?;
            let url = override_url_of(&params)?;
            match &url {
                Some(url) => info!(%url, "alternate callback set: messages webhooks go there"),
                None if state.webhooks.override_url().is_some() => info!("alternate callback removed"),
                None => {}
            }
            state.webhooks.set_override_url(url);
            state.webhooks.set_subscribed(true);
            Ok(Json(json!({ "success": true })).into_response())
        }
        Method::DELETE => {
            state.webhooks.set_subscribed(false);
            info!("app unsubscribed: no more webhooks");
            Ok(Json(json!({ "success": true })).into_response())
        }
        _ => Err(GraphError::unsupported_request(&method, &node)),
    }
}

/// The apps subscribed to the account: the sandbox's, with the WABA's
/// alternate callback when one is set; none while unsubscribed.
fn subscribed_apps_of(state: &AppState) -> Vec<Value> {
    if !state.webhooks.subscribed() {
        return Vec::new();
    }
    let app_id = &state.config.app_id;
    let mut app = json!({"whatsapp_business_api_data": {
        "link": format!("https://www.facebook.com/games/?app_id={app_id}"),
        "name": "wa-onprem sandbox",
        "id": app_id,
    }});
    if let Some(url) = state.webhooks.override_url() {
        app["override_callback_uri"] = json!(url);
    }
    vec![app]
}

/// The alternate callback a subscription POST sets: `None` when it has no
/// `override_callback_uri`, which removes the one set before.
fn override_url_of(params: &Map<String, Value>) -> Result<Option<String>, GraphError> {
    let url = match params.get("override_callback_uri") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(url)) if url.is_empty() => return Ok(None),
        Some(Value::String(url))
            if url.chars().count() <= OVERRIDE_URL_MAX && crate::messages::fields::is_http_url(url) =>
        {
            url.clone()
        }
        Some(_) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param override_callback_uri must be an http(s) URL of at most {OVERRIDE_URL_MAX} characters."
            )));
        }
    };
    if params.get("verify_token").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(GraphError::missing_parameter("verify_token"));
    }
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_without_an_override_removes_it() {
        let params = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(override_url_of(&params(json!({}))).unwrap(), None);
        assert_eq!(override_url_of(&params(json!({"override_callback_uri": ""}))).unwrap(), None);
        let set = params(json!({"override_callback_uri": "https://alt.example/hook", "verify_token": "t"}));
        assert_eq!(override_url_of(&set).unwrap().as_deref(), Some("https://alt.example/hook"));
        for bad in [
            json!({"override_callback_uri": "https://alt.example/hook"}),
            json!({"override_callback_uri": "ftp://alt.example/hook", "verify_token": "t"}),
            json!({"override_callback_uri": format!("https://alt.example/{}", "x".repeat(200)), "verify_token": "t"}),
        ] {
            assert_eq!(override_url_of(&params(bad)).unwrap_err().code, 100);
        }
    }

    #[test]
    fn namespaces_look_like_metas() {
        let ns = namespace("200000000000001");
        assert_eq!(ns.len(), 36);
        assert_eq!(ns.matches('_').count(), 4);
        assert_eq!(ns, namespace("200000000000001"));
    }
}
