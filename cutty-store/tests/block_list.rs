//! The `BlockListStore` conformance suite from cutty-core, run against every backend.

mod common;

use cutty_core::ip_block::conformance;

#[tokio::test]
async fn memory() {
    conformance::run_all(&cutty_store::memory::MemoryBlockListStore::new()).await;
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

/// Two pools on one PostgreSQL schema (two servers): a change made through one moves the
/// version the other sees.
#[tokio::test]
async fn postgres_version_is_shared_between_pools() {
    use cutty_core::ip_block::{BlockEntry, BlockListStore, parse_ip_or_cidr};
    let (a, schema) = common::postgres().await;
    let b = common::postgres_in(&schema).await;
    let v0 = b.version().await.expect("version");
    let net = parse_ip_or_cidr("198.51.100.0/24").expect("net");
    a.add(&BlockEntry::new(net, "cli", 1, None))
        .await
        .expect("add");
    assert_ne!(b.version().await.expect("version"), v0);
    assert_eq!(b.list().await.expect("list").len(), 1);
    a.close().await;
    b.close().await;
    schema.drop().await;
}
