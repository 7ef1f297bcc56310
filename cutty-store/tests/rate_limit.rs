//! The `RateLimitStore` conformance suite from cutty-core, run against every backend, and
//! the two-servers test: two independent PostgreSQL pools hammering one key never admit
//! more than the limit between them.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;

use cutty_core::clock::FakeClock;
use cutty_core::rate_limit::{RateLimitConfig, RateLimitKey, RateLimiter, conformance};

fn clock() -> FakeClock {
    FakeClock::at_unix_ms(1_700_000_000_000)
}

#[tokio::test]
async fn memory() {
    let store = cutty_store::memory::MemoryRateLimitStore::default();
    conformance::run_all(&store, &clock()).await;
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

/// 8 tasks on two pools × 20 checks of one key with a limit of 30.
async fn hammer<S>(a: S, b: S) -> u32
where
    S: cutty_core::rate_limit::RateLimitStore + Clone + 'static,
{
    let c = clock();
    let key = RateLimitKey::ApiKey(Arc::from("shared-between-servers"));
    let limit = NonZeroU32::new(30).expect("nonzero");
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone()] {
        for _ in 0..4 {
            let (store, c, key) = (store.clone(), c.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let limiter = RateLimiter::new(RateLimitConfig::default(), store, c);
                let mut admitted = 0u32;
                for _ in 0..20 {
                    if limiter
                        .check_key(&key, limit)
                        .await
                        .expect("check")
                        .is_allowed()
                    {
                        admitted += 1;
                    }
                }
                admitted
            }));
        }
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_pools_never_admit_more_than_the_limit() {
    let (a, schema) = common::postgres().await;
    let b = common::postgres_in(&schema).await;
    let total = hammer(a.clone(), b.clone()).await;
    assert_eq!(
        total, 30,
        "160 checks from two pools admit exactly the limit"
    );
    a.close().await;
    b.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_pools_on_one_file_never_admit_more_than_the_limit() {
    let (a, dir) = common::sqlite().await;
    let b = common::sqlite_in(&dir).await;
    let total = hammer(a.clone(), b.clone()).await;
    assert_eq!(
        total, 30,
        "160 checks from two pools admit exactly the limit"
    );
    a.close().await;
    b.close().await;
}
