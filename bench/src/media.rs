//! The media scenario: a 100 MB file uploaded through the stack
//! (`POST /v1/media`, HTTPS, webapp -> gRPC -> coreapp -> volume) and
//! downloaded back (`GET /v1/media/{id}`), a few times; MB/s each way and
//! how much resident memory the webapp and the coreapp gained at their
//! peak during each transfer.

use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::stack::Stack;

const MB: f64 = 1024.0 * 1024.0;

/// Resident memory of a process: now, and its peak since the last reset.
fn rss_kb(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} for {pid}"))?;
        Ok(line.split_whitespace().nth(1).context("a number")?.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Starts a fresh peak (`VmHWM`) at the current resident size.
fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("cannot reset the peak memory of {pid} (needs root or the same user)"))
}

/// Resident size before, and the peak gained during `transfer`, per process.
struct Watch {
    pids: Vec<(&'static str, u32, u64)>,
}

impl Watch {
    fn start(stack: &Stack) -> anyhow::Result<Watch> {
        let mut pids = Vec::new();
        for name in ["webapp", "coreapp"] {
            let pid = stack.pid(if name == "coreapp" { "coreapp-1" } else { name }).context("process missing")?;
            reset_peak(pid)?;
            pids.push((name, pid, rss_kb(pid)?.0));
        }
        Ok(Watch { pids })
    }

    /// (name, before MB, peak gained MB) per process.
    fn finish(self) -> anyhow::Result<Vec<(&'static str, f64, f64)>> {
        let mut out = Vec::new();
        for (name, pid, before) in self.pids {
            let (_, peak) = rss_kb(pid)?;
            out.push((name, before as f64 / 1024.0, peak.saturating_sub(before) as f64 / 1024.0));
        }
        Ok(out)
    }
}

pub async fn run(size_mb: u64, rounds: usize, plain_link: bool) -> anyhow::Result<()> {
    let stack = Stack::start(crate::stack::Options { plain_link, ..crate::stack::Options::new(80) }).await?;
    let token = stack.admin_token().await?;
    let size = size_mb * 1024 * 1024;
    let file = std::env::temp_dir().join(format!("wa-bench-media-{}.pdf", wire::ids::random_hex(4)));
    write_file(&file, size).await?;

    let link = if plain_link { "plain gRPC" } else { "mutual TLS" };
    println!("== /v1/media, one {size_mb} MB document per transfer, HTTPS, MariaDB, webapp-coreapp link {link} ==");
    println!(
        "{:>6} {:>10} {:>9} {:>13} {:>13} {:>15} {:>15}",
        "round", "transfer", "MB/s", "webapp MB", "coreapp MB", "webapp peak +MB", "coreapp peak +MB"
    );
    let mut worst = [0f64; 2];
    for round in 1..=rounds {
        let watch = Watch::start(&stack)?;
        let started = Instant::now();
        let id = upload(&stack, &token, &file, size).await?;
        let up = started.elapsed();
        let mem = watch.finish()?;
        print_row(round, "upload", size as f64 / MB / up.as_secs_f64(), &mem, &mut worst);

        let watch = Watch::start(&stack)?;
        let started = Instant::now();
        let got = download(&stack, &token, &id).await?;
        let down = started.elapsed();
        let mem = watch.finish()?;
        if got != size {
            bail!("downloaded {got} bytes of {size}");
        }
        print_row(round, "download", size as f64 / MB / down.as_secs_f64(), &mem, &mut worst);
        let r = stack.http.delete(format!("{}/v1/media/{id}", stack.web)).bearer_auth(&token).send().await?;
        if !r.status().is_success() {
            bail!("delete answered {}", r.status());
        }
    }
    println!(
        "largest peak gain over all transfers: webapp {:.1} MB, coreapp {:.1} MB (target: under 64 MB each)",
        worst[0], worst[1]
    );
    let _ = std::fs::remove_file(&file);
    stack.stop().await;
    Ok(())
}

fn print_row(round: usize, what: &str, mbps: f64, mem: &[(&str, f64, f64)], worst: &mut [f64; 2]) {
    worst[0] = worst[0].max(mem[0].2);
    worst[1] = worst[1].max(mem[1].2);
    println!(
        "{round:>6} {what:>10} {mbps:>9.1} {:>13.1} {:>13.1} {:>15.1} {:>15.1}",
        mem[0].1, mem[1].1, mem[0].2, mem[1].2
    );
}

/// A PDF-looking file of `size` bytes of filler, written in pieces.
async fn write_file(path: &std::path::Path, size: u64) -> anyhow::Result<()> {
    let mut f = tokio::fs::File::create(path).await?;
    f.write_all(b"%PDF-1.4\n").await?;
    let mut left = size - 9;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut piece = vec![0u8; 1024 * 1024];
    while left > 0 {
        for word in piece.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
        }
        let n = left.min(piece.len() as u64) as usize;
        f.write_all(&piece[..n]).await?;
        left -= n as u64;
    }
    f.flush().await?;
    Ok(())
}

/// Streams the file from disk as the request body (the bench itself holds
/// no copy either).
async fn upload(stack: &Stack, token: &str, path: &std::path::Path, size: u64) -> anyhow::Result<String> {
    let file = tokio::fs::File::open(path).await?;
    let r = stack
        .media_http()
        .post(format!("{}/v1/media", stack.web))
        .bearer_auth(token)
        .header("Content-Type", "application/pdf")
        .header("Content-Length", size)
        .body(reqwest::Body::from(file))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    if status.as_u16() != 201 {
        bail!("upload answered {status}: {body}");
    }
    Ok(body.pointer("/media/0/id").and_then(Value::as_str).context("no media id")?.to_string())
}

/// Reads the download to the end without keeping it; returns its size.
async fn download(stack: &Stack, token: &str, id: &str) -> anyhow::Result<u64> {
    let mut r = stack.media_http().get(format!("{}/v1/media/{id}", stack.web)).bearer_auth(token).send().await?;
    if !r.status().is_success() {
        bail!("download answered {}", r.status());
    }
    let mut n = 0u64;
    while let Some(chunk) = r.chunk().await? {
        n += chunk.len() as u64;
    }
    Ok(n)
}
