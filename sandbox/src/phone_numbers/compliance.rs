//! `GET` / `POST /{phone-number-id}/business_compliance_info`: a number's
//! India business compliance information (the legal entity, its grievance
//! officer, its customer care), which WhatsApp shows to users whose phone
//! starts with +91. Kept in memory with the number's other settings.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value, json};
use tracing::info;

use super::{hosted, require_whatsapp, success};
use crate::graph::{self, GraphError};
use crate::nodes::select_fields;
use crate::state::AppState;

const NODE_TYPE: &str = "BusinessComplianceInfoSanitized";

/// Every field of the node, answered by default.
const FIELDS: &[&str] = &[
    "entity_name",
    "entity_type",
    "entity_type_custom",
    "is_registered",
    "grievance_officer_details",
    "customer_care_details",
    "messaging_product",
];

/// The `entity_type` values a POST takes, and how a GET writes each.
const ENTITY_TYPES: &[(&str, &str)] = &[
    ("LIMITED_LIABILITY_PARTNERSHIP", "Limited liability partnership"),
    ("SOLE_PROPRIETORSHIP", "Sole proprietorship"),
    ("PARTNERSHIP", "Partnership"),
    ("PUBLIC_COMPANY", "Public company"),
    ("PRIVATE_COMPANY", "Private company"),
    ("OTHER", "Other"),
];

/// The entity types asked whether they are registered (Meta takes the
/// others as registered).
const ASKED_IF_REGISTERED: &[&str] = &["PARTNERSHIP", "OTHER"];

const NAME_MAX: usize = 128;
const EMAIL_MAX: usize = 128;
const CUSTOM_TYPE_MAX: usize = 1024;

/// A number's compliance information, as last posted.
#[derive(Debug, Clone, PartialEq)]
pub struct Compliance {
    pub entity_name: String,
    /// One of [`ENTITY_TYPES`]' values as a POST takes them.
    pub entity_type: &'static str,
    /// Only with `OTHER`.
    pub entity_type_custom: Option<String>,
    pub is_registered: bool,
    pub grievance_officer: Contact,
    pub customer_care: Contact,
}

/// `grievance_officer_details` (with a `name`) or `customer_care_details`.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub name: Option<String>,
    pub email: String,
    pub landline_number: Option<String>,
    pub mobile_number: Option<String>,
}

// === impl Compliance ===

impl Compliance {
    /// Every field Graph knows, `null` for the empty ones.
    fn fields(&self) -> Map<String, Value> {
        let label = ENTITY_TYPES.iter().find(|(name, _)| *name == self.entity_type).map_or("", |(_, label)| label);
        let mut out = Map::new();
        out.insert("entity_name".into(), json!(self.entity_name));
        out.insert("entity_type".into(), json!(label));
        out.insert("entity_type_custom".into(), json!(self.entity_type_custom));
        out.insert("is_registered".into(), json!(self.is_registered));
        out.insert("grievance_officer_details".into(), self.grievance_officer.to_json());
        out.insert("customer_care_details".into(), self.customer_care.to_json());
        out.insert("messaging_product".into(), json!("whatsapp"));
        out
    }
}

// === impl Contact ===

impl Contact {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(name) = &self.name {
            out.insert("name".into(), json!(name));
        }
        out.insert("email".into(), json!(self.email));
        for (key, value) in [("landline_number", &self.landline_number), ("mobile_number", &self.mobile_number)] {
            if let Some(number) = value {
                out.insert(key.into(), json!(number));
            }
        }
        Value::Object(out)
    }
}

/// `GET` / `POST /{phone-number-id}/business_compliance_info`.
pub(crate) async fn edge(
    State(state): State<AppState>,
    method: Method,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let index = hosted(&state, &method, &node)?;
    match method {
        Method::GET => {
            let compliance = state.accounts.with(index, |account| account.compliance.clone());
            Ok(Json(read(compliance.as_ref(), query.get("fields"))?).into_response())
        }
        Method::POST => {
            let params = graph::read_params(&headers, &query, &body)?;
            let compliance = parse(&params)?;
            info!(phone_number_id = %node, entity_type = compliance.entity_type, "business compliance info set");
            state.accounts.with(index, |account| account.compliance = Some(compliance));
            Ok(success())
        }
        _ => Err(GraphError::unsupported_request(&method, &node)),
    }
}

/// `{"data": [<the info>]}`, or `{"data": []}` before any was set; the
/// `fields=` are checked either way.
fn read(compliance: Option<&Compliance>, requested: Option<&String>) -> Result<Value, GraphError> {
    let all = match compliance {
        Some(compliance) => compliance.fields(),
        None => FIELDS.iter().map(|name| ((*name).to_owned(), Value::Null)).collect(),
    };
    let picked = select_fields(all, requested, FIELDS, NODE_TYPE)?;
    let data: Vec<Value> = compliance.map(|_| Value::Object(picked)).into_iter().collect();
    Ok(json!({ "data": data }))
}

/// Checks a POST the way Graph does and builds the information it sets.
fn parse(params: &Map<String, Value>) -> Result<Compliance, GraphError> {
    require_whatsapp(params)?;
    let entity_name = required_text(params, "entity_name", "entity_name", 2, NAME_MAX)?;
    let entity_type = entity_type(params)?;
    let entity_type_custom = entity_type_custom(params, entity_type)?;
    let is_registered = is_registered(params, entity_type)?;
    let grievance_officer = contact(params, "grievance_officer_details", true)?;
    let customer_care = contact(params, "customer_care_details", false)?;
    Ok(Compliance { entity_name, entity_type, entity_type_custom, is_registered, grievance_officer, customer_care })
}

/// The required string `key` of `min` to `max` characters; errors call it `label`.
fn required_text(
    params: &Map<String, Value>,
    key: &str,
    label: &str,
    min: usize,
    max: usize,
) -> Result<String, GraphError> {
    match params.get(key) {
        None | Some(Value::Null) => Err(GraphError::missing_parameter(label)),
        Some(Value::String(s)) if (min..=max).contains(&s.trim().chars().count()) => Ok(s.trim().to_owned()),
        Some(_) => {
            Err(GraphError::invalid_parameter(format!("Param {label} must be a string of {min} to {max} characters.")))
        }
    }
}

/// `entity_type`, in any case, with spaces for underscores (so what a GET
/// answers can be posted back).
fn entity_type(params: &Map<String, Value>) -> Result<&'static str, GraphError> {
    let raw = match params.get("entity_type") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter("entity_type")),
        Some(value) => value.as_str().unwrap_or_default(),
    };
    let key = raw.trim().to_ascii_uppercase().replace(' ', "_");
    ENTITY_TYPES.iter().map(|(name, _)| *name).find(|name| *name == key).ok_or_else(|| {
        let names: Vec<&str> = ENTITY_TYPES.iter().map(|(name, _)| *name).collect();
        GraphError::invalid_parameter(format!(
            "Param entity_type must be one of {{{}}} - got \"{raw}\".",
            names.join(", ")
        ))
    })
}

/// `entity_type_custom`: required with `OTHER`, refused with the others.
fn entity_type_custom(params: &Map<String, Value>, entity_type: &str) -> Result<Option<String>, GraphError> {
    let custom = params.get("entity_type_custom").filter(|v| !v.is_null());
    match (entity_type, custom) {
        ("OTHER", None) => Err(GraphError::invalid_parameter("Entity_type_custom is mandatory for OTHER entity type")),
        ("OTHER", Some(Value::String(s))) if (1..=CUSTOM_TYPE_MAX).contains(&s.trim().chars().count()) => {
            Ok(Some(s.trim().to_owned()))
        }
        ("OTHER", Some(_)) => Err(GraphError::invalid_parameter(format!(
            "Param entity_type_custom must be a string of 1 to {CUSTOM_TYPE_MAX} characters."
        ))),
        (_, Some(_)) => {
            Err(GraphError::invalid_parameter("Entity type custom can only be used with OTHER entity type"))
        }
        (_, None) => Ok(None),
    }
}

/// `is_registered`: required for partnerships and `OTHER`, refused for the
/// other types, which count as registered.
fn is_registered(params: &Map<String, Value>, entity_type: &str) -> Result<bool, GraphError> {
    let asked = ASKED_IF_REGISTERED.contains(&entity_type);
    match params.get("is_registered").filter(|v| !v.is_null()) {
        None if asked => Err(GraphError::missing_parameter("is_registered")),
        None => Ok(true),
        Some(_) if !asked => Err(GraphError::invalid_parameter(
            "is_registered required only when entity_type is set to Other or Partnership",
        )),
        Some(Value::Bool(registered)) => Ok(*registered),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(_) => Err(GraphError::invalid_parameter("Param is_registered must be a boolean.")),
    }
}

/// `grievance_officer_details` (`named`: with a required `name`) or
/// `customer_care_details` (at least one phone number).
fn contact(params: &Map<String, Value>, key: &str, named: bool) -> Result<Contact, GraphError> {
    let details = match params.get(key) {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter(key)),
        Some(Value::Object(details)) => details,
        Some(_) => return Err(GraphError::invalid_parameter(format!("Param {key} must be a JSON object."))),
    };
    let name = if named { Some(required_text(details, "name", &format!("{key}['name']"), 1, NAME_MAX)?) } else { None };
    let email = match details.get("email") {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter(&format!("{key}['email']"))),
        Some(Value::String(email)) if is_email(email.trim()) => email.trim().to_owned(),
        Some(_) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param {key}['email'] must be a valid email address of at most {EMAIL_MAX} characters."
            )));
        }
    };
    let landline_number = phone_number(details, "landline_number")?;
    let mobile_number = phone_number(details, "mobile_number")?;
    if !named && landline_number.is_none() && mobile_number.is_none() {
        return Err(GraphError::invalid_parameter(format!(
            "Param {key} must have a landline_number or a mobile_number."
        )));
    }
    Ok(Contact { name, email, landline_number, mobile_number })
}

/// An optional phone number: `+`, then a country code and number, 2 to 15
/// digits in all.
fn phone_number(details: &Map<String, Value>, key: &str) -> Result<Option<String>, GraphError> {
    match details.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(number)) if is_international(number.trim()) => Ok(Some(number.trim().to_owned())),
        Some(_) => Err(GraphError::invalid_parameter("Invalid phone number format. Must include country code")),
    }
}

fn is_international(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
    })
}

/// `local@domain.tld`, at most [`EMAIL_MAX`] characters, no spaces.
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.chars().count() <= EMAIL_MAX
        && !local.is_empty()
        && !email.chars().any(char::is_whitespace)
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> Value {
        json!({
            "messaging_product": "whatsapp",
            "entity_name": "Lucky Shrub Private Limited",
            "entity_type": "PARTNERSHIP",
            "is_registered": true,
            "grievance_officer_details": {"name": "Chandravati P.", "email": "chandravati@luckyshrub.com",
                "landline_number": "+913857614343", "mobile_number": "+913854559033"},
            "customer_care_details": {"email": "support@luckyshrub.com", "mobile_number": "+913854559033"}
        })
    }

    fn parse_json(value: &Value) -> Result<Compliance, GraphError> {
        parse(value.as_object().unwrap())
    }

    fn with(changes: Value) -> Value {
        let mut body = complete();
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    }

    #[test]
    fn a_complete_post_round_trips() {
        let compliance = parse_json(&complete()).unwrap();
        assert_eq!(compliance.entity_type, "PARTNERSHIP");
        let answer = read(Some(&compliance), None).unwrap();
        let entry = &answer["data"][0];
        assert_eq!(entry["entity_type"], "Partnership");
        assert_eq!(entry["is_registered"], true);
        assert_eq!(entry["messaging_product"], "whatsapp");
        assert_eq!(entry["grievance_officer_details"]["name"], "Chandravati P.");
        assert!(entry.get("entity_type_custom").is_none());
        // What a GET answers can be posted back.
        let again = with(json!({"entity_type": entry["entity_type"].clone()}));
        assert_eq!(parse_json(&again).unwrap(), compliance);
    }

    #[test]
    fn other_types_need_a_custom_type_and_the_rest_count_as_registered() {
        let other = with(json!({"entity_type": "other", "entity_type_custom": "Trust", "is_registered": false}));
        let compliance = parse_json(&other).unwrap();
        assert_eq!((compliance.entity_type, compliance.entity_type_custom.as_deref()), ("OTHER", Some("Trust")));
        assert!(!compliance.is_registered);
        let private = with(json!({"entity_type": "PRIVATE_COMPANY", "is_registered": null}));
        assert!(parse_json(&private).unwrap().is_registered);
    }

    #[test]
    fn bad_posts_get_error_100() {
        for (bad, says) in [
            (with(json!({"messaging_product": null})), "messaging_product is required"),
            (with(json!({"entity_name": null})), "entity_name is required"),
            (with(json!({"entity_name": "L"})), "entity_name must be"),
            (with(json!({"entity_type": "TRUST"})), "entity_type must be one of"),
            (with(json!({"entity_type": "OTHER"})), "Entity_type_custom is mandatory"),
            (with(json!({"entity_type_custom": "Trust"})), "can only be used with OTHER"),
            (with(json!({"entity_type": "PUBLIC_COMPANY"})), "is_registered required only"),
            (with(json!({"is_registered": null})), "is_registered is required"),
            (with(json!({"is_registered": "yes"})), "is_registered must be a boolean"),
            (with(json!({"grievance_officer_details": null})), "grievance_officer_details is required"),
            (with(json!({"grievance_officer_details": {"email": "a@b.in"}})), "grievance_officer_details['name']"),
            (with(json!({"grievance_officer_details": {"name": "A", "email": "not-an-email"}})), "['email'] must be"),
            (with(json!({"customer_care_details": {"email": "a@b.in"}})), "landline_number or a mobile_number"),
            (with(json!({"customer_care_details": {"email": "a@b.in", "mobile_number": "91385"}})), "country code"),
            (with(json!({"customer_care_details": "support"})), "must be a JSON object"),
        ] {
            let err = parse_json(&bad).unwrap_err();
            assert_eq!(err.code, 100, "{bad}");
            assert!(err.message.contains(says), "{} does not say {says}", err.message);
        }
    }

    #[test]
    fn nothing_set_reads_as_an_empty_list_but_fields_are_still_checked() {
        assert_eq!(read(None, None).unwrap(), json!({"data": []}));
        assert_eq!(read(None, Some(&"entity_name".to_owned())).unwrap(), json!({"data": []}));
        assert_eq!(read(None, Some(&"bogus".to_owned())).unwrap_err().code, 100);
    }

    #[test]
    fn emails_and_numbers() {
        for ok in ["a@b.in", "first.last@mail.example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.in", "a@b..in", "a b@c.in", "a@b@c.in"] {
            assert!(!is_email(bad), "{bad}");
        }
        assert!(is_international("+913854559033"));
        for bad in ["913854559033", "+0123", "+1", "+91 3854559033", "+1234567890123456"] {
            assert!(!is_international(bad), "{bad}");
        }
    }
}
