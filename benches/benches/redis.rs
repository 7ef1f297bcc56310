//! Redis-backed checks next to their floor, in one group: a bare `PING` round trip and a
//! pipelined `INCR`+`EXPIRE` (the cheapest possible counter), then Cutty's sliding-window
//! check (one `EVALSHA`), the same check through the load + compare-and-swap path (two round
//! trips, for contrast) and a revocation check (`access_state`: one `MGET` of three keys).
//!
//! Needs Redis on 127.0.0.1:6379 (or `CUTTY_TEST_REDIS_URL`); keys live under a fresh
//! `cutty-bench-<uuid>:` prefix and are deleted at the end.
//!
//! `cargo bench -p cutty-benches --bench redis`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use cutty_core::clock::{Clock, SystemClock};
use cutty_core::rate_limit::{
    RateLimitConfig, RateLimitKey, RateLimiter, SlidingWindow, check_and_count_with_cas,
};
use cutty_core::token::{FamilyId, TokenStore};
use cutty_store::redis::{RedisOptions, RedisStore};
use tokio::runtime::Runtime;

/// Large enough that every check of a run is admitted: the hot path writes every time.
const LIMIT: u32 = 1_000_000_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("CUTTY_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let options = RedisOptions {
        prefix: format!("cutty-bench-{}:", uuid::Uuid::new_v4().simple()),
        ..RedisOptions::default()
    };
    let store = rt
        .block_on(RedisStore::connect(&url, options))
        .expect("Redis must be running for this benchmark");
    let limit = NonZeroU32::new(LIMIT).expect("non-zero");
    let limiter = RateLimiter::new(RateLimitConfig::default(), store.clone(), SystemClock);
    let window = SlidingWindow::from_secs(NonZeroU32::new(60).expect("non-zero"));
    let key = RateLimitKey::ApiKey(Arc::from("bench"));
    let cas_key = RateLimitKey::ApiKey(Arc::from("bench-cas"));
    let floor_key = format!("{}floor", store.prefix());

    let now = SystemClock.now_unix_ms();
    let (jti, family) = (uuid::Uuid::new_v4(), FamilyId::random());
    rt.block_on(async {
        store
            .create_family(family, "7", uuid::Uuid::new_v4(), now + 3_600_000, now)
            .await
            .expect("family");
        store
            .raise_user_not_before("7", now - 1_000, now + 3_600_000, now)
            .await
            .expect("mark");
    });

    let mut g = c.benchmark_group("redis_round_trip");
    g.bench_function("floor_ping", |b| {
        b.iter(|| rt.block_on(store.ping()).expect("ping"));
    });
    g.bench_function("floor_pipelined_incr_expire", |b| {
        let mut conn = store.connection();
        b.iter(|| {
            let r: (i64, bool) = rt
                .block_on(
                    redis::pipe()
                        .incr(&floor_key, 1)
                        .expire(&floor_key, 120)
                        .query_async(&mut conn),
                )
                .expect("incr");
            black_box(r)
        });
    });
    g.bench_function("cutty_rate_limit_check_lua", |b| {
        b.iter(|| {
            let d = rt.block_on(limiter.check_key(&key, limit)).expect("check");
            black_box(d)
        });
    });
    g.bench_function("cutty_rate_limit_check_load_cas", |b| {
        b.iter(|| {
            let now = u64::try_from(SystemClock.now_unix_ms()).unwrap_or(0);
            let d = rt
                .block_on(check_and_count_with_cas(
                    &store, &cas_key, &window, limit, now,
                ))
                .expect("check");
            black_box(d)
        });
    });
    g.bench_function("cutty_revocation_check_access_state", |b| {
        b.iter(|| {
            let now = SystemClock.now_unix_ms();
            let s = rt
                .block_on(store.access_state(jti, "7", family, now))
                .expect("access state");
            black_box(s)
        });
    });
    g.finish();
    purge(&rt, &store);
}

fn purge(rt: &Runtime, store: &RedisStore) {
    rt.block_on(store.purge_prefix()).expect("clean up");
}

criterion_group!(benches, bench);
criterion_main!(benches);
