//! The typed outbound message: what `validate` returns, what crosses gRPC,
//! what the coreapp stores (as the on-prem JSON it serialises to) and what
//! `to_cloud` translates.
//!
//! Field names are the on-prem API's, so serde reads a validated body and
//! writes the stored object. Where the on-prem object is Cloud's own shape
//! and passes through (contact cards, an interactive message's `action`,
//! template parameters of kinds the old client never checked), the model
//! keeps it as JSON, and fields it does not name are kept in `extra`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A validated outbound message, without its recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(flatten)]
    pub content: Content,
    /// The message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// Top-level `preview_url` (text only; the text object may carry its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_mentions: Option<bool>,
    /// Accepted and stored; Cloud has no per-message TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
}

/// One variant per on-prem message type, holding that type's object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    Text {
        text: Text,
    },
    Image {
        image: Media,
    },
    Audio {
        audio: Media,
    },
    Video {
        video: Media,
    },
    Document {
        document: Media,
    },
    Sticker {
        sticker: Media,
    },
    Location {
        location: Location,
    },
    Contacts {
        contacts: Vec<Map<String, Value>>,
    },
    Interactive {
        interactive: Interactive,
    },
    Template {
        template: Template,
    },
    /// The old client's template message.
    Hsm {
        hsm: Hsm,
    },
    Reaction {
        reaction: Reaction,
    },
}

/// The kinds of media a message, a header or a parameter may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// `context.message_id`, or the old client's `context.id`.
    #[serde(alias = "id")]
    pub message_id: String,
}

/// Seconds, or an ISO-8601 duration such as `P1D`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ttl {
    Seconds(u64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
}

/// A media object: `id` (ours from `/v1/media`, or Cloud's) or `link`, the
/// latter possibly from a host that needs a provider's credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Media {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Legacy clients sometimes send coordinates as strings.
    #[serde(deserialize_with = "number_or_numeric_string")]
    pub latitude: f64,
    #[serde(deserialize_with = "number_or_numeric_string")]
    pub longitude: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interactive {
    /// `button`, `list`, `cta_url`, `flow`, `product`, ...
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<TextObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<TextObject>,
    /// Cloud's shape for each kind (buttons, sections, a flow, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Header {
    Text { text: String },
    Image { image: Media },
    Video { video: Media },
    Document { document: Media },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextObject {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Language {
    pub code: String,
    /// `deterministic` or `fallback`.
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub namespace: String,
    pub name: String,
    pub language: Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<Component>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `header`, `body`, `footer` or `button`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// A button's position, a number or a string of one.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "index")]
    pub index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<Parameter>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A template parameter. Kinds the old client did not check keep their
/// fields as given in `fields`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Parameter {
    Text {
        text: String,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    Payload {
        payload: String,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    Currency {
        currency: Currency,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    DateTime {
        date_time: DateTime,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    Image {
        image: Media,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    Video {
        video: Media,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    Document {
        document: Media,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    CouponCode {
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
    Action {
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
    Location {
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
    Product {
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
    OrderStatus {
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
}

/// A currency: Cloud's `code`, or the old client's `currency_code` (in an
/// `hsm`); `fallback_value` may be left out in an `hsm`, whose parameter's
/// `default` is the fallback text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Currency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    pub amount_1000: i64,
}

impl Currency {
    /// The ISO 4217 code, under either name.
    pub fn iso_code(&self) -> Option<&str> {
        self.code.as_deref().or(self.currency_code.as_deref())
    }
}

/// A date/time: its fallback text. The old client's localisation fields
/// (`component`, `unix_epoch`, ...) are not kept: Cloud renders the
/// fallback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateTime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hsm {
    pub namespace: String,
    pub element_name: String,
    pub language: Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localizable_params: Option<Vec<LocalizableParam>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalizableParam {
    pub default: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_time: Option<DateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub message_id: String,
    /// Empty: the reaction is removed.
    pub emoji: String,
}

fn number_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64().ok_or_else(|| serde::de::Error::custom("not a number")),
        Value::String(s) => s.trim().parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected a number")),
    }
}

fn index<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| serde::de::Error::custom("not an index")),
        Some(Value::String(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
        Some(_) => Err(serde::de::Error::custom("expected an index")),
    }
}

impl Message {
    /// The message's type as the on-prem API names it.
    pub fn type_name(&self) -> &'static str {
        match &self.content {
            Content::Text { .. } => "text",
            Content::Image { .. } => "image",
            Content::Audio { .. } => "audio",
            Content::Video { .. } => "video",
            Content::Document { .. } => "document",
            Content::Sticker { .. } => "sticker",
            Content::Location { .. } => "location",
            Content::Contacts { .. } => "contacts",
            Content::Interactive { .. } => "interactive",
            Content::Template { .. } => "template",
            Content::Hsm { .. } => "hsm",
            Content::Reaction { .. } => "reaction",
        }
    }

    /// The on-prem object as stored, `type` included.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a message serialises")
    }

    /// Reads a stored on-prem object (one `validate` accepted).
    pub fn from_json(stored: &Value) -> Result<Message, serde_json::Error> {
        Message::deserialize(stored)
    }

    /// The invariants the coreapp relies on (see [`super::check`]).
    pub fn check(&self) -> Result<(), crate::ApiError> {
        super::check(self)
    }

    /// The media object of a media message, with its kind.
    pub fn media(&self) -> Option<(MediaKind, &Media)> {
        match &self.content {
            Content::Image { image } => Some((MediaKind::Image, image)),
            Content::Audio { audio } => Some((MediaKind::Audio, audio)),
            Content::Video { video } => Some((MediaKind::Video, video)),
            Content::Document { document } => Some((MediaKind::Document, document)),
            Content::Sticker { sticker } => Some((MediaKind::Sticker, sticker)),
            _ => None,
        }
    }

    pub fn media_mut(&mut self) -> Option<&mut Media> {
        match &mut self.content {
            Content::Image { image: m }
            | Content::Audio { audio: m }
            | Content::Video { video: m }
            | Content::Document { document: m }
            | Content::Sticker { sticker: m } => Some(m),
            _ => None,
        }
    }

    /// Every media object the message sends: the message's own, an
    /// interactive message's media header, a template's media parameters.
    pub fn each_media(&self) -> Vec<&Media> {
        match &self.content {
            Content::Interactive { interactive } => match &interactive.header {
                Some(Header::Image { image: m } | Header::Video { video: m } | Header::Document { document: m }) => {
                    vec![m]
                }
                _ => Vec::new(),
            },
            Content::Template { template } => template
                .components
                .iter()
                .flatten()
                .flat_map(|c| c.parameters.iter().flatten())
                .filter_map(|p| match p {
                    Parameter::Image { image: m, .. }
                    | Parameter::Video { video: m, .. }
                    | Parameter::Document { document: m, .. } => Some(m),
                    _ => None,
                })
                .collect(),
            _ => self.media().map(|(_, m)| vec![m]).unwrap_or_default(),
        }
    }

    /// Visits every media object the message sends, to change it (our
    /// media ids for Cloud's).
    pub fn each_media_mut(&mut self, f: &mut dyn FnMut(&mut Media)) {
        match &mut self.content {
            Content::Interactive { interactive } => {
                if let Some(
                    Header::Image { image: m } | Header::Video { video: m } | Header::Document { document: m },
                ) = &mut interactive.header
                {
                    f(m);
                }
            }
            Content::Template { template } => {
                for p in template.components.iter_mut().flatten().flat_map(|c| c.parameters.iter_mut().flatten()) {
                    if let Parameter::Image { image: m, .. }
                    | Parameter::Video { video: m, .. }
                    | Parameter::Document { document: m, .. } = p
                    {
                        f(m);
                    }
                }
            }
            _ => {
                if let Some(m) = self.media_mut() {
                    f(m);
                }
            }
        }
    }

    /// `(provider name, link)` of a media message whose link needs a
    /// provider's credentials. Only plain media messages carry providers.
    pub fn provider_link(&self) -> Option<(&str, &str)> {
        let (_, media) = self.media()?;
        Some((media.provider.as_ref()?.name.as_str(), media.link.as_deref()?))
    }

    /// The media ids the message sends (ours or Cloud's).
    pub fn media_ids(&self) -> Vec<&str> {
        self.each_media().into_iter().filter_map(|m| m.id.as_deref()).collect()
    }

    /// The message ids the message refers to (a quoted reply's, a
    /// reaction's target): the coreapp maps those it knows to Cloud's.
    pub fn referenced_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.context.iter().map(|c| c.message_id.as_str()).collect();
        if let Content::Reaction { reaction } = &self.content {
            ids.push(&reaction.message_id);
        }
        ids
    }
}
