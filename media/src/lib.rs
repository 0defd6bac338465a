//! The media store on the volume shared by every coreapp
//! (`WA_MEDIA_DIR`, `/usr/local/wamedia` in containers).
//!
//! Files are content addressed: the bytes live once under
//! `blobs/<sha256[0..2]>/<sha256>`, however many media ids point at them.
//! Writes go to a temporary file in `tmp/` on the same volume, are fsynced,
//! then renamed into place, so a reader never sees a partial file and a crash
//! leaves at most a stray temporary file. Blocking I/O: callers on an async
//! runtime run these functions on a blocking thread.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media volume {path} is not usable: {source}")]
    Volume { path: PathBuf, source: io::Error },
    #[error("media I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("content is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no stored content with sha256 {0}")]
    NotFound(String),
}

/// A stored blob: its digest (the file name) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub sha256: String,
    pub size: u64,
}

/// Handle on the media directory.
#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
}

impl MediaStore {
    /// Opens (creating if needed) the store under `root` and checks that it
    /// is writable, so a misconfigured volume fails at start, not at the
    /// first upload.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, MediaError> {
        let root = root.into();
        let volume = |source| MediaError::Volume { path: root.clone(), source };
        fs::create_dir_all(root.join("tmp")).map_err(volume)?;
        fs::create_dir_all(root.join("blobs")).map_err(volume)?;
        let probe = tempfile_in(&root.join("tmp")).map_err(volume)?;
        drop(probe.1);
        fs::remove_file(&probe.0).map_err(volume)?;
        Ok(MediaStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Streams `reader` into the store, refusing more than `limit` bytes.
    pub fn put(&self, mut reader: impl Read, limit: u64) -> Result<Stored, MediaError> {
        let (tmp_path, mut file) = tempfile_in(&self.root.join("tmp"))?;
        let result = (|| {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                if size > limit {
                    return Err(MediaError::TooLarge { limit });
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n])?;
            }
            file.sync_all()?;
            let sha256 = hex::encode(hasher.finalize());
            let dest = self.blob_path(&sha256);
            fs::create_dir_all(dest.parent().expect("blob path has a parent"))?;
            // Identical bytes may already be there; rename replaces them
            // atomically with the same content.
            fs::rename(&tmp_path, &dest)?;
            Ok(Stored { sha256, size })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        result
    }

    /// Opens stored content for reading.
    pub fn open_blob(&self, sha256: &str) -> Result<File, MediaError> {
        File::open(self.blob_path(sha256)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => MediaError::NotFound(sha256.to_string()),
            _ => MediaError::Io(e),
        })
    }

    /// Removes stored content; removing what is not there is not an error.
    pub fn remove(&self, sha256: &str) -> Result<(), MediaError> {
        match fs::remove_file(self.blob_path(sha256)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("xx");
        self.root.join("blobs").join(prefix).join(sha256)
    }
}

fn tempfile_in(dir: &Path) -> io::Result<(PathBuf, File)> {
    let path = dir.join(format!("{}.part", uuid::Uuid::new_v4()));
    let file = File::options().write(true).create_new(true).open(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_bytes_are_stored_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let a = store.put(&b"hello media"[..], 1024).unwrap();
        let b = store.put(&b"hello media"[..], 1024).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.size, 11);
        let mut back = String::new();
        store.open_blob(&a.sha256).unwrap().read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello media");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn oversize_content_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let err = store.put(&[7u8; 2048][..], 1024).unwrap_err();
        assert!(matches!(err, MediaError::TooLarge { limit: 1024 }));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn remove_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let s = store.put(&b"x"[..], 10).unwrap();
        store.remove(&s.sha256).unwrap();
        store.remove(&s.sha256).unwrap();
        assert!(matches!(store.open_blob(&s.sha256), Err(MediaError::NotFound(_))));
    }
}
