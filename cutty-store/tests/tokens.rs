//! The `TokenStore` conformance suite from cutty-core, run against every backend.

mod common;

use cutty_core::clock::FakeClock;
use cutty_core::token::conformance;

fn clock() -> FakeClock {
    FakeClock::at_unix_ms(1_800_000_000_000)
}

#[tokio::test]
async fn memory() {
    conformance::run_all(&cutty_store::memory::MemoryTokenStore::new(), &clock()).await;
}

#[tokio::test]
async fn sqlite() {
    let (store, _dir) = common::sqlite().await;
    conformance::run_all(&store, &clock()).await;
}

#[tokio::test]
async fn postgres() {
    let (store, schema) = common::postgres().await;
    conformance::run_all(&store, &clock()).await;
    store.close().await;
    schema.drop().await;
}

/// The race again, many times, on PostgreSQL with a real pool: every round has exactly one
/// winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_rotation_repeatedly() {
    let (store, schema) = common::postgres().await;
    let c = clock();
    for _ in 0..10 {
        conformance::concurrent_rotation_has_one_winner(&store, &c).await;
    }
    store.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn sqlite_concurrent_rotation_repeatedly() {
    let (store, _dir) = common::sqlite().await;
    let c = clock();
    for _ in 0..10 {
        conformance::concurrent_rotation_has_one_winner(&store, &c).await;
    }
}
