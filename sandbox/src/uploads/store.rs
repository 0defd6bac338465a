//! Upload sessions in memory: the bytes received so far, and the handle a
//! finished one answers. The newest [`MAX_UPLOADS`] sessions are kept, so
//! a client that opens sessions in a loop cannot grow the sandbox forever.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

/// How many sessions are kept before the oldest is dropped (with its handle).
pub(crate) const MAX_UPLOADS: usize = 100;

/// What `POST /{app-id}/uploads` declared.
#[derive(Debug, Clone)]
pub(crate) struct NewUpload {
    pub file_name: String,
    pub file_type: String,
    pub file_length: u64,
}

/// A finished upload, as the endpoints that take its handle see it.
#[derive(Debug, Clone)]
pub(crate) struct UploadedFile {
    pub file_type: String,
    pub bytes: Bytes,
}

/// Where a session stands after a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// More bytes are expected; this many arrived so far.
    Partial(u64),
    /// Every byte arrived: the file's handle.
    Complete(String),
}

/// Why a chunk was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// No such session (never opened, dropped, or reset).
    Unknown,
    /// Chunks must start where the previous one ended.
    WrongOffset { expected: u64 },
    /// The chunk would take the file past its declared length.
    PastEnd { file_length: u64 },
}

#[derive(Debug)]
enum Data {
    Receiving(Vec<u8>),
    Complete { handle: String, bytes: Bytes },
}

#[derive(Debug)]
struct Upload {
    declared: NewUpload,
    data: Data,
}

impl Upload {
    /// Bytes received so far, the offset the next chunk must start at.
    fn received(&self) -> u64 {
        match &self.data {
            Data::Receiving(bytes) => bytes.len() as u64,
            Data::Complete { bytes, .. } => bytes.len() as u64,
        }
    }
}

#[derive(Default)]
struct Sessions {
    by_id: HashMap<String, Upload>,
    /// Ids oldest first, to drop the oldest at the cap.
    order: VecDeque<String>,
    /// Handle of each finished session to its id.
    handles: HashMap<String, String>,
}

/// Every session behind one mutex, never held across an await.
#[derive(Default)]
pub(crate) struct Uploads {
    sessions: Mutex<Sessions>,
}

impl Uploads {
    fn lock(&self) -> MutexGuard<'_, Sessions> {
        // Each operation leaves the maps consistent before it can panic.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a session under `id` (fresh, chosen by the caller), dropping the oldest at the cap.
    pub(crate) fn open(&self, id: String, upload: NewUpload) {
        let mut sessions = self.lock();
        if sessions.order.len() >= MAX_UPLOADS
            && let Some(oldest) = sessions.order.pop_front()
            && let Some(Upload { data: Data::Complete { handle, .. }, .. }) = sessions.by_id.remove(&oldest)
        {
            sessions.handles.remove(&handle);
        }
        sessions.order.push_back(id.clone());
        sessions.by_id.insert(id, Upload { declared: upload, data: Data::Receiving(Vec::new()) });
    }

    /// Whether `id` names a session (so a fresh id must not be it).
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.lock().by_id.contains_key(id)
    }

    /// Bytes session `id` received so far.
    pub(crate) fn offset(&self, id: &str) -> Option<u64> {
        self.lock().by_id.get(id).map(Upload::received)
    }

    /// Appends `chunk` at `offset`; the session completes (and takes
    /// `new_handle()` as its handle) when its last byte arrives. Sending the
    /// empty chunk at the end of a finished session answers its handle again.
    pub(crate) fn append(
        &self,
        id: &str,
        offset: u64,
        chunk: &[u8],
        new_handle: impl FnOnce(&str) -> String,
    ) -> Result<Progress, ChunkError> {
        let mut guard = self.lock();
        let sessions = &mut *guard;
        let upload = sessions.by_id.get_mut(id).ok_or(ChunkError::Unknown)?;
        let expected = upload.received();
        if offset != expected {
            return Err(ChunkError::WrongOffset { expected });
        }
        let file_length = upload.declared.file_length;
        if expected + chunk.len() as u64 > file_length {
            return Err(ChunkError::PastEnd { file_length });
        }
        let received = match &mut upload.data {
            Data::Complete { handle, .. } => return Ok(Progress::Complete(handle.clone())),
            Data::Receiving(received) => received,
        };
        received.extend_from_slice(chunk);
        if (received.len() as u64) < file_length {
            return Ok(Progress::Partial(received.len() as u64));
        }
        let bytes = Bytes::from(std::mem::take(received));
        let handle = new_handle(&upload.declared.file_type);
        upload.data = Data::Complete { handle: handle.clone(), bytes };
        sessions.handles.insert(handle.clone(), id.to_owned());
        Ok(Progress::Complete(handle))
    }

    /// The finished file a handle stands for.
    pub(crate) fn by_handle(&self, handle: &str) -> Option<UploadedFile> {
        let sessions = self.lock();
        let upload = sessions.by_id.get(sessions.handles.get(handle)?)?;
        match &upload.data {
            Data::Complete { bytes, .. } => {
                Some(UploadedFile { file_type: upload.declared.file_type.clone(), bytes: bytes.clone() })
            }
            Data::Receiving(_) => None,
        }
    }

    /// Forgets every session and handle.
    pub(crate) fn reset(&self) {
        *self.lock() = Sessions::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(file_length: u64) -> NewUpload {
        NewUpload { file_name: "a.png".into(), file_type: "image/png".into(), file_length }
    }

    fn handle_of(file_type: &str) -> String {
        format!("h-{file_type}")
    }

    #[test]
    fn chunks_append_at_the_current_offset() {
        let uploads = Uploads::default();
        uploads.open("s".into(), declared(5));
        assert_eq!(uploads.offset("s"), Some(0));
        assert_eq!(uploads.append("s", 0, b"ab", handle_of), Ok(Progress::Partial(2)));
        assert_eq!(uploads.append("s", 0, b"ab", handle_of), Err(ChunkError::WrongOffset { expected: 2 }));
        assert_eq!(uploads.append("s", 2, b"cdef", handle_of), Err(ChunkError::PastEnd { file_length: 5 }));
        assert!(uploads.by_handle("h-image/png").is_none());
        assert_eq!(uploads.append("s", 2, b"cde", handle_of), Ok(Progress::Complete("h-image/png".into())));
        assert_eq!(uploads.offset("s"), Some(5));
        // The end of a finished session answers the same handle; more bytes do not fit.
        assert_eq!(uploads.append("s", 5, b"", handle_of), Ok(Progress::Complete("h-image/png".into())));
        assert_eq!(uploads.append("s", 5, b"f", handle_of), Err(ChunkError::PastEnd { file_length: 5 }));
        let file = uploads.by_handle("h-image/png").unwrap();
        assert_eq!(file.file_type, "image/png");
        assert_eq!(&file.bytes[..], b"abcde");
        assert_eq!(uploads.append("nope", 0, b"x", handle_of), Err(ChunkError::Unknown));
    }

    #[test]
    fn oldest_sessions_are_dropped_with_their_handles() {
        let uploads = Uploads::default();
        uploads.open("first".into(), declared(1));
        assert_eq!(uploads.append("first", 0, b"x", |_| "h0".into()), Ok(Progress::Complete("h0".into())));
        for n in 1..=MAX_UPLOADS {
            uploads.open(format!("s{n}"), declared(1));
        }
        assert!(!uploads.contains("first"));
        assert!(uploads.by_handle("h0").is_none());
        assert!(uploads.contains("s1") && uploads.contains(&format!("s{MAX_UPLOADS}")));
        uploads.reset();
        assert!(uploads.offset("s1").is_none());
    }
}
