//! The storage traits: metadata ([`FileStore`]) and bytes ([`BlobStore`]), kept apart so a
//! host can put metadata in its database and bytes on disk or in an object store.

use uuid::Uuid;

use super::meta::FileMeta;
use crate::error::StoreError;

/// Persistence of file metadata.
///
/// Every look-up is scoped to an owner: another user's file is simply not there (`None`,
/// `false`), which the host answers with `404 FILE_002`, so ids of other users' files cannot
/// be probed. Unknown ids are answers, never errors; `Err` means the backend failed. Every
/// backend must pass [`conformance`](super::conformance).
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait FileStore: Send + Sync {
    /// Stores new metadata. A second record with the same `id` is a
    /// [`Constraint`](crate::error::StoreErrorKind::Constraint) error and changes nothing.
    async fn insert(&self, meta: &FileMeta) -> Result<(), StoreError>;

    /// The file `id` if `owner` owns it.
    async fn get(&self, owner: i64, id: Uuid) -> Result<Option<FileMeta>, StoreError>;

    /// Every file of `owner`, ordered by `created_at`, then `id`.
    async fn list(&self, owner: i64) -> Result<Vec<FileMeta>, StoreError>;

    /// Deletes the file `id` if `owner` owns it, atomically: `Ok(true)` if this call deleted
    /// it, `Ok(false)` — changing nothing — for an unknown id, another user's file or a file
    /// already deleted.
    async fn delete(&self, owner: i64, id: Uuid) -> Result<bool, StoreError>;
}

/// Persistence of file contents, keyed by the file's id.
///
/// Ids are uuids chosen by Cutty, never client input, so a backend may use them as names
/// directly. Every backend must pass [`conformance`](super::conformance).
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `id`, durably, replacing any earlier blob with that id. Atomic:
    /// a concurrent or later [`get`](Self::get) sees the old bytes or the new ones, never
    /// a part; a failed `put` leaves no partial blob behind.
    async fn put(&self, id: Uuid, bytes: &[u8]) -> Result<(), StoreError>;

    /// The bytes stored under `id`.
    async fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes the blob `id`: `Ok(true)` if there was one.
    async fn delete(&self, id: Uuid) -> Result<bool, StoreError>;
}
