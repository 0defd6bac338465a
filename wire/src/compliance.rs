//! India's business compliance information (`/v1/settings/business/compliance_info`,
//! on-prem from v2.37): the legal entity, its grievance officer and its
//! customer care, which WhatsApp shows to users on +91 numbers. Cloud keeps
//! it at `/{phone-number-id}/business_compliance_info`; this module checks
//! the old client's body, builds Cloud's, and turns Cloud's answer back into
//! the old shape.

use serde_json::{Map, Value, json};

use crate::ApiError;

/// The entity types, as Cloud takes them and as it writes them back.
const ENTITY_TYPES: &[(&str, &str)] = &[
    ("LIMITED_LIABILITY_PARTNERSHIP", "Limited liability partnership"),
    ("SOLE_PROPRIETORSHIP", "Sole proprietorship"),
    ("PARTNERSHIP", "Partnership"),
    ("PUBLIC_COMPANY", "Public company"),
    ("PRIVATE_COMPANY", "Private company"),
    ("OTHER", "Other"),
];

/// The entity types that say whether they are registered; the others are.
const ASKED_IF_REGISTERED: &[&str] = &["PARTNERSHIP", "OTHER"];

/// Lengths Cloud allows.
const NAME_MAX: usize = 128;
const EMAIL_MAX: usize = 128;
const CUSTOM_TYPE_MAX: usize = 1024;

/// Checks a `POST /v1/settings/business/compliance_info` body and returns
/// Cloud's (without `messaging_product`, which the client adds).
///
/// `entity_name`, `entity_type`, `grievance_officer_details` (`name`,
/// `email`) and `customer_care_details` (`email` and a landline or mobile
/// number) are required; `entity_type_custom` goes with `OTHER` only, and
/// `is_registered` with `PARTNERSHIP` and `OTHER` only (and is required
/// there). Entity types are taken by name (`PRIVATE_COMPANY`) or as Cloud
/// writes them (`Private company`), in any case. Phone numbers carry their
/// country code: `+`, then up to 15 digits.
pub fn update(body: &Value) -> Result<Map<String, Value>, ApiError> {
    let Some(fields) = body.as_object() else {
        return Err(ApiError::invalid("The compliance information must be a JSON object"));
    };
    let mut cloud = Map::new();
    let name = text(fields, "entity_name", NAME_MAX)?.ok_or_else(|| ApiError::missing("entity_name"))?;
    cloud.insert("entity_name".into(), json!(name));

    let entity_type = match fields.get("entity_type") {
        None | Some(Value::Null) => return Err(ApiError::missing("entity_type")),
        Some(Value::String(s)) => entity_type(s).ok_or_else(|| ApiError::invalid_value("entity_type", s))?,
        Some(other) => return Err(ApiError::invalid_value("entity_type", other)),
    };
    cloud.insert("entity_type".into(), json!(entity_type));

    let custom = text(fields, "entity_type_custom", CUSTOM_TYPE_MAX)?;
    match (entity_type, custom) {
        ("OTHER", Some(custom)) => {
            cloud.insert("entity_type_custom".into(), json!(custom));
        }
        ("OTHER", None) => return Err(ApiError::missing("entity_type_custom")),
        (_, Some(_)) => {
            return Err(ApiError::invalid("Parameter 'entity_type_custom' goes only with entity_type 'OTHER'"));
        }
        (_, None) => {}
    }

    let asked = ASKED_IF_REGISTERED.contains(&entity_type);
    match fields.get("is_registered") {
        None | Some(Value::Null) if asked => return Err(ApiError::missing("is_registered")),
        None | Some(Value::Null) => {}
        Some(Value::Bool(registered)) if asked => {
            cloud.insert("is_registered".into(), json!(registered));
        }
        Some(Value::Bool(_)) => {
            return Err(ApiError::invalid(format!(
                "Parameter 'is_registered' goes only with entity_type 'PARTNERSHIP' or 'OTHER', not '{entity_type}'"
            )));
        }
        Some(other) => return Err(ApiError::invalid_value("is_registered", other)),
    }

    let officer = contact(fields, "grievance_officer_details", true)?;
    cloud.insert("grievance_officer_details".into(), officer);
    let care = contact(fields, "customer_care_details", false)?;
    cloud.insert("customer_care_details".into(), care);
    Ok(cloud)
}

/// `settings.business.compliance_info` from Cloud's answer (`data[0]`, or
/// nothing yet): every key there, empty while unset.
pub fn from_cloud(cloud: &Value) -> Value {
    let node = cloud.pointer("/data/0").unwrap_or(&Value::Null);
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let officer = node.get("grievance_officer_details").unwrap_or(&Value::Null);
    let care = node.get("customer_care_details").unwrap_or(&Value::Null);
    json!({
        "entity_name": text(node, "entity_name"),
        "entity_type": text(node, "entity_type"),
        "entity_type_custom": text(node, "entity_type_custom"),
        "is_registered": node.get("is_registered").and_then(Value::as_bool).unwrap_or(false),
        "grievance_officer_details": {
            "name": text(officer, "name"),
            "email": text(officer, "email"),
            "landline_number": text(officer, "landline_number"),
            "mobile_number": text(officer, "mobile_number"),
        },
        "customer_care_details": {
            "email": text(care, "email"),
            "landline_number": text(care, "landline_number"),
            "mobile_number": text(care, "mobile_number"),
        },
    })
}

/// Cloud's name of an entity type given by name or label, in any case.
fn entity_type(given: &str) -> Option<&'static str> {
    let given = given.trim();
    ENTITY_TYPES
        .iter()
        .find(|(name, label)| name.eq_ignore_ascii_case(given) || label.eq_ignore_ascii_case(given))
        .map(|(name, _)| *name)
}

/// An optional non-empty string of at most `max` characters.
fn text(fields: &Map<String, Value>, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(ApiError::invalid(format!("Parameter '{name}' is longer than {max} characters")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid_value(name, other)),
    }
}

/// `grievance_officer_details` (with its `name`) or `customer_care_details`
/// (with a landline or a mobile number).
fn contact(fields: &Map<String, Value>, name: &str, officer: bool) -> Result<Value, ApiError> {
    let details = match fields.get(name) {
        None | Some(Value::Null) => return Err(ApiError::missing(name)),
        Some(Value::Object(details)) => details,
        Some(other) => return Err(ApiError::invalid_value(name, other)),
    };
    let field = |key: &str| format!("{name}.{key}");
    let mut out = Map::new();
    if officer {
        let who =
            text(details, "name", NAME_MAX).map_err(|_| ApiError::invalid_value(&field("name"), &details["name"]))?;
        out.insert("name".into(), json!(who.ok_or_else(|| ApiError::missing(&field("name")))?));
    }
    let email = match details.get("email") {
        None | Some(Value::Null) => return Err(ApiError::missing(&field("email"))),
        Some(Value::String(s)) if s.is_empty() => return Err(ApiError::missing(&field("email"))),
        Some(Value::String(s)) if s.chars().count() <= EMAIL_MAX && crate::profile::looks_like_email(s) => s,
        Some(other) => return Err(ApiError::invalid_value(&field("email"), other)),
    };
    out.insert("email".into(), json!(email));
    for key in ["landline_number", "mobile_number"] {
        match details.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) if is_phone(s) => {
                out.insert(key.into(), json!(s));
            }
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "Parameter '{}' has invalid value '{other}': a number with its country code, such as +911234567890",
                    field(key)
                )));
            }
        }
    }
    if !officer && !out.contains_key("landline_number") && !out.contains_key("mobile_number") {
        return Err(ApiError::new(
            crate::ErrorCode::ParameterMissing,
            format!("Missing mandatory parameter: '{name}' needs a 'landline_number' or a 'mobile_number'"),
        ));
    }
    Ok(Value::Object(out))
}

/// `+`, a non-zero digit, then 1 to 14 digits (E.164).
fn is_phone(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else { return false };
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn valid() -> Value {
        json!({
            "entity_name": "Acme Traders",
            "entity_type": "Private company",
            "grievance_officer_details": {"name": "R. Iyer", "email": "grievance@acme.test", "mobile_number": "+919876543210"},
            "customer_care_details": {"email": "care@acme.test", "landline_number": "+912212345678"}
        })
    }

    fn with(mut body: Value, path: &[&str], value: Value) -> Value {
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut body;
        for p in parents {
            at = &mut at[*p];
        }
        if value.is_null() {
            at.as_object_mut().unwrap().remove(*last);
        } else {
            at[*last] = value;
        }
        body
    }

    #[test]
    fn a_valid_body_becomes_clouds() {
        let cloud = update(&valid()).unwrap();
        assert_eq!(cloud["entity_type"], "PRIVATE_COMPANY");
        assert!(cloud.get("is_registered").is_none());
        assert_eq!(cloud["grievance_officer_details"]["name"], "R. Iyer");
        assert_eq!(
            cloud["customer_care_details"],
            json!({"email": "care@acme.test", "landline_number": "+912212345678"})
        );

        let other = with(with(valid(), &["entity_type"], json!("other")), &["entity_type_custom"], json!("Trust"));
        let other = with(other, &["is_registered"], json!(false));
        let cloud = update(&other).unwrap();
        assert_eq!((cloud["entity_type"].as_str(), cloud["is_registered"].as_bool()), (Some("OTHER"), Some(false)));
        assert_eq!(cloud["entity_type_custom"], "Trust");
    }

    #[test]
    fn missing_and_invalid_fields_get_their_codes() {
        let missing = [
            with(valid(), &["entity_name"], Value::Null),
            with(valid(), &["entity_type"], Value::Null),
            with(valid(), &["grievance_officer_details"], Value::Null),
            with(valid(), &["grievance_officer_details", "name"], Value::Null),
            with(valid(), &["grievance_officer_details", "email"], Value::Null),
            with(valid(), &["customer_care_details"], Value::Null),
            with(valid(), &["customer_care_details", "landline_number"], Value::Null),
            with(valid(), &["entity_type"], json!("OTHER")),
            with(valid(), &["entity_type"], json!("PARTNERSHIP")),
        ];
        for body in missing {
            assert_eq!(update(&body).unwrap_err().code, ErrorCode::ParameterMissing, "{body}");
        }
        let invalid = [
            json!([]),
            with(valid(), &["entity_type"], json!("TRUST")),
            with(valid(), &["entity_name"], json!("x".repeat(129))),
            with(valid(), &["entity_type_custom"], json!("Trust")),
            with(valid(), &["is_registered"], json!(true)),
            with(with(valid(), &["entity_type"], json!("PARTNERSHIP")), &["is_registered"], json!("yes")),
            with(valid(), &["customer_care_details", "email"], json!("care-at-acme")),
            with(valid(), &["customer_care_details", "landline_number"], json!("02212345678")),
            with(valid(), &["grievance_officer_details", "mobile_number"], json!("+91 98765")),
            with(valid(), &["grievance_officer_details"], json!("R. Iyer")),
        ];
        for body in invalid {
            assert_eq!(update(&body).unwrap_err().code, ErrorCode::ParameterInvalid, "{body}");
        }
    }

    #[test]
    fn clouds_answer_in_the_old_shape() {
        let empty = from_cloud(&json!({"data": []}));
        assert_eq!(empty["entity_name"], "");
        assert_eq!(empty["is_registered"], false);
        assert_eq!(empty["customer_care_details"]["mobile_number"], "");
        let cloud = json!({"data": [{"entity_name": "Acme", "entity_type": "Partnership", "is_registered": true,
            "grievance_officer_details": {"name": "R", "email": "g@a.test"},
            "customer_care_details": {"email": "c@a.test", "mobile_number": "+919876543210"},
            "messaging_product": "whatsapp"}]});
        let old = from_cloud(&cloud);
        assert_eq!(old["entity_type"], "Partnership");
        assert_eq!(old["is_registered"], true);
        assert_eq!(old["grievance_officer_details"]["landline_number"], "");
        assert_eq!(old["customer_care_details"]["mobile_number"], "+919876543210");
        assert!(old.get("messaging_product").is_none());
    }
}
