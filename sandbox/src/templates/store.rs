//! The business account's message templates, with a few preloaded so a
//! fresh sandbox can send templates at once.

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};

/// One template in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    /// `AUTHENTICATION`, `MARKETING` or `UTILITY`.
    pub category: String,
    /// `POSITIONAL` (`{{1}}`) or `NAMED` (`{{first_name}}`).
    pub parameter_format: String,
    /// As created: `[{"type":"BODY","text":…},…]`, types upper-case.
    pub components: Value,
    /// `NONE` unless rejected.
    pub rejected_reason: String,
}

// === impl Template ===

impl Template {
    /// Every field Graph knows for a template, in Graph's order.
    pub fn fields(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("parameter_format".into(), json!(self.parameter_format));
        out.insert("components".into(), self.components.clone());
        out.insert("language".into(), json!(self.language));
        out.insert("status".into(), json!(self.status));
        out.insert("category".into(), json!(self.category));
        out.insert(
            "sub_category".into(),
            json!(if self.category == "UTILITY" { "CUSTOM" } else { self.category.as_str() }),
        );
        out.insert("previous_category".into(), json!(self.category));
        out.insert("correct_category".into(), json!(self.category));
        out.insert("cta_url_link_tracking_opted_out".into(), json!(false));
        out.insert("rejected_reason".into(), json!(self.rejected_reason));
        out.insert("id".into(), json!(self.id));
        out
    }

    /// The pricing category of a send of this template.
    pub fn pricing_category(&self) -> &'static str {
        match self.category.as_str() {
            "MARKETING" => "marketing",
            "AUTHENTICATION" => "authentication",
            _ => "utility",
        }
    }

    /// The components of one type (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`).
    pub fn component(&self, kind: &str) -> Option<&Map<String, Value>> {
        self.components
            .as_array()?
            .iter()
            .filter_map(Value::as_object)
            .find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind)))
    }
}

// === Templates ===

/// All templates of the one business account.
pub(crate) struct Templates {
    list: Mutex<Vec<Template>>,
}

impl Templates {
    pub(crate) fn preloaded() -> Self {
        Templates { list: Mutex::new(preload()) }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Template>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn reset(&self) {
        *self.lock() = preload();
    }

    pub(crate) fn all(&self) -> Vec<Template> {
        self.lock().clone()
    }

    /// The template `name` in `language`, whatever its status.
    pub(crate) fn find(&self, name: &str, language: &str) -> Option<Template> {
        self.lock().iter().find(|t| t.name == name && t.language == language).cloned()
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<Template> {
        self.lock().iter().find(|t| t.id == id).cloned()
    }

    pub(crate) fn contains_id(&self, id: &str) -> bool {
        self.lock().iter().any(|t| t.id == id)
    }

    /// Adds a template; false when `name` already exists in that language.
    pub(crate) fn add(&self, template: Template) -> bool {
        let mut list = self.lock();
        if list.iter().any(|t| t.name == template.name && t.language == template.language) {
            return false;
        }
        list.push(template);
        true
    }

    /// Deletes `name` (every language, or only the one with id `hsm_id`);
    /// returns how many went.
    pub(crate) fn remove(&self, name: &str, hsm_id: Option<&str>) -> usize {
        let mut list = self.lock();
        let before = list.len();
        list.retain(|t| !(t.name == name && hsm_id.is_none_or(|id| t.id == id)));
        before - list.len()
    }

    /// Changes a template's status (and reason); returns the updated template.
    pub(crate) fn set_status(&self, id: &str, status: &str, reason: &str) -> Option<Template> {
        let mut list = self.lock();
        let template = list.iter_mut().find(|t| t.id == id)?;
        template.status = status.to_owned();
        template.rejected_reason = reason.to_owned();
        Some(template.clone())
    }
}

fn approved(id: &str, name: &str, language: &str, category: &str, format: &str, components: Value) -> Template {
    Template {
        id: id.to_owned(),
        name: name.to_owned(),
        language: language.to_owned(),
        status: "APPROVED".to_owned(),
        category: category.to_owned(),
        parameter_format: format.to_owned(),
        components,
        rejected_reason: "NONE".to_owned(),
    }
}

/// The templates every sandbox starts with (listed in the README).
fn preload() -> Vec<Template> {
    vec![
        approved(
            "1000000000000001",
            "hello_world",
            "en_US",
            "UTILITY",
            "POSITIONAL",
            json!([
                {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."},
                {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}
            ]),
        ),
        approved(
            "1000000000000002",
            "order_confirmation",
            "en_US",
            "UTILITY",
            "POSITIONAL",
            json!([
                {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is confirmed. It will arrive on {{3}}.",
                 "example": {"body_text": [["Jessica", "#42", "February 25"]]}},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "Track order", "url": "https://shop.example.com/orders/{{1}}",
                     "example": ["https://shop.example.com/orders/42"]},
                    {"type": "QUICK_REPLY", "text": "Talk to us"}
                ]}
            ]),
        ),
        approved(
            "1000000000000003",
            "order_confirmation",
            "es",
            "UTILITY",
            "POSITIONAL",
            json!([
                {"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} est\u{e1} confirmado. Llegar\u{e1} el {{3}}.",
                 "example": {"body_text": [["Jessica", "#42", "25 de febrero"]]}},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "Seguir pedido", "url": "https://shop.example.com/orders/{{1}}",
                     "example": ["https://shop.example.com/orders/42"]},
                    {"type": "QUICK_REPLY", "text": "Hablar con nosotros"}
                ]}
            ]),
        ),
        approved(
            "1000000000000004",
            "spring_promo",
            "en",
            "MARKETING",
            "NAMED",
            json!([
                {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:sandbox"]}},
                {"type": "BODY", "text": "Hi {{first_name}}, our spring sale is on: {{discount}} off everything!",
                 "example": {"body_text_named_params": [
                     {"param_name": "first_name", "example": "Jessica"},
                     {"param_name": "discount", "example": "20%"}]}},
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "QUICK_REPLY", "text": "Shop now"},
                    {"type": "QUICK_REPLY", "text": "Stop promotions"}
                ]}
            ]),
        ),
        approved(
            "1000000000000005",
            "verification_code",
            "en_US",
            "AUTHENTICATION",
            "POSITIONAL",
            json!([
                {"type": "BODY", "text": "*{{1}}* is your verification code. For your security, do not share this code.",
                 "example": {"body_text": [["123456"]]}},
                {"type": "FOOTER", "text": "This code expires in 10 minutes."},
                {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}
            ]),
        ),
        approved(
            "1000000000000006",
            "appointment_reminder",
            "en_US",
            "UTILITY",
            "POSITIONAL",
            json!([
                {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::YXBwbGljYXRpb24vcGRm:sandbox"]}},
                {"type": "BODY", "text": "Hi {{1}}, this is a reminder of your appointment on {{2}} at {{3}}.",
                 "example": {"body_text": [["Jessica", "March 3", "10:30"]]}}
            ]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preloads_and_changes() {
        let templates = Templates::preloaded();
        assert_eq!(templates.find("hello_world", "en_US").unwrap().status, "APPROVED");
        assert!(templates.find("hello_world", "en").is_none());
        assert_eq!(templates.find("order_confirmation", "es").unwrap().id, "1000000000000003");
        assert_eq!(templates.find("spring_promo", "en").unwrap().pricing_category(), "marketing");
        assert!(templates.component_of("spring_promo", "en", "header").is_some());

        let mut copy = templates.find("hello_world", "en_US").unwrap();
        assert!(!templates.add(copy.clone()), "same name and language");
        copy.language = "de".into();
        copy.id = "9".into();
        assert!(templates.add(copy));
        assert_eq!(templates.remove("hello_world", Some("9")), 1);
        assert_eq!(templates.remove("order_confirmation", None), 2);
        assert_eq!(templates.set_status("1000000000000001", "PAUSED", "NONE").unwrap().status, "PAUSED");
        templates.reset();
        assert_eq!(templates.all().len(), 6);
        assert_eq!(templates.by_id("1000000000000001").unwrap().status, "APPROVED");
    }

    impl Templates {
        fn component_of(&self, name: &str, language: &str, kind: &str) -> Option<Map<String, Value>> {
            self.find(name, language)?.component(kind).cloned()
        }
    }
}
