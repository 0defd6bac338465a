//! `e2e-host <coreapp|webapp>`: one process of the stack, configured from
//! the environment exactly like the real binaries, for the multi-host test
//! to start inside network namespaces (`ip netns exec`). Built from the same
//! sources as the test, so the test never runs stale binaries.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let role = std::env::args().nth(1).unwrap_or_default();
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        term.recv().await;
    };
    match role.as_str() {
        "coreapp" => {
            let listener = tokio::net::TcpListener::bind(coreapp::Config::listen_from_env()?).await?;
            coreapp::run(coreapp::Config::from_env()?, listener, shutdown).await
        }
        "webapp" => {
            let listener = tokio::net::TcpListener::bind(webapp::Config::listen_from_env()?).await?;
            webapp::run(webapp::Config::from_env()?, listener, shutdown).await
        }
        other => anyhow::bail!("usage: e2e-host <coreapp|webapp> (got '{other}')"),
    }
}
