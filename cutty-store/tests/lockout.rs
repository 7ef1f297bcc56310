//! The `LockoutStore` conformance suite from cutty-core, run against every backend.

mod common;

use cutty_core::clock::FakeClock;
use cutty_core::lockout::conformance;

fn clock() -> FakeClock {
    FakeClock::at_unix_ms(1_700_000_000_000)
}

#[tokio::test]
async fn memory() {
    conformance::run_all(&cutty_store::memory::MemoryLockoutStore::new(), &clock()).await;
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
