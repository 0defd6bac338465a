//! `DELETE /{phone-number-id}/contact_book?messaging_product=whatsapp&bsuid=<BSUID>`:
//! takes a user out of the business portfolio's contact book, so their phone
//! is withheld again once no recent interaction shares it (see
//! `crate::users`). Answers `{"success":true,"deleted":<n>}`, `n` being 0
//! when the user was not in it.
//!
//! Cloud has no endpoint to add or list entries: users join the contact
//! book by sharing their number (`POST /_sandbox/users/{id}/share_contact`),
//! or through the control API (`POST /_sandbox/users` with `contact_book`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Value, json};
use tracing::info;

use crate::graph::{self, GraphError};
use crate::state::AppState;
use crate::users::ids;

/// Every method on the `contact_book` edge; only DELETE on a hosted number.
pub(crate) async fn edge(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    if state.number_index(&node).is_none() || method != Method::DELETE {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    let params = graph::read_params(&headers, &query, &body)?;
    match params.get("messaging_product") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("messaging_product")),
        Some(Value::String(product)) if product == "whatsapp" => {}
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
            )));
        }
    }
    let bsuid = match params.get("bsuid") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("bsuid")),
        Some(Value::String(bsuid)) if ids::parse_id(bsuid).is_some() => bsuid.clone(),
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param bsuid must be a business-scoped user ID - got {other}."
            )));
        }
    };
    let deleted = state.users.remove_from_contact_book(&bsuid);
    info!(phone_number_id = %node, %bsuid, deleted, "contact book entry deleted");
    Ok(Json(json!({ "success": true, "deleted": deleted })).into_response())
}
