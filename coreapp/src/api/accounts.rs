//! Users, logins, token revocation and the token signing key.
//!
//! Logins are checked here, where every webapp's attempts meet: failed
//! attempts are counted per client in the database, so the limit holds
//! across webapps and coreapps. A password change revokes the user's older
//! tokens; deleting a user revokes all of them.

use std::net::IpAddr;

use wire::users::{ADMIN, DEFAULT_ADMIN_PASSWORD, LOGIN_FAILURE_WINDOW, Role, TOKEN_LIFETIME};
use wire::{ApiError, ErrorCode};

use crate::api::passwords::{hash_password, verify_password};
use crate::error::CoreError;
use crate::store::db::{AnyConnection, Db, now_ms};
use crate::store::revocations::{self, Revocation};
use crate::store::{is_unique_violation, login_failures, settings, users};

/// How long a session token lives (7 days, as the old client).
pub const TOKEN_LIFETIME_MS: i64 = TOKEN_LIFETIME.as_millis() as i64;

/// Creates the built-in admin (password `secret`, to be changed at first
/// login) and the token signing key, unless they exist; reports user names
/// that differ only by case (kept from before that was refused).
pub async fn bootstrap(db: &Db) -> Result<(), CoreError> {
    let look_alikes = db
        .run(|conn| {
            let now = now_ms();
            if users::find(conn, ADMIN)?.is_none() {
                let admin = users::User {
                    username: ADMIN.into(),
                    password_hash: hash_password(DEFAULT_ADMIN_PASSWORD)?,
                    role: Role::Admin.as_str().into(),
                    must_change_password: 1,
                    created_at: now,
                    updated_at: now,
                    name_key: Some(users::name_key(ADMIN)),
                };
                match users::insert(conn, &admin) {
                    Err(e) if is_unique_violation(&e) => {}
                    other => other?,
                }
            }
            settings::get_or_insert(conn, settings::JWT_KEY, &wire::ids::random_hex(32), now)?;
            Ok(users::look_alikes(conn)?)
        })
        .await?;
    if !look_alikes.is_empty() {
        tracing::warn!(
            users = ?look_alikes,
            "these user names differ from another only by case; they were kept as they are, \
             but consider deleting the ones nobody uses"
        );
    }
    Ok(())
}

pub async fn jwt_key(db: &Db) -> Result<Vec<u8>, CoreError> {
    let hex_key = db
        .run(|conn| Ok(settings::get_or_insert(conn, settings::JWT_KEY, &wire::ids::random_hex(32), now_ms())?))
        .await?;
    hex::decode(hex_key).map_err(|e| CoreError::Internal(anyhow::anyhow!("stored token key is not hex: {e}")))
}

fn bad_credentials() -> ApiError {
    ApiError::unauthenticated("Invalid username or password")
}

/// The key failed logins are counted under: the address, or for IPv6 its
/// /64 (one host commonly holds a whole /64). Anything unreadable counts
/// as one client.
pub fn client_key(client: &str) -> String {
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        Ok(v4) => v4.to_string(),
        Err(_) => "unknown".into(),
    }
}

/// A login's outcome: the user, its role, and (when the password was
/// changed) the time up to which its older tokens are revoked.
pub struct LoggedIn {
    pub username: String,
    pub role: Role,
    pub revoked_up_to_ms: i64,
}

/// A hash to verify against when the user does not exist, so an unknown
/// name takes as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default())
}

/// Checks credentials; sets the new password when one is given. The admin
/// whose password is still the factory one must give a new one (1024). A
/// client over `failures_per_hour` failed logins is refused (429/1015)
/// before its password is even checked.
pub async fn login(
    db: &Db,
    username: String,
    password: String,
    new_password: String,
    client: String,
    failures_per_hour: u32,
) -> Result<LoggedIn, CoreError> {
    let client = client_key(&client);
    let window = LOGIN_FAILURE_WINDOW.as_millis() as i64;
    let (user, c) = (username.clone(), client.clone());
    let found = db
        .run(move |conn| {
            let failures = login_failures::count(conn, &c, now_ms() - window)?;
            if failures_per_hour > 0 && failures >= i64::from(failures_per_hour) {
                return Err(
                    ApiError::new(ErrorCode::TooManyRequests, "Rate limiting exceeded on bad login attempts").into()
                );
            }
            Ok(users::find(conn, &user)?)
        })
        .await?;
    // Hashing takes tens of milliseconds: off the pool, off the runtime.
    let hash = found.as_ref().map_or_else(|| decoy_hash().to_string(), |u| u.password_hash.clone());
    let checked = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("password check failed: {e}")))?;
    let user = match found {
        Some(user) if checked => user,
        _ => {
            db.run(move |conn| Ok(login_failures::record(conn, &client, now_ms(), now_ms() - window)?)).await?;
            return Err(bad_credentials().into());
        }
    };
    let role = Role::parse(&user.role).unwrap_or(Role::User);
    if new_password.is_empty() {
        if user.must_change_password != 0 {
            return Err(ApiError {
                status_override: Some(401),
                ..ApiError::new(ErrorCode::PasswordChangeRequired, "Password must be changed")
            }
            .into());
        }
        return Ok(LoggedIn { username: user.username, role, revoked_up_to_ms: 0 });
    }
    let hash = tokio::task::spawn_blocking(move || hash_password(&new_password))
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("password hashing failed: {e}")))??;
    let name = user.username.clone();
    let revoked_up_to_ms = db.run(move |conn| change_password(conn, &name, &hash)).await?;
    Ok(LoggedIn { username: user.username, role, revoked_up_to_ms })
}

/// Sets a password hash and revokes the user's tokens issued until now;
/// returns that time (unix ms). `NotFound` when there is no such user.
fn change_password(conn: &mut AnyConnection, username: &str, hash: &str) -> Result<i64, CoreError> {
    crate::store::db::transaction(conn, |conn| {
        let now = now_ms();
        if users::set_password(conn, username, hash, now)? == 0 {
            return Err(ApiError::not_found("User does not exist").into());
        }
        revoke_user(conn, username, now)?;
        Ok(now)
    })
}

/// Revokes every token of `username` issued at or before `now`.
pub fn revoke_user(conn: &mut AnyConnection, username: &str, now: i64) -> Result<(), CoreError> {
    revocations::insert(
        conn,
        &Revocation {
            id: wire::ids::message_id(),
            token_id: String::new(),
            username: username.to_string(),
            issued_before_ms: now,
            expires_at_ms: now.saturating_add(TOKEN_LIFETIME_MS),
            created_at: now,
        },
    )?;
    Ok(())
}

pub async fn create_user(db: &Db, username: String, password: String) -> Result<(), CoreError> {
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("password hashing failed: {e}")))??;
    db.run(move |conn| {
        let now = now_ms();
        let exists = || ApiError::new(ErrorCode::InternalError, "Unable to create user. Already exist?");
        if let Some(other) = users::look_alike(conn, &username)? {
            return Err(ApiError::invalid(format!(
                "User '{username}' cannot be created: user '{other}' exists, and names may not differ only by case"
            ))
            .into());
        }
        let user = users::User {
            name_key: Some(users::name_key(&username)),
            username,
            password_hash: hash,
            role: Role::User.as_str().into(),
            must_change_password: 0,
            created_at: now,
            updated_at: now,
        };
        match users::insert(conn, &user) {
            Err(e) if is_unique_violation(&e) => Err(exists().into()),
            other => Ok(other?),
        }
    })
    .await
}

pub async fn get_user(db: &Db, username: String) -> Result<(String, Role), CoreError> {
    db.run(move |conn| {
        let user = users::find(conn, &username)?.ok_or_else(|| ApiError::not_found("User does not exist"))?;
        Ok((user.username, Role::parse(&user.role).unwrap_or(Role::User)))
    })
    .await
}

/// Sets a user's password; its older tokens stop working.
pub async fn update_password(db: &Db, username: String, password: String) -> Result<(), CoreError> {
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("password hashing failed: {e}")))??;
    db.run(move |conn| change_password(conn, &username, &hash).map(drop)).await
}

/// Deletes a user and revokes every token it holds.
pub async fn delete_user(db: &Db, username: String) -> Result<(), CoreError> {
    if username == ADMIN {
        return Err(ApiError::invalid("Admin user cannot be deleted").into());
    }
    db.run(move |conn| {
        crate::store::db::transaction(conn, |conn| {
            if users::delete(conn, &username)? == 0 {
                return Err(ApiError::not_found("User does not exist").into());
            }
            revoke_user(conn, &username, now_ms())
        })
    })
    .await
}

pub async fn revoke(db: &Db, r: Revocation) -> Result<(), CoreError> {
    db.run(move |conn| Ok(revocations::insert(conn, &r)?)).await
}

/// What webapps need to check tokens: the revocations still in force, and
/// every user with its role.
pub async fn auth_state(db: &Db) -> Result<(Vec<Revocation>, Vec<(String, Role)>), CoreError> {
    db.run(|conn| {
        let now = now_ms();
        revocations::purge_expired(conn, now)?;
        let users = users::list(conn)?
            .into_iter()
            .map(|(name, role)| (name, Role::parse(&role).unwrap_or(Role::User)))
            .collect();
        Ok((revocations::active(conn, now)?, users))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_per_address_and_per_ipv6_64() {
        assert_eq!(client_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:bbbb::9"), client_key("2001:db8:1:2:aaaa::1"));
        assert_ne!(client_key("2001:db8:1:3::1"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key(""), "unknown");
    }
}
