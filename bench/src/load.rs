//! A closed-loop load generator: `concurrency` workers each send one request
//! at a time for a fixed time (or until a count is reached) and record the
//! latency of every answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::stack::{BASELINE_PNID, CLOUD_TOKEN, Stack};

/// Builds request number `n`.
type Build = Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// Builds request `n` and names the status that counts as success.
#[derive(Clone)]
pub struct Target {
    build: Build,
    ok: u16,
}

fn recipient(n: usize) -> String {
    // A different user per message, as a bulk send would have.
    format!("1666{:07}", n % 10_000_000)
}

/// `POST /v1/messages` through the stack.
pub fn stack_send(stack: &Stack, token: &str) -> Target {
    let (url, token) = (format!("{}/v1/messages", stack.web), token.to_string());
    Target {
        build: Arc::new(move |c, n| {
            c.post(&url)
                .bearer_auth(&token)
                .json(&json!({"to": recipient(n), "type": "text", "text": {"body": "benchmark"}}))
        }),
        ok: 201,
    }
}

/// `GET /` on the webapp: TLS, the edge's layers and the router, and no
/// coreapp; the ceiling of any request through the stack.
pub fn edge_get(stack: &Stack) -> Target {
    let url = format!("{}/", stack.web);
    Target { build: Arc::new(move |c, _| c.get(&url)), ok: 200 }
}

/// The same message straight to the sandbox's Cloud API.
pub fn sandbox_send(stack: &Stack) -> Target {
    let url = format!("{}/v24.0/{BASELINE_PNID}/messages", stack.sandbox);
    Target {
        build: Arc::new(move |c, n| {
            c.post(&url).bearer_auth(CLOUD_TOKEN).json(&json!({"messaging_product": "whatsapp", "to": recipient(n),
                "type": "text", "text": {"body": "benchmark"}}))
        }),
        ok: 200,
    }
}

pub struct Outcome {
    pub ok: usize,
    pub errors: usize,
    pub elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.percentile(0.99)
    }

    pub fn p50_ms(&self) -> f64 {
        self.percentile(0.50)
    }

    /// No answers yet; [`Outcome::add`] them, then [`Outcome::finish`].
    pub fn empty() -> Outcome {
        Outcome { ok: 0, errors: 0, elapsed: Duration::ZERO, latencies: Vec::new() }
    }

    /// One request's answer: its latency when it succeeded.
    pub fn add(&mut self, answer: Option<Duration>) {
        match answer {
            Some(latency) => {
                self.ok += 1;
                self.latencies.push(latency);
            }
            None => self.errors += 1,
        }
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
        self.latencies.sort();
    }

    pub fn print(&self, target: &str, concurrency: usize) {
        println!(
            "{:>12} {:>12} {:>14.0} {:>10.2} {:>10.2} {:>8}",
            target,
            concurrency,
            self.ok as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.errors
        );
    }
}

/// Makes request `n` once: its latency, or `None` when it failed.
pub async fn once(client: &reqwest::Client, target: &Target, n: usize) -> Option<Duration> {
    let t = Instant::now();
    match (target.build)(client, n).send().await {
        Ok(r) if r.status().as_u16() == target.ok => {
            let _ = r.bytes().await;
            Some(t.elapsed())
        }
        _ => None,
    }
}

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

async fn drive(concurrency: usize, target: Target, stop: impl Fn(usize) -> bool + Send + Sync + 'static) -> Outcome {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let stop = Arc::new(stop);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, target, stop) = (client.clone(), target.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0usize, 0usize, Vec::new());
            loop {
                let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
                if stop(n) {
                    break;
                }
                match once(&client, &target, n).await {
                    Some(latency) => {
                        latencies.push(latency);
                        ok += 1;
                    }
                    None => errors += 1,
                }
            }
            (ok, errors, latencies)
        }));
    }
    let mut out = Outcome { ok: 0, errors: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for w in workers {
        let (ok, errors, lat) = w.await.expect("a worker");
        out.ok += ok;
        out.errors += errors;
        out.latencies.extend(lat);
    }
    out.elapsed = started.elapsed();
    out.latencies.sort();
    out
}

/// Runs for `duration`.
pub async fn run(concurrency: usize, duration: Duration, target: Target) -> Outcome {
    let deadline = Instant::now() + duration;
    drive(concurrency, target, move |_| Instant::now() >= deadline).await
}

/// Runs until `count` requests were made.
pub async fn run_count(concurrency: usize, count: usize, target: Target) -> Outcome {
    let first = SEQUENCE.load(Ordering::Relaxed);
    drive(concurrency, target, move |n| n >= first + count).await
}
