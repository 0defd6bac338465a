//! Application settings on the wire: `wire::settings::ApplicationSettings`
//! and `SettingsPatch` to their [`core`](crate::core) messages and back.
//! Reading back refuses enum values this build does not know; a patch read
//! back is not yet checked (the coreapp's `apply` checks it).

use wire::ApiError;
use wire::error::ErrorCode;
use wire::identity::IdentifierMode;
use wire::settings::{ApplicationSettings, AutoDownloadType, LogLevel, SettingsPatch};

use crate::core as p;

/// The settings, and the number's wa_id when known, as a coreapp answers them.
pub fn to_proto(settings: &ApplicationSettings, wa_id: Option<&str>) -> p::SettingsReply {
    let s = settings;
    let toggles = &s.webhooks.message;
    let settings = p::Settings {
        webhook_url: s.webhooks.url.clone().unwrap_or_default(),
        max_concurrent_requests: s.webhooks.max_concurrent_requests,
        status_sent: toggles.sent,
        status_delivered: toggles.delivered,
        status_read: toggles.read,
        status_played: toggles.played,
        callback_persist: s.callback_persist,
        callback_backoff_delay_ms: s.callback_backoff_delay_ms,
        max_callback_backoff_delay_ms: s.max_callback_backoff_delay_ms,
        sent_status: s.sent_status,
        sync_send: s.sync_send,
        heartbeat_interval: s.heartbeat_interval,
        unhealthy_interval: s.unhealthy_interval,
        auto_download: s.media.auto_download.iter().map(|&t| auto_download(t).into()).collect(),
        gc_media: s.garbagecollector_enable.media,
        gc_messages: s.garbagecollector_enable.messages,
        notify_user_change_number: s.notify_user_change_number,
        show_security_notifications: s.show_security_notifications,
        axolotl_context_striping_disabled: s.axolotl_context_striping_disabled,
        verbose_logging: s.verbose_logging,
        log_level: log_level(s.log_level).into(),
        identifier: identifier(s.identity.identifier).into(),
        user_fields: s.identity.user_fields,
    };
    p::SettingsReply { settings: Some(settings), wa_id: wa_id.unwrap_or_default().to_string() }
}

/// The settings and wa_id a coreapp answered; an answer this build cannot
/// read is an internal error.
pub fn from_proto(reply: p::SettingsReply) -> Result<(ApplicationSettings, Option<String>), ApiError> {
    let unreadable =
        |what: &str| ApiError::new(ErrorCode::InternalError, format!("a coreapp answered settings with {what}"));
    let s = reply.settings.ok_or_else(|| unreadable("no settings"))?;
    let mut settings = ApplicationSettings::default();
    settings.webhooks.url = Some(s.webhook_url).filter(|url| !url.is_empty());
    settings.webhooks.max_concurrent_requests = s.max_concurrent_requests;
    settings.webhooks.message.sent = s.status_sent;
    settings.webhooks.message.delivered = s.status_delivered;
    settings.webhooks.message.read = s.status_read;
    settings.webhooks.message.played = s.status_played;
    settings.callback_persist = s.callback_persist;
    settings.callback_backoff_delay_ms = s.callback_backoff_delay_ms;
    settings.max_callback_backoff_delay_ms = s.max_callback_backoff_delay_ms;
    settings.sent_status = s.sent_status;
    settings.sync_send = s.sync_send;
    settings.heartbeat_interval = s.heartbeat_interval;
    settings.unhealthy_interval = s.unhealthy_interval;
    settings.media.auto_download = s
        .auto_download
        .into_iter()
        .map(auto_download_of)
        .collect::<Option<_>>()
        .ok_or_else(|| unreadable("an unknown media type"))?;
    settings.garbagecollector_enable.media = s.gc_media;
    settings.garbagecollector_enable.messages = s.gc_messages;
    settings.notify_user_change_number = s.notify_user_change_number;
    settings.show_security_notifications = s.show_security_notifications;
    settings.axolotl_context_striping_disabled = s.axolotl_context_striping_disabled;
    settings.verbose_logging = s.verbose_logging;
    settings.log_level = log_level_of(s.log_level).ok_or_else(|| unreadable("an unknown log level"))?;
    settings.identity.identifier =
        identifier_of(s.identifier).ok_or_else(|| unreadable("an unknown identifier mode"))?;
    settings.identity.user_fields = s.user_fields;
    let wa_id = Some(reply.wa_id).filter(|w| !w.is_empty());
    Ok((settings, wa_id))
}

/// A patch as the webapp sends it.
pub fn patch_to_proto(patch: &SettingsPatch) -> p::SettingsPatch {
    p::SettingsPatch {
        webhook_url: patch.webhook_url.as_ref().map(|url| url.clone().unwrap_or_default()),
        max_concurrent_requests: patch.max_concurrent_requests,
        status_sent: patch.status_sent,
        status_delivered: patch.status_delivered,
        status_read: patch.status_read,
        status_played: patch.status_played,
        callback_persist: patch.callback_persist,
        callback_backoff_delay_ms: patch.callback_backoff_delay_ms,
        max_callback_backoff_delay_ms: patch.max_callback_backoff_delay_ms,
        sent_status: patch.sent_status,
        sync_send: patch.sync_send,
        heartbeat_interval: patch.heartbeat_interval,
        unhealthy_interval: patch.unhealthy_interval,
        auto_download: patch
            .auto_download
            .as_ref()
            .map(|types| p::AutoDownloadList { types: types.iter().map(|&t| auto_download(t).into()).collect() }),
        gc_media: patch.gc_media,
        gc_messages: patch.gc_messages,
        notify_user_change_number: patch.notify_user_change_number,
        show_security_notifications: patch.show_security_notifications,
        axolotl_context_striping_disabled: patch.axolotl_context_striping_disabled,
        verbose_logging: patch.verbose_logging,
        log_level: patch.log_level.map(|l| log_level(l).into()),
        identifier: patch.identifier.map(|i| identifier(i).into()),
        user_fields: patch.user_fields,
    }
}

/// A patch as the coreapp receives it: 1009 for an enum value it does not
/// know. The values themselves are checked when the patch is applied.
pub fn patch_from_proto(patch: p::SettingsPatch) -> Result<SettingsPatch, ApiError> {
    let unknown = |param: &str, value: i32| ApiError::invalid_value(param, value);
    let auto_download = match patch.auto_download {
        None => None,
        Some(list) => Some(
            list.types
                .into_iter()
                .map(|t| auto_download_of(t).ok_or_else(|| unknown("media.auto_download", t)))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let log_level = patch.log_level.map(|l| log_level_of(l).ok_or_else(|| unknown("log_level", l))).transpose()?;
    let identifier =
        patch.identifier.map(|i| identifier_of(i).ok_or_else(|| unknown("identity.identifier", i))).transpose()?;
    Ok(SettingsPatch {
        webhook_url: patch.webhook_url.map(|url| Some(url).filter(|url| !url.is_empty())),
        max_concurrent_requests: patch.max_concurrent_requests,
        status_sent: patch.status_sent,
        status_delivered: patch.status_delivered,
        status_read: patch.status_read,
        status_played: patch.status_played,
        callback_persist: patch.callback_persist,
        callback_backoff_delay_ms: patch.callback_backoff_delay_ms,
        max_callback_backoff_delay_ms: patch.max_callback_backoff_delay_ms,
        sent_status: patch.sent_status,
        sync_send: patch.sync_send,
        heartbeat_interval: patch.heartbeat_interval,
        unhealthy_interval: patch.unhealthy_interval,
        auto_download,
        gc_media: patch.gc_media,
        gc_messages: patch.gc_messages,
        notify_user_change_number: patch.notify_user_change_number,
        show_security_notifications: patch.show_security_notifications,
        axolotl_context_striping_disabled: patch.axolotl_context_striping_disabled,
        verbose_logging: patch.verbose_logging,
        log_level,
        identifier,
        user_fields: patch.user_fields,
    })
}

fn auto_download(t: AutoDownloadType) -> p::AutoDownload {
    match t {
        AutoDownloadType::Image => p::AutoDownload::Image,
        AutoDownloadType::Video => p::AutoDownload::Video,
        AutoDownloadType::Voice => p::AutoDownload::Voice,
        AutoDownloadType::Sticker => p::AutoDownload::Sticker,
        AutoDownloadType::Audio => p::AutoDownload::Audio,
        AutoDownloadType::Document => p::AutoDownload::Document,
    }
}

fn auto_download_of(value: i32) -> Option<AutoDownloadType> {
    match p::AutoDownload::try_from(value).ok()? {
        p::AutoDownload::Image => Some(AutoDownloadType::Image),
        p::AutoDownload::Video => Some(AutoDownloadType::Video),
        p::AutoDownload::Voice => Some(AutoDownloadType::Voice),
        p::AutoDownload::Sticker => Some(AutoDownloadType::Sticker),
        p::AutoDownload::Audio => Some(AutoDownloadType::Audio),
        p::AutoDownload::Document => Some(AutoDownloadType::Document),
        p::AutoDownload::Unspecified => None,
    }
}

fn log_level(level: LogLevel) -> p::LogLevel {
    match level {
        LogLevel::Error => p::LogLevel::Error,
        LogLevel::Warn => p::LogLevel::Warn,
        LogLevel::Info => p::LogLevel::Info,
        LogLevel::Debug => p::LogLevel::Debug,
        LogLevel::Verbose => p::LogLevel::Verbose,
    }
}

fn log_level_of(value: i32) -> Option<LogLevel> {
    match p::LogLevel::try_from(value).ok()? {
        p::LogLevel::Error => Some(LogLevel::Error),
        p::LogLevel::Warn => Some(LogLevel::Warn),
        p::LogLevel::Info => Some(LogLevel::Info),
        p::LogLevel::Debug => Some(LogLevel::Debug),
        p::LogLevel::Verbose => Some(LogLevel::Verbose),
        p::LogLevel::Unspecified => None,
    }
}

fn identifier(mode: IdentifierMode) -> p::IdentifierMode {
    match mode {
        IdentifierMode::Digits => p::IdentifierMode::Digits,
        IdentifierMode::Bsuid => p::IdentifierMode::Bsuid,
    }
}

fn identifier_of(value: i32) -> Option<IdentifierMode> {
    match p::IdentifierMode::try_from(value).ok()? {
        p::IdentifierMode::Digits => Some(IdentifierMode::Digits),
        p::IdentifierMode::Bsuid => Some(IdentifierMode::Bsuid),
        p::IdentifierMode::Unspecified => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Settings with every field away from its default.
    fn everything_set() -> ApplicationSettings {
        let mut s = ApplicationSettings::default();
        s.apply_patch(&json!({
            "webhooks": {"url": "https://hooks.example.com/wa", "max_concurrent_requests": 24,
                         "message": {"sent": true, "delivered": false, "read": false, "played": true}},
            "callback_persist": false,
            "callback_backoff_delay_ms": 1000,
            "max_callback_backoff_delay_ms": 5000,
            "sent_status": true,
            "sync_send": true,
            "heartbeat_interval": 10,
            "unhealthy_interval": 60,
            "media": {"auto_download": ["video", "voice", "sticker", "audio", "image", "document"]},
            "garbagecollector_enable": {"media": true, "messages": false},
            "notify_user_change_number": false,
            "show_security_notifications": false,
            "axolotl_context_striping_disabled": true,
            "verbose_logging": true,
            "log_level": "verbose",
            "identity": {"identifier": "bsuid", "user_fields": true}
        }))
        .unwrap();
        s
    }

    #[test]
    fn settings_round_trip() {
        for (settings, wa_id) in
            [(ApplicationSettings::default(), None), (everything_set(), Some("16315551019".to_string()))]
        {
            let back = from_proto(to_proto(&settings, wa_id.as_deref())).unwrap();
            assert_eq!(back, (settings, wa_id));
        }
    }

    #[test]
    fn patches_round_trip() {
        let bodies = [
            json!({"sent_status": true}),
            json!({"webhooks": {"url": ""}}),
            json!({"webhooks": {"url": "http://localhost:8080/hook"}, "media": {"auto_download": []}}),
            json!({"log_level": "debug", "identity": {"identifier": "digits"}, "db_garbagecollector_enable": false}),
            json!({"on_call_pager": 5}),
        ];
        for body in bodies {
            let patch = SettingsPatch::parse(&body).unwrap();
            assert_eq!(patch_from_proto(patch_to_proto(&patch)).unwrap(), patch, "{body}");
        }
        // Every field at once: the same settings after the trip.
        let everything = SettingsPatch::parse(&json!({
            "webhooks": {"url": "https://h.example/x", "max_concurrent_requests": 12,
                         "message": {"sent": true, "delivered": false, "read": false, "played": true}},
            "callback_persist": false, "callback_backoff_delay_ms": "7", "max_callback_backoff_delay_ms": 9,
            "sent_status": true, "sync_send": true, "heartbeat_interval": 2, "unhealthy_interval": 3,
            "media": {"auto_download": ["document"]}, "garbagecollector_enable": {"media": true, "messages": false},
            "notify_user_change_number": false, "show_security_notifications": false,
            "axolotl_context_striping_disabled": true, "verbose_logging": true, "log_level": "warn",
            "identity": {"identifier": "bsuid", "user_fields": true}
        }))
        .unwrap();
        assert_eq!(patch_from_proto(patch_to_proto(&everything)).unwrap(), everything);
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let patch = p::SettingsPatch { log_level: Some(99), ..Default::default() };
        assert_eq!(patch_from_proto(patch).unwrap_err().code, ErrorCode::ParameterInvalid);
        let patch = p::SettingsPatch {
            auto_download: Some(p::AutoDownloadList { types: vec![p::AutoDownload::Unspecified.into()] }),
            ..Default::default()
        };
        assert_eq!(patch_from_proto(patch).unwrap_err().code, ErrorCode::ParameterInvalid);
        let mut reply = to_proto(&ApplicationSettings::default(), None);
        reply.settings.as_mut().unwrap().identifier = 0;
        assert_eq!(from_proto(reply).unwrap_err().code, ErrorCode::InternalError);
        assert!(from_proto(p::SettingsReply::default()).is_err());
    }
}
