//! Test harness: a sandbox on an ephemeral port, a scriptable webhook receiver,
//! the fixtures, an independent signature check, and a shape comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use sandbox::Config;

/// How long any wait in these tests may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub const PNID: &str = "100000000000001";
pub const PNID2: &str = "100000000000002";
pub const WABA_ID: &str = "200000000000001";
pub const TOKEN: &str = "sandbox-token";
pub const APP_SECRET: &str = "sandbox-app-secret";
pub const USER: &str = "16505551234";

/// A config for tests: the defaults, webhooks to `webhook_url`, short status delay.
pub fn config(webhook_url: Option<String>) -> Config {
    Config { webhook_url, status_delay: Duration::from_millis(20), ..Config::default() }
}

/// Two hosted numbers.
pub fn two_numbers(webhook_url: Option<String>) -> Config {
    Config { phone_number_ids: vec![PNID.into(), PNID2.into()], ..config(webhook_url) }
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
                assert_eq!(body, json!({"status": "ok"}));
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

    /// DELETEs a Graph path with the sandbox's token.
    pub async fn graph_delete(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.delete(self.graph_url(path)).bearer_auth(TOKEN).send().await.unwrap();
        into_json(response).await
    }

    /// Sends `payload` (a message object without `messaging_product`) from `pnid`.
    pub async fn send_from(&self, pnid: &str, mut payload: Value) -> (StatusCode, Value) {
        payload["messaging_product"] = json!("whatsapp");
        self.graph_post(&format!("{pnid}/messages"), &payload).await
    }

    pub async fn send(&self, payload: Value) -> (StatusCode, Value) {
        self.send_from(PNID, payload).await
    }

    /// Sends a message that must be accepted; returns its wamid.
    pub async fn send_ok(&self, payload: Value) -> String {
        let (status, answer) = self.send(payload).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["messages"][0]["id"].as_str().unwrap().to_owned()
    }

    /// Sends a text message to `to` and returns the wamid.
    pub async fn send_text(&self, to: &str, body: &str) -> String {
        self.send_ok(json!({"to": to, "type": "text", "text": {"body": body}})).await
    }

    pub async fn control_get(&self, path: &str) -> (StatusCode, Value) {
        into_json(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn control_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        into_json(self.client.post(self.url(path)).json(body).send().await.unwrap()).await
    }

    pub async fn control_delete(&self, path: &str) -> StatusCode {
        self.client.delete(self.url(path)).send().await.unwrap().status()
    }

    /// `PATCH /_sandbox/settings`, which must succeed.
    pub async fn settings(&self, patch: Value) -> Value {
        let response = self.client.patch(self.url("/_sandbox/settings")).json(&patch).send().await.unwrap();
        let (status, body) = into_json(response).await;
        assert_eq!(status, StatusCode::OK, "{patch}: {body}");
        body
    }

    /// `POST /_sandbox/clock/advance`.
    pub async fn advance(&self, by: Value) {
        let (status, body) = self.control_post("/_sandbox/clock/advance", &by).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A user writes to the business (`POST /_sandbox/inbound`); returns the answer.
    pub async fn inbound(&self, request: Value) -> Value {
        let (status, answer) = self.control_post("/_sandbox/inbound", &request).await;
        assert_eq!(status, StatusCode::OK, "{request}: {answer}");
        answer
    }

    /// `GET /_sandbox/users/{key}` (a phone or a BSUID), which must succeed.
    pub async fn user(&self, key: &str) -> Value {
        let (status, user) = self.control_get(&format!("/_sandbox/users/{key}")).await;
        assert_eq!(status, StatusCode::OK, "{key}: {user}");
        user
    }

    /// The BSUID of the user with `phone`, as the control API tells it.
    pub async fn user_id(&self, phone: &str) -> String {
        self.user(phone).await["user_id"].as_str().unwrap().to_owned()
    }

    /// `POST /_sandbox/users`, which must succeed; returns the user.
    pub async fn save_user(&self, body: Value) -> Value {
        let (status, user) = self.control_post("/_sandbox/users", &body).await;
        assert_eq!(status, StatusCode::OK, "{body}: {user}");
        user
    }

    /// `POST /_sandbox/faults`, which must succeed; returns the fault.
    pub async fn fault(&self, spec: Value) -> Value {
        let (status, body) = self.control_post("/_sandbox/faults", &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{spec}: {body}");
        body
    }

    /// Uploads a file with a hand-built multipart body.
    pub async fn upload(&self, pnid: &str, bytes: &[u8], mime: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let boundary = "sandbox-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        if !mime.is_empty() {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.bin\"\r\nContent-Type: {mime}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(self.graph_url(&format!("{pnid}/media")))
            .bearer_auth(TOKEN)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        into_json(response).await
    }

    /// Uploads and returns the media id.
    pub async fn upload_ok(&self, bytes: &[u8], mime: &str) -> String {
        let (status, body) = self.upload(PNID, bytes, mime, &[("messaging_product", "whatsapp"), ("type", mime)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn stats(&self) -> Value {
        self.control_get("/_sandbox/stats").await.1
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

/// Asserts a Graph error envelope with `status` and `code`; only Graph's keys allowed.
pub fn assert_graph_error(status: StatusCode, body: &Value, want_status: StatusCode, code: u64) {
    assert_eq!(status, want_status, "{body}");
    let error = body["error"].as_object().expect("Graph error envelope");
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].is_string());
    assert!(error["type"].is_string());
    let trace = error["fbtrace_id"].as_str().unwrap();
    assert!(trace.len() >= 20, "{trace}");
    for key in error.keys() {
        assert!(
            ["message", "type", "code", "error_subcode", "error_data", "fbtrace_id"].contains(&key.as_str()),
            "unexpected key {key} in {body}"
        );
    }
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

    /// Every accepted request so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// Every request seen, failed or accepted.
    pub fn attempts(&self) -> u32 {
        self.state.lock().unwrap().attempts
    }

    /// Every `statuses[]` item received so far, in arrival order.
    pub fn statuses(&self) -> Vec<Value> {
        self.received().iter().flat_map(|r| items(&r.json(), "statuses")).collect()
    }

    /// Waits until the statuses of message `wamid` satisfy `done`; returns them.
    pub async fn statuses_of(&self, wamid: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        eventually(&format!("statuses of {wamid}"), || {
            let mine: Vec<Value> = self.statuses().into_iter().filter(|s| s["id"] == wamid).collect();
            done(&mine).then_some(mine)
        })
        .await
    }

    /// Waits for the status `status` of `wamid`.
    pub async fn status(&self, wamid: &str, status: &str) -> Value {
        let all = self.statuses_of(wamid, |s| s.iter().any(|s| s["status"] == status)).await;
        all.into_iter().find(|s| s["status"] == status).unwrap()
    }

    /// Waits for the POST that carries the inbound message `wamid`.
    pub async fn message_post(&self, wamid: &str) -> Received {
        eventually(&format!("the webhook of {wamid}"), || {
            self.received().into_iter().find(|r| items(&r.json(), "messages").iter().any(|m| m["id"] == wamid))
        })
        .await
    }
}

/// The items of list `key` (`statuses`, `messages`, `errors`) across every entry and change.
pub fn items(body: &Value, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in body["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            out.extend(change["value"][key].as_array().into_iter().flatten().cloned());
        }
    }
    out
}

/// The status names of `statuses`, in order.
pub fn names(statuses: &[Value]) -> Vec<String> {
    statuses.iter().map(|s| s["status"].as_str().unwrap().to_owned()).collect()
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

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        /// A fixture from `tests/fixtures/`, parsed.
        pub fn fixture(name: &str) -> Value {
            let text = match name {
                $($name => include_str!(concat!("../fixtures/", $name)),)*
                other => panic!("no fixture {other}"),
            };
            serde_json::from_str(text).unwrap()
        }
    };
}

fixtures!(
    "bindambc-status-failed-131047.json",
    "bindambc-status-failed-131053.json",
    "bindambc-status-sent-cbp-business-initiated.json",
    "bindambc-text.json",
    "bsuid-contacts-contact-request.json",
    "bsuid-status-delivered-no-phone.json",
    "bsuid-system-user-changed-number.json",
    "bsuid-system-user-changed-user-id.json",
    "bsuid-text-username-no-phone.json",
    "bsuid-text-with-phone.json",
    "pywa-audio-voice.json",
    "pywa-button-quick-reply.json",
    "pywa-contacts.json",
    "pywa-document.json",
    "pywa-image-with-url.json",
    "pywa-image.json",
    "pywa-interactive-button-reply.json",
    "pywa-interactive-list-reply.json",
    "pywa-interactive-nfm-reply.json",
    "pywa-location.json",
    "pywa-order.json",
    "pywa-reaction-removed.json",
    "pywa-reaction.json",
    "pywa-status-delivered.json",
    "pywa-status-failed-130472.json",
    "pywa-status-played.json",
    "pywa-status-read.json",
    "pywa-status-sent-biz-opaque.json",
    "pywa-status-sent.json",
    "pywa-sticker-animated.json",
    "pywa-system-identity-changed.json",
    "pywa-system-user-changed-number.json",
    "pywa-template-status-approved.json",
    "pywa-text-referral-ctwa.json",
    "pywa-text-reply-context.json",
    "pywa-text.json",
    "pywa-unsupported.json",
    "pywa-value-errors-131000.json",
    "pywa-video-forwarded.json",
);

/// Every key path in `value` with the JSON types seen there, array indices
/// left out: `entry.changes.value.statuses.id` → {"string"}.
pub fn shape(value: &Value) -> BTreeMap<String, BTreeSet<&'static str>> {
    fn kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    fn walk(value: &Value, prefix: &str, out: &mut BTreeMap<String, BTreeSet<&'static str>>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    out.entry(path.clone()).or_default().insert(kind(child));
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
    let mut out = BTreeMap::new();
    walk(value, "", &mut out);
    out
}

/// Compares the structure of `ours` with a fixture: the same key paths with
/// the same JSON types. `fixture_only` and `ours_only` list the documented
/// differences (path prefixes); anything else that differs fails.
pub fn assert_same_shape(ours: &Value, fixture: &Value, fixture_only: &[&str], ours_only: &[&str]) {
    let ours_shape = shape(ours);
    let fixture_shape = shape(fixture);
    let covered = |path: &String, prefixes: &[&str]| {
        prefixes.iter().any(|prefix| path == prefix || path.starts_with(&format!("{prefix}.")))
    };
    let missing: Vec<&String> =
        fixture_shape.keys().filter(|p| !ours_shape.contains_key(*p) && !covered(p, fixture_only)).collect();
    let extra: Vec<&String> =
        ours_shape.keys().filter(|p| !fixture_shape.contains_key(*p) && !covered(p, ours_only)).collect();
    let retyped: Vec<String> = ours_shape
        .iter()
        .filter_map(|(path, types)| {
            let theirs = fixture_shape.get(path)?;
            (types != theirs).then(|| format!("{path}: ours {types:?}, fixture {theirs:?}"))
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && retyped.is_empty(),
        "shape differs from the fixture: missing {missing:?}, extra {extra:?}, types {retyped:?}\nours: {ours}"
    );
    // The documented differences must really be differences, or the list is stale.
    for prefix in fixture_only {
        assert!(!ours_shape.contains_key(*prefix), "{prefix} is listed as fixture-only but the sandbox sends it");
    }
    for prefix in ours_only {
        assert!(
            ours_shape.contains_key(*prefix),
            "{prefix} is listed as sandbox-only but the sandbox does not send it"
        );
    }
}
