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
    /// What a client may hold of this webapp: time, connections, memory.
    pub edge: EdgeLimits,
}

/// The webapp's defences against slow and greedy clients. Every limit
/// protects the many from the few: a legitimate client never comes near
/// them, and a hostile one cannot hold time, connections or memory for long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeLimits {
    /// A request head must be complete this long after its first byte
    /// (after the connection opened, for the first request). The TLS
    /// handshake gets the same time (`WA_WEB_HEADER_TIMEOUT_S`).
    pub header_timeout: Duration,
    /// A request body may keep the handler waiting this long without a byte
    /// (`WA_WEB_BODY_TIMEOUT_S`). It is also the grace period of
    /// `body_min_rate`.
    pub body_timeout: Duration,
    /// After the grace period a body must average at least this many bytes
    /// per second of waiting; 0 turns the check off (`WA_WEB_BODY_MIN_RATE`).
    pub body_min_rate: u64,
    /// A connection with no request in flight is closed after this long,
    /// on HTTP/1.1 and HTTP/2 alike (`WA_WEB_IDLE_TIMEOUT_S`).
    pub idle_timeout: Duration,
    /// A response the client stops reading is abandoned, and its
    /// connection closed, once no byte could be written for this long
    /// (`WA_WEB_WRITE_TIMEOUT_S`).
    pub write_timeout: Duration,
    /// Connections open at once; more are closed as soon as they are
    /// accepted (`WA_WEB_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Bytes of request bodies read before their caller is authenticated
    /// (Cloud webhooks, logins), all such requests together; beyond it they
    /// are refused with 503/1016 (`WA_WEB_UNAUTH_BODY_BUDGET_MB`).
    pub unauthenticated_body_budget: u64,
}

const MB: u64 = 1024 * 1024;

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            body_min_rate: 1024,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 1024,
            unauthenticated_body_budget: 32 * MB,
        }
    }
}

impl EdgeLimits {
    /// The largest body read before authentication (a Cloud webhook, 4 MB);
    /// a smaller budget could never accept one.
    pub const MIN_BUDGET_MB: u64 = 4;

    /// Reads the `WA_WEB_*` limits through `lookup` (the environment, or a
    /// table in tests); unset variables keep their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<EdgeLimits> {
        let d = EdgeLimits::default();
        let number = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> anyhow::Result<u64> {
            let Some(v) = lookup(name) else { return Ok(default) };
            let n: u64 = v.trim().parse().map_err(|e| anyhow::anyhow!("{name} has invalid value '{v}': {e}"))?;
            if !range.contains(&n) {
                bail!("{name} has invalid value '{v}': must be from {} to {}", range.start(), range.end());
            }
            Ok(n)
        };
        // Up to a day: longer is no limit at all.
        let seconds =
            |name: &str, default: Duration| number(name, default.as_secs(), 1..=86_400).map(Duration::from_secs);
        Ok(EdgeLimits {
            header_timeout: seconds("WA_WEB_HEADER_TIMEOUT_S", d.header_timeout)?,
            body_timeout: seconds("WA_WEB_BODY_TIMEOUT_S", d.body_timeout)?,
            body_min_rate: number("WA_WEB_BODY_MIN_RATE", d.body_min_rate, 0..=u64::MAX)?,
            idle_timeout: seconds("WA_WEB_IDLE_TIMEOUT_S", d.idle_timeout)?,
            write_timeout: seconds("WA_WEB_WRITE_TIMEOUT_S", d.write_timeout)?,
            max_connections: number("WA_WEB_MAX_CONNECTIONS", d.max_connections as u64, 1..=1_000_000)? as usize,
            unauthenticated_body_budget: number(
                "WA_WEB_UNAUTH_BODY_BUDGET_MB",
                d.unauthenticated_body_budget / MB,
                Self::MIN_BUDGET_MB..=1024 * 1024,
            )? * MB,
        })
    }

    fn describe(&self) -> String {
        format!(
            "header_timeout={}s body_timeout={}s body_min_rate={}B/s idle_timeout={}s write_timeout={}s \
             max_connections={} unauth_body_budget={}MB",
            self.header_timeout.as_secs(),
            self.body_timeout.as_secs(),
            self.body_min_rate,
            self.idle_timeout.as_secs(),
            self.write_timeout.as_secs(),
            self.max_connections,
            self.unauthenticated_body_budget / MB,
        )
    }
}

impl Config {
    /// `WA_WEB_TLS`: HTTPS (the default) or plain HTTP.
    pub fn tls_from_env() -> anyhow::Result<bool> {
        Ok(match var("WA_WEB_TLS").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("on" | "1" | "true") => true,
            Some("off" | "0" | "false") => false,
            Some(other) => bail!("WA_WEB_TLS has invalid value '{other}': expected on or off"),
        })
    }

    pub fn from_env() -> anyhow::Result<Config> {
        let tls = Self::tls_from_env()?;
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
            jwt_key: jwt_key(var("WA_WEB_JWT_CRYPTO_KEY"))?,
            revocation_poll: Duration::from_secs(2),
            edge: EdgeLimits::from_lookup(var)?,
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
            "tls={} servername={} core={} cluster_link={} api_key={} version={} cloud_app_secret={} verify_token={} {}",
            if self.tls { "on" } else { "off" },
            self.servername,
            self.core_addrs.join(","),
            self.cluster.describe(),
            if self.api_key.is_some() { "set" } else { "unset" },
            self.version,
            if self.cloud_app_secret.is_empty() { "unset" } else { "set" },
            if self.cloud_verify_token.is_empty() { "unset" } else { "set" },
            self.edge.describe(),
        )
    }
}

/// `WA_WEB_JWT_CRYPTO_KEY`: unset, or at least [`MIN_JWT_KEY_BYTES`].
fn jwt_key(value: Option<String>) -> anyhow::Result<Option<Vec<u8>>> {
    match value {
        Some(k) if k.len() < MIN_JWT_KEY_BYTES => bail!(
            "WA_WEB_JWT_CRYPTO_KEY must be at least {MIN_JWT_KEY_BYTES} bytes (it signs every session token; \
             e.g. openssl rand -hex 32)"
        ),
        other => Ok(other.map(String::into_bytes)),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(vars: &[(&str, &str)]) -> anyhow::Result<EdgeLimits> {
        EdgeLimits::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn token_keys_are_long_enough_or_unset() {
        assert_eq!(jwt_key(None).unwrap(), None);
        let err = jwt_key(Some("short-key".into())).unwrap_err().to_string();
        assert!(err.contains("WA_WEB_JWT_CRYPTO_KEY") && err.contains("32"), "{err}");
        assert!(jwt_key(Some("x".repeat(31))).is_err());
        assert_eq!(jwt_key(Some("k".repeat(32))).unwrap(), Some(vec![b'k'; 32]));
    }

    #[test]
    fn edge_limits_default_and_parse() {
        assert_eq!(limits(&[]).unwrap(), EdgeLimits::default());
        let l = limits(&[
            ("WA_WEB_HEADER_TIMEOUT_S", "5"),
            ("WA_WEB_BODY_MIN_RATE", "0"),
            ("WA_WEB_MAX_CONNECTIONS", "10"),
            ("WA_WEB_UNAUTH_BODY_BUDGET_MB", "8"),
        ])
        .unwrap();
        assert_eq!(l.header_timeout, Duration::from_secs(5));
        assert_eq!(l.body_min_rate, 0);
        assert_eq!(l.max_connections, 10);
        assert_eq!(l.unauthenticated_body_budget, 8 * MB);
    }

    #[test]
    fn bad_edge_limits_name_their_variable() {
        for (name, value) in [
            ("WA_WEB_IDLE_TIMEOUT_S", "soon"),
            ("WA_WEB_BODY_TIMEOUT_S", "0"),
            ("WA_WEB_MAX_CONNECTIONS", "-1"),
            ("WA_WEB_UNAUTH_BODY_BUDGET_MB", "1"),
            ("WA_WEB_UNAUTH_BODY_BUDGET_MB", "99999999999999999"),
            ("WA_WEB_HEADER_TIMEOUT_S", "18446744073709551615"),
            ("WA_WEB_MAX_CONNECTIONS", "0"),
        ] {
            let e = limits(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
