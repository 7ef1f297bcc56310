//! Rate-limit checks: Cutty's sliding-window in-memory store next to `governor`'s keyed GCRA
//! limiter (`DefaultKeyedRateLimiter<IpAddr>`), in the same run, single-threaded and with two
//! threads contending, on 1 key and on 1,000,000 keys. Also prints the bytes per tracked key
//! of both (from the table layouts and from the process's resident memory).
//!
//! `cargo bench -p cutty-benches --bench rate_limit`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use cutty_core::clock::{Clock, SystemClock};
use cutty_core::rate_limit::{
    MemoryRateLimitStore, MemoryRateLimiter, MemoryStoreConfig, RateLimitConfig, RateLimitKey,
    SlidingWindow,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

const MANY: u32 = 1_000_000;
/// Large enough that every check in a run is admitted, for both limiters: the hot path.
const LIMIT: u32 = 1_000_000_000;

fn ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i))
}

fn governor_limiter() -> DefaultKeyedRateLimiter<IpAddr> {
    let quota = Quota::per_minute(NonZeroU32::new(LIMIT).unwrap());
    RateLimiter::keyed(quota)
}

fn cutty_store() -> MemoryRateLimitStore<IpAddr> {
    MemoryRateLimitStore::new(MemoryStoreConfig {
        capacity: NonZeroUsize::new(2 * MANY as usize).unwrap(),
        ..MemoryStoreConfig::default()
    })
}

/// The policy-level limiter (keyed by `RateLimitKey`, clock read inside), as a host uses it.
fn cutty_limiter() -> MemoryRateLimiter<SystemClock> {
    let config = RateLimitConfig {
        ip: NonZeroU32::new(LIMIT).unwrap(),
        ..RateLimitConfig::default()
    };
    let store = MemoryStoreConfig {
        capacity: NonZeroUsize::new(2 * MANY as usize).unwrap(),
        ..MemoryStoreConfig::default()
    };
    MemoryRateLimiter::new(config, store, SystemClock)
}

fn keys(n: u32) -> Vec<IpAddr> {
    // A fixed permutation of 0..n (the multiplier is coprime to 10^6) so consecutive checks
    // hit scattered keys.
    let n64 = u64::from(n.max(1));
    (0..n)
        .map(|i| ip((u64::from(i) * 2_654_435_761 % n64) as u32))
        .collect()
}

/// Runs `per_thread` checks on each of `threads` threads at once; returns the elapsed time
/// divided by the checks one thread made (the time per check as each thread sees it).
fn contended(threads: usize, per_thread: u64, check: &(dyn Fn(u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    let mut start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                let offset = t as u64 * 7_919;
                for i in 0..per_thread {
                    check(i.wrapping_add(offset));
                }
            });
        }
        barrier.wait();
        start = Instant::now();
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let window = SlidingWindow::from_secs(NonZeroU32::new(60).unwrap());
    let limit = NonZeroU32::new(LIMIT).unwrap();
    let clock = SystemClock;
    let many = keys(MANY);

    for &(label, n) in &[("1_key", 1u32), ("1M_keys", MANY)] {
        let ks = if n == 1 { vec![ip(1)] } else { many.clone() };
        let len = ks.len() as u64;
        let mut group = c.benchmark_group(format!("rate_limit/check/{label}"));

        // Single-threaded.
        let gov = governor_limiter();
        let store = cutty_store();
        let policy = cutty_limiter();
        for k in &ks {
            let _ = gov.check_key(k);
            store.check(k, &window, limit, clock.monotonic_ns() / 1_000_000);
            policy.check_key(&RateLimitKey::Ip(*k), limit);
        }
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("1_thread", "governor_keyed"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(gov.check_key(&ks[(i % len) as usize]).is_ok())
            })
        });
        group.bench_function(BenchmarkId::new("1_thread", "cutty_store"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let now = clock.monotonic_ns() / 1_000_000;
                black_box(
                    store
                        .check(&ks[(i % len) as usize], &window, limit, now)
                        .is_allowed(),
                )
            })
        });
        group.bench_function(BenchmarkId::new("1_thread", "cutty_limiter"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = RateLimitKey::Ip(ks[(i % len) as usize]);
                black_box(policy.check_key(&key, limit).is_allowed())
            })
        });

        // Two threads at once on the same limiter (and, for 1 key, the same key).
        group.bench_function(BenchmarkId::new("2_threads", "governor_keyed"), |b| {
            b.iter_custom(|iters| {
                contended(2, iters, &|j| {
                    black_box(gov.check_key(&ks[(j % len) as usize]).is_ok());
                })
            })
        });
        group.bench_function(BenchmarkId::new("2_threads", "cutty_store"), |b| {
            b.iter_custom(|iters| {
                contended(2, iters, &|j| {
                    let now = clock.monotonic_ns() / 1_000_000;
                    black_box(
                        store
                            .check(&ks[(j % len) as usize], &window, limit, now)
                            .is_allowed(),
                    );
                })
            })
        });
        group.bench_function(BenchmarkId::new("2_threads", "cutty_limiter"), |b| {
            b.iter_custom(|iters| {
                contended(2, iters, &|j| {
                    let key = RateLimitKey::Ip(ks[(j % len) as usize]);
                    black_box(policy.check_key(&key, limit).is_allowed());
                })
            })
        });
        group.finish();
    }

    // The floor: reading the clock each implementation uses.
    let mut group = c.benchmark_group("rate_limit/clock");
    group.bench_function("std_instant (cutty SystemClock)", |b| {
        b.iter(|| black_box(clock.monotonic_ns()))
    });
    let quanta = governor::clock::DefaultClock::default();
    group.bench_function("quanta (governor DefaultClock)", |b| {
        b.iter(|| black_box(governor::clock::Clock::now(&quanta)))
    });
    group.finish();

    memory_report(&many, &window, limit);
}

fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Bytes per tracked key, two ways: from the tables' layouts (exact for the tables, not
/// counting allocator slack) and from the growth of resident memory while inserting
/// 1,000,000 keys (includes allocator behaviour; noisier).
fn memory_report(many: &[IpAddr], window: &SlidingWindow, limit: NonZeroU32) {
    let n = many.len();
    let now = SystemClock.monotonic_ns() / 1_000_000;

    let before = rss_bytes();
    let store = cutty_store();
    let empty = store.memory_bytes();
    for k in many {
        store.check(k, window, limit, now);
    }
    let cutty_rss = rss_bytes().zip(before).map(|(a, b)| a.saturating_sub(b));
    let cutty_layout = store.memory_bytes() - empty;
    assert_eq!(store.len(), n);

    let before = rss_bytes();
    let gov = governor_limiter();
    for k in many {
        let _ = gov.check_key(k);
    }
    let gov_rss = rss_bytes().zip(before).map(|(a, b)| a.saturating_sub(b));
    assert_eq!(gov.len(), n);
    let state = gov.into_state_store();
    // DashMap shards are hashbrown tables of (K, SharedValue<InMemoryState>) plus one control
    // byte per bucket; `capacity()` is 7/8 of the buckets.
    let entry = std::mem::size_of::<(IpAddr, u64)>() + 1;
    let gov_layout = state.capacity() * 8 / 7 * entry;

    let per = |b: usize| b as f64 / n as f64;
    println!("\nbytes per tracked key ({n} IPv4 keys):");
    println!(
        "  cutty MemoryRateLimitStore<IpAddr>: layout {:.1}, resident {}",
        per(cutty_layout),
        cutty_rss.map_or("n/a".into(), |b| format!("{:.1}", per(b)))
    );
    println!(
        "  governor DefaultKeyedRateLimiter<IpAddr>: layout {:.1}, resident {}",
        per(gov_layout),
        gov_rss.map_or("n/a".into(), |b| format!("{:.1}", per(b)))
    );
    println!(
        "  entry sizes: cutty (IpAddr, WindowState) = {} B, governor (IpAddr, AtomicU64) = {} B",
        std::mem::size_of::<(IpAddr, cutty_core::rate_limit::WindowState)>(),
        std::mem::size_of::<(IpAddr, u64)>()
    );
    println!(
        "  entry size with the policy key: (RateLimitKey, WindowState) = {} B",
        std::mem::size_of::<(RateLimitKey, cutty_core::rate_limit::WindowState)>()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
