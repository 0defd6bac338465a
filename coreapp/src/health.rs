//! Gateway health: is the database reachable, and does Cloud accept our
//! token? The Cloud probe runs in the background every few seconds, so a
//! health request never waits on Cloud and never multiplies Cloud calls.
//!
//! Every coreapp also registers in the `nodes` table and heartbeats there
//! every `heartbeat_interval` with its status, so any node can report on
//! all of them (the multiconnect `/v1/health`); a node silent for
//! `unhealthy_interval` is reported as gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::Core;
use crate::clients::cloud::{CloudClient, ProbeError};
use crate::store::db::now_ms;
use crate::store::nodes::{self, Node};

/// Nodes silent this long are forgotten (scaled down, or gone for good).
const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;

/// This node's gateway status and the problems behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// `connected`, `connecting`, `disconnected` or `unregistered`.
    pub status: &'static str,
    /// On-prem error codes and details.
    pub errors: Vec<(u32, String)>,
}

/// The status from a database check and the last Cloud probe.
pub fn gateway(db_ok: bool, cloud: &CloudHealth) -> Gateway {
    let mut errors = Vec::new();
    if !db_ok {
        errors.push((1023, "Database is not reachable".to_string()));
    }
    let status = match (cloud, db_ok) {
        (_, false) => "disconnected",
        (CloudHealth::Ok { .. }, true) => "connected",
        (CloudHealth::Unknown, true) => "connecting",
        (CloudHealth::Failed(ProbeError::NotConfigured | ProbeError::Rejected(_)), true) => "unregistered",
        (CloudHealth::Failed(ProbeError::Unreachable(_)), true) => "disconnected",
    };
    match cloud {
        CloudHealth::Failed(ProbeError::NotConfigured) => {
            errors.push((1011, "Cloud API access token or phone number id is not configured".into()))
        }
        CloudHealth::Failed(ProbeError::Rejected(why)) => {
            errors.push((1005, format!("Cloud API rejected the configured token or phone number id: {why}")))
        }
        CloudHealth::Failed(ProbeError::Unreachable(why)) => {
            errors.push((1014, format!("Cloud API is not reachable: {why}")))
        }
        _ => {}
    }
    Gateway { status, errors }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CloudHealth {
    /// No probe has finished yet.
    Unknown,
    Ok {
        display_phone_number: String,
    },
    Failed(ProbeError),
}

#[derive(Clone)]
pub struct HealthState {
    cloud: Arc<Mutex<CloudHealth>>,
    /// Whether the last heartbeat reached the database.
    db_ok: Arc<AtomicBool>,
}

impl HealthState {
    pub fn new() -> Self {
        HealthState { cloud: Arc::new(Mutex::new(CloudHealth::Unknown)), db_ok: Arc::new(AtomicBool::new(true)) }
    }

    /// Whether this node could reach its database at the last heartbeat.
    pub fn db_ok(&self) -> bool {
        self.db_ok.load(Ordering::Relaxed)
    }

    pub fn cloud(&self) -> CloudHealth {
        self.cloud.lock().expect("health lock").clone()
    }

    fn set(&self, h: CloudHealth) {
        *self.cloud.lock().expect("health lock") = h;
    }

    /// The business number as digits, once Cloud told us.
    pub fn wa_id(&self) -> Option<String> {
        match self.cloud() {
            CloudHealth::Ok { display_phone_number } if !display_phone_number.is_empty() => Some(display_phone_number),
            _ => None,
        }
    }
}

impl Default for HealthState {
    fn default() -> Self {
        Self::new()
    }
}

/// Probes Cloud every `interval` until shutdown.
pub async fn probe_loop(
    state: HealthState,
    client: CloudClient,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let result = client.probe().await;
        let next = match result {
            Ok(display_phone_number) => CloudHealth::Ok { display_phone_number },
            Err(e) => {
                if state.cloud() != CloudHealth::Failed(e.clone()) {
                    tracing::warn!(problem = ?e, "Cloud API health probe failed");
                }
                CloudHealth::Failed(e)
            }
        };
        state.set(next);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Registers this node and heartbeats every `heartbeat_interval` until
/// shutdown; then removes the registration (a node that stopped on purpose
/// is not reported as failed).
/// Where a coreapp serving on `port` keeps its own view of its health, for
/// `coreapp health` (a container's healthcheck) to read on the same host:
/// the gRPC port itself needs the webapps' credentials, which a coreapp
/// host does not hold.
pub fn state_file(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("wa-coreapp-{port}.health"))
}

/// `coreapp health`: whether the coreapp serving on `port` on this host
/// heartbeats and reaches its database.
pub fn check_state_file(port: u16) -> Result<(), String> {
    let path = state_file(port);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("no health state at {} (not started yet?): {e}", path.display()))?;
    let state: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("unreadable health state: {e}"))?;
    let at = state["at_ms"].as_i64().unwrap_or_default();
    let every = state["every_ms"].as_i64().unwrap_or(5_000);
    let age = now_ms() - at;
    if age > 2 * every + 10_000 {
        return Err(format!("no heartbeat for {} s", age / 1000));
    }
    if state["db_ok"] != serde_json::Value::Bool(true) {
        return Err("the database is not reachable".into());
    }
    Ok(())
}

pub async fn heartbeat_loop(core: Arc<Core>, mut shutdown: watch::Receiver<bool>, state: Option<std::path::PathBuf>) {
    let started_at = now_ms();
    loop {
        let now = now_ms();
        let status = gateway(core.health.db_ok(), &core.health.cloud()).status;
        let node = Node {
            node_id: core.config.node_id.clone(),
            instance: core.owner.clone(),
            gateway_status: status.to_string(),
            started_at,
            heartbeat_at: now,
        };
        let beat = core
            .db
            .run(move |conn| {
                nodes::heartbeat(conn, &node)?;
                nodes::prune(conn, now - FORGET_AFTER_MS)?;
                Ok(())
            })
            .await;
        // An outage is logged once, where it is found.
        if let Err(e) = &beat
            && !e.is_unavailable()
        {
            tracing::warn!(error = %e, "heartbeat did not reach the database");
        }
        core.health.db_ok.store(beat.is_ok(), Ordering::Relaxed);
        let every = core.settings().await.map(|s| s.heartbeat_interval).unwrap_or(5).max(1);
        if let Some(path) = &state {
            let body = serde_json::json!({"at_ms": now, "every_ms": i64::from(every) * 1000, "db_ok": beat.is_ok()});
            if let Err(e) = std::fs::write(path, body.to_string()) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the health state file");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(u64::from(every))) => {}
            _ = shutdown.changed() => break,
        }
    }
    if let Some(path) = &state {
        let _ = std::fs::remove_file(path);
    }
    let (node_id, instance) = (core.config.node_id.clone(), core.owner.clone());
    if let Err(e) = core.db.run(move |conn| Ok(nodes::deregister(conn, &node_id, &instance)?)).await {
        tracing::warn!(error = %e, "could not deregister this node");
    }
}

/// Every registered node as the health report shows it: this one with its
/// status of this moment, the others with their last heartbeat.
pub async fn cluster(core: &Core) -> Result<(Gateway, Vec<(Node, bool)>), crate::error::CoreError> {
    let listed = core.db.run(|conn| Ok(nodes::all(conn)?)).await;
    let here = gateway(listed.is_ok(), &core.health.cloud());
    let unhealthy_ms = i64::from(core.settings().await.map(|s| s.unhealthy_interval).unwrap_or(30)) * 1000;
    let now = now_ms();
    let mut nodes: Vec<(Node, bool)> = listed
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.node_id != core.config.node_id)
        .map(|n| {
            let alive = now - n.heartbeat_at <= unhealthy_ms;
            (n, alive)
        })
        .collect();
    let me = Node {
        node_id: core.config.node_id.clone(),
        instance: core.owner.clone(),
        gateway_status: here.status.to_string(),
        started_at: 0,
        heartbeat_at: now,
    };
    nodes.push((me, true));
    nodes.sort_by(|a, b| a.0.node_id.cmp(&b.0.node_id));
    Ok((here, nodes))
}
