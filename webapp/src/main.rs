//! The webapp binary: read config, start tracing, bind, run.

use clap::Parser;

/// wa-onprem webapp: the WhatsApp Business On-Premises REST API, backed by
/// the Cloud API through coreapp.
///
/// Configured by environment variables (WA_WEB_LISTEN, WA_WEB_SERVERNAME,
/// WA_WEB_TLS, WA_CORE_ADDRS, WA_API_KEY, ...): `webapp config` lists them
/// all.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Exit 0 when the webapp on WA_WEB_LISTEN on this host answers GET /
    /// (a container healthcheck).
    Health,
    /// List every environment variable the webapp reads: its value now
    /// (secrets shown as `set`) or its default, and what it is for.
    Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Config) = cli.command {
        print!("{}", envconf::describe(&envconf::Env::process(webapp::config::VARS)));
        return Ok(());
    }
    if let Some(Command::Health) = cli.command {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = webapp::Config::tls_from_env()?;
        if let Err(e) = webapp::selfcheck::run(webapp::Config::listen_from_env()?, tls).await {
            eprintln!("unhealthy: {e:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,h2=warn,tower=warn".into()),
        )
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = webapp::Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(webapp::Config::listen_from_env()?).await?;
    webapp::run(config, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
