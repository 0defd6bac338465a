//! The typed outbound message on the wire: `wire::messages::Message` to
//! [`core::OutboundMessage`](crate::core::OutboundMessage) and back.
//!
//! Nothing here validates: the webapp validated the body the message was
//! made from, and the coreapp checks the invariants it relies on with
//! `Message::check` on what [`from_proto`] gives. Reading back fails only
//! on what no `to_proto` writes (a missing variant, unreadable JSON), so a
//! client other than the webapp gets a clear refusal.

use serde_json::{Map, Value};
use wire::ApiError;
use wire::messages::model as m;

use crate::core as p;
use crate::core::outbound_message::{Content as PContent, Ttl as PTtl};
use crate::core::{interactive_header, parameter};

/// The message as it crosses gRPC.
pub fn to_proto(message: &m::Message) -> p::OutboundMessage {
    let content = match &message.content {
        m::Content::Text { text } => PContent::Text(p::Text { body: text.body.clone(), preview_url: text.preview_url }),
        m::Content::Image { image } => PContent::Image(media(image)),
        m::Content::Audio { audio } => PContent::Audio(media(audio)),
        m::Content::Video { video } => PContent::Video(media(video)),
        m::Content::Document { document } => PContent::Document(media(document)),
        m::Content::Sticker { sticker } => PContent::Sticker(media(sticker)),
        m::Content::Location { location: l } => PContent::Location(p::Location {
            latitude: l.latitude,
            longitude: l.longitude,
            name: l.name.clone(),
            address: l.address.clone(),
            url: l.url.clone(),
        }),
        m::Content::Contacts { contacts } => {
            PContent::Contacts(p::Contacts { cards_json: contacts.iter().map(|c| json_text(c)).collect() })
        }
        m::Content::Interactive { interactive: i } => PContent::Interactive(p::Interactive {
            r#type: i.kind.clone(),
            header: i.header.as_ref().map(|h| p::InteractiveHeader {
                kind: Some(match h {
                    m::Header::Text { text } => interactive_header::Kind::Text(text.clone()),
                    m::Header::Image { image } => interactive_header::Kind::Image(media(image)),
                    m::Header::Video { video } => interactive_header::Kind::Video(media(video)),
                    m::Header::Document { document } => interactive_header::Kind::Document(media(document)),
                }),
            }),
            body: i.body.as_ref().map(|b| b.text.clone()),
            footer: i.footer.as_ref().map(|f| f.text.clone()),
            action_json: i.action.as_ref().map(|a| a.to_string()),
            extra_json: extra(&i.extra),
        }),
        m::Content::Template { template: t } => PContent::Template(p::Template {
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            language: Some(language(&t.language)),
            components: t.components.iter().flatten().map(component).collect(),
        }),
        m::Content::Hsm { hsm: h } => PContent::Hsm(p::Hsm {
            namespace: h.namespace.clone(),
            element_name: h.element_name.clone(),
            language: Some(language(&h.language)),
            localizable_params: h
                .localizable_params
                .iter()
                .flatten()
                .map(|l| p::LocalizableParam {
                    default: l.default.clone(),
                    currency: l.currency.as_ref().map(currency),
                    date_time: l.date_time.as_ref().map(|d| p::DateTime { fallback_value: d.fallback_value.clone() }),
                })
                .collect(),
        }),
        m::Content::Reaction { reaction: r } => {
            PContent::Reaction(p::Reaction { message_id: r.message_id.clone(), emoji: r.emoji.clone() })
        }
    };
    p::OutboundMessage {
        content: Some(content),
        context_message_id: message.context.as_ref().map(|c| c.message_id.clone()),
        preview_url: message.preview_url,
        render_mentions: message.render_mentions,
        biz_opaque_callback_data: message.biz_opaque_callback_data.clone(),
        ttl: message.ttl.as_ref().map(|t| match t {
            m::Ttl::Seconds(s) => PTtl::TtlSeconds(*s),
            m::Ttl::Text(s) => PTtl::TtlText(s.clone()),
        }),
    }
}

/// The message a gRPC request carries.
pub fn from_proto(message: p::OutboundMessage) -> Result<m::Message, ApiError> {
    let content = match message.content.ok_or_else(|| ApiError::missing("type"))? {
        PContent::Text(t) => m::Content::Text { text: m::Text { body: t.body, preview_url: t.preview_url } },
        PContent::Image(x) => m::Content::Image { image: from_media(x) },
        PContent::Audio(x) => m::Content::Audio { audio: from_media(x) },
        PContent::Video(x) => m::Content::Video { video: from_media(x) },
        PContent::Document(x) => m::Content::Document { document: from_media(x) },
        PContent::Sticker(x) => m::Content::Sticker { sticker: from_media(x) },
        PContent::Location(l) => m::Content::Location {
            location: m::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name,
                address: l.address,
                url: l.url,
            },
        },
        PContent::Contacts(c) => m::Content::Contacts {
            contacts: c.cards_json.iter().map(|card| object(card, "contacts")).collect::<Result<_, _>>()?,
        },
        PContent::Interactive(i) => m::Content::Interactive {
            interactive: m::Interactive {
                kind: i.r#type,
                header: match i.header.and_then(|h| h.kind) {
                    None => None,
                    Some(interactive_header::Kind::Text(text)) => Some(m::Header::Text { text }),
                    Some(interactive_header::Kind::Image(x)) => Some(m::Header::Image { image: from_media(x) }),
                    Some(interactive_header::Kind::Video(x)) => Some(m::Header::Video { video: from_media(x) }),
                    Some(interactive_header::Kind::Document(x)) => {
                        Some(m::Header::Document { document: from_media(x) })
                    }
                },
                body: i.body.map(|text| m::TextObject { text }),
                footer: i.footer.map(|text| m::TextObject { text }),
                action: i.action_json.map(|a| value(&a, "interactive.action")).transpose()?,
                extra: from_extra(&i.extra_json, "interactive")?,
            },
        },
        PContent::Template(t) => m::Content::Template {
            template: m::Template {
                namespace: t.namespace,
                name: t.name,
                language: from_language(t.language, "template.language")?,
                components: non_empty(t.components.into_iter().map(from_component).collect::<Result<Vec<_>, _>>()?),
            },
        },
        PContent::Hsm(h) => m::Content::Hsm {
            hsm: m::Hsm {
                namespace: h.namespace,
                element_name: h.element_name,
                language: from_language(h.language, "hsm.language")?,
                localizable_params: non_empty(
                    h.localizable_params
                        .into_iter()
                        .map(|l| m::LocalizableParam {
                            default: l.default,
                            currency: l.currency.map(from_currency),
                            date_time: l.date_time.map(|d| m::DateTime { fallback_value: d.fallback_value }),
                        })
                        .collect(),
                ),
            },
        },
        PContent::Reaction(r) => {
            m::Content::Reaction { reaction: m::Reaction { message_id: r.message_id, emoji: r.emoji } }
        }
    };
    Ok(m::Message {
        content,
        context: message.context_message_id.map(|message_id| m::Context { message_id }),
        preview_url: message.preview_url,
        render_mentions: message.render_mentions,
        ttl: message.ttl.map(|t| match t {
            PTtl::TtlSeconds(s) => m::Ttl::Seconds(s),
            PTtl::TtlText(s) => m::Ttl::Text(s),
        }),
        biz_opaque_callback_data: message.biz_opaque_callback_data,
    })
}

fn media(x: &m::Media) -> p::Media {
    p::Media {
        id: x.id.clone(),
        link: x.link.clone(),
        caption: x.caption.clone(),
        filename: x.filename.clone(),
        provider: x.provider.as_ref().map(|p| p.name.clone()),
    }
}

fn from_media(x: p::Media) -> m::Media {
    m::Media {
        id: x.id,
        link: x.link,
        caption: x.caption,
        filename: x.filename,
        provider: x.provider.map(|name| m::ProviderRef { name }),
    }
}

fn language(l: &m::Language) -> p::Language {
    p::Language { code: l.code.clone(), policy: l.policy.clone() }
}

fn from_language(l: Option<p::Language>, path: &str) -> Result<m::Language, ApiError> {
    let l = l.ok_or_else(|| ApiError::missing(path))?;
    Ok(m::Language { code: l.code, policy: l.policy })
}

fn currency(c: &m::Currency) -> p::Currency {
    p::Currency {
        fallback_value: c.fallback_value.clone(),
        code: c.code.clone(),
        currency_code: c.currency_code.clone(),
        amount_1000: c.amount_1000,
    }
}

fn from_currency(c: p::Currency) -> m::Currency {
    m::Currency {
        fallback_value: c.fallback_value,
        code: c.code,
        currency_code: c.currency_code,
        amount_1000: c.amount_1000,
    }
}

fn component(c: &m::Component) -> p::Component {
    p::Component {
        r#type: c.kind.clone(),
        sub_type: c.sub_type.clone(),
        index: c.index,
        parameters: c.parameters.iter().flatten().map(parameter).collect(),
        extra_json: extra(&c.extra),
    }
}

fn from_component(c: p::Component) -> Result<m::Component, ApiError> {
    Ok(m::Component {
        kind: c.r#type,
        sub_type: c.sub_type,
        index: c.index,
        parameters: non_empty(c.parameters.into_iter().map(from_parameter).collect::<Result<Vec<_>, _>>()?),
        extra: from_extra(&c.extra_json, "template.components")?,
    })
}

fn parameter(x: &m::Parameter) -> p::Parameter {
    use parameter::Kind;
    let (kind, rest) = match x {
        m::Parameter::Text { text, extra } => (Kind::Text(text.clone()), extra),
        m::Parameter::Payload { payload, extra } => (Kind::Payload(payload.clone()), extra),
        m::Parameter::Currency { currency: c, extra } => (Kind::Currency(currency(c)), extra),
        m::Parameter::DateTime { date_time: d, extra } => {
            (Kind::DateTime(p::DateTime { fallback_value: d.fallback_value.clone() }), extra)
        }
        m::Parameter::Image { image, extra } => (Kind::Image(media(image)), extra),
        m::Parameter::Video { video, extra } => (Kind::Video(media(video)), extra),
        m::Parameter::Document { document, extra } => (Kind::Document(media(document)), extra),
        m::Parameter::CouponCode { fields } => return passed(Kind::CouponCodeJson(json_text(fields))),
        m::Parameter::Action { fields } => return passed(Kind::ActionJson(json_text(fields))),
        m::Parameter::Location { fields } => return passed(Kind::LocationJson(json_text(fields))),
        m::Parameter::Product { fields } => return passed(Kind::ProductJson(json_text(fields))),
        m::Parameter::OrderStatus { fields } => return passed(Kind::OrderStatusJson(json_text(fields))),
    };
    p::Parameter { kind: Some(kind), extra_json: extra(rest) }
}

fn passed(kind: parameter::Kind) -> p::Parameter {
    p::Parameter { kind: Some(kind), extra_json: String::new() }
}

fn from_parameter(x: p::Parameter) -> Result<m::Parameter, ApiError> {
    use parameter::Kind;
    let path = "template.components.parameters";
    let extra = from_extra(&x.extra_json, path)?;
    Ok(match x.kind.ok_or_else(|| ApiError::missing("template.components.parameters.type"))? {
        Kind::Text(text) => m::Parameter::Text { text, extra },
        Kind::Payload(payload) => m::Parameter::Payload { payload, extra },
        Kind::Currency(c) => m::Parameter::Currency { currency: from_currency(c), extra },
        Kind::DateTime(d) => {
            m::Parameter::DateTime { date_time: m::DateTime { fallback_value: d.fallback_value }, extra }
        }
        Kind::Image(x) => m::Parameter::Image { image: from_media(x), extra },
        Kind::Video(x) => m::Parameter::Video { video: from_media(x), extra },
        Kind::Document(x) => m::Parameter::Document { document: from_media(x), extra },
        Kind::CouponCodeJson(j) => m::Parameter::CouponCode { fields: object(&j, path)? },
        Kind::ActionJson(j) => m::Parameter::Action { fields: object(&j, path)? },
        Kind::LocationJson(j) => m::Parameter::Location { fields: object(&j, path)? },
        Kind::ProductJson(j) => m::Parameter::Product { fields: object(&j, path)? },
        Kind::OrderStatusJson(j) => m::Parameter::OrderStatus { fields: object(&j, path)? },
    })
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn json_text(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).expect("a JSON object serialises")
}

/// Fields besides the named ones: empty text when there are none.
fn extra(map: &Map<String, Value>) -> String {
    if map.is_empty() { String::new() } else { json_text(map) }
}

fn from_extra(text: &str, path: &str) -> Result<Map<String, Value>, ApiError> {
    if text.is_empty() { Ok(Map::new()) } else { object(text, path) }
}

fn value(text: &str, path: &str) -> Result<Value, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::invalid(format!("Parameter '{path}' is not JSON: {e}")))
}

fn object(text: &str, path: &str) -> Result<Map<String, Value>, ApiError> {
    match value(text, path)? {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::invalid_value(path, other)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// One body of each type, with the fields the model keeps as JSON.
    fn bodies() -> Vec<Value> {
        let to = "15551234567";
        let ours = "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68";
        vec![
            json!({"to": to, "text": {"body": "hi", "preview_url": true}, "ttl": "P1D",
                   "context": {"message_id": "abc"}, "biz_opaque_callback_data": "o-1", "render_mentions": false}),
            json!({"to": to, "type": "text", "text": {"body": "hi"}, "preview_url": false, "ttl": 3600}),
            json!({"to": to, "type": "image", "image": {"id": ours, "caption": "c"}}),
            json!({"to": to, "type": "document", "document": {"link": "https://h.example/d.pdf", "filename": "d.pdf",
                   "provider": {"name": "corp"}}}),
            json!({"to": to, "type": "audio", "audio": {"id": "1"}}),
            json!({"to": to, "type": "video", "video": {"link": "https://h.example/v.mp4"}}),
            json!({"to": to, "type": "sticker", "sticker": {"id": "2"}}),
            json!({"to": to, "type": "location", "location": {"latitude": "37.5", "longitude": -122.25, "name": "HQ",
                   "address": "Main St", "url": "https://h.example"}}),
            json!({"to": to, "type": "contacts", "contacts": [{"name": {"formatted_name": "A B"},
                   "phones": [{"phone": "+1 555", "type": "CELL"}], "org": {"company": "X"}}]}),
            json!({"to": to, "type": "interactive", "interactive": {"type": "button",
                   "header": {"type": "video", "video": {"id": ours}}, "body": {"text": "b"}, "footer": {"text": "f"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]}}}),
            json!({"to": to, "type": "interactive", "interactive": {"type": "request_contact_info",
                   "body": {"text": "share?"}}}),
            json!({"to": to, "type": "template", "template": {"namespace": "ns", "name": "t",
                   "language": {"code": "en", "policy": "deterministic"},
                   "components": [
                     {"type": "header", "parameters": [{"type": "image", "image": {"id": ours}}]},
                     {"type": "body", "parameters": [
                        {"type": "text", "text": "x", "parameter_name": "first"},
                        {"type": "currency", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1000}},
                        {"type": "date_time", "date_time": {"fallback_value": "today"}}]},
                     {"type": "button", "sub_type": "copy_code", "index": "0",
                      "parameters": [{"type": "coupon_code", "coupon_code": "SAVE"}]},
                     {"type": "button", "sub_type": "quick_reply", "index": 1,
                      "parameters": [{"type": "payload", "payload": "p"}]}]}}),
            json!({"to": to, "type": "hsm", "hsm": {"namespace": "ns", "element_name": "t",
                   "language": {"code": "en", "policy": "fallback"},
                   "localizable_params": [{"default": "x"},
                     {"default": "$1", "currency": {"currency_code": "USD", "amount_1000": 1000}},
                     {"default": "today", "date_time": {"unix_epoch": {"timestamp": 1485470276}}}]}}),
            json!({"to": to, "type": "reaction", "reaction": {"message_id": "abc", "emoji": ""}}),
        ]
    }

    #[test]
    fn every_type_crosses_whole() {
        for body in bodies() {
            let message = wire::messages::validate(&body).unwrap_or_else(|e| panic!("{body}: {e}")).message;
            let back = from_proto(to_proto(&message)).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(back, message, "{body}");
            assert!(back.check().is_ok(), "{body}");
        }
    }

    #[test]
    fn what_no_webapp_sends_is_refused() {
        let none = p::OutboundMessage::default();
        assert_eq!(from_proto(none).unwrap_err().code, wire::ErrorCode::ParameterMissing);
        let bad_card = p::OutboundMessage {
            content: Some(PContent::Contacts(p::Contacts { cards_json: vec!["[1]".into()] })),
            ..Default::default()
        };
        assert_eq!(from_proto(bad_card).unwrap_err().code, wire::ErrorCode::ParameterInvalid);
    }
}
