//! Who is calling: session tokens (JWT, HS256, 7 days), the API key, the
//! revocation list shared through the coreapps, and the failed-login limit.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use wire::users::Role;
use wire::{ApiError, ErrorCode};

use crate::AppState;
use crate::envelope::Failure;

/// Token lifetime: 7 days, as the old client.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

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
struct Revoked {
    tokens: HashSet<String>,
    /// User name -> tokens issued at or before this time (ms) are revoked.
    users: HashMap<String, i64>,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    api_key: Option<String>,
    revoked: RwLock<Revoked>,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    failures_per_hour: u32,
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

impl Auth {
    pub fn new(key: &[u8], api_key: Option<String>, failures_per_hour: u32) -> Self {
        Auth {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            api_key,
            revoked: RwLock::default(),
            failures: Mutex::default(),
            failures_per_hour,
        }
    }

    pub fn mint(&self, username: &str, role: Role) -> anyhow::Result<Minted> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let exp = now_ms / 1000 + TOKEN_LIFETIME.as_secs() as i64;
        let claims = Claims {
            user: username.into(),
            role: role.as_str().into(),
            jti: wire::ids::random_hex(16),
            iat: now_ms / 1000,
            exp,
            iat_ms: now_ms,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(Minted { token, expires_at: exp })
    }

    fn verify_token(&self, token: &str) -> Result<Principal, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 600;
        validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| ApiError::unauthenticated("Invalid or expired authentication token"))?;
        let c = data.claims;
        let revoked = self.revoked.read().expect("revocations lock");
        if revoked.tokens.contains(&c.jti) || revoked.users.get(&c.user).is_some_and(|t| c.iat_ms <= *t) {
            return Err(ApiError::unauthenticated("Authentication token has been revoked"));
        }
        let role = Role::parse(&c.role).ok_or_else(|| ApiError::unauthenticated("Invalid authentication token"))?;
        Ok(Principal { username: c.user, role, token_id: Some(c.jti), token_expires_ms: c.exp * 1000 })
    }

    /// Replaces the revocation list with the coreapps' current one.
    pub fn set_revocations(&self, list: Vec<proto::core::Revocation>) {
        let mut next = Revoked::default();
        for r in list {
            if r.token_id.is_empty() {
                let t = next.users.entry(r.username).or_insert(r.issued_before_ms);
                *t = (*t).max(r.issued_before_ms);
            } else {
                next.tokens.insert(r.token_id);
            }
        }
        *self.revoked.write().expect("revocations lock") = next;
    }

    /// Takes effect on this webapp at once (others learn it by polling).
    pub fn revoke_locally(&self, token_id: Option<&str>, username: Option<(&str, i64)>) {
        let mut revoked = self.revoked.write().expect("revocations lock");
        if let Some(t) = token_id {
            revoked.tokens.insert(t.to_string());
        }
        if let Some((u, before)) = username {
            revoked.users.insert(u.to_string(), before);
        }
    }

    /// Whether this address has used up its failed logins (429/1015).
    pub fn login_blocked(&self, ip: IpAddr) -> bool {
        let mut map = self.failures.lock().expect("failures lock");
        let Some(q) = map.get_mut(&ip) else {
            return false;
        };
        prune(q);
        q.len() as u32 >= self.failures_per_hour
    }

    pub fn login_failed(&self, ip: IpAddr) {
        let mut map = self.failures.lock().expect("failures lock");
        let q = map.entry(ip).or_default();
        prune(q);
        q.push_back(Instant::now());
    }

    /// Authenticates an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        let missing = || ApiError::unauthenticated("Missing or invalid authentication credentials");
        let value = header.ok_or_else(missing)?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or_else(missing)?;
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => self.verify_token(rest.trim()),
            "apikey" => match &self.api_key {
                Some(key) if constant_time_eq(key.as_bytes(), rest.trim().as_bytes()) => {
                    Ok(Principal { username: "apikey".into(), role: Role::Api, token_id: None, token_expires_ms: 0 })
                }
                _ => Err(missing()),
            },
            _ => Err(missing()),
        }
    }
}

fn prune(q: &mut VecDeque<Instant>) {
    let hour = Duration::from_secs(3600);
    while q.front().is_some_and(|t| t.elapsed() > hour) {
        q.pop_front();
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        Ok(state.auth.authenticate(header)?)
    }
}

/// 429/1015 for an address over its failed-login budget.
pub fn too_many_failures() -> ApiError {
    ApiError::new(ErrorCode::TooManyRequests, "Rate limiting exceeded on bad login attempts")
}

/// Polls the coreapps for revoked tokens until shutdown.
pub async fn revocation_loop(state: AppState, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        match state.cores.any().list_revocations(proto::core::Empty {}).await {
            Ok(reply) => {
                state.auth.set_revocations(reply.into_inner().revocations);
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

    #[test]
    fn tokens_verify_and_revoke() {
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef", Some("monitoring-key-1".into()), 3);
        let minted = auth.mint("alice", Role::User).unwrap();
        assert_eq!(minted.token.split('.').count(), 3);
        let p = auth.authenticate(Some(&format!("Bearer {}", minted.token))).unwrap();
        assert_eq!((p.username.as_str(), p.role), ("alice", Role::User));
        auth.revoke_locally(p.token_id.as_deref(), None);
        assert!(auth.authenticate(Some(&format!("Bearer {}", minted.token))).is_err());

        let other = Auth::new(b"another key, another signature!", None, 3);
        let forged = other.mint("alice", Role::Admin).unwrap();
        assert_eq!(auth.authenticate(Some(&format!("Bearer {}", forged.token))).unwrap_err().http_status(), 401);
        assert_eq!(auth.authenticate(Some("Apikey monitoring-key-1")).unwrap().role, Role::Api);
        assert!(auth.authenticate(Some("Apikey wrong")).is_err());
        assert!(auth.authenticate(None).is_err());
    }

    #[test]
    fn user_wide_revocation_spares_later_tokens() {
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef", None, 3);
        let old = auth.mint("bob", Role::User).unwrap();
        let cut = chrono::Utc::now().timestamp_millis();
        auth.set_revocations(vec![proto::core::Revocation {
            token_id: String::new(),
            username: "bob".into(),
            issued_before_ms: cut,
        }]);
        assert!(auth.authenticate(Some(&format!("Bearer {}", old.token))).is_err());
        std::thread::sleep(Duration::from_millis(2));
        let new = auth.mint("bob", Role::User).unwrap();
        assert!(auth.authenticate(Some(&format!("Bearer {}", new.token))).is_ok());
    }

    #[test]
    fn failed_logins_are_limited_per_address() {
        let auth = Auth::new(b"k", None, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        auth.login_failed(a);
        assert!(!auth.login_blocked(a));
        auth.login_failed(a);
        assert!(auth.login_blocked(a));
        assert!(!auth.login_blocked(b));
    }
}
