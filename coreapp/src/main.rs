//! The coreapp binary: parse the command and config, start tracing, run.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// wa-onprem coreapp: the engine behind the on-prem REST API.
///
/// Configured by environment variables (WA_CORE_LISTEN, WA_DB_ENGINE,
/// WA_DB_*, WA_MEDIA_DIR, WA_CLOUD_*): `coreapp config` lists them all.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC and run the workers (the default).
    Serve,
    /// Create the database if missing and apply the embedded migrations.
    Migrate,
    /// Apply a settings PATCH (the JSON of PATCH /v1/settings/application)
    /// straight to the database, e.g. to provision webhooks.url.
    PatchSettings { json: String },
    /// Print the application settings as GET /v1/settings/application does.
    ShowSettings,
    /// List every environment variable the coreapp reads: its value now
    /// (secrets shown as `set`) or its default, and what it is for.
    Config,
    /// Exit 0 when the coreapp serving on WA_CORE_LISTEN on this host
    /// heartbeats and reaches its database (a container healthcheck).
    Health,
    /// Make the cluster CA (when its directory has none) and issue the
    /// certificates of the internal webapp-coreapp link.
    ///
    /// Writes `ca.pem`, `<role>.pem` and `<role>.key` into --out, for a
    /// node's WA_CLUSTER_DIR. The CA's key (`ca.key`) stays in --ca: keep
    /// that directory off the nodes once the certificates are issued.
    ClusterCerts {
        /// Directory of the cluster CA (`ca.pem`, `ca.key`); a new CA is
        /// made there when it holds neither.
        #[arg(long)]
        ca: PathBuf,
        /// Directory the node's files are written to.
        #[arg(long)]
        out: PathBuf,
        /// Which certificates to issue: the internal link's (`coreapp`,
        /// `webapp`, `both`), or the database server's (`database`, with
        /// --name) for TLS to it.
        #[arg(long, value_enum, default_value_t = Roles::Both)]
        role: Roles,
        /// For `--role database`: the host name or address the coreapps
        /// reach the database server by (`WA_DB_HOSTNAME`); repeatable.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Validity of the issued certificates, in days.
        #[arg(long, default_value_t = 825)]
        days: i64,
        /// Leave a role's files alone when --out already has them (for
        /// launchers that run this on every start).
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Roles {
    Coreapp,
    Webapp,
    Both,
    Database,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,h2=warn,tower=warn".into()),
        )
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The certificates are made before any node can start, so that command
    // alone does not read the node's configuration.
    let config = coreapp::Config::from_env;
    match cli.command.unwrap_or(Command::Serve) {
        Command::ClusterCerts { ca, out, role, names, days, keep } => {
            cluster_certs(&ca, &out, role, &names, days, keep)?
        }
        Command::Migrate => {
            let config = config()?;
            let applied = tokio::task::spawn_blocking(move || coreapp::migrate(&config)).await??;
            println!(
                "migrations applied: {}",
                if applied.is_empty() { "none (up to date)".into() } else { applied.join(", ") }
            );
        }
        Command::PatchSettings { json } => {
            let patch = wire::settings::SettingsPatch::parse(&serde_json::from_str(&json)?)?;
            let core = coreapp::open(config()?).await?;
            let s = coreapp::api::settings::patch_settings(&core, patch).await?;
            println!("{}", s.to_onprem_json(None));
        }
        Command::Config => {
            print!("{}", envconf::describe(&envconf::Env::process(coreapp::config::VARS)));
        }
        Command::ShowSettings => {
            let core = coreapp::open(config()?).await?;
            let s = coreapp::api::settings::get_settings(&core).await?;
            println!("{}", s.to_onprem_json(None));
        }
        Command::Health => {
            let port = coreapp::Config::listen_from_env()?.port();
            if let Err(why) = coreapp::health::check_state_file(port) {
                eprintln!("unhealthy: {why}");
                std::process::exit(1);
            }
        }
        Command::Serve => {
            let config = config()?;
            let listener = tokio::net::TcpListener::bind(coreapp::Config::listen_from_env()?).await?;
            coreapp::run(config, listener, shutdown_signal()).await?;
        }
    }
    Ok(())
}

fn cluster_certs(ca: &Path, out: &Path, role: Roles, names: &[String], days: i64, keep: bool) -> anyhow::Result<()> {
    use proto::cluster::Role;
    let roles = match role {
        Roles::Coreapp => vec![Role::Coreapp],
        Roles::Webapp => vec![Role::Webapp],
        Roles::Both => vec![Role::Coreapp, Role::Webapp],
        Roles::Database => vec![],
    };
    if !names.is_empty() && !matches!(role, Roles::Database) {
        anyhow::bail!("--name is for --role database");
    }
    let written = match role {
        Roles::Database => coreapp::cluster::write_database(ca, out, names, days, keep)?,
        _ => coreapp::cluster::write(ca, out, &roles, days, keep)?,
    };
    if written.ca_created {
        println!("made a new cluster CA in {} (keep its ca.key off the nodes)", ca.display());
    }
    for file in &written.files {
        println!("wrote {}", file.display());
    }
    if written.files.is_empty() {
        println!("{} already holds the credentials asked for", out.display());
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
