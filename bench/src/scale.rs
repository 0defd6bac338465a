//! The scale-out scenario, on this one machine:
//! - send throughput with 1, 2 and 3 coreapps on one database: messages
//!   accepted through the webapp, then drained to Cloud (unpaced), so the
//!   figures show what coordinating several nodes costs;
//! - global pacing: the number's rate held by three coreapps together;
//! - failover: one of two coreapps killed (SIGKILL) under a steady load:
//!   how many requests failed and for how long, and when the work it had
//!   claimed reached Cloud.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use coreapp::store::queue::{self, Queue};
use serde_json::{Value, json};

use crate::stack::{Options, Stack};
use crate::{cost, load};

/// Waits until `GET /v1/health` lists `n` connected coreapps (one shows
/// the single-node shape).
pub async fn wait_nodes(stack: &Stack, token: &str, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    loop {
        let r = stack.http.get(format!("{}/v1/health", stack.web)).bearer_auth(token);
        if let Ok(r) = r.send().await
            && let Ok(v) = r.json::<Value>().await
        {
            last = v.clone();
            let h = &v["health"];
            let connected = match h.get("gateway_status") {
                Some(s) => usize::from(s == "connected"),
                None => h
                    .as_object()
                    .map(|m| m.values().filter(|n| n["gateway_status"] == "connected").count())
                    .unwrap_or(0),
            };
            if connected == n {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{n} coreapps did not all report connected; the last health: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn pending(stack: &Stack) -> anyhow::Result<i64> {
    Ok(stack.db().run(|c| Ok(queue::count_in_state(c, Queue::Outbound, queue::State::Pending)?)).await?)
}

/// What `n` coreapps did with a burst of messages.
pub struct Scaled {
    /// Accepted per second, and the p99 of the accepts, in ms.
    pub accepted: f64,
    pub p99: f64,
    /// Messages per second from the first accept until the queue was empty.
    pub drained: f64,
    /// MariaDB's statements, handler commits and fsyncs per message, from
    /// the first accept until the queue was empty.
    pub statements: f64,
    pub commits: f64,
    pub fsyncs: f64,
    /// CPU-seconds per 10,000 messages: every coreapp together, the
    /// webapp, and the database server.
    pub cpu_coreapps: f64,
    pub cpu_webapp: f64,
    pub cpu_database: f64,
}

/// `messages` sent by 64 clients through a stack of `n` coreapps (Cloud
/// unthrottled), then drained to Cloud.
pub async fn throughput(n: usize, messages: usize) -> anyhow::Result<Scaled> {
    let stack = Stack::start(Options { coreapps: n, ..Options::new(20_000) }).await?;
    let token = stack.admin_token().await?;
    wait_nodes(&stack, &token, n).await?;
    let (ticks, procs) = (cost::ticks_per_second(), cost::processes(&stack));
    let (db_before, cpu_before) = (cost::counters(&stack).await?, cost::cpu_of(&procs, ticks));
    let started = Instant::now();
    let burst = load::run_count(64, messages, load::stack_send(&stack, &token)).await;
    stack.wait_queue_empty(Duration::from_secs(300)).await?;
    let total = started.elapsed();
    let (db_after, cpu_after) = (cost::counters(&stack).await?, cost::cpu_of(&procs, ticks));
    let db = cost::delta(&db_before, &db_after);
    // A counter the server does not keep (statements on PostgreSQL) is NaN.
    let per_message = |name: &str| db.get(name).map_or(f64::NAN, |n| *n as f64 / burst.ok.max(1) as f64);
    let cpu = |pick: &dyn Fn(&str) -> bool| {
        let used: f64 = cpu_after
            .iter()
            .filter(|(name, _)| pick(name))
            .map(|(name, after)| after - cpu_before.get(name).copied().unwrap_or(*after))
            .sum();
        used * 10_000.0 / burst.ok.max(1) as f64
    };
    let scaled = Scaled {
        accepted: burst.ok as f64 / burst.elapsed.as_secs_f64(),
        p99: burst.p99_ms(),
        drained: burst.ok as f64 / total.as_secs_f64(),
        statements: per_message("Questions"),
        commits: per_message("Handler_commit"),
        fsyncs: per_message("Innodb_data_fsyncs"),
        cpu_coreapps: cpu(&|name| name.starts_with("coreapp")),
        cpu_webapp: cpu(&|name| name == "webapp"),
        cpu_database: cpu(&|name| name == crate::cost::DATABASE),
    };
    stack.stop().await;
    Ok(scaled)
}

impl Scaled {
    /// The table's header and one row per node count, as `print_row` writes.
    pub const HEADER: &str = "coreapps  accepted/s  accept p99 ms  drained msg/s  statements  commits  fsyncs  CPU-s/10k: coreapps webapp database";

    pub fn row(&self, n: usize) -> String {
        format!(
            "{n:>8}  {:>10.0}  {:>13.1}  {:>13.0}  {:>10}  {:>7.2}  {:>6.2}  {:>19.2} {:>6.2} {:>7.2}",
            self.accepted,
            self.p99,
            self.drained,
            if self.statements.is_nan() { "n/a".to_string() } else { format!("{:.2}", self.statements) },
            self.commits,
            self.fsyncs,
            self.cpu_coreapps,
            self.cpu_webapp,
            self.cpu_database
        )
    }
}

pub async fn run(counts: &[usize], messages: usize, paced_rate: u32, lease_s: u64) -> anyhow::Result<()> {
    println!("== send throughput by number of coreapps: {messages} messages queued (64 clients), then drained ==");
    println!(
        "(statements, commits and fsyncs per message: {}'s counters from the first accept until drained)",
        crate::stack::engine().label()
    );
    println!("{}", Scaled::HEADER);
    for &n in counts {
        println!("{}", throughput(n, messages).await?.row(n));
    }

    println!("\n== global pacing: the number's rate {paced_rate}/s, 3 coreapps, {} messages ==", paced_rate * 8);
    let stack = Stack::start(Options { coreapps: 3, ..Options::new(paced_rate) }).await?;
    let token = stack.admin_token().await?;
    wait_nodes(&stack, &token, 3).await?;
    let _ = stack.http.delete(format!("{}/_sandbox/sent", stack.sandbox)).send().await;
    let burst = load::run_count(32, paced_rate as usize * 8, load::stack_send(&stack, &token)).await;
    stack.wait_queue_empty(Duration::from_secs(120)).await?;
    let sent: Value = stack.http.get(format!("{}/_sandbox/sent", stack.sandbox)).send().await?.json().await?;
    let mut times: Vec<i64> = sent["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "text")
        .filter_map(|e| e["received_at"].as_i64())
        .collect();
    times.sort_unstable();
    // The steady middle of the run (the first and last tenth trimmed).
    let (a, b) = (times.len() / 10, times.len() * 9 / 10);
    if b > a + 1 {
        let rate = (b - a) as f64 / ((times[b] - times[a]) as f64 / 1000.0);
        println!(
            "{} accepted; Cloud received {} at {rate:.1} msg/s in the steady part ({:+.1}% of {paced_rate}/s)",
            burst.ok,
            times.len(),
            (rate / f64::from(paced_rate) - 1.0) * 100.0
        );
    }
    stack.stop().await;

    println!("\n== failover: 2 coreapps (lease {lease_s} s), one killed under 100 sends/s ==");
    let mut stack = Stack::start(Options { coreapps: 2, lease_s, ..Options::new(2_000) }).await?;
    let token = stack.admin_token().await?;
    wait_nodes(&stack, &token, 2).await?;
    let failed = Arc::new(AtomicUsize::new(0));
    let last_failure = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let started = Instant::now();
    let kill_at = Duration::from_secs(3);
    let sender = {
        let (http, url, token) = (stack.http.clone(), format!("{}/v1/messages", stack.web), token.clone());
        let (failed, last_failure) = (failed.clone(), last_failure.clone());
        tokio::spawn(async move {
            let mut ok = 0usize;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for n in 0..1_000usize {
                tick.tick().await;
                let body = json!({"to": format!("1777{n:07}"), "type": "text", "text": {"body": "failover"}});
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => ok += 1,
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        *last_failure.lock().expect("lock") = Some(Instant::now());
                    }
                }
            }
            ok
        })
    };
    tokio::time::sleep_until((started + kill_at).into()).await;
    let killed = Instant::now();
    stack.kill("coreapp-2");
    let accepted = sender.await?;
    let mut resumed = None;
    let deadline = Instant::now() + Duration::from_secs(lease_s * 3 + 60);
    while Instant::now() < deadline {
        if pending(&stack).await? == 0 {
            resumed = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = failed.load(Ordering::Relaxed);
    let window = last_failure.lock().expect("lock").map(|t| t.saturating_duration_since(killed));
    println!(
        "{accepted} sends accepted, {failed} refused (1014) while the dead node was noticed{}",
        window.map(|w| format!(", the last {:.2} s after the kill", w.as_secs_f64())).unwrap_or_default()
    );
    match resumed {
        Some(t) => println!(
            "every accepted message reached Cloud {:.1} s after the kill (its claims lapse after the lease)",
            t.as_secs_f64()
        ),
        None => println!("messages still pending {} s after the kill", lease_s * 3 + 60),
    }
    stack.stop().await;
    Ok(())
}
