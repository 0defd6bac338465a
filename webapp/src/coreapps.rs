//! Clients of the coreapps named in `WA_CORE_ADDRS`: which node a call goes
//! to ([`Cores`]), and the calls themselves with on-prem errors
//! ([`calls::CoreApi`]).

mod calls;

pub use calls::{CoreApi, api_error};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use proto::cluster::{LinkConfig, Security};
use proto::core::core_client::CoreClient;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use wire::ApiError;

/// The coreapps a webapp talks to, with their health.
///
/// Each entry of `WA_CORE_ADDRS` is a host name (or address) and port. Names
/// are resolved again every few seconds, and every address they resolve to
/// is a node of its own, so `docker compose --scale coreapp=3` behind one
/// name spreads over all three. Each node is pinged every second; one that
/// does not answer, or cannot reach its database, is taken out of rotation
/// until it answers again (two missed pings, or one call that could not
/// reach it). Requests go to healthy nodes only; when none is
/// known healthy they go to the configured names themselves (the call then
/// fails, or finds a node that came back).
#[derive(Clone)]
pub struct Cores {
    inner: Arc<Inner>,
}

struct Inner {
    /// The configured entries, each with channels on the name itself.
    configured: Vec<Configured>,
    /// Mutual TLS for every channel, when cluster credentials are set.
    tls: Option<ClientTlsConfig>,
    /// Resolved nodes, sorted by address so every webapp orders them alike.
    nodes: RwLock<Vec<Node>>,
    next: AtomicUsize,
}

struct Configured {
    /// `host:port` as configured.
    target: String,
    fallback: Clients,
}

#[derive(Clone)]
struct Clients {
    /// Ordinary calls, with the old client's 45 s deadline.
    calls: CoreClient<Channel>,
    /// Separate connections for media transfers: no overall deadline (a
    /// 100 MB file over a slow link takes its time), and bulk bytes do not
    /// queue in front of small calls.
    media: CoreClient<Channel>,
}

#[derive(Clone)]
struct Node {
    addr: SocketAddr,
    clients: Clients,
    healthy: bool,
    /// Pings missed in a row.
    misses: u32,
}

/// How often nodes are pinged, and names resolved again.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Pings missed in a row that take a node out of rotation (one answer puts
/// it back). A call that cannot reach a node takes it out at once.
const MISSES_TO_FAIL: u32 = 2;
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const RESOLVE_EVERY: u32 = 5;

/// Channels to `target` (`host:port`): HTTPS with the cluster credentials
/// when set (the coreapp's certificate is checked for the cluster name,
/// whatever address was dialled), else plain HTTP/2.
fn clients(target: &str, tls: Option<&ClientTlsConfig>, what: &str) -> anyhow::Result<Clients> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{target}"))
        .map_err(|e| anyhow::anyhow!("WA_CORE_ADDRS entry '{what}' is not valid: {e}"))?;
    if let Some(tls) = tls {
        endpoint =
            endpoint.tls_config(tls.clone()).map_err(|e| anyhow::anyhow!("cannot use the cluster credentials: {e}"))?;
    }
    let endpoint = endpoint
        .connect_timeout(Duration::from_secs(3))
        // A coreapp host that drops off the network sends no reset: HTTP/2
        // pings find the dead connection within seconds, so calls on it
        // fail instead of waiting out their deadline.
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(2))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    let calls = CoreClient::new(endpoint.clone().timeout(Duration::from_secs(45)).connect_lazy())
        .max_decoding_message_size(proto::MAX_MESSAGE);
    let media = endpoint
        .initial_stream_window_size(proto::MEDIA_WINDOW)
        .initial_connection_window_size(proto::MEDIA_WINDOW)
        .connect_lazy();
    Ok(Clients { calls, media: CoreClient::new(media) })
}

// === impl Cores ===

impl Cores {
    /// Prepares the configured entries; nothing is dialled or resolved
    /// until [`Cores::watch`] runs or the first request, so the webapp may
    /// start before its coreapps.
    ///
    /// Without cluster credentials every entry must be on loopback, unless
    /// the insecure switch is set: the link carries passwords, the token
    /// signing key and messages.
    pub fn new(addrs: &[String], link: &LinkConfig) -> anyhow::Result<Self> {
        let tls = link.credentials.as_ref().map(|c| c.client_tls());
        let mut configured = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let target =
                addr.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/').to_string();
            let Some((host, _port)) = target.rsplit_once(':') else {
                anyhow::bail!("WA_CORE_ADDRS entry '{addr}' needs a port (host:port)");
            };
            match link.decide(host) {
                Ok(Security::PlainInsecure) => tracing::error!(
                    coreapp = %target,
                    "INSECURE: plain gRPC to a coreapp beyond loopback (WA_CLUSTER_INSECURE): passwords and \
                     keys cross the network unprotected"
                ),
                Ok(_) => {}
                Err(refusal) => anyhow::bail!("WA_CORE_ADDRS entry '{addr}': {refusal}"),
            }
            configured.push(Configured { fallback: clients(&target, tls.as_ref(), addr)?, target });
        }
        if configured.is_empty() {
            anyhow::bail!("WA_CORE_ADDRS names no coreapp");
        }
        let inner = Inner { configured, tls, nodes: RwLock::new(Vec::new()), next: AtomicUsize::new(0) };
        Ok(Cores { inner: Arc::new(inner) })
    }

    /// The healthy nodes' clients, in address order; the configured names'
    /// when no node is known healthy.
    fn healthy(&self) -> Vec<(Option<SocketAddr>, Clients)> {
        let nodes = self.inner.nodes.read().expect("nodes lock");
        let healthy: Vec<_> = nodes.iter().filter(|n| n.healthy).map(|n| (Some(n.addr), n.clients.clone())).collect();
        if healthy.is_empty() {
            return self.inner.configured.iter().map(|c| (None, c.fallback.clone())).collect();
        }
        healthy
    }

    /// The healthy nodes but those in `avoid`; all healthy ones when that
    /// leaves none.
    fn usable(&self, avoid: &[SocketAddr]) -> Vec<(Option<SocketAddr>, Clients)> {
        let all = self.healthy();
        let usable: Vec<_> = all.iter().filter(|(a, _)| a.is_none_or(|a| !avoid.contains(&a))).cloned().collect();
        if usable.is_empty() { all } else { usable }
    }

    fn round_robin(&self) -> (Option<SocketAddr>, Clients) {
        let mut healthy = self.healthy();
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % healthy.len();
        healthy.swap_remove(i)
    }

    /// Any healthy coreapp (round robin).
    pub fn any(&self) -> CoreApi {
        CoreApi::new(self.round_robin().1.calls)
    }

    /// Any healthy coreapp but those in `avoid` (which just failed), with
    /// its address when it is a resolved node.
    fn any_avoiding(&self, avoid: &[SocketAddr]) -> (Option<SocketAddr>, CoreClient<Channel>) {
        let mut usable = self.usable(avoid);
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % usable.len();
        let (addr, clients) = usable.swap_remove(i);
        (addr, clients.calls)
    }

    /// One client per healthy coreapp (every configured entry when none is
    /// known healthy), for questions each node answers for itself.
    pub fn each(&self) -> Vec<CoreApi> {
        self.healthy().into_iter().map(|(_, c)| CoreApi::new(c.calls)).collect()
    }

    /// Any healthy coreapp, on its media connection. Every coreapp serves
    /// every media id (they share the volume).
    pub fn media(&self) -> CoreApi {
        CoreApi::new(self.round_robin().1.media)
    }

    /// The coreapp that owns a recipient (`crc32(to) % healthy`, as the old
    /// client routed), so one contact's messages keep their order; nodes in
    /// `avoid` (which just failed) are passed over.
    fn for_recipient(&self, recipient: &str, avoid: &[SocketAddr]) -> (Option<SocketAddr>, CoreClient<Channel>) {
        let mut usable = self.usable(avoid);
        let i = crc32fast::hash(recipient.as_bytes()) as usize % usable.len();
        let (addr, clients) = usable.swap_remove(i);
        (addr, clients.calls)
    }

    /// Takes a node out of rotation at once (a call to it failed to
    /// connect); the next successful ping puts it back.
    pub fn mark_down(&self, addr: SocketAddr) {
        let mut nodes = self.inner.nodes.write().expect("nodes lock");
        if let Some(n) = nodes.iter_mut().find(|n| n.addr == addr)
            && n.healthy
        {
            n.healthy = false;
            n.misses = MISSES_TO_FAIL;
            tracing::warn!(%addr, "coreapp taken out of rotation: a call could not reach it");
        }
    }

    /// Addresses of the nodes and whether each is in rotation.
    pub fn nodes(&self) -> Vec<(SocketAddr, bool)> {
        self.inner.nodes.read().expect("nodes lock").iter().map(|n| (n.addr, n.healthy)).collect()
    }

    /// Resolves the configured names and pings every node, until shutdown.
    pub async fn watch(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut round = 0u32;
        loop {
            if round.is_multiple_of(RESOLVE_EVERY) {
                self.resolve().await;
            }
            round = round.wrapping_add(1);
            self.ping_all().await;
            tokio::select! {
                _ = tokio::time::sleep(PING_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn resolve(&self) {
        let mut found = Vec::new();
        for c in &self.inner.configured {
            match tokio::net::lookup_host(c.target.as_str()).await {
                Ok(addrs) => found.extend(addrs),
                Err(e) => tracing::warn!(target = %c.target, error = %e, "cannot resolve a coreapp address"),
            }
        }
        found.sort();
        found.dedup();
        let mut nodes = self.inner.nodes.write().expect("nodes lock");
        let before = nodes.len();
        nodes.retain(|n| found.contains(&n.addr));
        for addr in found {
            if !nodes.iter().any(|n| n.addr == addr) {
                match clients(&addr.to_string(), self.inner.tls.as_ref(), &addr.to_string()) {
                    // New nodes join once a ping answered.
                    Ok(clients) => nodes.push(Node { addr, clients, healthy: false, misses: MISSES_TO_FAIL }),
                    Err(e) => tracing::warn!(%addr, error = %e, "cannot use a coreapp address"),
                }
            }
        }
        nodes.sort_by_key(|n| n.addr);
        if nodes.len() != before {
            tracing::info!(nodes = nodes.len(), "coreapp addresses resolved");
        }
    }

    async fn ping_all(&self) {
        let nodes: Vec<Node> = self.inner.nodes.read().expect("nodes lock").clone();
        let pings = nodes.into_iter().map(|n| async move {
            let mut client = n.clients.calls.clone();
            let answer = tokio::time::timeout(PING_TIMEOUT, client.ping(proto::core::Empty {})).await;
            let ok = matches!(&answer, Ok(Ok(reply)) if reply.get_ref().ready);
            (n.addr, ok)
        });
        let results = futures::future::join_all(pings).await;
        let mut nodes = self.inner.nodes.write().expect("nodes lock");
        for (addr, ok) in results {
            let Some(n) = nodes.iter_mut().find(|n| n.addr == addr) else { continue };
            n.misses = if ok { 0 } else { n.misses.saturating_add(1) };
            let healthy = n.misses < MISSES_TO_FAIL;
            if n.healthy != healthy {
                n.healthy = healthy;
                if healthy {
                    tracing::info!(%addr, "coreapp in rotation");
                } else {
                    tracing::warn!(%addr, "coreapp taken out of rotation: no answer to ping, or no database");
                }
            }
        }
    }
}

/// The JSON document a coreapp answered with; one it cannot have meant is
/// our fault (500/1014), logged with what it was.
pub fn json_of(doc: &proto::core::JsonDoc, what: &str) -> Result<serde_json::Value, ApiError> {
    serde_json::from_str(&doc.json).map_err(|e| {
        tracing::error!(error = %e, "a coreapp sent unreadable {what}");
        ApiError::internal()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_healthy(cores: &Cores, healthy: &[u16]) {
        for n in cores.inner.nodes.write().unwrap().iter_mut() {
            n.healthy = healthy.contains(&n.addr.port());
        }
    }

    fn port(addr: Option<SocketAddr>) -> u16 {
        addr.expect("a resolved node").port()
    }

    #[tokio::test]
    async fn routes_over_healthy_nodes_by_recipient() {
        // Given out of order: nodes are kept in address order, as on every webapp.
        let addrs = ["127.0.0.1:7003".into(), "127.0.0.1:7001".into(), "127.0.0.1:7002".into()];
        let cores = Cores::new(&addrs, &LinkConfig::default()).unwrap();
        // Nothing resolved yet: the configured names themselves.
        assert_eq!(cores.for_recipient("15550001", &[]).0, None);
        cores.resolve().await;
        assert_eq!(cores.nodes().iter().map(|(a, _)| a.port()).collect::<Vec<_>>(), [7001, 7002, 7003]);
        // Resolved but not pinged yet: none in rotation, the names are used.
        assert_eq!(cores.for_recipient("15550001", &[]).0, None);

        set_healthy(&cores, &[7001, 7002, 7003]);
        let owner = |to: &str, cores: &Cores| port(cores.for_recipient(to, &[]).0);
        let ports = [7001, 7002, 7003];
        for to in ["15550001", "15550002", "15550003", "447700900123"] {
            let expected = ports[crc32fast::hash(to.as_bytes()) as usize % 3];
            assert_eq!(owner(to, &cores), expected, "{to}");
            assert_eq!(owner(to, &cores), expected, "the same recipient, the same node");
        }

        // A node out of rotation: recipients spread over the other two.
        cores.mark_down(SocketAddr::from(([127, 0, 0, 1], 7002)));
        let live = [7001, 7003];
        for to in ["15550001", "15550002", "15550003"] {
            assert_eq!(owner(to, &cores), live[crc32fast::hash(to.as_bytes()) as usize % 2], "{to}");
        }
        // A node that just failed is passed over for that request.
        let first = cores.for_recipient("15550001", &[]).0.unwrap();
        let second = port(cores.for_recipient("15550001", &[first]).0);
        assert_ne!(second, first.port());
        assert!(live.contains(&second));

        // Round robin covers the healthy nodes only.
        let seen: std::collections::BTreeSet<u16> = (0..6).map(|_| port(cores.round_robin().0)).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), live);
    }
}
