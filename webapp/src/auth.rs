//! Who is calling: session tokens (JWT, HS256, 7 days), the API key, and
//! what the coreapps say about them: revoked tokens, and which users exist
//! with which role (polled, and fetched at once for a user not seen yet).
//! A token of a user that no longer exists is refused, and a token carries
//! its user's current role, not the one it was issued with.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use wire::ApiError;
use wire::users::{Role, TOKEN_LEEWAY, TOKEN_LIFETIME};

use crate::AppState;
use crate::envelope::Failure;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    user: String,
    role: String,
    jti: String,
    iat: i64,
    exp: i64,
    /// Issue time in milliseconds, compared with user-wide revocations.
    iat_ms: i64,
}

/// A minted token and when it expires (unix seconds).
pub struct Minted {
    pub token: String,
    pub expires_at: i64,
}

#[derive(Default)]
struct Known {
    tokens: HashSet<String>,
    /// User name -> tokens issued at or before this time (ms) are revoked.
    revoked_users: HashMap<String, i64>,
    /// Every user and its current role, as of the last poll.
    users: HashMap<String, Role>,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    api_key: Option<String>,
    known: RwLock<Known>,
    /// Serialises fetches of the user list, and remembers the last one.
    refreshed: tokio::sync::Mutex<tokio::time::Instant>,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub username: String,
    pub role: Role,
    /// The session token's id; `None` for the API key.
    pub token_id: Option<String>,
    pub token_expires_ms: i64,
}

impl Principal {
    /// Refuses callers below `role` with 403/1005.
    pub fn require(&self, role: Role) -> Result<(), Failure> {
        if self.role >= role { Ok(()) } else { Err(ApiError::forbidden("User doesn't have permission").into()) }
    }

    /// A signed-in user (the API key does not count).
    pub fn require_user(&self) -> Result<(), Failure> {
        self.require(Role::User)
    }
}

/// Why a token was not accepted.
#[derive(Debug)]
enum Refusal {
    /// Refused for good.
    Denied(ApiError),
    /// Well signed, but its user is not in the list this webapp holds: the
    /// list may be older than the user.
    UnknownUser,
}

impl Auth {
    pub fn new(key: &[u8], api_key: Option<String>) -> Self {
        Auth {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            api_key,
            known: RwLock::default(),
            refreshed: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// A token for `username`, issued after `not_before_ms` (the moment its
    /// older tokens were revoked, when the login changed the password).
    pub fn mint(&self, username: &str, role: Role, not_before_ms: i64) -> anyhow::Result<Minted> {
        let now_ms = chrono::Utc::now().timestamp_millis().max(not_before_ms.saturating_add(1));
        let exp = (now_ms / 1000).saturating_add(TOKEN_LIFETIME.as_secs() as i64);
        let claims = Claims {
            user: username.into(),
            role: role.as_str().into(),
            jti: wire::ids::random_hex(16),
            iat: now_ms / 1000,
            exp,
            iat_ms: now_ms,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        // A user this webapp just logged in exists, whatever the last poll said.
        self.known.write().expect("auth lock").users.insert(username.to_string(), role);
        Ok(Minted { token, expires_at: exp })
    }

    fn verify_token(&self, token: &str) -> Result<Principal, Refusal> {
        let invalid = || Refusal::Denied(ApiError::unauthenticated("Invalid or expired authentication token"));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = TOKEN_LEEWAY.as_secs();
        validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
        let c = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|_| invalid())?.claims;
        // We never issue a token that lives longer than the old client's
        // seven days, nor one from the future.
        let now = chrono::Utc::now().timestamp();
        let leeway = TOKEN_LEEWAY.as_secs() as i64;
        let lifetime = TOKEN_LIFETIME.as_secs() as i64;
        if c.exp.saturating_sub(c.iat) > lifetime || c.iat > now.saturating_add(leeway) {
            return Err(invalid());
        }
        let known = self.known.read().expect("auth lock");
        if known.tokens.contains(&c.jti) || known.revoked_users.get(&c.user).is_some_and(|t| c.iat_ms <= *t) {
            return Err(Refusal::Denied(ApiError::unauthenticated("Authentication token has been revoked")));
        }
        let Some(&role) = known.users.get(&c.user) else {
            return Err(Refusal::UnknownUser);
        };
        Ok(Principal { username: c.user, role, token_id: Some(c.jti), token_expires_ms: c.exp.saturating_mul(1000) })
    }

    /// Replaces what this webapp knows with the coreapps' current lists.
    pub fn set_known(&self, list: proto::core::RevocationList) {
        let mut next = Known::default();
        for r in list.revocations {
            if r.token_id.is_empty() {
                let t = next.revoked_users.entry(r.username).or_insert(r.issued_before_ms);
                *t = (*t).max(r.issued_before_ms);
            } else {
                next.tokens.insert(r.token_id);
            }
        }
        for u in list.users {
            if let Some(role) = Role::parse(&u.role) {
                next.users.insert(u.username, role);
            }
        }
        *self.known.write().expect("auth lock") = next;
    }

    /// Takes effect on this webapp at once (others learn it by polling).
    pub fn revoke_locally(&self, token_id: Option<&str>, username: Option<(&str, i64)>) {
        let mut known = self.known.write().expect("auth lock");
        if let Some(t) = token_id {
            known.tokens.insert(t.to_string());
        }
        if let Some((u, before)) = username {
            known.revoked_users.insert(u.to_string(), before);
        }
    }

    /// A user deleted through this webapp: its tokens stop here at once.
    pub fn forget_user(&self, username: &str) {
        self.known.write().expect("auth lock").users.remove(username);
    }

    /// Authenticates an `Authorization` header value, with what this
    /// webapp knows now.
    fn check(&self, header: Option<&str>) -> Result<Principal, Refusal> {
        let missing = || Refusal::Denied(ApiError::unauthenticated("Missing or invalid authentication credentials"));
        let value = header.ok_or_else(missing)?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or_else(missing)?;
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => self.verify_token(rest.trim()),
            "apikey" => match &self.api_key {
                Some(key) if bool::from(key.as_bytes().ct_eq(rest.trim().as_bytes())) => {
                    Ok(Principal { username: "apikey".into(), role: Role::Api, token_id: None, token_expires_ms: 0 })
                }
                _ => Err(missing()),
            },
            _ => Err(missing()),
        }
    }

    /// Authenticates an `Authorization` header value. A valid token of a
    /// user this webapp has not heard of yet (created a moment ago through
    /// another webapp) is checked again once the coreapps were asked.
    pub async fn authenticate(
        &self,
        cores: &crate::coreapps::Cores,
        header: Option<&str>,
    ) -> Result<Principal, ApiError> {
        let asked = tokio::time::Instant::now();
        match self.check(header) {
            Ok(p) => return Ok(p),
            Err(Refusal::Denied(e)) => return Err(e),
            Err(Refusal::UnknownUser) => {}
        }
        {
            // Only signed tokens get here, so this cannot be driven by forgeries;
            // callers arriving together share one fetch.
            let mut last = self.refreshed.lock().await;
            if *last < asked {
                match cores.any().quiet().list_revocations(proto::core::Empty {}).await {
                    Ok(reply) => self.set_known(reply),
                    Err(e) => tracing::warn!(error = %e, "cannot fetch the user list"),
                }
                *last = tokio::time::Instant::now();
            }
        }
        match self.check(header) {
            Ok(p) => Ok(p),
            Err(Refusal::Denied(e)) => Err(e),
            Err(Refusal::UnknownUser) => Err(ApiError::unauthenticated("Invalid authentication token: no such user")),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        Ok(state.auth.authenticate(&state.cores, header).await?)
    }
}

/// Polls the coreapps for revoked tokens and users until shutdown.
pub async fn revocation_loop(state: AppState, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        match state.cores.any().quiet().list_revocations(proto::core::Empty {}).await {
            Ok(reply) => {
                state.auth.set_known(reply);
                failing = false;
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot fetch revoked tokens; keeping the last list");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(auth: &Auth, users: &[(&str, Role)], revocations: Vec<proto::core::Revocation>) {
        let users =
            users.iter().map(|(u, r)| proto::core::UserReply { username: u.to_string(), role: r.as_str().into() });
        auth.set_known(proto::core::RevocationList { revocations, users: users.collect() });
    }

    fn bearer(t: &Minted) -> String {
        format!("Bearer {}", t.token)
    }

    #[test]
    fn tokens_verify_and_revoke() {
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef", Some("monitoring-key-1".into()));
        known(&auth, &[("alice", Role::User)], vec![]);
        let minted = auth.mint("alice", Role::User, 0).unwrap();
        assert_eq!(minted.token.split('.').count(), 3);
        let p = auth.check(Some(&bearer(&minted))).unwrap();
        assert_eq!((p.username.as_str(), p.role), ("alice", Role::User));
        auth.revoke_locally(p.token_id.as_deref(), None);
        assert!(auth.check(Some(&bearer(&minted))).is_err());

        let other = Auth::new(b"another key, another signature!", None);
        let forged = other.mint("alice", Role::Admin, 0).unwrap();
        assert!(matches!(auth.check(Some(&bearer(&forged))), Err(Refusal::Denied(_))));
        assert_eq!(auth.check(Some("Apikey monitoring-key-1")).unwrap().role, Role::Api);
        assert!(auth.check(Some("Apikey wrong")).is_err());
        assert!(auth.check(None).is_err());
    }

    #[test]
    fn a_token_needs_an_existing_user_and_carries_its_current_role() {
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef", None);
        let token = auth.mint("carol", Role::Admin, 0).unwrap();
        // The list says carol is a plain user now: the token's claim is not believed.
        known(&auth, &[("carol", Role::User)], vec![]);
        assert_eq!(auth.check(Some(&bearer(&token))).unwrap().role, Role::User);
        // Gone from the list: the token is refused.
        known(&auth, &[("admin", Role::Admin)], vec![]);
        assert!(matches!(auth.check(Some(&bearer(&token))), Err(Refusal::UnknownUser)));
    }

    #[test]
    fn user_wide_revocation_spares_later_tokens() {
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef", None);
        let old = auth.mint("bob", Role::User, 0).unwrap();
        let cut = chrono::Utc::now().timestamp_millis();
        let revoked =
            proto::core::Revocation { token_id: String::new(), username: "bob".into(), issued_before_ms: cut };
        known(&auth, &[("bob", Role::User)], vec![revoked]);
        assert!(auth.check(Some(&bearer(&old))).is_err());
        // Minted in the same millisecond as the cut, it is still after it.
        let new = auth.mint("bob", Role::User, cut).unwrap();
        assert!(auth.check(Some(&bearer(&new))).is_ok());
    }

    #[test]
    fn overlong_and_overflowing_tokens_are_refused() {
        let key = b"0123456789abcdef0123456789abcdef";
        let auth = Auth::new(key, None);
        known(&auth, &[("mallory", Role::User)], vec![]);
        let now = chrono::Utc::now().timestamp();
        for (iat, exp) in
            [(now, i64::MAX), (now, now + 30 * 24 * 3600), (now + 86_400, now + 2 * 86_400), (i64::MIN, now + 60)]
        {
            let claims =
                Claims { user: "mallory".into(), role: "ROLE_USER".into(), jti: "x".into(), iat, exp, iat_ms: 0 };
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key)).unwrap();
            assert!(auth.check(Some(&format!("Bearer {token}"))).is_err(), "iat {iat} exp {exp}");
        }
    }
}
