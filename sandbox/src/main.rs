//! The `sandbox` binary: a local WhatsApp Cloud API simulator.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Local WhatsApp Cloud API simulator (the wa-onprem dev stack's upstream).
///
/// Serves the Graph API (`/vNN.0/...`) as Cloud does, sends signed webhooks,
/// and offers a control API under /_sandbox/ (see sandbox/README.md).
#[derive(Parser)]
#[command(version, after_help = ENV_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Exit 0 when the sandbox on WA_SANDBOX_LISTEN on this host answers
    /// GET /_sandbox/health (a container healthcheck).
    Health,
    /// List every environment variable the sandbox reads: its value now or
    /// its default, and what it is for.
    Config,
}

const ENV_HELP: &str = "Configured by environment variables whose defaults match the dev stack \
(WA_SANDBOX_LISTEN, WA_SANDBOX_WEBHOOK_URL, ...): `sandbox config` lists them all.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Config) = cli.command {
        print!("{}", envconf::describe(&envconf::Env::process(sandbox::VARS)));
        return Ok(());
    }
    let listen = sandbox::Config::listen_from_env()?;
    if let Some(Command::Health) = cli.command {
        if let Err(e) = health(listen).await {
            eprintln!("unhealthy: {e:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    let config = sandbox::Config::from_env()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if config.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    // reqwest picks ring itself; installing it process-wide is for anything else using rustls.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|err| anyhow::anyhow!("binding {listen}: {err}"))?;
    sandbox::run(config, listener, shutdown_signal()).await
}

async fn health(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let ip = if listen.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { listen.ip() };
    let url = format!("http://{}/_sandbox/health", std::net::SocketAddr::new(ip, listen.port()));
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build()?;
    let status = client.get(&url).send().await?.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
