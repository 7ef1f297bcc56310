//! [`MemoryBlockListStore`]: block-list entries in a map, with a change counter.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::ip_block::{BlockEntry, BlockListStore};
use ipnet::IpNet;

#[derive(Debug, Default)]
struct Inner {
    version: u64,
    entries: BTreeMap<IpNet, BlockEntry>,
}

/// An in-process [`BlockListStore`]: entries keyed by network, and a version bumped on every
/// change. Grows only through admin actions (`add`), and `purge_expired` drops lapsed ones.
#[derive(Debug, Default)]
pub struct MemoryBlockListStore {
    inner: Mutex<Inner>,
}

impl MemoryBlockListStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| {
            StoreError::new(StoreErrorKind::Unavailable, "memory.blocked_ips poisoned")
        })
    }
}

#[async_trait]
impl BlockListStore for MemoryBlockListStore {
    async fn add(&self, entry: &BlockEntry) -> Result<(), StoreError> {
        let mut g = self.lock()?;
        g.entries.insert(entry.network, entry.clone());
        g.version = g.version.wrapping_add(1);
        Ok(())
    }

    async fn remove(&self, network: &IpNet) -> Result<bool, StoreError> {
        let mut g = self.lock()?;
        let removed = g.entries.remove(network).is_some();
        if removed {
            g.version = g.version.wrapping_add(1);
        }
        Ok(removed)
    }

    async fn list(&self) -> Result<Vec<BlockEntry>, StoreError> {
        Ok(self.lock()?.entries.values().cloned().collect())
    }

    async fn version(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.version)
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut g = self.lock()?;
        let before = g.entries.len();
        g.entries
            .retain(|_, e| e.expires_at.is_none_or(|exp| exp > now_ms));
        let n = (before - g.entries.len()) as u64;
        if n > 0 {
            g.version = g.version.wrapping_add(1);
        }
        Ok(n)
    }
}
