//! A template send checked against the stored template: status (132001,
//! 132015, 132016), parameter counts (132000), formats (132012), characters
//! (132007) and the rendered length (132005).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::store::Template;
use crate::graph::GraphError;
use crate::messages::content::check_media_object;
use crate::messages::fields::{Obj, invalid, missing};

/// Longest header text parameter.
const HEADER_PARAM_MAX: usize = 60;
/// Longest body text parameter.
const BODY_PARAM_MAX: usize = 1024;
/// Longest rendered body of a template with only a body, and of any other.
const BODY_ONLY_MAX: usize = 32_768;
const RENDERED_MAX: usize = 1024;

/// The `{{…}}` placeholders of `text`, each once, in order of appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim().to_owned();
        if !name.is_empty() && !found.contains(&name) {
            found.push(name);
        }
        rest = &after[end + 2..];
    }
    found
}

/// The refusal for a template that exists but cannot be sent, if any.
pub fn check_status(template: &Template) -> Result<(), GraphError> {
    let name = &template.name;
    match template.status.as_str() {
        "APPROVED" => Ok(()),
        "PAUSED" => Err(GraphError::whatsapp(132015, format!("Template {name} is paused due to low quality."))),
        "DISABLED" => Err(GraphError::whatsapp(132016, format!("Template {name} is disabled."))),
        // Pending, rejected, …: for sending, a template that is not approved does not exist.
        other => Err(GraphError::whatsapp(
            132001,
            format!("template name ({name}) does not exist in {} (status {other})", template.language),
        )),
    }
}

/// 132001 as Cloud words it.
pub fn not_found(name: &str, language: &str) -> GraphError {
    GraphError::whatsapp(132001, format!("template name ({name}) does not exist in {language}"))
}

/// One component of the send: its parameters, and for buttons sub_type and index.
struct SendComponent<'a> {
    kind: String,
    sub_type: Option<String>,
    index: Option<usize>,
    parameters: Vec<&'a Map<String, Value>>,
}

/// Checks the parameters of a send of `template` (already found and approved).
pub fn check_parameters(template: &Template, send: &Value) -> Result<(), GraphError> {
    let components = parse_components(send)?;
    let of_kind = |kind: &'static str| components.iter().filter(move |c| c.kind == kind);
    if of_kind("header").count() > 1 || of_kind("body").count() > 1 {
        return Err(invalid("A template send may have at most one header and one body component."));
    }
    let empty = Vec::new();
    let header_params = of_kind("header").next().map_or(&empty, |c| &c.parameters);
    let body_params = of_kind("body").next().map_or(&empty, |c| &c.parameters);

    check_header(template, header_params)?;
    let rendered = check_body(template, body_params)?;
    check_buttons(template, of_kind("button").collect())?;

    let only_body = template.components.as_array().is_some_and(|all| all.len() == 1);
    let limit = if only_body { BODY_ONLY_MAX } else { RENDERED_MAX };
    let length = rendered.chars().count();
    if length > limit {
        return Err(GraphError::whatsapp(
            132005,
            format!("body: the rendered text is {length} characters long, more than {limit}"),
        ));
    }
    Ok(())
}

fn parse_components(send: &Value) -> Result<Vec<SendComponent<'_>>, GraphError> {
    let Some(components) = send.get("components").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (at, component) in components.iter().enumerate() {
        let path = format!("template['components'][{at}]");
        let component = Obj::new(component, &path)?;
        let kind = component.required_string("type")?.to_ascii_lowercase();
        let mut parameters = Vec::new();
        for (i, parameter) in component.array("parameters")?.into_iter().flatten().enumerate() {
            let parameter_path = format!("{path}['parameters'][{i}]");
            parameters.push(crate::messages::fields::object(parameter, &parameter_path)?);
        }
        let index = match component.get("index") {
            None => None,
            Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        if kind == "button" && index.is_none() {
            return Err(missing(&component.path_of("index")));
        }
        let sub_type = component.string("sub_type")?.map(str::to_ascii_lowercase);
        if kind == "button" && sub_type.is_none() {
            return Err(missing(&component.path_of("sub_type")));
        }
        out.push(SendComponent { kind, sub_type, index, parameters });
    }
    Ok(out)
}

fn count_mismatch(what: &str, got: usize, expected: usize) -> GraphError {
    GraphError::whatsapp(
        132000,
        format!(
            "{what}: number of localizable_params ({got}) does not match the expected number of params ({expected})"
        ),
    )
}

fn param_type(parameter: &Map<String, Value>) -> String {
    parameter.get("type").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase()
}

fn check_header(template: &Template, params: &[&Map<String, Value>]) -> Result<(), GraphError> {
    let Some(header) = template.component("HEADER") else {
        return if params.is_empty() { Ok(()) } else { Err(count_mismatch("header", params.len(), 0)) };
    };
    let format = header.get("format").and_then(Value::as_str).unwrap_or("TEXT").to_ascii_uppercase();
    if format == "TEXT" {
        let text = header.get("text").and_then(Value::as_str).unwrap_or("");
        let expected = placeholders(text).len();
        if params.len() != expected {
            return Err(count_mismatch("header", params.len(), expected));
        }
        for parameter in params {
            let kind = param_type(parameter);
            if kind != "text" {
                return Err(format_mismatch("header", "TEXT", &kind));
            }
            let value = text_value(parameter, "header")?;
            if value.chars().count() > HEADER_PARAM_MAX {
                return Err(invalid(format!("header: parameter text is longer than {HEADER_PARAM_MAX} characters")));
            }
        }
        return Ok(());
    }
    if params.len() != 1 {
        return Err(count_mismatch("header", params.len(), 1));
    }
    let kind = param_type(params[0]);
    if kind.to_ascii_uppercase() != format {
        return Err(format_mismatch("header", &format, &kind));
    }
    let object =
        params[0].get(&kind).and_then(Value::as_object).ok_or_else(|| missing(&format!("header parameter {kind}")))?;
    let path = format!("header parameter {kind}");
    if kind == "location" {
        let location = Obj { path: &path, map: object };
        for key in ["latitude", "longitude"] {
            location.number(key)?.ok_or_else(|| missing(&location.path_of(key)))?;
        }
    } else {
        check_media_object(Obj { path: &path, map: object })?;
    }
    Ok(())
}

fn format_mismatch(what: &str, expected: &str, received: &str) -> GraphError {
    GraphError::whatsapp(
        132012,
        format!("{what}: Format mismatch, expected {expected}, received {}", received.to_ascii_uppercase()),
    )
}

/// The text a parameter stands for: `text`, or the fallback of a currency or date.
fn text_value<'a>(parameter: &'a Map<String, Value>, what: &str) -> Result<&'a str, GraphError> {
    let kind = param_type(parameter);
    let value = match kind.as_str() {
        "text" => parameter.get("text").and_then(Value::as_str),
        "currency" | "date_time" => {
            let object = parameter.get(&kind).and_then(Value::as_object);
            if kind == "currency" && object.is_some_and(|c| c.get("code").is_none() || c.get("amount_1000").is_none()) {
                return Err(missing(&format!("{what}: currency code and amount_1000")));
            }
            object.and_then(|o| o.get("fallback_value")).and_then(Value::as_str)
        }
        other => return Err(format_mismatch(what, "TEXT", other)),
    };
    value.filter(|v| !v.is_empty()).ok_or_else(|| missing(&format!("{what}: parameter {kind}")))
}

/// Checks the body parameters; returns the rendered body text.
fn check_body(template: &Template, params: &[&Map<String, Value>]) -> Result<String, GraphError> {
    let text = template.component("BODY").and_then(|b| b.get("text")).and_then(Value::as_str).unwrap_or("");
    let expected = placeholders(text);
    if params.len() != expected.len() {
        return Err(count_mismatch("body", params.len(), expected.len()));
    }
    let named = template.parameter_format == "NAMED";
    let mut rendered = text.to_owned();
    let mut seen = HashSet::new();
    for (at, parameter) in params.iter().enumerate() {
        let value = text_value(parameter, "body")?;
        if value.chars().count() > BODY_PARAM_MAX {
            return Err(invalid(format!("body: parameter text is longer than {BODY_PARAM_MAX} characters")));
        }
        if value.contains(['\n', '\t']) || value.contains("     ") {
            return Err(GraphError::whatsapp(
                132007,
                "body: a parameter contains a new line, a tab or more than 4 consecutive spaces",
            ));
        }
        let placeholder = if named {
            let name = parameter.get("parameter_name").and_then(Value::as_str).unwrap_or("");
            if !expected.iter().any(|e| e == name) || !seen.insert(name) {
                return Err(GraphError::whatsapp(
                    132000,
                    format!("body: parameter name ({name}) does not match the expected params {expected:?}"),
                ));
            }
            name.to_owned()
        } else {
            // Positional parameters fill {{1}}, {{2}}, … in order.
            (at + 1).to_string()
        };
        rendered = rendered.replace(&format!("{{{{{placeholder}}}}}"), value);
    }
    Ok(rendered)
}

/// What a template button needs from a send.
fn button_needs(button: &Map<String, Value>) -> (String, &'static [&'static str], usize, usize) {
    let kind = button.get("type").and_then(Value::as_str).unwrap_or("").to_ascii_uppercase();
    let url_params = button.get("url").and_then(Value::as_str).map_or(0, |url| placeholders(url).len().min(1));
    // (accepted sub_types, min params, max params)
    let (sub_types, min, max): (&'static [&'static str], usize, usize) = match kind.as_str() {
        "URL" => (&["url"], url_params, url_params),
        // Authentication templates send their code through a url button.
        "OTP" => (&["url", "copy_code"], 1, 1),
        "COPY_CODE" => (&["copy_code"], 1, 1),
        "QUICK_REPLY" => (&["quick_reply"], 0, 1),
        "FLOW" => (&["flow"], 0, 1),
        "CATALOG" => (&["catalog"], 0, 1),
        "MPM" => (&["mpm"], 1, 1),
        _ => (&["phone_number", "voice_call"], 0, 0),
    };
    (kind, sub_types, min, max)
}

fn check_buttons(template: &Template, sent: Vec<&SendComponent<'_>>) -> Result<(), GraphError> {
    let empty = Vec::new();
    let buttons =
        template.component("BUTTONS").and_then(|b| b.get("buttons")).and_then(Value::as_array).unwrap_or(&empty);
    let mut seen = HashSet::new();
    for component in &sent {
        let index = component.index.unwrap_or(usize::MAX);
        let Some(button) = buttons.get(index).and_then(Value::as_object) else {
            return Err(invalid(format!("button: index {index} is not a button of the template")));
        };
        if !seen.insert(index) {
            return Err(invalid(format!("button: index {index} appears twice")));
        }
        let (kind, sub_types, min, max) = button_needs(button);
        let sub_type = component.sub_type.as_deref().unwrap_or("");
        if !sub_types.contains(&sub_type) {
            return Err(invalid(format!(
                "button at index {index}: sub_type {sub_type} does not match the template's {kind} button"
            )));
        }
        let got = component.parameters.len();
        if got < min || got > max {
            return Err(count_mismatch(&format!("button at index {index}"), got, max));
        }
    }
    for (index, button) in buttons.iter().enumerate() {
        let Some(button) = button.as_object() else { continue };
        let (_, _, min, max) = button_needs(button);
        if min > 0 && !seen.contains(&index) {
            return Err(count_mismatch(&format!("button at index {index}"), 0, max));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::templates::store::Templates;

    fn template(name: &str, language: &str) -> Template {
        Templates::preloaded().find(name, language).unwrap()
    }

    fn code(template: &Template, send: Value) -> u32 {
        check_parameters(template, &send).unwrap_err().code
    }

    fn text(t: &str) -> Value {
        json!({"type": "text", "text": t})
    }

    #[test]
    fn finds_placeholders() {
        assert_eq!(placeholders("Hi {{1}}, {{2}} and {{1}} again"), ["1", "2"]);
        assert_eq!(placeholders("{{ first_name }} {{discount}}"), ["first_name", "discount"]);
        assert!(placeholders("no {{ params").is_empty());
    }

    #[test]
    fn templates_without_parameters() {
        let hello = template("hello_world", "en_US");
        assert!(check_parameters(&hello, &json!({"name": "hello_world"})).is_ok());
        let err = check_parameters(&hello, &json!({"components": [{"type": "body", "parameters": [text("x")]}]}))
            .unwrap_err();
        assert_eq!(err.code, 132000);
        assert_eq!(
            err.details(),
            Some("body: number of localizable_params (1) does not match the expected number of params (0)")
        );
    }

    #[test]
    fn positional_body_and_url_button() {
        let order = template("order_confirmation", "en_US");
        let good = json!({"components": [
            {"type": "body", "parameters": [text("Jessica"), text("#42"),
                {"type": "date_time", "date_time": {"fallback_value": "February 25, 1977"}}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("42")]},
            {"type": "button", "sub_type": "quick_reply", "index": 1, "parameters": [{"type": "payload", "payload": "TALK"}]}
        ]});
        check_parameters(&order, &good).unwrap();
        let two = json!({"components": [{"type": "body", "parameters": [text("a"), text("b")]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("42")]}]});
        assert_eq!(code(&order, two), 132000);
        let no_button = json!({"components": [{"type": "body", "parameters": [text("a"), text("b"), text("c")]}]});
        assert_eq!(code(&order, no_button), 132000);
        let wrong_sub_type = json!({"components": [{"type": "body", "parameters": [text("a"), text("b"), text("c")]},
            {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [text("42")]}]});
        assert_eq!(code(&order, wrong_sub_type), 131009);
        let newline = json!({"components": [{"type": "body", "parameters": [text("a\nb"), text("b"), text("c")]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("42")]}]});
        assert_eq!(code(&order, newline), 132007);
        let image_in_body = json!({"components": [{"type": "body", "parameters": [text("a"), text("b"),
            {"type": "image", "image": {"id": "1"}}]}, {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("42")]}]});
        assert_eq!(code(&order, image_in_body), 132012);
    }

    #[test]
    fn named_parameters_and_media_header() {
        let promo = template("spring_promo", "en");
        let header =
            json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.test/s.jpg"}}]});
        let body = json!({"type": "body", "parameters": [
            {"type": "text", "parameter_name": "discount", "text": "20%"},
            {"type": "text", "parameter_name": "first_name", "text": "Ada"}]});
        check_parameters(&promo, &json!({"components": [header, body]})).unwrap();
        assert_eq!(code(&promo, json!({"components": [body]})), 132000, "the image header needs its parameter");
        let text_header = json!({"type": "header", "parameters": [text("x")]});
        assert_eq!(code(&promo, json!({"components": [text_header, body]})), 132012);
        let unknown = json!({"type": "body", "parameters": [
            {"type": "text", "parameter_name": "name", "text": "Ada"},
            {"type": "text", "parameter_name": "discount", "text": "20%"}]});
        assert_eq!(code(&promo, json!({"components": [header, unknown]})), 132000);
    }

    #[test]
    fn authentication_code_button_and_statuses() {
        let otp = template("verification_code", "en_US");
        let send = json!({"components": [{"type": "body", "parameters": [text("123456")]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("123456")]}]});
        check_parameters(&otp, &send).unwrap();
        let mut paused = otp.clone();
        paused.status = "PAUSED".into();
        assert_eq!(check_status(&paused).unwrap_err().code, 132015);
        paused.status = "DISABLED".into();
        assert_eq!(check_status(&paused).unwrap_err().code, 132016);
        paused.status = "PENDING".into();
        let err = check_status(&paused).unwrap_err();
        assert_eq!((err.code, err.status.as_u16()), (132001, 404));
        assert!(check_status(&otp).is_ok());
    }

    #[test]
    fn rendered_length() {
        let order = template("order_confirmation", "en_US");
        let long = "x".repeat(1000);
        let send = json!({"components": [{"type": "body", "parameters": [text(&long), text("b"), text("c")]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("42")]}]});
        assert_eq!(code(&order, send), 132005);
    }
}
