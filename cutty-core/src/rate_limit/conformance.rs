//! The conformance suite every [`RateLimitStore`] must pass.
//!
//! Each function takes a store and a [`FakeClock`] that drives the limiter's wall time, and
//! panics (with a message) where the store breaks the contract. Give each function an empty
//! store (or one whose other keys do not matter: each function uses its own keys). Stores
//! that expire keys with real TTLs pass too: the fake clock moves windows, not the backend's
//! own timers, and a stale state is equivalent to none.
//!
//! ```text
//! // In a backend's tests, with any executor and `cutty-core/testing` enabled:
//! let clock = FakeClock::at_unix_ms(1_700_000_000_000);
//! cutty_core::rate_limit::conformance::run_all(&RedisRateLimitStore::new(..), &clock).await;
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::clock::{Clock, FakeClock};

use super::{
    CasOutcome, Decision, RateLimitConfig, RateLimitKey, RateLimitStore, RateLimiter,
    SlidingWindow, WindowState, check_and_count_with_cas,
};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn limiter<'s, S: RateLimitStore>(
    store: &'s S,
    clock: &FakeClock,
) -> RateLimiter<&'s S, FakeClock> {
    RateLimiter::new(RateLimitConfig::default(), store, clock.clone())
}

fn now_ms(clock: &FakeClock) -> u64 {
    u64::try_from(clock.now_unix_ms()).unwrap_or(0)
}

async fn check<S: RateLimitStore>(
    limiter: &RateLimiter<&S, FakeClock>,
    key: &RateLimitKey,
    limit: u32,
) -> Decision {
    match limiter.check_key(key, nz(limit)).await {
        Ok(d) => d,
        Err(e) => panic!("store failed during a check of {key}: {e}"),
    }
}

/// Runs every function of the suite.
pub async fn run_all<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    compare_and_swap_semantics(store).await;
    same_decisions_as_the_model(store, clock).await;
    windows_roll(store, clock).await;
    keys_are_independent(store, clock).await;
    concurrent_checks_admit_exactly_the_limit(store, clock).await;
    idle_state_expires(store, clock).await;
    check_and_count_matches_the_model(store, clock).await;
    cas_path_matches_the_model(store, clock).await;
    check_and_count_edge_cases(store, clock).await;
}

/// The raw primitive: insert only if absent, swap only if equal, and a conflict returns
/// the current value.
pub async fn compare_and_swap_semantics<S: RateLimitStore>(store: &S) {
    let key = RateLimitKey::ApiKey(Arc::from("conformance-cas"));
    let ttl = Duration::from_secs(120);
    let a = WindowState {
        window: 10,
        prev: 1,
        curr: 2,
    };
    let b = WindowState {
        window: 11,
        prev: 2,
        curr: 1,
    };
    let ok = |r: Result<CasOutcome, _>| r.unwrap_or_else(|e| panic!("store failed: {e}"));
    assert_eq!(
        store.load(&key).await.ok(),
        Some(None),
        "a new key has no state"
    );
    assert_eq!(
        ok(store.compare_and_swap(&key, Some(a), b, ttl).await),
        CasOutcome::Conflict(None),
        "swap of an absent key expecting a value must fail"
    );
    assert_eq!(
        ok(store.compare_and_swap(&key, None, a, ttl).await),
        CasOutcome::Swapped
    );
    assert_eq!(store.load(&key).await.ok(), Some(Some(a)));
    assert_eq!(
        ok(store.compare_and_swap(&key, None, b, ttl).await),
        CasOutcome::Conflict(Some(a)),
        "insert-if-absent of a present key must fail and return it"
    );
    assert_eq!(
        ok(store.compare_and_swap(&key, Some(b), b, ttl).await),
        CasOutcome::Conflict(Some(a))
    );
    assert_eq!(
        ok(store.compare_and_swap(&key, Some(a), b, ttl).await),
        CasOutcome::Swapped
    );
    assert_eq!(store.load(&key).await.ok(), Some(Some(b)));
}

/// A pseudo-random but fixed sequence of requests over several keys and limits reaches
/// exactly the decisions of the reference model ([`SlidingWindow::evaluate`] over a plain
/// map).
pub async fn same_decisions_as_the_model<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    let limiter = limiter(store, clock);
    let window = limiter.config().window();
    let mut model: HashMap<RateLimitKey, WindowState> = HashMap::new();
    let keys = [
        (
            RateLimitKey::Ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))),
            3,
        ),
        (RateLimitKey::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), 5),
        (RateLimitKey::User(1001), 7),
        (RateLimitKey::ApiKey(Arc::from("conformance-model")), 11),
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for step in 0..600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (key, limit) = &keys[(x % keys.len() as u64) as usize];
        // Gaps of 0 to 4 s: several windows of 60 s over the run, bursts included.
        clock.advance(Duration::from_millis((x >> 8) % 4_000));
        let now = now_ms(clock);
        let expected = window.evaluate(model.get(key).copied(), now, nz(*limit));
        if let Some(next) = expected.next {
            model.insert(key.clone(), next);
        }
        let got = check(&limiter, key, *limit).await;
        assert_eq!(
            got, expected.decision,
            "step {step}: {key} at {now} ms differs from the model"
        );
    }
}

/// A full quota is refused within its window, frees up as the previous window slides out,
/// and is whole again two windows later.
pub async fn windows_roll<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    let limiter = limiter(store, clock);
    let window = limiter.config().window();
    let w = window.window_ms();
    // Move to the start of a window.
    let into = now_ms(clock) % w;
    clock.advance(Duration::from_millis(w - into));
    let key = RateLimitKey::User(2002);
    for i in 0..10 {
        let d = check(&limiter, &key, 10).await;
        assert_eq!(d.remaining(), 9 - i, "admission {i} of 10");
    }
    let refused = check(&limiter, &key, 10).await;
    assert!(
        !refused.is_allowed(),
        "the 11th request of 10 must be refused"
    );
    assert!(refused.retry_after() == Some(refused.reset()) && refused.reset() >= 1);
    // Half-way through the next window the 10 weigh 5.
    clock.advance(Duration::from_millis(w + w / 2));
    let mut admitted = 0;
    while check(&limiter, &key, 10).await.is_allowed() {
        admitted += 1;
        assert!(admitted <= 10, "runaway admissions");
    }
    assert_eq!(
        admitted, 5,
        "half a window later half the previous count remains"
    );
    clock.advance(Duration::from_millis(2 * w));
    assert_eq!(check(&limiter, &key, 10).await.remaining(), 9);
}

/// Exhausting one key leaves every other untouched, including keys of other scopes with the
/// same number.
pub async fn keys_are_independent<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    let limiter = limiter(store, clock);
    let exhausted = RateLimitKey::User(3003);
    for _ in 0..3 {
        check(&limiter, &exhausted, 3).await;
    }
    assert!(!check(&limiter, &exhausted, 3).await.is_allowed());
    let others = [
        RateLimitKey::User(3004),
        RateLimitKey::ApiKey(Arc::from("3003")),
        RateLimitKey::Ip(IpAddr::V4(Ipv4Addr::new(0, 0, 11, 187))),
        RateLimitKey::Ip(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 3003))),
    ];
    for other in &others {
        assert_eq!(
            check(&limiter, other, 3).await.remaining(),
            2,
            "{other} was affected by {exhausted}"
        );
    }
}

/// `N` checks of one key in flight together admit exactly `limit` of them.
pub async fn concurrent_checks_admit_exactly_the_limit<S: RateLimitStore>(
    store: &S,
    clock: &FakeClock,
) {
    let limiter = limiter(store, clock);
    let key = RateLimitKey::ApiKey(Arc::from("conformance-concurrent"));
    let checks: Vec<_> = (0..40)
        .map(|_| Box::pin(limiter.check_key(&key, nz(25))))
        .collect();
    let results = JoinAll::new(checks).await;
    let admitted = results
        .iter()
        .filter(|r| matches!(r, Ok(d) if d.is_allowed()))
        .count();
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 0, "store errors under concurrency");
    assert_eq!(
        admitted, 25,
        "concurrent checks must admit exactly the limit"
    );
}

/// Two windows after its last request a key's state is gone or no longer counts.
pub async fn idle_state_expires<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    let limiter = limiter(store, clock);
    let window = limiter.config().window();
    let key = RateLimitKey::Ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 99)));
    for _ in 0..4 {
        check(&limiter, &key, 4).await;
    }
    clock.advance(Duration::from_millis(2 * window.window_ms()));
    match store.load(&key).await {
        Ok(None) => {}
        Ok(Some(s)) => assert!(
            window.is_idle(&s, now_ms(clock)),
            "a state two windows old must be idle"
        ),
        Err(e) => panic!("store failed: {e}"),
    }
    assert_eq!(check(&limiter, &key, 4).await.remaining(), 3);
}

/// Which implementation of check-and-count a model run drives.
#[derive(Clone, Copy)]
enum Path {
    /// The store's [`RateLimitStore::check_and_count`] (one round trip where overridden).
    Store,
    /// [`check_and_count_with_cas`]: the load + compare-and-swap primitives.
    Cas,
}

async fn count<S: RateLimitStore>(
    store: &S,
    path: Path,
    key: &RateLimitKey,
    window: &SlidingWindow,
    limit: NonZeroU32,
    now: u64,
) -> Decision {
    let r = match path {
        Path::Store => store.check_and_count(key, window, limit, now).await,
        Path::Cas => check_and_count_with_cas(store, key, window, limit, now).await,
    };
    r.unwrap_or_else(|e| panic!("store failed during a check of {key} at {now} ms: {e}"))
}

async fn model_run<S: RateLimitStore>(store: &S, clock: &FakeClock, path: Path, tag: &str) {
    let window = SlidingWindow::from_secs(nz(10));
    let mut model: HashMap<RateLimitKey, WindowState> = HashMap::new();
    let keys = [
        (RateLimitKey::ApiKey(Arc::from(format!("{tag}-a"))), 1),
        (RateLimitKey::ApiKey(Arc::from(format!("{tag}-b"))), 4),
        (RateLimitKey::ApiKey(Arc::from(format!("{tag}-c"))), 9),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (key, limit) = &keys[(x % keys.len() as u64) as usize];
        // Gaps of 0 to 1.5 s over windows of 10 s; sometimes a clock 0–12 s behind.
        let mut now = now_ms(clock);
        clock.advance(Duration::from_millis((x >> 8) % 1_500));
        if (x >> 40).is_multiple_of(16) {
            now = now.saturating_sub((x >> 20) % 12_000);
        } else {
            now = now_ms(clock);
        }
        let stored = model.get(key).copied();
        let expected = window.evaluate(stored, now, nz(*limit));
        if let Some(next) = expected.next {
            model.insert(key.clone(), next);
        }
        let got = count(store, path, key, &window, nz(*limit), now).await;
        assert_eq!(
            got, expected.decision,
            "step {step}: {key} at {now} ms (stored {stored:?}) differs from the model"
        );
        let state = store
            .load(key)
            .await
            .unwrap_or_else(|e| panic!("store failed: {e}"));
        assert_eq!(
            state,
            model.get(key).copied(),
            "step {step}: {key} stores a different state than the model"
        );
    }
}

/// [`RateLimitStore::check_and_count`] — the store's own, possibly one-round-trip, path —
/// reaches exactly the model's decisions and leaves exactly the model's states, over a fixed
/// pseudo-random sequence with bursts, window rolls and a clock that sometimes lags.
pub async fn check_and_count_matches_the_model<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    model_run(store, clock, Path::Store, "conformance-one-trip").await;
}

/// The same as [`check_and_count_matches_the_model`] through the load + compare-and-swap
/// primitives ([`check_and_count_with_cas`]), so both paths of a store that overrides
/// `check_and_count` are held to the model.
pub async fn cas_path_matches_the_model<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    model_run(store, clock, Path::Cas, "conformance-cas-path").await;
}

/// A grid of stored states around every branch of [`SlidingWindow::evaluate`] — absent,
/// stale, previous window, current window, a clock behind the stored window; counts below,
/// at and above the limit; offsets at the start, inside and at the end of the window;
/// window lengths from 1 s to `u32::MAX` s (and either side of 2³¹ ms, where 64-bit
/// arithmetic runs out) and counts near `u32::MAX` — each written with
/// `compare_and_swap` under a fresh key, then checked once with
/// [`RateLimitStore::check_and_count`]: the decision and the stored state must be the model's.
pub async fn check_and_count_edge_cases<S: RateLimitStore>(store: &S, clock: &FakeClock) {
    let base = now_ms(clock);
    let mut cases: Vec<(SlidingWindow, Option<WindowState>, u64, NonZeroU32)> = Vec::new();
    for secs in [1u32, 60, 86_400] {
        let window = SlidingWindow::from_secs(nz(secs));
        let w = window.window_ms();
        let k = window.window_index(base) + 3;
        for limit in [1u32, 2, 7, 1000] {
            let counts = [0u32, 1, limit / 2, limit - 1, limit, limit + 3];
            for e in [0, 1, w / 3, w - 1] {
                let now = k * w + e;
                cases.push((window, None, now, nz(limit)));
                for (i, delta) in [-2i64, -1, 0, 1].into_iter().enumerate() {
                    let sw = k.saturating_add_signed(delta);
                    for (j, &prev) in counts.iter().enumerate() {
                        // Every count against a few others: enough to reach each branch.
                        for &curr in counts.iter().skip((i + j) % 3).step_by(2) {
                            let state = WindowState {
                                window: sw,
                                prev,
                                curr,
                            };
                            cases.push((window, Some(state), now, nz(limit)));
                        }
                    }
                }
            }
        }
    }
    // Extremes: values beyond exact double arithmetic, huge windows and limits.
    let huge = SlidingWindow::from_secs(nz(u32::MAX));
    let big = WindowState {
        window: 0,
        prev: u32::MAX - 1,
        curr: u32::MAX - 1,
    };
    for (now, limit) in [(1, u32::MAX), (huge.window_ms() + 7, u32::MAX), (1, 5)] {
        cases.push((huge, Some(big), now, nz(limit)));
        cases.push((huge, None, now, nz(limit)));
    }
    // Around 2^31 ms (24.8 days), where a backend doing the admission test in 64-bit
    // integers (the SQL stores) hands over to another path: counts near 2^32 on either side,
    // in every branch (same window, previous, stale, clock behind).
    for secs in [2_147_483u32, 2_147_484] {
        let window = SlidingWindow::from_secs(nz(secs));
        let w = window.window_ms();
        let k = window.window_index(base) + 3;
        for (delta, prev, curr) in [
            (0i64, u32::MAX, u32::MAX - 2),
            (0, u32::MAX - 1, 0),
            (-1, 7, u32::MAX),
            (-2, u32::MAX, u32::MAX),
            (1, u32::MAX, 1),
        ] {
            for e in [0, 1, w / 2, w - 1] {
                for limit in [1, u32::MAX - 1, u32::MAX] {
                    let state = WindowState {
                        window: k.saturating_add_signed(delta),
                        prev,
                        curr,
                    };
                    cases.push((window, Some(state), k * w + e, nz(limit)));
                }
            }
        }
    }
    let minute = SlidingWindow::from_secs(nz(60));
    let late = WindowState {
        window: u64::MAX / 60_000,
        prev: 3,
        curr: 1,
    };
    cases.push((minute, Some(late), u64::MAX, nz(10)));
    cases.push((minute, Some(late), base, nz(10)));
    cases.push((minute, None, (1 << 53) + 12_345, nz(10)));

    for (i, (window, stored, now, limit)) in cases.into_iter().enumerate() {
        let key = RateLimitKey::ApiKey(Arc::from(format!("conformance-edge-{i}")));
        if let Some(state) = stored {
            let ttl = Duration::from_millis(2 * window.window_ms());
            let put = store
                .compare_and_swap(&key, None, state, ttl)
                .await
                .unwrap_or_else(|e| panic!("store failed: {e}"));
            assert_eq!(
                put,
                CasOutcome::Swapped,
                "case {i}: fresh key must be absent"
            );
        }
        let expected = window.evaluate(stored, now, limit);
        let got = count(store, Path::Store, &key, &window, limit, now).await;
        assert_eq!(
            got,
            expected.decision,
            "case {i}: {stored:?} at {now} ms, window {} ms, limit {limit}",
            window.window_ms()
        );
        let state = store
            .load(&key)
            .await
            .unwrap_or_else(|e| panic!("store failed: {e}"));
        assert_eq!(
            state,
            expected.next.or(stored),
            "case {i}: {stored:?} at {now} ms: stored state differs from the model"
        );
    }
}

/// Polls every future until all are done, in order: concurrency without an executor.
struct JoinAll<F: Future> {
    futures: Vec<Pin<Box<F>>>,
    outputs: Vec<Option<F::Output>>,
}

impl<F: Future> JoinAll<F> {
    fn new(futures: Vec<Pin<Box<F>>>) -> Self {
        let outputs = futures.iter().map(|_| None).collect();
        Self { futures, outputs }
    }
}

impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut pending = false;
        for (fut, out) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(this.outputs.iter_mut().filter_map(Option::take).collect())
        }
    }
}
