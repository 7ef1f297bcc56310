//! The `ApiKeyStore` conformance suite from cutty-core, run against every backend.

mod common;

use cutty_core::api_key::conformance;

#[tokio::test]
async fn memory() {
    conformance::run_all(&cutty_store::memory::MemoryApiKeyStore::new()).await;
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
