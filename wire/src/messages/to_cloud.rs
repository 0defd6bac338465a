//! Translation of an outbound message into the Cloud API send payload.
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

use super::model::{
    Component, Content, Currency, DateTime, Header, Hsm, Interactive, Language, Location, Media, Message, Parameter,
    Template,
};

/// Builds the Cloud payload for `recipient`, the digits of a phone number
/// or a BSUID. `map_id` turns a message id we handed out into
/// Cloud's `wamid` (quoted replies, reactions); ids it does not know are sent
/// as given, so integrations that already hold `wamid`s keep working.
pub fn to_cloud(recipient: &str, message: &Message, map_id: &dyn Fn(&str) -> Option<String>) -> Value {
    let mapped = |id: &str| map_id(id).unwrap_or_else(|| id.to_string());
    let (cloud_type, body) = match &message.content {
        Content::Text { text } => {
            let preview = message.preview_url.or(text.preview_url).unwrap_or(false);
            ("text", json!({"body": text.body, "preview_url": preview}))
        }
        Content::Image { image: m } => ("image", media(m)),
        Content::Audio { audio: m } => ("audio", media(m)),
        Content::Video { video: m } => ("video", media(m)),
        Content::Document { document: m } => ("document", media(m)),
        Content::Sticker { sticker: m } => ("sticker", media(m)),
        Content::Location { location: l } => ("location", location(l)),
        Content::Contacts { contacts } => ("contacts", json!(contacts)),
        Content::Interactive { interactive: i } => ("interactive", self::interactive(i)),
        Content::Template { template: t } => ("template", self::template(t)),
        Content::Hsm { hsm: h } => ("template", self::hsm(h)),
        Content::Reaction { reaction } => {
            ("reaction", json!({"message_id": mapped(&reaction.message_id), "emoji": reaction.emoji}))
        }
    };
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
    out[cloud_type] = body;
    if let Some(context) = &message.context {
        out["context"] = json!({"message_id": mapped(&context.message_id)});
    }
    if let Some(data) = &message.biz_opaque_callback_data {
        out["biz_opaque_callback_data"] = json!(data);
    }
    out
}

/// A media object as Cloud takes it: without the old client's `provider`.
fn media(m: &Media) -> Value {
    let mut out = Map::new();
    for (key, value) in [("id", &m.id), ("link", &m.link), ("caption", &m.caption), ("filename", &m.filename)] {
        if let Some(v) = value {
            out.insert(key.to_string(), json!(v));
        }
    }
    Value::Object(out)
}

fn location(l: &Location) -> Value {
    let mut out = json!({"latitude": l.latitude, "longitude": l.longitude});
    if let Some(name) = &l.name {
        out["name"] = json!(name);
    }
    if let Some(address) = &l.address {
        out["address"] = json!(address);
    }
    out
}

fn language(l: &Language) -> Value {
    json!({"code": l.code, "policy": "deterministic"})
}

fn template(t: &Template) -> Value {
    let mut out = json!({"name": t.name, "language": language(&t.language)});
    let components: Vec<Value> = t
        .components
        .iter()
        .flatten()
        // A footer has no variables: there is nothing to send for it.
        .filter(|c| c.kind != "footer")
        .map(component)
        .collect();
    if !components.is_empty() {
        out["components"] = json!(components);
    }
    out
}

fn component(c: &Component) -> Value {
    let mut out = c.extra.clone();
    out.insert("type".into(), json!(c.kind));
    if let Some(sub_type) = &c.sub_type {
        out.insert("sub_type".into(), json!(sub_type));
    }
    // Cloud documents `index` as a string.
    if let Some(index) = c.index {
        out.insert("index".into(), json!(index.to_string()));
    }
    if let Some(parameters) = &c.parameters {
        out.insert("parameters".into(), parameters.iter().map(parameter).collect());
    }
    Value::Object(out)
}

/// A template parameter's object as Cloud documents it: media without the
/// old client's `provider`, a currency and a date/time as [`currency`] and
/// [`date_time`] make them. Other parameters are sent as given.
fn parameter(p: &Parameter) -> Value {
    let (kind, key, object, extra) = match p {
        Parameter::Text { text, extra } => ("text", "text", json!(text), extra),
        Parameter::Payload { payload, extra } => ("payload", "payload", json!(payload), extra),
        Parameter::Currency { currency: c, extra } => ("currency", "currency", currency(c, None), extra),
        Parameter::DateTime { date_time: d, extra } => ("date_time", "date_time", date_time(d, None), extra),
        Parameter::Image { image: m, extra } => ("image", "image", media(m), extra),
        Parameter::Video { video: m, extra } => ("video", "video", media(m), extra),
        Parameter::Document { document: m, extra } => ("document", "document", media(m), extra),
        Parameter::CouponCode { fields } => return passed("coupon_code", fields),
        Parameter::Action { fields } => return passed("action", fields),
        Parameter::Location { fields } => return passed("location", fields),
        Parameter::Product { fields } => return passed("product", fields),
        Parameter::OrderStatus { fields } => return passed("order_status", fields),
    };
    let mut out = extra.clone();
    out.insert("type".into(), json!(kind));
    out.insert(key.into(), object);
    Value::Object(out)
}

fn passed(kind: &str, fields: &Map<String, Value>) -> Value {
    let mut out = fields.clone();
    out.insert("type".into(), json!(kind));
    Value::Object(out)
}

/// A currency: `fallback_value` (or `fallback`, a legacy parameter's
/// `default`), `code` (the old client's `currency_code`) and `amount_1000`.
fn currency(c: &Currency, fallback: Option<&str>) -> Value {
    let mut out = Map::new();
    if let Some(f) = c.fallback_value.as_deref().or(fallback) {
        out.insert("fallback_value".into(), json!(f));
    }
    if let Some(code) = c.iso_code() {
        out.insert("code".into(), json!(code));
    }
    out.insert("amount_1000".into(), json!(c.amount_1000));
    Value::Object(out)
}

/// A date/time: its fallback text only. Cloud always renders the fallback;
/// the old client's `component`/`unix_epoch` (and the like) are not sent.
fn date_time(d: &DateTime, fallback: Option<&str>) -> Value {
    json!({"fallback_value": d.fallback_value.as_deref().or(fallback)})
}

/// A legacy `hsm` as a Cloud template: `element_name` is the name, each
/// localizable parameter a body parameter (currency and date/time kept as
/// such, with `default` as the fallback text).
fn hsm(h: &Hsm) -> Value {
    let mut out = json!({"name": h.element_name, "language": language(&h.language)});
    let params: Vec<Value> = h
        .localizable_params
        .iter()
        .flatten()
        .map(|p| {
            let default = Some(p.default.as_str());
            if let Some(c) = &p.currency {
                json!({"type": "currency", "currency": currency(c, default)})
            } else if let Some(d) = &p.date_time {
                json!({"type": "date_time", "date_time": date_time(d, default)})
            } else {
                json!({"type": "text", "text": p.default})
            }
        })
        .collect();
    if !params.is_empty() {
        out["components"] = json!([{"type": "body", "parameters": params}]);
    }
    out
}

/// An interactive object as Cloud takes it: a `request_contact_info` gets
/// the action naming it when the business left it out; a media header is
/// sent without the old client's `provider`.
fn interactive(i: &Interactive) -> Value {
    let mut out = i.extra.clone();
    out.insert("type".into(), json!(i.kind));
    if let Some(header) = &i.header {
        let header = match header {
            Header::Text { text } => json!({"type": "text", "text": text}),
            Header::Image { image: m } => json!({"type": "image", "image": media(m)}),
            Header::Video { video: m } => json!({"type": "video", "video": media(m)}),
            Header::Document { document: m } => json!({"type": "document", "document": media(m)}),
        };
        out.insert("header".into(), header);
    }
    if let Some(body) = &i.body {
        out.insert("body".into(), json!({"text": body.text}));
    }
    if let Some(footer) = &i.footer {
        out.insert("footer".into(), json!({"text": footer.text}));
    }
    match &i.action {
        Some(action) if !action.is_null() => {
            out.insert("action".into(), action.clone());
        }
        _ if i.kind == "request_contact_info" => {
            out.insert("action".into(), json!({"name": "request_contact_info"}));
        }
        _ => {}
    }
    Value::Object(out)
}
