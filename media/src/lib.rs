//! The media store on the volume shared by every coreapp
//! (`WA_MEDIA_DIR`, `/usr/local/wamedia` in containers).
//!
//! Files are content addressed: the bytes live once under
//! `blobs/<sha256[0..2]>/<sha256>`, however many media ids point at them.
//! A write goes to a temporary file in `tmp/` on the same volume and is
//! fsynced ([`MediaStore::write`]); [`MediaStore::place`] then renames it
//! into place (or drops it when identical bytes are already there) and
//! fsyncs the directory. A reader never sees a partial file, and a crash
//! leaves at most a stray temporary file, which [`MediaStore::sweep_tmp`]
//! removes later.
//!
//! Deciding *when* a blob may go (no media id refers to it any more) is the
//! coreapp's business: it coordinates `place` and `remove` through the
//! database, so two nodes never race an upload against a removal.
//!
//! Blocking I/O: callers on an async runtime run these functions on a
//! blocking thread.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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

/// Bytes written and fsynced to a temporary file, not yet in place. Dropped
/// without [`MediaStore::place`], the temporary file is removed.
#[derive(Debug)]
pub struct Written {
    pub stored: Stored,
    tmp: Option<PathBuf>,
}

impl Drop for Written {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Handle on the media directory.
#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
}

/// Read size of [`MediaStore::write`]; also a good chunk size for callers.
pub const CHUNK: usize = 256 * 1024;

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

    /// Streams `reader` into a temporary file, refusing more than `limit`
    /// bytes, and fsyncs it. Memory use is one buffer, whatever the size.
    pub fn write(&self, mut reader: impl Read, limit: u64) -> Result<Written, MediaError> {
        let (tmp, mut file) = tempfile_in(&self.root.join("tmp"))?;
        // From here on the temporary file is removed on every error path.
        let mut written = Written { stored: Stored { sha256: String::new(), size: 0 }, tmp: Some(tmp) };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            size += n as u64;
            if size > limit {
                return Err(MediaError::TooLarge { limit });
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
        }
        file.sync_all()?;
        written.stored = Stored { sha256: hex::encode(hasher.finalize()), size };
        Ok(written)
    }

    /// Puts written bytes in place under their digest. When identical bytes
    /// are already there the temporary file is simply dropped.
    pub fn place(&self, mut written: Written) -> Result<Stored, MediaError> {
        let dest = self.blob_path(&written.stored.sha256);
        if dest.exists() {
            return Ok(written.stored.clone());
        }
        let dir = dest.parent().expect("blob path has a parent");
        fs::create_dir_all(dir)?;
        let tmp = written.tmp.take().expect("a written file is placed once");
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        // The rename is durable only once the directory entry is.
        File::open(dir)?.sync_all()?;
        Ok(written.stored.clone())
    }

    /// Opens stored content for reading.
    pub fn open_blob(&self, sha256: &str) -> Result<File, MediaError> {
        File::open(self.blob_path(sha256)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => MediaError::NotFound(sha256.to_string()),
            _ => MediaError::Io(e),
        })
    }

    /// Whether content with this digest is on the volume.
    pub fn contains(&self, sha256: &str) -> bool {
        self.blob_path(sha256).is_file()
    }

    /// Removes stored content; removing what is not there is not an error.
    pub fn remove(&self, sha256: &str) -> Result<(), MediaError> {
        match fs::remove_file(self.blob_path(sha256)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Where stored content lives (the path inbound webhooks name in `file`).
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("xx");
        self.root.join("blobs").join(prefix).join(sha256)
    }

    /// The digests of stored blobs last modified before `before`, at most
    /// `limit` of them (the coreapp checks them against the database).
    pub fn blobs_older_than(&self, before: SystemTime, limit: usize) -> Result<Vec<String>, MediaError> {
        let mut out = Vec::new();
        for prefix in fs::read_dir(self.root.join("blobs"))? {
            let prefix = prefix?;
            if !prefix.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(prefix.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_digest = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
                if is_digest && entry.metadata()?.modified()? < before {
                    out.push(name);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes temporary files older than `age` (left by a crash or a
    /// killed upload). Returns how many went.
    pub fn sweep_tmp(&self, age: Duration) -> Result<usize, MediaError> {
        let before = SystemTime::now() - age;
        let mut removed = 0;
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            if entry.metadata()?.modified()? < before && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
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

    fn tmp_count(dir: &Path) -> usize {
        fs::read_dir(dir.join("tmp")).unwrap().count()
    }

    #[test]
    fn identical_bytes_are_stored_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let a = store.place(store.write(&b"hello media"[..], 1024).unwrap()).unwrap();
        let b = store.place(store.write(&b"hello media"[..], 1024).unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.size, 11);
        assert_eq!(a.sha256, hex::encode(Sha256::digest(b"hello media")));
        let mut back = String::new();
        store.open_blob(&a.sha256).unwrap().read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello media");
        assert_eq!(tmp_count(dir.path()), 0);
        assert!(store.contains(&a.sha256));
        assert!(store.blob_path(&a.sha256).starts_with(dir.path().join("blobs")));
    }

    #[test]
    fn oversize_content_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let err = store.write(&[7u8; 2048][..], 1024).unwrap_err();
        assert!(matches!(err, MediaError::TooLarge { limit: 1024 }));
        assert_eq!(tmp_count(dir.path()), 0);
    }

    #[test]
    fn a_failing_reader_leaves_nothing() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away"));
                }
                self.0 -= 1;
                buf[0] = 1;
                Ok(1)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        assert!(matches!(store.write(Broken(3), 1024), Err(MediaError::Io(_))));
        assert_eq!(tmp_count(dir.path()), 0);
    }

    #[test]
    fn written_but_not_placed_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let w = store.write(&b"abc"[..], 10).unwrap();
        assert_eq!(tmp_count(dir.path()), 1);
        let sha = w.stored.sha256.clone();
        drop(w);
        assert_eq!(tmp_count(dir.path()), 0);
        assert!(!store.contains(&sha));
    }

    #[test]
    fn remove_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let s = store.place(store.write(&b"x"[..], 10).unwrap()).unwrap();
        store.remove(&s.sha256).unwrap();
        store.remove(&s.sha256).unwrap();
        assert!(matches!(store.open_blob(&s.sha256), Err(MediaError::NotFound(_))));
    }

    #[test]
    fn sweeps_see_only_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        let s = store.place(store.write(&b"old"[..], 10).unwrap()).unwrap();
        let stray = store.write(&b"stray"[..], 10).unwrap();
        std::mem::forget(stray); // as a crash would leave it
        let future = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(store.blobs_older_than(future, 10).unwrap(), vec![s.sha256.clone()]);
        assert!(store.blobs_older_than(SystemTime::now() - Duration::from_secs(60), 10).unwrap().is_empty());
        assert_eq!(store.sweep_tmp(Duration::from_secs(60)).unwrap(), 0);
        assert_eq!(store.sweep_tmp(Duration::ZERO).unwrap(), 1);
        assert_eq!(tmp_count(dir.path()), 0);
    }
}
