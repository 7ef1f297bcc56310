//! Module-level tests: policies, combination, conformance of the memory store, and the
//! documented error bound against an exact sliding log.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use proptest::prelude::*;

use super::*;
use crate::clock::FakeClock;
use crate::error::{ErrorCode, StoreErrorKind};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

#[test]
fn the_memory_store_passes_the_conformance_suite() {
    let store = MemoryRateLimitStore::<RateLimitKey>::default();
    let clock = FakeClock::at_unix_ms(1_700_000_123_456);
    block_on(conformance::run_all(&store, &clock));
}

#[test]
fn the_memory_store_admits_exactly_the_limit_across_threads() {
    let store = MemoryRateLimitStore::<RateLimitKey>::default();
    let clock = FakeClock::at_unix_ms(1_700_000_000_000);
    let limiter = RateLimiter::new(RateLimitConfig::default(), &store, clock.clone());
    let sync_limiter = MemoryRateLimitStore::<RateLimitKey>::default();
    let window = SlidingWindow::from_secs(nz(60));
    let key = RateLimitKey::User(5);
    let admitted = std::sync::atomic::AtomicU32::new(0);
    let admitted_sync = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    if block_on(limiter.check_key(&key, nz(150)))
                        .unwrap()
                        .is_allowed()
                    {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if sync_limiter.check(&key, &window, nz(150), 7).is_allowed() {
                        admitted_sync.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 150);
    assert_eq!(admitted_sync.into_inner(), 150);
}

#[test]
fn policy_selection_follows_the_contract() {
    let config = RateLimitConfig {
        global: Some(nz(5000)),
        ..Default::default()
    };
    let anon = applicable_limits(&config, &RequestIdentity::anonymous(ip(1)));
    assert_eq!(anon.principal, (RateLimitKey::Ip(ip(1)), nz(100)));
    assert_eq!(anon.global, Some(nz(5000)));
    let user = applicable_limits(&config, &RequestIdentity::new(ip(1), Principal::User(9)));
    assert_eq!(user.principal, (RateLimitKey::User(9), nz(60)));
    let key = |o| {
        applicable_limits(
            &config,
            &RequestIdentity::new(
                ip(1),
                Principal::ApiKey {
                    id: Arc::from("k1"),
                    rate_limit_override: o,
                },
            ),
        )
        .principal
    };
    assert_eq!(key(None), (RateLimitKey::ApiKey(Arc::from("k1")), nz(1000)));
    assert_eq!(key(Some(nz(7))).1, nz(7));
    assert_eq!(RateLimitKey::ApiKey(Arc::from("k1")).to_string(), "key:k1");
    assert_eq!(RateLimitKey::Ip(ip(3)).to_string(), "ip:192.0.2.3");
    assert_eq!(RateLimitKey::User(-4).to_string(), "user:-4");
    assert_eq!(RateLimitKey::Global.to_string(), "global");
}

#[test]
fn the_headers_report_the_limit_with_fewest_remaining_and_global_refusals() {
    let clock = FakeClock::default();
    let config = RateLimitConfig {
        global: Some(nz(3)),
        user: nz(10),
        ..Default::default()
    };
    let limiter = MemoryRateLimiter::new(config, MemoryStoreConfig::default(), clock.clone());
    let alice = RequestIdentity::new(ip(1), Principal::User(1));
    let bob = RequestIdentity::new(ip(2), Principal::User(2));
    let first = limiter.check(&alice);
    assert_eq!(first.scope, LimitScope::Global);
    assert_eq!(first.decision.remaining(), 2);
    assert!(limiter.check(&bob).is_allowed());
    assert!(limiter.check(&bob).is_allowed());
    let refused = limiter.check(&alice);
    assert_eq!(refused.scope, LimitScope::Global);
    let err = refused.into_result().unwrap_err();
    assert_eq!(err.code(), ErrorCode::GlobalRateLimited);
    // Refused by the global limit, counted by alice's own: 2 of 10.
    let own = limiter.check_key(&RateLimitKey::User(1), nz(10));
    assert_eq!(own.remaining(), 7);
}

#[test]
fn an_exhausted_principal_does_not_consume_the_global_budget() {
    let clock = FakeClock::default();
    let config = RateLimitConfig {
        global: Some(nz(3)),
        ip: nz(1),
        ..Default::default()
    };
    let limiter = MemoryRateLimiter::new(config, MemoryStoreConfig::default(), clock);
    let anon = RequestIdentity::anonymous(ip(9));
    assert!(limiter.check(&anon).is_allowed());
    for _ in 0..10 {
        let out = limiter.check(&anon);
        assert_eq!(out.scope, LimitScope::Ip);
        assert!(!out.is_allowed());
    }
    assert_eq!(
        limiter.check_key(&RateLimitKey::Global, nz(3)).remaining(),
        1
    );
}

#[test]
fn combine_prefers_refusals_then_fewest_remaining() {
    let a = RateLimitOutcome::new(
        LimitScope::User,
        Decision::Allowed {
            limit: 60,
            remaining: 10,
            reset: 5,
        },
    );
    let b = RateLimitOutcome::new(
        LimitScope::Global,
        Decision::Allowed {
            limit: 1000,
            remaining: 3,
            reset: 1,
        },
    );
    let d = RateLimitOutcome::new(
        LimitScope::Global,
        Decision::Denied {
            limit: 1000,
            reset: 4,
            retry_after: 4,
        },
    );
    assert_eq!(a.combine(b).scope, LimitScope::Global);
    assert_eq!(b.combine(a).scope, LimitScope::Global);
    assert_eq!(a.combine(d), d);
    assert_eq!(d.combine(a), d);
    assert!(matches!(
        d.into_result(),
        Err(Error::RateLimited {
            scope: LimitScope::Global,
            retry_after_secs: 4
        })
    ));
}

/// A store that always fails, for the fail-open/closed policy.
#[derive(Debug)]
struct BrokenStore;

#[async_trait::async_trait]
impl RateLimitStore for BrokenStore {
    async fn load(&self, _: &RateLimitKey) -> Result<Option<WindowState>, StoreError> {
        Err(StoreError::new(StoreErrorKind::Unavailable, "down"))
    }
    async fn compare_and_swap(
        &self,
        _: &RateLimitKey,
        _: Option<WindowState>,
        _: WindowState,
        _: Duration,
    ) -> Result<CasOutcome, StoreError> {
        Err(StoreError::new(StoreErrorKind::Unavailable, "down"))
    }
}

/// A store that never forgets a key: the limiter's bounds under wall-clock jumps are a
/// property of the algorithm, tested here apart from the memory store's idle eviction (which
/// may forget a key that a later backward jump of more than one window makes current again;
/// see `MemoryRateLimitStore`).
#[derive(Debug, Default)]
struct KeepAllStore(std::sync::Mutex<HashMap<RateLimitKey, WindowState>>);

#[async_trait::async_trait]
impl RateLimitStore for KeepAllStore {
    async fn load(&self, key: &RateLimitKey) -> Result<Option<WindowState>, StoreError> {
        Ok(self.0.lock().unwrap().get(key).copied())
    }
    async fn compare_and_swap(
        &self,
        key: &RateLimitKey,
        expected: Option<WindowState>,
        new: WindowState,
        _: Duration,
    ) -> Result<CasOutcome, StoreError> {
        let mut map = self.0.lock().unwrap();
        let current = map.get(key).copied();
        if current != expected {
            return Ok(CasOutcome::Conflict(current));
        }
        map.insert(key.clone(), new);
        Ok(CasOutcome::Swapped)
    }
}

/// A store whose compare-and-swap always conflicts.
#[derive(Debug)]
struct ContendedStore;

#[async_trait::async_trait]
impl RateLimitStore for ContendedStore {
    async fn load(&self, _: &RateLimitKey) -> Result<Option<WindowState>, StoreError> {
        Ok(None)
    }
    async fn compare_and_swap(
        &self,
        _: &RateLimitKey,
        _: Option<WindowState>,
        _: WindowState,
        _: Duration,
    ) -> Result<CasOutcome, StoreError> {
        Ok(CasOutcome::Conflict(None))
    }
}

#[test]
fn store_failures_follow_the_configured_policy() {
    let clock = FakeClock::at_unix_ms(1_000_000);
    let anon = RequestIdentity::anonymous(ip(1));
    let closed = RateLimiter::new(RateLimitConfig::default(), BrokenStore, clock.clone());
    assert!(block_on(closed.check(&anon)).is_err());
    let err = block_on(closed.check_or_policy(&anon)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::StoreUnavailable);
    let open = RateLimiter::new(
        RateLimitConfig {
            on_store_error: StoreFailurePolicy::FailOpen,
            ..Default::default()
        },
        BrokenStore,
        clock.clone(),
    );
    let out = block_on(open.check_or_policy(&anon)).unwrap();
    assert!(out.is_allowed() && out.degraded);
    assert_eq!(out.decision.remaining(), 100);
    let contended = RateLimiter::new(RateLimitConfig::default(), ContendedStore, clock);
    let err = block_on(contended.check(&anon)).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Timeout);
}

#[test]
fn gcra_limiter_answers_the_same_decision_type() {
    let clock = FakeClock::default();
    let limiter = GcraRateLimiter::<_, RateLimitKey>::new(nz(3), nz(60), clock.clone());
    let key = RateLimitKey::Ip(ip(1));
    let remaining: Vec<_> = (0..3).map(|_| limiter.check(&key).remaining()).collect();
    assert_eq!(remaining, [2, 1, 0]);
    let refused = limiter.check(&key);
    assert_eq!(refused.retry_after(), Some(20));
    clock.advance(Duration::from_secs(20));
    assert!(limiter.check(&key).is_allowed());
    assert!(limiter.check(&RateLimitKey::Ip(ip(2))).is_allowed());
    assert_eq!(limiter.len(), 2);
    clock.advance(Duration::from_secs(600));
    limiter.retain_recent();
    assert!(limiter.is_empty());
}

#[test]
fn an_ip_entry_fits_the_memory_budget() {
    assert_eq!(std::mem::size_of::<RateLimitKey>(), 24);
    assert_eq!(std::mem::size_of::<WindowState>(), 16);
    let store = MemoryRateLimitStore::<RateLimitKey>::new(MemoryStoreConfig {
        capacity: std::num::NonZeroUsize::new(1 << 20).unwrap(),
        shards: std::num::NonZeroUsize::new(64).unwrap(),
    });
    let window = SlidingWindow::from_secs(nz(60));
    let empty = store.memory_bytes();
    let n = 200_000u32;
    for i in 0..n {
        let key = RateLimitKey::Ip(IpAddr::V4(Ipv4Addr::from(i)));
        store.check(&key, &window, nz(100), 1);
    }
    let per_key = (store.memory_bytes() - empty) / n as usize;
    assert!(per_key <= 128, "{per_key} bytes per key");
}

/// Checks the documented bounds on one key's admission log; returns a message on failure.
fn check_bounds(admitted: &[u64], refused: &[u64], limit: u32, w: u64) -> Result<(), String> {
    let l = limit as usize;
    // Any interval (t − W, t] holds at most 2L − 1; its maximum is reached with t at an
    // admission.
    let mut lo = 0;
    for (hi, &t) in admitted.iter().enumerate() {
        while admitted[lo] + w <= t {
            lo += 1;
        }
        if hi - lo + 1 > 2 * l - 1 {
            return Err(format!("{} admitted in a window at {t}", hi - lo + 1));
        }
    }
    // At most L per fixed window.
    let mut per_window: HashMap<u64, usize> = HashMap::new();
    for &t in admitted {
        *per_window.entry(t / w).or_default() += 1;
    }
    if let Some((k, n)) = per_window.iter().find(|(_, n)| **n > l) {
        return Err(format!("{n} admitted in fixed window {k}"));
    }
    // A refusal at t needs at least L admitted in t's fixed window and the one before
    // (with a monotonic clock: in [start of the previous window, t]).
    for &t in refused {
        let from = (t / w).saturating_sub(1) * w;
        let to = (t / w + 1) * w;
        let n = admitted.iter().filter(|&&a| a >= from && a < to).count();
        if n < l {
            return Err(format!(
                "refused at {t} with only {n} admitted since {from}"
            ));
        }
    }
    Ok(())
}

fn check_invariants(d: &Decision, limit: u32, window_secs: u64) -> Result<(), TestCaseError> {
    prop_assert_eq!(d.limit(), limit);
    prop_assert!(d.remaining() < limit || (d.remaining() == 0 && !d.is_allowed()));
    prop_assert!(d.reset() <= window_secs);
    if let Decision::Denied {
        reset, retry_after, ..
    } = *d
    {
        prop_assert_eq!(reset, retry_after);
        prop_assert!(reset >= 1);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random arrivals over many keys, on the in-memory store, against an exact log.
    #[test]
    fn never_more_than_the_documented_bound(
        limit in 1u32..12,
        window_secs in 1u32..4,
        arrivals in proptest::collection::vec((0u8..16, 0u64..700), 1..600),
    ) {
        let window = SlidingWindow::from_secs(nz(window_secs));
        let store = MemoryRateLimitStore::<u8>::default();
        let mut now = 5_000u64;
        let mut admitted: HashMap<u8, Vec<u64>> = HashMap::new();
        let mut refused: HashMap<u8, Vec<u64>> = HashMap::new();
        for (key, gap) in arrivals {
            now += gap;
            let d = store.check(&key, &window, nz(limit), now);
            check_invariants(&d, limit, window.window_secs())?;
            let log = if d.is_allowed() { &mut admitted } else { &mut refused };
            log.entry(key).or_default().push(now);
        }
        for key in 0..16u8 {
            let a = admitted.remove(&key).unwrap_or_default();
            let r = refused.remove(&key).unwrap_or_default();
            if let Err(msg) = check_bounds(&a, &r, limit, window.window_ms()) {
                prop_assert!(false, "key {}: {}", key, msg);
            }
        }
    }

    /// A refused request is admitted once `retry_after` has passed, unless the documented
    /// cap applied (reset == window).
    #[test]
    fn retry_after_is_honest(
        limit in 1u32..8,
        arrivals in proptest::collection::vec(0u64..3_000, 1..200),
    ) {
        let window = SlidingWindow::from_secs(nz(10));
        let mut state = None;
        let mut now = 0u64;
        for gap in arrivals {
            now += gap;
            let ev = window.evaluate(state, now, nz(limit));
            match ev.decision {
                Decision::Allowed { .. } => state = ev.next,
                Decision::Denied { retry_after, .. } => {
                    let later = window.evaluate(state, now + retry_after * 1000, nz(limit));
                    prop_assert!(later.decision.is_allowed() || retry_after == 10);
                    if retry_after > 1 {
                        let earlier = window.evaluate(state, now + (retry_after - 1) * 1000, nz(limit));
                        prop_assert!(!earlier.decision.is_allowed());
                    }
                }
            }
        }
    }

    /// The store-backed limiter on a wall clock that jumps backwards and forwards: decisions
    /// keep their invariants, and the bounds hold in *charged* time — a request made while
    /// the clock is behind a key's stored window is charged to the start of that window.
    #[test]
    fn clock_jumps_keep_the_bounds(
        limit in 1u32..10,
        steps in proptest::collection::vec((0u8..4, -90_000i64..90_000, any::<bool>()), 1..300),
    ) {
        let store = KeepAllStore::default();
        let clock = FakeClock::at_unix_ms(1_000_000_000);
        let limiter = RateLimiter::new(RateLimitConfig::default(), &store, clock.clone());
        let w = 60_000u64;
        let mut admitted: HashMap<u8, Vec<u64>> = HashMap::new();
        let mut refused: HashMap<u8, Vec<u64>> = HashMap::new();
        for (key, jump, big) in steps {
            // Mostly small steps forward, sometimes a jump either way.
            let step = if big { jump } else { jump.rem_euclid(2_000) };
            clock.step_wall_ms(step);
            let now = u64::try_from(clock.now_unix_ms()).unwrap();
            let rkey = RateLimitKey::User(key.into());
            let before = block_on(store.load(&rkey)).unwrap();
            let d = block_on(limiter.check_key(&rkey, nz(limit))).unwrap();
            check_invariants(&d, limit, 60)?;
            // The time the request is charged at.
            let charged = match before {
                Some(s) if s.window > now / w => s.window * w,
                _ => now,
            };
            let log = if d.is_allowed() { &mut admitted } else { &mut refused };
            log.entry(key).or_default().push(charged);
        }
        for key in 0..4u8 {
            let mut a = admitted.remove(&key).unwrap_or_default();
            let r = refused.remove(&key).unwrap_or_default();
            a.sort_unstable();
            if let Err(msg) = check_bounds(&a, &r, limit, w) {
                prop_assert!(false, "key {}: {}", key, msg);
            }
        }
    }

    /// The two in-process paths (synchronous `check` and the store-backed limiter through
    /// compare-and-swap) agree decision for decision.
    #[test]
    fn sync_and_store_paths_agree(
        limit in 1u32..6,
        arrivals in proptest::collection::vec((0u8..3, 0u64..20_000), 1..150),
    ) {
        let sync_store = MemoryRateLimitStore::<RateLimitKey>::default();
        let cas_store = MemoryRateLimitStore::<RateLimitKey>::default();
        let clock = FakeClock::at_unix_ms(0);
        let limiter = RateLimiter::new(RateLimitConfig::default(), &cas_store, clock.clone());
        let window = SlidingWindow::from_secs(nz(60));
        for (key, gap) in arrivals {
            clock.advance(Duration::from_millis(gap));
            let key = RateLimitKey::User(key.into());
            let now = u64::try_from(clock.now_unix_ms()).unwrap();
            let a = sync_store.check(&key, &window, nz(limit), now);
            let b = block_on(limiter.check_key(&key, nz(limit))).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
