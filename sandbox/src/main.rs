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
}

const ENV_HELP: &str = "Configured by environment variables (defaults match the dev stack):
  WA_SANDBOX_LISTEN                   listen address [127.0.0.1:9080]
  WA_SANDBOX_ACCESS_TOKEN             the Bearer token it accepts [sandbox-token]
  WA_SANDBOX_APP_SECRET               signs its webhooks (X-Hub-Signature-256) [sandbox-app-secret]
  WA_SANDBOX_VERIFY_TOKEN             sent in the GET webhook handshake [sandbox-verify-token]
  WA_SANDBOX_PHONE_NUMBER_IDS         hosted phone number ids, comma separated [100000000000001]
  WA_SANDBOX_WABA_ID                  the business account id [200000000000001]
  WA_SANDBOX_APP_ID                   the app id, node of the Resumable Upload API [300000000000001]
  WA_SANDBOX_WEBHOOK_URL              where webhooks go; empty sends none [https://127.0.0.1:9090/cloud/webhooks]
  WA_SANDBOX_WEBHOOK_TLS_VERIFY       check the webhook server's certificate [off]
  WA_SANDBOX_PUBLIC_URL               base of the media and picture URLs it hands out [the Host the client called]
  WA_SANDBOX_STATUS_DELAY_MS          pause before delivered, read, played and failed [200]
  WA_SANDBOX_READ_RATE                share of delivered messages that are read, 0-1 [1]
  WA_SANDBOX_SKIP_DELIVERED_RATE      share of messages read without a delivered, 0-1 [0]
Rules (each switchable at run time through PATCH /_sandbox/settings):
  WA_SANDBOX_THROUGHPUT               off | messages/s per number, and PNID=RATE overrides [80]
  WA_SANDBOX_PAIR_RATE_LIMIT          off | on (45 per 6000 ms) | BURST/PERIOD_MS [off]
  WA_SANDBOX_WINDOW                   24-hour customer service window, on | off [off]
  WA_SANDBOX_UNDELIVERABLE            off | on (pattern *0000) | comma list of patterns [off]
Webhooks:
  WA_SANDBOX_WEBHOOK_VERSION          payload version; conversation objects up to v23.0 [v24.0]
  WA_SANDBOX_WEBHOOK_BATCH_WINDOW_MS  items within this window share a POST [20]
  WA_SANDBOX_WEBHOOK_BATCH_MAX        most items per POST, 1-1000 [1000]
  WA_SANDBOX_WEBHOOK_RETRY_HORIZON_MS retry a failing receiver this long [600000]
  WA_SANDBOX_WEBHOOK_DUPLICATE_RATE   share of POSTs sent twice, 0-1 [0]
  WA_SANDBOX_WEBHOOK_REORDER_RATE     share of messages whose statuses go newest first, 0-1 [0]
HTTP:
  WA_SANDBOX_AUTH_ERROR_STATUS        status of token errors: 400, 401, 403 [401]
  WA_SANDBOX_THROTTLE_STATUS          status of 130429 and 131056: 400, 429 [400]
  WA_SANDBOX_APPSECRET_PROOF          require appsecret_proof on Graph calls [off]
Users:
  WA_SANDBOX_PARENT_USER_IDS          the business is enrolled for parent BSUIDs [off]
Logging:
  WA_SANDBOX_LOG_FORMAT               text | json [text]
  RUST_LOG                            log filter [info]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
