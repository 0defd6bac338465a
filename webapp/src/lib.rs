//! webapp: the on-prem REST API edge. Serves HTTPS, authenticates,
//! validates, answers in the on-prem envelope, and forwards work to the
//! coreapps over gRPC. Holds no database connection and no volume.

pub mod auth;
pub mod config;
pub mod coreapps;
pub mod edge;
pub mod envelope;
pub mod handlers;
pub mod limits;
pub mod metrics;
pub mod router;
pub mod selfcheck;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::http::{HeaderName, HeaderValue};
// Answers go out as written (TCP_NODELAY): an answer written in pieces
// otherwise waits on the client's delayed acknowledgement of the first.
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::RustlsAcceptor;
use tower::Layer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use wire::error::Meta;

pub use config::Config;

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub cores: coreapps::Cores,
    pub auth: Arc<auth::Auth>,
    pub limits: Arc<limits::Limits>,
    /// The served certificate, when this webapp serves TLS itself.
    pub tls: Option<Arc<tls::Live>>,
    pub metrics: Arc<metrics::WebMetrics>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A fresh 32-hex request id when the client sent none.
#[derive(Clone, Copy)]
struct HexRequestId;

impl MakeRequestId for HexRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&wire::ids::random_hex(16)).ok().map(RequestId::new)
    }
}

/// Legacy clients send header names with underscores (`CONTENT_TYPE`,
/// `AUTHORIZATION`); treat them as their dashed forms.
async fn underscore_headers(mut req: Request) -> Request {
    let renamed: Vec<(HeaderName, HeaderValue)> = req
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().contains('_'))
        .filter_map(|(name, value)| {
            let dashed = HeaderName::from_bytes(name.as_str().replace('_', "-").as_bytes()).ok()?;
            Some((dashed, value.clone()))
        })
        .collect();
    for (name, value) in renamed {
        if !req.headers().contains_key(&name) {
            req.headers_mut().insert(name, value);
        }
    }
    req
}

/// The complete application: routes, envelope rendering, request ids,
/// legacy header names, trailing slashes.
pub fn app(state: AppState) -> IntoMakeServiceWithConnectInfo<NormalizePath<axum::Router>, SocketAddr> {
    let meta = Meta::stable(state.config.version.clone());
    let shared_edge = edge::Edge::new(state.config.edge.clone(), state.metrics.clone());
    let router = router::routes()
        .layer(axum::middleware::from_fn_with_state(shared_edge, edge::requests))
        .layer(axum::middleware::from_fn(envelope::rejections))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(axum::middleware::map_response_with_state(meta, envelope::render))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            // A method outside the known list is logged as `other`: it may
            // be anything, of any length.
            let method = metrics::method_label(req.method()).unwrap_or(metrics::OTHER_METHOD);
            tracing::info_span!("request", method, path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, HexRequestId))
        .layer(axum::middleware::map_request(underscore_headers))
        .with_state(state);
    // Trailing slashes are trimmed before routing, so `/v1/messages/` works.
    let normalized = NormalizePathLayer::trim_trailing_slash().layer(router);
    axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(normalized)
}

/// Asks the coreapps until one answers (a webapp may start first).
async fn from_core<T, F, Fut>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, wire::ApiError>>,
{
    let mut tries = 0u32;
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e) => {
                if tries.is_multiple_of(10) {
                    tracing::warn!(error = %e, "waiting for a coreapp to provide the {what}");
                }
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Serves the REST API on `listener` until `shutdown` resolves, then stops
/// accepting and lets requests in flight finish (bounded by a grace period).
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(config = %config.describe(), "webapp starting");
    let cores = coreapps::Cores::new(&config.core_addrs, &config.cluster)?;
    let jwt_key = match &config.jwt_key {
        Some(k) => k.clone(),
        None => {
            from_core("token signing key", || {
                let c = cores.any().quiet();
                async move { c.auth_config(proto::core::Empty {}).await }
            })
            .await
            .jwt_key
        }
    };
    let auth = Arc::new(auth::Auth::new(&jwt_key, config.api_key.clone()));
    let tls = if config.tls {
        let servername = config.servername.clone();
        let pem = from_core("TLS certificate", || {
            let (cores, servername) = (cores.clone(), servername.clone());
            async move { tls::shared_certificate(&cores, &servername).await }
        })
        .await;
        Some(Arc::new(tls::Live::start(pem).await?))
    } else {
        None
    };

    let limits = limits::Limits {
        messages: (config.messages_rps > 0)
            .then(|| limits::Bucket::new(f64::from(config.messages_rps), f64::from(config.messages_burst.max(1)))),
    };
    let state = AppState {
        config: Arc::new(config),
        cores,
        auth,
        limits: Arc::new(limits),
        tls: tls.clone(),
        metrics: Arc::new(metrics::WebMetrics::new()),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(auth::revocation_loop(state.clone(), state.config.revocation_poll, stop_rx.clone()));
    let watcher = tokio::spawn(state.cores.clone().watch(stop_rx.clone()));
    let cert_watcher = tls.clone().map(|live| tokio::spawn(live.watch(state.cores.clone(), stop_rx)));

    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        stopper.graceful_shutdown(Some(Duration::from_secs(20)));
    });

    let addr = listener.local_addr()?;
    let server = axum_server::from_tcp(listener.into_std()?)?.handle(handle);
    let limits = state.config.edge.clone();
    let metrics = state.metrics.clone();
    let app = app(state);
    tracing::info!(%addr, tls = tls.is_some(), "webapp serving the on-prem API");
    // Every connection, TLS or not, goes through the edge's acceptor: the
    // connection cap, and a watchdog on what the client does with it.
    match tls {
        Some(tls) => {
            let tls =
                RustlsAcceptor::new(tls.rustls()).handshake_timeout(limits.header_timeout).acceptor(NoDelayAcceptor);
            server.acceptor(edge::conn::Acceptor::new(tls, &limits, metrics)).serve(app).await?
        }
        None => server.acceptor(edge::conn::Acceptor::new(NoDelayAcceptor, &limits, metrics)).serve(app).await?,
    }
    poller.abort();
    watcher.abort();
    if let Some(w) = cert_watcher {
        w.abort();
    }
    Ok(())
}
