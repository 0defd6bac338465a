//! Validation of `POST /v1/messages` bodies with the old client's codes:
//! 1008 missing, 1009 invalid, 1010 a parameter that does not belong, 1001
//! text too long, 1002 recipient type, 2014 empty namespace, 2015/2016 list
//! sections and rows.

use serde_json::{Map, Value};

use super::model::{Content, Message};
use super::{MAX_TEXT_LEN, MEDIA_TYPES, Outbound, TYPES, normalise_phone};
use crate::{ApiError, ErrorCode};

type Obj = Map<String, Value>;

/// Validates a `POST /v1/messages` body.
pub fn validate(body: &Value) -> Result<Outbound, ApiError> {
    let obj = body.as_object().ok_or_else(|| ApiError::invalid("Request body must be a JSON object"))?;

    let to = match obj.get("to") {
        None | Some(Value::Null) => return Err(ApiError::missing("to")),
        Some(Value::String(s)) if s.trim().is_empty() => return Err(ApiError::missing("to")),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(ApiError::invalid_value("to", other)),
    };
    // A phone number (or a stand-in identifier, which has the same digits
    // shape), or a BSUID exactly as Cloud gave it.
    let recipient = match crate::identity::Bsuid::parse(to.trim()) {
        Some(bsuid) => bsuid.to_string(),
        None => normalise_phone(&to).ok_or_else(|| ApiError::invalid_value("to", &to))?,
    };

    match obj.get("recipient_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "individual" => {}
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRecipientType,
                format!("Parameter 'recipient_type' has invalid value '{}'", show(other)),
            ));
        }
    }

    let ty = match obj.get("type") {
        None | Some(Value::Null) => "text".to_string(),
        Some(Value::String(s)) if TYPES.contains(&s.as_str()) => s.clone(),
        Some(other) => return Err(ApiError::invalid_value("type", show(other))),
    };
    for other in TYPES.iter().filter(|t| **t != ty) {
        if obj.contains_key(*other) {
            return Err(ApiError::not_required(other, &ty));
        }
    }

    if let Some(v) = obj.get("preview_url") {
        if ty != "text" {
            return Err(ApiError::not_required("preview_url", &ty));
        }
        boolean(v, "preview_url")?;
    }
    if let Some(v) = obj.get("render_mentions") {
        boolean(v, "render_mentions")?;
    }
    if let Some(ttl) = obj.get("ttl") {
        validate_ttl(ttl)?;
    }
    if let Some(v) = obj.get("biz_opaque_callback_data") {
        match v.as_str() {
            Some(s) if s.chars().count() <= 512 => {}
            _ => return Err(ApiError::invalid_value("biz_opaque_callback_data", show(v))),
        }
    }
    if let Some(ctx) = obj.get("context") {
        let ctx = object(ctx, "context")?;
        let id = ctx.get("message_id").or_else(|| ctx.get("id"));
        match id {
            Some(Value::String(s)) if !s.is_empty() => {}
            None | Some(Value::Null) => return Err(ApiError::missing("context.message_id")),
            Some(other) => return Err(ApiError::invalid_value("context.message_id", show(other))),
        }
    }

    if ty == "contacts" {
        // The only type whose object is an array.
        contacts(obj)?;
    } else {
        let body = required_object(obj, &ty, &ty)?;
        match ty.as_str() {
            "text" => text(body)?,
            "location" => location(body)?,
            "interactive" => interactive(body)?,
            "template" => template(body)?,
            "hsm" => hsm(body)?,
            "reaction" => reaction(body)?,
            media if MEDIA_TYPES.contains(&media) => media_object(body, media)?,
            _ => unreachable!("TYPES is closed"),
        }
    }

    let mut payload = obj.clone();
    payload.insert("type".into(), Value::String(ty));
    // What passed the checks above reads into the model; a body that does
    // not is refused all the same, never half-read.
    let message = Message::from_json(&Value::Object(payload))
        .map_err(|e| ApiError::invalid(format!("The message cannot be read: {e}")))?;
    Ok(Outbound { recipient, message })
}

/// The invariants the coreapp relies on, checked on a typed message that
/// came over gRPC (the webapp ran [`validate`] on the body it was made
/// from): what the engine and the translation assume of each type.
pub fn check(message: &Message) -> Result<(), ApiError> {
    let nonempty = |s: &str, path: &str| if s.is_empty() { Err(ApiError::missing(path)) } else { Ok(()) };
    if let Some(context) = &message.context {
        nonempty(&context.message_id, "context.message_id")?;
    }
    if let Some(data) = &message.biz_opaque_callback_data
        && data.chars().count() > 512
    {
        return Err(ApiError::invalid_value("biz_opaque_callback_data", data));
    }
    match &message.content {
        Content::Text { text } => {
            nonempty(&text.body, "text.body")?;
            if text.body.chars().count() > MAX_TEXT_LEN {
                return Err(ApiError::new(
                    ErrorCode::MessageTooLong,
                    format!("Text body is longer than {MAX_TEXT_LEN} characters"),
                ));
            }
        }
        Content::Location { location } => {
            if !(location.latitude.abs() <= 90.0 && location.longitude.abs() <= 180.0) {
                return Err(ApiError::invalid("Parameter 'location' has coordinates out of range"));
            }
        }
        Content::Contacts { contacts } if contacts.is_empty() => return Err(ApiError::missing("contacts")),
        Content::Contacts { .. } => {}
        Content::Interactive { interactive } => nonempty(&interactive.kind, "interactive.type")?,
        Content::Template { template } => {
            nonempty(template.namespace.trim(), "template.namespace")?;
            nonempty(&template.name, "template.name")?;
            nonempty(&template.language.code, "template.language.code")?;
        }
        Content::Hsm { hsm } => {
            nonempty(hsm.namespace.trim(), "hsm.namespace")?;
            nonempty(&hsm.element_name, "hsm.element_name")?;
            nonempty(&hsm.language.code, "hsm.language.code")?;
        }
        Content::Reaction { reaction } => nonempty(&reaction.message_id, "reaction.message_id")?,
        Content::Image { .. }
        | Content::Audio { .. }
        | Content::Video { .. }
        | Content::Document { .. }
        | Content::Sticker { .. } => {}
    }
    for media in message.each_media() {
        match (&media.id, &media.link) {
            (Some(_), None) if media.provider.is_none() => {}
            (None, Some(link)) => http_url(link, "link")?,
            (Some(_), Some(_)) => return Err(ApiError::invalid("Only one of 'id' and 'link' may be given")),
            (None, None) => return Err(ApiError::missing("id' or 'link")),
            (Some(_), None) => return Err(ApiError::invalid("A media 'provider' goes with a 'link' only")),
        }
    }
    Ok(())
}

// === field helpers ===

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, ApiError> {
    v.as_object().ok_or_else(|| ApiError::invalid_value(path, show(v)))
}

/// The object at `key` of `parent`, which must be there.
fn required_object<'a>(parent: &'a Obj, key: &str, path: &str) -> Result<&'a Obj, ApiError> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(ApiError::missing(path)),
        Some(v) => object(v, path),
    }
}

fn boolean(v: &Value, path: &str) -> Result<bool, ApiError> {
    v.as_bool().ok_or_else(|| ApiError::invalid_value(path, show(v)))
}

/// An optional string field no longer than `max` characters.
fn opt_str<'a>(o: &'a Obj, key: &str, path: &str, max: usize) -> Result<Option<&'a str>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s)),
        Some(Value::String(_)) => Err(ApiError::invalid(format!("Parameter '{path}' is longer than {max} characters"))),
        Some(other) => Err(ApiError::invalid_value(path, show(other))),
    }
}

/// A string field that must be present and non-empty.
fn req_str<'a>(o: &'a Obj, key: &str, path: &str, max: usize) -> Result<&'a str, ApiError> {
    match opt_str(o, key, path, max)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::missing(path)),
    }
}

fn only_keys(o: &Obj, allowed: &[&str], ty: &str) -> Result<(), ApiError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(ApiError::not_required(extra, ty)),
        None => Ok(()),
    }
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, ApiError> {
    v.as_array().ok_or_else(|| ApiError::invalid_value(path, show(v)))
}

fn http_url(s: &str, path: &str) -> Result<(), ApiError> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(ApiError::invalid_value(path, s)),
    }
}

// === per type ===

fn text(t: &Obj) -> Result<(), ApiError> {
    let body = match t.get("body") {
        None | Some(Value::Null) => return Err(ApiError::missing("text.body")),
        Some(Value::String(s)) if s.is_empty() => return Err(ApiError::missing("text.body")),
        Some(Value::String(s)) => s,
        Some(other) => return Err(ApiError::invalid_value("text.body", show(other))),
    };
    if body.chars().count() > MAX_TEXT_LEN {
        return Err(ApiError::new(
            ErrorCode::MessageTooLong,
            format!("Text body is longer than {MAX_TEXT_LEN} characters"),
        ));
    }
    if let Some(v) = t.get("preview_url") {
        boolean(v, "text.preview_url")?;
    }
    Ok(())
}

/// `{"id"}` from `/v1/media` or `{"link", "provider"?}`; `caption` only
/// for image, video and document; `filename` only for document.
fn media_object(m: &Obj, ty: &str) -> Result<(), ApiError> {
    let mut allowed = vec!["id", "link", "provider"];
    if matches!(ty, "image" | "video" | "document") {
        allowed.push("caption");
    }
    if ty == "document" {
        allowed.push("filename");
    }
    only_keys(m, &allowed, ty)?;
    let id = opt_str(m, "id", &format!("{ty}.id"), 256)?;
    let link = opt_str(m, "link", &format!("{ty}.link"), 2048)?;
    match (id, link) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(format!("Only one of '{ty}.id' and '{ty}.link' may be given")));
        }
        (None, None) => return Err(ApiError::missing(&format!("{ty}.id' or '{ty}.link"))),
        (None, Some(l)) => http_url(l, &format!("{ty}.link"))?,
        (Some(_), None) => {}
    }
    if let Some(p) = m.get("provider") {
        if id.is_some() {
            return Err(ApiError::not_required(&format!("{ty}.provider"), ty));
        }
        req_str(object(p, &format!("{ty}.provider"))?, "name", &format!("{ty}.provider.name"), 256)?;
    }
    opt_str(m, "caption", &format!("{ty}.caption"), 1024)?;
    opt_str(m, "filename", &format!("{ty}.filename"), 240)?;
    Ok(())
}

fn coordinate(o: &Obj, key: &str, limit: f64) -> Result<(), ApiError> {
    let path = format!("location.{key}");
    let v = match o.get(key) {
        None | Some(Value::Null) => return Err(ApiError::missing(&path)),
        Some(v) => v,
    };
    // Legacy clients sometimes send coordinates as strings.
    let n = v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    match n {
        Some(n) if n.abs() <= limit => Ok(()),
        _ => Err(ApiError::invalid_value(&path, show(v))),
    }
}

fn location(l: &Obj) -> Result<(), ApiError> {
    coordinate(l, "latitude", 90.0)?;
    coordinate(l, "longitude", 180.0)?;
    opt_str(l, "name", "location.name", 1000)?;
    opt_str(l, "address", "location.address", 1000)?;
    opt_str(l, "url", "location.url", 2048)?;
    Ok(())
}

fn contacts(body: &Obj) -> Result<(), ApiError> {
    let cards = match body.get("contacts") {
        None | Some(Value::Null) => return Err(ApiError::missing("contacts")),
        Some(v) => array(v, "contacts")?,
    };
    if cards.is_empty() {
        return Err(ApiError::missing("contacts"));
    }
    for (i, card) in cards.iter().enumerate() {
        let p = format!("contacts[{i}]");
        let card = object(card, &p)?;
        let name = match card.get("name") {
            None | Some(Value::Null) => return Err(ApiError::missing(&format!("{p}.name"))),
            Some(n) => object(n, &format!("{p}.name"))?,
        };
        req_str(name, "formatted_name", &format!("{p}.name.formatted_name"), 1024)?;
        for list in ["phones", "emails", "urls", "addresses"] {
            if let Some(v) = card.get(list) {
                for (j, item) in array(v, &format!("{p}.{list}"))?.iter().enumerate() {
                    object(item, &format!("{p}.{list}[{j}]"))?;
                }
            }
        }
        if let Some(org) = card.get("org") {
            object(org, &format!("{p}.org"))?;
        }
        if let Some(b) = opt_str(card, "birthday", &format!("{p}.birthday"), 10)? {
            let ok = b.len() == 10
                && b.bytes().enumerate().all(|(k, c)| if k == 4 || k == 7 { c == b'-' } else { c.is_ascii_digit() });
            if !ok {
                return Err(ApiError::invalid_value(&format!("{p}.birthday"), b));
            }
        }
    }
    Ok(())
}

fn interactive(i: &Obj) -> Result<(), ApiError> {
    let kind = req_str(i, "type", "interactive.type", 64)?;
    if let Some(h) = i.get("header") {
        let h = object(h, "interactive.header")?;
        let htype = req_str(h, "type", "interactive.header.type", 16)?;
        match htype {
            "text" => {
                req_str(h, "text", "interactive.header.text", 60)?;
            }
            "image" | "video" | "document" if kind == "button" => {
                media_object(required_object(h, htype, &format!("interactive.header.{htype}"))?, htype)?;
            }
            other => return Err(ApiError::invalid_value("interactive.header.type", other)),
        }
    }
    let needs_body = !matches!(kind, "product");
    match i.get("body") {
        Some(b) => {
            req_str(object(b, "interactive.body")?, "text", "interactive.body.text", 1024)?;
        }
        None if needs_body => return Err(ApiError::missing("interactive.body")),
        None => {}
    }
    if let Some(f) = i.get("footer") {
        req_str(object(f, "interactive.footer")?, "text", "interactive.footer.text", 60)?;
    }
    if kind == "request_contact_info" {
        // Cloud's request for the user's phone number: a body, and an action
        // naming itself (filled in when left out).
        return match i.get("action") {
            None | Some(Value::Null) => Ok(()),
            Some(a) => match object(a, "interactive.action")?.get("name") {
                None | Some(Value::Null) => Ok(()),
                Some(Value::String(n)) if n == "request_contact_info" => Ok(()),
                Some(other) => Err(ApiError::invalid_value("interactive.action.name", show(other))),
            },
        };
    }
    let action = match i.get("action") {
        None | Some(Value::Null) => return Err(ApiError::missing("interactive.action")),
        Some(a) => object(a, "interactive.action")?,
    };
    match kind {
        "button" => reply_buttons(action),
        "list" => list(action),
        "cta_url" | "flow" | "product" | "product_list" | "location_request_message" => Ok(()),
        other => Err(ApiError::invalid_value("interactive.type", other)),
    }
}

fn reply_buttons(action: &Obj) -> Result<(), ApiError> {
    let buttons = match action.get("buttons") {
        None | Some(Value::Null) => return Err(ApiError::missing("interactive.action.buttons")),
        Some(v) => array(v, "interactive.action.buttons")?,
    };
    if buttons.is_empty() || buttons.len() > 3 {
        return Err(ApiError::invalid(format!(
            "Parameter 'interactive.action.buttons' must have 1 to 3 buttons, not {}",
            buttons.len()
        )));
    }
    let mut titles = Vec::new();
    for (k, b) in buttons.iter().enumerate() {
        let p = format!("interactive.action.buttons[{k}]");
        let b = object(b, &p)?;
        if req_str(b, "type", &format!("{p}.type"), 16)? != "reply" {
            return Err(ApiError::invalid_value(&format!("{p}.type"), show(&b["type"])));
        }
        let reply = required_object(b, "reply", &format!("{p}.reply"))?;
        req_str(reply, "id", &format!("{p}.reply.id"), 256)?;
        let title = req_str(reply, "title", &format!("{p}.reply.title"), 20)?;
        if titles.contains(&title) {
            return Err(ApiError::invalid(format!("Button title '{title}' is not unique")));
        }
        titles.push(title);
    }
    Ok(())
}

fn list(action: &Obj) -> Result<(), ApiError> {
    req_str(action, "button", "interactive.action.button", 20)?;
    let sections = match action.get("sections") {
        None | Some(Value::Null) => return Err(ApiError::missing("interactive.action.sections")),
        Some(v) => array(v, "interactive.action.sections")?,
    };
    if sections.is_empty() || sections.len() > 10 {
        return Err(ApiError::new(
            ErrorCode::InvalidSectionCount,
            format!("A list must have 1 to 10 sections, not {}", sections.len()),
        ));
    }
    let mut rows_total = 0;
    for (k, s) in sections.iter().enumerate() {
        let p = format!("interactive.action.sections[{k}]");
        let s = object(s, &p)?;
        if sections.len() > 1 {
            req_str(s, "title", &format!("{p}.title"), 24)?;
        } else {
            opt_str(s, "title", &format!("{p}.title"), 24)?;
        }
        let rows = match s.get("rows") {
            None | Some(Value::Null) => return Err(ApiError::missing(&format!("{p}.rows"))),
            Some(v) => array(v, &format!("{p}.rows"))?,
        };
        if rows.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidRowCount, format!("Section {k} of the list has no rows")));
        }
        rows_total += rows.len();
        for (r, row) in rows.iter().enumerate() {
            let rp = format!("{p}.rows[{r}]");
            let row = object(row, &rp)?;
            req_str(row, "id", &format!("{rp}.id"), 200)?;
            req_str(row, "title", &format!("{rp}.title"), 24)?;
            opt_str(row, "description", &format!("{rp}.description"), 72)?;
        }
    }
    if rows_total > 10 {
        return Err(ApiError::new(
            ErrorCode::InvalidRowCount,
            format!("A list may have at most 10 rows, not {rows_total}"),
        ));
    }
    Ok(())
}

fn namespace(o: &Obj, path: &str) -> Result<(), ApiError> {
    match o.get("namespace") {
        None | Some(Value::Null) => Err(ApiError::missing(path)),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ApiError::new(ErrorCode::NamespaceEmpty, "The template namespace is empty"))
        }
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(ApiError::invalid_value(path, show(other))),
    }
}

/// `language`: `code` and `policy` (`deterministic` or `fallback`), both
/// mandatory on the old client.
fn language(o: &Obj, path: &str) -> Result<(), ApiError> {
    let lang = match o.get("language") {
        None | Some(Value::Null) => return Err(ApiError::missing(path)),
        Some(v) => object(v, path)?,
    };
    req_str(lang, "code", &format!("{path}.code"), 16)?;
    let policy = req_str(lang, "policy", &format!("{path}.policy"), 16)?;
    if !matches!(policy, "deterministic" | "fallback") {
        return Err(ApiError::invalid_value(&format!("{path}.policy"), policy));
    }
    Ok(())
}

/// A currency parameter. In a legacy `hsm` the parameter's `default` is the
/// fallback text, so `fallback_value` may be left out there, and the code is
/// the old client's `currency_code` (the newer `code` is taken too).
fn currency(c: &Value, path: &str, fallback_required: bool) -> Result<(), ApiError> {
    let c = object(c, path)?;
    if fallback_required {
        req_str(c, "fallback_value", &format!("{path}.fallback_value"), 1024)?;
    } else {
        opt_str(c, "fallback_value", &format!("{path}.fallback_value"), 1024)?;
    }
    let legacy = !fallback_required;
    let field = if legacy && !c.contains_key("code") { "currency_code" } else { "code" };
    let code = req_str(c, field, &format!("{path}.{field}"), 3)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::invalid_value(&format!("{path}.{field}"), code));
    }
    if legacy
        && let (Some(a), Some(b)) = (c.get("code"), c.get("currency_code"))
        && a != b
    {
        return Err(ApiError::invalid(format!("Parameter '{path}.currency_code' conflicts with '{path}.code'")));
    }
    match c.get("amount_1000") {
        None | Some(Value::Null) => Err(ApiError::missing(&format!("{path}.amount_1000"))),
        Some(v) if v.is_i64() => Ok(()),
        Some(v) => Err(ApiError::invalid_value(&format!("{path}.amount_1000"), show(v))),
    }
}

fn date_time(d: &Value, path: &str, fallback_required: bool) -> Result<(), ApiError> {
    let d = object(d, path)?;
    if fallback_required {
        req_str(d, "fallback_value", &format!("{path}.fallback_value"), 1024)?;
    } else {
        opt_str(d, "fallback_value", &format!("{path}.fallback_value"), 1024)?;
    }
    Ok(())
}

fn template(t: &Obj) -> Result<(), ApiError> {
    namespace(t, "template.namespace")?;
    req_str(t, "name", "template.name", 512)?;
    language(t, "template.language")?;
    let Some(components) = t.get("components") else { return Ok(()) };
    for (k, c) in array(components, "template.components")?.iter().enumerate() {
        let p = format!("template.components[{k}]");
        let c = object(c, &p)?;
        let kind = req_str(c, "type", &format!("{p}.type"), 16)?;
        match kind {
            "header" | "body" | "footer" => {}
            "button" => {
                let sub = req_str(c, "sub_type", &format!("{p}.sub_type"), 32)?;
                if !matches!(sub, "quick_reply" | "url" | "copy_code" | "flow" | "catalog" | "mpm") {
                    return Err(ApiError::invalid_value(&format!("{p}.sub_type"), sub));
                }
                let index = c.get("index").ok_or_else(|| ApiError::missing(&format!("{p}.index")))?;
                let ok = index.as_u64().is_some() || index.as_str().is_some_and(|s| s.parse::<u8>().is_ok());
                if !ok {
                    return Err(ApiError::invalid_value(&format!("{p}.index"), show(index)));
                }
            }
            other => return Err(ApiError::invalid_value(&format!("{p}.type"), other)),
        }
        let Some(params) = c.get("parameters") else { continue };
        for (j, param) in array(params, &format!("{p}.parameters"))?.iter().enumerate() {
            let pp = format!("{p}.parameters[{j}]");
            let param = object(param, &pp)?;
            let ptype = req_str(param, "type", &format!("{pp}.type"), 32)?;
            match ptype {
                "text" => {
                    let max = if kind == "header" { 60 } else { 1024 };
                    req_str(param, "text", &format!("{pp}.text"), max)?;
                }
                "payload" => {
                    req_str(param, "payload", &format!("{pp}.payload"), 1024)?;
                }
                "currency" => currency(param.get("currency").unwrap_or(&Value::Null), &format!("{pp}.currency"), true)?,
                "date_time" => {
                    date_time(param.get("date_time").unwrap_or(&Value::Null), &format!("{pp}.date_time"), true)?
                }
                "image" | "video" | "document" => {
                    media_object(required_object(param, ptype, &format!("{pp}.{ptype}"))?, ptype)?;
                }
                "coupon_code" | "action" | "location" | "product" | "order_status" => {}
                other => return Err(ApiError::invalid_value(&format!("{pp}.type"), other)),
            }
        }
    }
    Ok(())
}

/// The legacy template message.
fn hsm(h: &Obj) -> Result<(), ApiError> {
    namespace(h, "hsm.namespace")?;
    req_str(h, "element_name", "hsm.element_name", 512)?;
    language(h, "hsm.language")?;
    let Some(params) = h.get("localizable_params") else { return Ok(()) };
    for (k, p) in array(params, "hsm.localizable_params")?.iter().enumerate() {
        let path = format!("hsm.localizable_params[{k}]");
        let p = object(p, &path)?;
        req_str(p, "default", &format!("{path}.default"), 1024)?;
        if let Some(c) = p.get("currency") {
            currency(c, &format!("{path}.currency"), false)?;
        }
        if let Some(d) = p.get("date_time") {
            date_time(d, &format!("{path}.date_time"), false)?;
        }
    }
    Ok(())
}

fn reaction(r: &Obj) -> Result<(), ApiError> {
    req_str(r, "message_id", "reaction.message_id", 256)?;
    match r.get("emoji") {
        None | Some(Value::Null) => Err(ApiError::missing("reaction.emoji")),
        // An empty emoji removes the reaction.
        Some(Value::String(e)) if e.chars().count() <= 10 => Ok(()),
        Some(other) => Err(ApiError::invalid_value("reaction.emoji", show(other))),
    }
}

/// `ttl`: seconds as a number or numeric string, or an ISO-8601 duration
/// such as `P1D`. Cloud has no per-message TTL; it is accepted and stored.
fn validate_ttl(ttl: &Value) -> Result<(), ApiError> {
    match ttl {
        Value::Number(n) if n.as_u64().is_some() => Ok(()),
        Value::String(s) if s.trim().is_empty() => Err(ApiError::invalid("Empty TTL value not allowed")),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Value::String(s) if s.starts_with('P') && s.len() > 1 => Ok(()),
        other => Err(ApiError::invalid_value("ttl", show(other))),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
