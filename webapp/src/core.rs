//! Clients of the coreapps named in `WA_CORE_ADDRS`, and the mapping of
//! their gRPC errors back to on-prem errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proto::core::core_client::CoreClient;
use tonic::transport::{Channel, Endpoint};
use wire::{ApiError, ErrorCode};

#[derive(Clone)]
pub struct Cores {
    clients: Arc<Vec<CoreClient<Channel>>>,
    /// Separate connections for media transfers: no overall deadline (a
    /// 100 MB file over a slow link takes its time), and bulk bytes do not
    /// queue in front of small calls.
    media_clients: Arc<Vec<CoreClient<Channel>>>,
    next: Arc<AtomicUsize>,
}

impl Cores {
    /// Prepares a lazily connected channel per address; nothing is dialled
    /// until the first request, so the webapp may start before its coreapps.
    pub fn new(addrs: &[String]) -> anyhow::Result<Self> {
        let mut clients = Vec::with_capacity(addrs.len());
        let mut media_clients = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let uri = if addr.contains("://") { addr.clone() } else { format!("http://{addr}") };
            let endpoint = Endpoint::from_shared(uri)
                .map_err(|e| anyhow::anyhow!("WA_CORE_ADDRS entry '{addr}' is not valid: {e}"))?
                .connect_timeout(Duration::from_secs(3))
                .tcp_nodelay(true);
            clients.push(CoreClient::new(endpoint.clone().timeout(Duration::from_secs(45)).connect_lazy()));
            let media = endpoint
                .initial_stream_window_size(proto::MEDIA_WINDOW)
                .initial_connection_window_size(proto::MEDIA_WINDOW)
                .connect_lazy();
            media_clients.push(CoreClient::new(media));
        }
        Ok(Cores {
            clients: Arc::new(clients),
            media_clients: Arc::new(media_clients),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len()
    }

    /// Any coreapp (round robin).
    pub fn any(&self) -> CoreClient<Channel> {
        self.clients[self.pick()].clone()
    }

    /// Any coreapp, on its media connection. Every coreapp serves every
    /// media id (they share the volume).
    pub fn media(&self) -> CoreClient<Channel> {
        self.media_clients[self.pick()].clone()
    }

    /// The coreapp that owns a recipient (`crc32(to) % n`, as the old
    /// client routed), so one contact's messages keep their order.
    pub fn for_recipient(&self, recipient: &str) -> CoreClient<Channel> {
        let i = crc32fast::hash(recipient.as_bytes()) as usize % self.clients.len();
        self.clients[i].clone()
    }
}

/// Maps a coreapp answer back to the on-prem error it carries. A status
/// without our metadata means the coreapp could not be reached or failed
/// before answering.
pub fn to_api_error(status: tonic::Status) -> ApiError {
    let code = status
        .metadata()
        .get(proto::ERROR_CODE_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())
        .and_then(ErrorCode::from_number);
    match code {
        Some(code) => {
            let mut api = ApiError::new(code, status.message());
            if status.code() == tonic::Code::Unauthenticated {
                api.status_override = Some(401);
            }
            api
        }
        None => {
            tracing::error!(grpc_code = ?status.code(), message = status.message(), "coreapp call failed");
            ApiError::new(ErrorCode::InternalError, "Unable to reach coreapp. Please check if it is running")
        }
    }
}
