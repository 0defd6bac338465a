//! `/v1/settings/profile/*`, `/v1/settings/business/profile` and
//! `/v1/settings/business/compliance_info` (admin): the business profile,
//! kept by Cloud (`whatsapp_business_profile`), and India's compliance
//! information (`business_compliance_info`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;
use wire::users::Role;

use super::json_body;
use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{Failure, OnPrem, Reply};

async fn cloud_profile(state: &AppState) -> Result<Value, Failure> {
    let doc = state.cores.any().get_profile(proto::core::Empty {}).await?;
    Ok(crate::coreapps::json_of(&doc, "a profile")?)
}

async fn update(state: &AppState, fields: Value) -> Result<(), Failure> {
    let doc = proto::core::JsonDoc { json: fields.to_string() };
    state.cores.any().update_profile(doc).await?;
    Ok(())
}

pub async fn about(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let profile = cloud_profile(&state).await?;
    Ok(OnPrem::ok(json!({"settings": {"profile": {"about": {"text": profile["about"]}}}})))
}

/// `PATCH {"text"}`, at most 139 characters.
pub async fn set_about(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let text = wire::profile::about_text(&json_body(&body)?)?;
    update(&state, json!({ "about": text })).await?;
    Ok(OnPrem::empty())
}

/// `GET`: the picture's bytes, or with `?format=link` where Cloud serves it.
pub async fn photo(
    State(state): State<AppState>,
    who: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    who.require(Role::Admin)?;
    let with_bytes = match query.get("format").map(String::as_str) {
        None | Some("") => true,
        Some("link") => false,
        Some(other) => return Err(ApiError::invalid_value("format", other).into()),
    };
    let request = proto::core::PhotoRequest { with_bytes };
    let photo = state.cores.any().get_profile_photo(request).await?;
    if !with_bytes {
        return Ok(OnPrem::ok(json!({"settings": {"profile": {"photo": {"link": photo.link}}}})).into_response());
    }
    let content_type = HeaderValue::from_str(&photo.mime_type).unwrap_or(HeaderValue::from_static("image/jpeg"));
    // The old client's name; a PNG keeps its own extension.
    let disposition = if photo.mime_type == "image/png" {
        "attachment; filename=profilePicture.png"
    } else {
        "attachment; filename=profilePicture.jpg"
    };
    let mut r = Body::from(photo.data).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, content_type);
    r.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(disposition));
    Ok(r)
}

/// `POST`: the raw image (`image/jpeg` or `image/png`, under 5 MB). Cloud
/// crops and scales it; the old client did that itself.
pub async fn set_photo(State(state): State<AppState>, who: Principal, headers: HeaderMap, body: Body) -> Reply {
    who.require(Role::Admin)?;
    let mime_type = match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => return Err(ApiError::missing("Content-Type").into()),
        Some(v) => v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase(),
    };
    if !wire::profile::PHOTO_TYPES.contains(&mime_type.as_str()) {
        return Err(ApiError::invalid_value("Content-Type", mime_type).into());
    }
    let data = super::read_body(body, wire::profile::PHOTO_MAX - 1, || {
        ApiError::invalid("The photo must be smaller than 5 MB")
    })
    .await?;
    if data.is_empty() {
        return Err(ApiError::missing("photo").into());
    }
    let photo = proto::core::Photo { mime_type, data, link: String::new() };
    state.cores.any().set_profile_photo(photo).await?;
    Ok(OnPrem::created(Value::Null))
}

/// `DELETE`: Cloud has no call that removes a profile photo.
pub async fn delete_photo(who: Principal) -> Reply {
    who.require(Role::Admin)?;
    Err(ApiError::forbidden(
        "The Cloud API cannot remove a profile photo; upload another one with POST /v1/settings/profile/photo",
    )
    .into())
}

pub async fn business(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let p = cloud_profile(&state).await?;
    let profile = json!({"address": p["address"], "description": p["description"], "email": p["email"],
        "vertical": p["vertical"], "websites": p["websites"]});
    Ok(OnPrem::ok(json!({"settings": {"business": {"profile": profile}}})))
}

/// `POST` any of `address`, `description`, `email`, `vertical`, `websites`.
pub async fn set_business(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let fields = wire::profile::business_update(&json_body(&body)?)?;
    update(&state, Value::Object(fields)).await?;
    Ok(OnPrem::empty())
}

/// `GET`: the compliance information, every key there (empty while unset).
pub async fn compliance(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let doc = state.cores.any().get_compliance_info(proto::core::Empty {}).await?;
    let info = crate::coreapps::json_of(&doc, "compliance information")?;
    Ok(OnPrem::ok(json!({"settings": {"business": {"compliance_info": info}}})))
}

/// `POST` the whole compliance information (`wire::compliance::update`
/// says what is required).
pub async fn set_compliance(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let body = json_body(&body)?;
    wire::compliance::update(&body)?;
    let doc = proto::core::JsonDoc { json: body.to_string() };
    state.cores.any().set_compliance_info(doc).await?;
    Ok(OnPrem::empty())
}
