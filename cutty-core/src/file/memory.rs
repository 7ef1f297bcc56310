//! In-process [`FileStore`] and [`BlobStore`]: tests, examples and single-node deployments
//! that accept losing their files on restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use uuid::Uuid;

use super::meta::FileMeta;
use super::store::{BlobStore, FileStore};
use crate::error::{StoreError, StoreErrorKind};

fn poisoned(what: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, what)
}

/// File metadata in memory: one map per owner, ordered by `(created_at, id)`.
#[derive(Debug, Default)]
pub struct MemoryFileStore {
    inner: RwLock<Files>,
}

#[derive(Debug, Default)]
struct Files {
    /// id → (owner, created_at): the key of the owner's map.
    index: HashMap<Uuid, (i64, i64)>,
    by_owner: HashMap<i64, BTreeMap<(i64, Uuid), FileMeta>>,
}

impl MemoryFileStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Files>, StoreError> {
        self.inner
            .read()
            .map_err(|_| poisoned("memory.files lock poisoned"))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Files>, StoreError> {
        self.inner
            .write()
            .map_err(|_| poisoned("memory.files lock poisoned"))
    }
}

impl Files {
    fn find(&self, owner: i64, id: Uuid) -> Option<&FileMeta> {
        let (stored_owner, created_at) = *self.index.get(&id)?;
        if stored_owner != owner {
            return None;
        }
        self.by_owner.get(&owner)?.get(&(created_at, id))
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl FileStore for MemoryFileStore {
    async fn insert(&self, meta: &FileMeta) -> Result<(), StoreError> {
        let mut files = self.write()?;
        if files.index.contains_key(&meta.id) {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                "memory.files: duplicate id",
            ));
        }
        files.index.insert(meta.id, (meta.user_id, meta.created_at));
        files
            .by_owner
            .entry(meta.user_id)
            .or_default()
            .insert((meta.created_at, meta.id), meta.clone());
        Ok(())
    }

    async fn get(&self, owner: i64, id: Uuid) -> Result<Option<FileMeta>, StoreError> {
        Ok(self.read()?.find(owner, id).cloned())
    }

    async fn list(&self, owner: i64) -> Result<Vec<FileMeta>, StoreError> {
        Ok(self
            .read()?
            .by_owner
            .get(&owner)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn delete(&self, owner: i64, id: Uuid) -> Result<bool, StoreError> {
        let mut files = self.write()?;
        let Some(created_at) = files.find(owner, id).map(|m| m.created_at) else {
            return Ok(false);
        };
        files.index.remove(&id);
        if let Some(mine) = files.by_owner.get_mut(&owner) {
            mine.remove(&(created_at, id));
            if mine.is_empty() {
                files.by_owner.remove(&owner);
            }
        }
        Ok(true)
    }
}

/// File contents in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    inner: RwLock<HashMap<Uuid, Vec<u8>>>,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many blobs are held.
    pub fn len(&self) -> usize {
        self.inner.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no blob is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, id: Uuid, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner
            .write()
            .map_err(|_| poisoned("memory.blobs lock poisoned"))?
            .insert(id, bytes.to_vec());
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .inner
            .read()
            .map_err(|_| poisoned("memory.blobs lock poisoned"))?
            .get(&id)
            .cloned())
    }

    async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .write()
            .map_err(|_| poisoned("memory.blobs lock poisoned"))?
            .remove(&id)
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn memory_file_store_conforms() {
        block_on(super::super::conformance::run_file_store(
            &MemoryFileStore::new(),
        ));
    }

    #[test]
    fn memory_blob_store_conforms() {
        let store = MemoryBlobStore::new();
        block_on(super::super::conformance::run_blob_store(&store));
        assert!(store.is_empty(), "the suite deletes what it writes");
    }
}
