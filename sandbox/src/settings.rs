//! The knobs that can change while the sandbox runs: the rules that reject
//! traffic, the status lifecycle, webhook delivery, a few HTTP statuses.
//!
//! They start from the [`Config`](crate::Config) (environment) and are read
//! and changed through `GET`/`PATCH /_sandbox/settings` as one JSON document,
//! patched with JSON merge-patch semantics (RFC 7396).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;

/// Every run-time knob. Serialised as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub rules: Rules,
    pub lifecycle: Lifecycle,
    pub webhooks: WebhookKnobs,
    pub http: HttpKnobs,
    /// The business is enrolled for parent BSUIDs: webhooks carry
    /// `parent_user_id`, `from_parent_user_id`, `recipient_parent_user_id`
    /// and `previous_parent_user_id`, and sends take a parent BSUID in
    /// `recipient`. Off by default, as for most businesses.
    pub parent_user_ids: bool,
}

/// The rules of `docs/cloud-api.md` §7 that reject traffic. Validation (field
/// limits, template lookup) is not here: it is always on, as on Cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// 24-hour customer service window per (number, user): non-template
    /// messages outside it fail asynchronously with 131047.
    pub window: WindowRule,
    /// Messages to one user from one number: a burst, then one per period (131056).
    pub pair_rate_limit: PairRateLimit,
    /// Messages per second per business number (130429).
    pub throughput: Throughput,
    /// Recipients matching a pattern fail asynchronously with 131026.
    pub undeliverable: Undeliverable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRule {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairRateLimit {
    pub enabled: bool,
    /// Messages allowed at once.
    pub burst: u32,
    /// One more message is allowed every `period_ms`.
    pub period_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    pub enabled: bool,
    /// Messages per second of every number without its own entry.
    pub mps: f64,
    /// Phone number id to messages per second.
    #[serde(default)]
    pub per_number: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Undeliverable {
    pub enabled: bool,
    /// Globs over the recipient's wa_id: `*` any digits, `?` one digit.
    pub patterns: Vec<String>,
}

/// The `sent` → `delivered` → `read` (→ `played`) progression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Pause before each status after `sent` (and before a `failed`).
    pub status_delay_ms: u64,
    /// Share of delivered messages the user reads (0 to 1).
    pub read_rate: f64,
    /// Share of messages whose `delivered` is skipped, as when delivery and
    /// read happen together (0 to 1).
    pub skip_delivered_rate: f64,
}

/// Webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookKnobs {
    /// Where webhooks go; `null` sends none.
    #[serde(default)]
    pub url: Option<String>,
    /// The app's webhook payload version: `conversation` objects appear in
    /// statuses only up to v23.0.
    pub payload_version: String,
    /// Items bound for the URL within this window share one POST.
    pub batch_window_ms: u64,
    /// Most items in one POST (Meta: up to 1000).
    pub batch_max: usize,
    /// A failing delivery is retried with backoff for this long, then dropped.
    pub retry_horizon_ms: u64,
    /// Share of POSTs delivered twice (0 to 1), as Meta's at-least-once delivery does.
    pub duplicate_rate: f64,
    /// Share of messages whose statuses are emitted newest first (0 to 1).
    pub reorder_rate: f64,
}

/// HTTP statuses Meta's documentation disagrees on (`docs/cloud-api.md` §1.2 and §6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpKnobs {
    /// Status of a missing or unknown token (401; real Graph often says 400).
    pub auth_error_status: u16,
    /// Status of the throttling codes 130429 and 131056 (400; older docs say 429).
    pub throttle_status: u16,
}

// === impl Rules ===

impl Default for Rules {
    /// Off, except the throughput limit: the dev stack's first send must work.
    fn default() -> Self {
        Rules {
            window: WindowRule { enabled: false },
            pair_rate_limit: PairRateLimit { enabled: false, burst: 45, period_ms: 6_000 },
            throughput: Throughput { enabled: true, mps: 80.0, per_number: BTreeMap::new() },
            undeliverable: Undeliverable { enabled: false, patterns: vec![DEFAULT_UNDELIVERABLE.to_owned()] },
        }
    }
}

/// The pattern used when the undeliverable rule is switched on without one.
pub const DEFAULT_UNDELIVERABLE: &str = "*0000";

// === impl Throughput ===

impl Throughput {
    /// The rate of `phone_number_id`.
    pub fn mps_of(&self, phone_number_id: &str) -> f64 {
        self.per_number.get(phone_number_id).copied().unwrap_or(self.mps)
    }
}

// === impl Settings ===

impl Settings {
    /// The knobs as the config starts them.
    pub fn from_config(config: &Config) -> Self {
        Settings {
            rules: config.rules.clone(),
            lifecycle: Lifecycle {
                status_delay_ms: millis(config.status_delay),
                read_rate: config.read_rate,
                skip_delivered_rate: config.skip_delivered_rate,
            },
            webhooks: WebhookKnobs {
                url: config.webhook_url.clone(),
                payload_version: config.webhook_version.clone(),
                batch_window_ms: millis(config.webhook_batch_window),
                batch_max: config.webhook_batch_max,
                retry_horizon_ms: millis(config.webhook_retry_horizon),
                duplicate_rate: config.webhook_duplicate_rate,
                reorder_rate: config.webhook_reorder_rate,
            },
            http: HttpKnobs { auth_error_status: config.auth_error_status, throttle_status: config.throttle_status },
            parent_user_ids: config.parent_user_ids,
        }
    }

    /// Checks every value; `hosted` are the phone number ids per-number
    /// entries may name. The message names the offending field.
    pub fn validate(&self, hosted: &[String]) -> Result<(), String> {
        let rules = &self.rules;
        if rules.pair_rate_limit.burst == 0 {
            return Err("rules.pair_rate_limit.burst must be at least 1".into());
        }
        if rules.pair_rate_limit.period_ms == 0 {
            return Err("rules.pair_rate_limit.period_ms must be at least 1".into());
        }
        check_mps("rules.throughput.mps", rules.throughput.mps)?;
        for (id, mps) in &rules.throughput.per_number {
            if !hosted.contains(id) {
                return Err(format!("rules.throughput.per_number: {id} is not a hosted phone number id"));
            }
            check_mps(&format!("rules.throughput.per_number.{id}"), *mps)?;
        }
        if rules.undeliverable.enabled && rules.undeliverable.patterns.is_empty() {
            return Err("rules.undeliverable.patterns must not be empty while the rule is enabled".into());
        }
        for pattern in &rules.undeliverable.patterns {
            check_pattern(pattern).map_err(|err| format!("rules.undeliverable.patterns: {err}"))?;
        }
        if self.lifecycle.status_delay_ms > 3_600_000 {
            return Err("lifecycle.status_delay_ms must be at most 3600000 (one hour)".into());
        }
        check_rate("lifecycle.read_rate", self.lifecycle.read_rate)?;
        check_rate("lifecycle.skip_delivered_rate", self.lifecycle.skip_delivered_rate)?;
        let hooks = &self.webhooks;
        if let Some(url) = &hooks.url {
            check_url(url).map_err(|err| format!("webhooks.url: {err}"))?;
        }
        if parse_version(&hooks.payload_version).is_none() {
            return Err(format!(
                "webhooks.payload_version: expected a version like v24.0, got {:?}",
                hooks.payload_version
            ));
        }
        if hooks.batch_window_ms > 60_000 {
            return Err("webhooks.batch_window_ms must be at most 60000".into());
        }
        if !(1..=1000).contains(&hooks.batch_max) {
            return Err("webhooks.batch_max must be between 1 and 1000".into());
        }
        if hooks.retry_horizon_ms > 7 * 86_400_000 {
            return Err("webhooks.retry_horizon_ms must be at most 7 days, as on Cloud".into());
        }
        check_rate("webhooks.duplicate_rate", hooks.duplicate_rate)?;
        check_rate("webhooks.reorder_rate", hooks.reorder_rate)?;
        if !matches!(self.http.auth_error_status, 400 | 401 | 403) {
            return Err("http.auth_error_status must be 400, 401 or 403".into());
        }
        if !matches!(self.http.throttle_status, 400 | 429) {
            return Err("http.throttle_status must be 400 or 429".into());
        }
        Ok(())
    }

    /// Whether statuses carry `conversation` (webhook payload v23.0 and older).
    pub fn with_conversation(&self) -> bool {
        parse_version(&self.webhooks.payload_version).is_some_and(|major| major <= 23)
    }

    pub fn status_delay(&self) -> Duration {
        Duration::from_millis(self.lifecycle.status_delay_ms)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn check_rate(name: &str, rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) { Ok(()) } else { Err(format!("{name} must be between 0 and 1, got {rate}")) }
}

fn check_mps(name: &str, mps: f64) -> Result<(), String> {
    if mps.is_finite() && mps > 0.0 { Ok(()) } else { Err(format!("{name} must be a positive number, got {mps}")) }
}

/// A glob over digits: `*`, `?` and digits only.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || !pattern.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'?') {
        return Err(format!("{pattern:?} is not a pattern of digits, '*' and '?'"));
    }
    Ok(())
}

pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("{url:?} is not a URL"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("{url:?}: scheme must be http or https, not {other}")),
    }
}

/// `v24.0` → 24.
pub(crate) fn parse_version(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.strip_suffix(".0")?.parse().ok()
}

/// Applies a JSON merge patch (RFC 7396): objects merge key by key, `null`
/// removes a key, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

// === SettingsCell ===

/// The current settings, swapped whole on every change so readers never see
/// half a patch.
pub(crate) struct SettingsCell {
    current: RwLock<Arc<Settings>>,
    hosted: Vec<String>,
}

impl SettingsCell {
    pub(crate) fn new(settings: Settings, hosted: Vec<String>) -> Self {
        SettingsCell { current: RwLock::new(Arc::new(settings)), hosted }
    }

    /// The settings now; cheap (one read lock, one reference count).
    pub(crate) fn get(&self) -> Arc<Settings> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Applies a merge patch and validates the result; on error nothing changes.
    pub(crate) fn patch(&self, patch: &Value) -> Result<Arc<Settings>, String> {
        if !patch.is_object() {
            return Err("the body must be a JSON object".into());
        }
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut doc = serde_json::to_value(&**current).map_err(|err| err.to_string())?;
        merge_patch(&mut doc, patch);
        let next: Settings = serde_json::from_value(doc).map_err(|err| err.to_string())?;
        next.validate(&self.hosted)?;
        let next = Arc::new(next);
        *current = next.clone();
        Ok(next)
    }

    /// Replaces everything (reset).
    pub(crate) fn replace(&self, settings: Settings) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cell() -> SettingsCell {
        let config = Config::default();
        SettingsCell::new(Settings::from_config(&config), config.phone_number_ids.clone())
    }

    #[test]
    fn defaults_are_the_dev_stacks() {
        let settings = Settings::from_config(&Config::default());
        assert!(!settings.rules.window.enabled);
        assert!(!settings.rules.pair_rate_limit.enabled);
        assert!(!settings.rules.undeliverable.enabled);
        assert!(settings.rules.throughput.enabled);
        assert_eq!(settings.rules.throughput.mps_of("100000000000001"), 80.0);
        assert!(!settings.with_conversation());
        assert!(!settings.parent_user_ids);
        settings.validate(&Config::default().phone_number_ids).unwrap();
    }

    #[test]
    fn patches_merge_and_validate() {
        let cell = cell();
        let next = cell
            .patch(
                &json!({"rules": {"window": {"enabled": true}, "throughput": {"per_number": {"100000000000001": 5}}}}),
            )
            .unwrap();
        assert!(next.rules.window.enabled);
        assert_eq!(next.rules.throughput.mps_of("100000000000001"), 5.0);
        assert_eq!(next.rules.pair_rate_limit.burst, 45, "untouched keys stay");

        // null removes a map entry and clears an optional value.
        let next = cell
            .patch(
                &json!({"rules": {"throughput": {"per_number": {"100000000000001": null}}}, "webhooks": {"url": null}}),
            )
            .unwrap();
        assert!(next.rules.throughput.per_number.is_empty());
        assert_eq!(next.webhooks.url, None);

        for bad in [
            json!({"rules": {"throughput": {"mps": 0}}}),
            json!({"rules": {"throughput": {"per_number": {"42": 10}}}}),
            json!({"webhooks": {"duplicate_rate": 1.5}}),
            json!({"webhooks": {"batch_max": 0}}),
            json!({"webhooks": {"payload_version": "24"}}),
            json!({"webhooks": {"url": "ftp://x/y"}}),
            json!({"rules": {"undeliverable": {"patterns": ["12a"]}}}),
            json!({"rules": {"nope": {}}}),
            json!({"http": {"throttle_status": 500}}),
            json!([1]),
        ] {
            let before = cell.get();
            assert!(cell.patch(&bad).is_err(), "{bad}");
            assert_eq!(cell.get(), before, "a refused patch changes nothing");
        }
    }

    #[test]
    fn conversation_up_to_v23() {
        let mut settings = Settings::from_config(&Config::default());
        for (version, expected) in [("v23.0", true), ("v20.0", true), ("v24.0", false), ("v26.0", false)] {
            settings.webhooks.payload_version = version.into();
            assert_eq!(settings.with_conversation(), expected, "{version}");
        }
    }
}
