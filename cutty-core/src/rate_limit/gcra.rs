//! `governor`'s keyed GCRA behind Cutty's [`Decision`].

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;
use governor::clock::{Clock as GovernorClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;

use crate::clock::Clock;

use super::{Decision, RateLimitKey};

/// Adapts a Cutty [`Clock`]'s monotonic reading to `governor`.
#[derive(Debug, Clone)]
struct MonotonicClock<C>(C);

impl<C: Clock> GovernorClock for MonotonicClock<C> {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.monotonic_ns())
    }
}

type Inner<K, C> =
    governor::RateLimiter<K, DashMapStateStore<K>, MonotonicClock<C>, StateInformationMiddleware>;

/// A single-process keyed limiter on `governor`'s GCRA, for users who prefer smoothing to
/// a sliding window: a burst of up to `limit`, then one request every `window / limit`.
///
/// It answers the same [`Decision`]: `remaining` is the burst capacity left; `reset` on a
/// refusal is the whole seconds until the next request conforms (`≥ 1`); on admission it is
/// `⌈window / limit⌉` seconds, an upper bound on when one more request is replenished. Memory: one `u64` per key in a `DashMap`; call
/// [`retain_recent`](Self::retain_recent) periodically to drop idle keys — unlike
/// [`MemoryRateLimitStore`](super::MemoryRateLimitStore) this map has no hard capacity.
///
/// ```
/// use cutty_core::clock::FakeClock;
/// use cutty_core::rate_limit::GcraRateLimiter;
/// use std::num::NonZeroU32;
///
/// let limiter = GcraRateLimiter::<_, u32>::new(
///     NonZeroU32::new(2).unwrap(),
///     NonZeroU32::new(60).unwrap(),
///     FakeClock::default(),
/// );
/// assert!(limiter.check(&1).is_allowed());
/// assert!(limiter.check(&1).is_allowed());
/// let refused = limiter.check(&1);
/// assert_eq!(refused.retry_after(), Some(30));
/// ```
pub struct GcraRateLimiter<C, K = RateLimitKey>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    inner: Inner<K, C>,
    limit: NonZeroU32,
    replenish_secs: u64,
}

impl<K: Hash + Eq + Clone, C: Clock> fmt::Debug for GcraRateLimiter<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcraRateLimiter")
            .field("limit", &self.limit)
            .field("keys", &self.inner.len())
            .finish()
    }
}

impl<K: Hash + Eq + Clone, C: Clock> GcraRateLimiter<C, K> {
    /// `limit` requests per `window_secs`, as a burst of `limit` replenished evenly.
    pub fn new(limit: NonZeroU32, window_secs: NonZeroU32, clock: C) -> Self {
        let window = Duration::from_secs(u64::from(window_secs.get()));
        let period = window / limit.get();
        let period = if period.is_zero() {
            Duration::from_nanos(1)
        } else {
            period
        };
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(limit);
        let inner = governor::RateLimiter::dashmap_with_clock(quota, MonotonicClock(clock))
            .with_middleware::<StateInformationMiddleware>();
        Self {
            inner,
            limit,
            replenish_secs: period.as_nanos().div_ceil(1_000_000_000) as u64,
        }
    }

    /// Checks and counts one request for `key`.
    pub fn check(&self, key: &K) -> Decision {
        match self.inner.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot
                    .remaining_burst_capacity()
                    .min(self.limit.get() - 1);
                Decision::Allowed {
                    limit: self.limit.get(),
                    remaining,
                    reset: self.replenish_secs,
                }
            }
            Err(not_until) => {
                let now = self.inner.clock().now();
                let wait = Duration::from(not_until.earliest_possible().duration_since(now));
                let reset = u64::try_from(wait.as_nanos().div_ceil(1_000_000_000))
                    .unwrap_or(u64::MAX)
                    .max(1);
                Decision::Denied {
                    limit: self.limit.get(),
                    reset,
                    retry_after: reset,
                }
            }
        }
    }

    /// Drops keys whose state equals a fresh one.
    pub fn retain_recent(&self) {
        self.inner.retain_recent();
    }

    /// The number of tracked keys.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}
