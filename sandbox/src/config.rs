//! The sandbox's configuration, read once from `WA_SANDBOX_*` environment variables.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

/// Default listen address (`WA_SANDBOX_LISTEN`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9080";

const DEFAULT_ACCESS_TOKEN: &str = "sandbox-token";
const DEFAULT_APP_SECRET: &str = "sandbox-app-secret";
const DEFAULT_VERIFY_TOKEN: &str = "sandbox-verify-token";
const DEFAULT_PHONE_NUMBER_IDS: &str = "100000000000001";
const DEFAULT_WABA_ID: &str = "200000000000001";
const DEFAULT_WEBHOOK_URL: &str = "https://127.0.0.1:9090/cloud/webhooks";
const DEFAULT_STATUS_DELAY_MS: u64 = 200;

/// Everything the simulator needs to know, built once in `main` (or directly by tests).
///
/// The defaults are the dev stack's, so a sandbox and a webapp started with no
/// settings agree with each other.
#[derive(Clone, PartialEq, Eq)]
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
    /// Where webhooks go (`WA_SANDBOX_WEBHOOK_URL`); `None` (an empty variable) sends none.
    pub webhook_url: Option<String>,
    /// Check the webhook server's certificate (`WA_SANDBOX_WEBHOOK_TLS_VERIFY`). Off by
    /// default because the dev webapp serves a self-signed certificate.
    pub webhook_tls_verify: bool,
    /// Pause between the `sent`, `delivered` and `read` statuses of a message
    /// (`WA_SANDBOX_STATUS_DELAY_MS`).
    pub status_delay: Duration,
}

// === impl Config ===

impl Default for Config {
    fn default() -> Self {
        Config {
            access_token: DEFAULT_ACCESS_TOKEN.to_owned(),
            app_secret: DEFAULT_APP_SECRET.to_owned(),
            verify_token: DEFAULT_VERIFY_TOKEN.to_owned(),
            phone_number_ids: vec![DEFAULT_PHONE_NUMBER_IDS.to_owned()],
            waba_id: DEFAULT_WABA_ID.to_owned(),
            webhook_url: Some(DEFAULT_WEBHOOK_URL.to_owned()),
            webhook_tls_verify: false,
            status_delay: Duration::from_millis(DEFAULT_STATUS_DELAY_MS),
        }
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
            .field("webhook_url", &self.webhook_url)
            .field("webhook_tls_verify", &self.webhook_tls_verify)
            .field("status_delay", &self.status_delay)
            .finish()
    }
}

impl Config {
    /// Reads the `WA_SANDBOX_*` variables; a malformed value is an error naming its variable.
    pub fn from_env() -> anyhow::Result<Config> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads `WA_SANDBOX_LISTEN` (default `127.0.0.1:9080`).
    pub fn listen_from_env() -> anyhow::Result<SocketAddr> {
        Self::listen_from_lookup(|name| std::env::var_os(name))
    }

    /// Like [`Config::from_env`], with the variables taken from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> anyhow::Result<Config> {
        let env = Env(&lookup);
        let access_token = env.string("WA_SANDBOX_ACCESS_TOKEN", DEFAULT_ACCESS_TOKEN)?;
        let app_secret = env.string("WA_SANDBOX_APP_SECRET", DEFAULT_APP_SECRET)?;
        let verify_token = env.string("WA_SANDBOX_VERIFY_TOKEN", DEFAULT_VERIFY_TOKEN)?;
        for (name, value) in [
            ("WA_SANDBOX_ACCESS_TOKEN", &access_token),
            ("WA_SANDBOX_APP_SECRET", &app_secret),
            ("WA_SANDBOX_VERIFY_TOKEN", &verify_token),
        ] {
            if value.is_empty() {
                bail!("{name} must not be empty");
            }
        }

        let ids = env.string("WA_SANDBOX_PHONE_NUMBER_IDS", DEFAULT_PHONE_NUMBER_IDS)?;
        let phone_number_ids: Vec<String> =
            ids.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect();
        if phone_number_ids.is_empty() {
            bail!("WA_SANDBOX_PHONE_NUMBER_IDS must name at least one phone number id");
        }
        if let Some(bad) = phone_number_ids.iter().find(|id| !is_graph_id(id)) {
            bail!("WA_SANDBOX_PHONE_NUMBER_IDS: {bad:?} is not a numeric id");
        }

        let waba_id = env.string("WA_SANDBOX_WABA_ID", DEFAULT_WABA_ID)?;
        if !is_graph_id(&waba_id) {
            bail!("WA_SANDBOX_WABA_ID: {waba_id:?} is not a numeric id");
        }

        let webhook_url = env.string("WA_SANDBOX_WEBHOOK_URL", DEFAULT_WEBHOOK_URL)?;
        let webhook_url = match webhook_url.trim() {
            "" => None,
            url => {
                check_webhook_url(url).context("WA_SANDBOX_WEBHOOK_URL")?;
                Some(url.to_owned())
            }
        };

        let webhook_tls_verify = match env.get("WA_SANDBOX_WEBHOOK_TLS_VERIFY")? {
            None => false,
            Some(value) => parse_bool(&value)
                .ok_or_else(|| anyhow!("WA_SANDBOX_WEBHOOK_TLS_VERIFY: expected true or false, got {value:?}"))?,
        };

        let status_delay = match env.get("WA_SANDBOX_STATUS_DELAY_MS")? {
            None => Duration::from_millis(DEFAULT_STATUS_DELAY_MS),
            Some(value) => value
                .trim()
                .parse()
                .map(Duration::from_millis)
                .map_err(|_| anyhow!("WA_SANDBOX_STATUS_DELAY_MS: expected milliseconds, got {value:?}"))?,
        };

        Ok(Config {
            access_token,
            app_secret,
            verify_token,
            phone_number_ids,
            waba_id,
            webhook_url,
            webhook_tls_verify,
            status_delay,
        })
    }

    /// Like [`Config::listen_from_env`], with the variables taken from `lookup`.
    pub fn listen_from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> anyhow::Result<SocketAddr> {
        let value = Env(&lookup).string("WA_SANDBOX_LISTEN", DEFAULT_LISTEN)?;
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
        if let Some(url) = &self.webhook_url {
            check_webhook_url(url).context("config: webhook_url")?;
        }
        Ok(())
    }
}

struct Env<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<OsString>> Env<'_, F> {
    fn get(&self, name: &str) -> anyhow::Result<Option<String>> {
        match (self.0)(name) {
            None => Ok(None),
            Some(raw) => raw.into_string().map(Some).map_err(|_| anyhow!("{name} is not valid UTF-8")),
        }
    }

    fn string(&self, name: &str, default: &str) -> anyhow::Result<String> {
        Ok(self.get(name)?.unwrap_or_else(|| default.to_owned()))
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

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).map(OsString::from)
    }

    #[test]
    fn empty_environment_gives_the_defaults() {
        let config = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(Config::listen_from_lookup(lookup(&[])).unwrap(), "127.0.0.1:9080".parse().unwrap());
    }

    #[test]
    fn reads_every_variable() {
        let config = Config::from_lookup(lookup(&[
            ("WA_SANDBOX_ACCESS_TOKEN", "tok"),
            ("WA_SANDBOX_APP_SECRET", "sec"),
            ("WA_SANDBOX_VERIFY_TOKEN", "ver"),
            ("WA_SANDBOX_PHONE_NUMBER_IDS", "111, 222,"),
            ("WA_SANDBOX_WABA_ID", "333"),
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
                webhook_url: Some("http://localhost:1/hook".into()),
                webhook_tls_verify: true,
                status_delay: Duration::from_millis(5),
            }
        );
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
            ("WA_SANDBOX_WEBHOOK_URL", "not a url"),
            ("WA_SANDBOX_WEBHOOK_URL", "ftp://host/x"),
            ("WA_SANDBOX_WEBHOOK_TLS_VERIFY", "maybe"),
            ("WA_SANDBOX_STATUS_DELAY_MS", "-1"),
            ("WA_SANDBOX_ACCESS_TOKEN", ""),
        ] {
            let err = Config::from_lookup(lookup(&[(name, value)])).unwrap_err();
            assert!(format!("{err:#}").contains(name), "{name}={value:?} gave {err:#}");
        }
        let err = Config::listen_from_lookup(lookup(&[("WA_SANDBOX_LISTEN", "nope")])).unwrap_err();
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
