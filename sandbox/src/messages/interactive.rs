//! Interactive messages: reply buttons, lists, CTA URLs, flows, location
//! and contact-info requests and the commerce types, with Cloud's limits
//! (`docs/cloud-api.md` §2.2).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::content::check_media_object;
use super::fields::{At, Obj, check_length, invalid, is_http_url, item, missing};
use crate::graph::GraphError;

const TYPES: &[&str] = &[
    "button",
    "list",
    "cta_url",
    "flow",
    "location_request_message",
    "product",
    "product_list",
    "catalog_message",
    "voice_call",
    "request_contact_info",
];

pub const BODY_MAX: usize = 1024;
pub const HEADER_TEXT_MAX: usize = 60;
pub const FOOTER_MAX: usize = 60;
pub const MAX_BUTTONS: usize = 3;
pub const BUTTON_TITLE_MAX: usize = 20;
pub const BUTTON_ID_MAX: usize = 256;
pub const LIST_BUTTON_MAX: usize = 20;
pub const MAX_SECTIONS: usize = 10;
pub const MAX_ROWS: usize = 10;
pub const SECTION_TITLE_MAX: usize = 24;
pub const ROW_ID_MAX: usize = 200;
pub const ROW_TITLE_MAX: usize = 24;
pub const ROW_DESCRIPTION_MAX: usize = 72;
pub const MAX_PRODUCTS: usize = 30;

pub fn check(value: &Value) -> Result<(), GraphError> {
    let interactive = Obj::new(value, "interactive")?;
    let kind = interactive.one_of("type", TYPES)?.ok_or_else(|| missing("interactive['type']"))?;
    let kind = kind.to_ascii_lowercase();

    // Body: required except on single products, where the card speaks for itself.
    match interactive.object("body")? {
        Some(body) => {
            let body = Obj { path: "interactive['body']", map: body };
            let text = body.required_string("text")?;
            check_length("interactive['body']['text']", text, 1, BODY_MAX)?;
        }
        None if kind == "product" => {}
        None => return Err(missing("interactive['body']")),
    }
    if let Some(footer) = interactive.object("footer")? {
        let footer = Obj { path: "interactive['footer']", map: footer };
        check_length("interactive['footer']['text']", footer.required_string("text")?, 1, FOOTER_MAX)?;
    }
    match interactive.object("header")? {
        Some(header) => check_header(&kind, Obj { path: "interactive['header']", map: header })?,
        None if kind == "product_list" => return Err(missing("interactive['header']")),
        None => {}
    }

    let action = Obj { path: "interactive['action']", map: interactive.required_object("action")? };
    match kind.as_str() {
        "button" => check_buttons(action),
        "list" => check_list(action),
        "cta_url" => check_cta_url(action),
        "flow" => check_flow(action),
        "location_request_message" => check_name(action, "send_location"),
        "product" => {
            action.required_string("catalog_id")?;
            action.required_string("product_retailer_id")?;
            Ok(())
        }
        "product_list" => check_product_list(action),
        "catalog_message" => check_name(action, "catalog_message"),
        // Asks a user known by BSUID for their phone number; the answer is a
        // `contacts` message with `origin: contact_request`.
        "request_contact_info" => check_name(action, "request_contact_info"),
        "voice_call" => {
            check_name(action, "voice_call")?;
            if let Some(parameters) = action.object("parameters")? {
                let parameters = Obj { path: "interactive['action']['parameters']", map: parameters };
                if let Some(text) = parameters.string("display_text")? {
                    check_length(&parameters.path_of("display_text"), text, 1, BUTTON_TITLE_MAX)?;
                }
            }
            Ok(())
        }
        _ => unreachable!("one_of checked the type"),
    }
}

fn check_header(kind: &str, header: Obj<'_, '_>) -> Result<(), GraphError> {
    let header_kind = header
        .one_of("type", &["text", "image", "video", "document"])?
        .ok_or_else(|| missing("interactive['header']['type']"))?
        .to_ascii_lowercase();
    if matches!(kind, "list" | "product_list") && header_kind != "text" {
        return Err(invalid(format!("interactive['header']['type'] must be text for {kind} messages.")));
    }
    if header_kind == "text" {
        check_length("interactive['header']['text']", header.required_string("text")?, 1, HEADER_TEXT_MAX)?;
    } else {
        let path = header.path_of(&header_kind);
        let media = header.required_object(&header_kind)?;
        check_media_object(Obj { path: &path, map: media })?;
    }
    Ok(())
}

fn check_name(action: Obj<'_, '_>, expected: &str) -> Result<(), GraphError> {
    let name = action.required_string("name")?;
    if name == expected {
        Ok(())
    } else {
        Err(invalid(format!("Param interactive['action']['name'] must be {expected:?}, got {name:?}.")))
    }
}

fn check_buttons(action: Obj<'_, '_>) -> Result<(), GraphError> {
    let buttons = action.required_array("buttons")?;
    if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
        return Err(invalid(format!("Number of buttons invalid. Min: 1, Max: {MAX_BUTTONS}, got: {}", buttons.len())));
    }
    let mut ids = HashSet::new();
    let mut titles = HashSet::new();
    for (index, button) in buttons.iter().enumerate() {
        let path = item("interactive['action']['buttons']", index);
        let button = Obj::new(button, &path)?;
        button.one_of("type", &["reply"])?.ok_or_else(|| missing(&button.path_of("type")))?;
        let reply = At { path: button.path_of("reply"), map: button.required_object("reply")? };
        let reply = reply.obj();
        let id = reply.required_string("id")?;
        check_length(&format!("Button id at index {index}"), id, 1, BUTTON_ID_MAX)?;
        let title = reply.required_string("title")?;
        check_length("Button title", title, 1, BUTTON_TITLE_MAX)?;
        if !ids.insert(id) {
            return Err(invalid(format!("Button ids must be unique; {id:?} repeats.")));
        }
        if !titles.insert(title) {
            return Err(invalid(format!("Button titles must be unique; {title:?} repeats.")));
        }
    }
    Ok(())
}

fn check_list(action: Obj<'_, '_>) -> Result<(), GraphError> {
    check_length("Button label", action.required_string("button")?, 1, LIST_BUTTON_MAX)?;
    let sections = action.required_array("sections")?;
    if sections.is_empty() || sections.len() > MAX_SECTIONS {
        return Err(invalid(format!(
            "Number of sections invalid. Min: 1, Max: {MAX_SECTIONS}, got: {}",
            sections.len()
        )));
    }
    let mut rows_total = 0;
    let mut row_ids = HashSet::new();
    for (index, section) in sections.iter().enumerate() {
        let path = item("interactive['action']['sections']", index);
        let section = Obj::new(section, &path)?;
        match section.string("title")? {
            Some(title) => check_length("Section title", title, 1, SECTION_TITLE_MAX)?,
            // One section may go untitled; several need titles to tell them apart.
            None if sections.len() > 1 => return Err(missing(&section.path_of("title"))),
            None => {}
        }
        let rows = section.required_array("rows")?;
        if rows.is_empty() {
            return Err(missing(&item(&section.path_of("rows"), 0)));
        }
        rows_total += rows.len();
        for (row_index, row) in rows.iter().enumerate() {
            let row_path = item(&section.path_of("rows"), row_index);
            let row = Obj::new(row, &row_path)?;
            let id = row.required_string("id")?;
            check_length("Row id", id, 1, ROW_ID_MAX)?;
            check_length("Row title", row.required_string("title")?, 1, ROW_TITLE_MAX)?;
            if let Some(description) = row.string("description")? {
                check_length("Row description", description, 0, ROW_DESCRIPTION_MAX)?;
            }
            if !row_ids.insert(id) {
                return Err(invalid(format!("Row ids must be unique; {id:?} repeats.")));
            }
        }
    }
    if rows_total > MAX_ROWS {
        return Err(invalid(format!("Total row count exceed max allowed count: {MAX_ROWS}")));
    }
    Ok(())
}

fn parameters<'a>(action: Obj<'_, 'a>) -> Result<&'a Map<String, Value>, GraphError> {
    action.required_object("parameters")
}

fn check_cta_url(action: Obj<'_, '_>) -> Result<(), GraphError> {
    check_name(action, "cta_url")?;
    let parameters = Obj { path: "interactive['action']['parameters']", map: parameters(action)? };
    check_length("Display text", parameters.required_string("display_text")?, 1, BUTTON_TITLE_MAX)?;
    let url = parameters.required_string("url")?;
    if !is_http_url(url) {
        return Err(invalid(format!(
            "Param interactive['action']['parameters']['url'] is not a valid http(s) URL: {url:?}"
        )));
    }
    Ok(())
}

fn check_flow(action: Obj<'_, '_>) -> Result<(), GraphError> {
    check_name(action, "flow")?;
    let parameters = Obj { path: "interactive['action']['parameters']", map: parameters(action)? };
    let version = parameters.required_string("flow_message_version")?;
    if version != "3" {
        return Err(invalid(format!("flow_message_version must be \"3\", got {version:?}.")));
    }
    parameters.string("flow_token")?;
    match (parameters.string("flow_id")?, parameters.string("flow_name")?) {
        (Some(_), Some(_)) => return Err(invalid("Give either flow_id or flow_name, not both.")),
        (None, None) => return Err(missing("interactive['action']['parameters']['flow_id']")),
        _ => {}
    }
    check_length("Flow CTA", parameters.required_string("flow_cta")?, 1, 30)?;
    parameters.one_of("mode", &["draft", "published"])?;
    let flow_action = parameters.one_of("flow_action", &["navigate", "data_exchange"])?;
    if let Some(payload) = parameters.object("flow_action_payload")? {
        let payload = Obj { path: "interactive['action']['parameters']['flow_action_payload']", map: payload };
        if flow_action.is_none_or(|a| a.eq_ignore_ascii_case("navigate")) {
            payload.required_string("screen")?;
        }
        payload.object("data")?;
    }
    Ok(())
}

fn check_product_list(action: Obj<'_, '_>) -> Result<(), GraphError> {
    action.required_string("catalog_id")?;
    let sections = action.required_array("sections")?;
    if sections.is_empty() || sections.len() > MAX_SECTIONS {
        return Err(invalid(format!(
            "Number of sections invalid. Min: 1, Max: {MAX_SECTIONS}, got: {}",
            sections.len()
        )));
    }
    let mut products = 0;
    for (index, section) in sections.iter().enumerate() {
        let path = item("interactive['action']['sections']", index);
        let section = Obj::new(section, &path)?;
        check_length("Section title", section.required_string("title")?, 1, SECTION_TITLE_MAX)?;
        let items = section.required_array("product_items")?;
        if items.is_empty() {
            return Err(missing(&item(&section.path_of("product_items"), 0)));
        }
        for (item_index, product) in items.iter().enumerate() {
            let product_path = item(&section.path_of("product_items"), item_index);
            Obj::new(product, &product_path)?.required_string("product_retailer_id")?;
        }
        products += items.len();
    }
    if products > MAX_PRODUCTS {
        return Err(invalid(format!("Total product count exceed max allowed count: {MAX_PRODUCTS}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn buttons(n: usize) -> Value {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("Option {i}")}}))
            .collect();
        json!({"type": "button", "body": {"text": "Pick"}, "action": {"buttons": list}})
    }

    fn rows(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": format!("r{i}"), "title": format!("Row {i}"), "description": "d"})).collect()
    }

    fn code(value: Value) -> u32 {
        check(&value).unwrap_err().code
    }

    #[test]
    fn reply_buttons() {
        assert!(check(&buttons(1)).is_ok());
        assert!(check(&buttons(3)).is_ok());
        assert_eq!(code(buttons(0)), 131009);
        assert_eq!(code(buttons(4)), 131009);
        let mut long = buttons(1);
        long["action"]["buttons"][0]["reply"]["title"] = json!("x".repeat(21));
        let err = check(&long).unwrap_err();
        assert_eq!(err.details(), Some("Button title length invalid. Min length: 1, Max length: 20, got: 21"));
        let mut same = buttons(2);
        same["action"]["buttons"][1]["reply"]["title"] = json!("Option 0");
        assert_eq!(code(same), 131009);
        let mut no_body = buttons(1);
        no_body.as_object_mut().unwrap().remove("body");
        assert_eq!(code(no_body), 131008);
        let mut header = buttons(1);
        header["header"] = json!({"type": "image", "image": {"link": "https://x.test/h.png"}});
        header["footer"] = json!({"text": "F"});
        assert!(check(&header).is_ok());
        header["header"] = json!({"type": "text", "text": "x".repeat(61)});
        assert_eq!(code(header), 131009);
        assert_eq!(code(json!({"type": "carousel", "body": {"text": "b"}, "action": {}})), 100);
    }

    #[test]
    fn lists() {
        let list = |sections: Value| json!({"type": "list", "body": {"text": "Menu"}, "action": {"button": "Open", "sections": sections}});
        assert!(check(&list(json!([{"rows": rows(10)}]))).is_ok());
        assert!(
            check(&list(json!([{"title": "A", "rows": rows(5)}, {"title": "B", "rows": [{"id": "z", "title": "Z"}]}])))
                .is_ok()
        );
        let err = check(&list(json!([{"title": "A", "rows": rows(11)}]))).unwrap_err();
        assert_eq!(err.details(), Some("Total row count exceed max allowed count: 10"));
        assert_eq!(code(list(json!([]))), 131009);
        assert_eq!(code(list(json!([{"rows": rows(1)}, {"title": "B", "rows": [{"id": "z", "title": "Z"}]}]))), 131008);
        assert_eq!(code(list(json!([{"title": "x".repeat(25), "rows": rows(1)}]))), 131009);
        let mut long_row = rows(1);
        long_row[0]["description"] = json!("x".repeat(73));
        assert_eq!(code(list(json!([{"rows": long_row}]))), 131009);
        assert_eq!(code(list(json!([{"rows": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}]))), 131009);
        let mut media_header = list(json!([{"rows": rows(1)}]));
        media_header["header"] = json!({"type": "image", "image": {"id": "1"}});
        assert_eq!(code(media_header), 131009);
    }

    #[test]
    fn cta_url_flow_and_others() {
        let cta = json!({"type": "cta_url", "body": {"text": "Pay"}, "action": {"name": "cta_url",
            "parameters": {"display_text": "Pay ₹540", "url": "https://pay.test/x"}}});
        assert!(check(&cta).is_ok());
        let mut bad = cta.clone();
        bad["action"]["parameters"]["url"] = json!("pay.test");
        assert_eq!(code(bad), 131009);

        let flow = json!({"type": "flow", "body": {"text": "Book"}, "action": {"name": "flow", "parameters": {
            "flow_message_version": "3", "flow_token": "t", "flow_id": "123", "flow_cta": "Book!",
            "flow_action": "navigate", "flow_action_payload": {"screen": "START", "data": {}}}}});
        assert!(check(&flow).is_ok());
        let mut both = flow.clone();
        both["action"]["parameters"]["flow_name"] = json!("booking");
        assert_eq!(code(both), 131009);
        let mut version = flow.clone();
        version["action"]["parameters"]["flow_message_version"] = json!("2");
        assert_eq!(code(version), 131009);

        assert!(check(&json!({"type": "location_request_message", "body": {"text": "Where?"}, "action": {"name": "send_location"}})).is_ok());
        assert_eq!(
            code(json!({"type": "location_request_message", "body": {"text": "Where?"}, "action": {"name": "x"}})),
            131009
        );
        assert!(
            check(&json!({"type": "product", "action": {"catalog_id": "1", "product_retailer_id": "sku"}})).is_ok()
        );
        let ask = json!({"type": "request_contact_info", "body": {"text": "May we have your number?"},
            "action": {"name": "request_contact_info"}});
        assert!(check(&ask).is_ok());
        let mut no_body = ask.clone();
        no_body.as_object_mut().unwrap().remove("body");
        assert_eq!(code(no_body), 131008);
        let mut wrong_name = ask.clone();
        wrong_name["action"]["name"] = json!("send_location");
        assert_eq!(code(wrong_name), 131009);
        let mut no_action = ask.clone();
        no_action.as_object_mut().unwrap().remove("action");
        assert_eq!(code(no_action), 131008);
        let product_list = |items: usize| {
            json!({"type": "product_list", "header": {"type": "text", "text": "Shop"},
            "body": {"text": "Pick"}, "action": {"catalog_id": "1", "sections": [{"title": "All",
            "product_items": (0..items).map(|i| json!({"product_retailer_id": format!("sku{i}")})).collect::<Vec<_>>()}]}})
        };
        assert!(check(&product_list(30)).is_ok());
        assert_eq!(code(product_list(31)), 131009);
    }
}
