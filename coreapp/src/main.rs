//! The coreapp binary: parse the command and config, start tracing, run.

use clap::{Parser, Subcommand};

/// wa-onprem coreapp: the engine behind the on-prem REST API.
///
/// Configured by environment variables (WA_CORE_LISTEN, WA_DB_ENGINE,
/// WA_DB_*, WA_MEDIA_DIR, WA_CLOUD_*); see the README.
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
    let config = coreapp::Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let applied = tokio::task::spawn_blocking(move || coreapp::migrate(&config)).await??;
            println!(
                "migrations applied: {}",
                if applied.is_empty() { "none (up to date)".into() } else { applied.join(", ") }
            );
        }
        Command::PatchSettings { json } => {
            let patch: serde_json::Value = serde_json::from_str(&json)?;
            let core = coreapp::open(config).await?;
            let s = coreapp::messaging::patch_settings(&core.db, patch).await?;
            println!("{}", s.to_onprem_json(None));
        }
        Command::ShowSettings => {
            let core = coreapp::open(config).await?;
            let s = coreapp::messaging::get_settings(&core.db).await?;
            println!("{}", s.to_onprem_json(None));
        }
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(coreapp::Config::listen_from_env()?).await?;
            coreapp::run(config, listener, shutdown_signal()).await?;
        }
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
