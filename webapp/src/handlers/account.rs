//! `/v1/account*` and `/v1/settings/account/two-step` (admin). The number
//! is registered on Cloud (in WhatsApp Manager), so these answer as an
//! old client whose number is already registered: a registration of that
//! number is a no-op, another number is refused.

use axum::extract::State;
use bytes::Bytes;
use serde_json::{Value, json};
use wire::users::Role;
use wire::{ApiError, ErrorCode};

use super::json_body;
use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{Failure, OnPrem, Reply};

async fn account_info(state: &AppState) -> Result<Value, Failure> {
    let doc = state.cores.any().get_account(proto::core::Empty {}).await?;
    Ok(crate::coreapps::json_of(&doc, "account information")?)
}

/// `GET /v1/account`: the number Cloud hosts for this stack.
pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    Ok(OnPrem::ok(json!({"account": [account_info(&state).await?]})))
}

fn digits(body: &Value, name: &str, max: usize) -> Result<String, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Err(ApiError::missing(name)),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing(name)),
        Some(Value::String(s)) if s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
        Some(other) => Err(ApiError::invalid_value(name, other)),
    }
}

/// Exactly one of `cert` and `vname_cert`, base64 text.
fn cert(body: &Value) -> Result<(), ApiError> {
    let present = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    match (present("cert"), present("vname_cert")) {
        (false, false) => Err(ApiError::missing("cert")),
        (true, true) => {
            Err(ApiError::new(ErrorCode::ParameterNotRequired, "Only one of 'cert' and 'vname_cert' may be given"))
        }
        _ => {
            let name = if present("cert") { "cert" } else { "vname_cert" };
            match &body[name] {
                Value::String(s) if !s.is_empty() => Ok(()),
                other => Err(ApiError::invalid_value(name, other)),
            }
        }
    }
}

/// Refuses a number other than the one Cloud hosts for us.
async fn same_number(state: &AppState, cc: &str, phone_number: &str) -> Result<(), Failure> {
    let info = account_info(state).await?;
    let ours = info["wa_id"].as_str().unwrap_or_default();
    let asked = format!("{cc}{phone_number}");
    if !ours.is_empty() && ours != asked {
        return Err(ApiError::forbidden(format!(
            "biz_link_on_prem_reg_blocked: this stack serves +{ours}, registered on the Cloud API; \
             other numbers are registered in WhatsApp Manager"
        ))
        .into());
    }
    Ok(())
}

/// `POST /v1/account` `{"cc","phone_number","method","cert"|"vname_cert","pin"?}`:
/// 201, already registered.
pub async fn register(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let body = json_body(&body)?;
    let cc = digits(&body, "cc", 3)?;
    let phone_number = digits(&body, "phone_number", 17)?;
    match body.get("method") {
        None | Some(Value::Null) => return Err(ApiError::missing("method").into()),
        Some(Value::String(m)) if m == "sms" || m == "voice" => {}
        Some(other) => return Err(ApiError::invalid_value("method", other).into()),
    }
    cert(&body)?;
    let has_pin = body.get("pin").is_some_and(|v| !v.is_null());
    match body.get("reset") {
        None | Some(Value::Null) => {}
        Some(Value::String(r)) if r == "wipe" => {
            if has_pin {
                return Err(ApiError::not_required("pin", "reset").into());
            }
        }
        Some(other) => return Err(ApiError::invalid_value("reset", other).into()),
    }
    if has_pin {
        wire::profile::pin(&body)?;
    }
    same_number(&state, &cc, &phone_number).await?;
    Ok(OnPrem::created(Value::Null))
}

/// `POST /v1/account/verify {"code"}`: 201, nothing to verify.
pub async fn verify(who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let body = json_body(&body)?;
    match body.get("code") {
        None | Some(Value::Null) => Err(ApiError::missing("code").into()),
        Some(Value::String(c)) if c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(OnPrem::created(Value::Null))
        }
        Some(other) => Err(ApiError::invalid_value("code", other).into()),
    }
}

pub async fn shards(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    let n = state.cores.any().get_shards(proto::core::Empty {}).await?.shards;
    Ok(OnPrem::ok(json!({"account": {"shards": n}})))
}

/// `POST /v1/account/shards {"cc","phone_number","shards","pin"?,"cert"?}`.
/// Cloud scales throughput itself; the count is recorded and shown.
pub async fn set_shards(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let body = json_body(&body)?;
    let cc = digits(&body, "cc", 3)?;
    let phone_number = digits(&body, "phone_number", 17)?;
    let shards = match body.get("shards") {
        None | Some(Value::Null) => return Err(ApiError::missing("shards").into()),
        Some(v) => v
            .as_u64()
            .filter(|n| [1, 2, 4, 8, 16, 32].contains(n))
            .ok_or_else(|| ApiError::invalid_value("shards", v))?,
    };
    if body.get("pin").is_some_and(|v| !v.is_null()) {
        wire::profile::pin(&body)?;
    }
    same_number(&state, &cc, &phone_number).await?;
    let request = proto::core::Shards { shards: shards as u32 };
    state.cores.any().set_shards(request).await?;
    Ok(OnPrem::created(Value::Null))
}

/// `POST /v1/settings/account/two-step {"pin"}`: sets the PIN on Cloud.
pub async fn set_pin(State(state): State<AppState>, who: Principal, body: Bytes) -> Reply {
    who.require(Role::Admin)?;
    let pin = wire::profile::pin(&json_body(&body)?)?;
    state.cores.any().set_two_step_pin(proto::core::Pin { pin }).await?;
    Ok(OnPrem::empty())
}

/// `DELETE`: Cloud can set a PIN but has no call that removes it.
pub async fn disable_pin(who: Principal) -> Reply {
    who.require(Role::Admin)?;
    Err(ApiError::forbidden(
        "The Cloud API cannot disable two-step verification; turn it off in WhatsApp Manager, \
         or set a new PIN with POST /v1/settings/account/two-step",
    )
    .into())
}
