//! The chaos soak: the stack under a steady mix of sends and inbound
//! messages for a while, with everything around it failing: Cloud answers
//! errors, drops connections, throttles and stalls; the business's webhook
//! server refuses a share of POSTs; each coreapp is killed (SIGKILL) once
//! and started again; the database is shut down and started again in the
//! middle. Then the faults stop, the backlog drains, and the soak checks,
//! from what the business received and what Cloud accepted, that the
//! delivery guarantees of the README held:
//! - every message answered 201 reached a final status (`read`, or `failed`
//!   with a reason), and every inbound message reached the business;
//! - a message's statuses never went backwards;
//! - duplicates only where the README allows them: a message Cloud accepted
//!   twice, or an event the business got twice, must have been in flight on
//!   a coreapp when it was killed, or when the database went away for longer
//!   than a lease.
//!
//! It prints the figures and fails when a check does not hold, or when a
//! coreapp does not serve again after its restart or the database's.
//!
//! The database is a private MariaDB server (its own data directory and
//! port, removed at the end): the soak never touches the server the other
//! tests share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use e2e::mariadb::PrivateMariadb;
use proto::core::core_client::CoreClient;
use serde_json::{Value, json};
use tokio::task::{JoinHandle, JoinSet};
use tonic::transport::Channel;

use crate::stack::{Options, PNID, Stack};

#[derive(clap::Args, Clone, Debug)]
pub struct Config {
    /// Seconds of load; every fault happens within them.
    #[arg(long, default_value_t = 120)]
    pub seconds: u64,
    /// POST /v1/messages per second (open loop: on time whatever the answers).
    #[arg(long, default_value_t = 60.0)]
    pub rate: f64,
    /// Users writing to the business, messages per second (the sandbox
    /// signs them and POSTs them to the webapp's Cloud intake, as Cloud does).
    #[arg(long, default_value_t = 5.0)]
    pub inbound_rate: f64,
    /// Distinct recipients of the sends.
    #[arg(long, default_value_t = 1000)]
    pub recipients: usize,
    /// Seconds the database is down each time, from the signal until it is
    /// started again (it then takes a moment to accept connections).
    #[arg(long, default_value_t = 10)]
    pub db_down_s: u64,
    /// Leave the database alone (no clean shutdown and restart).
    #[arg(long)]
    pub no_db_restart: bool,
    /// Also kill the database with SIGKILL once, later in the run.
    #[arg(long)]
    pub db_kill: bool,
    /// Do not kill the coreapps.
    #[arg(long)]
    pub no_kills: bool,
    /// Seconds a killed coreapp stays down before it is started again.
    #[arg(long, default_value_t = 5)]
    pub restart_after_s: u64,
    /// Percent of sends Cloud answers HTTP 503.
    #[arg(long, default_value_t = 8.0)]
    pub cloud_503: f64,
    /// Percent of sends whose connection Cloud drops without an answer.
    #[arg(long, default_value_t = 4.0)]
    pub cloud_drop: f64,
    /// Percent of sends Cloud refuses with 130429 (throughput).
    #[arg(long, default_value_t = 4.0)]
    pub cloud_throttle: f64,
    /// Percent of sends Cloud answers late (by --cloud-delay-ms).
    #[arg(long, default_value_t = 3.0)]
    pub cloud_delay: f64,
    #[arg(long, default_value_t = 1500)]
    pub cloud_delay_ms: u64,
    /// Percent of webhook POSTs the business's server refuses (HTTP 500).
    #[arg(long, default_value_t = 30.0)]
    pub refuse: f64,
    /// `WA_WORK_LEASE_S` of the coreapps: how long a killed coreapp's
    /// claims hold before the other takes its work over.
    #[arg(long, default_value_t = 60)]
    pub lease_s: u64,
    /// Seconds to wait, after the load and the faults stopped, for every
    /// accepted message and inbound message to reach the business.
    #[arg(long, default_value_t = 120)]
    pub drain_s: u64,
    /// Seconds a coreapp may take to serve again after its restart or the
    /// database's.
    #[arg(long, default_value_t = 60)]
    pub recover_s: u64,
    /// Milliseconds around a fault within which work counts as in flight
    /// at it: the time a coreapp takes between Cloud's (or the webhook
    /// server's) answer and recording it.
    #[arg(long, default_value_t = 2000)]
    pub window_ms: u64,
}

/// One send: its number `n` (the body is `soak <n>`), when it was answered
/// (seconds into the run), who took it (`webapp`, or a coreapp probed
/// straight over gRPC), and our message id or why not.
struct Send {
    n: usize,
    answered: f64,
    via: &'static str,
    result: Result<String, String>,
}

/// What the load, the probes and the checks share.
struct Run {
    start: Instant,
    /// Unix milliseconds at `start`, to place the sandbox's timestamps.
    start_ms: i64,
    seq: AtomicUsize,
    recipients: usize,
    sends: Mutex<Vec<Send>>,
    /// Inbound messages the sandbox took (`inbound <k>`), and the ones it refused.
    inbound: Mutex<(Vec<usize>, usize)>,
}

impl Run {
    fn secs(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64()
    }

    fn now(&self) -> f64 {
        self.secs(Instant::now())
    }

    fn wall_secs(&self, unix_ms: i64) -> f64 {
        (unix_ms - self.start_ms) as f64 / 1000.0
    }

    /// The next send: its number, recipient and on-prem message.
    fn next(&self) -> (usize, String, Value) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let to = format!("1777{:07}", n % self.recipients.max(1));
        let message = json!({"to": to, "type": "text", "text": {"body": format!("soak {n}")}});
        (n, to, message)
    }

    fn record(&self, send: Send) {
        self.sends.lock().expect("sends lock").push(send);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Kill,
    Database,
}

/// A fault that can leave work half done: from `from` to `to`, seconds
/// into the run (a kill is an instant; the database is down in between).
struct Incident {
    kind: Kind,
    what: String,
    from: f64,
    to: f64,
}

enum Step {
    Kill(usize),
    Database { kill: bool },
}

pub async fn run(config: Config, plain_link: bool) -> anyhow::Result<()> {
    if config.seconds < 10 || config.rate <= 0.0 || config.inbound_rate <= 0.0 {
        bail!("the soak needs --seconds of at least 10 and positive --rate and --inbound-rate");
    }
    if config.cloud_503 + config.cloud_drop + config.cloud_throttle > 100.0 {
        bail!("--cloud-503, --cloud-drop and --cloud-throttle add up to more than 100%");
    }
    let mut server = tokio::task::spawn_blocking(PrivateMariadb::start).await??;
    let options = Options {
        coreapps: 2,
        lease_s: config.lease_s,
        plain_link,
        db: Some(server.config(&format!("soak{}_", wire::ids::random_hex(3)))),
        ..Options::new(80)
    };
    let mut stack = match Stack::start(options).await {
        Ok(stack) => stack,
        Err(e) => {
            tokio::task::block_in_place(|| server.stop());
            return Err(e);
        }
    };
    let result = soak(&config, &mut stack, &mut server).await;
    if !server.is_running() {
        let _ = tokio::task::block_in_place(|| server.start_again());
    }
    stack.stop().await;
    // Stops the server and removes its data directory.
    tokio::task::block_in_place(|| server.stop());
    drop(server);
    result
}

async fn soak(c: &Config, stack: &mut Stack, server: &mut PrivateMariadb) -> anyhow::Result<()> {
    let token = stack.admin_token().await?;
    crate::scale::wait_nodes(stack, &token, 2).await?;
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!(
        "== soak: {} s, {} sends/s to {} recipients, {} inbound/s; 2 coreapps ({build} binaries, lease {} s), a webapp, a private MariaDB, the sandbox as Cloud ==",
        c.seconds, c.rate, c.recipients, c.inbound_rate, c.lease_s
    );

    let run = Arc::new(Run {
        start: Instant::now(),
        start_ms: coreapp::store::db::now_ms(),
        seq: AtomicUsize::new(0),
        recipients: c.recipients,
        sends: Mutex::new(Vec::new()),
        inbound: Mutex::new((Vec::new(), 0)),
    });
    let cloud_faults = install_cloud_faults(stack, c).await?;
    stack.receiver.keep_bodies();
    stack.receiver.refuse(c.refuse / 100.0);
    let until = run.start + Duration::from_secs(c.seconds);
    let load = tokio::spawn(send_load(run.clone(), format!("{}/v1/messages", stack.web), token.clone(), c.rate, until));
    let inbound = tokio::spawn(inbound_load(run.clone(), stack.sandbox.clone(), c.inbound_rate, until));

    // The schedule: the coreapps killed one after the other, then the
    // database, so both coreapps live through its outage after their own
    // restart and nothing restarts them afterwards.
    let mut plan: Vec<(f64, Step)> = Vec::new();
    if !c.no_kills {
        plan.push((0.15, Step::Kill(0)));
        plan.push((0.30, Step::Kill(1)));
    }
    if !c.no_db_restart {
        plan.push((0.50, Step::Database { kill: false }));
    }
    if c.db_kill {
        plan.push((0.75, Step::Database { kill: true }));
    }
    let recover = Duration::from_secs(c.recover_s);
    let mut incidents: Vec<Incident> = Vec::new();
    let mut probes: Vec<(String, JoinHandle<Recovery>)> = Vec::new();
    for (share, step) in plan {
        tokio::time::sleep_until((run.start + Duration::from_secs_f64(c.seconds as f64 * share)).into()).await;
        match step {
            Step::Kill(i) => {
                let name = stack.coreapps()[i];
                let at = run.now();
                stack.kill(name);
                tokio::time::sleep(Duration::from_secs(c.restart_after_s)).await;
                stack.restart(name)?;
                let back = Instant::now();
                println!("{:>7.1} s  {name} killed (SIGKILL); started again at {:.1} s", at, run.secs(back));
                incidents.push(Incident { kind: Kind::Kill, what: format!("the kill of {name}"), from: at, to: at });
                let probe = tokio::spawn(probe(run.clone(), stack.core_client(i)?, name, back, back + recover));
                probes.push((format!("{name} after its restart"), probe));
            }
            Step::Database { kill } => {
                let at = run.now();
                tokio::task::block_in_place(|| if kill { server.kill() } else { server.stop() });
                let exited = run.now();
                tokio::time::sleep_until((run.start + Duration::from_secs_f64(at + c.db_down_s as f64)).into()).await;
                tokio::task::block_in_place(|| server.start_again()).context("the database did not start again")?;
                let back = Instant::now();
                let how = if kill { "killed (SIGKILL)" } else { "shut down (SIGTERM)" };
                println!(
                    "{at:>7.1} s  database {how}, exited after {:.1} s; accepting connections again at {:.1} s",
                    exited - at,
                    run.secs(back)
                );
                let how_short = if kill { "kill" } else { "shutdown" };
                let what = format!("the database {how_short}");
                incidents.push(Incident { kind: Kind::Database, what, from: at, to: run.secs(back) });
                for (i, name) in stack.coreapps().into_iter().enumerate() {
                    let probe = tokio::spawn(probe(run.clone(), stack.core_client(i)?, name, back, back + recover));
                    probes.push((format!("{name} once the database was back from its {how_short}"), probe));
                }
            }
        }
    }

    // The load ends; so do the faults. The backlog then drains.
    tokio::time::sleep_until(until.into()).await;
    let cloud_fired = stop_cloud_faults(stack, &cloud_faults).await?;
    stack.receiver.refuse(0.0);
    let faults_stopped = Instant::now();
    let refused = (stack.receiver.refused(), stack.receiver.kept().len());
    load.await?;
    inbound.await?;
    let mut recoveries = Vec::new();
    for (label, probe) in probes {
        recoveries.push((label, probe.await?));
    }

    let drain_deadline = faults_stopped + Duration::from_secs(c.drain_s);
    let drained = loop {
        let seen = Seen::read(&stack.receiver.kept(), &run);
        let (open_sends, open_inbound) = outstanding(&run, &seen);
        if open_sends == 0 && open_inbound == 0 {
            break Some(faults_stopped.elapsed());
        }
        if Instant::now() >= drain_deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let cloud = cloud_accepted(stack, &run).await?;
    let seen = Seen::read(&stack.receiver.kept(), &run);
    let report = Report { c, run: &run, seen: &seen, cloud: &cloud, incidents: &incidents };
    let failures = report.print(&cloud_fired, refused, drained, &recoveries);
    if drained.is_none() {
        pending_in_database(stack).await;
    }
    if failures.is_empty() {
        println!("PASS");
        Ok(())
    } else {
        for f in &failures {
            println!("FAIL: {f}");
        }
        // What the coreapps saw (they log warnings and errors only), to
        // tell a failure from a run that cannot be repeated at will.
        for name in ["coreapp-1", "coreapp-2"] {
            println!(
                "--- the last lines of {name}'s log ---\n{}",
                stack.log_tail(name, 80, &["webhook delivery failed", "Cloud"])
            );
        }
        bail!("the soak failed: {}", failures.join("; "))
    }
}

/// Sends at `rate` per second until `until`, each on its own task so a
/// slow answer never delays the next send.
async fn send_load(run: Arc<Run>, url: String, token: String, rate: f64, until: Instant) {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let mut tasks = JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / rate);
    let first = Instant::now();
    for k in 0u32.. {
        let due = first + period * k;
        if due >= until {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let (run, client, url, token) = (run.clone(), client.clone(), url.clone(), token.clone());
        tasks.spawn(async move {
            let (n, _, message) = run.next();
            let result = match client.post(&url).bearer_auth(&token).json(&message).send().await {
                Ok(r) if r.status().as_u16() == 201 => match r.json::<Value>().await {
                    Ok(v) => v
                        .pointer("/messages/0/id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| "201 without an id".to_string()),
                    Err(_) => Err("201, body unreadable".to_string()),
                },
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.json::<Value>().await.unwrap_or(Value::Null);
                    Err(match body.pointer("/errors/0/code") {
                        Some(code) => format!("{status}/{code}"),
                        None => format!("HTTP {status}"),
                    })
                }
                Err(e) if e.is_timeout() => Err("no answer (timeout)".to_string()),
                Err(_) => Err("no answer (connection failed)".to_string()),
            };
            run.record(Send { n, answered: run.now(), via: "webapp", result });
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Users write to the business through the sandbox (`/_sandbox/inbound`),
/// which delivers each as a signed Cloud webhook and retries until the
/// webapp takes it, as Cloud does.
async fn inbound_load(run: Arc<Run>, sandbox: String, rate: f64, until: Instant) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("a client");
    let url = format!("{sandbox}/_sandbox/inbound");
    let mut tasks = JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / rate);
    let first = Instant::now();
    for k in 0u32.. {
        let due = first + period * k;
        if due >= until {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let (run, client, url) = (run.clone(), client.clone(), url.clone());
        tasks.spawn(async move {
            let k = k as usize;
            let body = json!({"from": format!("1888{:07}", k % 200), "name": "Soak User", "type": "text",
                              "text": {"body": format!("inbound {k}")}});
            let ok = client.post(&url).json(&body).send().await.is_ok_and(|r| r.status().is_success());
            let mut inbound = run.inbound.lock().expect("inbound lock");
            if ok { inbound.0.push(k) } else { inbound.1 += 1 }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Seconds from a restart until the coreapp said it reaches its database
/// (`Ping`, what webapps route by), and until it stored a message sent
/// straight to it over gRPC; `None`: not by the deadline.
#[derive(Clone, Copy)]
struct Recovery {
    ready: Option<f64>,
    served: Option<f64>,
}

async fn probe(
    run: Arc<Run>,
    mut client: CoreClient<Channel>,
    name: &'static str,
    since: Instant,
    deadline: Instant,
) -> Recovery {
    let mut out = Recovery { ready: None, served: None };
    loop {
        if out.ready.is_none()
            && let Ok(r) = client.ping(proto::core::Empty {}).await
            && r.get_ref().ready
        {
            out.ready = Some(since.elapsed().as_secs_f64());
        }
        if out.served.is_none() {
            let (n, recipient, message) = run.next();
            let request = proto::core::SendMessageRequest {
                message: Some(proto::messages::to_proto(
                    &wire::messages::validate(&message).expect("the soak sends valid messages").message,
                )),
                recipient,
                message_id: wire::ids::message_id(),
            };
            let result = match client.send_message(request).await {
                Ok(r) => {
                    out.served = Some(since.elapsed().as_secs_f64());
                    Ok(r.into_inner().message_id)
                }
                Err(status) => Err(format!("gRPC {:?}", status.code())),
            };
            run.record(Send { n, answered: run.now(), via: name, result });
        }
        if (out.ready.is_some() && out.served.is_some()) || Instant::now() >= deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Installs the Cloud faults on `POST /{number}/messages`; returns each
/// fault's id and what it does.
async fn install_cloud_faults(stack: &Stack, c: &Config) -> anyhow::Result<Vec<(String, String)>> {
    let on_sends = json!({"path": "messages", "method": "POST", "phone_number_id": PNID});
    let mut faults = Vec::new();
    let mut labels = Vec::new();
    // Delays are added whatever else fires.
    if c.cloud_delay > 0.0 {
        faults.push(json!({"match": on_sends, "delay_ms": c.cloud_delay_ms, "rate": c.cloud_delay / 100.0}));
        labels.push(format!("answered {} ms late", c.cloud_delay_ms));
    }
    // The sandbox tries faults in order and the first that fires decides
    // the answer, so each rate is taken of what the faults before it left:
    // the shares of all sends are then the ones asked for.
    let mut left = 1.0;
    let answers = [
        (c.cloud_503, json!({"status": 503}), "HTTP 503"),
        (c.cloud_drop, json!({"drop_connection": true}), "connection dropped"),
        (c.cloud_throttle, json!({"error": {"code": 130_429}}), "130429 throughput"),
    ];
    for (percent, mut fault, label) in answers {
        if percent <= 0.0 {
            continue;
        }
        let share = percent / 100.0;
        fault["match"] = on_sends.clone();
        fault["rate"] = json!((share / left).min(1.0));
        left -= share;
        faults.push(fault);
        labels.push(label.to_string());
    }
    if faults.is_empty() {
        return Ok(Vec::new());
    }
    let r =
        stack.http.post(format!("{}/_sandbox/faults", stack.sandbox)).json(&json!({"faults": faults})).send().await?;
    if !r.status().is_success() {
        bail!("the sandbox refused the faults: {}", r.text().await?);
    }
    let added: Value = r.json().await?;
    let ids = added["data"].as_array().context("faults answer without data")?;
    Ok(ids.iter().filter_map(|f| f["id"].as_str().map(str::to_string)).zip(labels).collect())
}

/// Removes the Cloud faults; returns what each did and how often it fired.
async fn stop_cloud_faults(stack: &Stack, faults: &[(String, String)]) -> anyhow::Result<Vec<(String, u64)>> {
    let listed: Value = stack.http.get(format!("{}/_sandbox/faults", stack.sandbox)).send().await?.json().await?;
    stack.http.delete(format!("{}/_sandbox/faults", stack.sandbox)).send().await?;
    let fired: HashMap<&str, u64> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["id"].as_str()?, f["fired"].as_u64()?)))
        .collect();
    Ok(faults.iter().map(|(id, label)| (label.clone(), fired.get(id.as_str()).copied().unwrap_or(0))).collect())
}

/// When Cloud accepted each send (seconds into the run), by its `n`, from
/// the sandbox's record of the sends it accepted; and how many sends Cloud
/// accepted in all.
struct Cloud {
    accepted: HashMap<usize, Vec<f64>>,
    total: usize,
    webhooks_dropped: u64,
}

async fn cloud_accepted(stack: &Stack, run: &Run) -> anyhow::Result<Cloud> {
    let url = format!("{}/_sandbox/sent?phone_number_id={PNID}&type=text", stack.sandbox);
    let sent: Value = stack.http.get(url).send().await?.json().await?;
    let mut accepted: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut total = 0;
    for record in sent["data"].as_array().into_iter().flatten() {
        let body = record.pointer("/payload/text/body").and_then(Value::as_str).unwrap_or_default();
        if let Some(n) = body.strip_prefix("soak ").and_then(|n| n.parse().ok()) {
            total += 1;
            let at = run.wall_secs(record["received_at"].as_i64().unwrap_or_default());
            accepted.entry(n).or_default().push(at);
        }
    }
    for times in accepted.values_mut() {
        times.sort_by(f64::total_cmp);
    }
    let stats: Value = stack.http.get(format!("{}/_sandbox/stats", stack.sandbox)).send().await?.json().await?;
    let webhooks_dropped = stats.pointer("/webhooks/dropped_posts").and_then(Value::as_u64).unwrap_or(0);
    Ok(Cloud { accepted, total, webhooks_dropped })
}

/// What the business's webhook server accepted (answered 200).
struct Seen {
    /// Per message id: (arrival, status, error) in the order they arrived.
    statuses: HashMap<String, Vec<(f64, String, Option<String>)>>,
    /// Per inbound message `k`: its arrivals.
    inbound: HashMap<usize, Vec<f64>>,
    /// Events of any other kind.
    other: usize,
}

impl Seen {
    fn read(kept: &[(Instant, Value)], run: &Run) -> Seen {
        let mut seen = Seen { statuses: HashMap::new(), inbound: HashMap::new(), other: 0 };
        for (at, body) in kept {
            let t = run.secs(*at);
            let mut ours = false;
            for st in body["statuses"].as_array().into_iter().flatten() {
                ours = true;
                let id = st["id"].as_str().unwrap_or_default().to_string();
                let status = st["status"].as_str().unwrap_or_default().to_string();
                let error = st
                    .pointer("/errors/0")
                    .map(|e| format!("{} {}", e["code"], e["title"].as_str().unwrap_or_default()).trim().to_string());
                seen.statuses.entry(id).or_default().push((t, status, error));
            }
            for m in body["messages"].as_array().into_iter().flatten() {
                let k = m.pointer("/text/body").and_then(Value::as_str).and_then(|b| b.strip_prefix("inbound "));
                if let Some(k) = k.and_then(|k| k.parse().ok()) {
                    ours = true;
                    seen.inbound.entry(k).or_default().push(t);
                }
            }
            if !ours {
                seen.other += 1;
            }
        }
        seen
    }

    /// The final status a message reached (`read`, or `failed` with its
    /// reason), if any.
    fn final_status(&self, id: &str) -> Option<(String, Option<String>)> {
        self.statuses
            .get(id)?
            .iter()
            .find(|(_, s, _)| s == "read" || s == "failed")
            .map(|(_, s, e)| (s.clone(), e.clone()))
    }
}

/// Accepted sends without a final status, and inbound messages not arrived.
fn outstanding(run: &Run, seen: &Seen) -> (usize, usize) {
    let sends = run.sends.lock().expect("sends lock");
    let open_sends =
        sends.iter().filter_map(|s| s.result.as_ref().ok()).filter(|id| seen.final_status(id).is_none()).count();
    let inbound = run.inbound.lock().expect("inbound lock");
    let open_inbound = inbound.0.iter().filter(|k| !seen.inbound.contains_key(k)).count();
    (open_sends, open_inbound)
}

fn rank(status: &str) -> u8 {
    match status {
        "sent" => 1,
        "delivered" => 2,
        "read" | "failed" => 3,
        _ => 0,
    }
}

struct Report<'a> {
    c: &'a Config,
    run: &'a Run,
    seen: &'a Seen,
    cloud: &'a Cloud,
    incidents: &'a [Incident],
}

impl Report<'_> {
    /// The incident a copy first made at `t` was in flight at: it went out
    /// at most the window before the fault began and no later than the
    /// window after it ended (plus Cloud's injected delay, for sends: a
    /// send Cloud stalls goes on after its sender died).
    ///
    /// A database outage counts only when it outlasted the lease: a coreapp
    /// records what Cloud or the business already took once the database
    /// answers again, waiting up to one lease for it (README, "When the
    /// database goes away"), so a shorter outage may duplicate nothing.
    fn in_flight_at(&self, t: f64, send: bool) -> Option<&Incident> {
        let slack = self.c.window_ms as f64 / 1000.0;
        let late = if send && self.c.cloud_delay > 0.0 { self.c.cloud_delay_ms as f64 / 1000.0 } else { 0.0 };
        let lease = self.c.lease_s as f64;
        self.incidents
            .iter()
            .filter(|i| i.kind == Kind::Kill || i.to - i.from > lease)
            .find(|i| t >= i.from - slack && t <= i.to + slack + late)
    }

    /// Prints the figures; returns what failed.
    fn print(
        &self,
        cloud_fired: &[(String, u64)],
        (refused, accepted_posts): (u64, usize),
        drained: Option<Duration>,
        recoveries: &[(String, Recovery)],
    ) -> Vec<String> {
        let (c, run, seen) = (self.c, self.run, self.seen);
        let mut failures = Vec::new();
        let sends = run.sends.lock().expect("sends lock");
        let (inbound_ok, inbound_refused) = {
            let inbound = run.inbound.lock().expect("inbound lock");
            (inbound.0.clone(), inbound.1)
        };

        // Load.
        let web: Vec<&Send> = sends.iter().filter(|s| s.via == "webapp").collect();
        let accepted_web = web.iter().filter(|s| s.result.is_ok()).count();
        let mut rejected: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &web {
            if let Err(code) = &s.result {
                *rejected.entry(code.as_str()).or_default() += 1;
            }
        }
        let rejected_text = if rejected.is_empty() {
            "none".to_string()
        } else {
            rejected.iter().map(|(code, n)| format!("{code} x{n}")).collect::<Vec<_>>().join(", ")
        };
        let direct = sends.iter().filter(|s| s.via != "webapp" && s.result.is_ok()).count();
        println!(
            "load: {} sends in {} s ({:.1}/s); {accepted_web} accepted (201), {} not: {rejected_text}",
            web.len(),
            c.seconds,
            web.len() as f64 / c.seconds as f64,
            web.len() - accepted_web
        );
        println!(
            "      {direct} more accepted by the coreapps' recovery probes (gRPC SendMessage, tracked the same); {} inbound messages ({:.1}/s){}",
            inbound_ok.len(),
            inbound_ok.len() as f64 / c.seconds as f64,
            if inbound_refused > 0 { format!(", {inbound_refused} refused by the sandbox") } else { String::new() }
        );

        // Faults.
        let fired = cloud_fired.iter().map(|(what, n)| format!("{what} x{n}")).collect::<Vec<_>>().join(", ");
        println!(
            "faults: Cloud sends {}; Cloud accepted {} sends in all",
            if fired.is_empty() { "none".into() } else { fired },
            self.cloud.total
        );
        let posts = refused as usize + accepted_posts;
        println!(
            "        webhook POSTs refused by the business: {refused} of {posts} ({:.1}%); coreapp kills: {}; database outages: {}",
            refused as f64 * 100.0 / posts.max(1) as f64,
            self.incidents.iter().filter(|i| i.kind == Kind::Kill).count(),
            self.incidents.iter().filter(|i| i.kind == Kind::Database).count()
        );

        // Drain.
        match drained {
            Some(d) => println!(
                "drain: everything reached the business {:.1} s after the load and faults stopped",
                d.as_secs_f64()
            ),
            None => println!(
                "drain: NOT everything reached the business within {} s after the load and faults stopped",
                c.drain_s
            ),
        }

        // Final statuses.
        let accepted: Vec<&Send> = sends.iter().filter(|s| s.result.is_ok()).collect();
        let (mut read, mut failed, mut lost) = (0usize, BTreeMap::<String, usize>::new(), Vec::new());
        for s in &accepted {
            let id = s.result.as_ref().expect("accepted");
            match seen.final_status(id) {
                Some((status, _)) if status == "read" => read += 1,
                Some((_, error)) => *failed.entry(error.unwrap_or_else(|| "no reason".into())).or_default() += 1,
                None => lost.push(*s),
            }
        }
        let failed_n: usize = failed.values().sum();
        let failed_text = failed.iter().map(|(why, n)| format!("{why} x{n}")).collect::<Vec<_>>().join(", ");
        println!(
            "sends: {} accepted; {read} read, {failed_n} failed{}; lost (no final status): {}",
            accepted.len(),
            if failed.is_empty() { String::new() } else { format!(" ({failed_text})") },
            lost.len()
        );
        for s in lost.iter().take(10) {
            let id = s.result.as_ref().expect("accepted");
            let last = seen.statuses.get(id).and_then(|v| v.last()).map_or("none", |(_, st, _)| st.as_str());
            let copies = self.cloud.accepted.get(&s.n).map_or(0, Vec::len);
            println!(
                "       lost: soak {} (id {id}, answered at {:.1} s by {}): last status {last}, accepted by Cloud {copies} time(s)",
                s.n, s.answered, s.via
            );
        }
        if !lost.is_empty() {
            failures.push(format!("{} accepted messages reached no final status", lost.len()));
        }
        let missing: Vec<usize> = inbound_ok.iter().copied().filter(|k| !seen.inbound.contains_key(k)).collect();
        println!(
            "inbound: {} of {} reached the business; missing: {}",
            inbound_ok.len() - missing.len(),
            inbound_ok.len(),
            missing.len()
        );
        if !missing.is_empty() {
            let some: Vec<String> = missing.iter().take(10).map(|k| format!("inbound {k}")).collect();
            println!("       missing: {}", some.join(", "));
            failures.push(format!("{} inbound messages did not reach the business", missing.len()));
        }

        // Order.
        let mut backwards = 0;
        for list in seen.statuses.values() {
            backwards += list.windows(2).filter(|w| rank(&w[1].1) < rank(&w[0].1)).count();
        }
        println!("order: statuses went backwards {backwards} times");
        if backwards > 0 {
            failures.push(format!("statuses went backwards {backwards} times"));
        }

        // Duplicates at Cloud: a message accepted more than once.
        let ours: HashSet<usize> = accepted.iter().map(|s| s.n).collect();
        let mut dup_sends: Vec<(usize, &Vec<f64>)> =
            self.cloud.accepted.iter().filter(|(_, t)| t.len() > 1).map(|(n, t)| (*n, t)).collect();
        dup_sends.sort_by(|a, b| a.1[0].total_cmp(&b.1[0]));
        let extra_sends: usize = dup_sends.iter().map(|(_, t)| t.len() - 1).sum();
        let mut outside = 0;
        // Per fault: extra copies, and the earliest and latest first copy
        // relative to the fault's start.
        let mut by_incident: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
        for (n, times) in &dup_sends {
            match self.in_flight_at(times[0], true) {
                Some(i) => {
                    let offset = times[0] - i.from;
                    let e = by_incident.entry(i.what.clone()).or_insert((0, offset, offset));
                    e.0 += times.len() - 1;
                    e.1 = e.1.min(offset);
                    e.2 = e.2.max(offset);
                }
                None => {
                    outside += 1;
                    let when: Vec<String> = times.iter().map(|t| format!("{t:.2} s")).collect();
                    println!("       soak {n} accepted by Cloud at {} (in flight at no fault)", when.join(", "));
                }
            }
        }
        let within = by_incident
            .iter()
            .map(|(what, (n, early, late))| {
                format!("{n} in flight at {what} (first copies {early:+.2} s to {late:+.2} s from it)")
            })
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "duplicates: {extra_sends} extra sends accepted by Cloud ({} messages){}{}",
            dup_sends.len(),
            if within.is_empty() { String::new() } else { format!(": {within}") },
            if outside > 0 { format!("; {outside} messages outside any in-flight window") } else { String::new() }
        );
        if outside > 0 {
            failures.push(format!("{outside} messages were accepted by Cloud twice outside the in-flight window"));
        }

        // Duplicate events at the business.
        let mut dup_events = 0;
        let mut outside_events = 0;
        let mut by_incident: BTreeMap<String, usize> = BTreeMap::new();
        let mut duplicate = |first: f64, extra: usize, what: String| {
            dup_events += extra;
            match self.in_flight_at(first, false) {
                Some(i) => *by_incident.entry(i.what.clone()).or_default() += extra,
                None => {
                    outside_events += 1;
                    println!(
                        "       {what} delivered {} times, first at {first:.2} s (in flight at no fault)",
                        extra + 1
                    );
                }
            }
        };
        for (id, list) in &seen.statuses {
            let mut firsts: HashMap<&str, (f64, usize)> = HashMap::new();
            for (t, status, _) in list {
                let e = firsts.entry(status.as_str()).or_insert((*t, 0));
                e.1 += 1;
            }
            for (status, (first, count)) in firsts {
                if count > 1 {
                    duplicate(first, count - 1, format!("status {status} of {id}"));
                }
            }
        }
        for (k, times) in &seen.inbound {
            if times.len() > 1 {
                duplicate(times[0], times.len() - 1, format!("inbound {k}"));
            }
        }
        let within =
            by_incident.iter().map(|(what, n)| format!("{n} in flight at {what}")).collect::<Vec<_>>().join(", ");
        println!(
            "            {dup_events} events delivered to the business more than once{}{}",
            if within.is_empty() { String::new() } else { format!(": {within}") },
            if outside_events > 0 { format!("; {outside_events} outside any in-flight window") } else { String::new() }
        );
        if outside_events > 0 {
            failures.push(format!("{outside_events} events were delivered twice outside the in-flight window"));
        }

        // What went out though its sender never got a 201 (an answer lost
        // to a fault: allowed, and not counted as accepted).
        let known: HashSet<&str> = accepted.iter().filter_map(|s| s.result.as_ref().ok()).map(String::as_str).collect();
        let unknown_statuses = seen.statuses.keys().filter(|id| !known.contains(id.as_str())).count();
        let unanswered_at_cloud = self.cloud.accepted.keys().filter(|n| !ours.contains(n)).count();
        println!(
            "unanswered: {unanswered_at_cloud} sends reached Cloud and {unknown_statuses} messages got statuses though not answered 201; other events: {}; Cloud webhooks the sandbox gave up on: {}",
            seen.other, self.cloud.webhooks_dropped
        );

        // Recovery.
        for i in self.incidents.iter().filter(|i| i.kind == Kind::Database) {
            let first_201 = sends
                .iter()
                .filter(|s| s.via == "webapp" && s.result.is_ok() && s.answered >= i.to)
                .map(|s| s.answered - i.to)
                .reduce(f64::min);
            match first_201 {
                Some(t) => {
                    println!("recovery: after {}: the first 201 through the webapp {t:.1} s after it returned", i.what)
                }
                None => println!("recovery: after {}: no 201 through the webapp after it returned", i.what),
            }
        }
        let show = |t: Option<f64>| t.map_or(format!("NOT within {} s", c.recover_s), |t| format!("after {t:.1} s"));
        for (label, r) in recoveries {
            println!("recovery: {label}: ping ready: {}; a send stored: {}", show(r.ready), show(r.served));
            if r.ready.is_none() || r.served.is_none() {
                failures.push(format!("{label}: did not serve again within {} s", c.recover_s));
            }
        }
        failures
    }
}

/// After a drain that did not finish: what the database still holds, read
/// through a pool of its own (the stack's may predate a restart).
async fn pending_in_database(stack: &Stack) {
    use coreapp::store::queue::{self, Queue};
    let config = stack.db_config().clone();
    let read = async move {
        let db = tokio::task::spawn_blocking(move || coreapp::store::db::Db::connect(&config, 2)).await??;
        let counts = db
            .run(|c| {
                Ok((
                    queue::count_in_state(c, Queue::Outbound, queue::State::Pending)?,
                    queue::depth(c, Queue::Inbound)?,
                    queue::depth(c, Queue::Outbox)?,
                ))
            })
            .await?;
        anyhow::Ok(counts)
    };
    match tokio::time::timeout(Duration::from_secs(15), read).await {
        Ok(Ok((sends, inbound, outbox))) => println!(
            "       still in the database: {sends} sends pending, {inbound} Cloud webhooks and {outbox} business events waiting"
        ),
        Ok(Err(e)) => println!("       the database could not be read: {e:#}"),
        Err(_) => println!("       the database could not be read within 15 s"),
    }
}
