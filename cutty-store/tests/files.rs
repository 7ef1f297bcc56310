//! The `FileStore` and `BlobStore` conformance suites from cutty-core, run against every
//! backend, plus what only the file-system blob store and the SQL schema can show.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cutty_core::error::StoreErrorKind;
use cutty_core::file::conformance;
use cutty_core::file::{BlobStore, FileStore};
use cutty_store::fs::FsBlobStore;
use uuid::Uuid;

#[tokio::test]
async fn memory() {
    conformance::run_file_store(&cutty_store::memory::MemoryFileStore::new()).await;
    conformance::run_blob_store(&cutty_store::memory::MemoryBlobStore::new()).await;
}

#[tokio::test]
async fn sqlite() {
    let (store, _dir) = common::sqlite().await;
    conformance::run_file_store(&store).await;
}

#[tokio::test]
async fn postgres() {
    let (store, schema) = common::postgres().await;
    conformance::run_file_store(&store).await;
    store.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn fs_blob_store() {
    let dir = common::TempDir::new();
    let store = FsBlobStore::open(dir.0.join("nested/files"))
        .await
        .expect("open");
    conformance::run_blob_store(&store).await;
}

/// Metadata survives a new pool on the same database (a restart).
#[tokio::test]
async fn metadata_survives_a_restart() {
    let meta = conformance::sample_meta(7, 1_700_000_000_000);
    let (lite, dir) = common::sqlite().await;
    lite.insert(&meta).await.expect("insert");
    lite.close().await;
    let again = common::sqlite_in(&dir).await;
    assert_eq!(
        again.get(7, meta.id).await.expect("get"),
        Some(meta.clone())
    );

    let (pg, schema) = common::postgres().await;
    pg.insert(&meta).await.expect("insert");
    pg.close().await;
    let again = common::postgres_in(&schema).await;
    assert_eq!(again.get(7, meta.id).await.expect("get"), Some(meta));
    again.close().await;
    schema.drop().await;
}

/// The owner index exists on both databases, and SQLite's planner uses it for listings.
#[tokio::test]
async fn owner_index_exists_and_serves_listings() {
    let (lite, _dir) = common::sqlite().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index'")
            .fetch_all(lite.pool())
            .await
            .expect("indexes");
    assert!(names.iter().any(|n| n == "idx_files_user"), "{names:?}");
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT id FROM files WHERE user_id = 1 ORDER BY created_at, id",
    )
    .fetch_all(lite.pool())
    .await
    .expect("plan");
    let detail: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
    assert!(
        detail.iter().any(|d| d.contains("idx_files_user")),
        "{detail:?}"
    );
    assert!(
        !detail.iter().any(|d| d.contains("TEMP B-TREE")),
        "listing needs no sort: {detail:?}"
    );

    let (pg, schema) = common::postgres().await;
    let pg_names: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()",
    )
    .fetch_all(pg.pool())
    .await
    .expect("indexes");
    assert!(
        pg_names.iter().any(|n| n == "idx_files_user"),
        "{pg_names:?}"
    );
    pg.close().await;
    schema.drop().await;
}

/// A row that is not a valid file (edited by hand, or written by something else) is
/// `SchemaMismatch`, not a panic or a wrong answer.
#[tokio::test]
async fn unreadable_rows_are_schema_mismatch() {
    let (lite, _dir) = common::sqlite().await;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO files (id, user_id, filename, content_type, size, sha256, created_at) \
         VALUES ($1, 1, 'x', 'text/html', 1, $2, 0)",
    )
    .bind(id.to_string())
    .bind("0".repeat(64))
    .execute(lite.pool())
    .await
    .expect("raw insert");
    let err = lite.get(1, id).await.expect_err("unknown content type");
    assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);
    let err = lite.list(1).await.expect_err("unknown content type");
    assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);
}

/// Blobs are files under the directory, named by id, with no temporary file left behind,
/// and a second store on the same directory (a restart) reads them.
#[tokio::test]
async fn fs_blobs_are_plain_files_that_survive_a_restart() {
    let dir = common::TempDir::new();
    let store = FsBlobStore::open(&dir.0).await.expect("open");
    let id = Uuid::new_v4();
    store.put(id, b"persisted").await.expect("put");
    let path = store.path_of(id);
    assert!(path.starts_with(&dir.0));
    assert_eq!(std::fs::read(&path).expect("file"), b"persisted");
    let shard = path.parent().expect("shard");
    let entries: Vec<_> = std::fs::read_dir(shard)
        .expect("shard dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        entries,
        [std::ffi::OsString::from(id.hyphenated().to_string())],
        "no temporary files"
    );

    let again = FsBlobStore::open(&dir.0).await.expect("reopen");
    assert_eq!(
        again.get(id).await.expect("get").as_deref(),
        Some(&b"persisted"[..])
    );
}

/// Concurrent puts to one id and concurrent reads: every read sees one whole payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_put_is_atomic_under_concurrency() {
    let dir = common::TempDir::new();
    let store = Arc::new(FsBlobStore::open(&dir.0).await.expect("open"));
    let id = Uuid::new_v4();
    const LEN: usize = 256 * 1024;
    store.put(id, &vec![0u8; LEN]).await.expect("first put");
    let mut tasks = Vec::new();
    for writer in 1..=8u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..4 {
                store.put(id, &vec![writer; LEN]).await.expect("put");
            }
        }));
    }
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..16 {
                    let bytes = store.get(id).await.expect("get").expect("present");
                    assert_eq!(bytes.len(), LEN, "whole payload");
                    assert!(bytes.iter().all(|b| *b == bytes[0]), "one payload");
                }
            })
        })
        .collect();
    for t in tasks.into_iter().chain(readers) {
        t.await.expect("task");
    }
    let shard = store.path_of(id).parent().expect("shard").to_owned();
    assert_eq!(std::fs::read_dir(shard).expect("dir").count(), 1);
}

/// A crash's leftover temporary file is swept once old enough; blobs are never touched.
#[tokio::test]
async fn sweep_removes_only_stale_temporary_files() {
    let dir = common::TempDir::new();
    let store = FsBlobStore::open(&dir.0).await.expect("open");
    let id = Uuid::new_v4();
    store.put(id, b"keep").await.expect("put");
    let shard = store.path_of(id).parent().expect("shard").to_owned();
    let leftover = shard.join(format!(
        ".{}.{}.tmp",
        id.hyphenated(),
        Uuid::new_v4().simple()
    ));
    std::fs::write(&leftover, b"half").expect("leftover");
    std::fs::write(shard.join("unrelated.txt"), b"x").expect("unrelated");

    assert_eq!(
        store
            .sweep_temp_files(Duration::from_secs(3600))
            .await
            .expect("sweep"),
        0
    );
    assert!(leftover.exists(), "too young to be a crash's");
    assert_eq!(
        store.sweep_temp_files(Duration::ZERO).await.expect("sweep"),
        1
    );
    assert!(!leftover.exists());
    assert!(shard.join("unrelated.txt").exists());
    assert_eq!(
        store.get(id).await.expect("get").as_deref(),
        Some(&b"keep"[..])
    );
}

/// A files directory that is a file, or cannot be used, is `Unavailable` — at open, or at
/// the first operation if it breaks later.
#[tokio::test]
async fn unusable_directory_is_unavailable() {
    let dir = common::TempDir::new();
    let file = dir.0.join("not-a-dir");
    std::fs::write(&file, b"x").expect("file");
    let err = FsBlobStore::open(&file).await.expect_err("a file");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);

    let gone = dir.0.join("gone");
    let store = FsBlobStore::open(&gone).await.expect("open");
    std::fs::remove_dir(&gone).expect("remove");
    std::fs::write(&gone, b"now a file").expect("replace with a file");
    let err = store.put(Uuid::new_v4(), b"x").await.expect_err("put");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert_eq!(
        store.get(Uuid::new_v4()).await.expect_err("get").kind(),
        StoreErrorKind::Unavailable
    );
}
