//! The WhatsApp Business Account node and its edges (spec 4.2, 4.5):
//! `GET /{waba-id}`, `GET /{waba-id}/phone_numbers`, and
//! `GET`/`POST`/`DELETE /{waba-id}/subscribed_apps` (no subscription, no webhooks;
//! `override_callback_uri` redirects them).

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
use crate::nodes::select_fields;
use crate::phone_numbers;
use crate::state::AppState;

const NODE_TYPE: &str = "WhatsAppBusinessAccount";
const DEFAULT_FIELDS: &[&str] = &["id", "name", "timezone_id", "message_template_namespace"];
/// The app the sandbox pretends the token belongs to.
const APP_ID: &str = "300000000000001";

/// `GET /{waba-id}`.
pub(crate) fn node(state: &AppState, method: &Method, query: &HashMap<String, String>) -> Result<Response, GraphError> {
    let id = &state.config.waba_id;
    if method != Method::GET {
        return Err(GraphError::unsupported_request(method, id));
    }
    let mut all = Map::new();
    all.insert("id".into(), json!(id));
    all.insert("name".into(), json!("Sandbox Business Account"));
    all.insert("timezone_id".into(), json!("1"));
    all.insert("message_template_namespace".into(), json!(namespace(id)));
    all.insert("currency".into(), json!("USD"));
    all.insert("account_review_status".into(), json!("APPROVED"));
    all.insert("business_verification_status".into(), json!("verified"));
    all.insert("country".into(), json!("US"));
    all.insert("ownership_type".into(), json!("SELF"));
    let fields = select_fields(all, query.get("fields"), DEFAULT_FIELDS, NODE_TYPE)?;
    Ok(Json(Value::Object(fields)).into_response())
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
        Method::GET => {
            let mut data = Vec::new();
            if state.webhooks.subscribed() {
                let mut app = json!({"whatsapp_business_api_data": {
                    "link": format!("https://www.facebook.com/games/?app_id={APP_ID}"),
                    "name": "wa-onprem sandbox",
                    "id": APP_ID,
                }});
                if let Some(uri) = state.accounts.override_callback_uri() {
                    app["override_callback_uri"] = json!(uri);
                }
                data.push(app);
            }
            Ok(Json(json!({ "data": data })).into_response())
        }
        Method::POST => {
            let params = graph::read_params(&headers, &query, &body)?;
            if let Some(uri) = params.get("override_callback_uri").filter(|v| !v.is_null()) {
                let uri = uri.as_str().filter(|u| crate::messages::fields::is_http_url(u)).ok_or_else(|| {
                    GraphError::invalid_parameter("Param override_callback_uri must be an http(s) URL.")
                })?;
                if params.get("verify_token").and_then(Value::as_str).is_none_or(str::is_empty) {
                    return Err(GraphError::missing_parameter("verify_token"));
                }
                state.settings.patch(&json!({"webhooks": {"url": uri}})).map_err(GraphError::invalid_parameter)?;
                state.accounts.set_override_callback_uri(Some(uri.to_owned()));
                info!(url = %uri, "webhook callback overridden");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_look_like_metas() {
        let ns = namespace("200000000000001");
        assert_eq!(ns.len(), 36);
        assert_eq!(ns.matches('_').count(), 4);
        assert_eq!(ns, namespace("200000000000001"));
    }
}
