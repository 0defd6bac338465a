//! `GET /v1/support` (any user): debug information to paste into a
//! support request. Versions, the webapp's view of its coreapps, and each
//! coreapp's own report (health, queues, recent errors); no secrets.
//!
//! Host-level details (recent send and webhook errors, which name hosts and
//! answers of the network; node addresses; Cloud and volume settings) are
//! for admins: a USER gets versions, health and queue depths, so the
//! endpoint cannot serve as a window onto the network.

use axum::extract::State;
use serde_json::{Map, Value, json};
use wire::users::Role;

use crate::AppState;
use crate::auth::Principal;
use crate::envelope::Reply;

/// The keys of a coreapp's report a USER sees.
const COREAPP_FOR_USERS: &[&str] = &["node_id", "version", "uptime_s", "gateway_status", "health_errors", "queues"];

pub async fn get(State(state): State<AppState>, who: Principal) -> Reply {
    who.require_user()?;
    let admin = who.role >= Role::Admin;
    let config = &state.config;
    let routing: Vec<Value> =
        state
            .cores
            .nodes()
            .into_iter()
            .map(|(addr, healthy)| {
                if admin {
                    json!({"address": addr.to_string(), "healthy": healthy})
                } else {
                    json!({"healthy": healthy})
                }
            })
            .collect();
    let mut webapp = json!({
        "version": config.version,
        "build": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.metrics.families().get("web_uptime")
            .and_then(|f| f.samples.first()).and_then(|s| s.value.as_number()).unwrap_or_default(),
        "tls": config.tls,
        "coreapps_seen": routing,
        "api_key": if config.api_key.is_some() { "set" } else { "unset" },
    });
    if admin {
        webapp["core_addrs"] = json!(config.core_addrs);
    }
    let calls = state.cores.each().into_iter().map(|c| async move { c.support(proto::core::Empty {}).await });
    let mut coreapps = serde_json::Map::new();
    for answer in futures::future::join_all(calls).await {
        match answer.map(|r| serde_json::from_str::<Value>(&r.json)) {
            Ok(Ok(info)) => {
                let node = info["node_id"].as_str().unwrap_or("unknown").to_string();
                coreapps.insert(node, if admin { info } else { for_users(info) });
            }
            Ok(Err(e)) => tracing::error!(error = %e, "a coreapp sent unreadable support information"),
            Err(error) => tracing::warn!(%error, "a coreapp did not answer for support"),
        }
    }
    Ok(crate::envelope::OnPrem::ok(json!({"support": {"webapp": webapp, "coreapps": coreapps}})))
}

/// A coreapp's report cut to what any user may see.
fn for_users(info: Value) -> Value {
    let Value::Object(all) = info else { return json!({}) };
    let kept: Map<String, Value> = all.into_iter().filter(|(k, _)| COREAPP_FOR_USERS.contains(&k.as_str())).collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_get_versions_health_and_queues_only() {
        let info = json!({
            "node_id": "core-1", "version": "0.1.0", "uptime_s": 5, "gateway_status": "connected",
            "health_errors": [], "queues": {"outbound_messages": 0},
            "database": {"engine": "Mysql"}, "cloud": {"base_url": "https://graph.facebook.com"},
            "media_dir": "/usr/local/wamedia",
            "recent_errors": {"sends": [{"error": "connect to 10.0.0.7:8080 refused"}], "webhooks": []},
        });
        let shown = for_users(info);
        let keys: Vec<&String> = shown.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), COREAPP_FOR_USERS.len(), "{shown}");
        assert!(shown.get("recent_errors").is_none() && shown.get("cloud").is_none(), "{shown}");
        assert_eq!(shown["queues"]["outbound_messages"], 0);
    }
}
