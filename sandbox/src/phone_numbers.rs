//! The phone number node and its edges (`docs/cloud-api.md` §4.2 to §4.4): `GET /{pnid}`
//! with `fields=`, `POST /{pnid}` (two-step PIN), the business profile,
//! register / deregister (10 calls per 72 h, 133016; PIN 133005), the
//! verification code calls, and the business compliance information
//! ([`compliance`]).

pub mod account;
pub mod compliance;
pub mod picture;

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value, json};
use tracing::info;

use crate::graph::{self, GraphError};
use crate::health::{self, Block};
use crate::nodes::select_fields;
use crate::state::AppState;
use crate::users::ids;

const NODE_TYPE: &str = "WhatsAppBusinessPhoneNumber";

/// Fields returned when the request names none (Graph's defaults).
pub(crate) const DEFAULT_FIELDS: &[&str] = &[
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
];

/// The business profile's `vertical` values: Meta's current list, which
/// no longer has `UNDEFINED` nor `NOT_A_BIZ`.
const VERTICALS: &[&str] = &[
    "OTHER",
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "ALCOHOL",
    "ONLINE_GAMBLING",
    "PHYSICAL_GAMBLING",
    "OTC_DRUGS",
];

const LOCALIZATION_REGIONS: &[&str] =
    &["AU", "ID", "IN", "JP", "SG", "KR", "DE", "CH", "GB", "BR", "BH", "ZA", "AE", "CA"];

/// When every sandbox number was "onboarded".
const ONBOARDED: &str = "2025-10-23T00:00:00+0000";

/// The approved display name of every sandbox number.
const VERIFIED_NAME: &str = "Sandbox Business";

/// The sandbox does not rate quality: every number stays green.
const QUALITY: &str = "GREEN";

/// `GET` / `POST /{phone-number-id}`.
pub(crate) fn node(
    state: &AppState,
    method: &Method,
    index: usize,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    let id = &state.config.phone_number_ids[index];
    match *method {
        Method::GET => {
            let fields = select_fields(fields_of(state, index), query.get("fields"), DEFAULT_FIELDS, NODE_TYPE)?;
            Ok(Json(Value::Object(fields)).into_response())
        }
        Method::POST => {
            // Setting the two-step verification PIN; it cannot be removed through the API.
            let params = graph::read_params(headers, query, body)?;
            let pin = pin_of(&params)?;
            state.accounts.with(index, |account| account.pin = Some(pin));
            info!(phone_number_id = %id, "two-step verification PIN set");
            Ok(success())
        }
        _ => Err(GraphError::unsupported_request(method, id)),
    }
}

fn success() -> Response {
    Json(json!({ "success": true })).into_response()
}

/// Every field the sandbox knows for number `index`; `null` for the fields
/// Graph has but leaves out here (no pending display name, no username).
pub(crate) fn fields_of(state: &AppState, index: usize) -> Map<String, Value> {
    let id = &state.config.phone_number_ids[index];
    let display = &state.display_numbers[index];
    let account = state.accounts.with(index, |account| account.clone());
    let settings = state.settings.get();
    let throughput = &settings.rules.throughput;
    let level = if !throughput.enabled || throughput.mps_of(id) > 80.0 { "HIGH" } else { "STANDARD" };
    let (dial_code, country) =
        ids::calling_code(display).map_or((Value::Null, Value::Null), |(code, country)| (json!(code), json!(country)));

    let mut fields = Map::new();
    let mut put = |name: &str, value: Value| {
        fields.insert(name.to_owned(), value);
    };
    put("verified_name", json!(VERIFIED_NAME));
    put("code_verification_status", json!("VERIFIED"));
    put("display_phone_number", json!(display));
    put("quality_rating", json!(QUALITY));
    put("platform_type", json!("CLOUD_API"));
    put("throughput", json!({ "level": level }));
    put("status", json!(if account.registered { "CONNECTED" } else { "DISCONNECTED" }));
    put("name_status", json!("APPROVED"));
    put("new_name_status", json!("NONE"));
    put("account_mode", json!("LIVE"));
    put("is_official_business_account", json!(false));
    put("is_pin_enabled", json!(account.pin.is_some()));
    put("is_on_biz_app", json!(false));
    put("is_preverified_number", json!(false));
    put("messaging_limit_tier", json!("TIER_UNLIMITED"));
    put("whatsapp_business_manager_messaging_limit", json!("TIER_UNLIMITED"));
    put("last_onboarded_time", json!(ONBOARDED));
    put("quality_score", json!({ "score": QUALITY }));
    put("country_code", country);
    put("country_dial_code", dial_code);
    put("certificate", json!(certificate(display)));
    put("new_certificate", Value::Null);
    put("unified_cert_status", json!("APPROVED"));
    put("host_platform", json!("CLOUD_API"));
    put("username", Value::Null);
    // Graph answers the node with the number's id (clients read it).
    put("conversational_automation", json!({ "enable_welcome_message": false, "id": id }));
    put("search_visibility", json!("NON_VISIBLE"));
    put("eligibility_for_api_business_global_search", json!("NON_ELIGIBLE_UNDEFINED_COUNTRY"));
    put("health_status", health_status(state, id, account.registered));
    put("webhook_configuration", webhook_configuration(state));
    put("id", json!(id));
    fields
}

/// The display name certificate (base64, as Meta hands it out for
/// registering elsewhere): stable for a number and its name.
fn certificate(display: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("wa-onprem sandbox\n{display}\n{VERIFIED_NAME}"))
}

/// The number's `health_status`: blocked while it is not registered.
fn health_status(state: &AppState, id: &str, registered: bool) -> Value {
    let block = (!registered)
        .then_some(Block { code: 133010, solution: "Register the number with POST /{phone-number-id}/register." });
    health::status(state, vec![health::entity("PHONE_NUMBER", id, block)])
}

/// Where the number's webhooks go, level by level (`whatsapp_business_account`
/// for the WABA's alternate callback, `application` for the app's URL);
/// absent while the app is not subscribed.
fn webhook_configuration(state: &AppState) -> Value {
    if !state.webhooks.subscribed() {
        return Value::Null;
    }
    let mut levels = Map::new();
    if let Some(url) = state.webhooks.override_url() {
        levels.insert("whatsapp_business_account".into(), json!(url));
    }
    if let Some(url) = state.webhooks.app_url() {
        levels.insert("application".into(), json!(url));
    }
    if levels.is_empty() { Value::Null } else { Value::Object(levels) }
}

fn pin_of(params: &Map<String, Value>) -> Result<String, GraphError> {
    match params.get("pin") {
        None | Some(Value::Null) => Err(GraphError::missing_parameter("pin")),
        Some(Value::String(pin)) if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) => Ok(pin.clone()),
        Some(_) => Err(GraphError::invalid_parameter("Param pin must be a 6-digit string.")),
    }
}

/// Resolves the node of an edge to a hosted number, or the Graph error.
fn hosted(state: &AppState, method: &Method, node: &str) -> Result<usize, GraphError> {
    state.number_index(node).ok_or_else(|| GraphError::unsupported_request(method, node))
}

/// `GET` / `POST /{phone-number-id}/whatsapp_business_profile`.
pub(crate) async fn profile(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let index = hosted(&state, &method, &node)?;
    match method {
        Method::GET => {
            let profile = state.accounts.with(index, |account| account.profile.clone());
            let Value::Object(all) = serde_json::to_value(&profile).unwrap_or_default() else {
                return Err(GraphError::server_failure(http::StatusCode::INTERNAL_SERVER_ERROR));
            };
            let mut entry = match query.get("fields") {
                Some(list) => {
                    let mut picked = Map::new();
                    for name in crate::nodes::parse_fields(list) {
                        let value = all
                            .get(&name)
                            .ok_or_else(|| GraphError::nonexisting_field(&name, "WhatsAppBusinessProfile"))?;
                        picked.insert(name, value.clone());
                    }
                    picked
                }
                None => all,
            };
            entry.insert("messaging_product".into(), json!("whatsapp"));
            Ok(Json(json!({ "data": [entry] })).into_response())
        }
        Method::POST => {
            let params = graph::read_params(&headers, &query, &body)?;
            require_whatsapp(&params)?;
            let mut profile = state.accounts.with(index, |account| account.profile.clone());
            apply_profile(&mut profile, &params)?;
            if let Some(handle) = picture_handle(&params)? {
                let picture = picture::from_handle(&state, &handle, &state.config.phone_number_ids[index])?;
                let base = graph::base_url(state.config.public_url.as_deref(), &headers);
                profile.profile_picture_url = picture::url(&base, &picture);
                profile.picture = Some(picture);
            }
            state.accounts.with(index, |account| account.profile = profile);
            Ok(success())
        }
        _ => Err(GraphError::unsupported_request(&method, &node)),
    }
}

fn require_whatsapp(params: &Map<String, Value>) -> Result<(), GraphError> {
    match params.get("messaging_product") {
        None | Some(Value::Null) => Err(GraphError::missing_parameter("messaging_product")),
        Some(Value::String(p)) if p == "whatsapp" => Ok(()),
        Some(other) => Err(GraphError::invalid_parameter(format!(
            "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
        ))),
    }
}

/// Applies a profile update's text fields after checking their limits (the
/// picture, which needs the uploads, is [`picture_handle`]'s).
fn apply_profile(profile: &mut account::Profile, params: &Map<String, Value>) -> Result<(), GraphError> {
    let text = |key: &str, min: usize, max: usize| -> Result<Option<String>, GraphError> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if (min..=max).contains(&s.chars().count()) => Ok(Some(s.clone())),
            Some(_) => Err(GraphError::invalid_parameter(format!(
                "Param {key} must be a string of {min} to {max} characters."
            ))),
        }
    };
    if let Some(about) = text("about", 1, 139)? {
        profile.about = about;
    }
    if let Some(address) = text("address", 0, 256)? {
        profile.address = address;
    }
    if let Some(description) = text("description", 0, 512)? {
        profile.description = description;
    }
    if let Some(email) = text("email", 0, 128)? {
        if !email.is_empty() && !email.contains('@') {
            return Err(GraphError::invalid_parameter("Param email must be an email address."));
        }
        profile.email = email;
    }
    if let Some(vertical) = text("vertical", 1, 32)? {
        if !VERTICALS.contains(&vertical.as_str()) {
            return Err(GraphError::invalid_parameter(format!(
                "Param vertical must be one of {{{}}} - got \"{vertical}\".",
                VERTICALS.join(", ")
            )));
        }
        profile.vertical = vertical;
    }
    match params.get("websites") {
        None | Some(Value::Null) => {}
        Some(Value::Array(sites)) => {
            let mut websites = Vec::new();
            for site in sites {
                match site.as_str() {
                    Some(url) if url.chars().count() <= 256 && crate::messages::fields::is_http_url(url) => {
                        websites.push(url.to_owned())
                    }
                    _ => {
                        return Err(GraphError::invalid_parameter(
                            "Param websites must hold http(s) URLs of at most 256 characters.",
                        ));
                    }
                }
            }
            if websites.len() > 2 {
                return Err(GraphError::invalid_parameter("Param websites can hold at most 2 URLs."));
            }
            profile.websites = websites;
        }
        Some(_) => return Err(GraphError::invalid_parameter("Param websites must be an array.")),
    }
    Ok(())
}

/// `profile_picture_handle`, when the update sets the picture.
fn picture_handle(params: &Map<String, Value>) -> Result<Option<String>, GraphError> {
    match params.get("profile_picture_handle") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(handle)) if !handle.is_empty() => Ok(Some(handle.clone())),
        Some(_) => Err(GraphError::invalid_parameter("Param profile_picture_handle must be an upload handle.")),
    }
}

/// `POST /{phone-number-id}/register`.
pub(crate) async fn register(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let index = hosted(&state, &method, &node)?;
    if method != Method::POST {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let params = graph::read_params(&headers, &query, &body)?;
    require_whatsapp(&params)?;
    let pin = pin_of(&params)?;
    if let Some(region) = params.get("data_localization_region")
        && !region.as_str().is_some_and(|r| LOCALIZATION_REGIONS.contains(&r))
    {
        return Err(GraphError::invalid_parameter(format!(
            "Param data_localization_region must be one of {{{}}}.",
            LOCALIZATION_REGIONS.join(", ")
        )));
    }
    if let Some(backup) = params.get("backup") {
        // Migration from On-Premises: the backup is opaque, but must be complete.
        let complete = backup.get("data").and_then(Value::as_str).is_some_and(|d| !d.is_empty())
            && backup.get("password").and_then(Value::as_str).is_some();
        if !complete {
            return Err(GraphError::invalid_parameter("Param backup must hold data and password."));
        }
    }
    let now = state.clock.now_ms();
    state.accounts.with(index, |account| {
        if !account.registration_call(now) {
            return Err(GraphError::whatsapp_default(133016));
        }
        match &account.pin {
            Some(existing) if existing != &pin => Err(GraphError::whatsapp_default(133005)),
            _ => {
                // A first registration sets the PIN.
                account.pin = Some(pin);
                account.registered = true;
                Ok(())
            }
        }
    })?;
    info!(phone_number_id = %node, "registered");
    Ok(success())
}

/// `POST /{phone-number-id}/deregister`.
pub(crate) async fn deregister(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    let index = hosted(&state, &method, &node)?;
    if method != Method::POST {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let now = state.clock.now_ms();
    state.accounts.with(index, |account| {
        if !account.registration_call(now) {
            return Err(GraphError::whatsapp_default(133016));
        }
        account.registered = false;
        Ok(())
    })?;
    info!(phone_number_id = %node, "deregistered");
    Ok(success())
}

/// `POST /{phone-number-id}/request_code` (`code_method`, `language`).
pub(crate) async fn request_code(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    hosted(&state, &method, &node)?;
    if method != Method::POST {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let params = graph::read_params(&headers, &query, &body)?;
    match params.get("code_method").and_then(Value::as_str) {
        None => return Err(GraphError::missing_parameter("code_method")),
        Some(m) if m.eq_ignore_ascii_case("sms") || m.eq_ignore_ascii_case("voice") => {}
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param code_method must be one of {{SMS, VOICE}} - got \"{other}\"."
            )));
        }
    }
    if params.get("language").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(GraphError::missing_parameter("language"));
    }
    Ok(success())
}

/// `POST /{phone-number-id}/verify_code` (`code`): any six digits verify.
pub(crate) async fn verify_code(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    hosted(&state, &method, &node)?;
    if method != Method::POST {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let params = graph::read_params(&headers, &query, &body)?;
    match params.get("code").and_then(Value::as_str) {
        None => Err(GraphError::missing_parameter("code")),
        Some(code) if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) => Ok(success()),
        Some(_) => {
            Err(GraphError::whatsapp(136025, "Verify code error: the code must be 6 digits.").with_subcode(2_388_093))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_updates_are_checked() {
        let mut profile = account::Account::default().profile;
        let params =
            json!({"about": "Open 9-5", "websites": ["https://a.test", "http://b.test"], "vertical": "RETAIL"});
        apply_profile(&mut profile, params.as_object().unwrap()).unwrap();
        assert_eq!(profile.about, "Open 9-5");
        assert_eq!(profile.websites.len(), 2);
        for bad in [
            json!({"about": ""}),
            json!({"about": "x".repeat(140)}),
            json!({"email": "nope"}),
            json!({"vertical": "SPACE"}),
            json!({"vertical": "UNDEFINED"}),
            json!({"vertical": "NOT_A_BIZ"}),
            json!({"websites": ["a", "b"]}),
            json!({"websites": ["https://a.test", "https://b.test", "https://c.test"]}),
            json!({"description": "x".repeat(513)}),
        ] {
            assert!(apply_profile(&mut profile, bad.as_object().unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn verticals_follow_metas_current_list() {
        let mut profile = account::Account::default().profile;
        for vertical in ["ALCOHOL", "ONLINE_GAMBLING", "PHYSICAL_GAMBLING", "OTC_DRUGS", "RETAIL", "OTHER"] {
            apply_profile(&mut profile, json!({"vertical": vertical}).as_object().unwrap()).unwrap();
            assert_eq!(profile.vertical, vertical);
        }
        for retired in ["UNDEFINED", "NOT_A_BIZ"] {
            let err = apply_profile(&mut profile, json!({"vertical": retired}).as_object().unwrap()).unwrap_err();
            assert_eq!(err.code, 100);
            assert!(err.message.contains("Param vertical must be one of"), "{}", err.message);
            assert!(!err.message.contains(&format!("{retired},")), "{}", err.message);
        }
    }

    #[test]
    fn certificates_are_base64_and_stable() {
        use base64::Engine as _;
        let cert = certificate("15550000001");
        assert_eq!(cert, certificate("15550000001"));
        let bytes = base64::engine::general_purpose::STANDARD.decode(&cert).unwrap();
        assert!(String::from_utf8(bytes).unwrap().contains("15550000001"));
    }

    #[test]
    fn picture_handles_are_non_empty_strings() {
        let handle = |value: Value| picture_handle(value.as_object().unwrap());
        assert_eq!(handle(json!({})).unwrap(), None);
        assert_eq!(handle(json!({"profile_picture_handle": "4::x"})).unwrap().as_deref(), Some("4::x"));
        for bad in [json!({"profile_picture_handle": ""}), json!({"profile_picture_handle": 4})] {
            assert_eq!(handle(bad).unwrap_err().code, 100);
        }
    }
}
