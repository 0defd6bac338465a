//! Application settings of the old client: `GET/PATCH/DELETE
//! /v1/settings/application` (`docs/onprem-api.md` §5).
//!
//! [`ApplicationSettings`] is the typed model. Its own serde form is what the
//! coreapp stores (JSON text in a database row); [`ApplicationSettings::to_onprem_json`]
//! builds the nested object the old client returned on GET. A PATCH body
//! becomes a [`SettingsPatch`] (typed, checked), which is what crosses gRPC
//! and what [`ApplicationSettings::apply`] applies. `DELETE` is simply
//! [`ApplicationSettings::default`].
//!
//! Defaults Meta never confirmed (`docs/onprem-api.md` §5.3) are the believed ones:
//! `max_concurrent_requests` 6, `auto_download` empty, garbage collection of
//! messages on and of media off, the security and number-change
//! notifications on, axolotl context striping enabled.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::identity::IdentifierMode;
use crate::status::MessageStatus;

/// Values the old client allowed for `webhooks.max_concurrent_requests`.
pub const MAX_CONCURRENT_REQUESTS_ALLOWED: [u32; 4] = [6, 12, 18, 24];

/// Top-level PATCH fields we validate and store.
const FIELDS: &[&str] = &[
    "webhooks",
    "callback_persist",
    "callback_backoff_delay_ms",
    "max_callback_backoff_delay_ms",
    "sent_status",
    "pass_through",
    "heartbeat_interval",
    "unhealthy_interval",
    "media",
    "garbagecollector_enable",
    "db_garbagecollector_enable",
    "notify_user_change_number",
    "show_security_notifications",
    "axolotl_context_striping_disabled",
    "verbose_logging",
    "log_level",
    "sync_send",
    "identity",
];

/// Fields older clients accepted that have no meaning behind Cloud API (rate
/// limits, pagers, listen addresses of the old containers). A PATCH carrying
/// them succeeds and changes nothing, so old provisioning scripts keep working.
const LEGACY_IGNORED: &[&str] = &[
    "on_call_pager",
    "tcp_listen_address",
    "webcallbacks",
    "contacts_api_rate_limit",
    "control_api_rate_limit",
    "healthcheck_api_rate_limit",
    "messaging_api_rate_limit",
    "contacts_scrape_rate_limit",
    "unique_message_sends_rate_limit",
    "allow_nonexistent_users",
    "dogfood_user_limit",
    "template_send_side_validation_disabled",
    "axolotl_context_striping_logical_core_multiplier",
];

/// The application settings, with the old client's defaults.
///
/// The serde form is the stored form; every level is `#[serde(default)]` so
/// rows written before a field existed still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplicationSettings {
    pub webhooks: WebhookSettings,
    /// Keep pending callbacks in the database until the business acknowledged them.
    pub callback_persist: bool,
    /// Linear backoff step between webhook retries.
    pub callback_backoff_delay_ms: u64,
    /// Cap of the backoff; retries continue forever at the cap.
    pub max_callback_backoff_delay_ms: u64,
    /// Emit `sent` statuses (older switch; see also `webhooks.message.sent`).
    pub sent_status: bool,
    /// wa-onprem's own: `POST /v1/messages` answers only after Cloud
    /// accepted the message, with Cloud's refusal as the on-prem error.
    pub sync_send: bool,
    /// Only ever `false` here: from v2.35 it can no longer be enabled.
    pub pass_through: bool,
    /// Multiconnect heartbeat, seconds (> 0).
    pub heartbeat_interval: u32,
    /// Multiconnect unhealthy threshold, seconds (> 0).
    pub unhealthy_interval: u32,
    pub media: MediaSettings,
    pub garbagecollector_enable: GarbageCollectorSettings,
    pub notify_user_change_number: bool,
    pub show_security_notifications: bool,
    pub axolotl_context_striping_disabled: bool,
    pub verbose_logging: bool,
    pub log_level: LogLevel,
    /// wa-onprem's own: how users without a shared phone number are named.
    pub identity: IdentitySettings,
}

/// `identity` (wa-onprem's own): how users Cloud names only by a
/// business-scoped user ID reach the business (README, "Users without phone
/// numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentitySettings {
    /// `digits` (a stand-in number under a spare country code, the default)
    /// or `bsuid` (the raw BSUID).
    pub identifier: IdentifierMode,
    /// Adds `user_id` and `username` to the `contacts` of inbound webhooks.
    pub user_fields: bool,
}

/// `webhooks`: where callbacks go and how many may be in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Absolute http(s) URL; `None` until configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// One of [`MAX_CONCURRENT_REQUESTS_ALLOWED`].
    pub max_concurrent_requests: u32,
    pub message: MessageStatusToggles,
}

/// `webhooks.message`: per-status webhook toggles (v2.41.2+), and
/// wa-onprem's `played`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageStatusToggles {
    pub sent: bool,
    pub delivered: bool,
    pub read: bool,
    /// Cloud's `played` (a voice message listened to): the old client never
    /// sent it, and integrations with a fixed list of statuses may refuse
    /// it, so it is off unless asked for.
    pub played: bool,
}

/// `media`: which inbound media types are downloaded automatically.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    /// Without duplicates, in the order first given.
    pub auto_download: Vec<AutoDownloadType>,
}

/// `garbagecollector_enable`: what the periodic purge removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GarbageCollectorSettings {
    pub media: bool,
    pub messages: bool,
}

/// An inbound media type that `media.auto_download` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoDownloadType {
    Image,
    Video,
    Voice,
    Sticker,
    Audio,
    Document,
}

/// `log_level`. The old client's list is not documented (only `"info"` is
/// seen); we accept `error`, `warn`, `info`, `debug` and `verbose` (the most
/// detailed, matching the `verbose_logging` switch), case-insensitively, and
/// always return the lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Verbose,
}

// === impl ApplicationSettings ===

impl Default for ApplicationSettings {
    fn default() -> Self {
        ApplicationSettings {
            webhooks: WebhookSettings::default(),
            callback_persist: true,
            callback_backoff_delay_ms: 3_000,
            max_callback_backoff_delay_ms: 900_000,
            sent_status: false,
            sync_send: false,
            pass_through: false,
            heartbeat_interval: 5,
            unhealthy_interval: 30,
            media: MediaSettings::default(),
            garbagecollector_enable: GarbageCollectorSettings::default(),
            notify_user_change_number: true,
            show_security_notifications: true,
            axolotl_context_striping_disabled: false,
            verbose_logging: false,
            log_level: LogLevel::Info,
            identity: IdentitySettings::default(),
        }
    }
}

impl ApplicationSettings {
    /// Applies a PATCH body (the JSON object a legacy client sends): the
    /// same as [`SettingsPatch::parse`] then [`Self::apply`].
    ///
    /// All or nothing: on error `self` is unchanged.
    pub fn apply_patch(&mut self, patch: &Value) -> Result<(), ApiError> {
        self.apply(&SettingsPatch::parse(patch)?)
    }

    /// Applies a patch after [`SettingsPatch::check`]; on error `self` is
    /// unchanged. Absent fields are untouched.
    pub fn apply(&mut self, patch: &SettingsPatch) -> Result<(), ApiError> {
        patch.check()?;
        fn put<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *slot = value.clone();
            }
        }
        // Checked above: every number fits its field.
        fn put_u32(slot: &mut u32, value: Option<u64>) {
            if let Some(value) = value {
                *slot = u32::try_from(value).unwrap_or(u32::MAX);
            }
        }
        put(&mut self.webhooks.url, &patch.webhook_url);
        put_u32(&mut self.webhooks.max_concurrent_requests, patch.max_concurrent_requests);
        let toggles = &mut self.webhooks.message;
        put(&mut toggles.sent, &patch.status_sent);
        put(&mut toggles.delivered, &patch.status_delivered);
        put(&mut toggles.read, &patch.status_read);
        put(&mut toggles.played, &patch.status_played);
        put(&mut self.callback_persist, &patch.callback_persist);
        put(&mut self.callback_backoff_delay_ms, &patch.callback_backoff_delay_ms);
        put(&mut self.max_callback_backoff_delay_ms, &patch.max_callback_backoff_delay_ms);
        put(&mut self.sent_status, &patch.sent_status);
        put(&mut self.sync_send, &patch.sync_send);
        put_u32(&mut self.heartbeat_interval, patch.heartbeat_interval);
        put_u32(&mut self.unhealthy_interval, patch.unhealthy_interval);
        if let Some(types) = &patch.auto_download {
            self.media.auto_download.clear();
            for t in types {
                if !self.media.auto_download.contains(t) {
                    self.media.auto_download.push(*t);
                }
            }
        }
        put(&mut self.garbagecollector_enable.media, &patch.gc_media);
        put(&mut self.garbagecollector_enable.messages, &patch.gc_messages);
        put(&mut self.notify_user_change_number, &patch.notify_user_change_number);
        put(&mut self.show_security_notifications, &patch.show_security_notifications);
        put(&mut self.axolotl_context_striping_disabled, &patch.axolotl_context_striping_disabled);
        put(&mut self.verbose_logging, &patch.verbose_logging);
        put(&mut self.log_level, &patch.log_level);
        put(&mut self.identity.identifier, &patch.identifier);
        put(&mut self.identity.user_fields, &patch.user_fields);
        Ok(())
    }

    /// The `application` object as GET returns it, nested like the old
    /// client, every key present: `webhooks.url` and `wa_id` (the number's,
    /// when known) are empty strings while unset; `db_garbagecollector_enable` mirrors `garbagecollector_enable.messages`
    /// for clients that only know the flat name.
    pub fn to_onprem_json(&self, wa_id: Option<&str>) -> Value {
        // The old client always returned `url` (empty until configured);
        // Meta's own tools read it unconditionally.
        let webhooks = json!({
            "url": self.webhooks.url.as_deref().unwrap_or(""),
            "max_concurrent_requests": self.webhooks.max_concurrent_requests,
            "message": {
                "sent": self.webhooks.message.sent,
                "delivered": self.webhooks.message.delivered,
                "read": self.webhooks.message.read,
                "played": self.webhooks.message.played,
            },
        });
        let auto_download: Vec<&str> = self.media.auto_download.iter().map(|t| t.as_str()).collect();
        let mut application = json!({
            "webhooks": webhooks,
            "callback_persist": self.callback_persist,
            "callback_backoff_delay_ms": self.callback_backoff_delay_ms,
            "max_callback_backoff_delay_ms": self.max_callback_backoff_delay_ms,
            "sent_status": self.sent_status,
            "sync_send": self.sync_send,
            "pass_through": self.pass_through,
            "heartbeat_interval": self.heartbeat_interval,
            "unhealthy_interval": self.unhealthy_interval,
            "media": {"auto_download": auto_download},
            "garbagecollector_enable": {
                "media": self.garbagecollector_enable.media,
                "messages": self.garbagecollector_enable.messages,
            },
            "db_garbagecollector_enable": self.garbagecollector_enable.messages,
            "notify_user_change_number": self.notify_user_change_number,
            "show_security_notifications": self.show_security_notifications,
            "axolotl_context_striping_disabled": self.axolotl_context_striping_disabled,
            "verbose_logging": self.verbose_logging,
            "log_level": self.log_level.as_str(),
            "identity": {
                "identifier": self.identity.identifier.as_str(),
                "user_fields": self.identity.user_fields,
            },
        });
        application["wa_id"] = Value::String(wa_id.unwrap_or_default().to_owned());
        application
    }

    /// Parses the stored form (what [`Self::to_stored`] wrote). Missing
    /// fields take their defaults and unknown ones are ignored, so rows from
    /// older and newer versions load.
    pub fn from_stored(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("application settings serialise")
    }

    /// Linear retry delay for the n-th consecutive failure (n >= 1) of a
    /// webhook delivery: `n * callback_backoff_delay_ms`, capped at
    /// `max_callback_backoff_delay_ms`. `failures == 0` gives zero.
    pub fn callback_retry_delay(&self, failures: u32) -> Duration {
        let ms =
            u64::from(failures).saturating_mul(self.callback_backoff_delay_ms).min(self.max_callback_backoff_delay_ms);
        Duration::from_millis(ms)
    }

    /// Whether a status webhook of this kind goes to the business. `sent`
    /// needs either `sent_status` or `webhooks.message.sent`; `delivered` and
    /// `read` (and `played`) follow their `webhooks.message` toggles;
    /// `failed` is always sent.
    pub fn status_webhook_enabled(&self, status: MessageStatus) -> bool {
        match status {
            MessageStatus::Sent => self.sent_status || self.webhooks.message.sent,
            MessageStatus::Delivered => self.webhooks.message.delivered,
            MessageStatus::Read => self.webhooks.message.read,
            MessageStatus::Played => self.webhooks.message.played,
            MessageStatus::Failed => true,
        }
    }

    /// Whether inbound media of this on-prem type (`image`, `voice`, ...) is
    /// downloaded automatically.
    pub fn auto_downloads(&self, media_type: &str) -> bool {
        AutoDownloadType::parse(media_type).is_some_and(|t| self.media.auto_download.contains(&t))
    }
}

// === impl WebhookSettings ===

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings { url: None, max_concurrent_requests: 6, message: MessageStatusToggles::default() }
    }
}

// === impl MessageStatusToggles ===

impl Default for MessageStatusToggles {
    fn default() -> Self {
        MessageStatusToggles { sent: false, delivered: true, read: true, played: false }
    }
}

// === impl GarbageCollectorSettings ===

impl Default for GarbageCollectorSettings {
    fn default() -> Self {
        GarbageCollectorSettings { media: false, messages: true }
    }
}

// === impl AutoDownloadType ===

impl AutoDownloadType {
    pub const ALL: [AutoDownloadType; 6] = [
        AutoDownloadType::Image,
        AutoDownloadType::Video,
        AutoDownloadType::Voice,
        AutoDownloadType::Sticker,
        AutoDownloadType::Audio,
        AutoDownloadType::Document,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AutoDownloadType::Image => "image",
            AutoDownloadType::Video => "video",
            AutoDownloadType::Voice => "voice",
            AutoDownloadType::Sticker => "sticker",
            AutoDownloadType::Audio => "audio",
            AutoDownloadType::Document => "document",
        }
    }

    /// The type for its on-prem name (exact, lowercase).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

// === impl LogLevel ===

impl LogLevel {
    pub const ALL: [LogLevel; 5] =
        [LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug, LogLevel::Verbose];

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
        }
    }

    /// The level for a name, ignoring ASCII case.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(name))
    }
}

// === SettingsPatch ===

/// What a PATCH asks to change, typed; `None` leaves a field as it is.
///
/// [`SettingsPatch::parse`] reads a legacy client's body (the webapp does,
/// so a bad request never reaches a coreapp) and [`SettingsPatch::check`]
/// holds the invariants on the typed value (the coreapp checks again what
/// it received). Numbers are as wide as a client may send them, so a value
/// out of range is refused naming it, not truncated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsPatch {
    /// `webhooks.url`; `Some(None)` clears it (`""` or `null` in the body).
    pub webhook_url: Option<Option<String>>,
    /// `webhooks.max_concurrent_requests`.
    pub max_concurrent_requests: Option<u64>,
    /// `webhooks.message.sent`, `.delivered`, `.read`, `.played`.
    pub status_sent: Option<bool>,
    pub status_delivered: Option<bool>,
    pub status_read: Option<bool>,
    pub status_played: Option<bool>,
    pub callback_persist: Option<bool>,
    pub callback_backoff_delay_ms: Option<u64>,
    pub max_callback_backoff_delay_ms: Option<u64>,
    pub sent_status: Option<bool>,
    pub sync_send: Option<bool>,
    pub heartbeat_interval: Option<u64>,
    pub unhealthy_interval: Option<u64>,
    /// `media.auto_download`: replaces the list (duplicates are dropped
    /// when applied).
    pub auto_download: Option<Vec<AutoDownloadType>>,
    /// `garbagecollector_enable.media`.
    pub gc_media: Option<bool>,
    /// `garbagecollector_enable.messages`, or the older flat
    /// `db_garbagecollector_enable`.
    pub gc_messages: Option<bool>,
    pub notify_user_change_number: Option<bool>,
    pub show_security_notifications: Option<bool>,
    pub axolotl_context_striping_disabled: Option<bool>,
    pub verbose_logging: Option<bool>,
    pub log_level: Option<LogLevel>,
    /// `identity.identifier`.
    pub identifier: Option<IdentifierMode>,
    /// `identity.user_fields`.
    pub user_fields: Option<bool>,
}

impl SettingsPatch {
    /// Reads a PATCH body and checks it.
    ///
    /// Unknown fields next to recognised ones are ignored, as are the legacy
    /// fields in `LEGACY_IGNORED`. `wa_id` is read-only and treated like an
    /// unknown field: ignored next to others (so a client can PATCH back
    /// what GET returned), but alone it is "No valid parameters provided"
    /// rather than a silent success that changed nothing. Fields are read in
    /// a fixed order, so the first error reported does not depend on the
    /// body's key order.
    pub fn parse(body: &Value) -> Result<SettingsPatch, ApiError> {
        let Value::Object(body) = body else {
            return Err(ApiError::invalid("Invalid settings payload: expected a JSON object"));
        };
        let recognised = body.keys().any(|k| FIELDS.contains(&k.as_str()) || LEGACY_IGNORED.contains(&k.as_str()));
        if !recognised {
            return Err(ApiError::invalid("No valid parameters provided"));
        }
        let mut patch = SettingsPatch::default();
        if let Some(v) = body.get("webhooks") {
            let webhooks = object("webhooks", v)?;
            patch.webhook_url = field(webhooks, "webhooks.", "url", webhook_url)?;
            patch.max_concurrent_requests = field(webhooks, "webhooks.", "max_concurrent_requests", number)?;
            if let Some(v) = webhooks.get("message") {
                let message = object("webhooks.message", v)?;
                let prefix = "webhooks.message.";
                patch.status_sent = field(message, prefix, "sent", boolean)?;
                patch.status_delivered = field(message, prefix, "delivered", boolean)?;
                patch.status_read = field(message, prefix, "read", boolean)?;
                patch.status_played = field(message, prefix, "played", boolean)?;
            }
        }
        patch.callback_persist = field(body, "", "callback_persist", boolean)?;
        patch.callback_backoff_delay_ms = field(body, "", "callback_backoff_delay_ms", millis)?;
        patch.max_callback_backoff_delay_ms = field(body, "", "max_callback_backoff_delay_ms", millis)?;
        patch.sent_status = field(body, "", "sent_status", boolean)?;
        patch.sync_send = field(body, "", "sync_send", boolean)?;
        if field(body, "", "pass_through", boolean)? == Some(true) {
            return Err(ApiError::invalid(
                "Parameter 'pass_through' has invalid value 'true': \
                 pass_through can no longer be enabled (since v2.35)",
            ));
        }
        patch.heartbeat_interval = field(body, "", "heartbeat_interval", number)?;
        patch.unhealthy_interval = field(body, "", "unhealthy_interval", number)?;
        if let Some(v) = body.get("media") {
            let media = object("media", v)?;
            patch.auto_download = field(media, "media.", "auto_download", auto_download)?;
        }
        patch.gc_messages = garbage_collected_messages(body)?;
        if let Some(v) = body.get("garbagecollector_enable") {
            let gc = object("garbagecollector_enable", v)?;
            patch.gc_media = field(gc, "garbagecollector_enable.", "media", boolean)?;
        }
        patch.notify_user_change_number = field(body, "", "notify_user_change_number", boolean)?;
        patch.show_security_notifications = field(body, "", "show_security_notifications", boolean)?;
        patch.axolotl_context_striping_disabled = field(body, "", "axolotl_context_striping_disabled", boolean)?;
        patch.verbose_logging = field(body, "", "verbose_logging", boolean)?;
        patch.log_level = field(body, "", "log_level", log_level)?;
        if let Some(v) = body.get("identity") {
            let identity = object("identity", v)?;
            patch.identifier = field(identity, "identity.", "identifier", identifier_mode)?;
            patch.user_fields = field(identity, "identity.", "user_fields", boolean)?;
        }
        patch.check()?;
        Ok(patch)
    }

    /// The invariants of a patch, whoever built it: a webhook URL that is
    /// an absolute http(s) URL, an allowed `max_concurrent_requests`, and
    /// numbers within their ranges (far out of range, they would overflow
    /// the arithmetic of retry times).
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(Some(url)) = &self.webhook_url
            && !is_webhook_url(url)
        {
            return Err(ApiError::invalid_value("webhooks.url", url));
        }
        if let Some(n) = self.max_concurrent_requests
            && !MAX_CONCURRENT_REQUESTS_ALLOWED.iter().any(|&allowed| u64::from(allowed) == n)
        {
            return Err(ApiError::invalid_value("webhooks.max_concurrent_requests", n));
        }
        within("callback_backoff_delay_ms", self.callback_backoff_delay_ms, 0..=MAX_BACKOFF_STEP_MS)?;
        within("max_callback_backoff_delay_ms", self.max_callback_backoff_delay_ms, 0..=MAX_BACKOFF_CAP_MS)?;
        within("heartbeat_interval", self.heartbeat_interval, 1..=u64::from(MAX_HEARTBEAT_S))?;
        within("unhealthy_interval", self.unhealthy_interval, 1..=u64::from(MAX_UNHEALTHY_S))?;
        Ok(())
    }
}

/// Largest `callback_backoff_delay_ms`: one hour between retries.
pub const MAX_BACKOFF_STEP_MS: u64 = 3_600_000;
/// Largest `max_callback_backoff_delay_ms`: one day.
pub const MAX_BACKOFF_CAP_MS: u64 = 86_400_000;
/// Largest `heartbeat_interval`, seconds.
pub const MAX_HEARTBEAT_S: u32 = 3_600;
/// Largest `unhealthy_interval`, seconds.
pub const MAX_UNHEALTHY_S: u32 = 86_400;

/// 1009 naming the range when `value` is given and outside it.
fn within(param: &str, value: Option<u64>, range: std::ops::RangeInclusive<u64>) -> Result<(), ApiError> {
    match value {
        Some(value) if !range.contains(&value) => Err(ApiError::invalid(format!(
            "Parameter '{param}' has invalid value '{value}': expected {} to {}",
            range.start(),
            range.end()
        ))),
        _ => Ok(()),
    }
}

/// `garbagecollector_enable.messages` and the older flat
/// `db_garbagecollector_enable`, which means the same. When a body has both
/// and they disagree we refuse rather than pick one silently: either choice
/// loses the client's edit when it PATCHes back a whole GET body.
fn garbage_collected_messages(body: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    let flat = field(body, "", "db_garbagecollector_enable", boolean)?;
    let nested = match body.get("garbagecollector_enable") {
        Some(v) => field(object("garbagecollector_enable", v)?, "garbagecollector_enable.", "messages", boolean)?,
        None => None,
    };
    match (flat, nested) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(format!(
            "Parameter 'db_garbagecollector_enable' has invalid value '{a}': \
             it conflicts with 'garbagecollector_enable.messages' ({b})"
        ))),
        (flat, nested) => Ok(flat.or(nested)),
    }
}

// === PATCH value parsers ===
//
// Each takes the dotted parameter name used in error details and the raw
// JSON value; wrong types are 1009.

/// Parses `obj[key]` when present.
fn field<T>(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
    parse: fn(&str, &Value) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    obj.get(key).map(|v| parse(&format!("{prefix}{key}"), v)).transpose()
}

/// 1009 `Parameter '<param>' has invalid value '<v>'`; strings are shown
/// without their JSON quotes, like the old client.
fn invalid(param: &str, v: &Value) -> ApiError {
    match v {
        Value::String(s) => ApiError::invalid_value(param, s),
        other => ApiError::invalid_value(param, other),
    }
}

fn object<'a>(param: &str, v: &'a Value) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| invalid(param, v))
}

/// Only JSON booleans: `"true"` and `1` are refused, as by the old client.
fn boolean(param: &str, v: &Value) -> Result<bool, ApiError> {
    v.as_bool().ok_or_else(|| invalid(param, v))
}

/// A non-negative whole JSON number.
fn number(param: &str, v: &Value) -> Result<u64, ApiError> {
    v.as_u64().ok_or_else(|| invalid(param, v))
}

/// A non-negative integer given as a JSON number or, as legacy clients send
/// it, a string of digits.
fn millis(param: &str, v: &Value) -> Result<u64, ApiError> {
    let parsed = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| invalid(param, v))
}

/// An array of media type names, in the order given.
fn auto_download(param: &str, v: &Value) -> Result<Vec<AutoDownloadType>, ApiError> {
    let items = v.as_array().ok_or_else(|| invalid(param, v))?;
    items
        .iter()
        .map(|item| item.as_str().and_then(AutoDownloadType::parse).ok_or_else(|| invalid(param, item)))
        .collect()
}

fn identifier_mode(param: &str, v: &Value) -> Result<IdentifierMode, ApiError> {
    v.as_str().and_then(IdentifierMode::parse).ok_or_else(|| invalid(param, v))
}

fn log_level(param: &str, v: &Value) -> Result<LogLevel, ApiError> {
    v.as_str().and_then(LogLevel::parse).ok_or_else(|| invalid(param, v))
}

/// `""` and `null` (which clients also use for "unset") clear the URL; any
/// other string is checked by [`SettingsPatch::check`].
fn webhook_url(param: &str, v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(invalid(param, v)),
    }
}

/// A deliberately small check (the `url` crate is not a dependency of this
/// pure crate): scheme http or https (any case), then an authority with an
/// optional `userinfo@`, a non-empty host (DNS-like name, IPv4, or bracketed
/// IPv6) and an optional numeric port; no whitespace or control characters.
fn is_webhook_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let has_scheme = |scheme: &str| url.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme));
    let rest = if has_scheme("https://") {
        &url["https://".len()..]
    } else if has_scheme("http://") {
        &url["http://".len()..]
    } else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host_ok, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((inside, tail)) = bracketed.split_once(']') else {
            return false;
        };
        let port = match tail {
            "" => None,
            t => match t.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        let ok = inside.contains(':') && inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        (ok, port)
    } else {
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        };
        (is_host_name(host), port)
    };
    // An empty port ("host:/") means the default one, as in WHATWG URLs.
    let port_ok = port.is_none_or(|p| p.is_empty() || p.parse::<u16>().is_ok());
    host_ok && port_ok
}

/// Labels of letters, digits, `-` and `_` separated by dots; a single
/// trailing dot (fully qualified name) is allowed.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn patched(patch: Value) -> ApplicationSettings {
        let mut s = ApplicationSettings::default();
        s.apply_patch(&patch).unwrap_or_else(|e| panic!("{patch}: {e}"));
        s
    }

    fn patch_err(patch: Value) -> ApiError {
        let mut s = ApplicationSettings::default();
        let err = s.apply_patch(&patch).expect_err(&patch.to_string());
        assert_eq!(s, ApplicationSettings::default(), "unchanged after error: {patch}");
        err
    }

    #[test]
    fn defaults_match_the_old_client() {
        let s = ApplicationSettings::default();
        assert_eq!(s.webhooks.url, None);
        assert_eq!(s.webhooks.max_concurrent_requests, 6);
        assert_eq!(
            s.webhooks.message,
            MessageStatusToggles { sent: false, delivered: true, read: true, played: false }
        );
        assert!(s.callback_persist);
        assert_eq!(s.callback_backoff_delay_ms, 3000);
        assert_eq!(s.max_callback_backoff_delay_ms, 900_000);
        assert!(!s.sent_status);
        assert!(!s.pass_through);
        assert_eq!(s.heartbeat_interval, 5);
        assert_eq!(s.unhealthy_interval, 30);
        assert!(s.media.auto_download.is_empty());
        assert_eq!(s.garbagecollector_enable, GarbageCollectorSettings { media: false, messages: true });
        assert!(s.notify_user_change_number);
        assert!(s.show_security_notifications);
        assert!(!s.axolotl_context_striping_disabled);
        assert!(!s.verbose_logging);
        assert_eq!(s.log_level, LogLevel::Info);
    }

    #[test]
    fn identity_is_patched_field_by_field() {
        let mut s = ApplicationSettings::default();
        assert_eq!(s.identity, IdentitySettings { identifier: IdentifierMode::Digits, user_fields: false });
        s.apply_patch(&json!({"identity": {"identifier": "bsuid"}})).unwrap();
        assert_eq!(s.identity, IdentitySettings { identifier: IdentifierMode::Bsuid, user_fields: false });
        s.apply_patch(&json!({"identity": {"user_fields": true}})).unwrap();
        assert_eq!(s.identity, IdentitySettings { identifier: IdentifierMode::Bsuid, user_fields: true });
        assert_eq!(s.to_onprem_json(None)["identity"], json!({"identifier": "bsuid", "user_fields": true}));
        let stored = ApplicationSettings::from_stored(&s.to_stored()).unwrap();
        assert_eq!(stored.identity, s.identity);
        // Rows stored before the field existed load with the default.
        let old = ApplicationSettings::from_stored(r#"{"sync_send":true}"#).unwrap();
        assert_eq!(old.identity, IdentitySettings::default());
    }

    #[test]
    fn get_shape_of_defaults() {
        // Every key is there even when unset, as the old client returned it.
        let expected = json!({
            "wa_id": "",
            "webhooks": {
                "url": "",
                "max_concurrent_requests": 6,
                "message": {"sent": false, "delivered": true, "read": true, "played": false}
            },
            "callback_persist": true,
            "callback_backoff_delay_ms": 3000,
            "max_callback_backoff_delay_ms": 900000,
            "sent_status": false,
            "sync_send": false,
            "pass_through": false,
            "heartbeat_interval": 5,
            "unhealthy_interval": 30,
            "media": {"auto_download": []},
            "garbagecollector_enable": {"media": false, "messages": true},
            "db_garbagecollector_enable": true,
            "notify_user_change_number": true,
            "show_security_notifications": true,
            "axolotl_context_striping_disabled": false,
            "verbose_logging": false,
            "log_level": "info",
            "identity": {"identifier": "digits", "user_fields": false}
        });
        assert_eq!(ApplicationSettings::default().to_onprem_json(None), expected);
    }

    #[test]
    fn get_shape_with_url_and_wa_id() {
        let s = patched(json!({
            "webhooks": {"url": "https://hooks.example.com/wa", "max_concurrent_requests": 12},
            "media": {"auto_download": ["image", "document"]}
        }));
        let got = s.to_onprem_json(Some("16315551019"));
        assert_eq!(got["wa_id"], "16315551019");
        assert_eq!(got["webhooks"]["url"], "https://hooks.example.com/wa");
        assert_eq!(got["webhooks"]["max_concurrent_requests"], 12);
        assert_eq!(got["media"], json!({"auto_download": ["image", "document"]}));
    }

    #[test]
    fn backoffs_accept_numbers_and_numeric_strings() {
        let cases = [
            (json!({"callback_backoff_delay_ms": "5000"}), 5000, 900_000),
            (json!({"callback_backoff_delay_ms": 5000}), 5000, 900_000),
            (json!({"max_callback_backoff_delay_ms": "60000"}), 3000, 60_000),
            (json!({"callback_backoff_delay_ms": "0", "max_callback_backoff_delay_ms": 0}), 0, 0),
            // A cap below the step is accepted; the cap simply applies.
            (json!({"callback_backoff_delay_ms": 10_000, "max_callback_backoff_delay_ms": "1000"}), 10_000, 1000),
        ];
        for (patch, delay, max) in cases {
            let s = patched(patch.clone());
            assert_eq!((s.callback_backoff_delay_ms, s.max_callback_backoff_delay_ms), (delay, max), "{patch}");
            let got = s.to_onprem_json(None);
            assert!(got["callback_backoff_delay_ms"].is_u64(), "GET returns numbers: {patch}");
            assert!(got["max_callback_backoff_delay_ms"].is_u64(), "GET returns numbers: {patch}");
        }
    }

    #[test]
    fn numbers_out_of_their_range_are_refused() {
        let cases = [
            json!({"callback_backoff_delay_ms": "9223372036854775808"}),
            json!({"callback_backoff_delay_ms": 3_600_001}),
            json!({"max_callback_backoff_delay_ms": u64::MAX}),
            json!({"max_callback_backoff_delay_ms": "86400001"}),
            json!({"callback_backoff_delay_ms": "99999999999999999999999"}),
            json!({"heartbeat_interval": 0}),
            json!({"heartbeat_interval": 3601}),
            json!({"unhealthy_interval": 86_401}),
            json!({"unhealthy_interval": 4_294_967_296u64}),
        ];
        for patch in cases {
            let mut s = ApplicationSettings::default();
            let err = s.apply_patch(&patch).unwrap_err();
            assert_eq!(err.code, ErrorCode::ParameterInvalid, "{patch}");
            assert_eq!(s, ApplicationSettings::default(), "nothing applied: {patch}");
        }
        let s = patched(json!({"callback_backoff_delay_ms": 3_600_000, "max_callback_backoff_delay_ms": "86400000"}));
        assert_eq!(s.callback_retry_delay(u32::MAX), Duration::from_millis(86_400_000));
    }

    #[test]
    fn invalid_values_are_1009_naming_the_parameter() {
        let cases = [
            (json!({"webhooks": "https://x.example"}), "webhooks"),
            (json!({"webhooks": {"url": 5}}), "webhooks.url"),
            (json!({"webhooks": {"url": "ftp://x.example/hook"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "https://"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "https:///path"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "hooks.example.com/wa"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "/relative"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "https://exa mple.com/"}}), "webhooks.url"),
            (json!({"webhooks": {"url": " https://example.com/"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "http://example.com:99999/"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "http://example..com/"}}), "webhooks.url"),
            (json!({"webhooks": {"url": "http://[zz::1]/"}}), "webhooks.url"),
            (json!({"webhooks": {"max_concurrent_requests": 7}}), "webhooks.max_concurrent_requests"),
            (json!({"webhooks": {"max_concurrent_requests": "12"}}), "webhooks.max_concurrent_requests"),
            (json!({"webhooks": {"max_concurrent_requests": 12.5}}), "webhooks.max_concurrent_requests"),
            (json!({"webhooks": {"message": true}}), "webhooks.message"),
            (json!({"webhooks": {"message": {"sent": "true"}}}), "webhooks.message.sent"),
            (json!({"webhooks": {"message": {"delivered": 1}}}), "webhooks.message.delivered"),
            (json!({"webhooks": {"message": {"read": null}}}), "webhooks.message.read"),
            (json!({"callback_persist": "true"}), "callback_persist"),
            (json!({"callback_backoff_delay_ms": -1}), "callback_backoff_delay_ms"),
            (json!({"callback_backoff_delay_ms": 1.5}), "callback_backoff_delay_ms"),
            (json!({"callback_backoff_delay_ms": "abc"}), "callback_backoff_delay_ms"),
            (json!({"callback_backoff_delay_ms": "-5"}), "callback_backoff_delay_ms"),
            (json!({"callback_backoff_delay_ms": "1.5"}), "callback_backoff_delay_ms"),
            (json!({"callback_backoff_delay_ms": ""}), "callback_backoff_delay_ms"),
            (json!({"callback_backoff_delay_ms": true}), "callback_backoff_delay_ms"),
            (json!({"max_callback_backoff_delay_ms": "3e3"}), "max_callback_backoff_delay_ms"),
            (json!({"max_callback_backoff_delay_ms": "99999999999999999999999"}), "max_callback_backoff_delay_ms"),
            (json!({"sent_status": 1}), "sent_status"),
            (json!({"pass_through": "false"}), "pass_through"),
            (json!({"pass_through": true}), "pass_through"),
            (json!({"heartbeat_interval": 0}), "heartbeat_interval"),
            (json!({"heartbeat_interval": -1}), "heartbeat_interval"),
            (json!({"heartbeat_interval": "5"}), "heartbeat_interval"),
            (json!({"unhealthy_interval": 0}), "unhealthy_interval"),
            (json!({"unhealthy_interval": 2.5}), "unhealthy_interval"),
            (json!({"media": ["image"]}), "media"),
            (json!({"media": {"auto_download": "image"}}), "media.auto_download"),
            (json!({"media": {"auto_download": ["image", "gif"]}}), "media.auto_download"),
            (json!({"media": {"auto_download": ["IMAGE"]}}), "media.auto_download"),
            (json!({"media": {"auto_download": [1]}}), "media.auto_download"),
            (json!({"garbagecollector_enable": true}), "garbagecollector_enable"),
            (json!({"garbagecollector_enable": {"media": "yes"}}), "garbagecollector_enable.media"),
            (json!({"garbagecollector_enable": {"messages": 0}}), "garbagecollector_enable.messages"),
            (json!({"db_garbagecollector_enable": 1}), "db_garbagecollector_enable"),
            (
                json!({"db_garbagecollector_enable": false, "garbagecollector_enable": {"messages": true}}),
                "db_garbagecollector_enable",
            ),
            (json!({"notify_user_change_number": "yes"}), "notify_user_change_number"),
            (json!({"show_security_notifications": 0}), "show_security_notifications"),
            (json!({"axolotl_context_striping_disabled": "false"}), "axolotl_context_striping_disabled"),
            (json!({"verbose_logging": 1}), "verbose_logging"),
            (json!({"log_level": "loud"}), "log_level"),
            (json!({"log_level": 3}), "log_level"),
            (json!({"identity": "bsuid"}), "identity"),
            (json!({"identity": {"identifier": "phone"}}), "identity.identifier"),
            (json!({"identity": {"identifier": "BSUID"}}), "identity.identifier"),
            (json!({"identity": {"user_fields": "yes"}}), "identity.user_fields"),
        ];
        for (patch, param) in cases {
            let err = patch_err(patch.clone());
            assert_eq!(err.code, ErrorCode::ParameterInvalid, "{patch}");
            assert!(err.details.contains(&format!("'{param}'")), "{patch}: {}", err.details);
        }
    }

    #[test]
    fn invalid_value_details_read_like_the_old_client() {
        let cases = [
            (
                json!({"webhooks": {"message": {"sent": "true"}}}),
                "Parameter 'webhooks.message.sent' has invalid value 'true'",
            ),
            (json!({"callback_persist": 1}), "Parameter 'callback_persist' has invalid value '1'"),
            (json!({"media": {"auto_download": ["gif"]}}), "Parameter 'media.auto_download' has invalid value 'gif'"),
            (
                json!({"webhooks": {"max_concurrent_requests": 7}}),
                "Parameter 'webhooks.max_concurrent_requests' has invalid value '7'",
            ),
        ];
        for (patch, details) in cases {
            assert_eq!(patch_err(patch).details, details);
        }
        let err = patch_err(json!({"pass_through": true}));
        assert!(err.details.contains("can no longer be enabled"), "{}", err.details);
    }

    #[test]
    fn non_object_body_is_an_invalid_payload() {
        for body in [json!([]), json!(null), json!("x"), json!(1)] {
            let err = patch_err(body);
            assert_eq!(err.code, ErrorCode::ParameterInvalid);
            assert!(err.details.starts_with("Invalid settings payload"), "{}", err.details);
        }
    }

    #[test]
    fn no_recognised_field_is_no_valid_parameters() {
        for body in
            [json!({}), json!({"foo": 1}), json!({"wa_id": "16315551019"}), json!({"settings": {"application": {}}})]
        {
            let err = patch_err(body.clone());
            assert_eq!(err.code, ErrorCode::ParameterInvalid, "{body}");
            assert_eq!(err.details, "No valid parameters provided", "{body}");
        }
    }

    #[test]
    fn legacy_fields_are_accepted_and_ignored() {
        for key in LEGACY_IGNORED {
            let mut body = Map::new();
            body.insert((*key).to_owned(), json!("anything"));
            let s = patched(Value::Object(body));
            assert_eq!(s, ApplicationSettings::default(), "{key}");
        }
        let s = patched(json!({"messaging_api_rate_limit": [1, 2], "on_call_pager": 5, "dogfood_user_limit": {}}));
        assert_eq!(s, ApplicationSettings::default());
    }

    #[test]
    fn unknown_fields_and_wa_id_next_to_known_ones_are_ignored() {
        let s = patched(json!({"sent_status": true, "bogus": 1, "wa_id": "1555"}));
        assert_eq!(s, ApplicationSettings { sent_status: true, ..Default::default() });
    }

    #[test]
    fn partial_nested_patch_leaves_siblings() {
        let mut s = patched(json!({
            "webhooks": {"url": "https://hooks.example.com/wa", "max_concurrent_requests": 18,
                         "message": {"sent": true}},
            "garbagecollector_enable": {"media": true}
        }));
        s.apply_patch(&json!({"webhooks": {"message": {"read": false}}})).unwrap();
        assert_eq!(s.webhooks.url.as_deref(), Some("https://hooks.example.com/wa"));
        assert_eq!(s.webhooks.max_concurrent_requests, 18);
        assert_eq!(
            s.webhooks.message,
            MessageStatusToggles { sent: true, delivered: true, read: false, played: false }
        );
        assert_eq!(s.garbagecollector_enable, GarbageCollectorSettings { media: true, messages: true });

        s.apply_patch(&json!({"garbagecollector_enable": {"messages": false}})).unwrap();
        assert_eq!(s.garbagecollector_enable, GarbageCollectorSettings { media: true, messages: false });
        s.apply_patch(&json!({"webhooks": {}, "media": {}})).unwrap();
        assert_eq!(s.webhooks.url.as_deref(), Some("https://hooks.example.com/wa"));
    }

    #[test]
    fn every_field_can_be_set() {
        let s = patched(json!({
            "webhooks": {"url": "http://localhost:8080/hook", "max_concurrent_requests": 24,
                         "message": {"sent": true, "delivered": false, "read": false}},
            "callback_persist": false,
            "callback_backoff_delay_ms": 1000,
            "max_callback_backoff_delay_ms": 5000,
            "sent_status": true,
            "sync_send": true,
            "pass_through": false,
            "heartbeat_interval": 10,
            "unhealthy_interval": 60,
            "media": {"auto_download": ["video", "voice", "sticker", "audio"]},
            "garbagecollector_enable": {"media": true, "messages": false},
            "notify_user_change_number": false,
            "show_security_notifications": false,
            "axolotl_context_striping_disabled": true,
            "verbose_logging": true,
            "log_level": "DEBUG"
        }));
        let expected = ApplicationSettings {
            webhooks: WebhookSettings {
                url: Some("http://localhost:8080/hook".into()),
                max_concurrent_requests: 24,
                message: MessageStatusToggles { sent: true, delivered: false, read: false, played: false },
            },
            callback_persist: false,
            callback_backoff_delay_ms: 1000,
            max_callback_backoff_delay_ms: 5000,
            sent_status: true,
            sync_send: true,
            pass_through: false,
            heartbeat_interval: 10,
            unhealthy_interval: 60,
            media: MediaSettings {
                auto_download: vec![
                    AutoDownloadType::Video,
                    AutoDownloadType::Voice,
                    AutoDownloadType::Sticker,
                    AutoDownloadType::Audio,
                ],
            },
            garbagecollector_enable: GarbageCollectorSettings { media: true, messages: false },
            notify_user_change_number: false,
            show_security_notifications: false,
            axolotl_context_striping_disabled: true,
            verbose_logging: true,
            log_level: LogLevel::Debug,
            identity: IdentitySettings::default(),
        };
        assert_eq!(s, expected);
        assert_eq!(s.to_onprem_json(None)["log_level"], "debug");
    }

    #[test]
    fn valid_webhook_urls() {
        for url in [
            "https://hooks.example.com/wa",
            "http://localhost:8080/hook",
            "HTTPS://Example.COM",
            "https://example.com.",
            "https://user:secret@example.com/x?y=1#z",
            "http://10.0.0.5:3000",
            "https://[::1]:8443/hook",
            "http://host_name.internal:/p",
            "https://bücher.example/",
        ] {
            let s = patched(json!({"webhooks": {"url": url}}));
            assert_eq!(s.webhooks.url.as_deref(), Some(url));
        }
    }

    #[test]
    fn empty_or_null_url_clears_it() {
        for clear in [json!(""), Value::Null] {
            let mut s = patched(json!({"webhooks": {"url": "https://hooks.example.com/wa"}}));
            s.apply_patch(&json!({"webhooks": {"url": clear}})).unwrap();
            assert_eq!(s.webhooks.url, None);
            assert_eq!(s.to_onprem_json(None)["webhooks"]["url"], "", "the key stays, as in the old client");
        }
    }

    #[test]
    fn auto_download_drops_duplicates_keeping_order() {
        let s = patched(json!({"media": {"auto_download": ["document", "image", "document", "image"]}}));
        assert_eq!(s.media.auto_download, [AutoDownloadType::Document, AutoDownloadType::Image]);
        assert!(s.auto_downloads("image"));
        assert!(!s.auto_downloads("voice"));
        assert!(!s.auto_downloads("gif"));
        let cleared = {
            let mut s = s.clone();
            s.apply_patch(&json!({"media": {"auto_download": []}})).unwrap();
            s
        };
        assert!(cleared.media.auto_download.is_empty());
    }

    #[test]
    fn flat_db_garbagecollector_sets_messages() {
        let s = patched(json!({"db_garbagecollector_enable": false}));
        assert_eq!(s.garbagecollector_enable, GarbageCollectorSettings { media: false, messages: false });
        let got = s.to_onprem_json(None);
        assert_eq!(got["db_garbagecollector_enable"], false);
        assert_eq!(got["garbagecollector_enable"], json!({"media": false, "messages": false}));
        // Both forms agreeing is fine.
        let s = patched(
            json!({"db_garbagecollector_enable": false, "garbagecollector_enable": {"messages": false, "media": true}}),
        );
        assert_eq!(s.garbagecollector_enable, GarbageCollectorSettings { media: true, messages: false });
    }

    #[test]
    fn errors_leave_settings_unchanged() {
        let mut s = patched(json!({"webhooks": {"url": "https://hooks.example.com/wa"}}));
        let before = s.clone();
        // Valid fields come before and after the bad one; none may stick.
        let err = s
            .apply_patch(&json!({
                "webhooks": {"url": "", "max_concurrent_requests": 12},
                "sent_status": true,
                "heartbeat_interval": 0,
                "log_level": "debug"
            }))
            .unwrap_err();
        assert!(err.details.contains("'heartbeat_interval'"));
        assert_eq!(s, before);
    }

    #[test]
    fn patching_back_a_get_body_is_accepted() {
        let s = patched(json!({"webhooks": {"url": "https://hooks.example.com/wa"}, "sent_status": true}));
        let mut again = ApplicationSettings::default();
        again.apply_patch(&s.to_onprem_json(Some("16315551019"))).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn stored_form_round_trips_and_tolerates_old_and_new_rows() {
        let s = patched(json!({
            "webhooks": {"url": "https://hooks.example.com/wa", "max_concurrent_requests": 12},
            "callback_backoff_delay_ms": "2500",
            "media": {"auto_download": ["voice"]},
            "log_level": "warn"
        }));
        assert_eq!(ApplicationSettings::from_stored(&s.to_stored()).unwrap(), s);
        let d = ApplicationSettings::default();
        assert_eq!(ApplicationSettings::from_stored(&d.to_stored()).unwrap(), d);

        // An older row without most fields, and a newer one with extra ones.
        assert_eq!(ApplicationSettings::from_stored("{}").unwrap(), d);
        let old =
            ApplicationSettings::from_stored(r#"{"webhooks":{"url":"https://a.example"},"sent_status":true}"#).unwrap();
        assert_eq!(old.webhooks.url.as_deref(), Some("https://a.example"));
        assert_eq!(old.webhooks.max_concurrent_requests, 6);
        assert_eq!(old.webhooks.message, MessageStatusToggles::default());
        assert!(old.sent_status);
        assert!(old.callback_persist);
        let newer = ApplicationSettings::from_stored(r#"{"future_field":1,"webhooks":{"future":true}}"#).unwrap();
        assert_eq!(newer, d);
        assert!(ApplicationSettings::from_stored("not json").is_err());
    }

    #[test]
    fn a_typed_patch_is_checked_whoever_built_it() {
        // What another process may send, never through `parse`.
        let bad = [
            SettingsPatch { webhook_url: Some(Some("ftp://x.example/hook".into())), ..Default::default() },
            SettingsPatch { webhook_url: Some(Some(String::new())), ..Default::default() },
            SettingsPatch { max_concurrent_requests: Some(7), ..Default::default() },
            SettingsPatch { callback_backoff_delay_ms: Some(MAX_BACKOFF_STEP_MS + 1), ..Default::default() },
            SettingsPatch { max_callback_backoff_delay_ms: Some(u64::MAX), ..Default::default() },
            SettingsPatch { heartbeat_interval: Some(0), ..Default::default() },
            SettingsPatch { unhealthy_interval: Some(u64::from(u32::MAX) + 1), ..Default::default() },
        ];
        for patch in bad {
            let mut s = ApplicationSettings::default();
            let err = s.apply(&patch).expect_err(&format!("{patch:?}"));
            assert_eq!(err.code, ErrorCode::ParameterInvalid, "{patch:?}");
            assert_eq!(s, ApplicationSettings::default(), "nothing applied: {patch:?}");
        }
        let mut s = ApplicationSettings::default();
        let patch = SettingsPatch {
            auto_download: Some(vec![AutoDownloadType::Voice, AutoDownloadType::Image, AutoDownloadType::Voice]),
            heartbeat_interval: Some(u64::from(MAX_HEARTBEAT_S)),
            ..Default::default()
        };
        s.apply(&patch).unwrap();
        assert_eq!(s.media.auto_download, [AutoDownloadType::Voice, AutoDownloadType::Image]);
        assert_eq!(s.heartbeat_interval, MAX_HEARTBEAT_S);
        // A parsed body is the same patch as the one built by hand.
        let parsed = SettingsPatch::parse(&json!({"media": {"auto_download": ["voice", "image", "voice"]},
                                                 "heartbeat_interval": 3600}))
        .unwrap();
        assert_eq!(parsed, patch);
    }

    #[test]
    fn callback_retry_delay_is_linear_and_capped() {
        let s = ApplicationSettings::default();
        let cases = [(0, 0), (1, 3_000), (2, 6_000), (3, 9_000), (300, 900_000), (301, 900_000), (u32::MAX, 900_000)];
        for (failures, ms) in cases {
            assert_eq!(s.callback_retry_delay(failures), Duration::from_millis(ms), "{failures}");
        }
        let small_cap = patched(json!({"callback_backoff_delay_ms": "10000", "max_callback_backoff_delay_ms": "4000"}));
        assert_eq!(small_cap.callback_retry_delay(1), Duration::from_millis(4_000));
        let huge = ApplicationSettings {
            callback_backoff_delay_ms: u64::MAX,
            max_callback_backoff_delay_ms: u64::MAX,
            ..Default::default()
        };
        assert_eq!(huge.callback_retry_delay(2), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn status_webhook_toggles() {
        use crate::status::MessageStatus::*;
        // (sent_status, webhooks.message, status, expected)
        let all_on = MessageStatusToggles { sent: true, delivered: true, read: true, played: true };
        let all_off = MessageStatusToggles { sent: false, delivered: false, read: false, played: false };
        let cases = [
            (false, MessageStatusToggles::default(), Sent, false),
            (true, MessageStatusToggles::default(), Sent, true),
            (false, all_on.clone(), Sent, true),
            (true, all_on.clone(), Sent, true),
            (false, MessageStatusToggles::default(), Delivered, true),
            (false, MessageStatusToggles::default(), Read, true),
            (true, all_off.clone(), Delivered, false),
            (true, all_off.clone(), Read, false),
            (false, all_off.clone(), Failed, true),
            // Cloud's `played`: never sent by the old client, so off by default.
            (false, MessageStatusToggles::default(), Played, false),
            (false, all_on.clone(), Played, true),
        ];
        for (sent_status, message, status, expected) in cases {
            let s = ApplicationSettings {
                sent_status,
                webhooks: WebhookSettings { message: message.clone(), ..Default::default() },
                ..Default::default()
            };
            assert_eq!(s.status_webhook_enabled(status), expected, "{sent_status} {message:?} {status}");
        }
    }
}
