//! Talking to the webapps as a legacy client does: credentials, calls,
//! uploads and downloads, and the answers in the on-prem envelope.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::*;

impl Stack {
    /// A request to the first webapp.
    pub async fn call(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
        self.call_on(0, method, path, auth, body).await
    }

    pub async fn call_on(&self, web: usize, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
        let mut req = auth.apply(self.http.request(method, format!("{}{path}", self.webs[web])));
        if let Some(b) = body {
            req = req.json(&b);
        }
        Answer::read(req.send().await.expect("request reaches the webapp")).await
    }

    /// `POST /v1/users/login` with HTTP Basic and an optional body.
    pub async fn login(&self, user: &str, password: &str, body: Option<Value>) -> Answer {
        self.call(Method::POST, "/v1/users/login", Auth::Basic(user, password), body).await
    }

    /// A request with a raw body and content type; the raw response.
    pub async fn raw_on(
        &self,
        web: usize,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = auth.apply(self.http.request(method, format!("{}{path}", self.webs[web])).body(body));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req.send().await.expect("request reaches the webapp")
    }

    /// The certificate webapp `web` presents to a new connection (the shared
    /// client would reuse a connection made before a certificate change).
    pub async fn fresh_peer_certificate(&self, web: usize) -> Option<Vec<u8>> {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .tls_info(true)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let r = client.get(format!("{}/", self.webs[web])).send().await.ok()?;
        r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
    }

    /// Logs in as admin, changing the factory password on first use.
    pub async fn admin_token(&self) -> String {
        let a = self.call(Method::POST, "/v1/users/login", Auth::Basic("admin", ADMIN_PASSWORD), None).await;
        if a.status == StatusCode::OK {
            return a.token();
        }
        let body = serde_json::json!({"new_password": ADMIN_PASSWORD});
        let a = self.call(Method::POST, "/v1/users/login", Auth::Basic("admin", "secret"), Some(body)).await;
        assert_eq!(a.status, StatusCode::OK, "first admin login: {}", a.body);
        a.token()
    }

    /// `POST /v1/media` with a raw body; no `Content-Type` when `None`.
    pub async fn upload(&self, token: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Answer {
        self.upload_on(0, token, content_type, bytes).await
    }

    pub async fn upload_on(&self, web: usize, token: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Answer {
        let mut req = self.http.post(format!("{}/v1/media", self.webs[web])).bearer_auth(token).body(bytes);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        Answer::read(req.send().await.expect("request reaches the webapp")).await
    }

    /// `GET /v1/media/{id}`: the status, headers and raw bytes.
    pub async fn download(&self, token: &str, id: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        self.download_on(0, token, id).await
    }

    pub async fn download_on(
        &self,
        web: usize,
        token: &str,
        id: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self.http.get(format!("{}/v1/media/{id}", self.webs[web])).bearer_auth(token).send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.bytes().await.expect("the whole download").to_vec())
    }

    /// Points `webhooks.url` at the receiver.
    pub async fn use_receiver(&self, token: &str) {
        let patch = serde_json::json!({"webhooks": {"url": self.receiver.url()}});
        let a = self.call(Method::PATCH, "/v1/settings/application", Auth::Bearer(token), Some(patch)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
}

/// Credentials for a request.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
    ApiKey(&'a str),
}

impl Auth<'_> {
    fn apply(self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::ApiKey(k) => req.header("Authorization", format!("Apikey {k}")),
        }
    }
}

/// A webapp answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// DER of the certificate the webapp presented.
    pub peer_certificate: Option<Vec<u8>>,
}

impl Answer {
    pub async fn read(r: reqwest::Response) -> Answer {
        let status = r.status();
        let headers = r.headers().clone();
        let peer_certificate =
            r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|i| i.peer_certificate().map(<[u8]>::to_vec));
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, headers, body, peer_certificate }
    }

    /// The first error's code.
    pub fn error_code(&self) -> Option<u64> {
        self.body.pointer("/errors/0/code").and_then(Value::as_u64)
    }

    pub fn token(&self) -> String {
        self.body.pointer("/users/0/token").and_then(Value::as_str).expect("a token").to_string()
    }

    /// Asserts an on-prem error with this HTTP status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64) {
        assert_eq!(self.status.as_u16(), status, "HTTP status of {}", self.body);
        assert_eq!(self.error_code(), Some(code), "error code of {}", self.body);
        assert!(self.body.get("meta").is_some(), "meta missing in {}", self.body);
    }
}
