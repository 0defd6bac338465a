//! Configuration, read once from the environment: every variable is
//! declared in [`VARS`] and read through an [`envconf::Env`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use envconf::{Env, Var};

/// Every variable the webapp reads, with its default and meaning: the one
/// place they are declared (`webapp config` prints them; the README's table
/// is checked against them).
pub const VARS: &[Var] = &[
    Var::new("WA_WEB_LISTEN", "0.0.0.0:443", "listen address"),
    Var::new(
        "WA_WEB_SERVERNAME",
        "localhost",
        "name in the generated certificate (SAN also has `localhost`, `127.0.0.1`)",
    ),
    Var::new("WA_WEB_TLS", "on", "`off` serves plain HTTP behind a TLS proxy"),
    Var::new(
        "WA_CORE_ADDRS",
        "127.0.0.1:6250",
        "coreapp gRPC endpoints (`host:port`), comma separated; names are re-resolved every 5 s and every \
         address counts; messages go to `crc32(to) % healthy nodes`",
    ),
    proto::cluster::VARS[0],
    proto::cluster::VARS[1],
    Var::unset(
        "WA_API_KEY",
        "12-128 characters; `Authorization: Apikey <key>` opens `/v1/health`, `/metrics`, `/v1/metrics` and \
         `/v1/stats/*`",
    )
    .secret(),
    Var::computed("WA_VERSION", "the crate version", "the `meta.version` string"),
    Var::computed(
        "WA_WEB_JWT_CRYPTO_KEY",
        "a key kept in the database",
        "signs session tokens, at least 32 bytes; set the same value on every webapp, or leave unset",
    )
    .secret(),
    Var::new(
        "WA_WEB_MESSAGES_RPS",
        "0",
        "`POST /v1/messages` requests per second per webapp before 429/1015 (0: no limit)",
    ),
    Var::computed("WA_WEB_MESSAGES_BURST", "3x the rate", "requests above `WA_WEB_MESSAGES_RPS` allowed at once"),
    Var::new(
        "WA_WEB_HEADER_TIMEOUT_S",
        "10",
        "seconds a request head may take from its first byte (the TLS handshake gets as long); then the \
         connection is closed",
    ),
    Var::new(
        "WA_WEB_BODY_TIMEOUT_S",
        "20",
        "seconds a request body may pause, and the grace period of `WA_WEB_BODY_MIN_RATE`; beyond, 400/1009 \
         and the connection closed",
    ),
    Var::new(
        "WA_WEB_BODY_MIN_RATE",
        "1024",
        "bytes per second a request body must average after its grace period (0: no minimum)",
    ),
    Var::new(
        "WA_WEB_IDLE_TIMEOUT_S",
        "60",
        "seconds a connection with no request in flight (HTTP/1.1 keep-alive or HTTP/2) stays open",
    ),
    Var::new(
        "WA_WEB_WRITE_TIMEOUT_S",
        "30",
        "seconds a response may wait for a client that does not read it; then the connection is closed",
    ),
    Var::new("WA_WEB_MAX_CONNECTIONS", "1024", "open client connections; more are closed as soon as they are accepted"),
    Var::new(
        "WA_WEB_UNAUTH_BODY_BUDGET_MB",
        "32",
        "MB of request bodies read before their caller is authenticated (Cloud webhooks, logins), all \
         together (at least 4); beyond, 503/1016",
    ),
    Var::unset(
        "WA_CLOUD_APP_SECRET",
        "verifies `X-Hub-Signature-256` of Cloud webhooks (unset: every POST is refused)",
    )
    .secret(),
    Var::unset("WA_CLOUD_VERIFY_TOKEN", "answers the GET handshake (unset: refused)").secret(),
    Var::unset(
        "WA_WEB_LOGIN_FAILURES_PER_HOUR",
        "no longer read: set, it stops the webapp with a pointer to the coreapps' `WA_LOGIN_FAILURES_PER_HOUR`",
    ),
    Var::new("RUST_LOG", "info", "log filter"),
];

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
    /// The registry's defaults.
    fn default() -> Self {
        EdgeLimits::read(&Env::from_pairs(VARS, &[])).expect("the declared defaults are valid")
    }
}

impl EdgeLimits {
    /// The largest body read before authentication (a Cloud webhook, 4 MB);
    /// a smaller budget could never accept one.
    pub const MIN_BUDGET_MB: u64 = 4;

    /// Reads the `WA_WEB_*` limits through `env`; unset variables take
    /// their declared defaults.
    pub fn read(env: &Env<'_>) -> anyhow::Result<EdgeLimits> {
        let number = |name: &str, range: std::ops::RangeInclusive<u64>| -> anyhow::Result<u64> {
            let n: u64 = env.parse(name)?;
            if !range.contains(&n) {
                bail!("{name} has invalid value '{n}': must be from {} to {}", range.start(), range.end());
            }
            Ok(n)
        };
        // Up to a day: longer is no limit at all.
        let seconds = |name: &str| number(name, 1..=86_400).map(Duration::from_secs);
        Ok(EdgeLimits {
            header_timeout: seconds("WA_WEB_HEADER_TIMEOUT_S")?,
            body_timeout: seconds("WA_WEB_BODY_TIMEOUT_S")?,
            body_min_rate: number("WA_WEB_BODY_MIN_RATE", 0..=u64::MAX)?,
            idle_timeout: seconds("WA_WEB_IDLE_TIMEOUT_S")?,
            write_timeout: seconds("WA_WEB_WRITE_TIMEOUT_S")?,
            max_connections: number("WA_WEB_MAX_CONNECTIONS", 1..=1_000_000)? as usize,
            unauthenticated_body_budget: number("WA_WEB_UNAUTH_BODY_BUDGET_MB", Self::MIN_BUDGET_MB..=1024 * 1024)?
                * MB,
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
        Env::process(VARS).flag("WA_WEB_TLS")
    }

    /// Reads every variable of [`VARS`] from the process environment; a
    /// malformed value is an error that names the variable.
    pub fn from_env() -> anyhow::Result<Config> {
        Self::read(&Env::process(VARS))
    }

    /// Reads the configuration through `env` (tests fill one from pairs).
    pub fn read(env: &Env<'_>) -> anyhow::Result<Config> {
        let tls = env.flag("WA_WEB_TLS")?;
        let core_addrs: Vec<String> =
            env.string("WA_CORE_ADDRS").split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if core_addrs.is_empty() {
            bail!("WA_CORE_ADDRS names no coreapp");
        }
        let api_key = match env.raw("WA_API_KEY") {
            None => None,
            Some(k) if (12..=128).contains(&k.chars().count()) => Some(k),
            Some(_) => bail!("WA_API_KEY must be between 12 and 128 characters"),
        };
        if env.raw("WA_WEB_LOGIN_FAILURES_PER_HOUR").is_some() {
            bail!(
                "WA_WEB_LOGIN_FAILURES_PER_HOUR is no longer read by the webapp: failed logins are counted by the \
                 coreapps across every webapp; set WA_LOGIN_FAILURES_PER_HOUR on the coreapps instead"
            );
        }
        let messages_rps: u32 = env.parse("WA_WEB_MESSAGES_RPS")?;
        let messages_burst = env.parse_opt("WA_WEB_MESSAGES_BURST")?.unwrap_or(messages_rps * 3);
        Ok(Config {
            messages_rps,
            messages_burst,
            servername: env.string("WA_WEB_SERVERNAME"),
            tls,
            core_addrs,
            cluster: proto::cluster::LinkConfig::from_env(env, proto::cluster::Role::Webapp)
                .map_err(anyhow::Error::msg)?,
            api_key,
            version: env.raw("WA_VERSION").unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
            cloud_app_secret: env.string("WA_CLOUD_APP_SECRET"),
            cloud_verify_token: env.string("WA_CLOUD_VERIFY_TOKEN"),
            jwt_key: jwt_key(env.raw("WA_WEB_JWT_CRYPTO_KEY"))?,
            revocation_poll: Duration::from_secs(2),
            edge: EdgeLimits::read(env)?,
        })
    }

    /// `WA_WEB_LISTEN`, default `0.0.0.0:443`.
    pub fn listen_from_env() -> anyhow::Result<SocketAddr> {
        Env::process(VARS).parse("WA_WEB_LISTEN")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(vars: &[(&str, &str)]) -> anyhow::Result<EdgeLimits> {
        EdgeLimits::read(&Env::from_pairs(VARS, vars))
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
        let d = limits(&[]).unwrap();
        assert_eq!((d.header_timeout, d.max_connections), (Duration::from_secs(10), 1024));
        assert_eq!(d.unauthenticated_body_budget, 32 * MB);
        assert_eq!(d, EdgeLimits::default());
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
    fn the_whole_configuration_reads_through_the_registry() {
        let c = Config::read(&Env::from_pairs(VARS, &[("WA_WEB_MESSAGES_RPS", "50")])).unwrap();
        assert_eq!((c.messages_rps, c.messages_burst), (50, 150));
        assert_eq!(c.core_addrs, ["127.0.0.1:6250"]);
        assert!(c.tls && c.api_key.is_none());
        for (name, value) in
            [("WA_WEB_TLS", "sometimes"), ("WA_API_KEY", "short"), ("WA_WEB_LOGIN_FAILURES_PER_HOUR", "9")]
        {
            let err = Config::read(&Env::from_pairs(VARS, &[(name, value)])).err().unwrap().to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
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
