//! The storage trait for API keys.

use uuid::Uuid;

use super::hash::{KeyHash, SaltId};
use super::record::{ApiKeyRecord, UsageCounts, UsageOutcome};
use crate::error::StoreError;

/// Who is revoking a key: its owner (only their own keys) or an admin (any key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revoker {
    /// A user revoking one of their own keys.
    Owner(i64),
    /// An admin, who may revoke any user's key.
    Admin,
}

/// Persistence of API keys. One record per key; the key itself is never stored.
///
/// Every backend must pass [`conformance`](super::conformance). Unknown ids are answers
/// (`None`, `false`, zero counts), never errors; `Err` means the backend failed.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new record. A second record with the same `key_id`, or the same
    /// `(salt_id, key_hash)`, is a [`Constraint`](crate::error::StoreErrorKind::Constraint)
    /// error and changes nothing.
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;

    /// The record whose hash under `salt_id` is `key_hash` — active or not, expired or not
    /// (the caller decides what that means). An index look-up on `(salt_id, key_hash)`.
    async fn find_by_hash(
        &self,
        salt_id: &SaltId,
        key_hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// The record with `key_id`.
    async fn get(&self, key_id: Uuid) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Every key of `user_id`, revoked ones included, ordered by `created_at` then `key_id`.
    async fn list_for_user(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Every key of every user (admin views), same order.
    async fn list_all(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Marks the key inactive, atomically. `Ok(true)` if this call revoked an active key
    /// that `by` may revoke; `Ok(false)` — changing nothing — for an unknown id, another
    /// user's key (when `by` is an owner) or a key already revoked. The host answers
    /// `false` with `404 REQ_004`.
    async fn revoke(&self, key_id: Uuid, by: Revoker) -> Result<bool, StoreError>;

    /// Sets `last_used` to `at_unix_ms` (unknown id: no-op). Never moves it backwards.
    async fn record_last_used(&self, key_id: Uuid, at_unix_ms: i64) -> Result<(), StoreError>;

    /// Atomically adds one to the counter `outcome` names (unknown id: no-op).
    async fn record_usage(&self, key_id: Uuid, outcome: UsageOutcome) -> Result<(), StoreError>;

    /// The key's counters; zeros for an unused or unknown key.
    async fn usage(&self, key_id: Uuid) -> Result<UsageCounts, StoreError>;

    /// Replaces the key's hash with `(new_salt_id, new_hash)` if — atomically — it is still
    /// tagged `old_salt_id`. `Ok(true)` if replaced; `Ok(false)` for an unknown id or a key
    /// already migrated (e.g. by a concurrent request).
    async fn rehash(
        &self,
        key_id: Uuid,
        old_salt_id: &SaltId,
        new_salt_id: &SaltId,
        new_hash: &KeyHash,
    ) -> Result<bool, StoreError>;
}
