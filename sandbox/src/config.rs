//! The sandbox's configuration, read once from `WA_SANDBOX_*` environment variables.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use envconf::{Env, Var};

use crate::settings::{self, DEFAULT_UNDELIVERABLE, Rules, Settings};

/// Default listen address (`WA_SANDBOX_LISTEN`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9080";

/// Every variable the sandbox reads, with its default and meaning: the one
/// place they are declared (`sandbox config` prints them; the README's
/// table is checked against them).
pub const VARS: &[Var] = &[
    Var::new("WA_SANDBOX_LISTEN", DEFAULT_LISTEN, "listen address"),
    Var::new("WA_SANDBOX_ACCESS_TOKEN", "sandbox-token", "the Bearer token the Graph API accepts").empty_is_a_value(),
    Var::new("WA_SANDBOX_APP_SECRET", "sandbox-app-secret", "key of `X-Hub-Signature-256` on webhooks (and of `appsecret_proof`)").empty_is_a_value(),
    Var::new("WA_SANDBOX_VERIFY_TOKEN", "sandbox-verify-token", "sent in the GET verification handshake").empty_is_a_value(),
    Var::new("WA_SANDBOX_PHONE_NUMBER_IDS", "100000000000001", "business numbers hosted, comma separated; display number `1555` + the id's last 7 digits"),
    Var::new("WA_SANDBOX_WABA_ID", "200000000000001", "the business account (`entry[].id` of webhooks)"),
    Var::new("WA_SANDBOX_APP_ID", "300000000000001", "the Meta app: the node of the Resumable Upload API (`POST /{app-id}/uploads`)"),
    Var::new("WA_SANDBOX_WEBHOOK_URL", "https://127.0.0.1:9090/cloud/webhooks", "where webhooks go (the app's callback URL; a WABA override takes `messages` webhooks elsewhere); empty sends none. *Run time* [`webhooks.url`]").empty_is_a_value(),
    Var::new("WA_SANDBOX_WEBHOOK_TLS_VERIFY", "off", "check the receiver's certificate (the dev webapp's is self-signed)"),
    Var::computed("WA_SANDBOX_PUBLIC_URL", "the `Host` the client called", "base of the media download URLs and profile picture URLs (e.g. `http://sandbox:9080` in compose)"),
    Var::new("WA_SANDBOX_STATUS_DELAY_MS", "200", "pause before `delivered`, `read`, `played` and `failed` (`sent` goes at once). *Run time* [`lifecycle.status_delay_ms`]"),
    Var::new("WA_SANDBOX_READ_RATE", "1", "share of delivered messages the user reads, 0 to 1. *Run time* [`lifecycle.read_rate`]"),
    Var::new("WA_SANDBOX_SKIP_DELIVERED_RATE", "0", "share of messages whose `delivered` is skipped (read at once), 0 to 1. *Run time* [`lifecycle.skip_delivered_rate`]"),
    Var::new("WA_SANDBOX_THROUGHPUT", "80", "messages per second per number: `off`, a rate, and `<phone-number-id>=<rate>` overrides, e.g. `80,100000000000002=1000`. *Run time* [`rules.throughput`]"),
    Var::new("WA_SANDBOX_PAIR_RATE_LIMIT", "off", "`off`, `on` (45 at once, then 1 per 6000 ms) or `<burst>/<period_ms>`. *Run time* [`rules.pair_rate_limit`]"),
    Var::new("WA_SANDBOX_WINDOW", "off", "the 24-hour customer service window, `on` or `off`. *Run time* [`rules.window`]"),
    Var::new("WA_SANDBOX_UNDELIVERABLE", "off", "`off`, `on` (pattern `*0000`) or a comma list of patterns over the wa_id (`*` any digits, `?` one). *Run time* [`rules.undeliverable`]"),
    Var::new("WA_SANDBOX_WEBHOOK_VERSION", "v24.0", "the app's webhook payload version: statuses carry `conversation` up to `v23.0`. *Run time* [`webhooks.payload_version`]"),
    Var::new("WA_SANDBOX_WEBHOOK_BATCH_WINDOW_MS", "20", "items queued within this window (from the first) share one POST; `0` sends what is queued at once. *Run time* [`webhooks.batch_window_ms`]"),
    Var::new("WA_SANDBOX_WEBHOOK_BATCH_MAX", "1000", "most items per POST, 1 to 1000 (Meta: up to 1000). *Run time* [`webhooks.batch_max`]"),
    Var::new("WA_SANDBOX_WEBHOOK_RETRY_HORIZON_MS", "600000", "a POST the receiver refuses is retried with backoff this long, then dropped (Meta: 7 days). *Run time* [`webhooks.retry_horizon_ms`]"),
    Var::new("WA_SANDBOX_WEBHOOK_DUPLICATE_RATE", "0", "share of POSTs delivered twice, byte for byte. *Run time* [`webhooks.duplicate_rate`]"),
    Var::new("WA_SANDBOX_WEBHOOK_REORDER_RATE", "0", "share of messages whose statuses go out newest first. *Run time* [`webhooks.reorder_rate`]"),
    Var::new("WA_SANDBOX_AUTH_ERROR_STATUS", "401", "HTTP status of token errors: 400, 401 or 403 (real Graph often answers 400). *Run time* [`http.auth_error_status`]"),
    Var::new("WA_SANDBOX_THROTTLE_STATUS", "400", "HTTP status of 130429 and 131056: 400 or 429 (older docs). *Run time* [`http.throttle_status`]"),
    Var::new("WA_SANDBOX_APPSECRET_PROOF", "off", "require `appsecret_proof=hex(HMAC-SHA256(app secret, token))` on Graph calls"),
    Var::new("WA_SANDBOX_PARENT_USER_IDS", "off", "the business is enrolled for parent BSUIDs: the `parent_*` fields appear in webhooks and `recipient` takes a parent BSUID. *Run time* [`parent_user_ids`]"),
    Var::new("WA_SANDBOX_LOG_FORMAT", "text", "`json` for JSON lines"),
    Var::new("RUST_LOG", "info", "log filter (`debug` logs every request and message)"),
];

/// Everything the simulator needs to know, built once in `main` (or directly by tests).
///
/// The defaults are the dev stack's, so a sandbox and a webapp started with no
/// settings agree with each other.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// The one Bearer token the Graph endpoints accept (`WA_SANDBOX_ACCESS_TOKEN`).
    pub access_token: String,
    /// Key of the `X-Hub-Signature-256` HMAC on outgoing webhooks (`WA_SANDBOX_APP_SECRET`).
    pub app_secret: String,
    /// Token sent in the GET verification handshake (`WA_SANDBOX_VERIFY_TOKEN`).
    pub verify_token: String,
    /// Business phone number ids hosted here (`WA_SANDBOX_PHONE_NUMBER_IDS`, comma separated).
    pub phone_number_ids: Vec<String>,
    /// The WhatsApp Business Account id, `entry[].id` in webhooks (`WA_SANDBOX_WABA_ID`).
    pub waba_id: String,
    /// The Meta app id, the node of the Resumable Upload API's `POST /{app-id}/uploads`
    /// (`WA_SANDBOX_APP_ID`).
    pub app_id: String,
    /// Where webhooks go (`WA_SANDBOX_WEBHOOK_URL`); `None` (an empty variable) sends none.
    pub webhook_url: Option<String>,
    /// Check the webhook server's certificate (`WA_SANDBOX_WEBHOOK_TLS_VERIFY`). Off by
    /// default because the dev webapp serves a self-signed certificate.
    pub webhook_tls_verify: bool,
    /// Pause between the `sent`, `delivered` and `read` statuses of a message
    /// (`WA_SANDBOX_STATUS_DELAY_MS`).
    pub status_delay: Duration,
    /// Base of the media download URLs it hands out (`WA_SANDBOX_PUBLIC_URL`);
    /// `None` uses the `Host` the client called.
    pub public_url: Option<String>,
    /// The rules that reject traffic (`WA_SANDBOX_WINDOW`,
    /// `WA_SANDBOX_PAIR_RATE_LIMIT`, `WA_SANDBOX_THROUGHPUT`, `WA_SANDBOX_UNDELIVERABLE`).
    pub rules: Rules,
    /// Share of delivered messages that get `read` (`WA_SANDBOX_READ_RATE`).
    pub read_rate: f64,
    /// Share of messages whose `delivered` is skipped (`WA_SANDBOX_SKIP_DELIVERED_RATE`).
    pub skip_delivered_rate: f64,
    /// Webhook payload version (`WA_SANDBOX_WEBHOOK_VERSION`); `conversation`
    /// appears in statuses only up to v23.0.
    pub webhook_version: String,
    /// Items within this window share a POST (`WA_SANDBOX_WEBHOOK_BATCH_WINDOW_MS`).
    pub webhook_batch_window: Duration,
    /// Most items per POST, 1 to 1000 (`WA_SANDBOX_WEBHOOK_BATCH_MAX`).
    pub webhook_batch_max: usize,
    /// How long a failing delivery is retried (`WA_SANDBOX_WEBHOOK_RETRY_HORIZON_MS`).
    pub webhook_retry_horizon: Duration,
    /// Share of POSTs sent twice (`WA_SANDBOX_WEBHOOK_DUPLICATE_RATE`).
    pub webhook_duplicate_rate: f64,
    /// Share of messages whose statuses go out newest first (`WA_SANDBOX_WEBHOOK_REORDER_RATE`).
    pub webhook_reorder_rate: f64,
    /// HTTP status of token errors (`WA_SANDBOX_AUTH_ERROR_STATUS`, 401).
    pub auth_error_status: u16,
    /// HTTP status of 130429 and 131056 (`WA_SANDBOX_THROTTLE_STATUS`, 400).
    pub throttle_status: u16,
    /// Require `appsecret_proof` on Graph calls (`WA_SANDBOX_APPSECRET_PROOF`).
    pub require_appsecret_proof: bool,
    /// The business is enrolled for parent BSUIDs (`WA_SANDBOX_PARENT_USER_IDS`, off).
    pub parent_user_ids: bool,
    /// Log as JSON lines (`WA_SANDBOX_LOG_FORMAT=json`); read by `main`.
    pub log_json: bool,
}

// === impl Config ===

impl Default for Config {
    /// The registry's defaults.
    fn default() -> Self {
        Config::read(&Env::from_pairs(VARS, &[])).expect("the declared defaults are valid")
    }
}

// Secrets never reach logs, so `{:?}` of a config is safe to print.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("access_token", &"<redacted>")
            .field("app_secret", &"<redacted>")
            .field("verify_token", &"<redacted>")
            .field("phone_number_ids", &self.phone_number_ids)
            .field("waba_id", &self.waba_id)
            .field("app_id", &self.app_id)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_tls_verify", &self.webhook_tls_verify)
            .field("status_delay", &self.status_delay)
            .field("public_url", &self.public_url)
            .field("rules", &self.rules)
            .field("read_rate", &self.read_rate)
            .field("skip_delivered_rate", &self.skip_delivered_rate)
            .field("webhook_version", &self.webhook_version)
            .field("webhook_batch_window", &self.webhook_batch_window)
            .field("webhook_batch_max", &self.webhook_batch_max)
            .field("webhook_retry_horizon", &self.webhook_retry_horizon)
            .field("webhook_duplicate_rate", &self.webhook_duplicate_rate)
            .field("webhook_reorder_rate", &self.webhook_reorder_rate)
            .field("auth_error_status", &self.auth_error_status)
            .field("throttle_status", &self.throttle_status)
            .field("require_appsecret_proof", &self.require_appsecret_proof)
            .field("parent_user_ids", &self.parent_user_ids)
            .field("log_json", &self.log_json)
            .finish()
    }
}

impl Config {
    /// Reads the `WA_SANDBOX_*` variables; a malformed value is an error naming its variable.
    pub fn from_env() -> anyhow::Result<Config> {
        Self::read(&Env::process(VARS))
    }

    /// Reads `WA_SANDBOX_LISTEN` (default `127.0.0.1:9080`).
    pub fn listen_from_env() -> anyhow::Result<SocketAddr> {
        Self::listen_from(&Env::process(VARS))
    }

    /// Like [`Config::from_env`], with the variables taken from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        Self::read(&Env::from_fn(VARS, lookup))
    }

    /// Reads the configuration through `env`.
    pub fn read(env: &Env<'_>) -> anyhow::Result<Config> {
        let access_token = env.string("WA_SANDBOX_ACCESS_TOKEN");
        let app_secret = env.string("WA_SANDBOX_APP_SECRET");
        let verify_token = env.string("WA_SANDBOX_VERIFY_TOKEN");
        for (name, value) in [
            ("WA_SANDBOX_ACCESS_TOKEN", &access_token),
            ("WA_SANDBOX_APP_SECRET", &app_secret),
            ("WA_SANDBOX_VERIFY_TOKEN", &verify_token),
        ] {
            if value.is_empty() {
                bail!("{name} must not be empty");
            }
        }

        let ids = env.string("WA_SANDBOX_PHONE_NUMBER_IDS");
        let phone_number_ids: Vec<String> =
            ids.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect();
        if phone_number_ids.is_empty() {
            bail!("WA_SANDBOX_PHONE_NUMBER_IDS must name at least one phone number id");
        }
        if let Some(bad) = phone_number_ids.iter().find(|id| !is_graph_id(id)) {
            bail!("WA_SANDBOX_PHONE_NUMBER_IDS: {bad:?} is not a numeric id");
        }

        let waba_id = env.string("WA_SANDBOX_WABA_ID");
        if !is_graph_id(&waba_id) {
            bail!("WA_SANDBOX_WABA_ID: {waba_id:?} is not a numeric id");
        }
        let app_id = env.string("WA_SANDBOX_APP_ID").trim().to_owned();
        if !is_graph_id(&app_id) {
            bail!("WA_SANDBOX_APP_ID: {app_id:?} is not a numeric id");
        }

        let webhook_url = env.string("WA_SANDBOX_WEBHOOK_URL");
        let webhook_url = match webhook_url.trim() {
            "" => None,
            url => {
                check_webhook_url(url).context("WA_SANDBOX_WEBHOOK_URL")?;
                Some(url.to_owned())
            }
        };

        let webhook_tls_verify = env.flag("WA_SANDBOX_WEBHOOK_TLS_VERIFY")?;
        let status_delay = millis(env, "WA_SANDBOX_STATUS_DELAY_MS")?;

        let public_url = match env.raw("WA_SANDBOX_PUBLIC_URL") {
            None => None,
            Some(url) if url.trim().is_empty() => None,
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                check_webhook_url(&url).context("WA_SANDBOX_PUBLIC_URL")?;
                Some(url)
            }
        };

        let defaults = Rules::default();
        let mut rules = defaults.clone();
        rules.window.enabled = env.flag("WA_SANDBOX_WINDOW")?;
        if let Some(value) = env.value("WA_SANDBOX_PAIR_RATE_LIMIT") {
            rules.pair_rate_limit = parse_pair_limit(&value, &defaults.pair_rate_limit)
                .map_err(|err| anyhow!("WA_SANDBOX_PAIR_RATE_LIMIT: {err}"))?;
        }
        if let Some(value) = env.value("WA_SANDBOX_THROUGHPUT") {
            rules.throughput = parse_throughput(&value, &phone_number_ids, &defaults.throughput)
                .map_err(|err| anyhow!("WA_SANDBOX_THROUGHPUT: {err}"))?;
        }
        if let Some(value) = env.value("WA_SANDBOX_UNDELIVERABLE") {
            rules.undeliverable =
                parse_undeliverable(&value).map_err(|err| anyhow!("WA_SANDBOX_UNDELIVERABLE: {err}"))?;
        }

        let webhook_version = env.string("WA_SANDBOX_WEBHOOK_VERSION").trim().to_owned();
        if settings::parse_version(&webhook_version).is_none() {
            bail!("WA_SANDBOX_WEBHOOK_VERSION: expected a version like v24.0, got {webhook_version:?}");
        }
        let webhook_batch_max = match env.parse::<usize>("WA_SANDBOX_WEBHOOK_BATCH_MAX") {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => bail!(
                "WA_SANDBOX_WEBHOOK_BATCH_MAX: expected 1 to 1000, got {:?}",
                env.string("WA_SANDBOX_WEBHOOK_BATCH_MAX")
            ),
        };

        let log_json = match env.string("WA_SANDBOX_LOG_FORMAT").trim() {
            "text" => false,
            "json" => true,
            other => bail!("WA_SANDBOX_LOG_FORMAT: expected text or json, got {other:?}"),
        };

        let config = Config {
            access_token,
            app_secret,
            verify_token,
            phone_number_ids,
            waba_id,
            app_id,
            webhook_url,
            webhook_tls_verify,
            status_delay,
            public_url,
            rules,
            read_rate: rate(env, "WA_SANDBOX_READ_RATE")?,
            skip_delivered_rate: rate(env, "WA_SANDBOX_SKIP_DELIVERED_RATE")?,
            webhook_version,
            webhook_batch_window: millis(env, "WA_SANDBOX_WEBHOOK_BATCH_WINDOW_MS")?,
            webhook_batch_max,
            webhook_retry_horizon: millis(env, "WA_SANDBOX_WEBHOOK_RETRY_HORIZON_MS")?,
            webhook_duplicate_rate: rate(env, "WA_SANDBOX_WEBHOOK_DUPLICATE_RATE")?,
            webhook_reorder_rate: rate(env, "WA_SANDBOX_WEBHOOK_REORDER_RATE")?,
            auth_error_status: status(env, "WA_SANDBOX_AUTH_ERROR_STATUS", &[400, 401, 403])?,
            throttle_status: status(env, "WA_SANDBOX_THROTTLE_STATUS", &[400, 429])?,
            require_appsecret_proof: env.flag("WA_SANDBOX_APPSECRET_PROOF")?,
            parent_user_ids: env.flag("WA_SANDBOX_PARENT_USER_IDS")?,
            log_json,
        };
        // The remaining cross-field checks (ranges) are the settings' own.
        config.validate()?;
        Ok(config)
    }

    /// Like [`Config::listen_from_env`], through `env`.
    pub fn listen_from(env: &Env<'_>) -> anyhow::Result<SocketAddr> {
        let value = env.string("WA_SANDBOX_LISTEN");
        value
            .trim()
            .parse()
            .map_err(|_| anyhow!("WA_SANDBOX_LISTEN: expected an address like 127.0.0.1:9080, got {value:?}"))
    }

    /// Checks what `from_env` would have checked, for configs built by hand.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.phone_number_ids.is_empty() {
            bail!("config: phone_number_ids is empty");
        }
        if let Some(bad) = self.phone_number_ids.iter().chain([&self.waba_id, &self.app_id]).find(|id| !is_graph_id(id))
        {
            bail!("config: {bad:?} is not a numeric id");
        }
        if let Some(url) = &self.webhook_url {
            check_webhook_url(url).context("config: webhook_url")?;
        }
        if let Some(url) = &self.public_url {
            check_webhook_url(url).context("config: public_url")?;
        }
        Settings::from_config(self).validate(&self.phone_number_ids).map_err(|err| anyhow!("config: {err}"))
    }
}

/// `off`, `on`, or `<burst>/<period_ms>` (which also switches it on).
fn parse_pair_limit(value: &str, defaults: &settings::PairRateLimit) -> Result<settings::PairRateLimit, String> {
    let value = value.trim();
    if let Some(enabled) = parse_bool(value) {
        return Ok(settings::PairRateLimit { enabled, ..defaults.clone() });
    }
    let (burst, period) =
        value.split_once('/').ok_or_else(|| format!("expected off, on or BURST/PERIOD_MS, got {value:?}"))?;
    match (burst.trim().parse::<u32>(), period.trim().parse::<u64>()) {
        (Ok(burst), Ok(period_ms)) if burst > 0 && period_ms > 0 => {
            Ok(settings::PairRateLimit { enabled: true, burst, period_ms })
        }
        _ => Err(format!("expected off, on or BURST/PERIOD_MS (both positive), got {value:?}")),
    }
}

/// `off`, `on`, or a comma list of a default rate and `<phone_number_id>=<rate>` entries.
fn parse_throughput(
    value: &str,
    hosted: &[String],
    defaults: &settings::Throughput,
) -> Result<settings::Throughput, String> {
    let value = value.trim();
    if let Some(enabled) = parse_bool(value) {
        return Ok(settings::Throughput { enabled, ..defaults.clone() });
    }
    let mut throughput = settings::Throughput { enabled: true, mps: defaults.mps, per_number: BTreeMap::new() };
    for part in value.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let rate = |raw: &str| match raw.trim().parse::<f64>() {
            Ok(mps) if mps.is_finite() && mps > 0.0 => Ok(mps),
            _ => Err(format!("{raw:?} is not a positive number of messages per second")),
        };
        match part.split_once('=') {
            None => throughput.mps = rate(part)?,
            Some((id, mps)) => {
                let id = id.trim();
                if !hosted.iter().any(|hosted| hosted == id) {
                    return Err(format!("{id} is not one of WA_SANDBOX_PHONE_NUMBER_IDS"));
                }
                throughput.per_number.insert(id.to_owned(), rate(mps)?);
            }
        }
    }
    Ok(throughput)
}

/// `off`, `on` (the default pattern), or a comma list of patterns.
fn parse_undeliverable(value: &str) -> Result<settings::Undeliverable, String> {
    let value = value.trim();
    if let Some(enabled) = parse_bool(value) {
        return Ok(settings::Undeliverable { enabled, patterns: vec![DEFAULT_UNDELIVERABLE.to_owned()] });
    }
    let patterns: Vec<String> = value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if patterns.is_empty() {
        return Err("expected off, on or a comma list of patterns".into());
    }
    for pattern in &patterns {
        settings::check_pattern(pattern)?;
    }
    Ok(settings::Undeliverable { enabled: true, patterns })
}

fn millis(env: &Env<'_>, name: &str) -> anyhow::Result<Duration> {
    let value = env.string(name);
    value.trim().parse().map(Duration::from_millis).map_err(|_| anyhow!("{name}: expected milliseconds, got {value:?}"))
}

fn rate(env: &Env<'_>, name: &str) -> anyhow::Result<f64> {
    let value = env.string(name);
    match value.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(anyhow!("{name}: expected a number from 0 to 1, got {value:?}")),
    }
}

fn status(env: &Env<'_>, name: &str, allowed: &[u16]) -> anyhow::Result<u16> {
    let value = env.string(name);
    match value.trim().parse::<u16>() {
        Ok(status) if allowed.contains(&status) => Ok(status),
        _ => Err(anyhow!("{name}: expected one of {allowed:?}, got {value:?}")),
    }
}

fn is_graph_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

fn check_webhook_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => bail!("{url:?}: scheme must be http or https, not {other}"),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn empty_environment_gives_the_defaults() {
        let config = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(Config::listen_from(&Env::from_pairs(VARS, &[])).unwrap(), "127.0.0.1:9080".parse().unwrap());
    }

    #[test]
    fn reads_every_variable() {
        let config = Config::from_lookup(lookup(&[
            ("WA_SANDBOX_ACCESS_TOKEN", "tok"),
            ("WA_SANDBOX_APP_SECRET", "sec"),
            ("WA_SANDBOX_VERIFY_TOKEN", "ver"),
            ("WA_SANDBOX_PHONE_NUMBER_IDS", "111, 222,"),
            ("WA_SANDBOX_WABA_ID", "333"),
            ("WA_SANDBOX_APP_ID", "444"),
            ("WA_SANDBOX_WEBHOOK_URL", "http://localhost:1/hook"),
            ("WA_SANDBOX_WEBHOOK_TLS_VERIFY", "true"),
            ("WA_SANDBOX_STATUS_DELAY_MS", "5"),
        ]))
        .unwrap();
        assert_eq!(
            config,
            Config {
                access_token: "tok".into(),
                app_secret: "sec".into(),
                verify_token: "ver".into(),
                phone_number_ids: vec!["111".into(), "222".into()],
                waba_id: "333".into(),
                app_id: "444".into(),
                webhook_url: Some("http://localhost:1/hook".into()),
                webhook_tls_verify: true,
                status_delay: Duration::from_millis(5),
                ..Config::default()
            }
        );
    }

    #[test]
    fn reads_the_rules_and_knobs() {
        let config = Config::from_lookup(lookup(&[
            ("WA_SANDBOX_PHONE_NUMBER_IDS", "111,222"),
            ("WA_SANDBOX_WINDOW", "on"),
            ("WA_SANDBOX_PAIR_RATE_LIMIT", "3/1000"),
            ("WA_SANDBOX_THROUGHPUT", "100000, 222=5"),
            ("WA_SANDBOX_UNDELIVERABLE", "1555*,*99"),
            ("WA_SANDBOX_READ_RATE", "0.5"),
            ("WA_SANDBOX_SKIP_DELIVERED_RATE", "0.25"),
            ("WA_SANDBOX_WEBHOOK_VERSION", "v23.0"),
            ("WA_SANDBOX_WEBHOOK_BATCH_WINDOW_MS", "0"),
            ("WA_SANDBOX_WEBHOOK_BATCH_MAX", "10"),
            ("WA_SANDBOX_WEBHOOK_RETRY_HORIZON_MS", "1000"),
            ("WA_SANDBOX_WEBHOOK_DUPLICATE_RATE", "1"),
            ("WA_SANDBOX_WEBHOOK_REORDER_RATE", "0.1"),
            ("WA_SANDBOX_AUTH_ERROR_STATUS", "400"),
            ("WA_SANDBOX_THROTTLE_STATUS", "429"),
            ("WA_SANDBOX_APPSECRET_PROOF", "yes"),
            ("WA_SANDBOX_PUBLIC_URL", "http://sandbox:9080/"),
            ("WA_SANDBOX_LOG_FORMAT", "json"),
            ("WA_SANDBOX_PARENT_USER_IDS", "on"),
        ]))
        .unwrap();
        let rules = &config.rules;
        assert!(rules.window.enabled);
        assert_eq!(
            (rules.pair_rate_limit.enabled, rules.pair_rate_limit.burst, rules.pair_rate_limit.period_ms),
            (true, 3, 1000)
        );
        assert!(rules.throughput.enabled);
        assert_eq!(rules.throughput.mps_of("111"), 100_000.0);
        assert_eq!(rules.throughput.mps_of("222"), 5.0);
        assert_eq!(rules.undeliverable.patterns, ["1555*", "*99"]);
        assert!(rules.undeliverable.enabled);
        assert_eq!((config.read_rate, config.skip_delivered_rate), (0.5, 0.25));
        assert_eq!(config.webhook_version, "v23.0");
        assert_eq!(config.webhook_batch_window, Duration::ZERO);
        assert_eq!(config.webhook_batch_max, 10);
        assert_eq!(config.webhook_retry_horizon, Duration::from_secs(1));
        assert_eq!((config.webhook_duplicate_rate, config.webhook_reorder_rate), (1.0, 0.1));
        assert_eq!((config.auth_error_status, config.throttle_status), (400, 429));
        assert!(config.require_appsecret_proof && config.log_json && config.parent_user_ids);
        assert_eq!(config.public_url.as_deref(), Some("http://sandbox:9080"));

        let off = Config::from_lookup(lookup(&[("WA_SANDBOX_THROUGHPUT", "off"), ("WA_SANDBOX_UNDELIVERABLE", "on")]))
            .unwrap();
        assert!(!off.rules.throughput.enabled);
        assert_eq!(off.rules.undeliverable.patterns, [DEFAULT_UNDELIVERABLE]);
        let on = Config::from_lookup(lookup(&[("WA_SANDBOX_PAIR_RATE_LIMIT", "on")])).unwrap();
        assert_eq!((on.rules.pair_rate_limit.burst, on.rules.pair_rate_limit.period_ms), (45, 6000));
    }

    #[test]
    fn empty_webhook_url_disables_webhooks() {
        let config = Config::from_lookup(lookup(&[("WA_SANDBOX_WEBHOOK_URL", "")])).unwrap();
        assert_eq!(config.webhook_url, None);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("WA_SANDBOX_PHONE_NUMBER_IDS", "12a"),
            ("WA_SANDBOX_PHONE_NUMBER_IDS", " , "),
            ("WA_SANDBOX_WABA_ID", "x"),
            ("WA_SANDBOX_APP_ID", "app"),
            ("WA_SANDBOX_WEBHOOK_URL", "not a url"),
            ("WA_SANDBOX_WEBHOOK_URL", "ftp://host/x"),
            ("WA_SANDBOX_WEBHOOK_TLS_VERIFY", "maybe"),
            ("WA_SANDBOX_STATUS_DELAY_MS", "-1"),
            ("WA_SANDBOX_ACCESS_TOKEN", ""),
            ("WA_SANDBOX_WINDOW", "sometimes"),
            ("WA_SANDBOX_PAIR_RATE_LIMIT", "0/6000"),
            ("WA_SANDBOX_THROUGHPUT", "fast"),
            ("WA_SANDBOX_THROUGHPUT", "999=10"),
            ("WA_SANDBOX_UNDELIVERABLE", "+1555*"),
            ("WA_SANDBOX_READ_RATE", "2"),
            ("WA_SANDBOX_WEBHOOK_VERSION", "24.0"),
            ("WA_SANDBOX_WEBHOOK_BATCH_MAX", "5000"),
            ("WA_SANDBOX_WEBHOOK_DUPLICATE_RATE", "-0.1"),
            ("WA_SANDBOX_AUTH_ERROR_STATUS", "500"),
            ("WA_SANDBOX_THROTTLE_STATUS", "401"),
            ("WA_SANDBOX_PUBLIC_URL", "sandbox:9080"),
            ("WA_SANDBOX_LOG_FORMAT", "xml"),
            ("WA_SANDBOX_PARENT_USER_IDS", "enrolled"),
        ] {
            let err = Config::from_lookup(lookup(&[(name, value)])).unwrap_err();
            assert!(format!("{err:#}").contains(name), "{name}={value:?} gave {err:#}");
        }
        let err = Config::listen_from(&Env::from_pairs(VARS, &[("WA_SANDBOX_LISTEN", "nope")])).unwrap_err();
        assert!(err.to_string().contains("WA_SANDBOX_LISTEN"));
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?}", Config::default());
        assert!(!shown.contains("sandbox-token"));
        assert!(!shown.contains("sandbox-app-secret"));
        assert!(shown.contains("100000000000001"));
    }
}
