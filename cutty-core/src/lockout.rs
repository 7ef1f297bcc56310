//! Brute-force lockout and progressive delay (`429 AUTH_006`).
//!
//! Failed logins are counted separately per **username** (case-insensitive, whether or not
//! the account exists) and per **client IP**. For each of those keys:
//!
//! * **Progressive delay** — after the k-th consecutive failure, an attempt within
//!   `min(k, max_delay_secs)` seconds of that failure is refused.
//! * **Lock** — the `threshold`-th failure within `window_secs` locks the key for
//!   `lock_secs`, even for the right password.
//! * Refused attempts are not failures (the host does not call
//!   [`Lockout::record_failure`] for them); a success resets the username's and the IP's state.
//! * A refusal is a [`LockoutDecision`] carrying `retry_after_secs`; nothing sleeps.
//!
//! An attempt is refused if **either** key refuses it; `retry_after_secs` is then the longer
//! of the two waits, rounded up to whole seconds.
//!
//! # Defaults ([`LockoutConfig::default`]), from the contract
//! `threshold` 5, `window_secs` 900 (15 min), `lock_secs` 3600 (1 h), `max_delay_secs` 30.
//!
//! # Exact semantics (decisions the contract leaves open)
//! * **Window.** A sliding log: a failure counts towards the lock while it is less than
//!   `window_secs` old; older failures fall out. The log keeps at most `threshold` stamps.
//! * **k.** The number of consecutive failures since the key's last success (or since its
//!   state was forgotten, below). It keeps growing across a lock, so the delay after a lock
//!   expires continues where it was (capped at `max_delay_secs`).
//! * **Locking clears the log**: failures that caused a lock do not count towards the next.
//! * **Forgetting.** A key's state expires `window_secs` after its last failure, or when its
//!   lock ends if that is later; after that the key starts from zero (k = 0). This bounds the
//!   memory of every store and stops a typo made last month from delaying today's login.
//! * **Races.** Two attempts checked at the same moment may both be evaluated and both fail;
//!   each then counts. Counting itself is atomic (compare-and-swap), so no failure is lost.
//! * A success resets the IP too, as the contract says, so a user who owns any account can
//!   clear their IP's count by logging in; the per-username count still protects each
//!   account.
//!
//! # Storage
//! The algorithm lives here; a [`LockoutStore`] only provides `load`, `compare_and_swap` and
//! `reset` of a [`LockoutState`] under a [`LockoutKey`] (governor's "read, then replace if
//! unchanged"). [`MemoryLockoutStore`] is the bounded in-process store; persistent backends
//! live in `cutty-store` and run [`conformance`].
//!
//! ```
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! use cutty_core::clock::FakeClock;
//! use cutty_core::lockout::{Lockout, LockoutConfig, LockoutDecision, MemoryLockoutStore};
//! use std::time::Duration;
//!
//! let clock = FakeClock::at_unix_ms(1_700_000_000_000);
//! let lockout = Lockout::new(MemoryLockoutStore::new(), clock.clone(), LockoutConfig::default());
//! let ip = "203.0.113.7".parse().unwrap();
//! block_on(async {
//!     assert_eq!(lockout.check("Alice", ip).await.unwrap(), LockoutDecision::Allowed);
//!     lockout.record_failure("Alice", ip).await.unwrap(); // k = 1: 1 s delay
//!     let refused = lockout.check("ALICE", ip).await.unwrap();
//!     assert_eq!(refused.retry_after_secs(), Some(1));
//!     assert!(refused.into_result().is_err()); // AUTH_006
//!     clock.advance(Duration::from_secs(1));
//!     assert_eq!(lockout.check("alice", ip).await.unwrap(), LockoutDecision::Allowed);
//! });
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::{Error, StoreError, StoreErrorKind};

/// The largest accepted [`LockoutConfig::threshold`] (the log holds this many stamps).
pub const MAX_THRESHOLD: u32 = 64;

/// Normalised usernames longer than this many bytes are keyed by their SHA-256 instead, so
/// a flood of huge login names cannot grow memory. No registrable username is that long.
pub const MAX_USERNAME_KEY_BYTES: usize = 256;

/// How many times a failure is retried when the store reports a concurrent change.
const CAS_ATTEMPTS: usize = 16;

/// Lockout thresholds. Every field documents its default (the contract's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutConfig {
    /// Failures within `window_secs` that lock the key. Default 5
    /// (`CUTTY_LOCKOUT_THRESHOLD`). 1..=[`MAX_THRESHOLD`].
    pub threshold: u32,
    /// The sliding window for counting failures, seconds. Default 900
    /// (`CUTTY_LOCKOUT_WINDOW_SECONDS`). At least 1.
    pub window_secs: u64,
    /// How long a lock lasts, seconds. Default 3600 (`CUTTY_LOCKOUT_SECONDS`). At least 1.
    pub lock_secs: u64,
    /// Cap of the progressive delay, seconds. Default 30; 0 disables the delay.
    pub max_delay_secs: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            threshold: 5,
            window_secs: 900,
            lock_secs: 3600,
            max_delay_secs: 30,
        }
    }
}

/// A [`LockoutConfig`] that cannot work.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LockoutConfigError {
    /// `threshold` is 0 or above [`MAX_THRESHOLD`].
    #[error("lockout threshold must be between 1 and {MAX_THRESHOLD}")]
    Threshold,
    /// `window_secs` is 0 or too large to express in milliseconds.
    #[error("lockout window must be at least 1 second")]
    Window,
    /// `lock_secs` is 0 or too large to express in milliseconds.
    #[error("lockout duration must be at least 1 second")]
    LockDuration,
    /// `max_delay_secs` is too large to express in milliseconds.
    #[error("lockout delay cap is too large")]
    MaxDelay,
}

/// Roughly 292 years in seconds: beyond this, milliseconds overflow `i64` arithmetic.
const MAX_SECS: u64 = (i64::MAX / 4 / 1000) as u64;

impl LockoutConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), LockoutConfigError> {
        if self.threshold == 0 || self.threshold > MAX_THRESHOLD {
            return Err(LockoutConfigError::Threshold);
        }
        if self.window_secs == 0 || self.window_secs > MAX_SECS {
            return Err(LockoutConfigError::Window);
        }
        if self.lock_secs == 0 || self.lock_secs > MAX_SECS {
            return Err(LockoutConfigError::LockDuration);
        }
        if self.max_delay_secs > MAX_SECS {
            return Err(LockoutConfigError::MaxDelay);
        }
        Ok(())
    }

    fn window_ms(&self) -> i64 {
        secs_to_ms(self.window_secs)
    }

    fn lock_ms(&self) -> i64 {
        secs_to_ms(self.lock_secs)
    }

    fn delay_ms(&self, k: u32) -> i64 {
        secs_to_ms(u64::from(k).min(self.max_delay_secs))
    }
}

fn secs_to_ms(s: u64) -> i64 {
    i64::try_from(s.min(MAX_SECS)).unwrap_or(i64::MAX / 4) * 1000
}

/// What failures are counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockoutKey {
    /// A normalised username (see [`LockoutKey::username`]).
    Username(Box<str>),
    /// A canonical client IP.
    Ip(IpAddr),
}

impl LockoutKey {
    /// The key for a login name as typed: Unicode lower-case (`str::to_lowercase`), so
    /// `Alice`, `ALICE` and `alice` share one count. Names longer than
    /// [`MAX_USERNAME_KEY_BYTES`] after lower-casing become `#` + hex SHA-256 (`#` cannot
    /// occur in a username, so this never collides with a real one).
    pub fn username(name: &str) -> Self {
        let lower = name.to_lowercase();
        if lower.len() <= MAX_USERNAME_KEY_BYTES {
            return Self::Username(lower.into_boxed_str());
        }
        let digest = Sha256::digest(lower.as_bytes());
        let mut s = String::with_capacity(65);
        s.push('#');
        for b in digest {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Self::Username(s.into_boxed_str())
    }

    /// The key for a client IP (IPv4-mapped IPv6 is normalised to IPv4).
    pub fn ip(ip: IpAddr) -> Self {
        Self::Ip(ip.to_canonical())
    }

    /// A flat string for key-value backends: `user:<name>` or `ip:<address>`.
    pub fn storage_key(&self) -> String {
        match self {
            Self::Username(u) => format!("user:{u}"),
            Self::Ip(ip) => format!("ip:{ip}"),
        }
    }
}

/// Which key refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockoutScope {
    /// The username's count.
    Username,
    /// The client IP's count.
    Ip,
}

/// Why a key refuses attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// Within the progressive delay after a failure.
    Delay,
    /// Locked after too many failures in the window.
    Locked,
}

/// The persisted state of one key. Backends store it opaquely (it is `serde`), and may use
/// [`expires_at_ms`](Self::expires_at_ms) as a TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutState {
    /// k: consecutive failures since the last success (or since the state was forgotten).
    pub consecutive_failures: u32,
    /// When the last failure happened, Unix ms.
    pub last_failure_ms: i64,
    /// Failures still inside the window, oldest first, at most `threshold` of them.
    pub recent_failures_ms: Vec<i64>,
    /// When the current lock ends (exclusive), if locked.
    pub locked_until_ms: Option<i64>,
    /// When this state stops mattering; stores treat it as absent from then on.
    pub expires_at_ms: i64,
}

/// A key's refusal: why and for how many more milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Why the key refuses.
    pub reason: RefusalReason,
    /// Milliseconds until the key will consider an attempt again (> 0).
    pub retry_after_ms: i64,
}

impl LockoutState {
    /// Whether this state is still live at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms
    }

    /// Whether the key refuses an attempt at `now_ms`, and why.
    pub fn refusal(&self, now_ms: i64, config: &LockoutConfig) -> Option<Refusal> {
        if !self.is_live(now_ms) {
            return None;
        }
        if let Some(until) = self.locked_until_ms
            && now_ms < until
        {
            return Some(Refusal {
                reason: RefusalReason::Locked,
                retry_after_ms: until - now_ms,
            });
        }
        let delay_end = self
            .last_failure_ms
            .saturating_add(config.delay_ms(self.consecutive_failures));
        (now_ms < delay_end).then(|| Refusal {
            reason: RefusalReason::Delay,
            retry_after_ms: delay_end - now_ms,
        })
    }

    /// The state after a failure at `now_ms`, given the previous (possibly expired) state.
    pub fn after_failure(previous: Option<&Self>, now_ms: i64, config: &LockoutConfig) -> Self {
        let previous = previous.filter(|p| p.is_live(now_ms));
        let window_start = now_ms.saturating_sub(config.window_ms());
        let threshold = usize::try_from(config.threshold.clamp(1, MAX_THRESHOLD)).unwrap_or(1);
        let mut recent: Vec<i64> = previous
            .map(|p| {
                p.recent_failures_ms
                    .iter()
                    .copied()
                    .filter(|&t| t > window_start)
                    .collect()
            })
            .unwrap_or_default();
        recent.push(now_ms);
        if recent.len() >= threshold {
            let excess = recent.len() - threshold;
            recent.drain(..excess);
        }
        let mut locked_until = previous
            .and_then(|p| p.locked_until_ms)
            .filter(|&u| u > now_ms);
        if recent.len() >= threshold {
            let until = now_ms.saturating_add(config.lock_ms());
            locked_until = Some(locked_until.map_or(until, |u| u.max(until)));
            recent.clear();
        }
        let k = previous
            .map_or(0, |p| p.consecutive_failures)
            .saturating_add(1);
        let expires_at = now_ms
            .saturating_add(config.window_ms())
            .max(now_ms.saturating_add(config.delay_ms(k)))
            .max(locked_until.unwrap_or(i64::MIN));
        Self {
            consecutive_failures: k,
            last_failure_ms: now_ms,
            recent_failures_ms: recent,
            locked_until_ms: locked_until,
            expires_at_ms: expires_at,
        }
    }
}

/// A state as loaded, with the version a compare-and-swap must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedState {
    /// The state.
    pub state: LockoutState,
    /// Opaque version; changes on every successful swap.
    pub version: u64,
}

/// Storage of lockout states: three small atomic primitives.
///
/// A state is **live** while `now_ms < state.expires_at_ms`; a store treats a non-live state
/// exactly like an absent one (and may delete it whenever it likes, e.g. with a TTL).
/// Versions should never repeat for a key (a store-wide counter is simplest) so that a
/// swap cannot succeed against a state that was reset and re-created in between.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait LockoutStore: Send + Sync {
    /// The live state of `key` at `now_ms`, if any.
    async fn load(
        &self,
        key: &LockoutKey,
        now_ms: i64,
    ) -> Result<Option<VersionedState>, StoreError>;

    /// Atomically stores `state` under `key` if the key's current live state has version
    /// `expected` (`None`: if it has no live state). Returns `false`, changing nothing,
    /// otherwise.
    async fn compare_and_swap(
        &self,
        key: &LockoutKey,
        expected: Option<u64>,
        state: &LockoutState,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes the state of `key` (a success). Deleting an absent key is not an error.
    async fn reset(&self, key: &LockoutKey) -> Result<(), StoreError>;
}

macro_rules! forward_lockout_store {
    ($($ty:ty),*) => {$(
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl<T: LockoutStore + ?Sized> LockoutStore for $ty {
    async fn load(
        &self,
        key: &LockoutKey,
        now_ms: i64,
    ) -> Result<Option<VersionedState>, StoreError> {
        (**self).load(key, now_ms).await
    }
    async fn compare_and_swap(
        &self,
        key: &LockoutKey,
        expected: Option<u64>,
        state: &LockoutState,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        (**self).compare_and_swap(key, expected, state, now_ms).await
    }
    async fn reset(&self, key: &LockoutKey) -> Result<(), StoreError> {
        (**self).reset(key).await
    }
}
    )*};
}
forward_lockout_store!(&T, std::sync::Arc<T>, Box<T>);

/// The outcome of [`Lockout::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockoutDecision {
    /// The attempt may proceed to password verification.
    Allowed,
    /// The attempt is refused (`429 AUTH_006`) and must not be counted as a failure.
    Refused {
        /// Whole seconds to wait (`Retry-After`), at least 1.
        retry_after_secs: u64,
        /// Which key refused (the one with the longer wait).
        scope: LockoutScope,
        /// Why.
        reason: RefusalReason,
    },
}

impl LockoutDecision {
    /// Combines the username's and the IP's refusals: the longer wait wins (the username on
    /// a tie).
    pub fn from_refusals(user: Option<Refusal>, ip: Option<Refusal>) -> Self {
        let worst = match (user, ip) {
            (None, None) => return Self::Allowed,
            (Some(u), None) => (u, LockoutScope::Username),
            (None, Some(i)) => (i, LockoutScope::Ip),
            (Some(u), Some(i)) if i.retry_after_ms > u.retry_after_ms => (i, LockoutScope::Ip),
            (Some(u), Some(_)) => (u, LockoutScope::Username),
        };
        Self::Refused {
            retry_after_secs: ms_to_secs_ceil(worst.0.retry_after_ms),
            scope: worst.1,
            reason: worst.0.reason,
        }
    }

    /// `Retry-After` for a refusal.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Allowed => None,
            Self::Refused {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
        }
    }

    /// `Ok(())` when allowed, [`Error::LockedOut`] (`AUTH_006`) when refused.
    pub fn into_result(self) -> Result<(), Error> {
        match self {
            Self::Allowed => Ok(()),
            Self::Refused {
                retry_after_secs, ..
            } => Err(Error::LockedOut { retry_after_secs }),
        }
    }
}

/// What a recorded failure did (for the `lockout` security event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureOutcome {
    /// This failure locked the username.
    pub username_locked: bool,
    /// This failure locked the IP.
    pub ip_locked: bool,
}

impl FailureOutcome {
    /// Whether this failure locked anything.
    pub fn locked_anything(&self) -> bool {
        self.username_locked || self.ip_locked
    }
}

/// The lockout service: the algorithm over any [`LockoutStore`] and [`Clock`].
///
/// Host flow for a login: [`check`](Self::check) → if refused answer `429 AUTH_006` and stop
/// → verify the password → [`record_failure`](Self::record_failure) (answer `401 AUTH_004`)
/// or [`record_success`](Self::record_success).
#[derive(Debug)]
pub struct Lockout<S, C> {
    store: S,
    clock: C,
    config: LockoutConfig,
}

fn ms_to_secs_ceil(ms: i64) -> u64 {
    u64::try_from(ms.max(1)).unwrap_or(1).div_ceil(1000)
}

impl<S: LockoutStore, C: Clock> Lockout<S, C> {
    /// A lockout service. `config` should have passed [`LockoutConfig::validate`]; out of
    /// range values are clamped.
    pub fn new(store: S, clock: C, config: LockoutConfig) -> Self {
        Self {
            store,
            clock,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LockoutConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Whether an attempt for `username` from `ip` may proceed now.
    pub async fn check(&self, username: &str, ip: IpAddr) -> Result<LockoutDecision, StoreError> {
        self.check_keys(&LockoutKey::username(username), &LockoutKey::ip(ip))
            .await
    }

    /// [`check`](Self::check) with prepared keys.
    pub async fn check_keys(
        &self,
        user: &LockoutKey,
        ip: &LockoutKey,
    ) -> Result<LockoutDecision, StoreError> {
        let now = self.clock.now_unix_ms();
        let u = self.store.load(user, now).await?;
        let i = self.store.load(ip, now).await?;
        Ok(LockoutDecision::from_refusals(
            u.and_then(|v| v.state.refusal(now, &self.config)),
            i.and_then(|v| v.state.refusal(now, &self.config)),
        ))
    }

    /// Counts a failed attempt (wrong password or unknown user) that was not refused.
    pub async fn record_failure(
        &self,
        username: &str,
        ip: IpAddr,
    ) -> Result<FailureOutcome, StoreError> {
        let now = self.clock.now_unix_ms();
        let username_locked = self.fail_key(&LockoutKey::username(username), now).await?;
        let ip_locked = self.fail_key(&LockoutKey::ip(ip), now).await?;
        Ok(FailureOutcome {
            username_locked,
            ip_locked,
        })
    }

    /// Counts one failure for one key; returns whether this failure started a lock.
    pub async fn fail_key(&self, key: &LockoutKey, now_ms: i64) -> Result<bool, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let current = self.store.load(key, now_ms).await?;
            let prev = current.as_ref().map(|v| &v.state);
            let next = LockoutState::after_failure(prev, now_ms, &self.config);
            let was_locked = prev
                .and_then(|p| p.locked_until_ms)
                .is_some_and(|u| u > now_ms);
            let locked_now = next.recent_failures_ms.is_empty();
            if self
                .store
                .compare_and_swap(key, current.map(|v| v.version), &next, now_ms)
                .await?
            {
                return Ok(locked_now && !was_locked);
            }
        }
        Err(StoreError::new(
            StoreErrorKind::Rollback,
            "lockout: too many concurrent updates of one key",
        ))
    }

    /// A successful login: resets both the username's and the IP's state.
    pub async fn record_success(&self, username: &str, ip: IpAddr) -> Result<(), StoreError> {
        self.store.reset(&LockoutKey::username(username)).await?;
        self.store.reset(&LockoutKey::ip(ip)).await
    }
}

impl<S: std::borrow::Borrow<MemoryLockoutStore>, C: Clock> Lockout<S, C> {
    /// [`check_keys`](Self::check_keys) without the async machinery, for the in-process
    /// store: two shard look-ups, no allocation.
    pub fn check_keys_now(&self, user: &LockoutKey, ip: &LockoutKey) -> LockoutDecision {
        let now = self.clock.now_unix_ms();
        let store = self.store.borrow();
        LockoutDecision::from_refusals(
            store.refusal_now(user, now, &self.config),
            store.refusal_now(ip, now, &self.config),
        )
    }
}

// ---------------------------------------------------------------------------------------
// In-memory store
// ---------------------------------------------------------------------------------------

/// Default bound of [`MemoryLockoutStore::new`]: 100,000 keys (a few tens of MB at worst).
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

const SHARDS: usize = 16;

/// A key with its hash computed once (SipHash, keyed per store), so picking the shard and
/// probing the map cost one hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HashedKey {
    hash: u64,
    key: LockoutKey,
}

impl std::hash::Hash for HashedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A borrowed view of a key and its hash, so look-ups need not clone the key.
trait KeyView {
    fn hash_value(&self) -> u64;
    fn key(&self) -> &LockoutKey;
}

impl KeyView for HashedKey {
    fn hash_value(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &LockoutKey {
        &self.key
    }
}

struct Probe<'a> {
    hash: u64,
    key: &'a LockoutKey,
}

impl KeyView for Probe<'_> {
    fn hash_value(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &LockoutKey {
        self.key
    }
}

impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for HashedKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl std::hash::Hash for dyn KeyView + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash_value());
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.hash_value() == other.hash_value() && self.key() == other.key()
    }
}

impl Eq for dyn KeyView + '_ {}

type Shard = HashMap<HashedKey, (LockoutState, u64), crate::prehashed::PassThroughBuilder>;

/// A bounded, sharded in-process [`LockoutStore`] (no I/O; for single-process servers and
/// tests).
///
/// Memory: at most `capacity` keys. Expired states are dropped when a shard fills; if a
/// shard is still full, the eighth of its entries that expire soonest are evicted (they are
/// the ones closest to being forgotten anyway). A flood of distinct usernames therefore
/// costs bounded memory, at the price of forgetting the least-recent failures early.
#[derive(Debug)]
pub struct MemoryLockoutStore {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hasher: RandomState,
    next_version: AtomicU64,
}

impl Default for MemoryLockoutStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLockoutStore {
    /// A store bounded to [`DEFAULT_MEMORY_CAPACITY`] keys.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_CAPACITY)
    }

    /// A store bounded to about `capacity` keys (at least one per shard).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            next_version: AtomicU64::new(1),
        }
    }

    /// Number of stored keys, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every state expired at `now_ms`; returns how many.
    pub fn purge_expired(&self, now_ms: i64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut g = lock(s);
                let before = g.len();
                g.retain(|_, (st, _)| st.is_live(now_ms));
                before - g.len()
            })
            .sum()
    }

    /// The shard of `key` and the key with its hash. The shard index uses the top bits,
    /// the map the whole hash.
    fn locate<'k>(&self, key: &'k LockoutKey) -> (&Mutex<Shard>, Probe<'k>) {
        let hash = self.hasher.hash_one(key);
        let i = usize::try_from(hash >> 60).unwrap_or(0) % self.shards.len();
        (&self.shards[i], Probe { hash, key })
    }

    /// Synchronous `load`, for hosts that want to skip the async boxing.
    pub fn load_now(&self, key: &LockoutKey, now_ms: i64) -> Option<VersionedState> {
        let (shard, hk) = self.locate(key);
        let g = lock(shard);
        g.get(&hk as &dyn KeyView)
            .filter(|(st, _)| st.is_live(now_ms))
            .map(|(st, v)| VersionedState {
                state: st.clone(),
                version: *v,
            })
    }

    /// The key's refusal at `now_ms`, evaluated under the shard lock without copying the
    /// state.
    pub fn refusal_now(
        &self,
        key: &LockoutKey,
        now_ms: i64,
        config: &LockoutConfig,
    ) -> Option<Refusal> {
        let (shard, hk) = self.locate(key);
        let g = lock(shard);
        g.get(&hk as &dyn KeyView)
            .and_then(|(st, _)| st.refusal(now_ms, config))
    }

    fn make_room(&self, shard: &mut Shard, now_ms: i64) {
        if shard.len() < self.per_shard {
            return;
        }
        shard.retain(|_, (st, _)| st.is_live(now_ms));
        if shard.len() < self.per_shard {
            return;
        }
        let mut expiries: Vec<i64> = shard.values().map(|(st, _)| st.expires_at_ms).collect();
        let n = (self.per_shard / 8).max(1).min(expiries.len());
        let (_, cut, _) = expiries.select_nth_unstable(n - 1);
        let cut = *cut;
        let mut left = n;
        shard.retain(|_, (st, _)| {
            if left > 0 && st.expires_at_ms <= cut {
                left -= 1;
                false
            } else {
                true
            }
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl LockoutStore for MemoryLockoutStore {
    async fn load(
        &self,
        key: &LockoutKey,
        now_ms: i64,
    ) -> Result<Option<VersionedState>, StoreError> {
        Ok(self.load_now(key, now_ms))
    }

    async fn compare_and_swap(
        &self,
        key: &LockoutKey,
        expected: Option<u64>,
        state: &LockoutState,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (shard, hk) = self.locate(key);
        let mut g = lock(shard);
        let current = g
            .get(&hk as &dyn KeyView)
            .filter(|(st, _)| st.is_live(now_ms))
            .map(|(_, v)| *v);
        if current != expected {
            return Ok(false);
        }
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = g.get_mut(&hk as &dyn KeyView) {
            *slot = (state.clone(), version);
        } else {
            self.make_room(&mut g, now_ms);
            g.insert(
                HashedKey {
                    hash: hk.hash,
                    key: key.clone(),
                },
                (state.clone(), version),
            );
        }
        Ok(true)
    }

    async fn reset(&self, key: &LockoutKey) -> Result<(), StoreError> {
        let (shard, hk) = self.locate(key);
        lock(shard).remove(&hk as &dyn KeyView);
        Ok(())
    }
}

/// The conformance suite every [`LockoutStore`] must pass.
///
/// Every function takes an empty store; those about the whole algorithm also take the
/// [`FakeClock`](crate::clock::FakeClock) the test controls.
#[cfg(any(test, feature = "testing"))]
pub mod conformance {
    use super::*;
    use crate::clock::FakeClock;
    use std::time::Duration;

    /// Runs every check. `store` must be empty; keys used are distinct per check.
    pub async fn run_all<S: LockoutStore>(store: &S, clock: &FakeClock) {
        primitives(store).await;
        expiry(store).await;
        keys_are_distinct(store).await;
        contract_scenario(store, clock).await;
        ip_counts_separately(store, clock).await;
        window_slides(store, clock).await;
    }

    fn state(k: u32, at: i64, expires: i64) -> LockoutState {
        LockoutState {
            consecutive_failures: k,
            last_failure_ms: at,
            recent_failures_ms: vec![at - 5, at],
            locked_until_ms: Some(at + 7),
            expires_at_ms: expires,
        }
    }

    /// `load`, `compare_and_swap` and `reset` on one key: insert-if-absent, version checks,
    /// exact round trip of every field.
    pub async fn primitives<S: LockoutStore>(store: &S) {
        let key = LockoutKey::username("conformance-primitives");
        let now = 1_000;
        assert_eq!(store.load(&key, now).await.expect("load"), None);
        let s1 = state(1, now, now + 10_000);
        assert!(
            !store
                .compare_and_swap(&key, Some(1), &s1, now)
                .await
                .expect("cas")
        );
        assert!(
            store
                .compare_and_swap(&key, None, &s1, now)
                .await
                .expect("cas")
        );
        let v1 = store.load(&key, now).await.expect("load").expect("present");
        assert_eq!(v1.state, s1);
        // A second insert-if-absent fails.
        let s2 = state(2, now + 1, now + 20_000);
        assert!(
            !store
                .compare_and_swap(&key, None, &s2, now)
                .await
                .expect("cas")
        );
        assert!(
            !store
                .compare_and_swap(&key, Some(v1.version.wrapping_add(1)), &s2, now)
                .await
                .expect("cas")
        );
        assert!(
            store
                .compare_and_swap(&key, Some(v1.version), &s2, now)
                .await
                .expect("cas")
        );
        let v2 = store.load(&key, now).await.expect("load").expect("present");
        assert_eq!(v2.state, s2);
        assert_ne!(v2.version, v1.version);
        // The old version no longer matches.
        assert!(
            !store
                .compare_and_swap(&key, Some(v1.version), &s1, now)
                .await
                .expect("cas")
        );
        store.reset(&key).await.expect("reset");
        assert_eq!(store.load(&key, now).await.expect("load"), None);
        store.reset(&key).await.expect("reset of an absent key");
        // After a reset, the old version does not match a re-created state.
        assert!(
            store
                .compare_and_swap(&key, None, &s1, now)
                .await
                .expect("cas")
        );
        assert!(
            !store
                .compare_and_swap(&key, Some(v2.version), &s2, now)
                .await
                .expect("cas")
        );
        store.reset(&key).await.expect("reset");
    }

    /// A state is absent from `expires_at_ms` on, and can then be re-created with `None`.
    pub async fn expiry<S: LockoutStore>(store: &S) {
        let key = LockoutKey::username("conformance-expiry");
        let s = state(3, 1_000, 5_000);
        assert!(
            store
                .compare_and_swap(&key, None, &s, 1_000)
                .await
                .expect("cas")
        );
        assert!(store.load(&key, 4_999).await.expect("load").is_some());
        let gone = store.load(&key, 5_000).await.expect("load");
        assert_eq!(gone, None);
        let v = store
            .load(&key, 4_999)
            .await
            .expect("load")
            .map(|v| v.version);
        if let Some(v) = v {
            // A swap naming the expired state's version must fail once it expired.
            assert!(
                !store
                    .compare_and_swap(&key, Some(v), &s, 5_000)
                    .await
                    .expect("cas")
            );
        }
        let fresh = state(1, 6_000, 9_000);
        assert!(
            store
                .compare_and_swap(&key, None, &fresh, 6_000)
                .await
                .expect("cas")
        );
        assert_eq!(
            store
                .load(&key, 6_000)
                .await
                .expect("load")
                .expect("present")
                .state,
            fresh
        );
        store.reset(&key).await.expect("reset");
    }

    /// A username that looks like an IP is not the IP's key; case folds.
    pub async fn keys_are_distinct<S: LockoutStore>(store: &S) {
        let user = LockoutKey::username("192.0.2.44");
        let ip = LockoutKey::ip("192.0.2.44".parse().expect("ip"));
        let s = state(1, 1_000, 10_000);
        assert!(
            store
                .compare_and_swap(&user, None, &s, 1_000)
                .await
                .expect("cas")
        );
        assert_eq!(store.load(&ip, 1_000).await.expect("load"), None);
        assert!(
            store
                .compare_and_swap(&ip, None, &s, 1_000)
                .await
                .expect("cas")
        );
        store.reset(&user).await.expect("reset");
        assert!(store.load(&ip, 1_000).await.expect("load").is_some());
        store.reset(&ip).await.expect("reset");
        let a = LockoutKey::username("ÉVE");
        let b = LockoutKey::username("éve");
        assert_eq!(a, b);
    }

    fn svc<'a, S: LockoutStore>(store: &'a S, clock: &FakeClock) -> Lockout<&'a S, FakeClock> {
        Lockout::new(store, clock.clone(), LockoutConfig::default())
    }

    /// The contract's scenario with the default configuration.
    pub async fn contract_scenario<S: LockoutStore>(store: &S, clock: &FakeClock) {
        let l = svc(store, clock);
        let ip: IpAddr = "198.51.100.10".parse().expect("ip");
        let user = "Conformance-Scenario";
        for k in 1..=4u64 {
            assert_eq!(
                l.check(user, ip).await.expect("check"),
                LockoutDecision::Allowed
            );
            let out = l.record_failure(user, ip).await.expect("fail");
            assert!(!out.locked_anything());
            // Within min(k, 30) s: refused, Retry-After = k.
            let d = l.check(&user.to_uppercase(), ip).await.expect("check");
            assert_eq!(d.retry_after_secs(), Some(k), "after failure {k}");
            clock.advance(Duration::from_millis(k * 1000 - 1));
            assert_eq!(
                l.check(user, ip).await.expect("check").retry_after_secs(),
                Some(1)
            );
            clock.advance(Duration::from_millis(1));
        }
        // The 5th failure within 15 minutes locks for an hour.
        let out = l.record_failure(user, ip).await.expect("fail");
        assert!(out.username_locked && out.ip_locked);
        let d = l.check(user, ip).await.expect("check");
        assert_eq!(
            d,
            LockoutDecision::Refused {
                retry_after_secs: 3600,
                scope: LockoutScope::Username,
                reason: RefusalReason::Locked
            }
        );
        assert!(matches!(
            d.into_result(),
            Err(Error::LockedOut {
                retry_after_secs: 3600
            })
        ));
        // Another username from the same IP is refused too (the IP is locked).
        let other = l.check("someone-else", ip).await.expect("check");
        assert_eq!(other.retry_after_secs(), Some(3600));
        clock.advance(Duration::from_secs(3599));
        assert_eq!(
            l.check(user, ip).await.expect("check").retry_after_secs(),
            Some(1)
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            l.check(user, ip).await.expect("check"),
            LockoutDecision::Allowed
        );
        // A success resets both.
        l.record_success(user, ip).await.expect("success");
        l.record_failure(user, ip).await.expect("fail");
        assert_eq!(
            l.check(user, ip).await.expect("check").retry_after_secs(),
            Some(1)
        );
        l.record_success(user, ip).await.expect("success");
        assert_eq!(
            l.check(user, ip).await.expect("check"),
            LockoutDecision::Allowed
        );
    }

    /// Failures from many IPs against one username lock the username only, and the reverse.
    pub async fn ip_counts_separately<S: LockoutStore>(store: &S, clock: &FakeClock) {
        let l = svc(store, clock);
        let user = "conformance-separate";
        for i in 0..5u8 {
            let ip = IpAddr::from([192, 0, 2, 100 + i]);
            clock.advance(Duration::from_secs(40));
            assert_eq!(
                l.check(user, ip).await.expect("check"),
                LockoutDecision::Allowed
            );
            l.record_failure(user, ip).await.expect("fail");
        }
        let fresh_ip = IpAddr::from([192, 0, 2, 200]);
        let d = l.check(user, fresh_ip).await.expect("check");
        assert!(matches!(
            d,
            LockoutDecision::Refused {
                scope: LockoutScope::Username,
                reason: RefusalReason::Locked,
                ..
            }
        ));
        // Those IPs each have one failure: only the 1 s delay, long past.
        let d = l
            .check("another-user", IpAddr::from([192, 0, 2, 100]))
            .await
            .expect("check");
        assert_eq!(d, LockoutDecision::Allowed);
        l.record_success(user, fresh_ip).await.expect("reset");
    }

    /// Failures older than the window fall out; the state is forgotten after the window.
    pub async fn window_slides<S: LockoutStore>(store: &S, clock: &FakeClock) {
        let l = svc(store, clock);
        let ip: IpAddr = "2001:db8::77".parse().expect("ip");
        let user = "conformance-window";
        // Four failures, five minutes apart: at t = 0, 5, 10 and 15 min.
        for _ in 0..4 {
            l.record_failure(user, ip).await.expect("fail");
            clock.advance(Duration::from_secs(300));
        }
        // t = 20 min: the failures at 0 and 5 min are ≥ 15 min old → 3 in the window.
        let out = l.record_failure(user, ip).await.expect("fail");
        assert!(!out.locked_anything());
        // k = 5 consecutive failures: a 5 s delay.
        assert_eq!(
            l.check(user, ip).await.expect("check").retry_after_secs(),
            Some(5)
        );
        clock.advance(Duration::from_secs(5));
        let out = l.record_failure(user, ip).await.expect("fail"); // 4 in the window
        assert!(!out.locked_anything());
        clock.advance(Duration::from_secs(6));
        let out = l.record_failure(user, ip).await.expect("fail"); // 5 in the window
        assert!(out.username_locked && out.ip_locked);
        l.record_success(user, ip).await.expect("reset");
        // Two failures, then quiet for the whole window: forgotten, k restarts at 1.
        l.record_failure(user, ip).await.expect("fail");
        clock.advance(Duration::from_secs(2));
        l.record_failure(user, ip).await.expect("fail");
        assert_eq!(
            l.check(user, ip).await.expect("check").retry_after_secs(),
            Some(2)
        );
        clock.advance(Duration::from_secs(900));
        l.record_failure(user, ip).await.expect("fail");
        assert_eq!(
            l.check(user, ip).await.expect("check").retry_after_secs(),
            Some(1)
        );
        l.record_success(user, ip).await.expect("reset");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use futures::executor::block_on;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn memory_store_passes_conformance() {
        let clock = FakeClock::at_unix_ms(1_700_000_000_000);
        block_on(conformance::run_all(&MemoryLockoutStore::new(), &clock));
    }

    #[test]
    fn config_validation() {
        assert!(LockoutConfig::default().validate().is_ok());
        let bad = |f: fn(&mut LockoutConfig)| {
            let mut c = LockoutConfig::default();
            f(&mut c);
            c.validate()
        };
        assert_eq!(bad(|c| c.threshold = 0), Err(LockoutConfigError::Threshold));
        assert_eq!(
            bad(|c| c.threshold = 65),
            Err(LockoutConfigError::Threshold)
        );
        assert_eq!(bad(|c| c.window_secs = 0), Err(LockoutConfigError::Window));
        assert_eq!(
            bad(|c| c.lock_secs = 0),
            Err(LockoutConfigError::LockDuration)
        );
        assert_eq!(
            bad(|c| c.lock_secs = u64::MAX),
            Err(LockoutConfigError::LockDuration)
        );
        assert_eq!(
            bad(|c| c.max_delay_secs = u64::MAX),
            Err(LockoutConfigError::MaxDelay)
        );
        assert!(bad(|c| c.max_delay_secs = 0).is_ok());
    }

    #[test]
    fn username_keys_normalise_and_bound() {
        assert_eq!(LockoutKey::username("ALICE"), LockoutKey::username("alice"));
        assert_eq!(LockoutKey::username("ẞ"), LockoutKey::username("ß"));
        let long = "A".repeat(10_000);
        let k = LockoutKey::username(&long);
        assert_eq!(k, LockoutKey::username(&long.to_lowercase()));
        match &k {
            LockoutKey::Username(s) => assert!(s.starts_with('#') && s.len() == 65),
            LockoutKey::Ip(_) => panic!(),
        }
        assert_eq!(
            LockoutKey::ip("::ffff:1.2.3.4".parse().unwrap()).storage_key(),
            "ip:1.2.3.4"
        );
        assert_eq!(LockoutKey::username("Bob").storage_key(), "user:bob");
    }

    #[test]
    fn delay_caps_at_max() {
        let cfg = LockoutConfig {
            threshold: 64,
            ..LockoutConfig::default()
        };
        let mut s: Option<LockoutState> = None;
        let mut now = 0;
        for _ in 0..40 {
            now += 31_000;
            s = Some(LockoutState::after_failure(s.as_ref(), now, &cfg));
        }
        let st = s.unwrap();
        assert_eq!(st.consecutive_failures, 40);
        assert_eq!(st.refusal(now, &cfg).unwrap().retry_after_ms, 30_000);
        assert_eq!(st.refusal(now + 30_000, &cfg), None);
    }

    #[test]
    fn memory_store_stays_bounded() {
        let store = MemoryLockoutStore::with_capacity(160);
        let clock = FakeClock::at_unix_ms(0);
        let l = Lockout::new(&store, clock.clone(), LockoutConfig::default());
        block_on(async {
            for i in 0..5_000u32 {
                clock.advance(Duration::from_millis(1));
                l.record_failure(&format!("user{i}"), IpAddr::from(i.to_be_bytes()))
                    .await
                    .unwrap();
            }
        });
        assert!(store.len() <= 160, "{}", store.len());
        clock.advance(Duration::from_secs(3600));
        assert!(store.purge_expired(clock.now_unix_ms()) > 0);
        assert!(store.is_empty());
    }

    #[test]
    fn cas_contention_is_a_store_error() {
        struct Stubborn;
        #[async_trait::async_trait]
        impl LockoutStore for Stubborn {
            async fn load(
                &self,
                _: &LockoutKey,
                _: i64,
            ) -> Result<Option<VersionedState>, StoreError> {
                Ok(None)
            }
            async fn compare_and_swap(
                &self,
                _: &LockoutKey,
                _: Option<u64>,
                _: &LockoutState,
                _: i64,
            ) -> Result<bool, StoreError> {
                Ok(false)
            }
            async fn reset(&self, _: &LockoutKey) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let l = Lockout::new(Stubborn, FakeClock::default(), LockoutConfig::default());
        let e = block_on(l.record_failure("x", "1.2.3.4".parse().unwrap())).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Rollback);
    }

    /// A literal model of the rules, per key, written independently of `after_failure`.
    #[derive(Debug, Default, Clone)]
    struct ModelKey {
        /// Every counted failure since the last reset/forget.
        failures: Vec<i64>,
        /// Index in `failures` from which failures count towards the next lock.
        since_lock: usize,
        locked_until: i64,
    }

    impl ModelKey {
        fn forget_if_idle(&mut self, now: i64, cfg: &LockoutConfig) {
            if let Some(&last) = self.failures.last() {
                let k = self.failures.len() as u64;
                let idle_from = (last + cfg.window_secs as i64 * 1000)
                    .max(last + k.min(cfg.max_delay_secs) as i64 * 1000)
                    .max(self.locked_until);
                if now >= idle_from {
                    *self = Self::default();
                }
            }
        }
        fn wait_ms(&mut self, now: i64, cfg: &LockoutConfig) -> i64 {
            self.forget_if_idle(now, cfg);
            if now < self.locked_until {
                return self.locked_until - now;
            }
            match self.failures.last() {
                Some(&last) => {
                    let k = self.failures.len() as u64;
                    (last + k.min(cfg.max_delay_secs) as i64 * 1000 - now).max(0)
                }
                None => 0,
            }
        }
        fn fail(&mut self, now: i64, cfg: &LockoutConfig) -> bool {
            self.forget_if_idle(now, cfg);
            self.failures.push(now);
            let in_window = self.failures[self.since_lock..]
                .iter()
                .filter(|&&t| now - t < cfg.window_secs as i64 * 1000)
                .count();
            if in_window >= cfg.threshold as usize {
                let was = now < self.locked_until;
                self.locked_until = self.locked_until.max(now + cfg.lock_secs as i64 * 1000);
                self.since_lock = self.failures.len();
                return !was;
            }
            false
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Advance(u64),
        Attempt { user: u8, ip: u8, success: bool },
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => prop_oneof![0u64..3_000, 0u64..120_000, 0u64..4_000_000].prop_map(Op::Advance),
            3 => (0u8..3, 0u8..3, proptest::bool::weighted(0.15))
                .prop_map(|(user, ip, success)| Op::Attempt { user, ip, success }),
        ]
    }

    fn arb_config() -> impl Strategy<Value = LockoutConfig> {
        prop_oneof![
            Just(LockoutConfig::default()),
            (1u32..6, 1u64..200, 1u64..400, 0u64..40).prop_map(|(t, w, l, d)| LockoutConfig {
                threshold: t,
                window_secs: w,
                lock_secs: l,
                max_delay_secs: d,
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        #[test]
        fn lockout_follows_the_model(cfg in arb_config(), ops in proptest::collection::vec(arb_op(), 1..120)) {
            let clock = FakeClock::at_unix_ms(1_700_000_000_000);
            let store = MemoryLockoutStore::new();
            let l = Lockout::new(&store, clock.clone(), cfg);
            let mut users: HashMap<u8, ModelKey> = HashMap::new();
            let mut ips: HashMap<u8, ModelKey> = HashMap::new();
            for op in ops {
                match op {
                    Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                    Op::Attempt { user, ip, success } => {
                        let now = clock.now_unix_ms();
                        let name = format!("User{user}");
                        let addr = IpAddr::from([10, 0, 0, ip]);
                        let mu = users.entry(user).or_default();
                        let wu = mu.wait_ms(now, &cfg);
                        let mi = ips.entry(ip).or_default();
                        let wi = mi.wait_ms(now, &cfg);
                        let want = wu.max(wi);
                        let got = block_on(l.check(&name, addr)).unwrap();
                        let sync = l.check_keys_now(&LockoutKey::username(&name), &LockoutKey::ip(addr));
                        prop_assert_eq!(sync, got);
                        if want > 0 {
                            prop_assert_eq!(got.retry_after_secs(), Some(ms_to_secs_ceil(want)));
                            continue; // refused: not counted
                        }
                        prop_assert_eq!(got, LockoutDecision::Allowed);
                        if success {
                            block_on(l.record_success(&name.to_lowercase(), addr)).unwrap();
                            users.insert(user, ModelKey::default());
                            ips.insert(ip, ModelKey::default());
                        } else {
                            let out = block_on(l.record_failure(&name, addr)).unwrap();
                            let lu = users.get_mut(&user).unwrap().fail(now, &cfg);
                            let li = ips.get_mut(&ip).unwrap().fail(now, &cfg);
                            prop_assert_eq!((out.username_locked, out.ip_locked), (lu, li));
                        }
                    }
                }
            }
        }

        #[test]
        fn username_key_never_panics(s in "\\PC{0,300}") {
            let k = LockoutKey::username(&s);
            prop_assert!(k.storage_key().len() <= 5 + MAX_USERNAME_KEY_BYTES);
            prop_assert_eq!(k, LockoutKey::username(&s));
        }
    }
}
