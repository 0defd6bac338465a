//! The `type` of a send and the object it names: every type of
//! `docs/cloud-api.md` §2.2 checked against Cloud's field rules and limits. Checks that need the
//! sandbox's state (template lookup, media ids, reaction targets) happen in
//! the send handler with what this module returns.

use serde_json::Value;

use super::fields::{At, Obj, check_length, invalid, is_http_url, item, missing};
use super::{interactive, template};
use crate::graph::GraphError;

/// Message types Cloud API accepts on the send endpoint.
pub const TYPES: &[&str] = &[
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
];

/// Longest text body Cloud accepts.
pub const TEXT_BODY_MAX: usize = 4096;
/// Longest media caption.
pub const CAPTION_MAX: usize = 1024;
/// Longest document file name.
pub const FILENAME_MAX: usize = 240;

/// A media object's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRef {
    Id(String),
    Link(String),
}

/// What the state-dependent checks need to know about a valid send.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub kind: String,
    /// The media of image/audio/video/document/sticker messages.
    pub media: Option<MediaRef>,
    /// `voice: true` on an audio message.
    pub voice: bool,
    /// Name and language code of a template message.
    pub template: Option<(String, String)>,
    /// The message a reaction targets.
    pub reaction_target: Option<String>,
}

/// Checks the `type` and its object; returns what the send needs next.
pub fn check(payload: &Value) -> Result<Checked, GraphError> {
    let kind = match payload.get("type") {
        None | Some(Value::Null) => "text",
        Some(Value::String(kind)) if TYPES.contains(&kind.as_str()) => kind.as_str(),
        Some(other) => {
            let list = TYPES.join(", ").to_uppercase();
            return Err(GraphError::invalid_parameter(format!("Param type must be one of {{{list}}} - got {other}.")));
        }
    };
    let object = match payload.get(kind) {
        None | Some(Value::Null) => return Err(GraphError::missing_parameter(kind)),
        Some(object) => object,
    };
    let mut checked =
        Checked { kind: kind.to_owned(), media: None, voice: false, template: None, reaction_target: None };
    match kind {
        "text" => check_text(object)?,
        "image" | "audio" | "video" | "document" | "sticker" => {
            let (media, voice) = check_media(kind, object)?;
            checked.media = Some(media);
            checked.voice = voice;
        }
        "location" => check_location(object)?,
        "contacts" => check_contacts(object)?,
        "reaction" => checked.reaction_target = Some(check_reaction(object)?),
        "interactive" => interactive::check(object)?,
        "template" => checked.template = Some(template::check_shape(object)?),
        _ => unreachable!("every type in TYPES is handled"),
    }
    Ok(checked)
}

fn check_text(text: &Value) -> Result<(), GraphError> {
    let text = Obj::new(text, "text")?;
    let body = match text.get("body") {
        None => return Err(GraphError::missing_parameter("text['body']")),
        Some(Value::String(body)) => body,
        Some(_) => return Err(GraphError::invalid_parameter("Param text['body'] must be a string.")),
    };
    if body.trim().is_empty() {
        return Err(GraphError::missing_parameter("text['body']"));
    }
    if body.chars().count() > TEXT_BODY_MAX {
        return Err(GraphError::invalid_parameter(format!(
            "Param text['body'] must be at most {TEXT_BODY_MAX} characters long."
        )));
    }
    text.boolean("preview_url")?;
    Ok(())
}

/// A media object (also used for interactive and template headers).
pub fn check_media_object(object: Obj<'_, '_>) -> Result<MediaRef, GraphError> {
    let id = object.string("id")?;
    let link = object.string("link")?;
    match (id, link) {
        (Some(_), Some(_)) => Err(invalid(format!("Param {} must have either 'id' or 'link', not both.", object.path))),
        (None, None) => Err(missing(&format!("{}['id'] or {}['link']", object.path, object.path))),
        (Some(id), None) if id.trim().is_empty() => Err(missing(&object.path_of("id"))),
        (Some(id), None) => Ok(MediaRef::Id(id.trim().to_owned())),
        (None, Some(link)) if is_http_url(link) => Ok(MediaRef::Link(link.to_owned())),
        (None, Some(link)) => {
            Err(invalid(format!("Param {} is not a valid http(s) URL: {link:?}", object.path_of("link"))))
        }
    }
}

fn check_media(kind: &str, value: &Value) -> Result<(MediaRef, bool), GraphError> {
    let object = Obj::new(value, kind)?;
    let media = check_media_object(object)?;
    if let Some(caption) = object.string("caption")? {
        if matches!(kind, "audio" | "sticker") {
            return Err(invalid(format!("Param {kind}['caption'] is not supported for {kind} messages.")));
        }
        check_length(&object.path_of("caption"), caption, 0, CAPTION_MAX)?;
    }
    if let Some(filename) = object.string("filename")? {
        if kind != "document" {
            return Err(invalid(format!("Param {kind}['filename'] is only supported for document messages.")));
        }
        check_length(&object.path_of("filename"), filename, 1, FILENAME_MAX)?;
    }
    let voice = object.boolean("voice")?;
    if voice.is_some() && kind != "audio" {
        return Err(invalid(format!("Param {kind}['voice'] is only supported for audio messages.")));
    }
    Ok((media, voice.unwrap_or(false)))
}

fn check_location(value: &Value) -> Result<(), GraphError> {
    let location = Obj::new(value, "location")?;
    for (key, limit) in [("latitude", 90.0), ("longitude", 180.0)] {
        let coordinate = location.number(key)?.ok_or_else(|| missing(&location.path_of(key)))?;
        if !(-limit..=limit).contains(&coordinate) {
            return Err(invalid(format!(
                "Param {} must be between -{limit} and {limit}, got {coordinate}.",
                location.path_of(key)
            )));
        }
    }
    location.short_string("name", 1000)?;
    location.short_string("address", 1000)?;
    Ok(())
}

const PHONE_TYPES: &[&str] = &["CELL", "MAIN", "IPHONE", "HOME", "WORK"];
const PLACE_TYPES: &[&str] = &["HOME", "WORK"];
const NAME_PARTS: &[&str] = &["first_name", "last_name", "middle_name", "suffix", "prefix"];

fn check_contacts(value: &Value) -> Result<(), GraphError> {
    let Some(cards) = value.as_array() else {
        return Err(GraphError::invalid_parameter("Param contacts must be an array."));
    };
    if cards.is_empty() {
        return Err(missing("contacts[0]"));
    }
    if cards.len() > 257 {
        return Err(invalid("Param contacts must have at most 257 cards."));
    }
    for (index, card) in cards.iter().enumerate() {
        let path = item("contacts", index);
        let card = Obj::new(card, &path)?;
        let name_path = card.path_of("name");
        let name = At { path: name_path, map: card.required_object("name")? };
        let name = name.obj();
        name.required_string("formatted_name")?;
        for part in NAME_PARTS {
            name.short_string(part, 256)?;
        }
        if !NAME_PARTS.iter().any(|part| name.get(part).and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty())) {
            return Err(invalid(format!(
                "Param {} must include at least one of first_name, last_name, middle_name, suffix, prefix.",
                name.path
            )));
        }
        check_card_list(card, "phones", "phone", PHONE_TYPES)?;
        check_card_list(card, "emails", "email", PLACE_TYPES)?;
        check_card_list(card, "urls", "url", PLACE_TYPES)?;
        check_card_list(card, "addresses", "", PLACE_TYPES)?;
        if let Some(org) = card.object("org")? {
            let path = card.path_of("org");
            let org = Obj { path: &path, map: org };
            for key in ["company", "department", "title"] {
                org.short_string(key, 256)?;
            }
        }
        if let Some(birthday) = card.string("birthday")?
            && !is_date(birthday)
        {
            return Err(invalid(format!("Param {} must be a date as YYYY-MM-DD.", card.path_of("birthday"))));
        }
    }
    Ok(())
}

/// `phones`, `emails`, `urls`, `addresses`: arrays of objects with a typed
/// `type` and (except addresses) a required value key.
fn check_card_list(card: Obj<'_, '_>, key: &str, value_key: &str, types: &[&str]) -> Result<(), GraphError> {
    let Some(entries) = card.array(key)? else {
        return Ok(());
    };
    let list_path = card.path_of(key);
    for (index, entry) in entries.iter().enumerate() {
        let path = item(&list_path, index);
        let entry = Obj::new(entry, &path)?;
        if !value_key.is_empty() {
            entry.required_string(value_key)?;
        }
        if let Some(kind) = entry.string("type")?
            && !types.iter().any(|t| t.eq_ignore_ascii_case(kind))
        {
            return Err(invalid(format!(
                "Param {} must be one of {}, got {kind:?}.",
                entry.path_of("type"),
                types.join(", ")
            )));
        }
    }
    Ok(())
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [y, m, d]
        if y.len() == 4 && m.len() == 2 && d.len() == 2
        && [y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d.parse::<u32>().unwrap_or(0)))
}

fn check_reaction(value: &Value) -> Result<String, GraphError> {
    let reaction = Obj::new(value, "reaction")?;
    let target = reaction.required_string("message_id")?;
    // The key must be there; an empty string removes the reaction.
    let emoji = reaction.string("emoji")?.ok_or_else(|| missing(&reaction.path_of("emoji")))?;
    if !emoji.is_empty() && !is_single_emoji(emoji) {
        return Err(invalid(format!("Param reaction['emoji'] must be a single emoji, got {emoji:?}.")));
    }
    Ok(target.to_owned())
}

/// One emoji, possibly built from several code points (ZWJ sequences,
/// skin tones, flags, keycaps). A light check without grapheme tables:
/// counts the code points that start a new symbol.
pub fn is_single_emoji(text: &str) -> bool {
    const ZWJ: char = '\u{200D}';
    const KEYCAP: char = '\u{20E3}';
    let is_modifier = |c: char| {
        matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0020}'..='\u{E007F}') || c == KEYCAP
    };
    let is_regional = |c: char| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c);
    let keycap = text.contains(KEYCAP);
    let mut symbols = 0;
    let mut after_zwj = false;
    let mut open_flag = false;
    for c in text.chars() {
        if c == ZWJ {
            after_zwj = true;
            continue;
        }
        if is_modifier(c) {
            continue;
        }
        let joins = after_zwj || (open_flag && is_regional(c));
        open_flag = is_regional(c) && !open_flag;
        after_zwj = false;
        if joins {
            continue;
        }
        let keycap_base = keycap && (c.is_ascii_digit() || c == '#' || c == '*');
        if !keycap_base && (c.is_ascii() || c.is_whitespace() || c.is_alphanumeric()) {
            return false;
        }
        symbols += 1;
    }
    symbols == 1
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code_of(payload: Value) -> u32 {
        check(&payload).unwrap_err().code
    }

    #[test]
    fn text_is_the_default_type() {
        assert_eq!(check(&json!({"text": {"body": "hi"}})).unwrap().kind, "text");
    }

    #[test]
    fn text_body_rules() {
        let long = "x".repeat(TEXT_BODY_MAX);
        assert!(check(&json!({"type": "text", "text": {"body": long}})).is_ok());
        // Counted in characters, not bytes.
        let long_umlauts = "ä".repeat(TEXT_BODY_MAX);
        assert!(check(&json!({"type": "text", "text": {"body": long_umlauts}})).is_ok());

        let too_long = "x".repeat(TEXT_BODY_MAX + 1);
        let err = check(&json!({"type": "text", "text": {"body": too_long}})).unwrap_err();
        assert!(err.message.contains("4096"));

        let err = check(&json!({"type": "text", "text": {}})).unwrap_err();
        assert_eq!(err.message, "(#100) The parameter text['body'] is required.");
        let err = check(&json!({"type": "text", "text": {"body": "  "}})).unwrap_err();
        assert_eq!(err.message, "(#100) The parameter text['body'] is required.");
        assert_eq!(code_of(json!({"type": "text", "text": {"body": 5}})), 100);
        assert_eq!(code_of(json!({"type": "text", "text": "hi"})), 100);
        assert_eq!(code_of(json!({"text": {"body": "hi", "preview_url": "yes"}})), 100);
    }

    #[test]
    fn the_named_object_must_be_present() {
        let err = check(&json!({"type": "image", "text": {"body": "hi"}})).unwrap_err();
        assert_eq!(err.message, "(#100) The parameter image is required.");
        assert_eq!(code_of(json!({"type": "contacts", "contacts": {}})), 100);
        assert_eq!(code_of(json!({"type": "location", "location": "here"})), 100);
    }

    #[test]
    fn unknown_types_are_refused() {
        let err = check(&json!({"type": "hologram", "hologram": {}})).unwrap_err();
        assert!(err.message.contains("Param type must be one of"));
        assert_eq!(code_of(json!({"type": 3})), 100);
    }

    #[test]
    fn media_objects() {
        let ok = check(&json!({"type": "image", "image": {"link": "https://x.test/a.jpg", "caption": "c"}})).unwrap();
        assert_eq!(ok.media, Some(MediaRef::Link("https://x.test/a.jpg".into())));
        let ok = check(&json!({"type": "audio", "audio": {"id": "123", "voice": true}})).unwrap();
        assert_eq!((ok.media, ok.voice), (Some(MediaRef::Id("123".into())), true));
        assert!(
            check(&json!({"type": "document", "document": {"id": "1", "filename": "a.pdf", "caption": "c"}})).is_ok()
        );
        for (payload, code) in [
            (json!({"type": "image", "image": {}}), 131008),
            (json!({"type": "image", "image": {"id": "1", "link": "https://x.test/a"}}), 131009),
            (json!({"type": "image", "image": {"link": "not a url"}}), 131009),
            (json!({"type": "image", "image": {"link": "ftp://x.test/a.jpg"}}), 131009),
            (json!({"type": "audio", "audio": {"id": "1", "caption": "x"}}), 131009),
            (json!({"type": "sticker", "sticker": {"id": "1", "caption": "x"}}), 131009),
            (json!({"type": "image", "image": {"id": "1", "filename": "x.png"}}), 131009),
            (json!({"type": "image", "image": {"id": "1", "caption": "x".repeat(1025)}}), 131009),
            (json!({"type": "video", "video": {"id": "1", "voice": true}}), 131009),
            (json!({"type": "image", "image": {"id": 1}}), 100),
        ] {
            assert_eq!(code_of(payload.clone()), code, "{payload}");
        }
    }

    #[test]
    fn locations() {
        assert!(
            check(&json!({"type": "location", "location": {"latitude": 37.48, "longitude": "-122.14", "name": "HQ"}}))
                .is_ok()
        );
        assert_eq!(code_of(json!({"type": "location", "location": {"latitude": 100, "longitude": 0}})), 131009);
        assert_eq!(code_of(json!({"type": "location", "location": {"longitude": 0}})), 131008);
        assert_eq!(code_of(json!({"type": "location", "location": {"latitude": "north", "longitude": 0}})), 100);
    }

    #[test]
    fn contact_cards() {
        let card = json!({"name": {"formatted_name": "Ada L", "first_name": "Ada"},
            "phones": [{"phone": "+1 555 0100", "type": "WORK", "wa_id": "15550100"}],
            "emails": [{"email": "ada@example.com", "type": "work"}],
            "addresses": [{"street": "1 Main St", "city": "Menlo Park", "type": "HOME"}],
            "org": {"company": "Analytical Engines"}, "urls": [{"url": "https://ada.test", "type": "WORK"}],
            "birthday": "1815-12-10"});
        assert!(check(&json!({"type": "contacts", "contacts": [card]})).is_ok());
        for (cards, code) in [
            (json!([]), 131008),
            (json!([{}]), 131008),
            (json!([{"name": {"first_name": "Ada"}}]), 131008),
            (json!([{"name": {"formatted_name": "Ada"}}]), 131009),
            (
                json!([{"name": {"formatted_name": "Ada", "first_name": "Ada"}, "phones": [{"phone": "1", "type": "FAX"}]}]),
                131009,
            ),
            (json!([{"name": {"formatted_name": "Ada", "first_name": "Ada"}, "phones": [{"type": "CELL"}]}]), 131008),
            (json!([{"name": {"formatted_name": "Ada", "first_name": "Ada"}, "birthday": "10/12/1815"}]), 131009),
            (json!([{"name": {"formatted_name": "Ada", "first_name": "Ada"}, "phones": "1"}]), 100),
        ] {
            assert_eq!(code_of(json!({"type": "contacts", "contacts": cards.clone()})), code, "{cards}");
        }
    }

    #[test]
    fn reactions() {
        let ok = check(&json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "😀"}})).unwrap();
        assert_eq!(ok.reaction_target.as_deref(), Some("wamid.X"));
        assert!(check(&json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}})).is_ok());
        assert_eq!(code_of(json!({"type": "reaction", "reaction": {"emoji": "😀"}})), 131008);
        assert_eq!(code_of(json!({"type": "reaction", "reaction": {"message_id": "wamid.X"}})), 131008);
        assert_eq!(code_of(json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "ok"}})), 131009);
    }

    #[test]
    fn single_emojis() {
        for ok in ["😀", "👍🏽", "❤️", "👨‍👩‍👧", "🇩🇪", "1️⃣", "🏳️‍🌈"] {
            assert!(is_single_emoji(ok), "{ok}");
        }
        for bad in ["", "a", "😀😀", "🇩🇪🇫🇷", "😀 ", "1", "é", "ab"] {
            assert!(!is_single_emoji(bad), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2024-13-01"));
        assert!(!is_date("24-01-01"));
    }
}
