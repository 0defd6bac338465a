//! `health_status`, the field phone numbers, templates and the business
//! account share: whether messages can be sent through that node, entity by
//! entity. The targeted number or template comes first, then the WABA, its
//! business portfolio and the app, which every answer lists; the overall
//! `can_send_message` is the most restrictive of them.

use serde_json::{Value, json};

use crate::graph::codes;
use crate::state::AppState;

/// The business portfolio that owns the sandbox's WABA (an id in answers,
/// not a node the sandbox serves).
pub(crate) const BUSINESS_ID: &str = "400000000000001";

/// Why an entity cannot send: the error a send would get, and what to do.
pub(crate) struct Block {
    pub code: u32,
    pub solution: &'static str,
}

/// One entry of `entities`: `AVAILABLE`, or `BLOCKED` with its `errors`.
pub(crate) fn entity(kind: &str, id: &str, block: Option<Block>) -> Value {
    let mut entity = json!({"entity_type": kind, "id": id, "can_send_message": "AVAILABLE"});
    if let Some(block) = block {
        let description = codes::lookup(block.code).map_or("", |row| row.details);
        entity["can_send_message"] = json!("BLOCKED");
        entity["errors"] = json!([{
            "error_code": block.code,
            "error_description": description,
            "possible_solution": block.solution,
        }]);
    }
    entity
}

/// The `health_status` of a node whose own entities are `targeted` (its
/// phone number or template; none for the WABA).
pub(crate) fn status(state: &AppState, targeted: Vec<Value>) -> Value {
    let mut entities = targeted;
    entities.push(entity("WABA", &state.config.waba_id, None));
    entities.push(entity("BUSINESS", BUSINESS_ID, None));
    entities.push(entity("APP", &state.config.app_id, None));
    json!({"can_send_message": overall(&entities), "entities": entities})
}

/// `BLOCKED` when an entity is, else `LIMITED` when one is, else `AVAILABLE`.
fn overall(entities: &[Value]) -> &'static str {
    let any = |status: &str| entities.iter().any(|e| e["can_send_message"] == status);
    if any("BLOCKED") {
        "BLOCKED"
    } else if any("LIMITED") {
        "LIMITED"
    } else {
        "AVAILABLE"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_entities_carry_their_error_and_block_the_whole() {
        let ok = entity("PHONE_NUMBER", "1", None);
        assert_eq!(ok, json!({"entity_type": "PHONE_NUMBER", "id": "1", "can_send_message": "AVAILABLE"}));
        let blocked = entity("PHONE_NUMBER", "1", Some(Block { code: 133010, solution: "Register it." }));
        assert_eq!(blocked["can_send_message"], "BLOCKED");
        assert_eq!(blocked["errors"][0]["error_code"], 133010);
        assert_eq!(blocked["errors"][0]["possible_solution"], "Register it.");
        assert_eq!(overall(std::slice::from_ref(&ok)), "AVAILABLE");
        assert_eq!(overall(&[ok.clone(), blocked]), "BLOCKED");
        let limited = json!({"can_send_message": "LIMITED"});
        assert_eq!(overall(&[ok, limited]), "LIMITED");
    }
}
