//! The shape of a template send: name, language, components. The lookup and
//! the parameter checks against the stored template are in `templates::check`.

use serde_json::Value;

use super::fields::Obj;
use crate::graph::GraphError;

/// Checks the template object; returns its name and language code.
pub fn check_shape(value: &Value) -> Result<(String, String), GraphError> {
    let template = Obj::new(value, "template")?;
    let name = match template.string("name")? {
        Some(name) if !name.trim().is_empty() => name,
        _ => return Err(GraphError::missing_parameter("template['name']")),
    };
    let language = template.object("language")?.ok_or_else(|| GraphError::missing_parameter("template['language']"))?;
    let language = Obj { path: "template['language']", map: language };
    let code = match language.string("code")? {
        Some(code) if !code.trim().is_empty() => code,
        _ => return Err(GraphError::missing_parameter("template['language']['code']")),
    };
    // Cloud only knows deterministic matching; `fallback` from old on-prem payloads is tolerated.
    language.one_of("policy", &["deterministic", "fallback"])?;
    if let Some(components) = template.array("components")? {
        for (index, component) in components.iter().enumerate() {
            let path = format!("template['components'][{index}]");
            let component = Obj::new(component, &path)?;
            component.one_of("type", &["header", "body", "button", "footer"])?;
            component.array("parameters")?;
        }
    }
    Ok((name.to_owned(), code.to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shapes() {
        let ok = check_shape(&json!({"name": "hello_world", "language": {"code": "en_US", "policy": "deterministic"}}));
        assert_eq!(ok.unwrap(), ("hello_world".to_owned(), "en_US".to_owned()));
        for (bad, message) in [
            (json!({"language": {"code": "en"}}), "(#100) The parameter template['name'] is required."),
            (json!({"name": "x"}), "(#100) The parameter template['language'] is required."),
            (json!({"name": "x", "language": {}}), "(#100) The parameter template['language']['code'] is required."),
        ] {
            assert_eq!(check_shape(&bad).unwrap_err().message, message);
        }
        assert!(check_shape(&json!({"name": "x", "language": {"code": "en"}, "components": {}})).is_err());
        assert!(
            check_shape(&json!({"name": "x", "language": {"code": "en"}, "components": [{"type": "carousel"}]}))
                .is_err()
        );
        assert!(check_shape(&json!({"name": "x", "language": {"code": "en", "policy": "random"}})).is_err());
    }
}
