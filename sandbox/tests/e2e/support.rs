//! Test harness: a sandbox on an ephemeral port, a scriptable webhook receiver,
//! the fixtures, and an independent signature check.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use sandbox::Config;

/// How long any wait in these tests may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub const PNID: &str = "100000000000001";
pub const WABA_ID: &str = "200000000000001";
pub const TOKEN: &str = "sandbox-token";
pub const APP_SECRET: &str = "sandbox-app-secret";

/// A config for tests: the defaults, webhooks to `webhook_url`, short status delay.
pub fn config(webhook_url: Option<String>) -> Config {
    Config { webhook_url, status_delay: Duration::from_millis(20), ..Config::default() }
}

/// Polls `check` every 10 ms until it returns `Some`, failing after [`DEADLINE`].
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = tokio::time::Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// === TestSandbox ===

/// A sandbox served by `sandbox::run` on 127.0.0.1:0.
pub struct TestSandbox {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestSandbox {
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(sandbox::run(config, listener, async {
            let _ = rx.await;
        }));
        let sandbox = TestSandbox { base, client: reqwest::Client::new(), shutdown: Some(tx), handle: Some(handle) };
        sandbox.wait_ready().await;
        sandbox
    }

    async fn wait_ready(&self) {
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(response) = self.client.get(self.url("/_sandbox/health")).send().await
                && response.status() == StatusCode::OK
            {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body, serde_json::json!({"status": "ok"}));
                return;
            }
            assert!(started.elapsed() < DEADLINE, "sandbox never became ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/v24.0/<path>`.
    pub fn graph_url(&self, path: &str) -> String {
        self.url(&format!("/v24.0/{path}"))
    }

    /// POSTs `body` to a Graph path with the sandbox's token.
    pub async fn graph_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.client.post(self.graph_url(path)).bearer_auth(TOKEN).json(body).send().await.unwrap();
        into_json(response).await
    }

    /// GETs a Graph path with the sandbox's token.
    pub async fn graph_get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.graph_url(path)).bearer_auth(TOKEN).send().await.unwrap();
        into_json(response).await
    }

    /// Sends a text message to `to` and returns the wamid.
    pub async fn send_text(&self, to: &str, body: &str) -> String {
        let (status, answer) = self
            .graph_post(
                &format!("{PNID}/messages"),
                &serde_json::json!({
                    "messaging_product": "whatsapp",
                    "to": to,
                    "type": "text",
                    "text": {"body": body},
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["messages"][0]["id"].as_str().unwrap().to_owned()
    }

    pub async fn control_get(&self, path: &str) -> (StatusCode, Value) {
        into_json(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn control_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        into_json(self.client.post(self.url(path)).json(body).send().await.unwrap()).await
    }

    /// Asks the sandbox to shut down and checks that `run` returned `Ok`.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        let result = tokio::time::timeout(DEADLINE, self.handle.take().unwrap())
            .await
            .expect("run did not return after shutdown")
            .unwrap();
        result.unwrap();
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

pub async fn into_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

// === Receiver ===

/// One request the receiver accepted, byte for byte.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    fail_first: u32,
    attempts: u32,
    accepted: Vec<Received>,
}

/// A tiny webhook receiver that keeps the raw bytes and can fail on purpose.
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
    _server: JoinHandle<()>,
}

impl Receiver {
    /// Answers 500 to the first `fail_first` requests, then 200.
    pub async fn start(fail_first: u32) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState { fail_first, ..ReceiverState::default() }));
        let app = Router::new().route("/hook", post(receive)).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, state, _server: server }
    }

    /// Waits until `count` requests were accepted and returns them in arrival order.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        eventually(&format!("{count} webhooks"), || {
            let state = self.state.lock().unwrap();
            (state.accepted.len() >= count).then(|| state.accepted.clone())
        })
        .await
    }

    /// Every request seen, failed or accepted.
    pub fn attempts(&self) -> u32 {
        self.state.lock().unwrap().attempts
    }
}

async fn receive(State(state): State<Arc<Mutex<ReceiverState>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut state = state.lock().unwrap();
    state.attempts += 1;
    if state.attempts <= state.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    state.accepted.push(Received { headers, body });
    StatusCode::OK
}

// === checks ===

/// `sha256=<hex>` computed here, independently of the sandbox's code.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Asserts the request is signed over its raw bytes with the default app secret.
pub fn assert_signed(received: &Received) {
    let header = received.headers.get("x-hub-signature-256").expect("X-Hub-Signature-256 header").to_str().unwrap();
    assert_eq!(header, expected_signature(APP_SECRET, &received.body));
    assert_eq!(received.headers.get("content-type").unwrap(), "application/json");
    assert!(received.body.is_ascii(), "webhook bodies are escaped to ASCII");
}

pub fn fixture(name: &str) -> Value {
    let text = match name {
        "pywa-text.json" => include_str!("../fixtures/pywa-text.json"),
        "pywa-status-sent.json" => include_str!("../fixtures/pywa-status-sent.json"),
        "pywa-status-sent-biz-opaque.json" => {
            include_str!("../fixtures/pywa-status-sent-biz-opaque.json")
        }
        "pywa-status-delivered.json" => include_str!("../fixtures/pywa-status-delivered.json"),
        "pywa-status-read.json" => include_str!("../fixtures/pywa-status-read.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

/// Every key path in `value`, array indices left out: `entry.changes.value.statuses.id`.
pub fn key_paths(value: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    out.insert(path.clone());
                    walk(child, &path, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, prefix, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, "", &mut out);
    out
}

/// Compares the key structure of `ours` with a fixture. `fixture_only` and
/// `ours_only` list the documented differences (path prefixes); anything else
/// that differs fails.
pub fn assert_same_shape(ours: &Value, fixture: &Value, fixture_only: &[&str], ours_only: &[&str]) {
    let ours_paths = key_paths(ours);
    let fixture_paths = key_paths(fixture);
    let covered = |path: &String, prefixes: &[&str]| {
        prefixes.iter().any(|prefix| path == prefix || path.starts_with(&format!("{prefix}.")))
    };
    let missing: Vec<&String> =
        fixture_paths.difference(&ours_paths).filter(|path| !covered(path, fixture_only)).collect();
    let extra: Vec<&String> = ours_paths.difference(&fixture_paths).filter(|path| !covered(path, ours_only)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "shape differs from the fixture: missing {missing:?}, extra {extra:?}\nours: {ours}"
    );
    // The documented differences must really be differences, or the list is stale.
    for prefix in fixture_only {
        assert!(!ours_paths.contains(*prefix), "{prefix} is listed as fixture-only but the sandbox sends it");
    }
    for prefix in ours_only {
        assert!(ours_paths.contains(*prefix), "{prefix} is listed as sandbox-only but the sandbox does not send it");
    }
}
