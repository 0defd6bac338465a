//! Users, logins, token revocation and the token signing key.

use wire::users::{ADMIN, DEFAULT_ADMIN_PASSWORD, Role};
use wire::{ApiError, ErrorCode};

use crate::auth::{hash_password, verify_password};
use crate::db::{Db, now_ms};
use crate::error::CoreError;
use crate::store::revocations::{self, Revocation};
use crate::store::{is_unique_violation, settings, users};

/// How long a session token lives (7 days, as the old client).
pub const TOKEN_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// Creates the built-in admin (password `secret`, to be changed at first
/// login) and the token signing key, unless they exist.
pub async fn bootstrap(db: &Db) -> Result<(), CoreError> {
    db.run(|conn| {
        let now = now_ms();
        if users::find(conn, ADMIN)?.is_none() {
            let admin = users::User {
                username: ADMIN.into(),
                password_hash: hash_password(DEFAULT_ADMIN_PASSWORD)?,
                role: Role::Admin.as_str().into(),
                must_change_password: 1,
                created_at: now,
                updated_at: now,
            };
            match users::insert(conn, &admin) {
                Err(e) if is_unique_violation(&e) => {}
                other => other?,
            }
        }
        settings::get_or_insert(conn, settings::JWT_KEY, &wire::ids::random_hex(32), now)?;
        Ok(())
    })
    .await
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

/// Checks credentials; sets the new password when one is given. The admin
/// whose password is still the factory one must give a new one (1024).
pub async fn login(
    db: &Db,
    username: String,
    password: String,
    new_password: String,
) -> Result<(String, Role), CoreError> {
    db.run(move |conn| {
        let user = users::find(conn, &username)?.ok_or_else(bad_credentials)?;
        if !verify_password(&user.password_hash, &password) {
            return Err(bad_credentials().into());
        }
        if new_password.is_empty() {
            if user.must_change_password != 0 {
                return Err(ApiError {
                    status_override: Some(401),
                    ..ApiError::new(ErrorCode::PasswordChangeRequired, "Password must be changed")
                }
                .into());
            }
        } else {
            users::set_password(conn, &username, &hash_password(&new_password)?, now_ms())?;
        }
        let role = Role::parse(&user.role).unwrap_or(Role::User);
        Ok((user.username, role))
    })
    .await
}

pub async fn create_user(db: &Db, username: String, password: String) -> Result<(), CoreError> {
    db.run(move |conn| {
        let now = now_ms();
        let user = users::User {
            username,
            password_hash: hash_password(&password)?,
            role: Role::User.as_str().into(),
            must_change_password: 0,
            created_at: now,
            updated_at: now,
        };
        match users::insert(conn, &user) {
            Err(e) if is_unique_violation(&e) => {
                Err(ApiError::new(ErrorCode::InternalError, "Unable to create user. Already exist?").into())
            }
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

pub async fn update_password(db: &Db, username: String, password: String) -> Result<(), CoreError> {
    db.run(move |conn| {
        let hash = hash_password(&password)?;
        match users::set_password(conn, &username, &hash, now_ms())? {
            0 => Err(ApiError::not_found("User does not exist").into()),
            _ => Ok(()),
        }
    })
    .await
}

/// Deletes a user and revokes every token it holds.
pub async fn delete_user(db: &Db, username: String) -> Result<(), CoreError> {
    if username == ADMIN {
        return Err(ApiError::invalid("Admin user cannot be deleted").into());
    }
    db.run(move |conn| {
        crate::db::transaction(conn, |conn| {
            if users::delete(conn, &username)? == 0 {
                return Err(ApiError::not_found("User does not exist").into());
            }
            let now = now_ms();
            revocations::insert(
                conn,
                &Revocation {
                    id: wire::ids::message_id(),
                    token_id: String::new(),
                    username: username.clone(),
                    issued_before_ms: now,
                    expires_at_ms: now + TOKEN_LIFETIME_MS,
                    created_at: now,
                },
            )?;
            Ok(())
        })
    })
    .await
}

pub async fn revoke(db: &Db, r: Revocation) -> Result<(), CoreError> {
    db.run(move |conn| Ok(revocations::insert(conn, &r)?)).await
}

pub async fn active_revocations(db: &Db) -> Result<Vec<Revocation>, CoreError> {
    db.run(|conn| {
        let now = now_ms();
        revocations::purge_expired(conn, now)?;
        Ok(revocations::active(conn, now)?)
    })
    .await
}
