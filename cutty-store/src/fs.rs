//! [`FsBlobStore`]: file contents as files in a directory (`CUTTY_FILES_DIR`, default
//! `./cutty-files`).
//!
//! # Layout
//! The blob of file `id` is `<dir>/<first two hex digits of id>/<id>` (lower-case hyphenated
//! uuid), so no directory grows past 1/256 of the files. Names come only from uuids Cutty
//! generated, never from client input, so there is nothing to inject into a path.
//!
//! # Durability and atomicity
//! A [`put`](cutty_core::file::BlobStore::put) writes to a temporary file in the same
//! directory (`.<id>.<random>.tmp`, created exclusively), `fsync`s it, renames it over the
//! final name and, on Unix, `fsync`s the directory, so the new blob survives a crash once
//! `put` returns, and a reader sees either the old bytes or the new ones, never a part. A
//! failed `put` removes its temporary file; one left by a crash is removed by
//! [`FsBlobStore::sweep_temp_files`]. The blocking file-system calls run on tokio's
//! blocking pool, never on the async executor.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::file::BlobStore;
use uuid::Uuid;

/// File contents stored as files under one directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    dir: PathBuf,
}

fn io_error(context: &'static str, e: io::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, context).with_source(e)
}

async fn blocking<T: Send + 'static>(
    context: &'static str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| io_error(context, e)),
        Err(join) => Err(StoreError::new(StoreErrorKind::Unavailable, context).with_source(join)),
    }
}

impl FsBlobStore {
    /// Uses `dir` (created with its parents if missing). Fails with `Unavailable` if it
    /// cannot be created or is not a directory.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let probe = dir.clone();
        blocking("files_dir.open", move || {
            std::fs::create_dir_all(&probe)?;
            if std::fs::metadata(&probe)?.is_dir() {
                Ok(())
            } else {
                Err(io::Error::other("CUTTY_FILES_DIR is not a directory"))
            }
        })
        .await?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `id` lives.
    pub fn path_of(&self, id: Uuid) -> PathBuf {
        let name = id.hyphenated().to_string();
        let shard = name.get(..2).unwrap_or("00").to_owned();
        self.dir.join(shard).join(name)
    }

    /// Removes temporary files left behind by a crash during a `put`, returning how many.
    /// Only names of the form `.<uuid>.<random>.tmp` in the shard directories are touched;
    /// safe to run while the store is in use only for temporary files older than
    /// `min_age` (a `put` in progress is younger).
    pub async fn sweep_temp_files(&self, min_age: std::time::Duration) -> Result<u64, StoreError> {
        let dir = self.dir.clone();
        blocking("files_dir.sweep", move || {
            let mut removed = 0;
            for shard in std::fs::read_dir(&dir)? {
                let shard = shard?;
                if !shard.file_type()?.is_dir() {
                    continue;
                }
                for entry in std::fs::read_dir(shard.path())? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if !is_temp_name(name) {
                        continue;
                    }
                    let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
                    if age >= min_age {
                        match std::fs::remove_file(entry.path()) {
                            Ok(()) => removed += 1,
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            Ok(removed)
        })
        .await
    }
}

/// `.<36-char uuid>.<32 hex>.tmp`.
fn is_temp_name(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    match inner.split_once('.') {
        Some((id, nonce)) => {
            Uuid::try_parse(id).is_ok()
                && nonce.len() == 32
                && nonce.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn write_atomically(final_path: &Path, id: Uuid, bytes: &[u8]) -> io::Result<()> {
    let parent = final_path
        .parent()
        .ok_or_else(|| io::Error::other("blob path has no parent"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".{}.{}.tmp",
        id.hyphenated(),
        Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, final_path)?;
        sync_dir(parent)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename in `dir` durable. Directories cannot be opened for syncing on Windows,
/// where the rename itself is the best available.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, id: Uuid, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path_of(id);
        let bytes = bytes.to_vec();
        blocking("files_dir.put", move || write_atomically(&path, id, &bytes)).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_of(id);
        blocking("files_dir.get", move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        let path = self.path_of(id);
        blocking("files_dir.delete", move || {
            match std::fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_exactly() {
        let id = Uuid::new_v4();
        let nonce = Uuid::new_v4().simple().to_string();
        assert!(is_temp_name(&format!(".{id}.{nonce}.tmp")));
        for not in [
            id.to_string(),
            format!("{id}.{nonce}.tmp"),
            format!(".{id}.{nonce}"),
            format!(".{id}.tmp"),
            format!(".{id}.{}.tmp", &nonce[1..]),
            format!(".not-a-uuid.{nonce}.tmp"),
        ] {
            assert!(!is_temp_name(&not), "{not}");
        }
    }

    #[test]
    fn paths_are_sharded_by_the_ids_first_two_digits() {
        let store = FsBlobStore {
            dir: PathBuf::from("/srv/files"),
        };
        let id: Uuid = "ab345678-1234-4234-8234-123456789abc".parse().unwrap();
        assert_eq!(
            store.path_of(id),
            PathBuf::from("/srv/files/ab/ab345678-1234-4234-8234-123456789abc")
        );
    }
}
