//! Configuration, read once from the environment (DESIGN section 5).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;

/// Shortest token signing key accepted from `WA_WEB_JWT_CRYPTO_KEY`: 256
/// bits, as HS256 needs to be as strong as its hash.
pub const MIN_JWT_KEY_BYTES: usize = 32;

#[derive(Clone)]
pub struct Config {
    /// Name in the generated certificate (`WA_WEB_SERVERNAME`).
    pub servername: String,
    /// Serve HTTPS (`WA_WEB_TLS`, default on).
    pub tls: bool,
    /// coreapp gRPC endpoints (`WA_CORE_ADDRS`).
    pub core_addrs: Vec<String>,
    /// The internal link's credentials (`WA_CLUSTER_DIR`, `WA_CLUSTER_INSECURE`).
    pub cluster: proto::cluster::LinkConfig,
    /// Key for `Authorization: Apikey` (`WA_API_KEY`, 12 to 128 characters).
    pub api_key: Option<String>,
    /// The `meta.version` string (`WA_VERSION`).
    pub version: String,
    /// Verifies `X-Hub-Signature-256` on Cloud webhooks (`WA_CLOUD_APP_SECRET`).
    pub cloud_app_secret: String,
    /// Answers the Cloud webhook handshake (`WA_CLOUD_VERIFY_TOKEN`).
    pub cloud_verify_token: String,
    /// Token signing key (`WA_WEB_JWT_CRYPTO_KEY`); by default a key kept in
    /// the database, the same for every webapp.
    pub jwt_key: Option<Vec<u8>>,
    /// How often revoked tokens are fetched from the coreapps.
    pub revocation_poll: Duration,
    /// `POST /v1/messages` requests per second per webapp, and the burst
    /// (`WA_WEB_MESSAGES_RPS`, `WA_WEB_MESSAGES_BURST`); 0 = no limit.
    pub messages_rps: u32,
    pub messages_burst: u32,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let tls = match var("WA_WEB_TLS").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("on" | "1" | "true") => true,
            Some("off" | "0" | "false") => false,
            Some(other) => bail!("WA_WEB_TLS has invalid value '{other}': expected on or off"),
        };
        let core_addrs: Vec<String> = var("WA_CORE_ADDRS")
            .unwrap_or_else(|| "127.0.0.1:6250".into())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if core_addrs.is_empty() {
            bail!("WA_CORE_ADDRS names no coreapp");
        }
        let api_key = match var("WA_API_KEY") {
            None => None,
            Some(k) if (12..=128).contains(&k.chars().count()) => Some(k),
            Some(_) => bail!("WA_API_KEY must be between 12 and 128 characters"),
        };
        let number = |name: &str, default: u32| -> anyhow::Result<u32> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|e| anyhow::anyhow!("{name} has invalid value '{v}': {e}")),
            }
        };
        if var("WA_WEB_LOGIN_FAILURES_PER_HOUR").is_some() {
            bail!(
                "WA_WEB_LOGIN_FAILURES_PER_HOUR is no longer read by the webapp: failed logins are counted by the \
                 coreapps across every webapp; set WA_LOGIN_FAILURES_PER_HOUR on the coreapps instead"
            );
        }
        let messages_rps = number("WA_WEB_MESSAGES_RPS", 0)?;
        let messages_burst = number("WA_WEB_MESSAGES_BURST", messages_rps * 3)?;
        Ok(Config {
            messages_rps,
            messages_burst,
            servername: var("WA_WEB_SERVERNAME").unwrap_or_else(|| "localhost".into()),
            tls,
            core_addrs,
            cluster: proto::cluster::LinkConfig::from_env(proto::cluster::Role::Webapp).map_err(anyhow::Error::msg)?,
            api_key,
            version: var("WA_VERSION").unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
            cloud_app_secret: var("WA_CLOUD_APP_SECRET").unwrap_or_default(),
            cloud_verify_token: var("WA_CLOUD_VERIFY_TOKEN").unwrap_or_default(),
            jwt_key: match var("WA_WEB_JWT_CRYPTO_KEY") {
                Some(k) if k.len() < MIN_JWT_KEY_BYTES => bail!(
                    "WA_WEB_JWT_CRYPTO_KEY must be at least {MIN_JWT_KEY_BYTES} bytes (it signs every session token; \
                     e.g. openssl rand -hex 32)"
                ),
                other => other.map(String::into_bytes),
            },
            revocation_poll: Duration::from_secs(2),
        })
    }

    /// `WA_WEB_LISTEN`, default `0.0.0.0:443`.
    pub fn listen_from_env() -> anyhow::Result<SocketAddr> {
        match var("WA_WEB_LISTEN") {
            None => Ok(SocketAddr::from(([0, 0, 0, 0], 443))),
            Some(v) => v.parse().map_err(|e| anyhow::anyhow!("WA_WEB_LISTEN has invalid value '{v}': {e}")),
        }
    }

    /// The effective configuration without secrets, for the start-up log.
    pub fn describe(&self) -> String {
        format!(
            "tls={} servername={} core={} cluster_link={} api_key={} version={} cloud_app_secret={} verify_token={}",
            if self.tls { "on" } else { "off" },
            self.servername,
            self.core_addrs.join(","),
            self.cluster.describe(),
            if self.api_key.is_some() { "set" } else { "unset" },
            self.version,
            if self.cloud_app_secret.is_empty() { "unset" } else { "set" },
            if self.cloud_verify_token.is_empty() { "unset" } else { "set" },
        )
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
