//! The webhooks scenario: Cloud status webhooks, signed as Cloud signs
//! them, POSTed to the webapp's intake at fixed rates (open loop), each
//! translated and delivered to the business's server. Outbound messages
//! with known wamids are seeded in the database first, so every status maps
//! to one of our messages, as in production.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use coreapp::store::db::now_ms;
use coreapp::store::outbound;
use serde_json::json;

use crate::stack::{PNID, Stack};

const APP_SECRET: &str = "sandbox-app-secret";
const STATUSES: [&str; 3] = ["sent", "delivered", "read"];
/// POSTs the load generator has in flight at most, as a sender with a pool
/// of connections does (an unbounded one opened new TLS connections
/// whenever the webapp slowed, until it refused them). A POST that waits
/// for a free one is late, and its lateness counts in its latency.
const IN_FLIGHT: usize = 64;

fn sign(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Messages whose statuses a run at `rate` events/s for `seconds` needs.
pub fn messages_needed(rate: u64, seconds: u64) -> usize {
    ((rate / 3).max(1) * seconds) as usize
}

pub async fn run(per_rate: Duration, rates: &[u64], batch: usize) -> anyhow::Result<()> {
    let stack = crate::stack::Stack::start(crate::stack::Options::new(80)).await?;
    let token = stack.admin_token().await?;
    // Every status goes to the business, `sent` included.
    crate::cost::sent_webhooks_on(&stack, &token).await?;

    let messages_needed: usize = rates.iter().map(|r| messages_needed(*r, per_rate.as_secs())).sum();
    println!("seeding {messages_needed} sent messages with known wamids...");
    let ids = seed(&stack, messages_needed).await?;

    println!(
        "\n== Cloud status webhooks -> on-prem webhooks, {batch} status(es) per POST, {}, TLS on ==",
        crate::stack::engine().label()
    );
    println!(
        "{:>10} {:>12} {:>14} {:>12} {:>10} {:>10} {:>8} {:>8}",
        "offered/s", "posted/s", "delivered/s", "in time", "p50 ms", "p99 ms", "errors", "disorder"
    );
    let mut next = 0usize;
    let (ticks, procs) = (crate::cost::ticks_per_second(), crate::cost::processes(&stack));
    let mut cpu = Vec::new();
    for &rate in rates {
        let (cpu0, t0) = (crate::cost::cpu_of(&procs, ticks), Instant::now());
        let f = measure(&stack, &ids, &mut next, per_rate, rate, batch).await?;
        let (cpu1, took) = (crate::cost::cpu_of(&procs, ticks), t0.elapsed().as_secs_f64());
        let used: Vec<String> = procs
            .iter()
            .map(|(n, _)| {
                let busy = cpu1.get(n).copied().unwrap_or(0.0) - cpu0.get(n).copied().unwrap_or(0.0);
                format!("{n} {:.2}", busy / took)
            })
            .collect();
        cpu.push(format!("{rate}/s: {}", used.join(", ")));
        println!(
            "{:>10} {:>12.0} {:>14.0} {:>12} {:>10.1} {:>10.1} {:>8} {:>8}",
            rate,
            f.posted_rate,
            f.delivered_rate,
            format!("{}/{}", f.delivered, f.posted),
            f.p50,
            f.p99,
            f.errors,
            f.out_of_order
        );
        stack.wait_idle(Duration::from_secs(120)).await?;
    }
    stack.stop().await;
    println!("\nCPU-seconds per second of each process while a rate ran (its tail included):");
    for line in cpu {
        println!("  {line}");
    }
    Ok(())
}

/// One rate's figures.
pub struct Figures {
    pub rate: u64,
    pub batch: usize,
    pub posted: usize,
    pub posted_rate: f64,
    pub errors: usize,
    pub delivered: usize,
    pub delivered_rate: f64,
    pub p50: f64,
    pub p99: f64,
    /// Statuses that reached the business after a later status of the
    /// same message.
    pub out_of_order: usize,
    /// The p99 the scenario holds this rate to (set by the caller).
    pub p99_target_ms: u64,
}

/// Offers `rate` status events a second for `per_rate`, `batch` per POST,
/// for the seeded messages from `next` on (advanced past those used).
pub async fn measure(
    stack: &Stack,
    ids: &[(String, String)],
    next: &mut usize,
    per_rate: Duration,
    rate: u64,
    batch: usize,
) -> anyhow::Result<Figures> {
    stack.receiver.record.store(true, Ordering::Relaxed);
    // Statuses of one message come a second apart, as Cloud sends them:
    // second t carries `sent` for group t, `delivered` for group t-1
    // and `read` for group t-2 (a group is a third of a second's load).
    let group = (rate / 3).max(1) as usize;
    let seconds = per_rate.as_secs() as usize;
    let first = *next;
    *next += group * seconds;
    anyhow::ensure!(*next <= ids.len(), "{} seeded messages are too few for this run", ids.len());
    let mut plan: Vec<(String, &str, String)> = Vec::new();
    for t in 0..seconds + 2 {
        let mut second: Vec<(String, &str, String)> = Vec::new();
        for (s_idx, name) in STATUSES.iter().enumerate() {
            let Some(g) = t.checked_sub(s_idx).filter(|g| *g < seconds) else { continue };
            for j in 0..group {
                let m = first + g * group + j;
                second.push((ids[m].0.clone(), *name, format!("wamid.BENCH{m}")));
            }
        }
        // Interleave the three streams across the second.
        second.sort_by_key(|(id, _, _)| id.clone());
        plan.extend(second);
    }
    let events = plan.len();
    stack.receiver.take_arrivals();
    let (posted, errors, sent_at, elapsed) =
        offer(stack, &plan, events as u64 * 1000 / (elapsed_ms(seconds + 2)), batch).await;
    // Wait for the tail (bounded), then match arrivals to sends; a status
    // arriving after a later one of its message is out of order.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut arrived: HashMap<(String, String), Instant> = HashMap::new();
    let mut reached: HashMap<String, usize> = HashMap::new();
    let mut out_of_order = 0;
    while arrived.len() < posted && Instant::now() < deadline {
        for (id, st, at) in stack.receiver.take_arrivals() {
            let rank = STATUSES.iter().position(|s| *s == st).unwrap_or(0);
            let last = reached.entry(id.clone()).or_insert(rank);
            if rank < *last {
                out_of_order += 1;
            }
            *last = (*last).max(rank);
            arrived.entry((id, st)).or_insert(at);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.receiver.record.store(false, Ordering::Relaxed);
    let mut latencies: Vec<Duration> = sent_at
        .iter()
        .filter_map(|((id, st), t)| arrived.get(&(id.clone(), st.to_string())).map(|a| a.duration_since(*t)))
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len().max(1) - 1) as f64 * p) as usize).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let first_post = sent_at.values().min().copied();
    let last_arrival = arrived.values().max().copied();
    let span = match (first_post, last_arrival) {
        (Some(a), Some(b)) => b.duration_since(a),
        _ => elapsed,
    };
    Ok(Figures {
        rate,
        batch,
        posted,
        posted_rate: posted as f64 / elapsed.as_secs_f64(),
        errors,
        delivered: arrived.len(),
        delivered_rate: arrived.len() as f64 / span.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
        out_of_order,
        p99_target_ms: 0,
    })
}

/// Inserts `n` messages as already accepted by Cloud, with wamids
/// `wamid.BENCH<i>`; returns (our id, recipient) of each.
pub async fn seed(stack: &Stack, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let rows: Vec<(String, String)> =
        (0..n).map(|i| (wire::ids::message_id(), format!("1556{:07}", i % 10_000_000))).collect();
    let chunk_rows = rows.clone();
    stack
        .db()
        .run(move |conn| {
            for (c, chunk) in chunk_rows.chunks(1000).enumerate() {
                coreapp::store::db::transaction(conn, |conn| {
                    for (k, (id, to)) in chunk.iter().enumerate() {
                        let i = c * 1000 + k;
                        let now = now_ms();
                        outbound::insert(
                            conn,
                            id,
                            to,
                            r#"{"type":"text","text":{"body":"seed"}}"#,
                            now,
                            Some(("seed", now)),
                        )?;
                        outbound::mark_sent(conn, id, "seed", &format!("wamid.BENCH{i}"), 1, now)?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
    Ok(rows)
}

type SentAt = HashMap<(String, &'static str), Instant>;

/// A POST made ahead: its body, its signature, and the (message, status)
/// pairs it carries.
type Post = (String, String, Vec<(String, &'static str)>);

fn elapsed_ms(seconds: usize) -> u64 {
    seconds as u64 * 1000
}

/// POSTs the planned statuses at `rate` events per second; returns how many
/// were accepted, errors, when each was posted, and the time it took.
async fn offer(
    stack: &Stack,
    plan: &[(String, &'static str, String)],
    rate: u64,
    batch: usize,
) -> (usize, usize, SentAt, Duration) {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .pool_max_idle_per_host(IN_FLIGHT)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let url = Arc::new(format!("{}/cloud/webhooks", stack.web));
    let interval = Duration::from_secs_f64(batch as f64 / rate as f64);
    // Bodies and signatures are made before the clock starts, so the load
    // generator's own work does not slow the offer (it shares the cores).
    let epoch_ms = now_ms();
    let posts: Vec<Post> = plan
        .chunks(batch)
        .enumerate()
        .map(|(k, chunk)| {
            let at = (epoch_ms + (interval * k as u32).as_millis() as i64) / 1000;
            let statuses: Vec<_> = chunk
                .iter()
                .map(|(_, st, wamid)| json!({"id": wamid, "status": st, "timestamp": at.to_string(), "recipient_id": "15560000000"}))
                .collect();
            let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "200000000000001", "changes": [{"field": "messages",
                "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": PNID},
                          "statuses": statuses}}]}]})
            .to_string();
            let sig = sign(body.as_bytes());
            (body, sig, chunk.iter().map(|(id, st, _)| (id.clone(), *st)).collect())
        })
        .collect();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (k, (body, sig, keys)) in posts.into_iter().enumerate() {
        let due = started + interval * k as u32;
        tokio::time::sleep_until(due.into()).await;
        let slot = slots.clone().acquire_owned().await.expect("the semaphore stays open");
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let _slot = slot;
            let answer = client
                .post(url.as_str())
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await;
            let ok = match answer {
                Ok(r) if r.status().as_u16() == 200 => true,
                Ok(r) => {
                    eprintln!("intake answered HTTP {}", r.status());
                    false
                }
                Err(e) => {
                    eprintln!("intake POST failed: {e:?}");
                    false
                }
            };
            // Timed from when the POST was due, not from when a connection
            // was free: a wait for one counts.
            (ok, keys, due)
        });
    }
    let (mut posted, mut errors, mut sent_at) = (0, 0, SentAt::new());
    while let Some(r) = tasks.join_next().await {
        let (ok, keys, t) = r.expect("a post task");
        if ok {
            posted += keys.len();
            for k in keys {
                sent_at.insert(k, t);
            }
        } else {
            errors += keys.len();
        }
    }
    (posted, errors, sent_at, started.elapsed())
}
