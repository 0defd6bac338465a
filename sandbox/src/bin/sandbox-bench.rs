//! `sandbox-bench`: how many sends a second the sandbox sustains, alone, on
//! loopback, with its status webhooks flowing to a local receiver.
//!
//! Starts a sandbox in-process (throughput limit raised), a webhook receiver
//! that checks every signature and counts the statuses, then fires text sends
//! at rising concurrency over kept-alive connections and prints sends/s,
//! latency percentiles, and the status webhooks received per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use clap::Parser;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::TcpListener;

/// Benchmarks the sandbox alone: sends/s with status webhooks flowing.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Sends in total, split evenly across the concurrency levels.
    #[arg(long, default_value_t = 60_000)]
    sends: usize,
    /// Concurrent senders per level, comma separated.
    #[arg(long, default_value = "8,32,128", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Give up (and report what was done) after this many seconds.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// The sandbox's pause between statuses.
    #[arg(long, default_value_t = 50)]
    status_delay_ms: u64,
    /// The sandbox's webhook batch window.
    #[arg(long, default_value_t = 20)]
    batch_window_ms: u64,
    /// Distinct recipients the sends go to.
    #[arg(long, default_value_t = 1000)]
    recipients: usize,
}

const TOKEN: &str = "bench-token";
const SECRET: &str = "bench-secret";
const PNID: &str = "100000000000001";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.concurrency.is_empty() || cli.concurrency.contains(&0) || cli.sends < cli.concurrency.len() {
        bail!("--concurrency needs positive levels and --sends at least one per level");
    }
    // Warnings only: logging every request would measure the terminal.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let deadline = Instant::now() + Duration::from_secs(cli.max_seconds);

    let receiver = Arc::new(Counters::default());
    let hook = TcpListener::bind("127.0.0.1:0").await.context("binding the receiver")?;
    let hook_url = format!("http://{}/hook", hook.local_addr()?);
    let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(hook, app).await });

    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the sandbox")?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut rules = sandbox::Rules::default();
    rules.throughput.mps = 1_000_000.0;
    let config = sandbox::Config {
        access_token: TOKEN.into(),
        app_secret: SECRET.into(),
        webhook_url: Some(hook_url),
        status_delay: Duration::from_millis(cli.status_delay_ms),
        webhook_batch_window: Duration::from_millis(cli.batch_window_ms),
        rules,
        ..sandbox::Config::default()
    };
    tokio::spawn(sandbox::run(config, listener, std::future::pending()));

    let max_concurrency = cli.concurrency.iter().copied().max().unwrap_or(1);
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(max_concurrency).http1_only().tcp_nodelay(true).build()?;
    let url = format!("{base}/v24.0/{PNID}/messages");
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..cli.recipients.max(1))
            .map(|n| {
                let to = format!("1555{:07}", 1_000_000 + n);
                Bytes::from(format!(
                    r#"{{"messaging_product":"whatsapp","recipient_type":"individual","to":"+{to}","type":"text","text":{{"body":"Benchmark message {n}"}}}}"#
                ))
            })
            .collect(),
    );
    wait_ready(&client, &base).await?;

    println!(
        "sandbox-bench: {} text sends over loopback to {base}, status webhooks to a local receiver \
         (status delay {} ms, batch window {} ms, {} recipients)",
        cli.sends, cli.status_delay_ms, cli.batch_window_ms, cli.recipients
    );
    println!("{:>11} {:>8} {:>9} {:>8} {:>8} {:>7}", "concurrency", "sends", "sends/s", "p50 ms", "p99 ms", "errors");
    let per_level = cli.sends / cli.concurrency.len();
    let mut accepted = 0u64;
    let started_all = Instant::now();
    for &concurrency in &cli.concurrency {
        let level = run_level(&client, &url, &bodies, concurrency, per_level, deadline).await;
        accepted += level.ok;
        println!(
            "{:>11} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>7}",
            concurrency,
            level.ok + level.errors,
            level.per_second(),
            level.percentile(0.50),
            level.percentile(0.99),
            level.errors
        );
        if Instant::now() >= deadline {
            println!("(stopped: --max-seconds reached)");
            break;
        }
    }
    let send_seconds = started_all.elapsed().as_secs_f64();

    // Every accepted message makes sent, delivered and read.
    let expected = accepted * 3;
    while receiver.items.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let items = receiver.items.load(Ordering::Relaxed);
    let posts = receiver.posts.load(Ordering::Relaxed);
    let window = receiver.window().as_secs_f64().max(f64::EPSILON);
    println!(
        "overall: {accepted} sends accepted in {send_seconds:.2} s = {:.0} sends/s",
        accepted as f64 / send_seconds
    );
    println!(
        "webhooks: {items} of {expected} statuses in {posts} POSTs over {window:.2} s = {:.0} statuses/s, {:.0} POSTs/s, \
         {:.0} statuses per POST; bad signatures: {}",
        items as f64 / window,
        posts as f64 / window,
        items as f64 / posts.max(1) as f64,
        receiver.bad_signatures.load(Ordering::Relaxed)
    );
    if items < expected {
        println!("(not every status arrived before --max-seconds)");
    }
    Ok(())
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..500 {
        if let Ok(response) = client.get(format!("{base}/_sandbox/health")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("the sandbox did not start")
}

/// One concurrency level's results.
struct Level {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    /// Latencies of the successful sends, microseconds, sorted.
    latencies: Vec<u32>,
}

impl Level {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn percentile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies[at]) / 1000.0
    }
}

async fn run_level(
    client: &reqwest::Client,
    url: &str,
    bodies: &Arc<Vec<Bytes>>,
    concurrency: usize,
    count: usize,
    deadline: Instant,
) -> Level {
    let remaining = Arc::new(AtomicUsize::new(count));
    let next_body = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, url, bodies) = (client.clone(), url.to_owned(), bodies.clone());
        let (remaining, next_body) = (remaining.clone(), next_body.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
                && Instant::now() < deadline
            {
                let body = bodies[next_body.fetch_add(1, Ordering::Relaxed) % bodies.len()].clone();
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status() == StatusCode::OK => {
                        let _ = response.bytes().await;
                        latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Ok(response) => {
                        let _ = response.bytes().await;
                        errors += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut errors = 0;
    for worker in workers {
        if let Ok((mut mine, failed)) = worker.await {
            latencies.append(&mut mine);
            errors += failed;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Level { ok: latencies.len() as u64, errors, elapsed, latencies }
}

// === the receiver ===

#[derive(Default)]
struct Counters {
    posts: AtomicU64,
    items: AtomicU64,
    bad_signatures: AtomicU64,
    /// Microseconds since `epoch` of the first and last POST.
    first_us: AtomicU64,
    last_us: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl Counters {
    fn mark(&self) {
        let epoch = *self.epoch.get_or_init(Instant::now);
        let now = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = self.first_us.compare_exchange(0, now.max(1), Ordering::Relaxed, Ordering::Relaxed);
        self.last_us.fetch_max(now, Ordering::Relaxed);
    }

    /// From the first POST to the last.
    fn window(&self) -> Duration {
        let first = self.first_us.load(Ordering::Relaxed);
        let last = self.last_us.load(Ordering::Relaxed);
        Duration::from_micros(last.saturating_sub(first))
    }
}

/// Only what is needed to count statuses; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Body {
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    value: ChangeValue,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    statuses: Vec<IgnoredAny>,
}

async fn receive(State(counters): State<Arc<Counters>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    counters.mark();
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !sandbox::webhooks::signature::verify(SECRET, &body, signature) {
        counters.bad_signatures.fetch_add(1, Ordering::Relaxed);
    }
    let Ok(parsed) = serde_json::from_slice::<Body>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let statuses: usize = parsed.entry.iter().flat_map(|e| &e.changes).map(|c| c.value.statuses.len()).sum();
    counters.posts.fetch_add(1, Ordering::Relaxed);
    counters.items.fetch_add(statuses as u64, Ordering::Relaxed);
    StatusCode::OK
}
