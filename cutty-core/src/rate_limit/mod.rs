//! Sliding-window rate limits: policies, the algorithm, the counter-store trait and an
//! in-process store.
//!
//! # Policies — which limit applies
//! [`RateLimitConfig`] holds one quota per scope (defaults: IP 100, user 60, API key 1000
//! per 60-second window; global off). For each request, [`applicable_limits`] picks, as the
//! contract's "Rate limiting" section says:
//!
//! | request | counted against |
//! |---|---|
//! | anonymous, or credentials that failed | its **IP** ([`Principal::Anonymous`]) |
//! | a valid JWT | its **user** ([`Principal::User`]) |
//! | a valid API key | that **key**, at its `rate_limit_override` if set ([`Principal::ApiKey`]) |
//! | every request, if configured | the **global** limit |
//!
//! The principal's limit is checked first and the global limit only if it admitted, so a
//! client refused by its own limit does not consume the global budget (a request refused by
//! the global limit has been counted by its own). The combined [`RateLimitOutcome`] reports,
//! for the `X-RateLimit-*` headers, the applicable limit with the fewest remaining requests;
//! a refusal names its [`LimitScope`] and becomes [`Error::RateLimited`] with
//! [`RateLimitOutcome::into_result`].
//!
//! # The algorithm: two-window weighted approximation
//! Time is cut into fixed windows of `W` (default 60 s). For each key a store keeps a
//! [`WindowState`]: the index of the current window, `curr` (admitted in it) and `prev`
//! (admitted in the one before). At offset `e` into the current window the key's weighted
//! count is
//!
//! ```text
//! count = prev × (W − e) / W + curr
//! ```
//!
//! — the previous window's requests are assumed spread evenly and slide out linearly. A
//! request is admitted when `count + 1 ≤ limit`, then `curr` grows by one. Everything is
//! exact integer arithmetic scaled by `W` (milliseconds), in one function,
//! [`SlidingWindow::evaluate`]; stores only load and compare-and-swap the 16-byte state
//! ([`RateLimitStore`]), so memory, Redis, SQL and a Durable Object decide identically. A
//! networked store may instead run that same evaluation server-side in one round trip
//! ([`RateLimitStore::check_and_count`]); the conformance suite holds it to the model.
//!
//! # Error bound (exact, and tested against a sliding log)
//! With limit `L`, window `W` and admitted requests counted by an exact sliding log:
//!
//! * **Never more than `L` per fixed window**, and **never more than `2L − 1` in any
//!   interval of length `W`**. Proof: an interval ending at offset `e` of window `k` holds
//!   at most `prev` requests of window `k−1` and `curr` of window `k`; the last admission
//!   needed `curr ≤ L − prev·(W−e)/W`, so the total is at most `L + prev·e/W < 2L`. The bound
//!   is tight: `L` requests at the very end of one window and `L − 1` at the very end of the
//!   next are all admitted. With evenly spread traffic the overshoot vanishes; it needs a
//!   burst at the end of a window.
//! * **Never a refusal unless at least `L` requests were admitted in the preceding
//!   `W + e < 2W`** (`prev + curr ≥ L`). It can refuse while the exact last-`W` count is
//!   below `L` (requests made early in the previous window still weigh), by at most
//!   `prev·(W−e)/W < L` requests.
//!
//! * **Clock steps.** The store-backed [`RateLimiter`] uses the wall clock (shared by the
//!   nodes of a cluster). A reading earlier than a key's stored window (a clock stepped back,
//!   or a node slightly behind another) is charged to the *start* of the stored window — the
//!   most conservative reading — so both bounds above hold in charged time; a forward step
//!   simply ages the counts.
//!
//! Property tests (in `rate_limit/tests.rs`) check these statements against an exact log with
//! random arrival times, many keys and clock jumps both ways.
//!
//! # Decisions and headers
//! A check returns a [`Decision`]: `Allowed { limit, remaining, reset }` or
//! `Denied { limit, reset, retry_after }`. Being limited is a decision, not an error; a
//! failing store is a [`StoreError`]. `reset` is the whole number of seconds until the
//! limit admits at least one more request (when refused), or until its count next drops by a
//! whole request (when admitted, `0` when nothing is counted), rounded up and capped at the
//! window: `0 ≤ reset ≤ W`, and `retry_after == reset ≥ 1` on refusal. The cap matters in one
//! case only: a key that used its whole quota in the first `W/L` of a window after an idle
//! window is refused until `W + W/L` after the window start; `reset` then says `W`, and a
//! retry at that time may be refused once more, for at most `⌈W/L⌉` seconds.
//!
//! # Store failures: fail open or closed
//! [`RateLimiter::check`] returns `Err(StoreError)` when the store fails.
//! [`RateLimiter::check_or_policy`] applies [`RateLimitConfig::on_store_error`]:
//! [`StoreFailurePolicy::FailClosed`] (default: an auth library should not silently drop
//! its brute-force guard) turns it into `Error::Store` (`503 DB_00x`);
//! [`StoreFailurePolicy::FailOpen`] admits the request with a full quota and marks the
//! outcome [`degraded`](RateLimitOutcome::degraded) for logs.
//!
//! # In-process limiters and their memory bound
//! * [`MemoryRateLimiter`] — the same policies and algorithm, synchronously, over a
//!   [`MemoryRateLimitStore`]: a sharded hash table (16 locked shards by default) of
//!   `(key, WindowState)` entries with a hard capacity (default 100 000 keys). An IP entry is
//!   40 bytes (24-byte key, 16-byte state) plus one control byte, in a table at most 7/8 full
//!   that doubles when it grows: between 46 and 92 bytes per tracked key, 128 at most. See
//!   [`MemoryRateLimitStore`] for eviction of idle keys and what happens at capacity.
//!   Uses the clock's monotonic reading.
//! * [`GcraRateLimiter`] — `governor`'s keyed GCRA (a smoothed token bucket rather than a
//!   sliding window) for users who want smoothing in one process, answering the same
//!   [`Decision`].
//!
//! # Example
//! ```
//! use cutty_core::clock::FakeClock;
//! use cutty_core::error::LimitScope;
//! use cutty_core::rate_limit::{MemoryRateLimiter, Principal, RateLimitConfig, RequestIdentity};
//! use std::num::NonZeroU32;
//! use std::time::Duration;
//!
//! let clock = FakeClock::default();
//! let config = RateLimitConfig { user: NonZeroU32::new(2).unwrap(), ..Default::default() };
//! let limiter = MemoryRateLimiter::new(config, Default::default(), clock.clone());
//! let alice = RequestIdentity::new("192.0.2.7".parse().unwrap(), Principal::User(7));
//!
//! let first = limiter.check(&alice);
//! assert!(first.is_allowed());
//! assert_eq!((first.decision.limit(), first.decision.remaining()), (2, 1));
//! assert!(limiter.check(&alice).is_allowed());
//!
//! let refused = limiter.check(&alice);
//! assert_eq!(refused.scope, LimitScope::User);
//! assert!(refused.decision.retry_after().unwrap() >= 1);
//! let err = refused.into_result().unwrap_err();
//! assert_eq!(err.code().as_str(), "RATE_002");
//!
//! // Two windows later the count has slid out.
//! clock.advance(Duration::from_secs(120));
//! assert!(limiter.check(&alice).is_allowed());
//! ```

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::{Error, LimitScope, StoreError};

mod gcra;
mod memory;
mod store;
mod window;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

#[cfg(test)]
mod tests;

pub use gcra::GcraRateLimiter;
pub use memory::{MemoryRateLimitStore, MemoryStoreConfig};
pub use store::{CasOutcome, RateLimitKey, RateLimitStore, check_and_count_with_cas};
pub use window::{Evaluation, SlidingWindow, WindowState};

/// The answer of one limit for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The request is admitted and counted.
    Allowed {
        /// The limit per window (`X-RateLimit-Limit`).
        limit: u32,
        /// Requests still admitted now (`X-RateLimit-Remaining`), `0 ≤ remaining < limit`.
        remaining: u32,
        /// Whole seconds until the count next drops by one request (`X-RateLimit-Reset`),
        /// `0 ≤ reset ≤ window`.
        reset: u64,
    },
    /// The request is refused and not counted.
    Denied {
        /// The limit per window.
        limit: u32,
        /// Whole seconds until one more request is admitted, `1 ≤ reset ≤ window`.
        reset: u64,
        /// Equal to `reset` (`Retry-After`).
        retry_after: u64,
    },
}

impl Decision {
    /// Whether the request is admitted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// `X-RateLimit-Limit`.
    pub fn limit(&self) -> u32 {
        match *self {
            Self::Allowed { limit, .. } | Self::Denied { limit, .. } => limit,
        }
    }

    /// `X-RateLimit-Remaining` (0 when refused).
    pub fn remaining(&self) -> u32 {
        match *self {
            Self::Allowed { remaining, .. } => remaining,
            Self::Denied { .. } => 0,
        }
    }

    /// `X-RateLimit-Reset`.
    pub fn reset(&self) -> u64 {
        match *self {
            Self::Allowed { reset, .. } | Self::Denied { reset, .. } => reset,
        }
    }

    /// `Retry-After`, only when refused.
    pub fn retry_after(&self) -> Option<u64> {
        match *self {
            Self::Allowed { .. } => None,
            Self::Denied { retry_after, .. } => Some(retry_after),
        }
    }

    /// A full quota: what fail-open answers when the store is down.
    pub fn unlimited(limit: NonZeroU32) -> Self {
        Self::Allowed {
            limit: limit.get(),
            remaining: limit.get(),
            reset: 0,
        }
    }
}

/// What to do when the counter store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StoreFailurePolicy {
    /// Refuse with the store's error (`503 DB_00x`). The default: an outage of the counter
    /// store must not silently lift the limits that slow credential stuffing.
    #[default]
    FailClosed,
    /// Admit with a full quota and mark the outcome [`degraded`](RateLimitOutcome::degraded):
    /// availability over protection.
    FailOpen,
}

/// The rate-limit policies. Every quota is a [`NonZeroU32`], valid by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Window length in seconds. Default 60 (the contract's "per minute").
    pub window_secs: NonZeroU32,
    /// Requests per window per client IP, for anonymous requests and requests whose
    /// credentials failed. Default 100.
    pub ip: NonZeroU32,
    /// Requests per window per user authenticated by a JWT. Default 60.
    pub user: NonZeroU32,
    /// Requests per window per API key without a `rate_limit_override`. Default 1000.
    pub api_key: NonZeroU32,
    /// Requests per window for the whole service, counted for every request. Default off.
    pub global: Option<NonZeroU32>,
    /// What a failing store means. Default [`StoreFailurePolicy::FailClosed`].
    pub on_store_error: StoreFailurePolicy,
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(v) => v,
        None => NonZeroU32::MIN,
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            window_secs: nz(60),
            ip: nz(100),
            user: nz(60),
            api_key: nz(1000),
            global: None,
            on_store_error: StoreFailurePolicy::FailClosed,
        }
    }
}

impl RateLimitConfig {
    /// The sliding window of these policies.
    pub fn window(&self) -> SlidingWindow {
        SlidingWindow::from_secs(self.window_secs)
    }
}

/// Who a request is, for rate limiting, after authentication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// No credentials, or credentials that failed: counted against the IP.
    Anonymous,
    /// A valid JWT for this user id.
    User(i64),
    /// A valid API key.
    ApiKey {
        /// The key's id.
        id: Arc<str>,
        /// The key's `rate_limit_override`, replacing [`RateLimitConfig::api_key`].
        rate_limit_override: Option<NonZeroU32>,
    },
}

/// A request's identity: its client IP and its principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestIdentity {
    /// The resolved client IP.
    pub ip: IpAddr,
    /// Who authenticated, if anyone.
    pub principal: Principal,
}

impl RequestIdentity {
    /// An identity.
    pub fn new(ip: IpAddr, principal: Principal) -> Self {
        Self { ip, principal }
    }

    /// An anonymous request from `ip`.
    pub fn anonymous(ip: IpAddr) -> Self {
        Self::new(ip, Principal::Anonymous)
    }
}

/// The limits that apply to one request, in the order they are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicableLimits {
    /// The principal's own limit: IP, user or API key.
    pub principal: (RateLimitKey, NonZeroU32),
    /// The global limit, if configured.
    pub global: Option<NonZeroU32>,
}

/// Picks the limits that apply to `identity` under `config` (see the module docs).
pub fn applicable_limits(config: &RateLimitConfig, identity: &RequestIdentity) -> ApplicableLimits {
    let principal = match &identity.principal {
        Principal::Anonymous => (RateLimitKey::Ip(identity.ip), config.ip),
        Principal::User(id) => (RateLimitKey::User(*id), config.user),
        Principal::ApiKey {
            id,
            rate_limit_override,
        } => (
            RateLimitKey::ApiKey(Arc::clone(id)),
            rate_limit_override.unwrap_or(config.api_key),
        ),
    };
    ApplicableLimits {
        principal,
        global: config.global,
    }
}

/// The combined answer for one request: the decision to report and the limit it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimitOutcome {
    /// The limit reported: the refusing one, or the applicable limit with the fewest
    /// remaining requests.
    pub scope: LimitScope,
    /// Its decision, for the `X-RateLimit-*` and `Retry-After` headers.
    pub decision: Decision,
    /// The store failed and [`StoreFailurePolicy::FailOpen`] admitted the request unchecked.
    pub degraded: bool,
}

impl RateLimitOutcome {
    /// A single limit's outcome.
    pub fn new(scope: LimitScope, decision: Decision) -> Self {
        Self {
            scope,
            decision,
            degraded: false,
        }
    }

    /// Whether the request is admitted.
    pub fn is_allowed(&self) -> bool {
        self.decision.is_allowed()
    }

    /// Combines the outcomes of two limits that both applied to a request: a refusal wins;
    /// otherwise the one with fewer remaining requests (ties: the later reset).
    pub fn combine(self, other: Self) -> Self {
        let pick_other = match (self.is_allowed(), other.is_allowed()) {
            (true, false) => true,
            (false, true) => false,
            _ => {
                (
                    other.decision.remaining(),
                    std::cmp::Reverse(other.decision.reset()),
                ) < (
                    self.decision.remaining(),
                    std::cmp::Reverse(self.decision.reset()),
                )
            }
        };
        let mut out = if pick_other { other } else { self };
        out.degraded = self.degraded || other.degraded;
        out
    }

    /// `Ok(self)` when admitted (write its headers), [`Error::RateLimited`] when refused.
    pub fn into_result(self) -> Result<Self, Error> {
        match self.decision {
            Decision::Allowed { .. } => Ok(self),
            Decision::Denied { retry_after, .. } => Err(Error::RateLimited {
                scope: self.scope,
                retry_after_secs: retry_after,
            }),
        }
    }
}

/// The most compare-and-swap attempts per check before giving up with a
/// [`StoreErrorKind::Timeout`](crate::error::StoreErrorKind::Timeout). Every failed attempt
/// means another request was counted, so this only trips under extreme contention on one key.
pub const MAX_CAS_ATTEMPTS: usize = 64;

/// The store-backed limiter: policies of a [`RateLimitConfig`], counters in any
/// [`RateLimitStore`], time from the clock's wall reading (shared by every node using the
/// store).
#[derive(Debug)]
pub struct RateLimiter<S, C> {
    config: RateLimitConfig,
    window: SlidingWindow,
    store: S,
    clock: C,
}

impl<S: RateLimitStore, C: Clock> RateLimiter<S, C> {
    /// A limiter.
    pub fn new(config: RateLimitConfig, store: S, clock: C) -> Self {
        Self {
            window: config.window(),
            config,
            store,
            clock,
        }
    }

    /// The policies.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now_unix_ms()).unwrap_or(0)
    }

    /// Checks and counts one request against one key's limit, with the store's
    /// [`check_and_count`](RateLimitStore::check_and_count) (one round trip where the store
    /// supports it).
    pub async fn check_key(
        &self,
        key: &RateLimitKey,
        limit: NonZeroU32,
    ) -> Result<Decision, StoreError> {
        self.store
            .check_and_count(key, &self.window, limit, self.now_ms())
            .await
    }

    /// Checks and counts a request against every limit that applies to it.
    pub async fn check(&self, identity: &RequestIdentity) -> Result<RateLimitOutcome, StoreError> {
        let limits = applicable_limits(&self.config, identity);
        let (key, limit) = &limits.principal;
        let own = RateLimitOutcome::new(key.scope(), self.check_key(key, *limit).await?);
        match limits.global {
            Some(global) if own.is_allowed() => {
                let g = self.check_key(&RateLimitKey::Global, global).await?;
                Ok(own.combine(RateLimitOutcome::new(LimitScope::Global, g)))
            }
            _ => Ok(own),
        }
    }

    /// [`check`](Self::check), with a store failure handled by
    /// [`RateLimitConfig::on_store_error`].
    pub async fn check_or_policy(
        &self,
        identity: &RequestIdentity,
    ) -> Result<RateLimitOutcome, Error> {
        match self.check(identity).await {
            Ok(outcome) => Ok(outcome),
            Err(e) => match self.config.on_store_error {
                StoreFailurePolicy::FailClosed => Err(Error::Store(e)),
                StoreFailurePolicy::FailOpen => {
                    let (key, limit) = applicable_limits(&self.config, identity).principal;
                    let mut out = RateLimitOutcome::new(key.scope(), Decision::unlimited(limit));
                    out.degraded = true;
                    Ok(out)
                }
            },
        }
    }
}

/// The in-process sliding-window limiter: the policies of a [`RateLimitConfig`] over a
/// [`MemoryRateLimitStore`], synchronous, timed by the clock's monotonic reading.
#[derive(Debug)]
pub struct MemoryRateLimiter<C> {
    config: RateLimitConfig,
    window: SlidingWindow,
    store: MemoryRateLimitStore<RateLimitKey>,
    clock: C,
}

impl<C: Clock> MemoryRateLimiter<C> {
    /// A limiter with an empty store of the given size.
    pub fn new(config: RateLimitConfig, store: MemoryStoreConfig, clock: C) -> Self {
        Self {
            window: config.window(),
            config,
            store: MemoryRateLimitStore::new(store),
            clock,
        }
    }

    /// The policies.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// The store (for [`len`](MemoryRateLimitStore::len), [`sweep`](MemoryRateLimitStore::sweep), …).
    pub fn store(&self) -> &MemoryRateLimitStore<RateLimitKey> {
        &self.store
    }

    /// Milliseconds of the monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.monotonic_ns() / 1_000_000
    }

    /// Checks and counts one request against one key's limit.
    pub fn check_key(&self, key: &RateLimitKey, limit: NonZeroU32) -> Decision {
        self.store.check(key, &self.window, limit, self.now_ms())
    }

    /// Checks and counts a request against every limit that applies to it.
    pub fn check(&self, identity: &RequestIdentity) -> RateLimitOutcome {
        let now = self.now_ms();
        let limits = applicable_limits(&self.config, identity);
        let (key, limit) = &limits.principal;
        let own = RateLimitOutcome::new(
            key.scope(),
            self.store.check(key, &self.window, *limit, now),
        );
        match limits.global {
            Some(global) if own.is_allowed() => {
                let g = self
                    .store
                    .check(&RateLimitKey::Global, &self.window, global, now);
                own.combine(RateLimitOutcome::new(LimitScope::Global, g))
            }
            _ => own,
        }
    }

    /// Drops idle keys now (inserts also do it lazily).
    pub fn sweep(&self) {
        self.store.sweep(&self.window, self.now_ms());
    }
}
