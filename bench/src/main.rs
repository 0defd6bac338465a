//! `bench`: measures the whole stack with its real binaries as separate
//! processes, on loopback only, bounded in count and time, and soaks it
//! under faults. Run it through `scripts/bench`, which builds the release
//! binaries first (`--dev`: the debug ones).

mod all;
mod cost;
mod load;
mod media;
mod plot;
mod scale;
mod soak;
mod stack;
mod webhooks;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmarks and the chaos soak of wa-onprem (its binaries as processes, loopback only)")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Plain gRPC between webapp and coreapp instead of mutual TLS, as a
    /// baseline of what the internal link's encryption costs (messages and
    /// media).
    #[arg(long, global = true)]
    plain_link: bool,
    /// The database server of the stacks (messages, webhooks, scale, cost;
    /// `all` and the soak run on MariaDB).
    #[arg(long, global = true, value_enum, default_value_t = stack::Engine::Mysql)]
    engine: stack::Engine,
    /// Which server of that engine: the machine's, or a private one started
    /// for the run, plain or taking TLS clients only (messages, webhooks,
    /// scale, cost).
    #[arg(long, global = true, value_enum, default_value_t = stack::DbServer::Shared)]
    db_server: stack::DbServer,
}

#[derive(Subcommand)]
enum Scenario {
    /// POST /v1/messages at rising concurrency against the full stack on
    /// MariaDB or PostgreSQL (`--engine`) with the sandbox as Cloud, the same client straight against
    /// the sandbox as a baseline, and the rate the send queue drains to Cloud.
    Messages {
        /// Seconds per concurrency level.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Concurrency levels, comma separated.
        #[arg(long, default_value = "1,8,16,24,32,64", value_delimiter = ',')]
        concurrency: Vec<usize>,
        /// Messages queued for the drain measurement.
        #[arg(long, default_value_t = 10_000)]
        drain: usize,
        /// The business number's Cloud throughput given to the coreapp.
        #[arg(long, default_value_t = 2_000)]
        send_rate: u32,
    },
    /// Signed Cloud status webhooks POSTed to the intake at fixed rising
    /// rates; on-prem events per second reaching the business's server, and
    /// the latency from intake to delivery.
    Webhooks {
        /// Seconds per rate.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Status events per second offered, comma separated.
        #[arg(long, default_value = "1000,2000,3000,4000", value_delimiter = ',')]
        rates: Vec<u64>,
        /// Statuses per Cloud POST (Cloud batches up to 1000).
        #[arg(long, default_value_t = 1)]
        batch: usize,
    },
    /// Every performance target with its baselines, in one run: accept
    /// (against raw inserts, the edge alone and the sandbox alone), keeping
    /// up with Cloud, the webhook pipeline, the cost per message, scale-out,
    /// memory and start-up. Writes `all.md` and `latency.png` to `--out`.
    All {
        /// Seconds of each steady phase (keep-up, webhook pipeline).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seconds per concurrency level of the accept curve.
        #[arg(long, default_value_t = 5)]
        level_seconds: u64,
        /// Concurrency levels of the accept curve, comma separated.
        #[arg(long, default_value = "1,8,16,32,64", value_delimiter = ',')]
        concurrency: Vec<usize>,
        /// Messages of the cost run.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Where the report and the plot go (default: `target/bench`).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Send throughput with 1, 2 and 3 coreapps on one database, the
    /// number's rate held by three coreapps together, and how long failover
    /// takes when one of two coreapps is killed.
    Scale {
        /// Coreapp counts, comma separated.
        #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
        coreapps: Vec<usize>,
        /// Messages queued per count.
        #[arg(long, default_value_t = 5_000)]
        messages: usize,
        /// The number's rate for the pacing run.
        #[arg(long, default_value_t = 200)]
        paced_rate: u32,
        /// `WA_WORK_LEASE_S` for the failover run.
        #[arg(long, default_value_t = 10)]
        lease_s: u64,
    },
    /// What a message costs over its whole life (accept, send, three
    /// statuses, three webhooks): database statements and commits per
    /// message from the server's counters (`--engine`), and CPU-seconds of each
    /// process per 10,000 messages, beside the raw insert rate of the same
    /// server, the edge alone and the sandbox alone.
    Cost {
        /// Messages measured (after 500 of warm-up).
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Connections of the load generator.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// A 100 MB document uploaded through the stack and downloaded back, a
    /// few times: MB/s each way and the peak resident memory the webapp and
    /// the coreapp gain during each transfer.
    Media {
        /// File size in MB.
        #[arg(long, default_value_t = 100)]
        size_mb: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The chaos soak: two coreapps, a webapp and the sandbox on a private
    /// MariaDB under steady sends and inbound messages, while Cloud fails
    /// (503, dropped connections, 130429, delays), the business's webhook
    /// server refuses POSTs, each coreapp is killed and restarted and the
    /// database is shut down and started again; then checks that nothing
    /// accepted was lost, inbound messages all arrived, statuses never went
    /// backwards and duplicates stayed within the in-flight window. Fails
    /// when any check does not hold.
    Soak(soak::Config),
}

/// Starts the private server `--db-server` asks for and points the stacks
/// at it; `None` for the machine's.
async fn private_server(
    engine: stack::Engine,
    which: stack::DbServer,
) -> anyhow::Result<Option<(e2e::servers::PrivateServer, tempfile::TempDir)>> {
    use coreapp::config::{DbTls, SslMode};
    use e2e::servers::PrivateServer;
    if which == stack::DbServer::Shared {
        return Ok(None);
    }
    let certs = tempfile::tempdir()?;
    let names = ["127.0.0.1".to_string()];
    coreapp::cluster::write_database(certs.path(), certs.path(), &names, 30, false)?;
    let read = |file: &str| std::fs::read_to_string(certs.path().join(file));
    let (cert, key) = (read("database.pem")?, read("database.key")?);
    let tls = which == stack::DbServer::PrivateTls;
    let server = tokio::task::spawn_blocking(move || -> anyhow::Result<PrivateServer> {
        Ok(match (engine, tls) {
            (stack::Engine::Mysql, true) => {
                PrivateServer::Mariadb(e2e::mariadb::PrivateMariadb::start_tls(&cert, &key)?)
            }
            (stack::Engine::Pgsql, true) => {
                PrivateServer::Postgres(e2e::postgres::PrivatePostgres::start_tls(&cert, &key)?)
            }
            (stack::Engine::Mysql, false) => PrivateServer::Mariadb(e2e::mariadb::PrivateMariadb::start()?),
            (stack::Engine::Pgsql, false) => PrivateServer::Postgres(e2e::postgres::PrivatePostgres::start()?),
        })
    })
    .await??;
    let mut config = server.config("bench_");
    if tls && let coreapp::config::DbConfig::Mysql(s) | coreapp::config::DbConfig::Pgsql(s) = &mut config {
        s.tls = DbTls { mode: SslMode::VerifyFull, ca: certs.path().join("ca.pem") };
    }
    println!(
        "database: a private {} server on port {}{}",
        engine.label(),
        server.port(),
        if tls { ", TLS only, VERIFY_FULL" } else { "" }
    );
    stack::use_private_server(config);
    Ok(Some((server, certs)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let plain_link = cli.plain_link;
    stack::use_engine(cli.engine);
    // Kept to the end of the run: the private server and its certificate.
    let _private = private_server(cli.engine, cli.db_server).await?;
    match cli.scenario {
        Scenario::Messages { seconds, concurrency, drain, send_rate } => {
            let options = stack::Options { plain_link, ..stack::Options::new(send_rate) };
            messages(Duration::from_secs(seconds), &concurrency, drain, options).await
        }
        Scenario::Webhooks { seconds, rates, batch } => {
            webhooks::run(Duration::from_secs(seconds), &rates, batch.max(1)).await
        }
        Scenario::Scale { coreapps, messages, paced_rate, lease_s } => {
            scale::run(&coreapps, messages, paced_rate.max(1), lease_s.max(3)).await
        }
        Scenario::All { .. } | Scenario::Soak(_) if cli.engine != stack::Engine::Mysql => {
            anyhow::bail!("`all` and `soak` run on MariaDB; --engine applies to messages, webhooks, scale and cost")
        }
        Scenario::All { seconds, level_seconds, concurrency, messages, out } => {
            let config = all::Config {
                seconds: seconds.max(5),
                level_seconds: level_seconds.max(1),
                levels: concurrency,
                messages: messages.max(100),
                out: out.unwrap_or_else(all::default_out),
            };
            all::run(config).await
        }
        Scenario::Cost { messages, concurrency } => cost::run(messages.max(1), concurrency.max(1)).await,
        Scenario::Media { size_mb, rounds } => media::run(size_mb.clamp(1, 100), rounds.max(1), plain_link).await,
        Scenario::Soak(config) => soak::run(config, plain_link).await,
    }
}

async fn messages(per_level: Duration, levels: &[usize], drain: usize, options: stack::Options) -> anyhow::Result<()> {
    let send_rate = options.send_rate;
    let link = if options.plain_link { "plain gRPC" } else { "mutual TLS" };
    let stack = stack::Stack::start(options).await?;
    let token = stack.admin_token().await?;

    println!(
        "== POST /v1/messages, text, {}s per level, {}, TLS on, webapp-coreapp link {link} ==",
        per_level.as_secs(),
        stack::engine().label()
    );
    println!(
        "{:>12} {:>12} {:>14} {:>10} {:>10} {:>8}",
        "target", "concurrency", "requests/s", "p50 ms", "p99 ms", "errors"
    );
    for &c in levels {
        let baseline = load::run(c, per_level, load::sandbox_send(&stack)).await;
        baseline.print("sandbox", c);
        let through = load::run(c, per_level, load::stack_send(&stack, &token)).await;
        through.print("stack", c);
    }

    // Let the queue and the status webhooks of the runs above settle, then
    // measure a backlog draining to Cloud (its own statuses still flow).
    stack.wait_queue_empty(Duration::from_secs(120)).await?;
    stack.wait_idle(Duration::from_secs(300)).await?;
    println!(
        "\n== drain: {drain} messages queued as fast as possible, then sent to Cloud (send rate {send_rate}/s) =="
    );
    let started = std::time::Instant::now();
    let watcher = stack.watch_queue(started);
    let burst = load::run_count(64, drain, load::stack_send(&stack, &token)).await;
    burst.print("stack", 64);
    let accepted_in = started.elapsed();
    stack.wait_queue_empty(Duration::from_secs(300)).await?;
    let total = started.elapsed();
    let peak = watcher.await?;
    println!(
        "accepted {} in {:.1}s; all sent to Cloud after {:.1}s: drain {:.0} msg/s overall, {:.0} msg/s peak (1 s window)",
        burst.ok,
        accepted_in.as_secs_f64(),
        total.as_secs_f64(),
        burst.ok as f64 / total.as_secs_f64(),
        peak
    );
    let delivered = stack.receiver.count();
    println!("business webhooks received meanwhile: {delivered}");
    stack.stop().await;
    Ok(())
}
