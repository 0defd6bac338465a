//! `bench all`: every performance target of the stack, each beside the
//! baselines of the same run, written to `target/bench/` as a Markdown
//! report (`all.md`) and a latency-versus-throughput plot (`latency.png`).
//!
//! 1. Accept: `POST /v1/messages` at rising concurrency, against the raw
//!    insert rate of the same database server, the edge alone (`GET /` over
//!    TLS) and the sandbox alone, at the same concurrencies.
//! 2. Keep up with Cloud: Cloud (the sandbox) allows 1,000 sends/s; 1,000
//!    sends/s are offered for a minute while their statuses flow back to
//!    the business; then a backlog drains with Cloud unthrottled.
//! 3. The webhook pipeline end to end, at one and at ten statuses per
//!    Cloud POST: latency from Cloud's POST to the business's receipt,
//!    nothing lost, each message's statuses in order.
//! 4. Cost per message over its whole life (`bench cost`).
//! 5. Scale-out: 1, 2 and 3 coreapps on one database.
//! 6. Memory and start: idle resident memory of each process, the
//!    coreapp's peak under the load above, and how soon each binary serves
//!    after it is started.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cost;
use crate::load::{self, Outcome};
use crate::plot::{self, Series};
use crate::scale;
use crate::stack::{Options, Stack};
use crate::webhooks;

pub struct Config {
    /// Seconds of the steady phases (keep-up, webhook pipeline).
    pub seconds: u64,
    /// Seconds per concurrency level of the accept curve.
    pub level_seconds: u64,
    pub levels: Vec<usize>,
    /// Messages of the cost run.
    pub messages: usize,
    pub out: PathBuf,
}

/// What one concurrency level gave, per target.
struct Level {
    concurrency: usize,
    stack: Point,
    edge: Point,
    sandbox: Point,
}

#[derive(Clone, Copy)]
struct Point {
    rate: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

impl Point {
    fn of(o: &Outcome) -> Point {
        Point { rate: o.ok as f64 / o.elapsed.as_secs_f64(), p50: o.p50_ms(), p99: o.p99_ms(), errors: o.errors }
    }
}

/// Resident memory of a process, in MB: now (`VmRSS`) and at its peak
/// (`VmHWM`).
fn memory_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Sends `rate` messages a second for `duration`, open loop (each request
/// leaves on time whatever the answers do); returns the answers.
async fn offer_steady(stack: &Stack, token: &str, rate: u64, duration: Duration) -> Outcome {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let target = load::stack_send(stack, token);
    let started = Instant::now();
    let tick = Duration::from_millis(10);
    let per_tick = (rate as f64 * tick.as_secs_f64()).round().max(1.0) as usize;
    let ticks = (duration.as_secs_f64() / tick.as_secs_f64()) as usize;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..ticks {
        tokio::time::sleep_until((started + tick * k as u32).into()).await;
        for j in 0..per_tick {
            let (client, target) = (client.clone(), target.clone());
            tasks.spawn(async move { load::once(&client, &target, k * per_tick + j).await });
        }
    }
    let mut out = Outcome::empty();
    while let Some(done) = tasks.join_next().await {
        out.add(done.expect("a request task"));
    }
    out.finish(started.elapsed());
    out
}

/// Starts each binary again and times how long it takes to serve: the
/// sandbox and the webapp answering HTTP, the coreapp answering gRPC (with
/// the database reachable).
async fn start_times(stack: &mut Stack) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let mut out = Vec::new();
    for name in ["sandbox", "coreapp-1", "webapp"] {
        stack.kill(name);
        let started = Instant::now();
        stack.restart(name)?;
        let deadline = started + Duration::from_secs(30);
        loop {
            let serving = match name {
                "sandbox" => stack.sandbox_idle().await.is_ok(),
                "webapp" => {
                    stack.http.get(format!("{}/", stack.web)).send().await.is_ok_and(|r| r.status().is_success())
                }
                _ => {
                    let mut client = stack.core_client(0)?;
                    client.ping(proto::core::Empty {}).await.is_ok()
                }
            };
            if serving {
                out.push((name, started.elapsed()));
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{name} did not serve within 30 s of its start");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(out)
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.out).with_context(|| format!("cannot create {}", config.out.display()))?;
    let mut report = String::new();
    let started = Instant::now();
    writeln!(
        report,
        "# `scripts/bench all`\n\nRelease binaries, MariaDB, the sandbox as Cloud, TLS on the edge and mutual TLS \
         between webapp and coreapp; every figure beside its baselines of the same run. {} cores. The accept \
         curve runs on a stack whose number sends at Cloud's top tier (1,000/s): what it accepted \
         drains meanwhile at that rate. The cost run uses the settings of `bench cost` (2,000/s).\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    )?;

    // The main stack: the number's rate at Cloud's top tier (1,000/s), so
    // the sends the accepted messages cause drain meanwhile at that rate,
    // as they would in production.
    let mut stack = Stack::start(Options::new(1_000)).await?;

    // 6. Memory at rest: fresh, then after the first login (its password
    // hashing) and a settings change; then start-up, each process
    // restarted once.
    println!("== memory at rest and start-up ==");
    let resident = |stack: &Stack| -> BTreeMap<&'static str, f64> {
        ["webapp", "coreapp-1", "sandbox"].into_iter().filter_map(|n| Some((n, memory_mb(stack.pid(n)?)?.0))).collect()
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = resident(&stack);
    let token = stack.admin_token().await?;
    cost::sent_webhooks_on(&stack, &token).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_login = resident(&stack);
    let starts = start_times(&mut stack).await?;
    for (name, t) in &starts {
        println!(
            "{name:>10}: serving {:.0} ms after start; resident {:.1} MB fresh, {:.1} MB after a login",
            t.as_secs_f64() * 1000.0,
            idle.get(name).copied().unwrap_or(f64::NAN),
            after_login.get(name).copied().unwrap_or(f64::NAN)
        );
    }
    let token = stack.admin_token().await.or_else(|_| anyhow::Ok(token.clone()))?;

    // 1. Baselines and the accept curve.
    println!("\n== accept: baselines and the stack at each concurrency, {} s per level ==", config.level_seconds);
    let level_time = Duration::from_secs(config.level_seconds);
    let raw = cost::raw_inserts(&stack, 32, level_time).await?;
    println!("raw single-row durable inserts, 32 connections: {raw:.0}/s");
    let mut levels = Vec::new();
    for &c in &config.levels {
        let edge = Point::of(&load::run(c, level_time, load::edge_get(&stack)).await);
        let sandbox = Point::of(&load::run(c, level_time, load::sandbox_send(&stack)).await);
        let through = Point::of(&load::run(c, level_time, load::stack_send(&stack, &token)).await);
        println!(
            "c={c:>3}  stack {:>6.0}/s p50 {:>6.2} p99 {:>6.2} ms | edge {:>6.0}/s p99 {:>5.2} | sandbox {:>6.0}/s p99 {:>5.2}",
            through.rate, through.p50, through.p99, edge.rate, edge.p99, sandbox.rate, sandbox.p99
        );
        levels.push(Level { concurrency: c, stack: through, edge, sandbox });
        // The next level starts from an empty pipeline.
        stack.wait_queue_empty(Duration::from_secs(300)).await?;
        stack.wait_idle(Duration::from_secs(300)).await?;
    }

    let main_peak = stack.pid("coreapp-1").and_then(memory_mb).map(|m| m.1).unwrap_or(f64::NAN);
    stack.stop().await;

    // 4. Cost of a message's whole life, on a stack set as `bench cost`
    // sets it (the number's rate 2,000/s), as it was first measured.
    println!("\n== cost: {} messages, whole life ==", config.messages);
    let stack = Stack::start(Options::new(2_000)).await?;
    let token = stack.admin_token().await?;
    cost::sent_webhooks_on(&stack, &token).await?;
    let life = cost::life(&stack, &token, config.messages, 32).await?;
    life.print();
    let cost_peak_mb = stack.pid("coreapp-1").and_then(memory_mb).map(|m| m.1).unwrap_or(f64::NAN);
    stack.stop().await;

    // 2b. A backlog draining with Cloud unthrottled and the number's rate
    // far above what the machine can carry.
    let drain_n = 10_000;
    println!("\n== drain: {drain_n} messages queued, Cloud unthrottled ==");
    let stack = Stack::start(Options::new(20_000)).await?;
    let token = stack.admin_token().await?;
    cost::sent_webhooks_on(&stack, &token).await?;
    let drain_started = Instant::now();
    let watcher = stack.watch_queue(drain_started);
    let burst = load::run_count(64, drain_n, load::stack_send(&stack, &token)).await;
    stack.wait_queue_empty(Duration::from_secs(300)).await?;
    let drain_total = drain_started.elapsed();
    let drain_peak = watcher.await?;
    let drain_rate = burst.ok as f64 / drain_total.as_secs_f64();
    println!(
        "drained {} in {:.1} s: {drain_rate:.0}/s overall, {drain_peak:.0}/s best second",
        burst.ok,
        drain_total.as_secs_f64()
    );
    stack.wait_idle(Duration::from_secs(300)).await?;
    let drain_peak_mb = stack.pid("coreapp-1").and_then(memory_mb).map(|m| m.1).unwrap_or(f64::NAN);
    stack.stop().await;

    // 2. Keep up with Cloud at its top tier.
    let keep = keep_up(&config).await?;

    // 3. The webhook pipeline.
    let pipeline = pipeline(&config).await?;

    // 5. Scale-out.
    println!("\n== scale-out: 5,000 messages accepted (64 clients) and drained, by number of coreapps ==");
    println!("{}", scale::Scaled::HEADER);
    let mut scaled = Vec::new();
    for n in [1usize, 2, 3] {
        let s = scale::throughput(n, 5_000).await?;
        println!("{}", s.row(n));
        scaled.push((n, s));
    }

    // The report.
    let at32 = levels.iter().find(|l| l.concurrency == 32).or(levels.last()).context("no accept level ran")?;
    let coreapp_peak = [main_peak, cost_peak_mb, drain_peak_mb, keep.coreapp_peak_mb, pipeline.coreapp_peak_mb]
        .into_iter()
        .fold(0.0, f64::max);
    let scale_ok =
        scaled.iter().all(|(_, s)| s.accepted >= 0.9 * scaled[0].1.accepted && s.drained >= 0.9 * scaled[0].1.drained);
    let met = |ok: bool| if ok { "yes" } else { "**no**" };

    writeln!(report, "## Targets\n")?;
    writeln!(report, "| # | target | measured | met |\n|---|---|---|---|")?;
    writeln!(
        report,
        "| 1 | accept ≥ 5,000/s, p99 < 25 ms at 32 connections, ≥ 0.35 of the raw insert rate ({raw:.0}/s) | {:.0}/s, p99 {:.1} ms, {:.2} of raw | {} |",
        at32.stack.rate,
        at32.stack.p99,
        at32.stack.rate / raw,
        met(at32.stack.rate >= 5_000.0 && at32.stack.p99 < 25.0 && at32.stack.rate >= 0.35 * raw)
    )?;
    writeln!(
        report,
        "| 2 | 1,000 sends/s offered for {} s reach Cloud (allowing 1,000/s) at ≥ 980/s, their 3,000 events/s flowing | {:.0}/s reached Cloud, {} events ({:.2} per message), {:.0} events/s | {} |",
        config.seconds,
        keep.to_cloud_rate,
        keep.events,
        keep.events as f64 / keep.accepted_ok.max(1) as f64,
        keep.events_rate,
        met(keep.to_cloud_rate >= 980.0 && keep.events >= keep.events_expected)
    )?;
    writeln!(
        report,
        "| 2 | drain with Cloud unthrottled ≥ 3,000/s | {drain_rate:.0}/s ({drain_peak:.0}/s best second) | {} |",
        met(drain_rate >= 3_000.0)
    )?;
    for w in &pipeline.runs {
        writeln!(
            report,
            "| 3 | {} events/s for {} s at {} per POST, p99 < {} ms, nothing lost, in order | {:.0}/s delivered, p99 {:.0} ms, {} of {}, {} out of order | {} |",
            w.rate,
            config.seconds,
            w.batch,
            w.p99_target_ms,
            w.delivered_rate,
            w.p99,
            w.delivered,
            w.posted,
            w.out_of_order,
            met(w.p99 < w.p99_target_ms as f64 && w.delivered == w.posted && w.out_of_order == 0 && w.errors == 0)
        )?;
    }
    writeln!(
        report,
        "| 4 | statements and commits per message, CPU per 10,000: half of the first measured (4.76, 3.11, 15.5 CPU-s) | {:.2} statements, {:.2} handler commits, {:.2} CPU-s | {} |",
        life.per_message("Questions"),
        life.per_message("Handler_commit"),
        life.stack_cpu_per_10k(),
        met(life.per_message("Questions") <= 2.38
            && life.per_message("Handler_commit") <= 1.56
            && life.stack_cpu_per_10k() <= 7.75)
    )?;
    writeln!(
        report,
        "| 5 | 2 and 3 coreapps accept and drain within 10% of 1 | {} | {} |",
        scaled
            .iter()
            .map(|(n, s)| format!("{n}: {:.0}/s, drain {:.0}/s", s.accepted, s.drained))
            .collect::<Vec<_>>()
            .join("; "),
        met(scale_ok)
    )?;
    let idle_max = idle.values().chain(after_login.values()).copied().fold(0.0, f64::max);
    let start_max = starts.iter().map(|(_, t)| *t).max().unwrap_or_default();
    writeln!(
        report,
        "| 6 | idle RSS < 30 MB per process; coreapp < 100 MB under load; serving within 1 s of start | idle, fresh: {}; after a login: {}; coreapp peak {coreapp_peak:.0} MB; {} | {} |",
        idle.iter().map(|(n, mb)| format!("{n} {mb:.1} MB")).collect::<Vec<_>>().join(", "),
        after_login.iter().map(|(n, mb)| format!("{n} {mb:.1} MB")).collect::<Vec<_>>().join(", "),
        starts.iter().map(|(n, t)| format!("{n} {:.0} ms", t.as_secs_f64() * 1000.0)).collect::<Vec<_>>().join(", "),
        met(idle_max < 30.0 && coreapp_peak < 100.0 && start_max < Duration::from_secs(1))
    )?;

    writeln!(report, "\n## Accept, beside the edge alone and the sandbox alone\n")?;
    writeln!(report, "Raw single-row durable inserts on the same server, 32 connections: **{raw:.0}/s**.\n")?;
    writeln!(
        report,
        "| connections | stack /s | p50 ms | p99 ms | errors | edge /s | edge p99 ms | sandbox /s | sandbox p99 ms |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|---|---|")?;
    for l in &levels {
        writeln!(
            report,
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.0} | {:.2} |",
            l.concurrency,
            l.stack.rate,
            l.stack.p50,
            l.stack.p99,
            l.stack.errors,
            l.edge.rate,
            l.edge.p99,
            l.sandbox.rate,
            l.sandbox.p99
        )?;
    }
    writeln!(report, "\n![latency versus throughput](latency.png)\n")?;

    writeln!(report, "## Keep up with Cloud\n")?;
    writeln!(report, "{}", keep.markdown())?;
    writeln!(report, "## Webhook pipeline\n")?;
    writeln!(report, "{}", pipeline.markdown())?;
    writeln!(report, "## Cost of a message's whole life\n")?;
    writeln!(report, "{}", life.markdown())?;
    writeln!(report, "## Scale-out\n")?;
    writeln!(
        report,
        "Statements, handler commits and fsyncs per message are MariaDB's global status from the first accept until the queue was empty; CPU-seconds per 10,000 messages over the same time.\n"
    )?;
    writeln!(
        report,
        "| coreapps | accepted /s | accept p99 ms | drained /s | statements | commits | fsyncs | CPU-s coreapps | CPU-s webapp | CPU-s MariaDB |\n|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for (n, s) in &scaled {
        writeln!(
            report,
            "| {n} | {:.0} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.accepted,
            s.p99,
            s.drained,
            s.statements,
            s.commits,
            s.fsyncs,
            s.cpu_coreapps,
            s.cpu_webapp,
            s.cpu_database
        )?;
    }
    writeln!(report, "\nThe whole run took {:.0} s.", started.elapsed().as_secs_f64())?;

    let md = config.out.join("all.md");
    std::fs::write(&md, &report)?;
    let png = config.out.join("latency.png");
    let series = plot_series(&levels);
    match plot::latency_vs_throughput(&png, "POST /v1/messages against its baselines (labels: connections)", &series) {
        Ok(()) => println!("\nplot: {}", png.display()),
        Err(e) => println!("\nno plot: {e:#}"),
    }
    println!("report: {}\n", md.display());
    print!("{report}");
    Ok(())
}

fn plot_series(levels: &[Level]) -> Vec<Series> {
    let line = |name: &str, dashed: bool, f: &dyn Fn(&Level) -> (f64, f64)| Series {
        name: name.to_string(),
        points: levels.iter().map(f).collect(),
        dashed,
    };
    vec![
        line("stack POST /v1/messages, p50", false, &|l| (l.stack.rate, l.stack.p50)),
        line("stack POST /v1/messages, p99", true, &|l| (l.stack.rate, l.stack.p99)),
        line("sandbox alone (Cloud's send), p50", false, &|l| (l.sandbox.rate, l.sandbox.p50)),
        line("sandbox alone, p99", true, &|l| (l.sandbox.rate, l.sandbox.p99)),
        line("edge alone (GET / over TLS), p50", false, &|l| (l.edge.rate, l.edge.p50)),
        line("edge alone, p99", true, &|l| (l.edge.rate, l.edge.p99)),
    ]
}

struct KeepUp {
    offered: usize,
    accepted_ok: usize,
    accepted: Point,
    to_cloud_rate: f64,
    lag_s: f64,
    events: u64,
    events_expected: u64,
    events_rate: f64,
    cpu: BTreeMap<&'static str, f64>,
    seconds: f64,
    coreapp_peak_mb: f64,
}

impl KeepUp {
    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Cloud (the sandbox) allows 1,000 sends/s and the coreapp's send rate is 1,000/s; {} messages offered at \
             1,000/s, open loop, with `sent`, `delivered` and `read` webhooks on.\n",
            self.offered
        );
        let _ = writeln!(s, "| figure | value |\n|---|---|");
        let _ = writeln!(
            s,
            "| accepted | {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, {} refused |",
            self.accepted.rate, self.accepted.p50, self.accepted.p99, self.accepted.errors
        );
        let _ = writeln!(
            s,
            "| reached Cloud | {:.0}/s over the run; the last {:.2} s after the last was offered |",
            self.to_cloud_rate, self.lag_s
        );
        let _ = writeln!(
            s,
            "| status webhooks at the business | {} ({:.2} per message, {:.0}/s from the first send until all settled) |",
            self.events,
            self.events as f64 / self.accepted_ok.max(1) as f64,
            self.events_rate
        );
        for (name, cpu) in &self.cpu {
            let _ = writeln!(
                s,
                "| CPU, {name} | {:.2} CPU-s/s ({:.0}% of one core) |",
                cpu / self.seconds,
                cpu / self.seconds * 100.0
            );
        }
        let _ = writeln!(s, "| coreapp peak resident memory | {:.0} MB |", self.coreapp_peak_mb);
        s
    }
}

async fn keep_up(config: &Config) -> anyhow::Result<KeepUp> {
    let rate = 1_000u64;
    println!("\n== keep up with Cloud: {rate}/s offered for {} s, Cloud allowing {rate}/s ==", config.seconds);
    let stack = Stack::start(Options { cloud_throughput: rate as u32, ..Options::new(rate as u32) }).await?;
    let token = stack.admin_token().await?;
    cost::sent_webhooks_on(&stack, &token).await?;
    let ticks = cost::ticks_per_second();
    let procs = cost::processes(&stack);
    let base = stack.receiver.count();
    let cpu0 = cost::cpu_of(&procs, ticks);
    let started = Instant::now();
    let watcher = stack.watch_queue(started);
    let accepted = offer_steady(&stack, &token, rate, Duration::from_secs(config.seconds)).await;
    let offered_for = started.elapsed();
    stack.wait_queue_empty(Duration::from_secs(600)).await?;
    let all_sent = started.elapsed();
    let _ = watcher.await;
    // Statuses of the last sends are still coming: count the webhooks once
    // Cloud has nothing left to send.
    let expected = 2 * accepted.ok as u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while (stack.receiver.count() - base < expected || !stack.sandbox_idle().await?) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.wait_idle(Duration::from_secs(300)).await?;
    let settled = started.elapsed();
    let cpu1 = cost::cpu_of(&procs, ticks);
    let events = stack.receiver.count() - base;
    let cpu = procs
        .iter()
        .map(|(n, _)| (*n, cpu1.get(n).copied().unwrap_or(0.0) - cpu0.get(n).copied().unwrap_or(0.0)))
        .collect();
    let out = KeepUp {
        offered: accepted.ok + accepted.errors,
        accepted_ok: accepted.ok,
        accepted: Point::of(&accepted),
        to_cloud_rate: accepted.ok as f64 / all_sent.as_secs_f64(),
        lag_s: (all_sent - offered_for).as_secs_f64(),
        events,
        events_expected: expected,
        events_rate: events as f64 / settled.as_secs_f64(),
        cpu,
        seconds: settled.as_secs_f64(),
        coreapp_peak_mb: stack.pid("coreapp-1").and_then(memory_mb).map(|m| m.1).unwrap_or(f64::NAN),
    };
    print!("{}", out.markdown());
    stack.stop().await;
    Ok(out)
}

struct Pipeline {
    runs: Vec<webhooks::Figures>,
    /// CPU-seconds per second of each process, per run.
    cpu: Vec<Vec<(&'static str, f64)>>,
    coreapp_peak_mb: f64,
}

impl Pipeline {
    fn markdown(&self) -> String {
        let mut s = String::from(
            "Signed Cloud status webhooks POSTed to `/cloud/webhooks` at a fixed rate (open loop), a message's \
             `sent`, `delivered` and `read` a second apart; latency from Cloud's POST to the business's receipt.\n\n\
             | offered /s | per POST | delivered /s | delivered | p50 ms | p99 ms | out of order | errors |\n|---|---|---|---|---|---|---|---|\n",
        );
        for w in &self.runs {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {} of {} | {:.1} | {:.1} | {} | {} |",
                w.rate, w.batch, w.delivered_rate, w.delivered, w.posted, w.p50, w.p99, w.out_of_order, w.errors
            );
        }
        for (w, cpu) in self.runs.iter().zip(&self.cpu) {
            let _ = writeln!(
                s,
                "\nCPU at {} events/s, {} per POST (CPU-seconds per second, 2.0 is both cores): {}.",
                w.rate,
                w.batch,
                cpu.iter().map(|(n, c)| format!("{n} {c:.2}")).collect::<Vec<_>>().join(", ")
            );
        }
        let _ = writeln!(s, "\nCoreapp peak resident memory: {:.0} MB.", self.coreapp_peak_mb);
        s
    }
}

async fn pipeline(config: &Config) -> anyhow::Result<Pipeline> {
    let plans = [(5_000u64, 1usize, 500u64), (10_000, 10, 250)];
    println!("\n== webhook pipeline, {} s per rate ==", config.seconds);
    let stack = Stack::start(Options::new(80)).await?;
    let token = stack.admin_token().await?;
    cost::sent_webhooks_on(&stack, &token).await?;
    let needed: usize = plans.iter().map(|(rate, _, _)| webhooks::messages_needed(*rate, config.seconds)).sum();
    println!("seeding {needed} sent messages with known wamids...");
    let ids = webhooks::seed(&stack, needed).await?;
    let mut next = 0;
    let mut runs = Vec::new();
    let mut cpu = Vec::new();
    let (ticks, procs) = (cost::ticks_per_second(), cost::processes(&stack));
    for (rate, batch, p99_target_ms) in plans {
        let (cpu0, t0) = (cost::cpu_of(&procs, ticks), Instant::now());
        let mut figures =
            webhooks::measure(&stack, &ids, &mut next, Duration::from_secs(config.seconds), rate, batch).await?;
        let (cpu1, took) = (cost::cpu_of(&procs, ticks), t0.elapsed().as_secs_f64());
        let used: Vec<(&'static str, f64)> = procs
            .iter()
            .map(|(n, _)| (*n, (cpu1.get(n).copied().unwrap_or(0.0) - cpu0.get(n).copied().unwrap_or(0.0)) / took))
            .collect();
        println!("CPU-s/s: {}", used.iter().map(|(n, c)| format!("{n} {c:.2}")).collect::<Vec<_>>().join(", "));
        cpu.push(used);
        figures.p99_target_ms = p99_target_ms;
        println!(
            "{rate}/s, {batch} per POST: {:.0}/s delivered, {} of {}, p50 {:.1} ms, p99 {:.1} ms, {} out of order",
            figures.delivered_rate, figures.delivered, figures.posted, figures.p50, figures.p99, figures.out_of_order
        );
        runs.push(figures);
        // A rate the stack could not carry leaves a backlog: the next rate
        // would measure its draining, so the phase ends there (reported).
        if let Err(e) = stack.wait_idle(Duration::from_secs(120)).await {
            println!("the pipeline did not drain: {e:#}; the next rate is not run");
            break;
        }
    }
    let coreapp_peak_mb = stack.pid("coreapp-1").and_then(memory_mb).map(|m| m.1).unwrap_or(f64::NAN);
    stack.stop().await;
    Ok(Pipeline { runs, cpu, coreapp_peak_mb })
}

/// Where `bench all` writes by default: `target/bench` of the workspace.
pub fn default_out() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench")
}
