//! Typed access to the fields of a send, with Cloud's error codes.
//!
//! The sandbox's policy, applied to every message type: a field of the wrong
//! JSON type or an unknown enum value is Graph's parameter error (100); a
//! missing field WhatsApp needs is 131008; a value outside Cloud's limits
//! (lengths, counts, ranges, formats, duplicates) is 131009. The top-level
//! objects (`to`, `type`, the object `type` names, `text['body']`) are Graph
//! parameters, so their absence is 100, as Cloud answers.

use serde_json::{Map, Value};

use crate::graph::GraphError;

/// A JSON object at a known path, e.g. `interactive['action']`. What it
/// hands out borrows the JSON (`'a`), not the path (`'p`).
#[derive(Clone, Copy)]
pub struct Obj<'p, 'a> {
    pub path: &'p str,
    pub map: &'a Map<String, Value>,
}

/// An owned path with a borrowed object, for objects at computed paths.
pub struct At<'a> {
    pub path: String,
    pub map: &'a Map<String, Value>,
}

impl<'a> At<'a> {
    pub fn obj(&self) -> Obj<'_, 'a> {
        Obj { path: &self.path, map: self.map }
    }
}

/// `Param <path> must be a JSON object.` unless `value` is one.
pub fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, GraphError> {
    value.as_object().ok_or_else(|| GraphError::invalid_parameter(format!("Param {path} must be a JSON object.")))
}

/// The path of `key` inside `path`: `text['body']`.
pub fn child(path: &str, key: &str) -> String {
    format!("{path}['{key}']")
}

/// The path of item `index` of the array at `path`: `contacts[0]`.
pub fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// 131008: the parameter is required.
pub fn missing(path: &str) -> GraphError {
    GraphError::whatsapp(131008, format!("The parameter {path} is required."))
}

/// 131009 with `details`.
pub fn invalid(details: impl Into<String>) -> GraphError {
    GraphError::whatsapp(131009, details)
}

/// 131009 unless `text` has `min..=max` characters (Cloud counts characters, not bytes).
pub fn check_length(path: &str, text: &str, min: usize, max: usize) -> Result<(), GraphError> {
    let length = text.chars().count();
    if (min..=max).contains(&length) {
        Ok(())
    } else {
        Err(invalid(format!("{path} length invalid. Min length: {min}, Max length: {max}, got: {length}")))
    }
}

/// Whether `url` is an absolute http(s) URL.
pub fn is_http_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some())
}

// === impl Obj ===

impl<'p, 'a> Obj<'p, 'a> {
    pub fn new(value: &'a Value, path: &'p str) -> Result<Self, GraphError> {
        Ok(Obj { path, map: object(value, path)? })
    }

    /// The value of `key`; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    pub fn path_of(&self, key: &str) -> String {
        child(self.path, key)
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, GraphError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(GraphError::invalid_parameter(format!("Param {} must be a string.", self.path_of(key)))),
        }
    }

    /// A string that must be there and not blank (131008 otherwise).
    pub fn required_string(&self, key: &str) -> Result<&'a str, GraphError> {
        match self.string(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(missing(&self.path_of(key))),
        }
    }

    /// An optional string limited to `max` characters.
    pub fn short_string(&self, key: &str, max: usize) -> Result<Option<&'a str>, GraphError> {
        let value = self.string(key)?;
        if let Some(text) = value {
            check_length(&self.path_of(key), text, 0, max)?;
        }
        Ok(value)
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, GraphError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(GraphError::invalid_parameter(format!("Param {} must be a boolean.", self.path_of(key)))),
        }
    }

    /// A number, or a string holding one (Graph reads form-encoded numbers too).
    pub fn number(&self, key: &str) -> Result<Option<f64>, GraphError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => {
                s.trim().parse::<f64>().ok().filter(|n| n.is_finite()).map(Some).ok_or_else(|| {
                    GraphError::invalid_parameter(format!("Param {} must be a number.", self.path_of(key)))
                })
            }
            Some(_) => Err(GraphError::invalid_parameter(format!("Param {} must be a number.", self.path_of(key)))),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, GraphError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => object(value, &self.path_of(key)).map(Some),
        }
    }

    pub fn required_object(&self, key: &str) -> Result<&'a Map<String, Value>, GraphError> {
        self.object(key)?.ok_or_else(|| missing(&self.path_of(key)))
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, GraphError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(GraphError::invalid_parameter(format!("Param {} must be an array.", self.path_of(key)))),
        }
    }

    pub fn required_array(&self, key: &str) -> Result<&'a Vec<Value>, GraphError> {
        self.array(key)?.ok_or_else(|| missing(&self.path_of(key)))
    }

    /// An optional enum value (matched case-insensitively, as Graph does);
    /// anything else is Graph's 100 with the list.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, GraphError> {
        let Some(value) = self.string(key)? else {
            return Ok(None);
        };
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
            Ok(Some(value))
        } else {
            Err(GraphError::invalid_parameter(format!(
                "Param {} must be one of {{{}}} - got \"{value}\".",
                self.path_of(key),
                allowed.join(", ").to_uppercase()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn codes_follow_the_policy() {
        let value = json!({"s": "x", "n": 5, "blank": " ", "num": "1.5", "kind": "Cell"});
        let obj = Obj::new(&value, "card").unwrap();
        assert_eq!(obj.string("s").unwrap(), Some("x"));
        assert_eq!(obj.string("n").unwrap_err().code, 100);
        assert_eq!(obj.required_string("blank").unwrap_err().code, 131008);
        assert_eq!(obj.required_string("absent").unwrap_err().code, 131008);
        assert_eq!(obj.number("num").unwrap(), Some(1.5));
        assert_eq!(obj.number("s").unwrap_err().code, 100);
        assert_eq!(obj.short_string("s", 0).unwrap_err().code, 131009);
        assert_eq!(obj.one_of("kind", &["cell", "home"]).unwrap(), Some("Cell"));
        let err = obj.one_of("s", &["cell", "home"]).unwrap_err();
        assert_eq!(err.message, "(#100) Param card['s'] must be one of {CELL, HOME} - got \"x\".");
        assert!(Obj::new(&json!([]), "x").is_err());
    }

    #[test]
    fn lengths_count_characters() {
        assert!(check_length("t", "äöü", 1, 3).is_ok());
        let err = check_length("Button title", "", 1, 20).unwrap_err();
        assert_eq!(err.code, 131009);
        assert_eq!(err.details(), Some("Button title length invalid. Min length: 1, Max length: 20, got: 0"));
        assert!(is_http_url("https://x.test/a"));
        assert!(!is_http_url("ftp://x.test/a"));
        assert!(!is_http_url("/relative"));
    }
}
