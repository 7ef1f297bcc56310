//! The counter-store trait: one atomic primitive, compare-and-swap on a [`WindowState`].

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxedStoreFuture;
use crate::error::{LimitScope, StoreError, StoreErrorKind};

use super::{Decision, MAX_CAS_ATTEMPTS, SlidingWindow, WindowState};

/// What a limit counts: one client IP, one user, one API key, or everything.
///
/// IP and user keys are stored inline (no allocation); an API key id is shared through an
/// [`Arc`] so a host that caches its key records clones it for free.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateLimitKey {
    /// A client IP (already normalised by [`client_ip`](crate::client_ip)).
    Ip(IpAddr),
    /// A user id.
    User(i64),
    /// An API key id.
    ApiKey(Arc<str>),
    /// The single global counter.
    Global,
}

impl RateLimitKey {
    /// The limit this key is counted under.
    pub fn scope(&self) -> LimitScope {
        match self {
            Self::Ip(_) => LimitScope::Ip,
            Self::User(_) => LimitScope::User,
            Self::ApiKey(_) => LimitScope::ApiKey,
            Self::Global => LimitScope::Global,
        }
    }
}

/// A stable textual form for stores that key by string (Redis, SQL, Durable Objects):
/// `ip:<addr>`, `user:<id>`, `key:<id>`, `global`.
impl fmt::Display for RateLimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "ip:{ip}"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::ApiKey(id) => write!(f, "key:{id}"),
            Self::Global => f.write_str("global"),
        }
    }
}

/// The answer of [`RateLimitStore::compare_and_swap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// The stored value equalled `expected` and now holds `new`.
    Swapped,
    /// The stored value differed from `expected`; it is returned (`None`: no value) so the
    /// caller can retry without another read.
    Conflict(Option<WindowState>),
}

/// Storage for sliding-window counters.
///
/// A backend provides two operations and no algorithm: the limiter
/// ([`RateLimiter`](super::RateLimiter)) reads a state, computes the decision in core with
/// [`SlidingWindow::evaluate`](super::SlidingWindow::evaluate) and writes the new state
/// with a compare-and-swap, retrying on conflict. A refusal writes nothing.
///
/// * Memory: a map under a lock ([`MemoryRateLimitStore`](super::MemoryRateLimitStore)).
/// * Redis: a small script comparing the stored encoding and `SET … PX ttl`.
/// * SQL: `INSERT … ON CONFLICT DO NOTHING` for `expected = None`, otherwise
///   `UPDATE … WHERE key = ? AND window = ? AND prev = ? AND curr = ?`, checking the row count.
/// * Durable Object: single-threaded, so a read-compare-write in one request.
///
/// # One round trip: [`check_and_count`](RateLimitStore::check_and_count)
/// The limiter calls [`check_and_count`](RateLimitStore::check_and_count), whose provided
/// body is the load + compare-and-swap loop above ([`check_and_count_with_cas`]): two round
/// trips per admitted request on a networked store. A backend that can run the whole check
/// server-side (a Redis Lua script, a Durable Object) overrides it with one atomic round trip
/// that must answer exactly what [`SlidingWindow::evaluate`] answers and leave exactly the
/// state it returns; the conformance suite checks both paths against the model.
///
/// Run [`conformance`](super::conformance) against every implementation.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait RateLimitStore: Send + Sync {
    /// The current state of `key`, or `None` if it has none (or it expired).
    async fn load(&self, key: &RateLimitKey) -> Result<Option<WindowState>, StoreError>;

    /// Atomically: if the state of `key` equals `expected` (`None`: the key has no state),
    /// replace it with `new`, to be kept at least `ttl` (after which the state no longer
    /// matters and may be dropped); otherwise change nothing and return the current state.
    async fn compare_and_swap(
        &self,
        key: &RateLimitKey,
        expected: Option<WindowState>,
        new: WindowState,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError>;

    /// Atomically evaluates one request for `key` at `now_ms` against `limit` per `window`
    /// ([`SlidingWindow::evaluate`] on the stored state) and, when it is admitted, stores the
    /// new state (kept for [`SlidingWindow::ttl_ms`]). A refusal changes nothing.
    ///
    /// The provided body is [`check_and_count_with_cas`] (a load and at least one
    /// compare-and-swap). Override it only with something at least as atomic that gives the
    /// very same decisions and states — typically one server-side script, to save a round
    /// trip.
    async fn check_and_count(
        &self,
        key: &RateLimitKey,
        window: &SlidingWindow,
        limit: NonZeroU32,
        now_ms: u64,
    ) -> Result<Decision, StoreError> {
        check_and_count_with_cas(self, key, window, limit, now_ms).await
    }
}

/// The check-and-count of any [`RateLimitStore`] from its two primitives: load the state,
/// evaluate it, compare-and-swap the new state in, and on a conflict re-evaluate against
/// the state the store returned. Gives up after [`MAX_CAS_ATTEMPTS`] conflicts with a
/// [`StoreErrorKind::Timeout`].
pub async fn check_and_count_with_cas<S: RateLimitStore + ?Sized>(
    store: &S,
    key: &RateLimitKey,
    window: &SlidingWindow,
    limit: NonZeroU32,
    now_ms: u64,
) -> Result<Decision, StoreError> {
    let mut current = store.load(key).await?;
    for _ in 0..MAX_CAS_ATTEMPTS {
        let ev = window.evaluate(current, now_ms, limit);
        let Some(next) = ev.next else {
            return Ok(ev.decision);
        };
        let ttl = Duration::from_millis(window.ttl_ms(&next, now_ms));
        match store.compare_and_swap(key, current, next, ttl).await? {
            CasOutcome::Swapped => return Ok(ev.decision),
            CasOutcome::Conflict(seen) => current = seen,
        }
    }
    Err(StoreError::new(
        StoreErrorKind::Timeout,
        "rate limit: compare-and-swap contention",
    ))
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl<S: RateLimitStore + ?Sized> RateLimitStore for Arc<S> {
    async fn load(&self, key: &RateLimitKey) -> Result<Option<WindowState>, StoreError> {
        (**self).load(key).await
    }

    async fn compare_and_swap(
        &self,
        key: &RateLimitKey,
        expected: Option<WindowState>,
        new: WindowState,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        (**self).compare_and_swap(key, expected, new, ttl).await
    }

    // On every request: the inner store's future, not a second box around it.
    fn check_and_count<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        key: &'life1 RateLimitKey,
        window: &'life2 SlidingWindow,
        limit: NonZeroU32,
        now_ms: u64,
    ) -> BoxedStoreFuture<'async_trait, Result<Decision, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        (**self).check_and_count(key, window, limit, now_ms)
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl<S: RateLimitStore + ?Sized> RateLimitStore for &S {
    async fn load(&self, key: &RateLimitKey) -> Result<Option<WindowState>, StoreError> {
        (**self).load(key).await
    }

    async fn compare_and_swap(
        &self,
        key: &RateLimitKey,
        expected: Option<WindowState>,
        new: WindowState,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        (**self).compare_and_swap(key, expected, new, ttl).await
    }

    // On every request: the inner store's future, not a second box around it.
    fn check_and_count<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        key: &'life1 RateLimitKey,
        window: &'life2 SlidingWindow,
        limit: NonZeroU32,
        now_ms: u64,
    ) -> BoxedStoreFuture<'async_trait, Result<Decision, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        (**self).check_and_count(key, window, limit, now_ms)
    }
}
