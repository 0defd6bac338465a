//! The `to` field: phone number formatting stripped down to a wa_id.

use crate::graph::GraphError;

/// Strips `+`, spaces, dashes and parentheses; what is left must be digits.
///
/// Cloud also prepends the business number's country code when `+` is
/// missing; the sandbox's numbers have no country, so it does not.
pub fn normalise(to: &str) -> Result<String, GraphError> {
    let wa_id: String = to.chars().filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')')).collect();
    if wa_id.is_empty() || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GraphError::invalid_parameter(format!(
            "Invalid parameter: to {to:?} is not a valid phone number."
        )));
    }
    if wa_id.len() > 20 {
        return Err(GraphError::invalid_parameter(format!(
            "Invalid parameter: to {to:?} is too long to be a phone number."
        )));
    }
    Ok(wa_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_formatting() {
        for (input, expected) in [
            ("+16505551234", "16505551234"),
            ("+1 (650) 555-1234", "16505551234"),
            ("49 170 1234567", "491701234567"),
            ("16505551234", "16505551234"),
        ] {
            assert_eq!(normalise(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_non_numbers() {
        for bad in ["", "+", "abc", "+1 650 CALL NOW", "1.650.555", "US.134912"] {
            let err = normalise(bad).unwrap_err();
            assert_eq!(err.code, 100, "{bad}");
        }
    }
}
