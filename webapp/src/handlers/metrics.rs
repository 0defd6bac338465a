//! `/metrics`, `/v1/metrics` and `/v1/stats/{app,db}` (any user or the API
//! key): JSON by default, Prometheus text with `?format=prometheus`.
//!
//! `/metrics` is this webapp's metrics plus every coreapp's application
//! metrics labelled `node`, so one scrape sees the stack. `/v1/stats/*`
//! are the coreapps': one node's families, or with several nodes nested
//! per node in JSON (`stats.app.<node>`) and labelled `node` in Prometheus.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wire::ApiError;
use wire::metrics::Families;
use wire::users::Role;

use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{Failure, OnPrem};

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Prometheus,
}

fn format(query: &HashMap<String, String>) -> Result<Format, ApiError> {
    match query.get("format").map(String::as_str) {
        None | Some("") | Some("json") => Ok(Format::Json),
        Some("prometheus") => Ok(Format::Prometheus),
        Some(other) => Err(ApiError::invalid_value("format", other)),
    }
}

fn prometheus(families: &Families) -> Response {
    let mut r = families.to_prometheus().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(wire::metrics::PROMETHEUS_CONTENT_TYPE));
    r
}

#[derive(Clone, Copy)]
enum Which {
    App,
    Db,
}

/// Each answering coreapp's node id and families, in node order.
async fn per_node(state: &AppState, which: Which) -> Result<Vec<(String, Families)>, Failure> {
    let calls = state.cores.each().into_iter().map(|client| async move {
        match which {
            Which::App => client.stats(proto::core::Empty {}).await,
            Which::Db => client.db_stats(proto::core::Empty {}).await,
        }
    });
    let mut nodes = Vec::new();
    let mut first_error = None;
    for answer in futures::future::join_all(calls).await {
        match answer.map(proto::metrics::from_proto) {
            Ok(Ok(node)) => nodes.push(node),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a coreapp sent unreadable metrics");
            }
            Err(error) => {
                tracing::warn!(%error, "a coreapp did not answer for metrics");
                first_error.get_or_insert(error);
            }
        }
    }
    if nodes.is_empty() {
        return Err(match first_error {
            Some(error) => error.into(),
            None => ApiError::internal().into(),
        });
    }
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    nodes.dedup_by(|a, b| a.0 == b.0);
    Ok(nodes)
}

/// A coreapp's answer: `{"node_id", "families"}`.
pub async fn metrics(
    State(state): State<AppState>,
    who: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    who.require(Role::Api)?;
    let format = format(&query)?;
    let mut families = state.metrics.families();
    let (cores, conflicts) = Families::merge_nodes(per_node(&state, Which::App).await?);
    if !conflicts.is_empty() {
        tracing::warn!(?conflicts, "coreapps disagree on metric kinds");
    }
    families.merge(cores);
    Ok(match format {
        Format::Prometheus => prometheus(&families),
        Format::Json => OnPrem::ok(json!({"metrics": families.to_json()})).into_response(),
    })
}

async fn stats(state: &AppState, query: &HashMap<String, String>, which: Which) -> Result<Response, Failure> {
    let format = format(query)?;
    let key = match which {
        Which::App => "app",
        Which::Db => "db",
    };
    let mut nodes = per_node(state, which).await?;
    if nodes.len() == 1 {
        let (_, families) = nodes.remove(0);
        return Ok(match format {
            Format::Prometheus => prometheus(&families),
            Format::Json => OnPrem::ok(json!({"stats": {key: families.to_json()}})).into_response(),
        });
    }
    Ok(match format {
        Format::Prometheus => prometheus(&Families::merge_nodes(nodes).0),
        Format::Json => {
            let nested = Families::nodes_to_json(nodes.iter().map(|(n, f)| (n.as_str(), f)));
            OnPrem::ok(json!({"stats": {key: nested}})).into_response()
        }
    })
}

pub async fn app(
    State(state): State<AppState>,
    who: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    who.require(Role::Api)?;
    stats(&state, &query, Which::App).await
}

pub async fn db(
    State(state): State<AppState>,
    who: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    who.require(Role::Api)?;
    stats(&state, &query, Which::Db).await
}
