//! `GET /v1/support` (any user): debug information to paste into a
//! support request. Versions, the webapp's view of its coreapps, and each
//! coreapp's own report (health, queues, recent errors); no secrets.

use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Principal;
use crate::envelope::Reply;

pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require_user()?;
    let config = &state.config;
    let routing: Vec<Value> = state
        .cores
        .nodes()
        .into_iter()
        .map(|(addr, healthy)| json!({"address": addr.to_string(), "healthy": healthy}))
        .collect();
    let webapp = json!({
        "version": config.version,
        "build": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.metrics.families().get("web_uptime")
            .and_then(|f| f.samples.first()).and_then(|s| s.value.as_number()).unwrap_or_default(),
        "tls": config.tls,
        "core_addrs": config.core_addrs,
        "coreapps_seen": routing,
        "api_key": if config.api_key.is_some() { "set" } else { "unset" },
    });
    let calls = state.cores.each().into_iter().map(|mut c| async move { c.support(proto::core::Empty {}).await });
    let mut coreapps = serde_json::Map::new();
    for answer in futures::future::join_all(calls).await {
        match answer.map(|r| serde_json::from_str::<Value>(&r.into_inner().json)) {
            Ok(Ok(info)) => {
                let node = info["node_id"].as_str().unwrap_or("unknown").to_string();
                coreapps.insert(node, info);
            }
            Ok(Err(e)) => tracing::error!(error = %e, "a coreapp sent unreadable support information"),
            Err(status) => tracing::warn!(error = %status.message(), "a coreapp did not answer for support"),
        }
    }
    Ok(crate::envelope::OnPrem::ok(json!({"support": {"webapp": webapp, "coreapps": coreapps}})))
}
