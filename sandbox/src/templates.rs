//! `GET`/`POST`/`DELETE /{waba-id}/message_templates` and `GET /{template-id}`
//! (`docs/cloud-api.md` §4.1). A created template starts `PENDING` and is approved after the
//! status delay (rejected when its name contains `reject`), with a
//! `message_template_status_update` webhook either way.

pub mod check;
pub mod store;

use std::collections::HashMap;

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value, json};
use tracing::info;

use crate::graph::{self, GraphError, paging};
use crate::health::{self, Block};
use crate::nodes::select_fields;
use crate::state::AppState;
use crate::webhooks::ItemChange;
use crate::webhooks::payload::TemplateStatusUpdate;
use store::Template;

const NODE_TYPE: &str = "WhatsAppBusinessHSM";
const DEFAULT_FIELDS: &[&str] = &["name", "parameter_format", "components", "language", "status", "category", "id"];
/// Fields Graph has that the sandbox's templates leave empty: none is cloned
/// from the template library, none overrides the delivery TTL or sets a
/// degrees-of-freedom spec.
const EMPTY_FIELDS: &[&str] = &["library_template_name", "message_send_ttl_seconds", "degrees_of_freedom_spec"];
const CATEGORIES: &[&str] = &["AUTHENTICATION", "MARKETING", "UTILITY"];
const COMPONENT_TYPES: &[&str] = &["HEADER", "BODY", "FOOTER", "BUTTONS"];
const HEADER_FORMATS: &[&str] = &["TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"];
/// Template statuses the control API may set (`docs/cloud-api.md` §4.1).
pub const STATUSES: &[&str] = &[
    "APPROVED",
    "PENDING",
    "REJECTED",
    "PAUSED",
    "DISABLED",
    "IN_APPEAL",
    "PENDING_DELETION",
    "DELETED",
    "LIMIT_EXCEEDED",
    "ARCHIVED",
    "REINSTATED",
    "FLAGGED",
    "LOCKED",
    "UNARCHIVED",
];

/// Every method on `/{waba-id}/message_templates`.
pub(crate) async fn edge(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    if !state.is_waba(&node) {
        return Err(GraphError::unsupported_request(&method, &node));
    }
    match method {
        Method::GET => list(&state, &query, &headers, uri.path()),
        Method::POST => create(&state, &graph::read_params(&headers, &query, &body)?),
        Method::DELETE => delete(&state, &graph::read_params(&headers, &query, &body)?),
        _ => Err(GraphError::unsupported_request(&method, &node)),
    }
}

fn list(
    state: &AppState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    path: &str,
) -> Result<Response, GraphError> {
    let filter = |key: &str| query.get(key).map(|v| v.to_ascii_lowercase());
    let (name, status, language, category) = (filter("name"), filter("status"), filter("language"), filter("category"));
    let mut items = Vec::new();
    for template in state.templates.all() {
        let keep = name.as_ref().is_none_or(|n| template.name.contains(n.as_str()))
            && status.as_ref().is_none_or(|s| template.status.eq_ignore_ascii_case(s))
            && language.as_ref().is_none_or(|l| template.language.eq_ignore_ascii_case(l))
            && category.as_ref().is_none_or(|c| template.category.eq_ignore_ascii_case(c));
        if keep {
            items.push(Value::Object(select_fields(
                fields_of(state, &template),
                query.get("fields"),
                DEFAULT_FIELDS,
                NODE_TYPE,
            )?));
        }
    }
    let total = items.len();
    let link = format!("{}{path}", graph::base_url(state.config.public_url.as_deref(), headers));
    let mut page = paging::page(items, query, &link)?;
    if let Some(asked) = query.get("summary") {
        page["summary"] = summary(state, asked, total)?;
    }
    Ok(Json(page).into_response())
}

/// The template count a business account may reach (Meta's limit for an
/// account whose business is not verified).
const TEMPLATE_LIMIT: usize = 250;

/// `summary=`: aggregates of the listing, as Graph gives them.
fn summary(state: &AppState, asked: &str, total: usize) -> Result<Value, GraphError> {
    let mut out = serde_json::Map::new();
    for name in crate::nodes::parse_fields(asked) {
        let value = match name.as_str() {
            "total_count" => json!(total),
            "message_template_count" => json!(state.templates.all().len()),
            "message_template_limit" => json!(TEMPLATE_LIMIT),
            "are_translations_complete" => json!(true),
            other => return Err(GraphError::nonexisting_field(other, "WhatsAppBusinessAccount")),
        };
        out.insert(name, value);
    }
    Ok(Value::Object(out))
}

fn create(state: &AppState, params: &Map<String, Value>) -> Result<Response, GraphError> {
    let text = |key: &str| -> Result<&str, GraphError> {
        match params.get(key) {
            None | Some(Value::Null) => Err(GraphError::missing_parameter(key)),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
            Some(_) => Err(GraphError::invalid_parameter(format!("Param {key} must be a non-empty string."))),
        }
    };
    let name = text("name")?;
    if name.len() > 512 || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(GraphError::invalid_parameter(
            "Param name must be at most 512 lowercase letters, digits and underscores.",
        ));
    }
    let language = text("language")?;
    if !is_language_code(language) {
        return Err(GraphError::invalid_parameter(format!(
            "Param language must be a language code like en_US, got {language:?}."
        )));
    }
    let category = text("category")?.to_ascii_uppercase();
    if !CATEGORIES.contains(&category.as_str()) {
        return Err(GraphError::invalid_parameter(format!(
            "Param category must be one of {{{}}} - got \"{category}\".",
            CATEGORIES.join(", ")
        )));
    }
    let parameter_format = match params.get("parameter_format") {
        None | Some(Value::Null) => "POSITIONAL".to_owned(),
        Some(Value::String(f)) if f.eq_ignore_ascii_case("positional") || f.eq_ignore_ascii_case("named") => {
            f.to_ascii_uppercase()
        }
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param parameter_format must be one of {{POSITIONAL, NAMED}} - got {other}."
            )));
        }
    };
    let components = check_components(params.get("components"), &parameter_format)?;

    let template = Template {
        id: new_template_id(state),
        name: name.to_owned(),
        language: language.to_owned(),
        status: "PENDING".to_owned(),
        category: category.clone(),
        parameter_format,
        components,
        rejected_reason: "NONE".to_owned(),
    };
    let id = template.id.clone();
    if !state.templates.add(template) {
        let mut err = GraphError::invalid_parameter("Content in this language already exists").with_subcode(2_388_024);
        err.data = Some(json!({"details": format!("A template named {name} already exists in {language}.")}));
        return Err(err);
    }
    info!(%name, %language, %id, "template created, pending review");
    state.console.changed("templates");
    schedule_review(state, id.clone(), name.contains("reject"));
    Ok(Json(json!({ "id": id, "status": "PENDING", "category": category })).into_response())
}

fn new_template_id(state: &AppState) -> String {
    loop {
        let id = graph::new_id();
        if !state.is_fixed_id(&id) && !state.templates.contains_id(&id) && state.media.get(&id, i64::MIN).is_none() {
            return id;
        }
    }
}

/// `xx`, `xxx`, `xx_XX` (e.g. `en`, `fil`, `en_US`, `zh_CN`).
fn is_language_code(code: &str) -> bool {
    let (lang, region) = code.split_once('_').map_or((code, None), |(l, r)| (l, Some(r)));
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
}

/// Validates the components of a new template and normalises their types to
/// upper case.
fn check_components(components: Option<&Value>, parameter_format: &str) -> Result<Value, GraphError> {
    let Some(Value::Array(list)) = components else {
        return Err(match components {
            None | Some(Value::Null) => GraphError::missing_parameter("components"),
            Some(_) => GraphError::invalid_parameter("Param components must be an array."),
        });
    };
    let mut out = Vec::with_capacity(list.len());
    let mut seen = Vec::new();
    for (at, component) in list.iter().enumerate() {
        let Some(object) = component.as_object() else {
            return Err(GraphError::invalid_parameter(format!("Param components[{at}] must be a JSON object.")));
        };
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("").to_ascii_uppercase();
        if !COMPONENT_TYPES.contains(&kind.as_str()) {
            return Err(GraphError::invalid_parameter(format!(
                "Param components[{at}]['type'] must be one of {{{}}}.",
                COMPONENT_TYPES.join(", ")
            )));
        }
        if seen.contains(&kind) {
            return Err(GraphError::invalid_parameter(format!("Only one {kind} component is allowed.")));
        }
        seen.push(kind.clone());
        let mut object = object.clone();
        let text = object.get("text").and_then(Value::as_str).unwrap_or("").to_owned();
        match kind.as_str() {
            "HEADER" => {
                let format = object.get("format").and_then(Value::as_str).unwrap_or("TEXT").to_ascii_uppercase();
                if !HEADER_FORMATS.contains(&format.as_str()) {
                    return Err(GraphError::invalid_parameter(format!(
                        "Param components[{at}]['format'] must be one of {{{}}}.",
                        HEADER_FORMATS.join(", ")
                    )));
                }
                if format == "TEXT" && (text.is_empty() || text.chars().count() > 60) {
                    return Err(GraphError::invalid_parameter("A TEXT header needs a text of 1 to 60 characters."));
                }
                object.insert("format".into(), json!(format));
            }
            "BODY" if text.is_empty() || text.chars().count() > 1024 => {
                return Err(GraphError::invalid_parameter("The BODY needs a text of 1 to 1024 characters."));
            }
            "FOOTER" if text.is_empty() || text.chars().count() > 60 => {
                return Err(GraphError::invalid_parameter("A FOOTER needs a text of 1 to 60 characters."));
            }
            "BUTTONS" => {
                let buttons = object.get("buttons").and_then(Value::as_array).filter(|b| (1..=10).contains(&b.len()));
                if buttons.is_none() {
                    return Err(GraphError::invalid_parameter("BUTTONS needs 1 to 10 buttons."));
                }
            }
            _ => {}
        }
        check_placeholders(&text, parameter_format)?;
        object.insert("type".into(), json!(kind));
        out.push(Value::Object(object));
    }
    if !seen.iter().any(|kind| kind == "BODY") {
        return Err(GraphError::invalid_parameter("Param components must contain a BODY component."));
    }
    Ok(Value::Array(out))
}

/// Positional templates number their parameters 1, 2, …; named ones use
/// lower-case names.
fn check_placeholders(text: &str, parameter_format: &str) -> Result<(), GraphError> {
    let found = check::placeholders(text);
    if parameter_format == "NAMED" {
        if let Some(bad) = found.iter().find(|n| {
            !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                || n.starts_with(|c: char| c.is_ascii_digit())
        }) {
            return Err(GraphError::invalid_parameter(format!(
                "Named parameter {{{{{bad}}}}} must be lower case letters, digits and underscores."
            )));
        }
    } else {
        for (at, name) in found.iter().enumerate() {
            if name != &(at + 1).to_string() {
                return Err(GraphError::invalid_parameter(format!(
                    "Positional parameters must be {{{{1}}}}, {{{{2}}}}, … in order; found {{{{{name}}}}}."
                )));
            }
        }
    }
    Ok(())
}

fn delete(state: &AppState, params: &Map<String, Value>) -> Result<Response, GraphError> {
    let name = params.get("name").and_then(Value::as_str).ok_or_else(|| GraphError::missing_parameter("name"))?;
    let hsm_id = params.get("hsm_id").and_then(Value::as_str);
    if state.templates.remove(name, hsm_id) == 0 {
        return Err(GraphError::invalid_parameter(format!("Message template \"{name}\" was not found.")));
    }
    state.console.changed("templates");
    Ok(Json(json!({ "success": true })).into_response())
}

/// `GET /{template-id}` (other methods are not supported here).
pub(crate) fn node(
    state: &AppState,
    method: &Method,
    template: &Template,
    query: &HashMap<String, String>,
) -> Result<Response, GraphError> {
    if method != Method::GET {
        return Err(GraphError::unsupported_request(method, &template.id));
    }
    let fields = select_fields(fields_of(state, template), query.get("fields"), DEFAULT_FIELDS, NODE_TYPE)?;
    Ok(Json(Value::Object(fields)).into_response())
}

/// Every field Graph has for a template, `null` for the empty ones.
fn fields_of(state: &AppState, template: &Template) -> Map<String, Value> {
    let mut all = template.fields();
    // Graph dates the score (a Unix time); clients parse it.
    all.insert("quality_score".into(), json!({"score": "UNKNOWN", "date": state.clock.now_secs()}));
    all.insert("health_status".into(), health_status(state, template));
    for name in EMPTY_FIELDS {
        all.insert((*name).into(), Value::Null);
    }
    all
}

/// The template's `health_status`: only approved templates can be sent.
fn health_status(state: &AppState, template: &Template) -> Value {
    let block = match template.status.as_str() {
        "APPROVED" => None,
        "PAUSED" => {
            Some(Block { code: 132015, solution: "Improve the template's quality; it resumes after the pause." })
        }
        "DISABLED" => Some(Block { code: 132016, solution: "Create a new template with different content." }),
        _ => Some(Block { code: 132001, solution: "Send only templates whose status is APPROVED." }),
    };
    health::status(state, vec![health::entity("MESSAGE_TEMPLATE", &template.id, block)])
}

/// After the status delay, a pending template is approved (or rejected).
fn schedule_review(state: &AppState, id: String, reject: bool) {
    let state_for_task = state.clone();
    let epoch = state.epoch();
    state.tasks.spawn("template review", async move {
        let state = state_for_task;
        tokio::time::sleep(state.settings.get().status_delay()).await;
        if state.epoch() != epoch {
            return;
        }
        let (status, reason) = if reject { ("REJECTED", "INVALID_FORMAT") } else { ("APPROVED", "NONE") };
        set_status(&state, &id, status, reason);
    });
}

/// Changes a template's status and tells the business with a webhook.
pub(crate) fn set_status(state: &AppState, id: &str, status: &str, reason: &str) -> Option<Template> {
    let template = state.templates.set_status(id, status, reason)?;
    info!(name = %template.name, language = %template.language, %status, "template status changed");
    state.console.changed("templates");
    if state.webhooks.enabled() {
        let update = TemplateStatusUpdate {
            event: status.to_owned(),
            message_template_id: template.id.parse().unwrap_or_default(),
            message_template_name: template.name.clone(),
            message_template_language: template.language.clone(),
            reason: reason.to_owned(),
            message_template_category: template.category.clone(),
        };
        drop(state.webhooks.send(&state.config.phone_number_ids[0], ItemChange::TemplateStatus(update)));
    }
    Some(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes() {
        for ok in ["en", "en_US", "fil", "zh_CN"] {
            assert!(is_language_code(ok), "{ok}");
        }
        for bad in ["", "EN", "en-US", "en_us", "english"] {
            assert!(!is_language_code(bad), "{bad}");
        }
    }

    #[test]
    fn components_are_checked_and_normalised() {
        let ok = check_components(
            Some(&json!([{"type": "header", "format": "text", "text": "Hi"}, {"type": "body", "text": "Hello {{1}} and {{2}}"}])),
            "POSITIONAL",
        )
        .unwrap();
        assert_eq!(ok[0]["type"], "HEADER");
        assert_eq!(ok[0]["format"], "TEXT");
        for (components, format) in [
            (json!([{"type": "FOOTER", "text": "x"}]), "POSITIONAL"),
            (json!([{"type": "BODY", "text": "{{2}}"}]), "POSITIONAL"),
            (json!([{"type": "BODY", "text": "{{First}}"}]), "NAMED"),
            (json!([{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}]), "POSITIONAL"),
            (json!([{"type": "BODY", "text": ""}]), "POSITIONAL"),
            (json!([{"type": "BODY", "text": "a"}, {"type": "BUTTONS", "buttons": []}]), "POSITIONAL"),
            (json!([{"type": "CAROUSEL"}]), "POSITIONAL"),
            (json!({"type": "BODY"}), "POSITIONAL"),
        ] {
            assert!(check_components(Some(&components), format).is_err(), "{components}");
        }
        assert!(check_components(Some(&json!([{"type": "BODY", "text": "{{first_name}}"}])), "NAMED").is_ok());
    }
}
