//! The `EventStore` conformance suite from cutty-core, run against every backend.

mod common;

use cutty_core::event::conformance;

#[tokio::test]
async fn memory() {
    conformance::run_all(&cutty_store::memory::MemoryEventStore::new()).await;
}

#[tokio::test]
async fn sqlite() {
    let (store, _dir) = common::sqlite().await;
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn postgres() {
    let (store, schema) = common::postgres().await;
    conformance::run_all(&store).await;
    store.close().await;
    schema.drop().await;
}

/// The indexes the troubleshooting guide asks for exist on both databases.
#[tokio::test]
async fn event_and_api_key_indexes_exist() {
    let (lite, _dir) = common::sqlite().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index'")
            .fetch_all(lite.pool())
            .await
            .expect("indexes");
    let (pg, schema) = common::postgres().await;
    let pg_names: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()",
    )
    .fetch_all(pg.pool())
    .await
    .expect("indexes");
    for want in [
        "idx_security_events_timestamp",
        "idx_security_events_timestamp_type",
        "idx_api_keys_user",
        "idx_api_keys_user_hash",
    ] {
        assert!(names.iter().any(|n| n == want), "sqlite lacks {want}");
        assert!(pg_names.iter().any(|n| n == want), "postgres lacks {want}");
    }
    pg.close().await;
    schema.drop().await;
}
