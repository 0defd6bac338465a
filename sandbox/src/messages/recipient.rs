//! The `to` field: phone number formatting stripped down to a wa_id (`docs/cloud-api.md` §2.1).

use crate::graph::GraphError;

/// The country code of every sandbox number: their display numbers are
/// `1555…` (North American numbering), so a national number gets `1`.
pub const BUSINESS_COUNTRY_CODE: &str = "1";

/// Longest international number (E.164).
const MAX_DIGITS: usize = 15;
/// National numbers are at most this long; longer ones already carry a country code.
const NATIONAL_MAX_DIGITS: usize = 10;

/// Strips `+`, spaces, dashes and parentheses; what is left must be digits.
///
/// Like Cloud, a number written without `+` and country code gets the
/// business number's country code: `(631) 555-1234` becomes `16315551234`.
/// Without `+`, a leading `00` is the international prefix and a leading `0`
/// the national trunk prefix; otherwise up to 10 digits are a national
/// number. Mexican mobile numbers gain the `1` WhatsApp ids carry after `52`.
pub fn normalise(to: &str) -> Result<String, GraphError> {
    let trimmed = to.trim();
    let digits: String = trimmed.chars().filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || trimmed.rfind('+').is_some_and(|at| at > 0) {
        return Err(GraphError::invalid_parameter(format!(
            "Invalid parameter: to {to:?} is not a valid phone number."
        )));
    }
    let international = trimmed.starts_with('+');
    let wa_id = if international {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("{BUSINESS_COUNTRY_CODE}{}", rest.trim_start_matches('0'))
    } else if digits.len() <= NATIONAL_MAX_DIGITS {
        format!("{BUSINESS_COUNTRY_CODE}{digits}")
    } else {
        digits
    };
    if wa_id.len() > MAX_DIGITS || wa_id.len() < 2 {
        return Err(GraphError::invalid_parameter(format!(
            "Invalid parameter: to {to:?} is not a valid phone number."
        )));
    }
    // WhatsApp ids of Mexican mobiles keep the old `1` after the country code.
    if let Some(national) = wa_id.strip_prefix("52")
        && national.len() == 10
    {
        return Ok(format!("521{national}"));
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
            ("+44 20 7946 0958", "442079460958"),
        ] {
            assert_eq!(normalise(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn national_numbers_get_the_business_country_code() {
        for (input, expected) in [
            ("(631) 555-1234", "16315551234"),
            ("6315551234", "16315551234"),
            ("0631 555 1234", "16315551234"),
            ("0049 170 1234567", "491701234567"),
        ] {
            assert_eq!(normalise(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn mexican_mobiles_gain_a_one() {
        assert_eq!(normalise("+52 55 1234 5678").unwrap(), "5215512345678");
        assert_eq!(normalise("+521 55 1234 5678").unwrap(), "5215512345678");
    }

    #[test]
    fn rejects_non_numbers() {
        for bad in ["", "+", "abc", "+1 650 CALL NOW", "1.650.555", "US.134912", "1+650", "+1234567890123456"] {
            let err = normalise(bad).unwrap_err();
            assert_eq!(err.code, 100, "{bad}");
        }
    }
}
