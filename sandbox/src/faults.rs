//! Fault injection on the Graph API: error answers, 5xx, latency and dropped
//! connections, for a share of matching requests, a number of them, or a
//! while (on the sandbox clock).
//!
//! A fault is `{"match":{…}?, <one action>, "rate"?, "count"?, "duration_ms"?}`
//! with the action one of `"error":{"code",…}`, `"status":503`,
//! `"delay_ms":2000` or `"drop_connection":true`. Delays add up and the
//! request then goes on; the first other fault that fires decides the answer.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use rand::Rng as _;
use serde::Serialize;
use serde_json::Value;

use crate::graph::{GraphError, codes};

/// Which requests a fault applies to; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Match {
    /// A substring of the path after the version, e.g. `messages`, `/media`,
    /// `message_templates`, `attachments` (media downloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An HTTP method, e.g. `POST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The first path segment after the version (the node id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A Graph error with a Cloud code.
    Error(ErrorSpec),
    /// A bare failure with this status (Graph's own 5xx envelope).
    Status(u16),
    /// Added latency, then the request goes on.
    DelayMs(u64),
    /// The connection closes without an answer.
    DropConnection(bool),
}

/// `"error": {"code": 130429, "http"?: 400, "subcode"?: …, "message"?: …, "details"?: …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorSpec {
    pub code: u32,
    pub http: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// One installed fault, as `GET /_sandbox/faults` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub id: String,
    #[serde(rename = "match")]
    pub matcher: Match,
    #[serde(flatten)]
    pub action: Action,
    /// Share of matching requests it fires on.
    pub rate: f64,
    /// Firings left; `None` for unlimited.
    pub remaining: Option<u64>,
    /// Sandbox time (unix ms) it stops at; `None` for never.
    pub expires_at: Option<i64>,
    /// How often it fired so far.
    pub fired: u64,
}

/// What the faults decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub delay: Duration,
    pub answer: Option<Action>,
    pub fired: u64,
}

/// The installed faults. The request path reads only an atomic when there
/// are none.
#[derive(Default)]
pub(crate) struct Faults {
    list: Mutex<Vec<Fault>>,
    installed: AtomicUsize,
    next_id: AtomicU64,
}

// === impl Faults ===

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Vec<Fault>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks a fault description without installing it.
    pub(crate) fn check(&self, spec: &Value, now_ms: i64) -> Result<(), String> {
        parse(spec, String::new(), now_ms).map(|_| ())
    }

    /// Installs a fault described by the control API's JSON.
    pub(crate) fn add(&self, spec: &Value, now_ms: i64) -> Result<Fault, String> {
        let id = format!("f{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let fault = parse(spec, id, now_ms)?;
        let mut list = self.lock();
        list.push(fault.clone());
        self.installed.store(list.len(), Ordering::Relaxed);
        Ok(fault)
    }

    /// The live faults (expired and used-up ones are dropped first).
    pub(crate) fn list(&self, now_ms: i64) -> Vec<Fault> {
        let mut list = self.lock();
        prune(&mut list, now_ms);
        self.installed.store(list.len(), Ordering::Relaxed);
        list.clone()
    }

    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut list = self.lock();
        let before = list.len();
        list.retain(|fault| fault.id != id);
        self.installed.store(list.len(), Ordering::Relaxed);
        list.len() != before
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
        self.installed.store(0, Ordering::Relaxed);
    }

    /// Decides what happens to a request to `path` (after the version).
    pub(crate) fn evaluate(&self, method: &Method, path: &str, now_ms: i64) -> Verdict {
        let mut verdict = Verdict::default();
        if self.installed.load(Ordering::Relaxed) == 0 {
            return verdict;
        }
        let node = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let mut rng = rand::rng();
        let mut list = self.lock();
        prune(&mut list, now_ms);
        for fault in list.iter_mut() {
            if verdict.answer.is_some() && !matches!(fault.action, Action::DelayMs(_)) {
                continue;
            }
            if !fault.matcher.matches(method, path, node) || !rng.random_bool(fault.rate) {
                continue;
            }
            fault.fired += 1;
            verdict.fired += 1;
            if let Some(left) = &mut fault.remaining {
                *left -= 1;
            }
            match &fault.action {
                Action::DelayMs(ms) => verdict.delay += Duration::from_millis(*ms),
                other => verdict.answer = Some(other.clone()),
            }
        }
        prune(&mut list, now_ms);
        self.installed.store(list.len(), Ordering::Relaxed);
        verdict
    }
}

fn prune(list: &mut Vec<Fault>, now_ms: i64) {
    list.retain(|fault| fault.remaining != Some(0) && fault.expires_at.is_none_or(|at| at > now_ms));
}

// === impl Match ===

impl Match {
    fn matches(&self, method: &Method, path: &str, node: &str) -> bool {
        self.path.as_deref().is_none_or(|want| path.contains(want))
            && self.method.as_deref().is_none_or(|want| method.as_str().eq_ignore_ascii_case(want))
            && self.phone_number_id.as_deref().is_none_or(|want| node == want)
    }
}

// === impl Action ===

impl Action {
    /// The answer a terminal action gives.
    pub(crate) fn respond(&self, throttle_status: u16) -> Response {
        match self {
            Action::Error(spec) => {
                let mut err = match &spec.details {
                    Some(details) => GraphError::whatsapp(spec.code, details.clone()),
                    None => GraphError::whatsapp_default(spec.code),
                };
                if let Some(message) = &spec.message {
                    err.message = message.clone();
                }
                let subcode = spec.subcode.or((spec.code == 130_429).then_some(codes::THROUGHPUT_SUBCODE));
                if let Some(subcode) = subcode {
                    err = err.with_subcode(subcode);
                }
                let status =
                    if codes::is_throttling(spec.code) && spec.http == 0 { throttle_status } else { spec.http };
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                err.with_status(status).into_response()
            }
            Action::Status(status) => {
                GraphError::server_failure(StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                    .into_response()
            }
            // A body that fails before its first byte makes hyper close the
            // connection without writing a response: the client sees the
            // connection drop mid-request.
            Action::DropConnection(_) => Response::new(Body::from_stream(futures::stream::once(async {
                Err::<bytes::Bytes, _>(std::io::Error::other("fault: drop connection"))
            }))),
            Action::DelayMs(_) => StatusCode::OK.into_response(),
        }
    }
}

/// Reads a fault from the control API's JSON.
fn parse(spec: &Value, id: String, now_ms: i64) -> Result<Fault, String> {
    let object = spec.as_object().ok_or("a fault must be a JSON object")?;
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "match" | "error" | "status" | "delay_ms" | "drop_connection" | "rate" | "count" | "duration_ms"
        ) {
            return Err(format!("unknown key {key:?}"));
        }
    }
    let matcher = match object.get("match") {
        None | Some(Value::Null) => Match::default(),
        Some(Value::Object(m)) => {
            let text = |key: &str| -> Result<Option<String>, String> {
                match m.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                    Some(_) => Err(format!("match.{key} must be a non-empty string")),
                }
            };
            for key in m.keys() {
                if !matches!(key.as_str(), "path" | "method" | "phone_number_id") {
                    return Err(format!("unknown key match.{key}"));
                }
            }
            Match { path: text("path")?, method: text("method")?, phone_number_id: text("phone_number_id")? }
        }
        Some(_) => return Err("match must be an object".into()),
    };

    let mut actions = Vec::new();
    if let Some(error) = object.get("error") {
        actions.push(Action::Error(parse_error(error)?));
    }
    if let Some(status) = object.get("status") {
        let status = status.as_u64().filter(|s| (400..=599).contains(s)).ok_or("status must be 400 to 599")?;
        actions.push(Action::Status(u16::try_from(status).unwrap_or(500)));
    }
    if let Some(delay) = object.get("delay_ms") {
        let delay = delay.as_u64().filter(|d| *d <= 120_000).ok_or("delay_ms must be 0 to 120000")?;
        actions.push(Action::DelayMs(delay));
    }
    if let Some(drop) = object.get("drop_connection") {
        if drop != &Value::Bool(true) {
            return Err("drop_connection must be true".into());
        }
        actions.push(Action::DropConnection(true));
    }
    if actions.len() != 1 {
        return Err("give exactly one of error, status, delay_ms, drop_connection".into());
    }

    let rate = match object.get("rate") {
        None | Some(Value::Null) => 1.0,
        Some(rate) => rate.as_f64().filter(|r| (0.0..=1.0).contains(r)).ok_or("rate must be between 0 and 1")?,
    };
    let remaining = match object.get("count") {
        None | Some(Value::Null) => None,
        Some(count) => Some(count.as_u64().filter(|c| *c > 0).ok_or("count must be a positive integer")?),
    };
    let expires_at = match object.get("duration_ms") {
        None | Some(Value::Null) => None,
        Some(ms) => {
            let ms = ms.as_i64().filter(|ms| *ms > 0).ok_or("duration_ms must be a positive integer")?;
            Some(now_ms.saturating_add(ms))
        }
    };
    Ok(Fault { id, matcher, action: actions.remove(0), rate, remaining, expires_at, fired: 0 })
}

fn parse_error(error: &Value) -> Result<ErrorSpec, String> {
    let object = error.as_object().ok_or("error must be an object like {\"code\":130429}")?;
    let code = object
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .ok_or("error.code must be a Cloud error code")?;
    let http = match object.get("http") {
        None | Some(Value::Null) => match codes::lookup(code) {
            // 0 means "the throttling status setting" for throttling codes.
            Some(_) if codes::is_throttling(code) => 0,
            Some(row) => row.http,
            None => 400,
        },
        Some(http) => http
            .as_u64()
            .filter(|s| (400..=599).contains(s))
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("error.http must be 400 to 599")?,
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("error.{key} must be a string")),
        }
    };
    let subcode = match object.get("subcode") {
        None | Some(Value::Null) => None,
        Some(s) => Some(s.as_u64().and_then(|s| u32::try_from(s).ok()).ok_or("error.subcode must be a number")?),
    };
    Ok(ErrorSpec { code, http, subcode, message: text("message")?, details: text("details")? })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PATH: &str = "/100000000000001/messages";

    #[test]
    fn counts_and_durations_run_out() {
        let faults = Faults::default();
        faults.add(&json!({"error": {"code": 130429}, "count": 2}), 0).unwrap();
        for _ in 0..2 {
            assert!(faults.evaluate(&Method::POST, PATH, 0).answer.is_some());
        }
        assert!(faults.evaluate(&Method::POST, PATH, 0).answer.is_none());
        assert!(faults.list(0).is_empty());

        faults.add(&json!({"status": 503, "duration_ms": 1000}), 0).unwrap();
        assert!(faults.evaluate(&Method::POST, PATH, 999).answer.is_some());
        assert!(faults.evaluate(&Method::POST, PATH, 1000).answer.is_none());
    }

    #[test]
    fn matching_rate_and_delays() {
        let faults = Faults::default();
        faults.add(&json!({"match": {"path": "messages", "phone_number_id": "100000000000001", "method": "post"}, "drop_connection": true}), 0).unwrap();
        assert!(faults.evaluate(&Method::GET, PATH, 0).answer.is_none());
        assert!(faults.evaluate(&Method::POST, "/100000000000002/messages", 0).answer.is_none());
        assert!(faults.evaluate(&Method::POST, "/100000000000001/media", 0).answer.is_none());
        assert_eq!(faults.evaluate(&Method::POST, PATH, 0).answer, Some(Action::DropConnection(true)));
        faults.clear();

        faults.add(&json!({"delay_ms": 100}), 0).unwrap();
        faults.add(&json!({"delay_ms": 50}), 0).unwrap();
        faults.add(&json!({"error": {"code": 131000}, "rate": 0}), 0).unwrap();
        let verdict = faults.evaluate(&Method::POST, PATH, 0);
        assert_eq!(verdict.delay, Duration::from_millis(150));
        assert!(verdict.answer.is_none(), "rate 0 never fires");
        assert_eq!(faults.list(0)[2].fired, 0);
        assert_eq!(faults.list(0)[0].fired, 1);
        assert!(faults.remove("f4"));
        assert!(!faults.remove("f4"));
    }

    #[test]
    fn bad_specs_are_refused() {
        let faults = Faults::default();
        for bad in [
            json!({}),
            json!({"status": 503, "delay_ms": 1}),
            json!({"status": 200}),
            json!({"error": {}}),
            json!({"error": {"code": 1, "http": 200}}),
            json!({"drop_connection": false}),
            json!({"delay_ms": 1, "rate": 2}),
            json!({"delay_ms": 1, "count": 0}),
            json!({"delay_ms": 1, "bogus": 0}),
            json!({"delay_ms": 1, "match": {"url": "x"}}),
            json!("x"),
        ] {
            assert!(faults.add(&bad, 0).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn error_answers_use_the_code_table() {
        let spec = ErrorSpec { code: 130429, http: 0, subcode: None, message: None, details: None };
        let response = Action::Error(spec).respond(429);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], 130429);
        assert_eq!(body["error"]["error_subcode"], 2494055);
        assert_eq!(body["error"]["message"], "(#130429) Rate limit hit");
        let response = Action::Status(503).respond(400);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
