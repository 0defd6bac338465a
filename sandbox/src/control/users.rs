//! `/_sandbox/users`: the simulated WhatsApp users (`crate::users`), their
//! usernames and BSUIDs, and what they do besides writing messages.
//!
//! - `POST /_sandbox/users` `{"phone","username"?,"name"?,"contact_book"?}`
//!   creates or changes the user with that phone;
//! - `GET /_sandbox/users/{phone-or-user_id}` shows one;
//! - `POST /_sandbox/users/{id}/change_number` `{"phone","shape"?,"phone_number_id"?}`:
//!   the user moves to another phone, gets a new BSUID, and the business is
//!   told with the system message of the shape asked for;
//! - `POST /_sandbox/users/{id}/share_contact` `{"phone_number_id"?}`: the
//!   user answers a contact request (`request_contact_info`) with their
//!   phone number, and joins the portfolio's contact book.
//!
//! Each answers the user as `{"user_id","phone","username","name",
//! "contact_book","phone_shared"}` (`parent_user_id` too while parent BSUIDs
//! are on), `phone_shared` telling whether webhooks to the first hosted
//! number would carry the phone now; `share_contact` answers `{"id"}`.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tracing::info;

use super::inbound::deliver;
use super::{ControlError, json_body};
use crate::state::AppState;
use crate::users::{Update, User, UserError, ids};
use crate::wamid;
use crate::webhooks::ItemChange;
use crate::webhooks::payload::{Contact, Message, Metadata, UserIdPair, UserIdUpdate};

/// The fields `POST /_sandbox/users` takes.
const USER_FIELDS: &[&str] = &["phone", "username", "name", "contact_book"];

fn bad(message: impl Into<String>) -> ControlError {
    ControlError::bad_request(message)
}

impl From<UserError> for ControlError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::NotFound(message) => ControlError::not_found(message),
            UserError::Conflict(message) => ControlError::conflict(message),
            UserError::Invalid(message) => ControlError::bad_request(message),
        }
    }
}

/// The user as the control API shows them.
fn user_json(state: &AppState, user: &User) -> Value {
    let settings = state.settings.get();
    let mut out = json!({
        "user_id": user.user_id,
        "phone": user.phone,
        "username": user.username,
        "name": user.name,
        "contact_book": user.contact_book,
        "phone_shared": user.phone_shared(0, state.clock.now_ms()),
    });
    if settings.parent_user_ids {
        out["parent_user_id"] = json!(user.parent_user_id);
    }
    out
}

fn object(body: &Value) -> Result<&Map<String, Value>, ControlError> {
    body.as_object().ok_or_else(|| bad("the body must be a JSON object"))
}

/// A new phone for a user: a valid wa_id that is not a business number here.
fn phone_field(state: &AppState, body: &Map<String, Value>) -> Result<String, ControlError> {
    let phone = body
        .get("phone")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("phone (the user's wa_id: digits with the country code) is required"))?;
    ids::check_phone(phone).map_err(bad)?;
    if state.display_numbers.iter().any(|business| business == phone) {
        return Err(bad(format!("{phone} is a business number of this sandbox, not a user's")));
    }
    Ok(phone.to_owned())
}

/// `phone_number_id` of the body, a hosted number; the first by default.
fn business_number(state: &AppState, body: &Map<String, Value>) -> Result<(String, usize), ControlError> {
    match body.get("phone_number_id").and_then(Value::as_str) {
        Some(id) => match state.number_index(id) {
            Some(index) => Ok((id.to_owned(), index)),
            None => Err(bad(format!(
                "phone_number_id {id:?} is not hosted by this sandbox (hosted: {})",
                state.config.phone_number_ids.join(", ")
            ))),
        },
        None => Ok((state.config.phone_number_ids[0].clone(), 0)),
    }
}

fn find(state: &AppState, key: &str) -> Result<User, ControlError> {
    state.users.find(key).ok_or_else(|| ControlError::not_found(format!("no user has the phone or BSUID {key}")))
}

/// `POST /_sandbox/users`: creates or changes the user with `phone`. Fields
/// left out stay as they are; `"username": null` drops the username.
pub(crate) async fn upsert(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ControlError> {
    let body = json_body(&body)?;
    let body = object(&body)?;
    if let Some(unknown) = body.keys().find(|key| !USER_FIELDS.contains(&key.as_str())) {
        return Err(bad(format!("unknown field {unknown:?} (fields: {})", USER_FIELDS.join(", "))));
    }
    let phone = phone_field(&state, body)?;
    let username = match body.get("username") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(username)) => {
            ids::check_username(username).map_err(bad)?;
            Some(Some(username.clone()))
        }
        Some(_) => return Err(bad("username must be a string, or null to drop it")),
    };
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if !name.trim().is_empty() => Some(name.clone()),
        Some(_) => return Err(bad("name must be a non-empty string")),
    };
    let contact_book = match body.get("contact_book") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(member)) => Some(*member),
        Some(_) => return Err(bad("contact_book must be true or false")),
    };
    let user = state.users.upsert(&phone, Update { username, name, contact_book })?;
    info!(phone = %user.phone, user_id = %user.user_id, username = ?user.username, "user saved");
    Ok(Json(user_json(&state, &user)))
}

/// `GET /_sandbox/users/{phone-or-user_id}`.
pub(crate) async fn get(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<Value>, ControlError> {
    Ok(Json(user_json(&state, &find(&state, &key)?)))
}

/// Which system-message shape a number change is reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Since 11 Aug 2026: `user_changed_number` when the new phone is
    /// shareable, `user_changed_user_id` when not; both with
    /// `previous_user_id`, no `contacts`.
    Current,
    /// 29 June 2026: a `user_changed_user_id` message naming both BSUIDs,
    /// and a `user_id_update` change beside it.
    June,
}

/// `POST /_sandbox/users/{id}/change_number`: the user now has `phone`, and
/// a new BSUID with it; the business is told. Whether the message may name
/// the phone is decided on the new number, which keeps the user's contact
/// book entry and interactions (the same person). Answers the user and
/// `previous_user_id`.
pub(crate) async fn change_number(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let body = json_body(&body)?;
    let body = object(&body)?;
    find(&state, &key)?;
    let new_phone = phone_field(&state, body)?;
    let shape = match body.get("shape").and_then(Value::as_str) {
        None | Some("current") => Shape::Current,
        Some("june") => Shape::June,
        Some(other) => return Err(bad(format!("shape {other:?} is not one of current, june"))),
    };
    let (phone_number_id, index) = business_number(&state, body)?;
    let (user, before) = state.users.change_number(&key, &new_phone)?;

    let parents = state.settings.get().parent_user_ids;
    let shared = user.phone_shared(index, state.clock.now_ms());
    let shown = user.shown(shared, parents);
    let id = wamid::user(shown.phone.as_deref().unwrap_or(&user.user_id));
    let name = &user.name;
    let (old, new) = (&before.phone, &user.phone);
    let mut system = Map::new();
    let mut from = None;
    match (shape, shared) {
        (Shape::Current, true) => {
            system.insert("body".into(), json!(format!("User {name} changed from {old} to {new}")));
            system.insert("wa_id".into(), json!(new));
            system.insert("type".into(), json!("user_changed_number"));
            // The message comes from the number the business knew.
            from = Some(old.clone());
        }
        (Shape::Current, false) => {
            system.insert("body".into(), json!(format!("User {name} changed their phone number")));
            system.insert("type".into(), json!("user_changed_user_id"));
        }
        (Shape::June, _) => {
            let body = format!("User {name} changed from {} to {}", before.user_id, user.user_id);
            system.insert("body".into(), json!(body));
            system.insert("type".into(), json!("user_changed_user_id"));
        }
    }
    if shape == Shape::Current {
        system.insert("previous_user_id".into(), json!(before.user_id));
        if parents {
            system.insert("previous_parent_user_id".into(), json!(before.parent_user_id));
        }
    }
    let mut content = Map::new();
    content.insert("system".into(), Value::Object(system));
    let message = Message {
        context: None,
        from,
        from_user_id: user.user_id.clone(),
        from_parent_user_id: shown.parent_user_id.clone(),
        id: id.clone(),
        timestamp: state.clock.timestamp(),
        kind: "system".into(),
        content,
    };
    // System messages come without `contacts`.
    let change = match shape {
        Shape::Current => ItemChange::Message { contacts: Vec::new(), message },
        Shape::June => ItemChange::UserIdChange {
            message,
            update: UserIdUpdate {
                messaging_product: "whatsapp",
                metadata: Metadata::new(&phone_number_id),
                user_id: UserIdPair { previous: before.user_id.clone(), current: user.user_id.clone() },
                wa_id: shown.phone.clone(),
            },
        },
    };
    deliver(&state, &phone_number_id, &user.phone, change, &id, "system");
    info!(previous = %before.user_id, user_id = %user.user_id, ?shape, shared, "user changed number");

    let mut answer = user_json(&state, &user);
    answer["previous_user_id"] = json!(before.user_id);
    if parents {
        answer["previous_parent_user_id"] = json!(before.parent_user_id);
    }
    Ok(Json(answer))
}

/// `POST /_sandbox/users/{id}/share_contact`: the user answers a contact
/// request with a `contacts` message (`origin: contact_request`, their
/// phone in `phones[]`) and is in the portfolio's contact book from then on.
/// The message itself is shown as the business could see the user before:
/// the phone is in the card, not yet in `from`.
pub(crate) async fn share_contact(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let body = json_body(&body)?;
    let body = object(&body)?;
    let user = find(&state, &key)?;
    let (phone_number_id, index) = business_number(&state, body)?;
    let now = state.clock.now_ms();
    let shared = user.phone_shared(index, now);
    let shown = user.shown(shared, state.settings.get().parent_user_ids);

    let first_name = user.name.split_whitespace().next().unwrap_or(&user.name);
    let card = json!({
        "name": {"formatted_name": user.name, "first_name": first_name},
        "origin": "contact_request",
        "phones": [{"phone": ids::display_phone(&user.phone), "wa_id": user.phone, "type": "MOBILE"}],
    });
    let mut content = Map::new();
    content.insert("contacts".into(), json!([card]));
    let id = wamid::user(shown.phone.as_deref().unwrap_or(&user.user_id));
    let message = Message {
        context: None,
        from: shown.phone.clone(),
        from_user_id: shown.user_id.clone(),
        from_parent_user_id: shown.parent_user_id.clone(),
        id: id.clone(),
        timestamp: state.clock.timestamp(),
        kind: "contacts".into(),
        content,
    };
    if shared {
        state.users.record_by_phone(&user.phone, index, now);
    }
    state.users.add_to_contact_book(&user.phone);
    let change = ItemChange::Message { contacts: vec![Contact::sender(&shown)], message };
    deliver(&state, &phone_number_id, &user.phone, change, &id, "contacts");
    Ok(Json(json!({ "id": id })))
}
