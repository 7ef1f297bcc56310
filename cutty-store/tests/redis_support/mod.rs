//! Shared set-up of the Redis tests: a store under a fresh `cutty-test-<uuid>:` prefix on
//! the server at `CUTTY_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). A server that
//! does not answer fails the test; it is never skipped.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use cutty_store::redis::{RedisOptions, RedisStore};

pub fn url() -> String {
    std::env::var("CUTTY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn fresh_prefix() -> String {
    format!("cutty-test-{}:", uuid::Uuid::new_v4().simple())
}

pub fn options(prefix: &str) -> RedisOptions {
    RedisOptions {
        prefix: prefix.to_owned(),
        operation_timeout: Duration::from_secs(5),
        ..RedisOptions::default()
    }
}

pub async fn connect(prefix: &str) -> RedisStore {
    match RedisStore::connect(&url(), options(prefix)).await {
        Ok(s) => s,
        Err(e) => panic!("Redis at {} must be running for these tests: {e}", url()),
    }
}

/// Runs `test` against a store with its own prefix, then deletes every key under the
/// prefix — also when the test panicked (the panic is re-raised afterwards).
pub async fn with_store<F, Fut>(test: F)
where
    F: FnOnce(RedisStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let store = connect(&fresh_prefix()).await;
    let outcome = tokio::spawn(test(store.clone())).await;
    store
        .purge_prefix()
        .await
        .expect("clean up the test's keys");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
