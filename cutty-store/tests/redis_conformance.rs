//! cutty-core's conformance suites against Redis, each under its own key prefix.

mod redis_support;

use cutty_core::clock::FakeClock;
use cutty_core::{lockout, rate_limit, token};
use redis_support::with_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_conformance() {
    with_store(|store| async move {
        let clock = FakeClock::at_unix_ms(1_700_000_000_000);
        rate_limit::conformance::run_all(&store, &clock).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_one_round_trip_path_matches_the_model() {
    // Also in run_all; kept separate so a divergence between the Lua script and the Rust
    // model is named by the failing test.
    with_store(|store| async move {
        let clock = FakeClock::at_unix_ms(1_800_000_000_123);
        rate_limit::conformance::check_and_count_matches_the_model(&store, &clock).await;
        rate_limit::conformance::check_and_count_edge_cases(&store, &clock).await;
        rate_limit::conformance::same_decisions_as_the_model(&store, &clock).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_conformance() {
    with_store(|store| async move {
        let clock = FakeClock::at_unix_ms(1_700_000_000_000);
        lockout::conformance::run_all(&store, &clock).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_conformance() {
    with_store(|store| async move {
        let clock = FakeClock::at_unix_ms(1_700_000_000_000);
        token::conformance::run_all(&store, &clock).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_exactly_the_prefix() {
    let a = redis_support::connect(&redis_support::fresh_prefix()).await;
    let b = redis_support::connect(&redis_support::fresh_prefix()).await;
    let now = 1_700_000_000_000;
    for store in [&a, &b] {
        token::TokenStore::revoke_token(store, uuid::Uuid::new_v4(), now + 60_000, now)
            .await
            .expect("revoke");
    }
    assert_eq!(a.purge_prefix().await.expect("purge"), 1);
    assert_eq!(a.purge_prefix().await.expect("purge"), 0);
    assert_eq!(b.purge_prefix().await.expect("purge"), 1);
}
