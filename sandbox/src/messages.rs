//! `POST /{version}/{phone_number_id}/messages`: sends, mark-as-read, typing indicators.
//!
//! A send is validated (always), then the switchable rules apply: the
//! synchronous throughput (130429) and pair (131056) limits, then the
//! asynchronous ones, which accept the message and fail it by webhook:
//! undeliverable recipients (131026), the 24-hour window (131047), and media
//! that cannot be sent (131053).
//!
//! A send names its user by phone in `to`, or by business-scoped user ID in
//! `recipient` (a parent BSUID too, for enrolled businesses); `to` wins when
//! both are there. A send to the phone makes the phone shareable with the
//! number for 30 days (see `crate::users`); statuses then show the user as
//! the business may see them.

pub mod content;
pub mod fields;
pub mod interactive;
pub mod recipient;
pub mod template;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::debug;

use crate::graph::{GraphError, codes};
use crate::lifecycle::{self, Addressee, Fate, Outgoing};
use crate::media::{self, kinds::Kind};
use crate::rules::pattern;
use crate::state::AppState;
use crate::stats::Stats;
use crate::store::SentRecord;
use crate::templates::check as template_check;
use crate::users::User;
use crate::users::ids::{self, IdKind};
use crate::wamid;

/// Handles every method on the `messages` edge; only POST is supported.
pub(crate) async fn edge(
    State(state): State<AppState>,
    method: Method,
    Path((_version, phone_number_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let Some(index) = state.number_index(&phone_number_id).filter(|_| method == Method::POST) else {
        return Err(GraphError::unsupported_request(&method, &phone_number_id));
    };
    let result = handle(&state, index, &phone_number_id, &body);
    if let Err(err) = &result {
        state.stats.refused(err.code);
    }
    result
}

fn handle(state: &AppState, index: usize, phone_number_id: &str, body: &[u8]) -> Result<Response, GraphError> {
    let payload: Value = serde_json::from_slice(body)
        .map_err(|_| GraphError::invalid_parameter("Request body must be a JSON object."))?;
    let Some(fields) = payload.as_object() else {
        return Err(GraphError::invalid_parameter("Request body must be a JSON object."));
    };
    match fields.get("messaging_product") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("messaging_product")),
        Some(Value::String(product)) if product == "whatsapp" => {}
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
            )));
        }
    }
    if !state.accounts.is_registered(index) {
        return Err(GraphError::whatsapp(
            133010,
            "Phone number not registered on the WhatsApp Business Platform. Register it with POST /{phone-number-id}/register.",
        ));
    }
    if fields.get("status").is_some_and(|status| !status.is_null()) {
        return mark_read(state, phone_number_id, payload);
    }
    send(state, index, phone_number_id, payload)
}

/// A message send: validate, apply the rules, answer with a wamid, start its
/// status lifecycle.
fn send(state: &AppState, index: usize, phone_number_id: &str, payload: Value) -> Result<Response, GraphError> {
    match payload.get("recipient_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "individual" => {}
        // Groups exist on Cloud, but the sandbox hosts none.
        Some(Value::String(kind)) if kind == "group" => {
            return Err(GraphError::whatsapp(
                131009,
                "Groups are not available in the sandbox: send to an individual.",
            ));
        }
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param recipient_type must be one of {{INDIVIDUAL, GROUP}} - got {other}."
            )));
        }
    }
    let target = target(state, index, &payload)?;
    let checked = content::check(&payload)?;
    if let Some(context) = payload.get("context").filter(|c| !c.is_null()) {
        let context = fields::Obj::new(context, "context")?;
        context.required_string("message_id")?;
    }
    let biz_opaque_callback_data = match payload.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(data)) if data.chars().count() <= 512 => Some(data.clone()),
        Some(_) => {
            return Err(GraphError::invalid_parameter(
                "Param biz_opaque_callback_data must be a string of at most 512 characters.",
            ));
        }
    };
    if let Some(target) = &checked.reaction_target
        && state.store.inbound(target).is_some_and(|message| message.kind == "reaction")
    {
        return Err(fields::invalid("You cannot react to a message that is itself a reaction."));
    }
    let template = match &checked.template {
        Some((name, language)) => {
            let template =
                state.templates.find(name, language).ok_or_else(|| template_check::not_found(name, language))?;
            template_check::check_status(&template)?;
            template_check::check_parameters(&template, &payload["template"])?;
            if template.category == "AUTHENTICATION" && matches!(target, Target::User { .. }) {
                // One-time passwords go to a phone number only.
                return Err(GraphError::whatsapp_default(131062));
            }
            Some(template)
        }
        None => None,
    };

    // The rules count per user, by the phone they have whichever way they
    // were addressed.
    let wa_id = target.phone().to_owned();

    // The switchable rules. Synchronous ones first: a refused send leaves no trace.
    let settings = state.settings.get();
    let rules = &settings.rules;
    let now = state.clock.now_ms();
    if rules.throughput.enabled && !state.limits.take_throughput(index, now, rules.throughput.mps_of(phone_number_id)) {
        return Err(throttled(130429, settings.http.throttle_status, Some(codes::THROUGHPUT_SUBCODE)));
    }
    if rules.pair_rate_limit.enabled
        && !state.limits.take_pair(index, &wa_id, now, rules.pair_rate_limit.burst, rules.pair_rate_limit.period_ms)
    {
        return Err(throttled(131056, settings.http.throttle_status, None));
    }
    let window_open = state.limits.window_open(index, &wa_id, now);
    let media_kind = Kind::from_type(&checked.kind);
    let fate = if rules.undeliverable.enabled && pattern::any(&rules.undeliverable.patterns, &wa_id) {
        Fate::Fail { code: 131026, details: codes::lookup(131026).map_or("", |row| row.details).to_owned() }
    } else if rules.window.enabled && template.is_none() && !window_open {
        Fate::Fail { code: 131047, details: codes::lookup(131047).map_or("", |row| row.details).to_owned() }
    } else if let (Some(kind), Some(media)) = (media_kind, &checked.media)
        && let Some(problem) = media::send_problem(state, kind, media)
    {
        Fate::Fail { code: 131053, details: problem }
    } else {
        Fate::Deliver
    };
    let parents = settings.parent_user_ids;
    drop(settings);

    let (category, free) = match &template {
        Some(template) => {
            let category = template.pricing_category();
            (category, category == "utility" && window_open)
        }
        // Service conversations are free since November 2024.
        None => ("service", true),
    };
    let voice = checked.kind == "audio"
        && (checked.voice || checked.media.as_ref().is_some_and(|media| media::is_voice(state, media)));

    // The message is accepted: the user exists from now on, and a send to
    // their phone makes the phone shareable with this number for 30 days.
    let (user, input, by_phone) = match target {
        Target::Phone { input, .. } => {
            let user = state.users.get_or_create(&wa_id);
            state.users.record_by_phone(&user.phone, index, now);
            (user, input, true)
        }
        Target::User { user, input } => (user, input, false),
    };
    let phone_shared = by_phone || user.phone_shared(index, now);
    // The wamid names the chat; a withheld phone must not leak through it.
    let wamid = wamid::business(if phone_shared { &user.phone } else { &user.user_id });
    debug!(%phone_number_id, user_id = %user.user_id, %wamid, kind = %checked.kind, "message accepted");
    Stats::bump(&state.stats.sends_accepted);

    let answer = SendAnswer {
        messaging_product: "whatsapp",
        contacts: [AnswerContact {
            input: &input,
            // A send through `recipient` answers with the BSUID only.
            wa_id: by_phone.then_some(user.phone.as_str()),
            user_id: &user.user_id,
        }],
        messages: [AnswerMessage {
            id: &wamid,
            // Only template sends carry message_status (template pacing).
            message_status: template.is_some().then_some("accepted"),
        }],
    };
    let response = Json(&answer).into_response();

    let outgoing = Outgoing {
        phone_number_id: phone_number_id.to_owned(),
        wamid: wamid.clone(),
        recipient: Addressee { user: user.shown(phone_shared, parents), by_phone },
        category,
        free,
        biz_opaque_callback_data,
        voice,
        fate,
    };
    state.console.business_message(crate::console::BusinessMessage {
        phone_number_id,
        user: &user.phone,
        wamid: &wamid,
        kind: &checked.kind,
        payload: &payload,
        at_ms: now,
    });
    state.store.push_sent(SentRecord {
        phone_number_id: phone_number_id.to_owned(),
        wamid: Some(wamid),
        to: by_phone.then(|| user.phone.clone()),
        recipient: (!by_phone).then_some(input),
        user_id: Some(user.user_id.clone()),
        phone: Some(user.phone.clone()),
        kind: Some(checked.kind),
        payload,
        received_at: now,
    });
    lifecycle::start(state, outgoing);
    Ok(response)
}

/// Whom a send is for: `to` (a phone number) wins; without it, `recipient`
/// names a user by BSUID, or by parent BSUID when the business is enrolled.
enum Target {
    /// `to`, as given and normalised.
    Phone { input: String, wa_id: String },
    /// `recipient`, as given, and the user it names.
    User { input: String, user: User },
}

impl Target {
    /// The phone of the user, whichever way they were named.
    fn phone(&self) -> &str {
        match self {
            Target::Phone { wa_id, .. } => wa_id,
            Target::User { user, .. } => &user.phone,
        }
    }
}

/// Reads `to` and `recipient`. A BSUID in `to`, or a `recipient` that names
/// nobody, is Graph's invalid parameter (100), answered at once as Cloud does.
fn target(state: &AppState, index: usize, payload: &Value) -> Result<Target, GraphError> {
    match (payload.get("to").filter(|to| !to.is_null()), payload.get("recipient").filter(|r| !r.is_null())) {
        (Some(Value::String(to)), _) => {
            if ids::parse_id(to.trim()).is_some() {
                return Err(GraphError::invalid_parameter(format!(
                    "Invalid parameter: to {to:?} is a business-scoped user ID; send to it with recipient."
                )));
            }
            let wa_id = recipient::normalise(to)?;
            if wa_id == state.display_numbers[index] {
                return Err(GraphError::whatsapp_default(131021));
            }
            Ok(Target::Phone { input: to.clone(), wa_id })
        }
        (Some(_), _) => Err(GraphError::invalid_parameter("Param to must be a string.")),
        (None, Some(Value::String(id))) => {
            let found = match ids::parse_id(id) {
                Some(IdKind::User) => state.users.find_by_id(id),
                // Parent BSUIDs exist only for enrolled businesses.
                Some(IdKind::Parent) if state.settings.get().parent_user_ids => state.users.find_by_id(id),
                Some(IdKind::Parent) | None => {
                    return Err(GraphError::invalid_parameter(format!(
                        "Invalid parameter: recipient {id:?} is not a business-scoped user ID."
                    )));
                }
            };
            let user = found.ok_or_else(|| {
                GraphError::invalid_parameter(format!(
                    "Invalid parameter: recipient {id:?} is not a WhatsApp user of this business."
                ))
            })?;
            Ok(Target::User { input: id.clone(), user })
        }
        (None, Some(_)) => Err(GraphError::invalid_parameter("Param recipient must be a string.")),
        (None, None) => Err(GraphError::missing_parameter("to")),
    }
}

/// 130429 or 131056, with the configured status.
fn throttled(code: u32, status: u16, subcode: Option<u32>) -> GraphError {
    let mut err =
        GraphError::whatsapp_default(code).with_status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
    if let Some(subcode) = subcode {
        err = err.with_subcode(subcode);
    }
    err
}

/// The 200 answer to a send, in Cloud's key order.
#[derive(Serialize)]
struct SendAnswer<'a> {
    messaging_product: &'static str,
    contacts: [AnswerContact<'a>; 1],
    messages: [AnswerMessage<'a>; 1],
}

/// `{"input","wa_id","user_id"}`; no `wa_id` for sends through `recipient`.
#[derive(Serialize)]
struct AnswerContact<'a> {
    input: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wa_id: Option<&'a str>,
    user_id: &'a str,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_status: Option<&'static str>,
}

/// `{"status":"read","message_id":…}`, optionally with a typing indicator.
fn mark_read(state: &AppState, phone_number_id: &str, payload: Value) -> Result<Response, GraphError> {
    match payload.get("status") {
        Some(Value::String(status)) if status == "read" => {}
        other => {
            return Err(GraphError::invalid_parameter(format!(
                "Param status must be one of {{READ}} - got {}.",
                other.unwrap_or(&Value::Null)
            )));
        }
    }
    let message_id = match payload.get("message_id") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("message_id")),
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => {
            return Err(GraphError::invalid_parameter("Param message_id must be a non-empty string."));
        }
    };
    match payload.get("typing_indicator") {
        None | Some(Value::Null) => {}
        Some(indicator) if indicator.get("type") == Some(&json!("text")) => {}
        Some(_) => {
            return Err(GraphError::invalid_parameter("Param typing_indicator['type'] must be one of {TEXT}."));
        }
    }
    // Only messages the number received can be marked read (`docs/cloud-api.md` §2.3).
    if state.store.inbound(&message_id).is_none_or(|message| message.phone_number_id != phone_number_id) {
        return Err(GraphError::invalid_parameter(format!(
            "Invalid parameter: message_id {message_id} is not a message this phone number received."
        )));
    }
    debug!(%phone_number_id, %message_id, "marked as read");
    state.store.push_sent(SentRecord {
        phone_number_id: phone_number_id.to_owned(),
        wamid: None,
        to: None,
        recipient: None,
        user_id: None,
        phone: None,
        kind: None,
        payload,
        received_at: state.clock.now_ms(),
    });
    Ok(Json(json!({ "success": true })).into_response())
}
