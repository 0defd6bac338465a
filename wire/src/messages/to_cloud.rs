//! Translation of a stored on-prem message into the Cloud API send payload.
//!
//! What the old API had and Cloud lacks: `namespace` is dropped (Cloud finds
//! templates by name and language in the business account); the `fallback`
//! language policy becomes `deterministic` (the only one Cloud knows); `ttl`
//! is dropped (Cloud keeps retrying delivery for 30 days); `hsm` becomes a
//! `template` whose localizable parameters are body parameters; a media
//! `provider` is not sent (Cloud fetches `link` itself), whether the media is
//! the message, an interactive header or a template parameter; a template's
//! `footer` component is dropped (a footer has no variables, and Cloud knows
//! no footer component in a send); a date/time parameter is only its
//! `fallback_value` (Cloud always renders that, and documents none of the
//! old client's localisation fields); a currency is `fallback_value`, `code`
//! and `amount_1000`.
//!
//! `tests/cloud_schema.rs` checks every translated type against a JSON Schema
//! of Cloud's send body written from Meta's documentation.

use serde_json::{Map, Value, json};

use super::MEDIA_TYPES;

/// Builds the Cloud payload for `recipient`, the digits of a phone number
/// or a BSUID. `map_id` turns a message id we handed out into
/// Cloud's `wamid` (quoted replies, reactions); ids it does not know are sent
/// as given, so integrations that already hold `wamid`s keep working.
pub fn to_cloud(recipient: &str, payload: &Value, map_id: &dyn Fn(&str) -> Option<String>) -> Value {
    let ty = payload.get("type").and_then(Value::as_str).unwrap_or("text");
    let mapped = |id: &str| map_id(id).unwrap_or_else(|| id.to_string());
    let cloud_type = if ty == "hsm" { "template" } else { ty };
    let mut out = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": cloud_type,
    });
    match crate::identity::Bsuid::parse(recipient) {
        // A user known only by their BSUID: Cloud takes it in `recipient`,
        // never in `to`.
        Some(bsuid) => out["recipient"] = json!(bsuid.as_str()),
        // With the `+`, Cloud never prepends the business's country code.
        None => out["to"] = json!(format!("+{recipient}")),
    }
    let object = payload.get(ty).cloned().unwrap_or(Value::Null);
    let body = match ty {
        "text" => {
            let preview = payload
                .get("preview_url")
                .or_else(|| object.get("preview_url"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            json!({"body": object.get("body").cloned().unwrap_or(Value::Null), "preview_url": preview})
        }
        "location" => location(&object),
        "contacts" => payload.get("contacts").cloned().unwrap_or(Value::Null),
        "interactive" => interactive(object),
        "template" => template(&object),
        "hsm" => hsm(&object),
        "reaction" => json!({
            "message_id": mapped(object.get("message_id").and_then(Value::as_str).unwrap_or_default()),
            "emoji": object.get("emoji").cloned().unwrap_or(json!("")),
        }),
        media if MEDIA_TYPES.contains(&media) => media_object(&object),
        _ => object,
    };
    out[cloud_type] = body;
    if let Some(ctx) = payload.get("context") {
        let id = ctx.get("message_id").or_else(|| ctx.get("id")).and_then(Value::as_str).unwrap_or_default();
        out["context"] = json!({"message_id": mapped(id)});
    }
    if let Some(v) = payload.get("biz_opaque_callback_data") {
        out["biz_opaque_callback_data"] = v.clone();
    }
    out
}

fn pick(o: &Value, keys: &[&str]) -> Value {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = o.get(*k).filter(|v| !v.is_null()) {
            m.insert((*k).to_string(), v.clone());
        }
    }
    Value::Object(m)
}

fn media_object(m: &Value) -> Value {
    pick(m, &["id", "link", "caption", "filename"])
}

fn number(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => s.trim().parse::<f64>().map(|n| json!(n)).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn location(l: &Value) -> Value {
    let mut out = pick(l, &["name", "address"]);
    out["latitude"] = number(l.get("latitude"));
    out["longitude"] = number(l.get("longitude"));
    out
}

fn language(l: Option<&Value>) -> Value {
    let code = l.and_then(|l| l.get("code")).cloned().unwrap_or(Value::Null);
    json!({"code": code, "policy": "deterministic"})
}

fn template(t: &Value) -> Value {
    let mut out =
        json!({"name": t.get("name").cloned().unwrap_or(Value::Null), "language": language(t.get("language"))});
    if let Some(components) = t.get("components").and_then(Value::as_array) {
        let components: Vec<Value> = components
            .iter()
            // A footer has no variables: there is nothing to send for it.
            .filter(|c| c.get("type").and_then(Value::as_str) != Some("footer"))
            .map(|c| {
                let mut c = c.clone();
                // Cloud documents `index` as a string.
                if let Some(i) = c.get("index").and_then(Value::as_u64) {
                    c["index"] = json!(i.to_string());
                }
                if let Some(parameters) = c.get_mut("parameters").and_then(Value::as_array_mut) {
                    parameters.iter_mut().for_each(parameter);
                }
                c
            })
            .collect();
        if !components.is_empty() {
            out["components"] = json!(components);
        }
    }
    out
}

/// A template parameter's object as Cloud documents it: media without the
/// old client's `provider`, a currency and a date/time as [`currency`] and
/// [`date_time`] make them. Other parameters are sent as given.
fn parameter(p: &mut Value) {
    let Some(kind) = p.get("type").and_then(Value::as_str).map(str::to_string) else { return };
    let Some(object) = p.get(&kind) else { return };
    let object = match kind.as_str() {
        "image" | "video" | "document" => media_object(object),
        "currency" => currency(object, None),
        "date_time" => date_time(object, None),
        _ => return,
    };
    p[&kind] = object;
}

/// A currency: `fallback_value` (or `fallback`, a legacy parameter's
/// `default`), `code` (the old client's `currency_code`) and `amount_1000`.
fn currency(c: &Value, fallback: Option<&Value>) -> Value {
    let mut out = Map::new();
    let fallback = c.get("fallback_value").filter(|v| !v.is_null()).or(fallback);
    let code = c.get("code").filter(|v| !v.is_null()).or_else(|| c.get("currency_code"));
    for (key, value) in [("fallback_value", fallback), ("code", code), ("amount_1000", c.get("amount_1000"))] {
        if let Some(v) = value {
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// A date/time: its fallback text only. Cloud always renders the fallback;
/// the old client's `component`/`unix_epoch` (and the like) are not sent.
fn date_time(d: &Value, fallback: Option<&Value>) -> Value {
    let fallback = d.get("fallback_value").filter(|v| !v.is_null()).or(fallback);
    json!({"fallback_value": fallback.cloned().unwrap_or(Value::Null)})
}

/// A legacy `hsm` as a Cloud template: `element_name` is the name, each
/// localizable parameter a body parameter (currency and date/time kept as
/// such, with `default` as the fallback text).
fn hsm(h: &Value) -> Value {
    let mut out =
        json!({"name": h.get("element_name").cloned().unwrap_or(Value::Null), "language": language(h.get("language"))});
    let params: Vec<Value> = h
        .get("localizable_params")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let default = p.get("default");
                    if let Some(c) = p.get("currency") {
                        json!({"type": "currency", "currency": currency(c, default)})
                    } else if let Some(d) = p.get("date_time") {
                        json!({"type": "date_time", "date_time": date_time(d, default)})
                    } else {
                        json!({"type": "text", "text": default.cloned().unwrap_or(Value::Null)})
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if !params.is_empty() {
        out["components"] = json!([{"type": "body", "parameters": params}]);
    }
    out
}

/// An interactive object as Cloud takes it: a `request_contact_info` gets
/// the action naming it when the business left it out; a media header is
/// sent without the old client's `provider`.
fn interactive(mut object: Value) -> Value {
    if object.get("type").and_then(Value::as_str) == Some("request_contact_info")
        && object.get("action").is_none_or(Value::is_null)
    {
        object["action"] = json!({"name": "request_contact_info"});
    }
    if let Some(header) = object.get_mut("header")
        && let Some(kind) = header.get("type").and_then(Value::as_str).filter(|k| MEDIA_TYPES.contains(k))
        && let Some(media) = header.get(kind).map(media_object)
    {
        let kind = kind.to_string();
        header[kind] = media;
    }
    object
}
