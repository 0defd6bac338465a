//! `/v1/settings/backup` and `/restore`: our settings, users and
//! certificates in one encrypted blob.
//!
//! The blob is `base64(magic | salt | nonce | ciphertext)`: the key is
//! derived from the password with Argon2id (the salt is random per backup)
//! and the JSON document is sealed with XChaCha20-Poly1305, whose tag also
//! covers the magic and salt. A wrong password and a damaged blob both
//! fail authentication; neither restores anything. Messages, webhooks and
//! media are not included (as with the old client).

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use wire::ApiError;

use crate::Core;
use crate::api::admin::{MEDIA_PROVIDERS, SHARDS, WEBAPP_CA};
use crate::error::CoreError;
use crate::store::db::{AnyConnection, now_ms, transaction};
use crate::store::schema::users;
use crate::store::users::User;
use crate::store::{certs, settings};

/// Identifies the format (and its version) at the start of every blob.
const MAGIC: &[u8; 8] = b"WAOPBK01";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;

/// Settings rows a backup carries.
const SETTINGS: &[&str] = &[settings::APPLICATION, settings::WEBHOOK_CA, MEDIA_PROVIDERS, SHARDS, WEBAPP_CA];

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Contents {
    created_at_ms: i64,
    users: Vec<BackupUser>,
    settings: Vec<(String, String)>,
    /// The webapp certificate and key, when one is stored.
    webapp_certificate: Option<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct BackupUser {
    username: String,
    password_hash: String,
    role: String,
    must_change_password: bool,
}

#[derive(Debug, PartialEq)]
pub enum OpenError {
    /// Not a backup of ours at all.
    Malformed,
    /// The password is wrong or the blob was altered.
    Rejected,
}

fn key(password: &str, salt: &[u8]) -> Result<chacha20poly1305::Key, CoreError> {
    let mut key = chacha20poly1305::Key::default();
    crate::api::passwords::derive_key(password, salt, &mut key)
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("key derivation failed: {e}")))?;
    Ok(key)
}

/// Encrypts `plain` under `password`.
pub fn seal(password: &str, plain: &[u8]) -> Result<String, CoreError> {
    let salt: [u8; SALT_LEN] = rand::random();
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&salt);
    let cipher = XChaCha20Poly1305::new(&key(password, &salt)?);
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad: &header })
        .map_err(|_| CoreError::Internal(anyhow::anyhow!("encryption failed")))?;
    let mut blob = header;
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(blob))
}

/// Decrypts a blob made by [`seal`].
pub fn open(password: &str, data: &str) -> Result<Vec<u8>, OpenError> {
    let blob = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|_| OpenError::Malformed)?;
    let header_len = MAGIC.len() + SALT_LEN;
    if blob.len() < header_len + NONCE_LEN + 16 || &blob[..MAGIC.len()] != MAGIC {
        return Err(OpenError::Malformed);
    }
    let (header, rest) = blob.split_at(header_len);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
    let key = key(password, &header[MAGIC.len()..]).map_err(|_| OpenError::Rejected)?;
    XChaCha20Poly1305::new(&key)
        .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: header })
        .map_err(|_| OpenError::Rejected)
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.is_empty() {
        return Err(ApiError::missing("password"));
    }
    Ok(())
}

/// A backup holds password hashes, the webapp's TLS key and provider
/// secrets: its password follows the rules of user passwords. (A restore
/// takes any password, so backups made before this rule still open.)
fn check_new_password(password: &str) -> Result<(), ApiError> {
    check_password(password)?;
    wire::users::validate_password(password)
        .map_err(|e| ApiError::invalid(format!("Backup password rejected. {}", e.details)))
}

/// `POST /v1/settings/backup`.
pub async fn backup(core: &Core, password: String) -> Result<String, CoreError> {
    check_new_password(&password)?;
    let contents = core.db.run(|conn| transaction(conn, read_contents)).await?;
    let json = serde_json::to_vec(&contents).map_err(anyhow::Error::from)?;
    tokio::task::spawn_blocking(move || seal(&password, &json))
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("backup task failed: {e}")))?
}

fn read_contents(conn: &mut AnyConnection) -> Result<Contents, CoreError> {
    let users = users::table
        .select(User::as_select())
        .order(users::username)
        .load(conn)?
        .into_iter()
        .map(|u| BackupUser {
            username: u.username,
            password_hash: u.password_hash,
            role: u.role,
            must_change_password: u.must_change_password != 0,
        })
        .collect();
    let mut stored = Vec::new();
    for name in SETTINGS {
        if let Some(value) = settings::get(conn, name)? {
            stored.push((name.to_string(), value));
        }
    }
    Ok(Contents {
        created_at_ms: now_ms(),
        users,
        settings: stored,
        webapp_certificate: certs::get(conn, certs::WEBAPP)?,
    })
}

/// `POST /v1/settings/restore`: replaces users, settings and certificates
/// with the backup's, in one transaction. Users the backup does not have
/// are removed, and their sessions revoked.
pub async fn restore(core: &Core, password: String, data: String) -> Result<(), CoreError> {
    check_password(&password)?;
    if data.trim().is_empty() {
        return Err(ApiError::missing("data").into());
    }
    let plain = tokio::task::spawn_blocking(move || open(&password, &data))
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("restore task failed: {e}")))?
        .map_err(|e| match e {
            OpenError::Malformed => ApiError::invalid_value("data", "not a backup made by this API"),
            OpenError::Rejected => ApiError::invalid("Incorrect password, or the backup data was altered"),
        })?;
    let contents: Contents =
        serde_json::from_slice(&plain).map_err(|_| ApiError::invalid_value("data", "not a backup made by this API"))?;
    core.db.run(move |conn| transaction(conn, |conn| write_contents(conn, contents))).await?;
    core.settings_changed();
    tracing::info!("settings, users and certificates restored from a backup");
    Ok(())
}

fn write_contents(conn: &mut AnyConnection, contents: Contents) -> Result<(), CoreError> {
    let now = now_ms();
    let existing: Vec<User> = users::table.select(User::as_select()).load(conn)?;
    // Sessions end for users the backup removes or whose password or role
    // it changes.
    for user in &existing {
        let kept = contents
            .users
            .iter()
            .any(|u| u.username == user.username && u.password_hash == user.password_hash && u.role == user.role);
        if !kept {
            crate::api::accounts::revoke_user(conn, &user.username, now)?;
        }
    }
    diesel::delete(users::table).execute(conn)?;
    let mut keys = std::collections::HashSet::new();
    for u in contents.users {
        // Look-alike names from an older database are restored as they
        // were: only the first of them holds the case-insensitive key.
        let key = crate::store::users::name_key(&u.username);
        let name_key = keys.insert(key.clone()).then_some(key);
        crate::store::users::insert(
            conn,
            &User {
                username: u.username,
                password_hash: u.password_hash,
                role: u.role,
                must_change_password: i32::from(u.must_change_password),
                created_at: now,
                updated_at: now,
                name_key,
            },
        )?;
    }
    for name in SETTINGS {
        match contents.settings.iter().find(|(n, _)| n == name) {
            Some((_, value)) => settings::put(conn, name, value, now)?,
            None => {
                settings::delete(conn, name)?;
            }
        }
    }
    if let Some((cert, key)) = contents.webapp_certificate {
        certs::put(conn, certs::WEBAPP, &cert, &key, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_blobs_open_only_with_their_password() {
        let blob = seal("correct horse", b"{\"a\":1}").unwrap();
        assert_eq!(open("correct horse", &blob).unwrap(), b"{\"a\":1}");
        assert_eq!(open("wrong horse", &blob), Err(OpenError::Rejected));
        // Same input, different salt and nonce: different blobs.
        assert_ne!(seal("correct horse", b"{\"a\":1}").unwrap(), blob);
    }

    #[test]
    fn altered_or_foreign_blobs_are_refused() {
        let blob = seal("pw", b"secret settings").unwrap();
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(&blob).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(open("pw", &tampered), Err(OpenError::Rejected));
        // The salt is authenticated too.
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(&blob).unwrap();
        bytes[MAGIC.len()] ^= 1;
        assert_eq!(open("pw", &base64::engine::general_purpose::STANDARD.encode(&bytes)), Err(OpenError::Rejected));
        assert_eq!(open("pw", "not base64 !"), Err(OpenError::Malformed));
        assert_eq!(open("pw", &base64::engine::general_purpose::STANDARD.encode(b"short")), Err(OpenError::Malformed));
    }
}
