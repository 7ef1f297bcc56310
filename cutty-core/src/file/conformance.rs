//! The conformance suites every [`FileStore`] and [`BlobStore`] backend must pass.
//!
//! Each function takes a store (which may already hold data: the checks use fresh random
//! ids and owners) and panics on the first violated expectation. Call them from a backend's
//! tests with any executor:
//!
//! ```ignore
//! #[tokio::test]
//! async fn file_stores_conform() {
//!     cutty_core::file::conformance::run_file_store(&MyStore::new().await).await;
//!     cutty_core::file::conformance::run_blob_store(&MyBlobs::new()).await;
//! }
//! ```

use uuid::Uuid;

use super::format::FileFormat;
use super::meta::{FileMeta, Sha256Digest};
use super::store::{BlobStore, FileStore};
use crate::error::StoreErrorKind;

fn fresh_owner() -> i64 {
    // Positive and effectively unique, so checks do not see each other's data.
    (Uuid::new_v4().as_u64_pair().0 >> 2) as i64 + 1
}

/// Sample metadata of `owner` created at `created_at`.
pub fn sample_meta(owner: i64, created_at: i64) -> FileMeta {
    FileMeta {
        id: Uuid::new_v4(),
        user_id: owner,
        filename: "Übersicht 2024 – 季度 \"final\".csv".to_owned(),
        content_type: FileFormat::Csv,
        size: 1234,
        sha256: Sha256Digest::of(b"conformance"),
        created_at,
    }
}

/// Runs every [`FileStore`] check.
pub async fn run_file_store<S: FileStore + ?Sized>(store: &S) {
    insert_round_trips_every_field(store).await;
    insert_refuses_duplicate_ids(store).await;
    get_is_scoped_to_the_owner(store).await;
    list_is_own_files_in_creation_order(store).await;
    delete_is_scoped_and_happens_once(store).await;
}

/// Runs every [`BlobStore`] check. Deletes every blob it writes.
pub async fn run_blob_store<S: BlobStore + ?Sized>(store: &S) {
    put_get_round_trips_any_bytes(store).await;
    put_replaces(store).await;
    delete_happens_once(store).await;
}

/// Stored metadata reads back equal, for every format, empty and large sizes, and a
/// Unicode file name.
pub async fn insert_round_trips_every_field<S: FileStore + ?Sized>(store: &S) {
    let owner = fresh_owner();
    let mut stored = Vec::new();
    for (n, format) in FileFormat::ALL.into_iter().enumerate() {
        let mut meta = sample_meta(owner, 1_700_000_000_000 + n as i64);
        meta.content_type = format;
        meta.size = [0, 1, 10 << 30, i64::MAX as u64][n % 4];
        meta.sha256 = Sha256Digest::from_bytes([n as u8; 32]);
        store.insert(&meta).await.expect("insert");
        assert_eq!(
            store.get(owner, meta.id).await.expect("get"),
            Some(meta.clone())
        );
        stored.push(meta);
    }
    assert_eq!(store.list(owner).await.expect("list"), stored);
    assert_eq!(store.get(owner, Uuid::new_v4()).await.expect("get"), None);
}

/// A second record with the same id is `Constraint` and changes nothing, even for another
/// owner.
pub async fn insert_refuses_duplicate_ids<S: FileStore + ?Sized>(store: &S) {
    let meta = sample_meta(fresh_owner(), 1_700_000_000_000);
    store.insert(&meta).await.expect("insert");
    let mut again = sample_meta(fresh_owner(), 1_700_000_000_001);
    again.id = meta.id;
    let err = store.insert(&again).await.expect_err("duplicate id");
    assert_eq!(err.kind(), StoreErrorKind::Constraint);
    assert_eq!(
        store.get(meta.user_id, meta.id).await.expect("get"),
        Some(meta.clone())
    );
    assert_eq!(store.get(again.user_id, meta.id).await.expect("get"), None);
    assert!(store.list(again.user_id).await.expect("list").is_empty());
}

/// Another owner's file is not there.
pub async fn get_is_scoped_to_the_owner<S: FileStore + ?Sized>(store: &S) {
    let meta = sample_meta(fresh_owner(), 1_700_000_000_000);
    store.insert(&meta).await.expect("insert");
    assert_eq!(store.get(fresh_owner(), meta.id).await.expect("get"), None);
    assert_eq!(
        store.get(meta.user_id, meta.id).await.expect("get"),
        Some(meta)
    );
}

/// Listing returns the owner's files only, oldest first, ties by id.
pub async fn list_is_own_files_in_creation_order<S: FileStore + ?Sized>(store: &S) {
    let owner = fresh_owner();
    let other = fresh_owner();
    let newest = sample_meta(owner, 1_700_000_000_300);
    let oldest = sample_meta(owner, 1_700_000_000_100);
    let mut tie_a = sample_meta(owner, 1_700_000_000_200);
    let mut tie_b = sample_meta(owner, 1_700_000_000_200);
    if tie_b.id < tie_a.id {
        std::mem::swap(&mut tie_a, &mut tie_b);
    }
    let theirs = sample_meta(other, 1_700_000_000_150);
    for m in [&newest, &tie_b, &theirs, &oldest, &tie_a] {
        store.insert(m).await.expect("insert");
    }
    assert_eq!(
        store.list(owner).await.expect("list"),
        vec![oldest, tie_a, tie_b, newest]
    );
    assert_eq!(store.list(other).await.expect("list"), vec![theirs]);
    assert!(store.list(fresh_owner()).await.expect("list").is_empty());
}

/// Only the owner deletes, once; the file is gone from `get` and `list`.
pub async fn delete_is_scoped_and_happens_once<S: FileStore + ?Sized>(store: &S) {
    let owner = fresh_owner();
    let meta = sample_meta(owner, 1_700_000_000_000);
    let kept = sample_meta(owner, 1_700_000_000_001);
    store.insert(&meta).await.expect("insert");
    store.insert(&kept).await.expect("insert");
    assert!(!store.delete(fresh_owner(), meta.id).await.expect("delete"));
    assert_eq!(
        store.get(owner, meta.id).await.expect("get"),
        Some(meta.clone())
    );
    assert!(store.delete(owner, meta.id).await.expect("delete"));
    assert!(!store.delete(owner, meta.id).await.expect("delete again"));
    assert!(!store.delete(owner, Uuid::new_v4()).await.expect("delete"));
    assert_eq!(store.get(owner, meta.id).await.expect("get"), None);
    assert_eq!(store.list(owner).await.expect("list"), vec![kept]);
}

/// Any bytes — empty, every byte value, a megabyte — read back identical; unknown ids are
/// `None`.
pub async fn put_get_round_trips_any_bytes<S: BlobStore + ?Sized>(store: &S) {
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 31 % 251) as u8).collect();
    for bytes in [Vec::new(), all_bytes, big] {
        let id = Uuid::new_v4();
        store.put(id, &bytes).await.expect("put");
        assert_eq!(store.get(id).await.expect("get"), Some(bytes));
        assert!(store.delete(id).await.expect("delete"));
    }
    assert_eq!(store.get(Uuid::new_v4()).await.expect("get"), None);
}

/// A second `put` under the same id replaces the bytes; other ids are untouched.
pub async fn put_replaces<S: BlobStore + ?Sized>(store: &S) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store.put(a, b"first, and longer").await.expect("put");
    store.put(b, b"other").await.expect("put");
    store.put(a, b"second").await.expect("put again");
    assert_eq!(
        store.get(a).await.expect("get").as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(
        store.get(b).await.expect("get").as_deref(),
        Some(&b"other"[..])
    );
    assert!(store.delete(a).await.expect("delete"));
    assert!(store.delete(b).await.expect("delete"));
}

/// `delete` answers `true` once, then `false`; the blob is gone and others stay.
pub async fn delete_happens_once<S: BlobStore + ?Sized>(store: &S) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store.put(a, b"a").await.expect("put");
    store.put(b, b"b").await.expect("put");
    assert!(store.delete(a).await.expect("delete"));
    assert!(!store.delete(a).await.expect("delete again"));
    assert!(!store.delete(Uuid::new_v4()).await.expect("delete unknown"));
    assert_eq!(store.get(a).await.expect("get"), None);
    assert_eq!(store.get(b).await.expect("get").as_deref(), Some(&b"b"[..]));
    assert!(store.delete(b).await.expect("delete"));
}
