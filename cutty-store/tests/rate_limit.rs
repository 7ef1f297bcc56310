//! The `RateLimitStore` conformance suite from cutty-core, run against every backend, and
//! the two-servers test: two independent pools (PostgreSQL, and SQLite on one file)
//! hammering one key never admit more than the limit between them. The limiter calls the
//! store's `check_and_count`, which on SQL is one statement per check: these tests drive
//! that path (the conformance suite drives it and the compare-and-swap path).

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

/// An in-memory database exists per connection, so the counters must go through the main
/// pool's one connection: the rows the suite wrote are visible there.
#[tokio::test]
async fn sqlite_in_memory() {
    let store = cutty_store::sqlite::SqliteStore::connect(
        "sqlite::memory:",
        cutty_store::StoreOptions::default(),
    )
    .await
    .expect("sqlite connects");
    conformance::run_all(&store, &clock()).await;
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM rate_limit_counters")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert!(rows > 0, "the counters are not in the store's database");
    store.close().await;
}

#[tokio::test]
async fn postgres() {
    let (store, schema) = common::postgres().await;
    conformance::run_all(&store, &clock()).await;
    store.close().await;
    schema.drop().await;
}

/// 8 tasks on two pools × 20 checks of one fresh key with `limit`; the number admitted.
async fn hammer<S>(a: S, b: S, key: &str, limit: u32) -> u32
where
    S: cutty_core::rate_limit::RateLimitStore + Clone + 'static,
{
    let c = clock();
    let key = RateLimitKey::ApiKey(Arc::from(key));
    let limit = NonZeroU32::new(limit).expect("nonzero");
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

/// 160 checks with a limit of 30 admit exactly 30; then, on fresh keys with a limit of 1,
/// the first checks race to create the row (on PostgreSQL the losers find no row to lock
/// and must run again), and exactly one is admitted per key.
async fn two_pools<S>(a: S, b: S)
where
    S: cutty_core::rate_limit::RateLimitStore + Clone + 'static,
{
    assert_eq!(
        hammer(a.clone(), b.clone(), "shared-between-servers", 30).await,
        30,
        "160 checks from two pools admit exactly the limit"
    );
    for round in 0..5 {
        let key = format!("first-insert-race-{round}");
        assert_eq!(
            hammer(a.clone(), b.clone(), &key, 1).await,
            1,
            "{key}: 160 checks of a new key with a limit of 1 admit one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_pools_never_admit_more_than_the_limit() {
    let (a, schema) = common::postgres().await;
    let b = common::postgres_in(&schema).await;
    two_pools(a.clone(), b.clone()).await;
    a.close().await;
    b.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_pools_on_one_file_never_admit_more_than_the_limit() {
    let (a, dir) = common::sqlite().await;
    let b = common::sqlite_in(&dir).await;
    two_pools(a.clone(), b.clone()).await;
    a.close().await;
    b.close().await;
}

/// A counter row this build cannot have written (a count outside `0..2^32`, a negative
/// window) is never counted on: the check fails with `SchemaMismatch` (`DB_005`) and
/// leaves the row as it was, on both databases (PostgreSQL would otherwise overflow its
/// 64-bit arithmetic, SQLite fall back to floating point).
macro_rules! unreadable_counter_rows {
    ($store:expr, $pool:expr) => {{
        let (store, pool) = ($store, $pool);
        use cutty_core::error::StoreErrorKind;
        use cutty_core::rate_limit::{RateLimitStore, SlidingWindow};

        let window = SlidingWindow::from_secs(NonZeroU32::new(60).expect("nonzero"));
        let now = 1_700_000_000_000u64;
        let k = i64::try_from(window.window_index(now)).expect("fits");
        let rows = [
            ("bad-prev", k, 1i64 << 40, 0i64),
            ("bad-curr", k, 0, -1),
            ("bad-prev-before", k - 1, 0, 1i64 << 62),
            ("bad-window", -1, 0, 0),
        ];
        for (name, win, prev, curr) in rows {
            let key = RateLimitKey::ApiKey(Arc::from(name));
            sqlx::query(
                "INSERT INTO rate_limit_counters (key, win, prev, curr, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key.to_string())
            .bind(win)
            .bind(prev)
            .bind(curr)
            .bind(i64::MAX)
            .execute(pool)
            .await
            .expect("insert");
            for limit in [1, u32::MAX] {
                let err = store
                    .check_and_count(&key, &window, NonZeroU32::new(limit).expect("nz"), now)
                    .await
                    .expect_err("an unreadable row is not counted on");
                assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch, "{name}: {err}");
            }
            let (w2, p2, c2): (i64, i64, i64) =
                sqlx::query_as("SELECT win, prev, curr FROM rate_limit_counters WHERE key = $1")
                    .bind(key.to_string())
                    .fetch_one(pool)
                    .await
                    .expect("read back");
            assert_eq!((w2, p2, c2), (win, prev, curr), "{name}: the row changed");
        }
    }};
}

#[tokio::test]
async fn sqlite_unreadable_counter_rows_are_a_schema_mismatch() {
    let (store, _dir) = common::sqlite().await;
    unreadable_counter_rows!(&store, store.pool());
    store.close().await;
}

#[tokio::test]
async fn postgres_unreadable_counter_rows_are_a_schema_mismatch() {
    let (store, schema) = common::postgres().await;
    unreadable_counter_rows!(&store, store.pool());
    store.close().await;
    schema.drop().await;
}

/// After `close`, a check fails as `Unavailable` like every other query of the store,
/// rather than quietly opening a new counter connection.
#[tokio::test]
async fn sqlite_checks_after_close_are_unavailable() {
    use cutty_core::error::StoreErrorKind;
    use cutty_core::rate_limit::{RateLimitStore, SlidingWindow};

    let (store, _dir) = common::sqlite().await;
    let window = SlidingWindow::from_secs(NonZeroU32::new(60).expect("nonzero"));
    let key = RateLimitKey::User(1);
    let limit = NonZeroU32::new(5).expect("nonzero");
    let now = 1_700_000_000_000u64;
    assert!(
        store
            .check_and_count(&key, &window, limit, now)
            .await
            .expect("open")
            .is_allowed()
    );
    store.close().await;
    let err = store
        .check_and_count(&key, &window, limit, now)
        .await
        .expect_err("closed");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
}
