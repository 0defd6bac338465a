//! Configuration, read once from the environment: every variable is
//! declared in [`VARS`] and read through an [`envconf::Env`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use envconf::{Env, Var};
use wire::netpolicy::{HostPattern, IpNet};

/// Which database engine, and how to reach it.
#[derive(Clone, Debug)]
pub enum DbConfig {
    Sqlite { path: PathBuf },
    Mysql(ServerDb),
    Pgsql(ServerDb),
}

/// A database server: MySQL/MariaDB or PostgreSQL.
#[derive(Clone)]
pub struct ServerDb {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    /// The database is `<prefix>wa_onprem`.
    pub name_prefix: String,
    /// TLS to the server.
    pub tls: DbTls,
}

/// How the link to the database server is protected (`WA_DB_SSL_MODE`,
/// `WA_DB_SSL_CA`), with libpq's names for the levels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DbTls {
    pub mode: SslMode,
    /// The CA certificates (PEM) the server's certificate must chain to, for
    /// the `VERIFY_*` modes.
    pub ca: PathBuf,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// Plain TCP.
    #[default]
    Disable,
    /// TLS, refusing a server without it; its certificate is not checked.
    Require,
    /// TLS with a certificate issued by the CA, for any host name.
    VerifyCa,
    /// TLS with a certificate issued by the CA for `WA_DB_HOSTNAME`.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "DISABLE",
            SslMode::Require => "REQUIRE",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyFull => "VERIFY_FULL",
        }
    }

    /// Reads libpq's and MySQL's spellings of the levels, in any case.
    fn parse(value: &str) -> Option<SslMode> {
        match value.to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLE" | "DISABLED" => Some(SslMode::Disable),
            "REQUIRE" | "REQUIRED" => Some(SslMode::Require),
            "VERIFY_CA" => Some(SslMode::VerifyCa),
            "VERIFY_FULL" | "VERIFY_IDENTITY" => Some(SslMode::VerifyFull),
            _ => None,
        }
    }
}

/// The system's CA bundle on Debian (the `ca-certificates` package).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

impl std::fmt::Debug for ServerDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}/{}", self.username, self.host, self.port, self.database())?;
        if self.tls.mode != SslMode::Disable {
            write!(f, " TLS {}", self.tls.mode.as_str())?;
        }
        Ok(())
    }
}

impl ServerDb {
    /// The database's name on the server.
    pub fn database(&self) -> String {
        DbConfig::mysql_database(&self.name_prefix)
    }
}

impl DbConfig {
    /// The database name on a server: `<prefix>wa_onprem`.
    pub fn mysql_database(prefix: &str) -> String {
        format!("{prefix}wa_onprem")
    }

    /// The server, for MySQL and PostgreSQL.
    pub fn server(&self) -> Option<&ServerDb> {
        match self {
            DbConfig::Sqlite { .. } => None,
            DbConfig::Mysql(server) | DbConfig::Pgsql(server) => Some(server),
        }
    }

    /// A description safe for logs (no password).
    pub fn describe(&self) -> String {
        match self {
            DbConfig::Sqlite { path } => format!("SQLITE {}", path.display()),
            DbConfig::Mysql(server) => format!("MYSQL {server:?}"),
            DbConfig::Pgsql(server) => format!("PGSQL {server:?}"),
        }
    }
}

/// The Cloud API this coreapp talks to.
#[derive(Clone)]
pub struct CloudConfig {
    pub base_url: String,
    pub api_version: String,
    pub access_token: String,
    pub phone_number_id: String,
    pub waba_id: String,
    /// The Meta app, whose Resumable Upload API takes profile photos.
    pub app_id: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Hosts besides the base URL's that Cloud's media download URLs may
    /// name (HTTPS only): the token goes to no other host.
    pub media_hosts: Vec<HostPattern>,
}

/// Where Cloud serves media downloads (`WA_CLOUD_MEDIA_HOSTS` by default).
pub const CLOUD_MEDIA_HOSTS: &str = "lookaside.fbsbx.com";

/// Where media links may be fetched with a provider's credentials (see
/// `crate::clients::outbound`).
#[derive(Clone, Debug, Default)]
pub struct LinkConfig {
    /// Hosts for providers that list none of their own
    /// (`WA_MEDIA_PROVIDER_HOSTS`).
    pub provider_hosts: Vec<HostPattern>,
    /// Address ranges links may reach whatever their class
    /// (`WA_MEDIA_LINK_ALLOW`); otherwise only public addresses, and
    /// internal ones of hosts listed by exact name.
    pub allow: Vec<IpNet>,
}

/// Knobs of the background workers.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How often an idle worker looks for due work written by other nodes.
    pub poll_interval: Duration,
    /// How long a claim is held before another node may take the work over.
    pub lease: Duration,
    /// Cloud throughput of the business number, messages per second.
    pub send_rate: u32,
    /// How often the Cloud API health check runs.
    pub health_interval: Duration,
    /// Pending webhook events above which the API answers 1016.
    pub max_callback_backlog: i64,
    /// How often the media garbage collector runs.
    pub gc_interval: Duration,
    /// How long media ids and their files are kept when
    /// `garbagecollector_enable.media` is on.
    pub media_retention: Duration,
    /// Run the workers in the background (always, in the binary). Tests
    /// that drive them step by step with [`crate::engine::drain`] turn
    /// this off.
    pub background: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval: Duration::from_millis(250),
            lease: Duration::from_secs(60),
            send_rate: 80,
            health_interval: Duration::from_secs(5),
            max_callback_backlog: 100_000,
            gc_interval: Duration::from_secs(600),
            media_retention: Duration::from_secs(30 * 24 * 3600),
            background: true,
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub node_id: String,
    /// The internal gRPC link: credentials, or the insecure switch.
    pub cluster: proto::cluster::LinkConfig,
    /// Failed logins allowed per client per hour, across every node
    /// (`WA_LOGIN_FAILURES_PER_HOUR`, default 30; 0 = no limit).
    pub login_failures_per_hour: u32,
    pub db: DbConfig,
    pub db_pool_size: u32,
    pub media_dir: PathBuf,
    pub cloud: CloudConfig,
    pub links: LinkConfig,
    pub workers: WorkerConfig,
}

/// Every variable the coreapp reads, with its default and meaning: the one
/// place they are declared (`coreapp config` prints them; the README's
/// table is checked against them).
pub const VARS: &[Var] = &[
    Var::new(
        "WA_CORE_LISTEN",
        "0.0.0.0:6250",
        "gRPC listen address; anything but loopback needs `WA_CLUSTER_DIR` (or `WA_CLUSTER_INSECURE`)",
    ),
    Var::computed("WA_NODE_ID", "host name", "node name in health, logs and work claims; unique per coreapp"),
    proto::cluster::VARS[0],
    proto::cluster::VARS[1],
    Var::new(
        "WA_LOGIN_FAILURES_PER_HOUR",
        "30",
        "failed logins per client address per hour, across every node, before 429/1015 (0: no limit); replaces \
         the webapp's `WA_WEB_LOGIN_FAILURES_PER_HOUR`, which now stops the webapp with a pointer here",
    ),
    Var::new(
        "WA_WORK_LEASE_S",
        "60",
        "how long a claim on queued work holds before other coreapps may take it over (at least 3)",
    ),
    Var::new("WA_DB_ENGINE", "SQLITE", "`SQLITE`, `MYSQL` (MySQL or MariaDB) or `PGSQL` (PostgreSQL)"),
    Var::new("WA_DB_HOSTNAME", "127.0.0.1", "database server (MYSQL, PGSQL)"),
    Var::unset("WA_DB_PORT", "database server port; 3306 for MYSQL and 5432 for PGSQL when unset"),
    Var::new("WA_DB_USERNAME", "root", "database user (MYSQL, PGSQL)"),
    Var::unset("WA_DB_PASSWORD", "database password (MYSQL, PGSQL)").secret(),
    Var::unset("WA_DB_NAME_PREFIX", "the database is `<prefix>wa_onprem` (letters, digits, `_`), to share one DB host"),
    Var::unset(
        "WA_DB_SSL_MODE",
        "TLS to the database server: `DISABLE`, `REQUIRE`, `VERIFY_CA` or `VERIFY_FULL`; when unset, `DISABLE` for a loopback `WA_DB_HOSTNAME` and `VERIFY_FULL` for any other",
    ),
    Var::unset("WA_DB_SSL_CA", "CA certificates (PEM) for the `VERIFY_*` modes; the system's bundle when unset"),
    Var::new("WA_DB_SQLITE_PATH", "./data/wa.db", "SQLite file"),
    Var::new("WA_DB_POOL_SIZE", "10", "database connections per coreapp (SQLite always uses one)"),
    Var::new(
        "WA_MEDIA_DIR",
        "/usr/local/wamedia",
        "shared media volume (created and checked at start); inbound webhooks name files under it in `file`",
    ),
    Var::new(
        "WA_MEDIA_RETENTION_DAYS",
        "30",
        "age at which media ids and their files are removed, when `garbagecollector_enable.media` is on \
         (and by `PUT /v1/services/media/gc`)",
    ),
    Var::new("WA_CLOUD_BASE_URL", "https://graph.facebook.com", "Cloud API base (the sandbox in development)"),
    Var::new("WA_CLOUD_API_VERSION", "v24.0", "Graph API version in paths"),
    Var::unset("WA_CLOUD_ACCESS_TOKEN", "system-user token").secret(),
    Var::unset("WA_CLOUD_PHONE_NUMBER_ID", "the business number"),
    Var::unset("WA_CLOUD_WABA_ID", "the business account"),
    Var::unset(
        "WA_CLOUD_APP_ID",
        "the Meta app whose Resumable Upload API takes profile photos (`POST /v1/settings/profile/photo` \
         answers 500/1000 naming it when unset)",
    ),
    Var::new("WA_CLOUD_SEND_RATE", "80", "messages per second sent to Cloud (the number's throughput)"),
    Var::new("WA_CLOUD_TIMEOUT_S", "20", "timeout of one Cloud API request, seconds"),
    Var::new(
        "WA_CLOUD_MEDIA_HOSTS",
        CLOUD_MEDIA_HOSTS,
        "hosts (comma separated; `*.example.com` for the names below one) besides `WA_CLOUD_BASE_URL`'s where \
         Cloud's media downloads may be, over HTTPS; the token goes to no other",
    ),
    Var::unset(
        "WA_MEDIA_PROVIDER_HOSTS",
        "hosts (as a provider's `hosts`, comma separated) where the credentials of media providers that list \
         no hosts of their own may go",
    ),
    Var::unset(
        "WA_MEDIA_LINK_ALLOW",
        "address ranges (CIDR or single addresses, comma separated, e.g. `127.0.0.0/8,::1/128`) provider \
         links may reach besides public addresses; see Outbound fetches",
    ),
    Var::new("RUST_LOG", "info", "log filter"),
];

impl Config {
    /// Reads every variable of [`VARS`] from the process environment; a
    /// malformed value is an error that names the variable.
    pub fn from_env() -> anyhow::Result<Config> {
        Self::read(&Env::process(VARS))
    }

    /// Reads the configuration through `env` (tests fill one from pairs).
    pub fn read(env: &Env<'_>) -> anyhow::Result<Config> {
        let engine = env.string("WA_DB_ENGINE");
        let db = match engine.to_ascii_uppercase().as_str() {
            "SQLITE" => DbConfig::Sqlite { path: env.string("WA_DB_SQLITE_PATH").into() },
            "MYSQL" => DbConfig::Mysql(server_db(env, 3306)?),
            "PGSQL" => DbConfig::Pgsql(server_db(env, 5432)?),
            other => bail!("WA_DB_ENGINE has invalid value '{other}': expected SQLITE, MYSQL or PGSQL"),
        };
        let retention_days: u64 = env.parse("WA_MEDIA_RETENTION_DAYS")?;
        if retention_days == 0 {
            bail!("WA_MEDIA_RETENTION_DAYS must be at least 1");
        }
        let lease_s: u64 = env.parse("WA_WORK_LEASE_S")?;
        if lease_s < 3 {
            bail!("WA_WORK_LEASE_S must be at least 3 (seconds)");
        }
        let workers = WorkerConfig {
            send_rate: env.parse("WA_CLOUD_SEND_RATE")?,
            media_retention: Duration::from_secs(retention_days * 24 * 3600),
            lease: Duration::from_secs(lease_s),
            ..WorkerConfig::default()
        };
        if workers.send_rate == 0 {
            bail!("WA_CLOUD_SEND_RATE must be at least 1");
        }
        let config = Config {
            node_id: env.raw("WA_NODE_ID").unwrap_or_else(default_node_id),
            cluster: proto::cluster::LinkConfig::from_env(env, proto::cluster::Role::Coreapp)
                .map_err(anyhow::Error::msg)?,
            login_failures_per_hour: env.parse("WA_LOGIN_FAILURES_PER_HOUR")?,
            db,
            db_pool_size: env.parse("WA_DB_POOL_SIZE")?,
            media_dir: env.string("WA_MEDIA_DIR").into(),
            cloud: CloudConfig {
                base_url: env.string("WA_CLOUD_BASE_URL"),
                api_version: env.string("WA_CLOUD_API_VERSION"),
                access_token: env.string("WA_CLOUD_ACCESS_TOKEN"),
                phone_number_id: env.string("WA_CLOUD_PHONE_NUMBER_ID"),
                waba_id: env.string("WA_CLOUD_WABA_ID"),
                app_id: env.string("WA_CLOUD_APP_ID"),
                timeout: Duration::from_secs(env.parse("WA_CLOUD_TIMEOUT_S")?),
                media_hosts: hosts(env, "WA_CLOUD_MEDIA_HOSTS")?,
            },
            links: LinkConfig {
                provider_hosts: hosts(env, "WA_MEDIA_PROVIDER_HOSTS")?,
                allow: wire::netpolicy::parse_ranges(&env.string("WA_MEDIA_LINK_ALLOW"))
                    .map_err(|e| anyhow::anyhow!("WA_MEDIA_LINK_ALLOW: {e}"))?,
            },
            workers,
        };
        url::Url::parse(&config.cloud.base_url).context("WA_CLOUD_BASE_URL is not a valid URL")?;
        Ok(config)
    }

    /// `WA_CORE_LISTEN`, default `0.0.0.0:6250`.
    pub fn listen_from_env() -> anyhow::Result<SocketAddr> {
        Env::process(VARS).parse("WA_CORE_LISTEN")
    }

    /// The effective configuration without secrets, for the start-up log.
    pub fn describe(&self) -> String {
        format!(
            "node={} cluster_tls={} db={} pool={} media={} media_retention={}d lease={}s cloud={}/{} phone_number_id={} token={} send_rate={}/s cloud_media_hosts={} provider_hosts={} link_allow={}",
            self.node_id,
            self.cluster.describe(),
            self.db.describe(),
            self.db_pool_size,
            self.media_dir.display(),
            self.workers.media_retention.as_secs() / 86400,
            self.workers.lease.as_secs(),
            self.cloud.base_url,
            self.cloud.api_version,
            self.cloud.phone_number_id,
            if self.cloud.access_token.is_empty() { "unset" } else { "set" },
            self.workers.send_rate,
            list(&self.cloud.media_hosts),
            list(&self.links.provider_hosts),
            list(&self.links.allow),
        )
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The database server of `WA_DB_*`, on `default_port` unless set.
fn server_db(env: &Env<'_>, default_port: u16) -> anyhow::Result<ServerDb> {
    let host = env.string("WA_DB_HOSTNAME");
    let mode = match env.string("WA_DB_SSL_MODE").as_str() {
        // A link that never leaves the host needs no TLS; any other does.
        "" if is_loopback(&host) => SslMode::Disable,
        "" => SslMode::VerifyFull,
        other => SslMode::parse(other).with_context(|| {
            format!("WA_DB_SSL_MODE has invalid value '{other}': expected DISABLE, REQUIRE, VERIFY_CA or VERIFY_FULL")
        })?,
    };
    let ca = match env.string("WA_DB_SSL_CA") {
        ca if ca.is_empty() => PathBuf::from(SYSTEM_CA_BUNDLE),
        ca => PathBuf::from(ca),
    };
    Ok(ServerDb {
        tls: DbTls { mode, ca },
        host,
        port: env.parse_opt("WA_DB_PORT")?.unwrap_or(default_port),
        username: env.string("WA_DB_USERNAME"),
        password: env.string("WA_DB_PASSWORD"),
        name_prefix: env.string("WA_DB_NAME_PREFIX"),
    })
}

/// `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A comma-separated list of host patterns.
fn hosts(env: &Env<'_>, name: &str) -> anyhow::Result<Vec<HostPattern>> {
    wire::netpolicy::parse_hosts(&env.string(name)).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

fn default_node_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "coreapp".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_registry() {
        let config = Config::read(&Env::from_pairs(VARS, &[("WA_NODE_ID", "core-a")])).unwrap();
        assert_eq!(config.node_id, "core-a");
        assert_eq!(config.db.describe(), "SQLITE ./data/wa.db");
        assert_eq!(config.db_pool_size, 10);
        assert_eq!(config.workers.send_rate, 80);
        assert_eq!(config.cloud.timeout, Duration::from_secs(20));
        assert_eq!(config.cloud.media_hosts.len(), 1);
        let mysql = [("WA_DB_ENGINE", "mysql"), ("WA_DB_PORT", "3307"), ("WA_DB_NAME_PREFIX", "a_")];
        let config = Config::read(&Env::from_pairs(VARS, &mysql)).unwrap();
        assert_eq!(config.db.describe(), "MYSQL root@127.0.0.1:3307/a_wa_onprem");
        let mysql = [("WA_DB_ENGINE", "MYSQL")];
        let config = Config::read(&Env::from_pairs(VARS, &mysql)).unwrap();
        assert_eq!(config.db.describe(), "MYSQL root@127.0.0.1:3306/wa_onprem");
        let pgsql = [("WA_DB_ENGINE", "PGSQL"), ("WA_DB_USERNAME", "postgres"), ("WA_DB_PASSWORD", "s3cret")];
        let config = Config::read(&Env::from_pairs(VARS, &pgsql)).unwrap();
        assert_eq!(config.db.describe(), "PGSQL postgres@127.0.0.1:5432/wa_onprem");
        assert!(!format!("{:?}", config.db).contains("s3cret"));
        let err = Config::read(&Env::from_pairs(VARS, &[("WA_DB_ENGINE", "PGSQL"), ("WA_DB_PORT", "65536")])).err();
        assert!(format!("{:#}", err.unwrap()).contains("WA_DB_PORT"));
    }

    #[test]
    fn the_link_to_a_database_on_another_host_is_verified_unless_told_otherwise() {
        let server = |pairs: &[(&str, &str)]| {
            let config = Config::read(&Env::from_pairs(VARS, pairs)).unwrap();
            config.db.server().cloned().unwrap()
        };
        for host in ["127.0.0.1", "localhost", "::1", "127.1.2.3"] {
            let tls = server(&[("WA_DB_ENGINE", "MYSQL"), ("WA_DB_HOSTNAME", host)]).tls;
            assert_eq!(tls.mode, SslMode::Disable, "{host}");
        }
        for host in ["db", "10.0.0.5", "db.example.com"] {
            let s = server(&[("WA_DB_ENGINE", "PGSQL"), ("WA_DB_HOSTNAME", host)]);
            assert_eq!(s.tls, DbTls { mode: SslMode::VerifyFull, ca: SYSTEM_CA_BUNDLE.into() }, "{host}");
            assert!(format!("{s:?}").ends_with(" TLS VERIFY_FULL"), "{s:?}");
        }
        for (value, mode) in [
            ("disable", SslMode::Disable),
            ("REQUIRED", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("VERIFY_IDENTITY", SslMode::VerifyFull),
        ] {
            let pairs = [("WA_DB_ENGINE", "MYSQL"), ("WA_DB_SSL_MODE", value), ("WA_DB_SSL_CA", "/etc/db/ca.pem")];
            assert_eq!(server(&pairs).tls, DbTls { mode, ca: "/etc/db/ca.pem".into() }, "{value}");
        }
        let err = Config::read(&Env::from_pairs(VARS, &[("WA_DB_ENGINE", "MYSQL"), ("WA_DB_SSL_MODE", "prefer")]));
        assert!(format!("{:#}", err.err().unwrap()).contains("WA_DB_SSL_MODE"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("WA_DB_ENGINE", "ORACLE"),
            ("WA_DB_POOL_SIZE", "many"),
            ("WA_MEDIA_RETENTION_DAYS", "0"),
            ("WA_WORK_LEASE_S", "2"),
            ("WA_CLOUD_SEND_RATE", "0"),
            ("WA_CLOUD_BASE_URL", "not a url"),
            ("WA_CLUSTER_INSECURE", "perhaps"),
            ("WA_MEDIA_LINK_ALLOW", "10.0.0.0/33"),
        ] {
            let err = Config::read(&Env::from_pairs(VARS, &[(name, value)])).err().unwrap();
            assert!(format!("{err:#}").contains(name), "{name}={value}: {err:#}");
        }
    }
}
