//! The `sandbox` binary: a local WhatsApp Cloud API simulator.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Local WhatsApp Cloud API simulator (the wa-onprem dev stack's upstream).
#[derive(Parser)]
#[command(version, after_help = ENV_HELP)]
struct Cli {}

const ENV_HELP: &str = "Configured by environment variables (defaults match the dev stack):
  WA_SANDBOX_LISTEN              listen address [127.0.0.1:9080]
  WA_SANDBOX_ACCESS_TOKEN        the Bearer token it accepts [sandbox-token]
  WA_SANDBOX_APP_SECRET          signs its webhooks (X-Hub-Signature-256) [sandbox-app-secret]
  WA_SANDBOX_VERIFY_TOKEN        sent in the GET webhook handshake [sandbox-verify-token]
  WA_SANDBOX_PHONE_NUMBER_IDS    hosted phone number ids, comma separated [100000000000001]
  WA_SANDBOX_WABA_ID             the business account id [200000000000001]
  WA_SANDBOX_WEBHOOK_URL         where webhooks go; empty sends none [https://127.0.0.1:9090/cloud/webhooks]
  WA_SANDBOX_WEBHOOK_TLS_VERIFY  check the webhook server's certificate [false]
  WA_SANDBOX_STATUS_DELAY_MS     pause between sent, delivered and read [200]
  RUST_LOG                       log filter [info]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    // reqwest picks ring itself; installing it process-wide is for anything else using rustls.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let config = sandbox::Config::from_env()?;
    let listen = sandbox::Config::listen_from_env()?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|err| anyhow::anyhow!("binding {listen}: {err}"))?;
    sandbox::run(config, listener, shutdown_signal()).await
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
