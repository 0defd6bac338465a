//! User names, passwords and roles, with the old client's rules
//! (`docs/onprem-api.md` §3.4).

use crate::ApiError;

/// The built-in administrator; it always exists and cannot be deleted.
pub const ADMIN: &str = "admin";
/// The administrator's factory password, which must be changed on first login.
pub const DEFAULT_ADMIN_PASSWORD: &str = "secret";

/// How long a session token lives: 7 days, as the old client.
pub const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// Clock difference between hosts that token checks tolerate. A revoked
/// token stays on the revocation list this long past its expiry.
pub const TOKEN_LEEWAY: std::time::Duration = std::time::Duration::from_secs(600);
/// The window of the failed-login limit.
pub const LOGIN_FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

const SPECIALS: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// A user's role. The hierarchy is Admin > User > Api.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// `Authorization: Apikey`: monitoring endpoints only.
    Api,
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Api => "ROLE_API",
            Role::User => "ROLE_USER",
            Role::Admin => "ROLE_ADMIN",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "ROLE_API" => Some(Role::Api),
            "ROLE_USER" => Some(Role::User),
            "ROLE_ADMIN" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Username: 4 to 32 characters, URL-safe (letters, digits, `-`, `_`, `.`, `~`).
pub fn validate_username(name: &str) -> Result<(), ApiError> {
    let len = name.chars().count();
    if !(4..=32).contains(&len) {
        return Err(ApiError::invalid("Username must be between 4 and 32 characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)) {
        return Err(ApiError::invalid("Username must only contain URL-safe characters"));
    }
    Ok(())
}

/// Password: 8 to 64 characters, at least one each of lower case, upper
/// case, digit and special character, and nothing else.
pub fn validate_password(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    let allowed = password.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c));
    let ok = (8..=64).contains(&len)
        && allowed
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| SPECIALS.contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Password doesn't meet complexity requirements: length between 8 and 64 characters, \
             at least 1 each of upper-case character, lower-case character, digit, special character ({SPECIALS}) are required"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        for ok in ["Secret#123", "aB3!aB3!", "Zz9~Zz9~Zz9~"] {
            assert!(validate_password(ok).is_ok(), "{ok}");
        }
        for bad in
            ["secret", "Secret123", "secret#123", "SECRET#123", "Secret#abc", "Sé#cret123", "Ab1!", &"Ab1!".repeat(17)]
        {
            let err = validate_password(bad).unwrap_err();
            assert_eq!(err.code, crate::ErrorCode::ParameterInvalid, "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert!(validate_username("ops_user-1").is_ok());
        for bad in ["abc", &"a".repeat(33), "bad name", "a/bcd"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_order_and_names() {
        assert!(Role::Admin > Role::User && Role::User > Role::Api);
        for r in [Role::Api, Role::User, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
