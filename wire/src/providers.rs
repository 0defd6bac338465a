//! Media providers (`/v1/settings/application/media/providers`): named
//! credentials for fetching `link` media from hosts that require them.
//! Cloud fetches links itself and cannot authenticate, so a message whose
//! media names a provider is downloaded by a coreapp with these
//! credentials and sent to Cloud as an upload.
//!
//! `hosts` (a wa-onprem addition next to the old client's fields) lists
//! where the credentials may go, as [`HostPattern`]s; a provider without
//! it uses the coreapp's `WA_MEDIA_PROVIDER_HOSTS`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::netpolicy::HostPattern;

/// How the host wants to be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderAuth {
    Basic { username: String, password: String },
    Bearer(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub name: String,
    pub auth: ProviderAuth,
    /// The hosts the credentials may go to; empty: the coreapp's own list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostPattern>,
}

impl Provider {
    /// The invariants of a provider, whoever built it (the coreapp checks
    /// again what it received): a name of at most 64 letters, digits, `-`,
    /// `_` and `.`; no empty credential; at most [`MAX_HOSTS`] hosts.
    pub fn check(&self) -> Result<(), ApiError> {
        let name = &self.name;
        if name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        if name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
            return Err(ApiError::invalid_value("name", name));
        }
        match &self.auth {
            ProviderAuth::Basic { username, .. } if username.is_empty() => {
                return Err(ApiError::missing("config.basic.username"));
            }
            ProviderAuth::Basic { password, .. } if password.is_empty() => {
                return Err(ApiError::missing("config.basic.password"));
            }
            ProviderAuth::Bearer(token) if token.is_empty() => {
                return Err(ApiError::invalid_value("config.bearer", ""));
            }
            _ => {}
        }
        if self.hosts.len() > MAX_HOSTS {
            return Err(ApiError::invalid(format!("Parameter 'hosts' takes at most {MAX_HOSTS} hosts")));
        }
        Ok(())
    }

    /// The same provider with its password or token replaced by [`MASK`]:
    /// what a listing carries.
    pub fn masked(&self) -> Provider {
        let auth = match &self.auth {
            ProviderAuth::Basic { username, .. } => {
                ProviderAuth::Basic { username: username.clone(), password: MASK.to_string() }
            }
            ProviderAuth::Bearer(_) => ProviderAuth::Bearer(MASK.to_string()),
        };
        Provider { name: self.name.clone(), auth, hosts: self.hosts.clone() }
    }

    /// The old client's listing shape, with the secret masked.
    pub fn to_onprem_masked(&self) -> Value {
        let config = match &self.auth {
            ProviderAuth::Basic { username, .. } => json!({"basic": {"username": username, "password": MASK}}),
            ProviderAuth::Bearer(_) => json!({"bearer": MASK}),
        };
        let mut out = json!({"name": self.name, "type": "www", "config": config});
        if !self.hosts.is_empty() {
            out["hosts"] = json!(self.hosts);
        }
        out
    }
}

/// What a listing shows instead of a password or token.
pub const MASK: &str = "********";

/// Most hosts one provider may list.
pub const MAX_HOSTS: usize = 100;

/// Checks a `POST` body: an array holding exactly one provider
/// `{"name", "type": "www", "config": {"basic": {"username", "password"}} | {"bearer": "<token>"}, "hosts"?: [...]}`.
pub fn parse(body: &Value) -> Result<Provider, ApiError> {
    let one = match body {
        Value::Array(items) if items.len() == 1 => &items[0],
        Value::Array(items) if items.is_empty() => return Err(ApiError::missing("providers")),
        Value::Array(_) => return Err(ApiError::invalid("Can only add 1 config at a time")),
        // A single object is taken as a one-element list.
        Value::Object(_) => body,
        _ => return Err(ApiError::invalid("The media providers must be a JSON array")),
    };
    let name = text(one, "name", "name")?;
    match one.get("type") {
        None | Some(Value::Null) => return Err(ApiError::missing("type")),
        Some(Value::String(t)) if t == "www" => {}
        Some(other) => return Err(ApiError::invalid_value("type", other)),
    }
    let Some(config) = one.get("config").filter(|c| !c.is_null()) else {
        return Err(ApiError::missing("config"));
    };
    let auth = match (config.get("basic"), config.get("bearer")) {
        (Some(basic), None) => ProviderAuth::Basic {
            username: text(basic, "username", "config.basic.username")?,
            password: text(basic, "password", "config.basic.password")?,
        },
        (None, Some(Value::String(token))) if !token.is_empty() => ProviderAuth::Bearer(token.clone()),
        (None, Some(other)) => return Err(ApiError::invalid_value("config.bearer", other)),
        (None, None) => return Err(ApiError::missing("config.basic")),
        (Some(_), Some(_)) => return Err(ApiError::invalid("Parameter 'config' takes one of 'basic' and 'bearer'")),
    };
    let hosts = hosts(one.get("hosts"))?;
    let provider = Provider { name, auth, hosts };
    provider.check()?;
    Ok(provider)
}

/// `hosts`: absent (or null), or a non-empty array of host patterns. An
/// empty array is refused rather than read as "anywhere" or "nowhere".
fn hosts(value: Option<&Value>) -> Result<Vec<HostPattern>, ApiError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_HOSTS => items,
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(ApiError::invalid("Parameter 'hosts' must list at least one host, or be left out"));
        }
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(format!("Parameter 'hosts' takes at most {MAX_HOSTS} hosts")));
        }
        Some(other) => return Err(ApiError::invalid_value("hosts", other)),
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => {
                s.parse::<HostPattern>().map_err(|e| ApiError::invalid(format!("Parameter 'hosts': {e}")))
            }
            other => Err(ApiError::invalid_value("hosts", other)),
        })
        .collect()
}

fn text(object: &Value, key: &str, path: &str) -> Result<String, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(ApiError::missing(path)),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing(path)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::invalid_value(path, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn basic_and_bearer() {
        let p = parse(&json!([{"name": "corp", "type": "www",
            "config": {"basic": {"username": "u", "password": "p"}}}]))
        .unwrap();
        assert_eq!(p.auth, ProviderAuth::Basic { username: "u".into(), password: "p".into() });
        assert_eq!(p.to_onprem_masked()["config"]["basic"]["password"], MASK);
        let p = parse(&json!([{"name": "cdn", "type": "www", "config": {"bearer": "tok"}}])).unwrap();
        assert_eq!(p.auth, ProviderAuth::Bearer("tok".into()));
        assert_eq!(p.to_onprem_masked()["config"]["bearer"], MASK);
        // The old shape exactly: no `hosts` key when none are listed.
        assert_eq!(p.to_onprem_masked(), json!({"name": "cdn", "type": "www", "config": {"bearer": MASK}}));
    }

    #[test]
    fn hosts_are_checked_kept_and_listed() {
        let p = parse(&json!([{"name": "corp", "type": "www", "config": {"bearer": "t"},
            "hosts": ["Files.Example.com", "*.cdn.example.com", "10.1.2.3:8443"]}]))
        .unwrap();
        let shown = json!(["files.example.com", "*.cdn.example.com", "10.1.2.3:8443"]);
        assert_eq!(p.to_onprem_masked()["hosts"], shown);
        // Stored as JSON and read back; providers stored before `hosts`
        // existed read as having none.
        let stored = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Provider>(&stored).unwrap(), p);
        let old: Provider = serde_json::from_str(r#"{"name":"x","auth":{"bearer":"t"}}"#).unwrap();
        assert!(old.hosts.is_empty());
        assert!(!serde_json::to_string(&old).unwrap().contains("hosts"));
        for bad in [
            json!([]),
            json!("files.example.com"),
            json!(["https://files.example.com/x"]),
            json!(["*"]),
            json!([5]),
            json!(vec!["a.example.com"; MAX_HOSTS + 1]),
        ] {
            let body = json!([{"name": "c", "type": "www", "config": {"bearer": "t"}, "hosts": bad}]);
            assert_eq!(parse(&body).unwrap_err().code, ErrorCode::ParameterInvalid, "{bad}");
        }
        let null = json!([{"name": "c", "type": "www", "config": {"bearer": "t"}, "hosts": null}]);
        assert!(parse(&null).unwrap().hosts.is_empty());
    }

    #[test]
    fn bad_bodies() {
        let good = json!({"name": "corp", "type": "www", "config": {"bearer": "t"}});
        assert_eq!(parse(&json!([good, good])).unwrap_err().details, "Can only add 1 config at a time");
        for (bad, code) in [
            (json!([]), ErrorCode::ParameterMissing),
            (json!([{"type": "www", "config": {"bearer": "t"}}]), ErrorCode::ParameterMissing),
            (json!([{"name": "c", "type": "everstore", "config": {"bearer": "t"}}]), ErrorCode::ParameterInvalid),
            (json!([{"name": "c", "type": "www"}]), ErrorCode::ParameterMissing),
            (
                json!([{"name": "c", "type": "www", "config": {"basic": {"username": "u"}}}]),
                ErrorCode::ParameterMissing,
            ),
            (json!([{"name": "c d", "type": "www", "config": {"bearer": "t"}}]), ErrorCode::ParameterInvalid),
            (json!("x"), ErrorCode::ParameterInvalid),
        ] {
            assert_eq!(parse(&bad).unwrap_err().code, code, "{bad}");
        }
    }

    #[test]
    fn finds_provider_links() {
        let read = |v| crate::messages::Message::from_json(&v).unwrap();
        let msg = read(json!({"type": "image", "image": {"link": "https://h/i.png", "provider": {"name": "corp"}}}));
        assert_eq!(msg.provider_link(), Some(("corp", "https://h/i.png")));
        assert_eq!(read(json!({"type": "image", "image": {"link": "https://h/i.png"}})).provider_link(), None);
        assert_eq!(read(json!({"type": "text", "text": {"body": "x"}})).provider_link(), None);
    }
}
