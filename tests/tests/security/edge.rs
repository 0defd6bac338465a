//! The webapp's edge against hostile clients: stalled and trickled bodies
//! and heads, idle connections (HTTP/1.1 and HTTP/2), responses nobody
//! reads, the connection cap, the budget of unauthenticated bodies, and
//! metric labels a client cannot multiply. Clients here are raw TLS
//! connections (`e2e::raw`), since no well-behaved client does any of this.
//!
//! None of it reaches the database, so SQLite alone is used. Timeouts are
//! set short (seconds); every wait is bounded at ten times what it should
//! take.
//!
//! The memory test reads the peak memory of the whole test process, so it
//! runs alone: every other security test holds [`EXCLUSIVE`] shared, it holds it
//! exclusively.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use e2e::{API_KEY, Auth, Engine, Options, Stack, files, raw};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout};
use webapp::config::EdgeLimits;

use super::EXCLUSIVE;

const MB: usize = 1024 * 1024;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn stack(edge: EdgeLimits) -> Stack {
    Stack::start_with(Engine::Sqlite, Options { edge, ..Options::default() }).await
}

/// A field of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Resets the process's peak resident memory to what it holds now, and
/// returns that (bytes).
fn reset_peak_memory() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident memory");
    status_kb("VmRSS") * 1024
}

/// What became of a connection that stopped before the end of its body.
struct Stalled {
    /// The answer, when one came before the close.
    response: Option<raw::Response>,
    /// From the stall to the close; `None` when still open at the bound.
    closed_after: Option<Duration>,
}

/// Announces a 4 MB webhook, sends all of it but the last byte as fast as
/// the webapp takes it, then waits (at most `bound`) for the webapp to
/// close the connection.
async fn stalled_webhook(web: String, chunk: Arc<[u8]>, bound: Duration) -> Stalled {
    const ANNOUNCED: usize = 4 * MB;
    let tls = raw::connect(&web).await.expect("a connection");
    let (mut rd, mut wr) = tokio::io::split(tls);
    // Read while writing: a refusal comes before the body is sent.
    let reader = tokio::spawn(async move {
        let bytes = raw::read_to_close(&mut rd).await;
        (bytes, Instant::now())
    });
    let length = ANNOUNCED.to_string();
    let headers =
        [("Content-Type", "application/json"), ("X-Hub-Signature-256", "sha256=00"), ("Content-Length", &length)];
    if raw::send_head(&mut wr, "POST", "/cloud/webhooks", &headers).await.is_ok() {
        let mut sent = 0;
        while sent < ANNOUNCED - 1 {
            let n = chunk.len().min(ANNOUNCED - 1 - sent);
            if wr.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            sent += n;
        }
        let _ = wr.flush().await;
    }
    let stalled = Instant::now();
    let closed = timeout(bound, reader).await;
    // Only now: closing our side would end the body.
    drop(wr);
    match closed {
        Ok(Ok((bytes, at))) => Stalled {
            response: raw::Response::parse(&bytes),
            closed_after: Some(at.saturating_duration_since(stalled)),
        },
        _ => Stalled { response: None, closed_after: None },
    }
}

/// 40 connections announce a 4 MB body to the Cloud webhook intake (no
/// authentication before the body is read) and stop one byte short. Most
/// are refused at once (503/1016) since the budget covers two; the two it
/// covers are closed by the body timeout. Unchecked, the webapp buffered
/// all of them (4 MB each) and kept them open for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_unauthenticated_bodies_are_bounded_and_closed() {
    let _alone = EXCLUSIVE.write().await;
    let body_timeout = secs(2);
    let edge = EdgeLimits { body_timeout, unauthenticated_body_budget: 8 * MB as u64, ..EdgeLimits::default() };
    let s = stack(edge).await;
    let chunk: Arc<[u8]> = vec![b' '; 64 * 1024].into();

    let before = reset_peak_memory();
    let connections: Vec<_> =
        (0..40).map(|_| tokio::spawn(stalled_webhook(s.webs[0].clone(), chunk.clone(), body_timeout * 10))).collect();
    let mut stalled = Vec::new();
    for c in connections {
        stalled.push(c.await.expect("a client task"));
    }
    let growth = (status_kb("VmHWM") * 1024).saturating_sub(before);
    eprintln!("peak memory growth with 40 stalled 4 MB webhooks: {:.1} MB", growth as f64 / MB as f64);

    let open = stalled.iter().filter(|c| c.closed_after.is_none()).count();
    assert_eq!(open, 0, "{open} stalled connections still open after 10x the body timeout");
    let answers: Vec<&raw::Response> = stalled.iter().filter_map(|c| c.response.as_ref()).collect();
    let refused = answers.iter().filter(|r| r.status == 503).collect::<Vec<_>>();
    assert!(!refused.is_empty(), "no request was refused for the budget: {answers:?}");
    for r in &refused {
        assert_eq!(r.json()["errors"][0]["code"], 1016, "{r:?}");
    }
    let timed_out: Vec<_> = answers.iter().filter(|r| r.status == 400).collect();
    assert!(!timed_out.is_empty(), "no stalled body was answered: {answers:?}");
    for r in &timed_out {
        let text = String::from_utf8_lossy(&r.body);
        assert!(text.contains("no bytes of the request body arrived for 2 s"), "{text}");
    }
    assert_eq!(refused.len() + timed_out.len(), answers.len(), "other answers: {answers:?}");
    // Unchecked, the 40 bodies alone take 160 MB.
    assert!(growth < 64 * MB as u64, "memory grew by {growth} bytes");
    s.stop().await;
}

/// A login whose body comes a byte a second is answered 400/1009 once its
/// grace period is over, and its connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off() {
    let _shared = EXCLUSIVE.read().await;
    let s = stack(EdgeLimits { body_timeout: secs(2), body_min_rate: 1000, ..EdgeLimits::default() }).await;
    let mut tls = raw::connect(&s.webs[0]).await.unwrap();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:secret"));
    let headers = [("Authorization", basic.as_str()), ("Content-Type", "application/json"), ("Content-Length", "1000")];
    raw::send_head(&mut tls, "POST", "/v1/users/login", &headers).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let trickle = tokio::spawn(async move {
        while wr.write_all(b" ").await.is_ok() && wr.flush().await.is_ok() {
            tokio::time::sleep(secs(1)).await;
        }
    });
    let bytes = timeout(secs(20), raw::read_to_close(&mut rd)).await.expect("cut off within 10x the grace period");
    let response = raw::Response::parse(&bytes).expect("an answer before the close");
    assert_eq!(response.status, 400, "{response:?}");
    let body = response.json();
    assert_eq!(body["errors"][0]["code"], 1009, "{body}");
    let details = body["errors"][0]["details"].as_str().unwrap_or_default();
    assert!(details.contains("slower than 1000 bytes per second"), "{body}");
    trickle.abort();
    s.stop().await;
}

/// A client that sends its whole body before it reads (HTTP/1.1 without
/// `Expect: 100-continue`, as most legacy clients) reads why a body over the
/// limit was refused: the webapp reads the rest of the body before it
/// answers, instead of closing the connection under the client's feet
/// (which resets it, and the answer with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_a_body_over_the_limit_reads_the_refusal() {
    let _shared = EXCLUSIVE.read().await;
    let s = stack(EdgeLimits::default()).await;
    let token = s.admin_token().await;
    let bearer = format!("Bearer {token}");
    // As such a client does: the whole body, then the answer, on a
    // connection kept alive.
    let mut tls = raw::connect(&s.webs[0]).await.unwrap();
    for size in [3 * MB, 6 * MB] {
        let length = size.to_string();
        let headers = [
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
            ("Content-Length", length.as_str()),
        ];
        raw::send_head(&mut tls, "POST", "/v1/messages", &headers).await.unwrap();
        let sent = timeout(secs(60), async { tls.write_all(&vec![b' '; size]).await.and(tls.flush().await) });
        sent.await.expect("the body taken within 60 s").unwrap_or_else(|e| panic!("{size} bytes: {e}"));
        let response = timeout(secs(60), raw::read_response(&mut tls)).await.expect("answered within 60 s");
        let response = response.unwrap_or_else(|e| panic!("{size} bytes: no answer read: {e}"));
        assert_eq!(response.status, 400, "{response:?}");
        let body = response.json();
        assert_eq!(body["errors"][0]["code"], 1009, "{body}");
    }
    s.stop().await;
}

/// A head that stops half way, a head trickled a byte at a time, and a
/// connection that sends nothing are all closed by the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_and_trickled_heads_are_cut_off() {
    let _shared = EXCLUSIVE.read().await;
    let s = stack(EdgeLimits { header_timeout: secs(1), ..EdgeLimits::default() }).await;
    let web = &s.webs[0];

    let mut partial = raw::connect(web).await.unwrap();
    partial.write_all(b"GET /v1/health HTTP/1.1\r\nHost: local").await.unwrap();
    partial.flush().await.unwrap();

    let (mut trickled_rd, mut trickled_wr) = tokio::io::split(raw::connect(web).await.unwrap());
    let trickle = tokio::spawn(async move {
        let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a'));
        for byte in head {
            if trickled_wr.write_all(&[*byte]).await.is_err() || trickled_wr.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let mut silent = raw::connect(web).await.unwrap();

    let (partial, trickled, silent) = timeout(secs(10), async {
        (
            raw::read_to_close(&mut partial).await,
            raw::read_to_close(&mut trickled_rd).await,
            raw::read_to_close(&mut silent).await,
        )
    })
    .await
    .expect("all closed within 10x the header timeout");
    // No request was complete, so nothing is answered.
    for (what, read) in [("a partial head", partial), ("a trickled head", trickled), ("a silent connection", silent)] {
        assert!(read.is_empty(), "{what} got {}", String::from_utf8_lossy(&read));
    }
    trickle.abort();
    s.stop().await;
}

/// A kept-alive connection with no request in flight is closed after the
/// idle time, on HTTP/1.1 and on HTTP/2 (the header timeout is longer, so
/// it is the idle time that closes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let _shared = EXCLUSIVE.read().await;
    let edge = EdgeLimits { idle_timeout: secs(1), header_timeout: secs(30), ..EdgeLimits::default() };
    let s = stack(edge).await;
    let web = &s.webs[0];

    let mut http1 = raw::connect(web).await.unwrap();
    let response = raw::get(&mut http1, "/", &[]).await.unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert_ne!(response.header("connection"), Some("close"), "the connection is kept alive: {response:?}");

    let (mut http2, driver) = raw::h2(web).await;
    let request = http::Request::get("https://localhost/").body(()).unwrap();
    let (answer, _) = http2.send_request(request, true).unwrap();
    let answer = answer.await.expect("an HTTP/2 answer");
    assert_eq!(answer.status(), 200);
    let mut body = answer.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }

    let closed = timeout(secs(10), raw::read_to_close(&mut http1)).await.expect("HTTP/1.1 closed within 10x idle");
    assert!(closed.is_empty(), "{}", String::from_utf8_lossy(&closed));
    // The server's close ends the driver, with an error since it is abrupt.
    let _ = timeout(secs(10), driver).await.expect("HTTP/2 closed within 10x idle").expect("the driver task");
    // The client side held the connection open all along.
    drop(http2);
    s.stop().await;
}

/// The `web_open_connections` gauge, read over `conn`.
async fn open_connections(conn: &mut raw::Tls) -> u64 {
    let auth = format!("Apikey {API_KEY}");
    let r = raw::get(conn, "/metrics?format=prometheus", &[("Authorization", &auth)]).await.expect("metrics");
    let text = String::from_utf8_lossy(&r.body);
    text.lines()
        .find_map(|l| l.strip_prefix("web_open_connections ")?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no web_open_connections in {text}")) as u64
}

/// At the cap, a new connection is closed at once, while the open ones
/// keep working; a connection that closes makes room for another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused() {
    let _shared = EXCLUSIVE.read().await;
    let mut s = stack(EdgeLimits { max_connections: 4, ..EdgeLimits::default() }).await;
    let web = s.webs[0].clone();
    // The harness's client keeps a connection; close it.
    drop(std::mem::replace(&mut s.http, reqwest::Client::new()));
    let mut first = raw::connect(&web).await.unwrap();
    let deadline = Instant::now() + secs(10);
    while open_connections(&mut first).await != 1 {
        assert!(Instant::now() < deadline, "other connections stay open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut open = vec![first];
    for _ in 1..4 {
        let mut c = raw::connect(&web).await.expect("a connection under the cap");
        assert_eq!(raw::get(&mut c, "/", &[]).await.unwrap().status, 200);
        open.push(c);
    }

    let mut over = raw::connect(&web).await;
    if let Ok(c) = &mut over {
        // The handshake may finish on the client's side before it sees the close.
        assert!(raw::get(c, "/", &[]).await.is_err(), "a connection over the cap was served");
    }
    assert_eq!(open_connections(&mut open[0]).await, 4);
    for c in &mut open[1..] {
        assert_eq!(raw::get(c, "/", &[]).await.expect("open connections keep working").status, 200);
    }

    drop(open.pop());
    let deadline = Instant::now() + secs(10);
    loop {
        if let Ok(mut c) = raw::connect(&web).await
            && raw::get(&mut c, "/", &[]).await.is_ok_and(|r| r.status == 200)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no room after a connection closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}

/// Prometheus sample lines of the webapp's own request metrics.
async fn web_series(s: &Stack) -> Vec<String> {
    let r = s
        .http
        .get(format!("{}/metrics?format=prometheus", s.webs[0]))
        .header("Authorization", format!("Apikey {API_KEY}"));
    let text = r.send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("api_requests_duration_ms") || l.starts_with("web_"))
        .map(|l| l.rsplit_once(' ').map_or(l, |(series, _)| series).to_string())
        .collect()
}

fn assert_unsupported_method(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["code"], 1025, "{body}");
    assert!(body["meta"].is_object(), "{body}");
}

/// Made-up methods are answered 400/1025 and counted under fixed labels,
/// so they add no series to `/metrics`; a 5,000-character method is
/// refused the same way and echoed nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_add_no_series_and_are_refused() {
    let _shared = EXCLUSIVE.read().await;
    let s = stack(EdgeLimits::default()).await;
    let paths = ["/", "/v1/messages", "/v1/media/x", "/v1/no-such-path"];
    let made_up = |i: usize| {
        let method = Method::from_bytes(format!("X{}", wire::ids::random_hex(3)).as_bytes()).unwrap();
        (method, paths[i % paths.len()])
    };
    // Every label set a made-up method can produce exists after these (and
    // the scrape's own, after a first scrape).
    web_series(&s).await;
    for i in 0..paths.len() {
        let (method, path) = made_up(i);
        let a = s.call(method, path, Auth::None, None).await;
        assert_unsupported_method(a.status, &a.body);
    }
    let before = web_series(&s).await;
    let handled = |series: &[String]| series.iter().filter(|l| l.starts_with("web_handled_requests")).count();
    assert_eq!(handled(&before), 1);

    for i in 0..50 {
        let (method, path) = made_up(i);
        let a = s.call(method.clone(), path, Auth::ApiKey(API_KEY), None).await;
        assert_unsupported_method(a.status, &a.body);
    }
    let after = web_series(&s).await;
    assert_eq!(after, before, "made-up methods changed the series");

    let long = "X".repeat(5000);
    let a = s.call(Method::from_bytes(long.as_bytes()).unwrap(), "/v1/messages", Auth::None, None).await;
    assert_unsupported_method(a.status, &a.body);
    assert!(!a.body.to_string().contains(&long[..100]), "{}", a.body);
    assert!(a.headers.values().all(|v| !v.as_bytes().windows(100).any(|w| w == &long.as_bytes()[..100])));
    // The same over HTTP/1.1.
    let mut tls = raw::connect(&s.webs[0]).await.unwrap();
    raw::send_head(&mut tls, &long, "/v1/messages", &[]).await.unwrap();
    let r = raw::read_response(&mut tls).await.unwrap();
    assert_unsupported_method(StatusCode::from_u16(r.status).unwrap(), &r.json());
    assert!(!String::from_utf8_lossy(&r.body).contains(&long[..100]) && !r.head.contains(&long[..100]));
    assert_eq!(web_series(&s).await, after);
    s.stop().await;
}

/// `web_limit_hits` for one limit.
async fn limit_hits(s: &Stack, limit: &str) -> u64 {
    let a = s.call(Method::GET, "/metrics", Auth::ApiKey(API_KEY), None).await;
    let data = a.body["metrics"]["web_limit_hits"]["data"].as_array().cloned().unwrap_or_default();
    data.iter().find(|d| d["labels"]["limit"] == limit).and_then(|d| d["value"].as_f64()).unwrap_or(0.0) as u64
}

/// A download the client stops reading is abandoned after the write
/// timeout: the connection is closed, and the client gets only part of it.
/// On HTTP/2 the client can leave the connection busy and starve only the
/// stream (a window of zero); that is caught as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_nobody_reads_is_abandoned() {
    let _shared = EXCLUSIVE.read().await;
    let s = stack(EdgeLimits { write_timeout: secs(1), ..EdgeLimits::default() }).await;
    let token = s.admin_token().await;
    let size = 8 * MB;
    let a = s.upload(&token, Some("application/pdf"), files::pdf(size, 7)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = a.body["media"][0]["id"].as_str().unwrap().to_string();

    // A small receive buffer, so the webapp's writes block soon.
    let mut reader = raw::connect_with(&s.webs[0], &[b"http/1.1"], Some(4096)).await.unwrap();
    let bearer = format!("Bearer {token}");
    raw::send_head(&mut reader, "GET", &format!("/v1/media/{id}"), &[("Authorization", &bearer)]).await.unwrap();
    s.wait_until(secs(10), || async { limit_hits(&s, "write_timeout").await >= 1 })
        .await
        .expect("the stalled download is abandoned within 10x the write timeout");
    let got = timeout(secs(10), raw::read_to_close(&mut reader)).await.expect("the connection is closed");
    let response = raw::Response::parse(&got).expect("the download's head");
    assert_eq!(response.status, 200);
    assert!(response.body.len() < size, "the whole file came through ({} bytes)", response.body.len());

    let (mut http2, driver) = raw::h2(&s.webs[0]).await;
    let request = http::Request::get(format!("https://localhost/v1/media/{id}"))
        .header("authorization", &bearer)
        .body(())
        .unwrap();
    let (answer, _) = http2.send_request(request, true).unwrap();
    let answer = answer.await.expect("an HTTP/2 answer");
    assert_eq!(answer.status(), 200);
    // The body is never read, so its window stays shut once full.
    let _unread = answer.into_body();
    s.wait_until(secs(10), || async { limit_hits(&s, "write_timeout").await >= 2 })
        .await
        .expect("the starved stream is abandoned within 10x the write timeout");
    let _ = timeout(secs(10), driver).await.expect("the HTTP/2 connection is closed").expect("the driver task");
    drop(http2);
    s.stop().await;
}

/// What a malformed request gets. Whatever reaches a handler is answered
/// with the on-prem envelope; what hyper's HTTP/1 parser refuses before any
/// hook of ours (a `Content-Length` that is no number or is given twice
/// differently, a header name or value HTTP forbids, a head over hyper's
/// buffer, an unusable URI) gets hyper's bare status with no body, and the
/// connection is closed. The README's "Limits" lists these; this test keeps
/// that list true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_the_envelope_where_the_http_layer_lets_us() {
    let _shared = EXCLUSIVE.read().await;
    let s = stack(EdgeLimits::default()).await;
    let web = &s.webs[0];
    // A whole answer (by its Content-Length), or, for what hyper refuses,
    // whatever comes before it closes the connection.
    let answer = |method: &'static str, path: String, headers: Vec<(&'static str, String)>, body: &'static [u8]| async move {
        let mut tls = raw::connect(web).await.unwrap();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        // hyper may close while a refused head is still being written.
        let sent = raw::send_head(&mut tls, method, &path, &headers).await.is_ok();
        if sent && !body.is_empty() {
            tls.write_all(body).await.unwrap();
            tls.flush().await.unwrap();
        }
        let what = format!("{method} {}", &path[..path.len().min(40)]);
        timeout(secs(20), raw::read_response(&mut tls))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"))
            .unwrap_or_else(|e| panic!("{what}: no answer ({e})"))
    };
    let json = || ("Content-Type", "application/json".to_string());
    let close = || ("Connection", "close".to_string());

    // Reaches the webapp: the envelope.
    for (path, headers, body, status, code) in [
        ("/v1/users/login", vec![json(), ("Content-Length", "5".into()), close()], &b"{nope"[..], 401, 1005),
        ("/v1/messages", vec![json(), ("Content-Length", "5".into()), close()], &b"{nope"[..], 401, 1005),
        ("/v1/nothing", vec![close()], &b""[..], 404, 1006),
        ("/v1/users/login", vec![("Transfer-Encoding", "chunked".into()), close()], &b"zz\r\n"[..], 401, 1005),
    ] {
        let r = answer("POST", path.to_string(), headers, body).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_eq!(r.json()["errors"][0]["code"], code, "{path}: {r:?}");
    }

    // Refused by hyper's parser: a bare status, no body.
    let long_uri = format!("/v1/{}", "a".repeat(70_000));
    for (what, path, headers, status) in [
        (
            "a Content-Length that is no number",
            "/v1/messages".to_string(),
            vec![("Content-Length", "abc".to_string())],
            400,
        ),
        (
            "two different Content-Lengths",
            "/v1/messages".into(),
            vec![("Content-Length", "1".into()), ("Content-Length", "2".into())],
            400,
        ),
        ("a header value with a control byte", "/v1/messages".into(), vec![("X-Bad", "a\u{1}b".into())], 400),
        ("a URI over 64 KiB", long_uri, vec![], 414),
        ("a head over hyper's buffer", "/v1/messages".into(), vec![("X-Big", "b".repeat(2_000_000))], 431),
    ] {
        let r = answer("POST", path, headers, b"").await;
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert!(
            r.body.is_empty(),
            "{what}: hyper writes no body; if it does now, the README's limits need updating: {r:?}"
        );
    }
    s.stop().await;
}
