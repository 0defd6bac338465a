//! What `/v1/contacts` answers: the result of checking one input
//! ([`ContactResult`]) and a user's identity key ([`IdentityKey`]), each
//! with its on-prem JSON shape.

use serde_json::{Value, json};

/// Whether a checked input names a user the business can message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactStatus {
    Valid,
    Invalid,
}

impl ContactStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactStatus::Valid => "valid",
            ContactStatus::Invalid => "invalid",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "valid" => Some(ContactStatus::Valid),
            "invalid" => Some(ContactStatus::Invalid),
            _ => None,
        }
    }
}

/// One entry of `POST /v1/contacts`' `contacts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactResult {
    /// The input as the business sent it.
    pub input: String,
    pub status: ContactStatus,
    /// What to send to: the number's digits, or the identifier the business
    /// knows a user without a shared number by. Only for valid inputs.
    pub wa_id: Option<String>,
}

impl ContactResult {
    /// `{"input", "status", "wa_id"?}`.
    pub fn to_onprem_json(&self) -> Value {
        let mut item = json!({"input": self.input, "status": self.status.as_str()});
        if let Some(wa_id) = &self.wa_id {
            item["wa_id"] = json!(wa_id);
        }
        item
    }
}

/// A user's identity key, `GET /v1/contacts/{wa_id}/identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKey {
    pub hash: String,
    /// Seconds since the epoch.
    pub created_timestamp: i64,
    /// Whether the business acknowledged this key (`PUT .../identity`).
    pub acknowledged: bool,
}

impl IdentityKey {
    /// `{"hash", "created_timestamp", "acknowledged"}`.
    pub fn to_onprem_json(&self) -> Value {
        json!({"hash": self.hash, "created_timestamp": self.created_timestamp, "acknowledged": self.acknowledged})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onprem_shapes() {
        let valid = ContactResult {
            input: "+1 631-555-1019".into(),
            status: ContactStatus::Valid,
            wa_id: Some("16315551019".into()),
        };
        assert_eq!(
            valid.to_onprem_json(),
            json!({"input": "+1 631-555-1019", "status": "valid", "wa_id": "16315551019"})
        );
        let invalid = ContactResult { input: "x".into(), status: ContactStatus::Invalid, wa_id: None };
        assert_eq!(invalid.to_onprem_json(), json!({"input": "x", "status": "invalid"}));
        let key = IdentityKey { hash: "aGFzaA==".into(), created_timestamp: 1_700_000_000, acknowledged: false };
        assert_eq!(
            key.to_onprem_json(),
            json!({"hash": "aGFzaA==", "created_timestamp": 1_700_000_000, "acknowledged": false})
        );
        for status in [ContactStatus::Valid, ContactStatus::Invalid] {
            assert_eq!(ContactStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ContactStatus::parse("processing"), None);
    }
}
