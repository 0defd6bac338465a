//! Media in memory: uploads (kept 30 days) and files users sent (7 days), on
//! the sandbox clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// How long an uploaded media id lives.
pub const UPLOADED_TTL_MS: i64 = 30 * 86_400_000;
/// How long a media id received in a webhook lives.
pub const INBOUND_TTL_MS: i64 = 7 * 86_400_000;

/// Where a media file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `POST /{phone-number-id}/media`.
    Uploaded,
    /// A simulated user sent it.
    Inbound,
}

/// One stored file.
#[derive(Debug)]
pub struct Media {
    pub id: String,
    /// The number it was uploaded on or sent to.
    pub phone_number_id: String,
    pub mime_type: String,
    pub bytes: Bytes,
    pub sha256: [u8; 32],
    pub filename: Option<String>,
    pub expires_ms: i64,
}

/// What a new file needs; the store assigns the id and expiry.
pub struct NewMedia {
    pub phone_number_id: String,
    pub mime_type: String,
    pub bytes: Bytes,
    pub filename: Option<String>,
    pub origin: Origin,
}

// === impl Media ===

impl Media {
    /// `sha256` as `GET /{media-id}` gives it (hex).
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// `sha256` as inbound webhooks give it (base64).
    pub fn sha256_base64(&self) -> String {
        STANDARD.encode(self.sha256)
    }
}

// === MediaStore ===

#[derive(Default)]
pub(crate) struct MediaStore {
    items: Mutex<HashMap<String, Arc<Media>>>,
}

impl MediaStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Media>>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a file under a fresh id, dropping whatever has expired.
    pub(crate) fn insert(&self, new: NewMedia, now_ms: i64, taken: impl Fn(&str) -> bool) -> Arc<Media> {
        let ttl = match new.origin {
            Origin::Uploaded => UPLOADED_TTL_MS,
            Origin::Inbound => INBOUND_TTL_MS,
        };
        let sha256: [u8; 32] = Sha256::digest(&new.bytes).into();
        let mut items = self.lock();
        items.retain(|_, media| media.expires_ms > now_ms);
        let id = loop {
            let id = crate::graph::new_id();
            if !items.contains_key(&id) && !taken(&id) {
                break id;
            }
        };
        let media = Arc::new(Media {
            id: id.clone(),
            phone_number_id: new.phone_number_id,
            mime_type: new.mime_type,
            bytes: new.bytes,
            sha256,
            filename: new.filename,
            expires_ms: now_ms + ttl,
        });
        items.insert(id, media.clone());
        media
    }

    /// The file `id`, unless it expired or was deleted.
    pub(crate) fn get(&self, id: &str, now_ms: i64) -> Option<Arc<Media>> {
        self.lock().get(id).filter(|media| media.expires_ms > now_ms).cloned()
    }

    /// Deletes `id`; false when there was no such (live) file.
    pub(crate) fn remove(&self, id: &str, now_ms: i64) -> bool {
        self.lock().remove(id).is_some_and(|media| media.expires_ms > now_ms)
    }

    pub(crate) fn reset(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(origin: Origin) -> NewMedia {
        NewMedia {
            phone_number_id: "1".into(),
            mime_type: "text/plain".into(),
            bytes: Bytes::from_static(b"abc"),
            filename: None,
            origin,
        }
    }

    #[test]
    fn ids_expire_by_origin() {
        let store = MediaStore::default();
        let now = 1_000_000;
        let uploaded = store.insert(new(Origin::Uploaded), now, |_| false);
        let inbound = store.insert(new(Origin::Inbound), now, |_| false);
        assert_ne!(uploaded.id, inbound.id);
        assert_eq!(
            uploaded.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "SHA-256 of abc"
        );
        assert_eq!(uploaded.sha256_base64(), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert!(store.get(&inbound.id, now + INBOUND_TTL_MS - 1).is_some());
        assert!(store.get(&inbound.id, now + INBOUND_TTL_MS).is_none());
        assert!(store.get(&uploaded.id, now + INBOUND_TTL_MS).is_some());
        assert!(store.get(&uploaded.id, now + UPLOADED_TTL_MS).is_none());
        assert!(store.remove(&uploaded.id, now));
        assert!(!store.remove(&uploaded.id, now));
        assert!(store.get(&uploaded.id, now).is_none());
    }
}
