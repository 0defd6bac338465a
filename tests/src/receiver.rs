//! A stand-in for the business's webhook server: records every POST and
//! can be told to fail.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Value>>,
    /// Bodies of the POSTs answered with an error, in arrival order.
    refused: Mutex<Vec<Value>>,
    /// 0 = answer 200; otherwise answer this status.
    fail_with: AtomicU16,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
    url: String,
}

async fn record(State(inner): State<Arc<Inner>>, body: String) -> StatusCode {
    let fail = inner.fail_with.load(Ordering::SeqCst);
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    if fail != 0 {
        inner.refused.lock().unwrap().push(value);
        return StatusCode::from_u16(fail).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    inner.received.lock().unwrap().push(value);
    StatusCode::OK
}

/// A private CA and a `localhost` server certificate it signed.
pub struct PrivateCa {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl PrivateCa {
    pub fn new() -> PrivateCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "wa-onprem test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server =
            CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&server_key, &issuer).unwrap();
        PrivateCa { ca_pem: ca_cert.pem(), server_cert_pem: server.pem(), server_key_pem: server_key.serialize_pem() }
    }
}

impl Default for PrivateCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// The receiver on another local address (a test host's).
    pub async fn start_on(ip: std::net::IpAddr) -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = Router::new().route("/webhook", post(record)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { inner, url }
    }

    /// The same receiver over HTTPS with a certificate of a private CA,
    /// reached as `https://localhost:<port>/webhook`.
    pub async fn start_tls(ca: &PrivateCa) -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = Router::new().route("/webhook", post(record)).with_state(inner.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://localhost:{}/webhook", listener.local_addr().unwrap().port());
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            ca.server_cert_pem.clone().into_bytes(),
            ca.server_key_pem.clone().into_bytes(),
        )
        .await
        .unwrap();
        listener.set_nonblocking(true).unwrap();
        let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        Receiver { inner, url }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn fail_with(&self, status: u16) {
        self.inner.fail_with.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Value> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The POSTs answered with the `fail_with` status: every delivery
    /// attempt the business's server turned away.
    pub fn refused(&self) -> Vec<Value> {
        self.inner.refused.lock().unwrap().clone()
    }

    /// Waits until the server turned away at least `n` delivery attempts:
    /// proof that deliveries were tried while it failed.
    pub async fn wait_refused(&self, n: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.refused().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} refused attempts within {within:?}",
                self.refused().len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until some received body satisfies `pred`; returns it.
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(v) = self.received().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching webhook within {within:?}; received: {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
