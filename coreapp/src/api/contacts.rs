//! `/v1/contacts`: checking numbers (with results kept a week, as the old
//! client did) and the identity keys of users.

use wire::ApiError;
use wire::contacts::{ContactResult, ContactStatus, IdentityKey};

use crate::Core;
use crate::error::CoreError;
use crate::store::contacts;
use crate::store::db::{Db, now_ms};

/// How long `POST /v1/contacts` results are kept, as the old client.
const CONTACT_CACHE_MS: i64 = 7 * 24 * 3600 * 1000;

/// Contacts checked per database round: one read, one delete and one
/// multi-row insert, each round on a connection of its own, so a large
/// request never holds one for long.
const CONTACTS_PER_ROUND: usize = 500;

/// `POST /v1/contacts`: every number written correctly is `valid` with its
/// digits as `wa_id` (as the old client answered from v2.43 on); a stand-in
/// identifier or BSUID is `valid` when it names a user we know, with the
/// identifier the business knows them by as `wa_id`; anything else
/// `invalid`. Results are kept 7 days; `force_check` looks again. At
/// most [`wire::messages::MAX_CONTACTS`] per request, and at most
/// [`Core::contact_checks`] requests at a time per coreapp, so checks can
/// never take the pool from sends.
pub async fn check_contacts(
    core: &Core,
    inputs: Vec<String>,
    force_check: bool,
) -> Result<Vec<ContactResult>, CoreError> {
    if inputs.len() > wire::messages::MAX_CONTACTS {
        return Err(wire::messages::too_many_contacts(inputs.len()).into());
    }
    let _turn = core
        .contact_checks
        .acquire()
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("contact checks stopped: {e}")))?;
    let mode = core.settings().await?.identity.identifier;
    // Results are kept under the first 64 characters of the input.
    let key = |input: &str| -> String { input.chars().take(64).collect() };
    let mut unique: Vec<String> = inputs.iter().map(|i| key(i)).collect();
    unique.sort_unstable();
    unique.dedup();
    let mut results: std::collections::HashMap<String, contacts::Checked> =
        std::collections::HashMap::with_capacity(unique.len());
    for round in unique.chunks(CONTACTS_PER_ROUND) {
        let round = round.to_vec();
        let rows = core
            .db
            .run(move |conn| {
                crate::store::db::transaction(conn, |conn| {
                    let now = now_ms();
                    let mut known = if force_check { Vec::new() } else { contacts::find_many(conn, &round)? };
                    known.retain(|c| now - c.checked_at < CONTACT_CACHE_MS);
                    // Stand-ins and BSUIDs are answered from the registry
                    // as it is now, never from the kept results.
                    let (users, phones): (Vec<&String>, Vec<&String>) =
                        round.iter().partition(|input| names_a_user(input));
                    let mut answered = Vec::with_capacity(users.len());
                    for input in users {
                        let wa_id = crate::identities::known(conn, input, mode)?;
                        let status = if wa_id.is_some() { ContactStatus::Valid } else { ContactStatus::Invalid };
                        answered.push(contacts::Checked { input: input.clone(), status, wa_id, checked_at: now });
                    }
                    let fresh: Vec<contacts::Checked> = phones
                        .into_iter()
                        .filter(|input| !known.iter().any(|c| &c.input == *input))
                        .map(|input| {
                            let wa_id = wire::messages::normalise_phone(input);
                            let status = if wa_id.is_some() { ContactStatus::Valid } else { ContactStatus::Invalid };
                            contacts::Checked { input: input.clone(), status, wa_id, checked_at: now }
                        })
                        .collect();
                    contacts::replace_many(conn, &fresh)?;
                    known.retain(|c| !names_a_user(&c.input));
                    known.extend(fresh);
                    known.extend(answered);
                    Ok(known)
                })
            })
            .await?;
        results.extend(rows.into_iter().map(|row| (row.input.clone(), row)));
    }
    Ok(inputs
        .into_iter()
        .map(|input| {
            let row = results.get(&key(&input));
            ContactResult {
                status: row.map_or(ContactStatus::Invalid, |r| r.status),
                wa_id: row.and_then(|r| r.wa_id.clone()),
                input,
            }
        })
        .collect())
}

/// Whether a contacts input is one of the identifiers of users without a
/// known phone: a stand-in or a BSUID.
fn names_a_user(input: &str) -> bool {
    matches!(
        wire::identity::Recipient::parse(input),
        Some(wire::identity::Recipient::Standin(_) | wire::identity::Recipient::Bsuid(_))
    )
}

/// `GET /v1/contacts/{wa_id}/identity`.
pub async fn identity(db: &Db, wa_id: String) -> Result<IdentityKey, CoreError> {
    db.run(move |conn| {
        let Some(i) = contacts::identity(conn, &wa_id)? else {
            return Err(ApiError::not_found(format!("No identity is known for {wa_id}")).into());
        };
        Ok(IdentityKey { hash: i.hash, created_timestamp: i.created_timestamp, acknowledged: i.acknowledged != 0 })
    })
    .await
}

/// `PUT /v1/contacts/{wa_id}/identity` `{"hash"}`: acknowledges a changed key.
pub async fn acknowledge_identity(db: &Db, wa_id: String, hash: String) -> Result<(), CoreError> {
    db.run(move |conn| {
        if contacts::identity(conn, &wa_id)?.is_none() {
            return Err(ApiError::not_found(format!("No identity is known for {wa_id}")).into());
        }
        match contacts::acknowledge(conn, &wa_id, &hash)? {
            0 => Err(ApiError::invalid_value("hash", &hash).into()),
            _ => Ok(()),
        }
    })
    .await
}
