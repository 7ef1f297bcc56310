//! [`MemoryApiKeyStore`]: API key records in maps under one lock.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use cutty_core::api_key::{
    ApiKeyRecord, ApiKeyStore, KeyHash, Revoker, SaltId, UsageCounts, UsageOutcome,
};
use cutty_core::error::{StoreError, StoreErrorKind};
use uuid::Uuid;

#[derive(Debug, Default)]
struct Keys {
    by_id: HashMap<Uuid, (ApiKeyRecord, UsageCounts)>,
    /// `(salt id, hash bytes)` → key id: the unique look-up index.
    by_hash: HashMap<(SaltId, [u8; 32]), Uuid>,
}

/// An in-process [`ApiKeyStore`]. Holds one record per key ever created (revoked keys are
/// kept, as on every backend); grows only with key creation, which is authenticated.
#[derive(Debug, Default)]
pub struct MemoryApiKeyStore {
    inner: RwLock<Keys>,
}

fn poisoned() -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, "memory.api_keys lock poisoned")
}

fn sorted(mut v: Vec<ApiKeyRecord>) -> Vec<ApiKeyRecord> {
    v.sort_by_key(|r| (r.created_at, r.key_id));
    v
}

impl MemoryApiKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Keys>, StoreError> {
        self.inner.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Keys>, StoreError> {
        self.inner.write().map_err(|_| poisoned())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryApiKeyStore {
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut keys = self.write()?;
        let hash_key = (record.salt_id.clone(), *record.key_hash.as_bytes());
        if keys.by_id.contains_key(&record.key_id) || keys.by_hash.contains_key(&hash_key) {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                "memory.api_keys: duplicate key id or hash",
            ));
        }
        keys.by_hash.insert(hash_key, record.key_id);
        keys.by_id
            .insert(record.key_id, (record.clone(), UsageCounts::default()));
        Ok(())
    }

    async fn find_by_hash(
        &self,
        salt_id: &SaltId,
        key_hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let keys = self.read()?;
        Ok(keys
            .by_hash
            .get(&(salt_id.clone(), *key_hash.as_bytes()))
            .and_then(|id| keys.by_id.get(id))
            .map(|(r, _)| r.clone()))
    }

    async fn get(&self, key_id: Uuid) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.read()?.by_id.get(&key_id).map(|(r, _)| r.clone()))
    }

    async fn list_for_user(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(sorted(
            self.read()?
                .by_id
                .values()
                .filter(|(r, _)| r.user_id == user_id)
                .map(|(r, _)| r.clone())
                .collect(),
        ))
    }

    async fn list_all(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(sorted(
            self.read()?
                .by_id
                .values()
                .map(|(r, _)| r.clone())
                .collect(),
        ))
    }

    async fn revoke(&self, key_id: Uuid, by: Revoker) -> Result<bool, StoreError> {
        let mut keys = self.write()?;
        let Some((r, _)) = keys.by_id.get_mut(&key_id) else {
            return Ok(false);
        };
        let allowed = match by {
            Revoker::Admin => true,
            Revoker::Owner(user) => r.user_id == user,
        };
        if !allowed || !r.is_active {
            return Ok(false);
        }
        r.is_active = false;
        Ok(true)
    }

    async fn record_last_used(&self, key_id: Uuid, at_unix_ms: i64) -> Result<(), StoreError> {
        if let Some((r, _)) = self.write()?.by_id.get_mut(&key_id) {
            r.last_used = Some(r.last_used.map_or(at_unix_ms, |t| t.max(at_unix_ms)));
        }
        Ok(())
    }

    async fn record_usage(&self, key_id: Uuid, outcome: UsageOutcome) -> Result<(), StoreError> {
        if let Some((_, c)) = self.write()?.by_id.get_mut(&key_id) {
            match outcome {
                UsageOutcome::Admitted => c.requests = c.requests.saturating_add(1),
                UsageOutcome::RateLimited => c.rate_limited = c.rate_limited.saturating_add(1),
            }
        }
        Ok(())
    }

    async fn usage(&self, key_id: Uuid) -> Result<UsageCounts, StoreError> {
        Ok(self
            .read()?
            .by_id
            .get(&key_id)
            .map(|(_, c)| *c)
            .unwrap_or_default())
    }

    async fn rehash(
        &self,
        key_id: Uuid,
        old_salt_id: &SaltId,
        new_salt_id: &SaltId,
        new_hash: &KeyHash,
    ) -> Result<bool, StoreError> {
        let mut keys = self.write()?;
        let new_key = (new_salt_id.clone(), *new_hash.as_bytes());
        let old_key = match keys.by_id.get(&key_id) {
            Some((r, _)) if r.salt_id == *old_salt_id => {
                (r.salt_id.clone(), *r.key_hash.as_bytes())
            }
            _ => return Ok(false),
        };
        if old_key != new_key && keys.by_hash.contains_key(&new_key) {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                "memory.api_keys: duplicate hash",
            ));
        }
        keys.by_hash.remove(&old_key);
        keys.by_hash.insert(new_key, key_id);
        if let Some((r, _)) = keys.by_id.get_mut(&key_id) {
            r.salt_id = new_salt_id.clone();
            r.key_hash = *new_hash;
        }
        Ok(true)
    }
}
