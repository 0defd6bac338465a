//! `/v1/users`: login, logout and user management.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use wire::ApiError;
use wire::users::{ADMIN, Role, validate_password, validate_username};

use super::{JSON_LIMIT, json_body, read_body, required_str};
use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{OnPrem, Reply};

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// `POST /v1/users/login`: HTTP Basic, optional `{"new_password"}`. The
/// body is read only once the caller has passed the cheap checks, since
/// nobody is authenticated yet.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let Some((username, password)) = basic_credentials(&headers) else {
        return Err(ApiError::unauthenticated("Missing or invalid authentication credentials").into());
    };
    let body =
        read_body(body, JSON_LIMIT, || ApiError::invalid("The request body is larger than this endpoint accepts"))
            .await?;
    let body = json_body(&body)?;
    let new_password = match body.get("new_password") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(p)) => {
            validate_password(p)?;
            p.clone()
        }
        Some(other) => return Err(ApiError::invalid_value("new_password", other).into()),
    };
    // The coreapp counts failed logins per client, across every webapp.
    let client = peer.ip().to_string();
    let request = proto::core::LoginRequest { username, password, new_password, client };
    let reply = state.cores.any().login(request).await?;
    let role = Role::parse(&reply.role).unwrap_or(Role::User);
    if reply.revoked_up_to_ms > 0 {
        state.auth.revoke_locally(None, Some((&reply.username, reply.revoked_up_to_ms)));
    }
    let minted = state.auth.mint(&reply.username, role, reply.revoked_up_to_ms).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a token");
        ApiError::internal()
    })?;
    let expires = chrono::DateTime::from_timestamp(minted.expires_at, 0).unwrap_or_default();
    Ok(OnPrem::ok(json!({"users": [{
        "token": minted.token,
        "expires_after": expires.format("%Y-%m-%d %H:%M:%S+00:00").to_string(),
    }]})))
}

/// `POST /v1/users/logout`: revokes the presented token only.
pub async fn logout(State(state): State<AppState>, who: Principal) -> Reply {
    let Some(token_id) = who.token_id.clone() else {
        return Err(ApiError::forbidden("Only a session token can log out").into());
    };
    let request = proto::core::RevokeTokenRequest {
        token_id: token_id.clone(),
        username: who.username.clone(),
        issued_before_ms: 0,
        expires_at_ms: who.token_expires_ms,
    };
    state.cores.any().revoke_token(request).await?;
    state.auth.revoke_locally(Some(&token_id), None);
    Ok(OnPrem::empty())
}

/// `POST /v1/users` (admin): `{"username","password"}` -> 201.
pub async fn create(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let body = json_body(&body)?;
    let username = required_str(&body, "username")?.to_string();
    let password = required_str(&body, "password")?.to_string();
    validate_username(&username)?;
    validate_password(&password)?;
    let request = proto::core::UserRequest { username: username.clone(), password };
    state.cores.any().create_user(request).await?;
    Ok(OnPrem::created(json!({"users": [{"username": username}]})))
}

fn admin_or_self(who: &Principal, name: &str, what: &str) -> Result<(), crate::envelope::Failure> {
    who.require_user()?;
    if who.role == Role::Admin || who.username == name {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("Regular user cannot {what} other user information")).into())
    }
}

/// `GET /v1/users/{name}` (admin or self).
pub async fn get(State(state): State<AppState>, who: Principal, Path(name): Path<String>) -> Reply {
    admin_or_self(&who, &name, "read")?;
    let request = proto::core::UserName { username: name };
    let user = state.cores.any().get_user(request).await?;
    Ok(OnPrem::ok(json!({"users": [{"ROLES": user.role, "username": user.username}]})))
}

/// `PUT /v1/users/{name}` (admin or self): `{"password"}`.
pub async fn update(State(state): State<AppState>, who: Principal, Path(name): Path<String>, body: Bytes) -> Reply {
    admin_or_self(&who, &name, "update")?;
    let body = json_body(&body)?;
    let password = required_str(&body, "password")?.to_string();
    validate_password(&password)?;
    let request = proto::core::UserRequest { username: name.clone(), password };
    state.cores.any().update_user(request).await?;
    // The user's older tokens were revoked with the change; here at once.
    state.auth.revoke_locally(None, Some((&name, chrono::Utc::now().timestamp_millis())));
    Ok(OnPrem::ok(json!({"users": [{"username": name}]})))
}

/// `DELETE /v1/users/{name}` (admin): the user and all its tokens.
pub async fn delete(State(state): State<AppState>, who: Principal, Path(name): Path<String>) -> Reply {
    who.require(Role::Admin)?;
    if name == ADMIN {
        return Err(ApiError::invalid("Admin user cannot be deleted").into());
    }
    let request = proto::core::UserName { username: name.clone() };
    state.cores.any().delete_user(request).await?;
    state.auth.revoke_locally(None, Some((&name, chrono::Utc::now().timestamp_millis())));
    state.auth.forget_user(&name);
    Ok(OnPrem::ok(json!({"users": [{"username": name}]})))
}
