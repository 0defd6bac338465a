//! Configuration, read once from the environment (DESIGN section 5).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use wire::netpolicy::{HostPattern, IpNet};

/// Which database engine, and how to reach it.
#[derive(Clone)]
pub enum DbConfig {
    Sqlite { path: PathBuf },
    Mysql { host: String, port: u16, username: String, password: String, name_prefix: String },
}

impl DbConfig {
    /// The database name on a MySQL server: `<prefix>wa_onprem`.
    pub fn mysql_database(prefix: &str) -> String {
        format!("{prefix}wa_onprem")
    }

    /// A description safe for logs (no password).
    pub fn describe(&self) -> String {
        match self {
            DbConfig::Sqlite { path } => format!("SQLITE {}", path.display()),
            DbConfig::Mysql { host, port, username, name_prefix, .. } => {
                format!("MYSQL {username}@{host}:{port}/{}", Self::mysql_database(name_prefix))
            }
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
/// `crate::outbound`).
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

impl Config {
    /// Reads every `WA_*` variable the coreapp uses; a malformed value is an
    /// error that names the variable.
    pub fn from_env() -> anyhow::Result<Config> {
        let engine = var("WA_DB_ENGINE").unwrap_or_else(|| "SQLITE".into());
        let db = match engine.to_ascii_uppercase().as_str() {
            "SQLITE" => {
                DbConfig::Sqlite { path: var("WA_DB_SQLITE_PATH").unwrap_or_else(|| "./data/wa.db".into()).into() }
            }
            "MYSQL" => DbConfig::Mysql {
                host: var("WA_DB_HOSTNAME").unwrap_or_else(|| "127.0.0.1".into()),
                port: parse("WA_DB_PORT", 3306)?,
                username: var("WA_DB_USERNAME").unwrap_or_else(|| "root".into()),
                password: var("WA_DB_PASSWORD").unwrap_or_default(),
                name_prefix: var("WA_DB_NAME_PREFIX").unwrap_or_default(),
            },
            "PGSQL" => {
                bail!("WA_DB_ENGINE=PGSQL is planned but not supported yet; use MYSQL or SQLITE")
            }
            other => bail!("WA_DB_ENGINE has invalid value '{other}': expected MYSQL or SQLITE"),
        };
        let retention_days: u64 = parse("WA_MEDIA_RETENTION_DAYS", 30)?;
        if retention_days == 0 {
            bail!("WA_MEDIA_RETENTION_DAYS must be at least 1");
        }
        let lease_s: u64 = parse("WA_WORK_LEASE_S", 60)?;
        if lease_s < 3 {
            bail!("WA_WORK_LEASE_S must be at least 3 (seconds)");
        }
        let workers = WorkerConfig {
            send_rate: parse("WA_CLOUD_SEND_RATE", 80)?,
            media_retention: Duration::from_secs(retention_days * 24 * 3600),
            lease: Duration::from_secs(lease_s),
            ..WorkerConfig::default()
        };
        if workers.send_rate == 0 {
            bail!("WA_CLOUD_SEND_RATE must be at least 1");
        }
        Ok(Config {
            node_id: var("WA_NODE_ID").unwrap_or_else(default_node_id),
            cluster: proto::cluster::LinkConfig::from_env(proto::cluster::Role::Coreapp).map_err(anyhow::Error::msg)?,
            login_failures_per_hour: parse("WA_LOGIN_FAILURES_PER_HOUR", 30)?,
            db,
            db_pool_size: parse("WA_DB_POOL_SIZE", 10)?,
            media_dir: var("WA_MEDIA_DIR").unwrap_or_else(|| "/usr/local/wamedia".into()).into(),
            cloud: CloudConfig {
                base_url: var("WA_CLOUD_BASE_URL").unwrap_or_else(|| "https://graph.facebook.com".into()),
                api_version: var("WA_CLOUD_API_VERSION").unwrap_or_else(|| "v24.0".into()),
                access_token: var("WA_CLOUD_ACCESS_TOKEN").unwrap_or_default(),
                phone_number_id: var("WA_CLOUD_PHONE_NUMBER_ID").unwrap_or_default(),
                waba_id: var("WA_CLOUD_WABA_ID").unwrap_or_default(),
                app_id: var("WA_CLOUD_APP_ID").unwrap_or_default(),
                timeout: Duration::from_secs(parse("WA_CLOUD_TIMEOUT_S", 20)?),
                media_hosts: hosts("WA_CLOUD_MEDIA_HOSTS", CLOUD_MEDIA_HOSTS)?,
            },
            links: LinkConfig {
                provider_hosts: hosts("WA_MEDIA_PROVIDER_HOSTS", "")?,
                allow: wire::netpolicy::parse_ranges(&var("WA_MEDIA_LINK_ALLOW").unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!("WA_MEDIA_LINK_ALLOW: {e}"))?,
            },
            workers,
        })
        .and_then(|c| {
            url::Url::parse(&c.cloud.base_url).context("WA_CLOUD_BASE_URL is not a valid URL")?;
            Ok(c)
        })
    }

    /// `WA_CORE_LISTEN`, default `0.0.0.0:6250`.
    pub fn listen_from_env() -> anyhow::Result<SocketAddr> {
        parse("WA_CORE_LISTEN", SocketAddr::from(([0, 0, 0, 0], 6250)))
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

/// A comma-separated list of host patterns.
fn hosts(name: &str, default: &str) -> anyhow::Result<Vec<HostPattern>> {
    let value = var(name).unwrap_or_else(|| default.into());
    wire::netpolicy::parse_hosts(&value).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| anyhow::anyhow!("{name} has invalid value '{v}': {e}")),
    }
}

fn default_node_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "coreapp".into())
}
