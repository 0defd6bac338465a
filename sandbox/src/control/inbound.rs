//! `POST /_sandbox/inbound`: a simulated WhatsApp user sends the business a
//! message, which reaches the business as a signed `messages` webhook.
//!
//! Body: `{"from":"<wa_id or BSUID>","phone_number_id"?,"name"?,"type":"<type>","<type>":{…},
//! "context"?,"referral"?,"errors"?}` for every inbound type of `docs/cloud-api.md` §5.5:
//! `text`, `image`, `video`, `audio`, `document`, `sticker` (bytes as base64
//! in `data`, or a generated sample file), `location`, `contacts`,
//! `interactive` (`button_reply`, `list_reply`, `nfm_reply`), `button`
//! (template quick reply), `reaction`, `order`, `system`
//! (`user_changed_number`, `customer_identity_changed`) and `unsupported`.
//! Answers `{"id":"<wamid>"}` (plus `media` for media messages).
//!
//! The message opens (or refreshes) the user's 24-hour window with the
//! number, and the business can mark it read or react to it.
//!
//! `from` is a phone (a user seen for the first time is created without a
//! username) or the BSUID of a known user. The webhook shows the user as the
//! number may see them (`crate::users`): no `from` and no `wa_id` while the
//! phone of a user with a username is withheld.
//!
//! [`deliver`] is shared with the other messages users send
//! (`crate::control::users`).

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use bytes::Bytes;
use http::HeaderMap;
use rand::Rng as _;
use serde_json::{Map, Value, json};
use tracing::{debug, info};

use super::ControlError;
use crate::graph;
use crate::media::kinds::Kind;
use crate::media::store::{NewMedia, Origin};
use crate::media::{self, URL_TTL_SECS, kinds, samples};
use crate::state::AppState;
use crate::stats::Stats;
use crate::store::InboundRecord;
use crate::users::ids;
use crate::wamid;
use crate::webhooks::ItemChange;
use crate::webhooks::payload::{Contact, Message, WebhookError};

/// Inbound types this endpoint can play.
pub const TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "unsupported",
];

fn bad(message: impl Into<String>) -> ControlError {
    ControlError::bad_request(message)
}

/// What the request produced besides the message.
struct Built {
    content: Map<String, Value>,
    media: Option<Value>,
    /// Whether the business gets a `contacts` entry (not for number changes).
    with_contact: bool,
    /// The reply target, for types that answer a business message.
    replies: bool,
}

pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let request: Value = serde_json::from_slice(&body).map_err(|err| bad(format!("invalid request body: {err}")))?;
    let request = request.as_object().ok_or_else(|| bad("the body must be a JSON object"))?;

    let from = request.get("from").and_then(Value::as_str).unwrap_or("");
    let user = if !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit()) {
        state.users.get_or_create(from)
    } else if ids::parse_id(from).is_some() {
        state.users.find_by_id(from).ok_or_else(|| bad(format!("from {from:?} is not the BSUID of a known user")))?
    } else {
        return Err(bad("from must be the user's wa_id (digits only, no '+') or the BSUID of a known user"));
    };
    let phone_number_id = match request.get("phone_number_id").and_then(Value::as_str) {
        Some(id) if state.hosts(id) => id.to_owned(),
        Some(id) => {
            return Err(bad(format!(
                "phone_number_id {id:?} is not hosted by this sandbox (hosted: {})",
                state.config.phone_number_ids.join(", ")
            )));
        }
        None => state.config.phone_number_ids[0].clone(),
    };
    let index = state.number_index(&phone_number_id).unwrap_or(0);
    let given_name = request.get("name").and_then(Value::as_str).filter(|name| !name.trim().is_empty());
    let name = given_name.map_or_else(|| user.name.clone(), str::to_owned);
    let now = state.clock.now_ms();
    // Decided before this message counts: a message from a user whose phone
    // is withheld does not reveal it.
    let phone_shared = user.phone_shared(index, now);
    let mut shown = user.shown(phone_shared, state.settings.get().parent_user_ids);
    shown.name = name.clone();
    let phone = user.phone.as_str();
    let kind = request.get("type").and_then(Value::as_str).unwrap_or("text").to_owned();
    if !TYPES.contains(&kind.as_str()) {
        return Err(bad(format!("inbound type {kind:?} is not one of {}", TYPES.join(", "))));
    }
    let object = request.get(&kind).filter(|o| !o.is_null());

    let mut built = match kind.as_str() {
        "text" => text(object)?,
        "image" | "video" | "audio" | "document" | "sticker" => {
            // URLs in the webhook point where the caller reached the sandbox.
            let base = graph::base_url(state.config.public_url.as_deref(), &headers);
            media_message(&state, &kind, object, &phone_number_id, &base)?
        }
        "location" => location(object)?,
        "contacts" => contacts(object)?,
        "interactive" => interactive(object)?,
        "button" => button(object)?,
        "reaction" => reaction(object)?,
        "order" => order(object)?,
        "system" => system(&state, object, shown.phone.as_deref(), &name)?,
        "unsupported" => unsupported(object)?,
        _ => unreachable!("TYPES is checked above"),
    };
    if let Some(referral) = request.get("referral").filter(|r| !r.is_null()) {
        if !referral.is_object() {
            return Err(bad("referral must be an object (source_url, source_id, source_type, headline, body, …)"));
        }
        built.content.insert("referral".into(), referral.clone());
    }
    if let Some(errors) = request.get("errors").filter(|e| !e.is_null()) {
        built.content.insert("errors".into(), json!(webhook_errors(errors)?));
    }
    let context = context(&state, request.get("context"), index, &phone_number_id, phone, built.replies)?;

    let id = wamid::user(shown.phone.as_deref().unwrap_or(&shown.user_id));
    let contacts = if built.with_contact { vec![Contact::sender(&shown)] } else { Vec::new() };
    let message = Message {
        context,
        from: shown.phone.clone(),
        from_user_id: shown.user_id.clone(),
        from_parent_user_id: shown.parent_user_id.clone(),
        id: id.clone(),
        timestamp: state.clock.timestamp(),
        kind: kind.clone(),
        content: built.content,
    };
    if phone_shared {
        state.users.record_by_phone(phone, index, now);
    }
    if let Some(name) = given_name {
        // The name the user writes with is their profile name from now on.
        state.users.set_name(phone, name);
    }
    deliver(&state, &phone_number_id, phone, ItemChange::Message { contacts, message }, &id, &kind);

    let mut answer = json!({ "id": id });
    if let Some(media) = built.media {
        answer["media"] = media;
    }
    Ok(Json(answer))
}

/// Sends a message the user wrote (a `messages` webhook carrying `change`)
/// and keeps what the rest of the sandbox needs: the record for
/// mark-as-read and reactions, the user's 24-hour window with the number
/// (opened by anything but a system message), the counter.
pub(crate) fn deliver(state: &AppState, phone_number_id: &str, phone: &str, change: ItemChange, id: &str, kind: &str) {
    state.store.push_inbound(InboundRecord {
        phone_number_id: phone_number_id.to_owned(),
        wamid: id.to_owned(),
        kind: kind.to_owned(),
    });
    if kind != "system" {
        let index = state.number_index(phone_number_id).unwrap_or(0);
        state.limits.user_wrote(index, phone, state.clock.now_ms());
    }
    Stats::bump(&state.stats.inbound);
    info!(%phone_number_id, %phone, wamid = %id, %kind, "inbound message");
    match &change {
        ItemChange::Message { contacts, message } => {
            let name = contacts.first().and_then(|c| serde_json::to_value(c).ok());
            let name = name.as_ref().and_then(|c| c["profile"]["name"].as_str());
            if let Ok(message) = serde_json::to_value(message) {
                state.console.user_message(phone_number_id, phone, name, message);
            }
        }
        ItemChange::UserIdChange { message, .. } => {
            if let Ok(message) = serde_json::to_value(message) {
                state.console.user_message(phone_number_id, phone, None, message);
            }
        }
        _ => {}
    }

    if state.webhooks.enabled() {
        drop(state.webhooks.send(phone_number_id, change));
    } else {
        debug!("no webhook URL configured: the inbound message goes nowhere");
    }
}

fn object_of<'a>(kind: &str, object: Option<&'a Value>) -> Result<&'a Map<String, Value>, ControlError> {
    object.and_then(Value::as_object).ok_or_else(|| bad(format!("{kind} must be an object")))
}

fn required_str<'a>(object: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a str, ControlError> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("{path}.{key} is required")))
}

fn single(key: &str, value: Value) -> Built {
    let mut content = Map::new();
    content.insert(key.to_owned(), value);
    Built { content, media: None, with_contact: true, replies: false }
}

fn text(object: Option<&Value>) -> Result<Built, ControlError> {
    let object = object.ok_or_else(|| bad("text.body is required"))?;
    let text = object_of("text", Some(object))?;
    let body = required_str(text, "text", "body").map_err(|_| bad("text.body must not be empty"))?;
    Ok(single("text", json!({ "body": body })))
}

fn media_message(
    state: &AppState,
    kind: &str,
    object: Option<&Value>,
    phone_number_id: &str,
    base: &str,
) -> Result<Built, ControlError> {
    let empty = Map::new();
    let object = match object {
        None => &empty,
        Some(value) => value.as_object().ok_or_else(|| bad(format!("{kind} must be an object")))?,
    };
    let get_str = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let get_bool = |key: &str| object.get(key).and_then(Value::as_bool);
    let voice = kind == "audio" && get_bool("voice").unwrap_or(false);
    let mime = get_str("mime_type").unwrap_or_else(|| samples::default_mime(kind, voice).to_owned());
    let media_kind = Kind::from_type(kind).unwrap_or(Kind::Document);
    if !media_kind.accepts(&mime) {
        return Err(bad(format!(
            "a {kind} message cannot carry {mime} (use one of {})",
            media_kind.mime_types().join(", ")
        )));
    }
    let bytes = match get_str("data") {
        Some(data) => Bytes::from(
            STANDARD
                .decode(data.trim())
                .or_else(|_| URL_SAFE.decode(data.trim()))
                .map_err(|_| bad(format!("{kind}.data must be base64")))?,
        ),
        None => Bytes::from_static(samples::for_mime(&mime).ok_or_else(|| {
            bad(format!("the sandbox has no sample {mime} file: send the bytes as base64 in {kind}.data"))
        })?),
    };
    if bytes.is_empty() {
        return Err(bad(format!("{kind}.data is empty")));
    }
    let caption = get_str("caption");
    if caption.is_some() && !matches!(kind, "image" | "video" | "document") {
        return Err(bad(format!("{kind} messages carry no caption")));
    }
    let filename = get_str("filename");
    if filename.is_some() && kind != "document" {
        return Err(bad("only documents carry a filename"));
    }
    let filename = match (kind, filename) {
        ("document", None) => Some(format!("document.{}", kinds::extension_of(&mime))),
        (_, name) => name,
    };
    let animated = get_bool("animated").unwrap_or_else(|| kinds::is_animated_webp(&bytes));
    let stored = media::store(
        state,
        NewMedia {
            phone_number_id: phone_number_id.to_owned(),
            mime_type: mime.clone(),
            bytes,
            filename: filename.clone(),
            origin: Origin::Inbound,
        },
    );

    let mut media = Map::new();
    if let Some(caption) = caption {
        media.insert("caption".into(), json!(caption));
    }
    if let Some(filename) = filename {
        media.insert("filename".into(), json!(filename));
    }
    media.insert("mime_type".into(), json!(mime));
    media.insert("sha256".into(), json!(stored.sha256_base64()));
    media.insert("id".into(), json!(stored.id));
    // Newer webhooks carry a download URL too (fixture pywa-image-with-url.json).
    if get_bool("with_url").unwrap_or(false) {
        let url = media::download_url(state, base, &stored, state.clock.now_secs() + URL_TTL_SECS);
        media.insert("url".into(), json!(url));
    }
    if kind == "audio" {
        media.insert("voice".into(), json!(voice));
    }
    if kind == "sticker" {
        media.insert("animated".into(), json!(animated));
    }
    let mut built = single(kind, Value::Object(media));
    built.media = Some(json!({
        "id": stored.id,
        "mime_type": stored.mime_type,
        "sha256": stored.sha256_hex(),
        "file_size": stored.bytes.len(),
    }));
    Ok(built)
}

fn location(object: Option<&Value>) -> Result<Built, ControlError> {
    let location = object_of("location", object)?;
    let mut out = Map::new();
    for key in ["latitude", "longitude"] {
        let value =
            location.get(key).and_then(Value::as_f64).ok_or_else(|| bad(format!("location.{key} must be a number")))?;
        out.insert(key.into(), json!(value));
    }
    for key in ["name", "address", "url"] {
        if let Some(value) = location.get(key).and_then(Value::as_str) {
            out.insert(key.into(), json!(value));
        }
    }
    Ok(single("location", Value::Object(out)))
}

fn contacts(object: Option<&Value>) -> Result<Built, ControlError> {
    let cards = object.and_then(Value::as_array).filter(|cards| !cards.is_empty());
    let cards = cards.ok_or_else(|| bad("contacts must be a non-empty array of cards"))?;
    for (at, card) in cards.iter().enumerate() {
        if card.pointer("/name/formatted_name").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(bad(format!("contacts[{at}].name.formatted_name is required")));
        }
    }
    Ok(single("contacts", Value::Array(cards.clone())))
}

fn interactive(object: Option<&Value>) -> Result<Built, ControlError> {
    let interactive = object_of("interactive", object)?;
    let kind = required_str(interactive, "interactive", "type")?;
    let reply = match kind {
        "button_reply" | "list_reply" => {
            let reply = object_of(&format!("interactive.{kind}"), interactive.get(kind))?;
            let path = format!("interactive.{kind}");
            let mut out = Map::new();
            out.insert("id".into(), json!(required_str(reply, &path, "id")?));
            out.insert("title".into(), json!(required_str(reply, &path, "title")?));
            if kind == "list_reply"
                && let Some(description) = reply.get("description").and_then(Value::as_str)
            {
                out.insert("description".into(), json!(description));
            }
            Value::Object(out)
        }
        "nfm_reply" => {
            let reply = object_of("interactive.nfm_reply", interactive.get("nfm_reply"))?;
            // The flow's answer arrives as a JSON string.
            let response_json = match reply.get("response_json") {
                Some(Value::String(s)) => s.clone(),
                Some(other @ Value::Object(_)) => other.to_string(),
                _ => return Err(bad("interactive.nfm_reply.response_json must be a JSON object or a string")),
            };
            json!({
                "response_json": response_json,
                "body": reply.get("body").and_then(Value::as_str).unwrap_or("Sent"),
                "name": reply.get("name").and_then(Value::as_str).unwrap_or("flow"),
            })
        }
        other => {
            return Err(bad(format!("interactive.type {other:?} is not one of button_reply, list_reply, nfm_reply")));
        }
    };
    let mut content = Map::new();
    content.insert("type".into(), json!(kind));
    content.insert(kind.to_owned(), reply);
    let mut built = single("interactive", Value::Object(content));
    built.replies = true;
    Ok(built)
}

fn button(object: Option<&Value>) -> Result<Built, ControlError> {
    let button = object_of("button", object)?;
    let text = required_str(button, "button", "text")?;
    let payload = button.get("payload").and_then(Value::as_str).unwrap_or(text);
    let mut built = single("button", json!({ "payload": payload, "text": text }));
    built.replies = true;
    Ok(built)
}

fn reaction(object: Option<&Value>) -> Result<Built, ControlError> {
    let reaction = object_of("reaction", object)?;
    let target = required_str(reaction, "reaction", "message_id")?;
    let mut out = json!({ "message_id": target });
    // A removed reaction has no emoji at all (fixture pywa-reaction-removed.json).
    if let Some(emoji) = reaction.get("emoji").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        out["emoji"] = json!(emoji);
    }
    Ok(single("reaction", out))
}

fn order(object: Option<&Value>) -> Result<Built, ControlError> {
    let order = object_of("order", object)?;
    let catalog_id = required_str(order, "order", "catalog_id")?;
    let items = order
        .get("product_items")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| bad("order.product_items must be a non-empty array"))?;
    let mut products = Vec::new();
    for (at, item) in items.iter().enumerate() {
        let path = format!("order.product_items[{at}]");
        let item = item.as_object().ok_or_else(|| bad(format!("{path} must be an object")))?;
        let number = |key: &str| {
            item.get(key)
                .filter(|v| v.is_number())
                .cloned()
                .ok_or_else(|| bad(format!("{path}.{key} must be a number")))
        };
        products.push(json!({
            "product_retailer_id": required_str(item, &path, "product_retailer_id")?,
            "quantity": number("quantity")?,
            "item_price": number("item_price")?,
            "currency": required_str(item, &path, "currency")?,
        }));
    }
    let text = order.get("text").and_then(Value::as_str).unwrap_or("");
    Ok(single("order", json!({ "catalog_id": catalog_id, "text": text, "product_items": products })))
}

/// `from` is the user's phone, `None` when the business may not see it.
fn system(state: &AppState, object: Option<&Value>, from: Option<&str>, name: &str) -> Result<Built, ControlError> {
    let system = object_of("system", object)?;
    let kind = required_str(system, "system", "type")?;
    match kind {
        "user_changed_number" => {
            // This older shape names the phone; a number change of a user
            // whose phone is withheld has its own endpoint and shapes.
            let from = from.ok_or_else(|| {
                bad("this user's phone is withheld from the business: use POST /_sandbox/users/{id}/change_number")
            })?;
            let new = system
                .get("new_wa_id")
                .or_else(|| system.get("wa_id"))
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| bad("system.new_wa_id (the user's new wa_id, digits) is required"))?;
            let mut built = single(
                "system",
                json!({"body": format!("User {name} changed from {from} to {new}"), "wa_id": new, "type": kind}),
            );
            // Meta sends no contacts for a number change (fixture pywa-system-user-changed-number.json).
            built.with_contact = false;
            Ok(built)
        }
        "customer_identity_changed" => {
            let mut built = single("system", json!({"body": "User identity changed", "type": kind}));
            let hash: String =
                (0..12).map(|_| char::from(b"0123456789abcdef"[rand::rng().random_range(0..16)])).collect();
            built.content.insert(
                "identity".into(),
                json!({"acknowledged": true, "created_timestamp": state.clock.timestamp(), "hash": hash}),
            );
            Ok(built)
        }
        other => {
            Err(bad(format!("system.type {other:?} is not one of user_changed_number, customer_identity_changed")))
        }
    }
}

fn unsupported(object: Option<&Value>) -> Result<Built, ControlError> {
    let what = object.and_then(|o| o.get("type")).and_then(Value::as_str).unwrap_or("poll");
    let mut built = single("unsupported", json!({ "type": what }));
    let mut error = WebhookError::new(131_051, "Message type is currently not supported.");
    // Inbound errors come without `href` (fixture pywa-unsupported.json).
    error.href = None;
    built.content.insert("errors".into(), json!([error]));
    Ok(built)
}

/// `errors: [{"code": 131052, "details"?: "…"}]` attached to the message.
fn webhook_errors(errors: &Value) -> Result<Vec<WebhookError>, ControlError> {
    let list = errors.as_array().ok_or_else(|| bad("errors must be an array of {\"code\", \"details\"?}"))?;
    list.iter()
        .map(|error| {
            let code = error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| bad("errors[].code must be a Cloud error code"))?;
            let mut error = match error.get("details").and_then(Value::as_str) {
                Some(details) => WebhookError::new(code, details),
                None => WebhookError::with_default_details(code),
            };
            error.href = None;
            Ok(error)
        })
        .collect()
}

/// The message's `context`: a reply names the business message (`{from, id}`);
/// `forwarded` / `frequently_forwarded` / `referred_product` pass through.
/// Button and interactive replies default to the newest message the business
/// sent the user.
fn context(
    state: &AppState,
    given: Option<&Value>,
    index: usize,
    phone_number_id: &str,
    from: &str,
    replies: bool,
) -> Result<Option<Value>, ControlError> {
    let business = &state.display_numbers[index];
    match given.filter(|c| !c.is_null()) {
        Some(Value::Object(context)) => {
            let mut out = context.clone();
            if let Some(id) = out.remove("message_id").or_else(|| out.remove("id")) {
                out.insert("from".into(), context.get("from").cloned().unwrap_or_else(|| json!(business)));
                out.insert("id".into(), id);
            }
            Ok(Some(Value::Object(out)))
        }
        Some(_) => Err(bad("context must be an object: {\"id\"} of the message replied to, or {\"forwarded\": true}")),
        None if replies => {
            Ok(state.store.last_sent_to(phone_number_id, from).map(|id| json!({ "from": business, "id": id })))
        }
        None => Ok(None),
    }
}
