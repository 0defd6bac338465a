//! The business profile in the old client's shape (`/v1/settings/profile/*`,
//! `/v1/settings/business/profile`), its limits, and its translation to
//! Cloud's `whatsapp_business_profile` fields.

use serde_json::{Map, Value, json};

use crate::ApiError;

/// `about` text: 1 to 139 characters (the old client's limit, and Cloud's).
pub const ABOUT_MAX: usize = 139;
/// Profile photos: the old client refused 5 MiB and more.
pub const PHOTO_MAX: usize = 5 * 1024 * 1024;
/// Image types a profile photo may have.
pub const PHOTO_TYPES: &[&str] = &["image/jpeg", "image/png"];

/// Cloud's verticals that have no old name (added after the old client);
/// they pass through as Cloud names them, both ways.
const CLOUD_ONLY_VERTICALS: &[&str] = &["ALCOHOL", "ONLINE_GAMBLING", "PHYSICAL_GAMBLING", "OTC_DRUGS"];

/// The old client's `vertical` names and Cloud's enum values.
const VERTICALS: &[(&str, &str)] = &[
    ("Automotive", "AUTO"),
    ("Beauty, Spa and Salon", "BEAUTY"),
    ("Clothing and Apparel", "APPAREL"),
    ("Education", "EDU"),
    ("Entertainment", "ENTERTAIN"),
    ("Event Planning and Service", "EVENT_PLAN"),
    ("Finance and Banking", "FINANCE"),
    ("Food and Grocery", "GROCERY"),
    ("Public Service", "GOVT"),
    ("Hotel and Lodging", "HOTEL"),
    ("Medical and Health", "HEALTH"),
    ("Non-profit", "NONPROFIT"),
    ("Professional Services", "PROF_SERVICES"),
    ("Shopping and Retail", "RETAIL"),
    ("Travel and Transportation", "TRAVEL"),
    ("Restaurant", "RESTAURANT"),
    ("Other", "OTHER"),
];

/// Checks `PATCH /v1/settings/profile/about` and returns the text.
pub fn about_text(body: &Value) -> Result<String, ApiError> {
    match body.get("text") {
        None | Some(Value::Null) => Err(ApiError::missing("text")),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing("text")),
        Some(Value::String(s)) if s.chars().count() > ABOUT_MAX => {
            Err(ApiError::invalid(format!("Parameter 'text' is longer than {ABOUT_MAX} characters")))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::invalid_value("text", other)),
    }
}

/// Checks a `POST /v1/settings/business/profile` body (any subset of the
/// fields) and returns the Cloud fields to post.
pub fn business_update(body: &Value) -> Result<Map<String, Value>, ApiError> {
    let Some(fields) = body.as_object() else {
        return Err(ApiError::invalid("The business profile must be a JSON object"));
    };
    let mut cloud = Map::new();
    for (name, max) in [("address", 256), ("description", 512), ("email", 128)] {
        match fields.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() > max => {
                return Err(ApiError::invalid(format!("Parameter '{name}' is longer than {max} characters")));
            }
            Some(Value::String(s)) => {
                if name == "email" && !s.is_empty() && !looks_like_email(s) {
                    return Err(ApiError::invalid_value("email", s));
                }
                cloud.insert(name.into(), json!(s));
            }
            Some(other) => return Err(ApiError::invalid_value(name, other)),
        }
    }
    match fields.get("vertical") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) => {
            let cloud_value = cloud_vertical(v).ok_or_else(|| ApiError::invalid_value("vertical", v))?;
            cloud.insert("vertical".into(), json!(cloud_value));
        }
        Some(other) => return Err(ApiError::invalid_value("vertical", other)),
    }
    match fields.get("websites") {
        None | Some(Value::Null) => {}
        Some(Value::Array(sites)) => {
            if sites.len() > 2 {
                return Err(ApiError::invalid("Parameter 'websites' can hold at most 2 websites"));
            }
            for site in sites {
                let ok = site.as_str().is_some_and(|s| s.chars().count() <= 256 && has_web_scheme(s));
                if !ok {
                    return Err(ApiError::invalid_value("websites", site));
                }
            }
            cloud.insert("websites".into(), json!(sites));
        }
        Some(other) => return Err(ApiError::invalid_value("websites", other)),
    }
    if cloud.is_empty() {
        return Err(ApiError::invalid("No valid parameters provided"));
    }
    Ok(cloud)
}

/// Cloud's value for a `vertical` given by its old name ("Shopping and
/// Retail") or by Cloud's own (`RETAIL`, `ALCOHOL`), in any case. Cloud's
/// retired `UNDEFINED` and `NOT_A_BIZ` are not taken.
fn cloud_vertical(given: &str) -> Option<&'static str> {
    let old = VERTICALS.iter().find(|(onprem, _)| onprem.eq_ignore_ascii_case(given)).map(|(_, c)| *c);
    old.or_else(|| {
        let cloud_names = VERTICALS.iter().map(|(_, c)| *c).chain(CLOUD_ONLY_VERTICALS.iter().copied());
        cloud_names.into_iter().find(|c| c.eq_ignore_ascii_case(given))
    })
}

/// `settings.business.profile` from Cloud's profile fields: verticals by
/// their old names where they have one, else as Cloud names them.
pub fn business_from_cloud(cloud: &Value) -> Value {
    let text = |k: &str| cloud.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let vertical = cloud
        .get("vertical")
        .and_then(Value::as_str)
        .map(|c| VERTICALS.iter().find(|(_, cloud)| *cloud == c).map_or(c, |(onprem, _)| *onprem))
        .unwrap_or_default();
    json!({
        "address": text("address"),
        "description": text("description"),
        "email": text("email"),
        "vertical": vertical,
        "websites": cloud.get("websites").cloned().unwrap_or_else(|| json!([])),
    })
}

pub(crate) fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.contains('@'),
        None => false,
    }
}

fn has_web_scheme(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    ["http://", "https://"].iter().any(|p| lower.starts_with(p) && lower.len() > p.len())
}

/// Checks a two-step PIN: six digits.
pub fn pin(body: &Value) -> Result<String, ApiError> {
    match body.get("pin") {
        None | Some(Value::Null) => Err(ApiError::missing("pin")),
        Some(Value::String(p)) if p.len() == 6 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(p.clone()),
        Some(other) => Err(ApiError::invalid_value("pin", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn about_limits() {
        assert_eq!(about_text(&json!({"text": "Open 9-5"})).unwrap(), "Open 9-5");
        assert_eq!(about_text(&json!({"text": "é".repeat(139)})).unwrap().chars().count(), 139);
        assert_eq!(about_text(&json!({})).unwrap_err().code, ErrorCode::ParameterMissing);
        assert_eq!(about_text(&json!({"text": ""})).unwrap_err().code, ErrorCode::ParameterMissing);
        assert_eq!(about_text(&json!({"text": "x".repeat(140)})).unwrap_err().code, ErrorCode::ParameterInvalid);
        assert_eq!(about_text(&json!({"text": 5})).unwrap_err().code, ErrorCode::ParameterInvalid);
    }

    #[test]
    fn business_fields_translate_both_ways() {
        let cloud = business_update(&json!({"vertical": "Shopping and Retail", "websites": ["https://a.test"],
            "email": "shop@a.test", "address": "1 Main St"}))
        .unwrap();
        assert_eq!(cloud["vertical"], "RETAIL");
        let back = business_from_cloud(&Value::Object(cloud));
        assert_eq!(back["vertical"], "Shopping and Retail");
        assert_eq!(back["websites"], json!(["https://a.test"]));
        assert_eq!(back["description"], "");
    }

    #[test]
    fn verticals_without_an_old_name_pass_through() {
        for (given, cloud) in [("ALCOHOL", "ALCOHOL"), ("otc_drugs", "OTC_DRUGS"), ("RETAIL", "RETAIL")] {
            let fields = business_update(&json!({ "vertical": given })).unwrap();
            assert_eq!(fields["vertical"], cloud);
        }
        let back = business_from_cloud(&json!({"vertical": "ONLINE_GAMBLING"}));
        assert_eq!(back["vertical"], "ONLINE_GAMBLING");
        assert_eq!(business_from_cloud(&json!({"vertical": "RETAIL"}))["vertical"], "Shopping and Retail");
        for retired in ["UNDEFINED", "NOT_A_BIZ"] {
            assert_eq!(business_update(&json!({ "vertical": retired })).unwrap_err().code, ErrorCode::ParameterInvalid);
        }
    }

    #[test]
    fn business_limits() {
        for bad in [
            json!({"vertical": "Space travel"}),
            json!({"vertical": ""}),
            json!({"websites": ["https://a.test", "https://b.test", "https://c.test"]}),
            json!({"websites": ["a.test"]}),
            json!({"email": "nope"}),
            json!({"address": "x".repeat(257)}),
            json!({"description": "x".repeat(513)}),
            json!({"unknown": 1}),
            json!([]),
        ] {
            assert_eq!(business_update(&bad).unwrap_err().code, ErrorCode::ParameterInvalid, "{bad}");
        }
        assert!(business_update(&json!({"description": "x".repeat(512)})).is_ok());
    }

    #[test]
    fn pins() {
        assert_eq!(pin(&json!({"pin": "123456"})).unwrap(), "123456");
        assert_eq!(pin(&json!({})).unwrap_err().code, ErrorCode::ParameterMissing);
        for bad in [json!({"pin": ""}), json!({"pin": "12345"}), json!({"pin": 123456}), json!({"pin": "12345a"})] {
            assert_eq!(pin(&bad).unwrap_err().code, ErrorCode::ParameterInvalid, "{bad}");
        }
    }
}
