//! Translation of a stored on-prem message into the Cloud API send payload.
//!
//! What the old API had and Cloud lacks: `namespace` is dropped (Cloud finds
//! templates by name and language in the business account); the `fallback`
//! language policy becomes `deterministic` (the only one Cloud knows); `ttl`
//! is dropped (Cloud keeps retrying delivery for 30 days); `hsm` becomes a
//! `template` whose localizable parameters are body parameters; a media
//! `provider` is not sent (Cloud fetches `link` itself).

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
            .map(|c| {
                let mut c = c.clone();
                // Cloud documents `index` as a string.
                if let Some(i) = c.get("index").and_then(Value::as_u64) {
                    c["index"] = json!(i.to_string());
                }
                c
            })
            .collect();
        out["components"] = json!(components);
    }
    out
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
                    let default = p.get("default").cloned().unwrap_or(Value::Null);
                    if let Some(c) = p.get("currency") {
                        let mut c = c.clone();
                        if c.get("fallback_value").is_none() {
                            c["fallback_value"] = default;
                        }
                        // The old client's `currency_code` is Cloud's `code`.
                        if let Some(map) = c.as_object_mut()
                            && let Some(code) = map.remove("currency_code")
                        {
                            map.entry("code").or_insert(code);
                        }
                        json!({"type": "currency", "currency": c})
                    } else if let Some(d) = p.get("date_time") {
                        let mut d = d.clone();
                        if d.get("fallback_value").is_none() {
                            d["fallback_value"] = default;
                        }
                        json!({"type": "date_time", "date_time": d})
                    } else {
                        json!({"type": "text", "text": default})
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
/// the action naming it when the business left it out.
fn interactive(mut object: Value) -> Value {
    if object.get("type").and_then(Value::as_str) == Some("request_contact_info")
        && object.get("action").is_none_or(Value::is_null)
    {
        object["action"] = json!({"name": "request_contact_info"});
    }
    object
}
