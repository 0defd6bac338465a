//! `bench cost`: what one message costs over its whole life, in counts that
//! do not depend on the machine (database statements and commits) and in
//! CPU-seconds of every process, with the baselines of the same run beside
//! them: the raw single-row insert rate of the same database server, the
//! edge alone (`GET /` over TLS) and the sandbox alone.
//!
//! A message's life: `POST /v1/messages`, the send to Cloud, Cloud's `sent`,
//! `delivered` and `read` statuses coming back, and their three on-prem
//! webhooks reaching the business's server (the `sent` one is switched on
//! for the run). The database counters are MariaDB's global status, read
//! before and after; what the stack does while idle over the same time
//! (heartbeats, pollers) is measured first and shown apart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::json;

use crate::load;
use crate::stack::{Options, Stack, engine};

/// The global status counters read, in the order printed.
const COUNTERS: &[&str] = &[
    "Questions",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    "Com_begin",
    "Com_commit",
    "Com_stmt_prepare",
    "Com_stmt_execute",
    "Com_stmt_close",
    "Com_set_option",
    "Handler_commit",
    "Handler_write",
    "Handler_update",
    "Handler_delete",
    "Innodb_data_fsyncs",
];

#[derive(QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = Text, column_name = "Variable_name")]
    name: String,
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

pub type Counters = BTreeMap<String, u64>;

/// The server's counters, under MariaDB's names. On PostgreSQL the same
/// meanings from its statistics views: transactions committed
/// (`Handler_commit`), rows inserted, updated and deleted (`Handler_write`,
/// `_update`, `_delete`) in this database, WAL syncs (`Innodb_data_fsyncs`);
/// statements are not counted there (that needs `pg_stat_statements`).
pub async fn counters(stack: &Stack) -> anyhow::Result<Counters> {
    if let coreapp::config::DbConfig::Pgsql(_) = stack.db_config() {
        return pg_counters(stack).await;
    }
    let names = COUNTERS.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(",");
    let query = format!("SHOW GLOBAL STATUS WHERE Variable_name IN ({names})");
    let rows = stack.db().run(move |conn| Ok(diesel::sql_query(query).load::<StatusRow>(conn)?)).await?;
    Ok(rows.into_iter().map(|r| (r.name, r.value.parse().unwrap_or(0))).collect())
}

#[derive(QueryableByName)]
struct PgRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    commits: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    inserted: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    updated: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    deleted: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    syncs: i64,
}

async fn pg_counters(stack: &Stack) -> anyhow::Result<Counters> {
    // Backends report their counts when idle, at most once a second.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let query = "SELECT d.xact_commit AS commits, d.tup_inserted AS inserted, d.tup_updated AS updated, \
                 d.tup_deleted AS deleted, w.wal_sync AS syncs \
                 FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()";
    let rows = stack
        .db()
        .run(move |conn| {
            diesel::sql_query("SELECT pg_stat_clear_snapshot()").execute(conn)?;
            Ok(diesel::sql_query(query).load::<PgRow>(conn)?)
        })
        .await?;
    let row = rows.first().context("no statistics for the database")?;
    let as_count = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok([
        ("Handler_commit", row.commits),
        ("Handler_write", row.inserted),
        ("Handler_update", row.updated),
        ("Handler_delete", row.deleted),
        ("Innodb_data_fsyncs", row.syncs),
    ]
    .into_iter()
    .map(|(name, v)| (name.to_string(), as_count(v)))
    .collect())
}

pub fn delta(before: &Counters, after: &Counters) -> Counters {
    after.iter().map(|(k, v)| (k.clone(), v.saturating_sub(before.get(k).copied().unwrap_or(0)))).collect()
}

/// CPU-seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32, ticks_per_s: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / ticks_per_s)
}

pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The database server's process, when it runs on this machine: MariaDB's
/// (or MySQL's) one process, or PostgreSQL's postmaster (the `postgres`
/// process whose parent is not one).
fn database_pid() -> Option<u32> {
    let pidof = |name: &str| -> Vec<u32> {
        let out = std::process::Command::new("pidof").arg(name).output().ok();
        let text = out.and_then(|o| String::from_utf8(o.stdout).ok()).unwrap_or_default();
        text.split_whitespace().filter_map(|p| p.parse().ok()).collect()
    };
    if let Some(pid) = ["mariadbd", "mysqld"].iter().find_map(|name| pidof(name).first().copied())
        && engine() == crate::stack::Engine::Mysql
    {
        return Some(pid);
    }
    let postgres = pidof("postgres");
    postgres.iter().copied().find(|pid| parent(*pid).is_none_or(|p| !postgres.contains(&p)))
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// CPU-seconds of a process and all its children, those still running
/// and those it has reaped (PostgreSQL's backends are processes of their
/// own, made and ended as connections come and go).
fn tree_cpu_seconds(pid: u32, ticks_per_s: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let mut ticks = 0.0;
    for i in 11..=14 {
        ticks += fields.get(i)?.parse::<f64>().ok()?;
    }
    let mut total = ticks / ticks_per_s;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if parent(child) == Some(pid) {
            total += cpu_seconds(child, ticks_per_s).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// The processes whose CPU is counted: ours, Cloud's stand-in, the database
/// server and the load generator (this process, which also plays the
/// business's webhook server).
pub fn processes(stack: &Stack) -> Vec<(&'static str, u32)> {
    let mut list = vec![];
    for name in ["webapp", "coreapp-1", "coreapp-2", "coreapp-3", "sandbox"] {
        if let Some(pid) = stack.pid(name) {
            list.push((name, pid));
        }
    }
    if let Some(pid) = database_pid() {
        list.push((DATABASE, pid));
    }
    list.push(("bench", std::process::id()));
    list
}

/// The name the database server's CPU is counted under.
pub const DATABASE: &str = "database";

pub fn cpu_of(list: &[(&'static str, u32)], ticks: f64) -> BTreeMap<&'static str, f64> {
    list.iter()
        .filter_map(|&(name, pid)| {
            let tree = name == DATABASE && engine() == crate::stack::Engine::Pgsql;
            let seconds = if tree { tree_cpu_seconds(pid, ticks) } else { cpu_seconds(pid, ticks) };
            seconds.map(|s| (name, s))
        })
        .collect()
}

/// Single-row durable inserts into a scratch table of the stack's database
/// from `clients` connections at once for `duration`: what the database
/// server can commit, the ceiling of anything that commits per message.
pub async fn raw_inserts(stack: &Stack, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    let db = coreapp::store::db::Db::connect(stack.db_config(), clients as u32)?;
    let create = match stack.db_config() {
        coreapp::config::DbConfig::Pgsql(_) => {
            "CREATE TABLE IF NOT EXISTS bench_raw_inserts (id BIGSERIAL PRIMARY KEY, payload VARCHAR(255) NOT NULL)"
        }
        _ => {
            "CREATE TABLE IF NOT EXISTS bench_raw_inserts \
             (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(255) NOT NULL) ENGINE=InnoDB"
        }
    };
    db.run(move |conn| {
        diesel::sql_query(create).execute(conn)?;
        Ok(())
    })
    .await?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let db = db.clone();
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < duration {
                db.run(|conn| {
                    coreapp::store::db::prepared::Prepared::new("INSERT INTO bench_raw_inserts (payload) VALUES (?)")
                        .text("a message's worth of bytes, more or less")
                        .execute(conn)?;
                    Ok(())
                })
                .await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for w in workers {
        total += w.await??;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    db.run(|conn| {
        diesel::sql_query("DROP TABLE bench_raw_inserts").execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(rate)
}

/// Waits until every message sent since the business's server had `base`
/// webhooks has had at least `events` (a message's `sent` is dropped when
/// its `delivered` overtook it: statuses never go backwards), Cloud has
/// nothing left to send, and nothing is pending in the stack. Polls the
/// sandbox and the receiver, and the database only at the end, so the
/// counters measure the stack, not the waiting.
async fn wait_settled(stack: &Stack, events: u64, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if stack.receiver.count() >= events && stack.sandbox_idle().await? {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {} of {events} webhooks reached the business within {within:?}", stack.receiver.count());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.wait_queue_empty(within).await?;
    stack.wait_idle(within).await
}

/// Switches the `sent` status webhooks on (off by default), so a message's
/// whole life has three webhooks.
pub async fn sent_webhooks_on(stack: &Stack, token: &str) -> anyhow::Result<()> {
    let sent_on = json!({"webhooks": {"message": {"sent": true}}});
    let r = stack
        .http
        .patch(format!("{}/v1/settings/application", stack.web))
        .bearer_auth(token)
        .json(&sent_on)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("could not switch the sent webhooks on: {}", r.text().await?);
    }
    Ok(())
}

/// What `messages` messages cost over their whole life, and what the stack
/// did idle over a time like theirs.
pub struct Life {
    messages: usize,
    concurrency: usize,
    accepted: load::Outcome,
    events: u64,
    took: Duration,
    db: Counters,
    idle_db: Counters,
    idle_scale: f64,
    /// CPU-seconds each process used during the run, and idle per second.
    cpu: Vec<(&'static str, f64, f64)>,
    db_on_this_machine: bool,
}

impl Life {
    /// A database counter's increase per message.
    pub fn per_message(&self, counter: &str) -> f64 {
        self.db.get(counter).copied().unwrap_or(0) as f64 / self.messages as f64
    }

    fn used(&self, name: &str) -> f64 {
        self.cpu.iter().find(|(n, _, _)| *n == name).map_or(0.0, |(_, used, _)| *used)
    }

    /// CPU-seconds per 10,000 messages of ours and the database together.
    pub fn stack_cpu_per_10k(&self) -> f64 {
        let ours: f64 = ["webapp", "coreapp-1", DATABASE].iter().map(|n| self.used(n)).sum();
        ours / self.messages as f64 * 10_000.0
    }

    pub fn print(&self) {
        self.accepted.print("stack", self.concurrency);
        println!(
            "{} webhooks at the business ({:.2} per message; a `sent` overtaken by its `delivered` is not sent), \
             all settled {:.1}s after the first send: {:.0} messages/s whole life",
            self.events,
            self.events as f64 / self.messages as f64,
            self.took.as_secs_f64(),
            self.messages as f64 / self.took.as_secs_f64()
        );
        let n = self.messages as f64;
        println!("\n{:>24} {:>12} {:>14} {:>16}", "database counter", "per message", "idle, same time", "run total");
        for name in COUNTERS {
            let total = self.db.get(*name).copied().unwrap_or(0) as f64;
            let idle = self.idle_db.get(*name).copied().unwrap_or(0) as f64 * self.idle_scale;
            println!("{name:>24} {:>12.2} {:>14.2} {:>16.0}", total / n, idle / n, total);
        }
        println!("\n{:>12} {:>18} {:>14} {:>16}", "process", "CPU-s per 10,000", "CPU ms per msg", "idle CPU-s/s");
        let mut all = 0.0;
        for (name, used, idle) in &self.cpu {
            println!("{name:>12} {:>18.2} {:>14.3} {:>16.3}", used / n * 10_000.0, used / n * 1000.0, idle);
            all += used;
        }
        println!(
            "{:>12} {:>18.2} {:>14.3}\n{:>12} {:>18.2} {:>14.3}",
            "stack+db",
            self.stack_cpu_per_10k(),
            self.stack_cpu_per_10k() / 10.0,
            "everything",
            all / n * 10_000.0,
            all / n * 1000.0
        );
        if !self.db_on_this_machine {
            println!("(the database server is not on this machine: its CPU is not counted)");
        }
    }

    /// The figures as Markdown tables.
    pub fn markdown(&self) -> String {
        let n = self.messages as f64;
        let mut s = format!(
            "{} messages accepted from {} connections ({:.0}/s, p99 {:.1} ms), all settled {:.1} s after the first; \
             {} webhooks at the business.\n\n| database counter | per message | idle, same time |\n|---|---|---|\n",
            self.messages,
            self.concurrency,
            self.accepted.ok as f64 / self.accepted.elapsed.as_secs_f64(),
            self.accepted.p99_ms(),
            self.took.as_secs_f64(),
            self.events
        );
        for name in COUNTERS {
            let idle = self.idle_db.get(*name).copied().unwrap_or(0) as f64 * self.idle_scale;
            s += &format!("| {name} | {:.2} | {:.2} |\n", self.per_message(name), idle / n);
        }
        s += "\n| process | CPU-s per 10,000 messages | idle CPU-s/s |\n|---|---|---|\n";
        for (name, used, idle) in &self.cpu {
            s += &format!("| {name} | {:.2} | {:.3} |\n", used / n * 10_000.0, idle);
        }
        s += &format!("| webapp + coreapp + MariaDB | {:.2} | |\n", self.stack_cpu_per_10k());
        s
    }
}

pub async fn run(messages: usize, concurrency: usize) -> anyhow::Result<()> {
    let stack = Stack::start(Options::new(2_000)).await?;
    let token = stack.admin_token().await?;
    sent_webhooks_on(&stack, &token).await?;

    println!("== baselines, same run: {concurrency} connections, 5 s each ==");
    let raw = raw_inserts(&stack, concurrency, Duration::from_secs(5)).await?;
    println!("raw single-row durable inserts, same MariaDB server: {raw:.0}/s");
    let edge = load::run(concurrency, Duration::from_secs(5), load::edge_get(&stack)).await;
    edge.print("edge GET /", concurrency);
    let sandbox = load::run(concurrency, Duration::from_secs(5), load::sandbox_send(&stack)).await;
    sandbox.print("sandbox", concurrency);

    println!("\n== {messages} messages, whole life (accept, send, sent/delivered/read, their 3 webhooks) ==");
    let figures = life(&stack, &token, messages, concurrency).await?;
    figures.print();
    stack.stop().await;
    Ok(())
}

/// Measures a message's whole life on `stack` (the sent webhooks switched
/// on): a warm-up, the stack idle, then `messages` messages.
pub async fn life(stack: &Stack, token: &str, messages: usize, concurrency: usize) -> anyhow::Result<Life> {
    let ticks = ticks_per_second();
    let procs = processes(stack);

    // A warm-up through the whole life, so connections, caches and the
    // first allocations are behind us.
    let warm = 500;
    let base = stack.receiver.count();
    load::run_count(concurrency, warm, load::stack_send(stack, token)).await;
    wait_settled(stack, base + 2 * warm as u64, Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // What the stack does idle, over a time like the run's.
    let idle_for = Duration::from_secs(5);
    let (idle_db0, idle_cpu0) = (counters(stack).await?, cpu_of(&procs, ticks));
    tokio::time::sleep(idle_for).await;
    let (idle_db1, idle_cpu1) = (counters(stack).await?, cpu_of(&procs, ticks));
    let idle_db = delta(&idle_db0, &idle_db1);

    let base = stack.receiver.count();
    let (db0, cpu0) = (counters(stack).await?, cpu_of(&procs, ticks));
    let started = Instant::now();
    let accepted = load::run_count(concurrency, messages, load::stack_send(stack, token)).await;
    if accepted.errors > 0 {
        bail!("{} sends were refused", accepted.errors);
    }
    wait_settled(stack, base + 2 * messages as u64, Duration::from_secs(600)).await?;
    let took = started.elapsed();
    let (db1, cpu1) = (counters(stack).await?, cpu_of(&procs, ticks));
    let get = |m: &BTreeMap<&'static str, f64>, name: &str| m.get(name).copied().unwrap_or(0.0);
    let cpu = procs
        .iter()
        .map(|(name, _)| {
            let used = get(&cpu1, name) - get(&cpu0, name);
            let idle = (get(&idle_cpu1, name) - get(&idle_cpu0, name)) / idle_for.as_secs_f64();
            (*name, used, idle)
        })
        .collect();
    Ok(Life {
        messages,
        concurrency,
        accepted,
        events: stack.receiver.count() - base,
        took,
        db: delta(&db0, &db1),
        idle_db,
        idle_scale: took.as_secs_f64() / idle_for.as_secs_f64(),
        cpu,
        db_on_this_machine: procs.iter().any(|(name, _)| *name == DATABASE),
    })
}
