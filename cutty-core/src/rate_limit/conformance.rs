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
    CasOutcome, Decision, RateLimitConfig, RateLimitKey, RateLimitStore, RateLimiter, WindowState,
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
