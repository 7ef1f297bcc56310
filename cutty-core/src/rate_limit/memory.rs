//! The in-process store: a sharded hash table of 16-byte window states with a hard capacity.

use std::hash::{BuildHasher, Hash, RandomState};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hashbrown::HashTable;

use crate::error::StoreError;

use super::Decision;
use super::store::{CasOutcome, RateLimitKey, RateLimitStore};
use super::window::{SlidingWindow, WindowState};

/// Sizing of a [`MemoryRateLimitStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStoreConfig {
    /// The most keys tracked at once, over all shards (each shard holds
    /// `ceil(capacity / shards)`). Default 100 000: about 6–9 MB for IP keys (see the
    /// module's memory bound), enough for every client active within two windows of a
    /// busy single node.
    pub capacity: NonZeroUsize,
    /// Number of independently locked shards, rounded up to a power of two. Default 16: with
    /// a handful of cores two requests rarely wait for the same lock, and (measured with
    /// 1,000,000 keys) fewer, larger tables are faster than many small ones — 64 shards made
    /// a check about 1.7× slower than 8 or 16.
    pub shards: NonZeroUsize,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        Self {
            capacity: NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN),
            shards: NonZeroUsize::new(16).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// One shard, aligned to a cache line so neighbouring locks do not share one.
#[repr(align(64))]
#[derive(Debug)]
struct Shard<K> {
    inner: Mutex<ShardInner<K>>,
}

#[derive(Debug)]
struct ShardInner<K> {
    table: HashTable<(K, WindowState)>,
    /// The latest window index written into this shard: "now" for idle eviction, so the
    /// store itself never needs a clock.
    latest: u64,
    /// The window index at the last idle sweep.
    swept: u64,
}

/// An in-memory sliding-window counter store, keyed by any `K` (by default
/// [`RateLimitKey`]).
///
/// * **Hot path**: one SipHash of the key, one uncontended lock of one of `shards` shards,
///   one probe, the integer arithmetic of [`SlidingWindow::evaluate`], unlock. No allocation
///   unless a new key is inserted into a full table slot group (amortised growth).
/// * **Wall-clock steps back**: idleness is judged against the latest window written to a
///   shard, so after the clock steps back by more than a window a key swept as idle starts
///   afresh, and up to `limit` more requests may be admitted in a window already counted.
///   The in-process [`MemoryRateLimiter`](super::MemoryRateLimiter) reads the monotonic
///   clock and never sees such a step.
/// * **Idle keys** (both windows slid out) are dropped by a sweep of the shard, run at most
///   once per window index per shard when a new key is inserted, or by [`sweep`](Self::sweep).
/// * **At capacity** a new key first triggers eviction in its shard: idle keys; then, if
///   still full, keys last counted before the current window (the stalest; they forget
///   their previous-window count); then, if still full, arbitrary keys until the shard is at
///   7/8 of its share (they forget their counts: they are treated as new, which errs on the
///   side of admitting). Each pass frees at least an eighth of the shard, so the cost is
///   amortised O(1) per insert; memory never exceeds the capacity and nothing panics.
///
/// Also a [`RateLimitStore`] (for `K = RateLimitKey`), so the store-backed
/// [`RateLimiter`](super::RateLimiter) and the conformance suite run on it.
#[derive(Debug)]
pub struct MemoryRateLimitStore<K = RateLimitKey> {
    shards: Box<[Shard<K>]>,
    shard_mask: usize,
    per_shard: usize,
    hasher: RandomState,
}

impl<K: Hash + Eq + Clone> Default for MemoryRateLimitStore<K> {
    fn default() -> Self {
        Self::new(MemoryStoreConfig::default())
    }
}

impl<K: Hash + Eq + Clone> MemoryRateLimitStore<K> {
    /// An empty store.
    pub fn new(config: MemoryStoreConfig) -> Self {
        let n = config
            .shards
            .get()
            .checked_next_power_of_two()
            .unwrap_or(1 << 16)
            .min(1 << 16);
        let per_shard = config.capacity.get().div_ceil(n).max(1);
        let shards = (0..n)
            .map(|_| Shard {
                inner: Mutex::new(ShardInner {
                    table: HashTable::new(),
                    latest: 0,
                    swept: 0,
                }),
            })
            .collect();
        Self {
            shards,
            shard_mask: n - 1,
            per_shard,
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, ShardInner<K>> {
        let i = ((hash >> 32) as usize) & self.shard_mask;
        let shard = self.shards.get(i).unwrap_or(&self.shards[0]);
        // A panic cannot leave a shard half-updated (every update is a single assignment),
        // so a poisoned lock is safe to keep using.
        shard
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one request for `key` at `now_ms` against `limit` per `window`, atomically.
    pub fn check(
        &self,
        key: &K,
        window: &SlidingWindow,
        limit: NonZeroU32,
        now_ms: u64,
    ) -> Decision {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash);
        if let Some((_, state)) = shard.table.find_mut(hash, |(k, _)| k == key) {
            let ev = window.evaluate(Some(*state), now_ms, limit);
            if let Some(next) = ev.next {
                *state = next;
                if next.window > shard.latest {
                    shard.latest = next.window;
                }
            }
            return ev.decision;
        }
        let ev = window.evaluate(None, now_ms, limit);
        if let Some(next) = ev.next {
            self.insert(&mut shard, hash, key.clone(), next);
        }
        ev.decision
    }

    /// The stored state of `key`.
    pub fn get(&self, key: &K) -> Option<WindowState> {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        shard.table.find(hash, |(k, _)| k == key).map(|(_, s)| *s)
    }

    /// The compare-and-swap of [`RateLimitStore`], synchronously.
    pub fn compare_and_swap_sync(
        &self,
        key: &K,
        expected: Option<WindowState>,
        new: WindowState,
    ) -> CasOutcome {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash);
        match shard.table.find_mut(hash, |(k, _)| k == key) {
            Some((_, state)) => {
                if Some(*state) != expected {
                    return CasOutcome::Conflict(Some(*state));
                }
                *state = new;
                if new.window > shard.latest {
                    shard.latest = new.window;
                }
                CasOutcome::Swapped
            }
            None => {
                if expected.is_some() {
                    return CasOutcome::Conflict(None);
                }
                self.insert(&mut shard, hash, key.clone(), new);
                CasOutcome::Swapped
            }
        }
    }

    fn insert(&self, shard: &mut ShardInner<K>, hash: u64, key: K, state: WindowState) {
        if state.window > shard.latest {
            shard.latest = state.window;
        }
        let now = shard.latest;
        if shard.swept != now {
            retain_recent(shard, now.saturating_sub(1));
            shard.swept = now;
        }
        if shard.table.len() >= self.per_shard {
            // Stalest first: keys not counted in the current window.
            retain_recent(shard, now);
        }
        if shard.table.len() >= self.per_shard {
            let keep = self.per_shard - self.per_shard.div_ceil(8);
            let mut seen = 0usize;
            shard.table.retain(|_| {
                seen += 1;
                seen <= keep
            });
        }
        let hasher = &self.hasher;
        shard
            .table
            .insert_unique(hash, (key, state), |(k, _)| hasher.hash_one(k));
    }

    /// Drops every key whose state no longer matters at window index `window.window_index
    /// (now_ms)`. Hosts may call it from a timer; inserts also sweep lazily.
    pub fn sweep(&self, window: &SlidingWindow, now_ms: u64) {
        let k = window.window_index(now_ms);
        for shard in self.shards.iter() {
            let mut s = shard
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if k > s.latest {
                s.latest = k;
            }
            retain_recent(&mut s, k.saturating_sub(1));
            s.swept = k;
        }
    }

    /// The number of tracked keys.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.inner
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .table
                    .len()
            })
            .sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this store tracks at once.
    pub fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }

    /// Bytes held by the store: its shard array plus every shard's table allocation (not
    /// counting heap data owned by keys, e.g. an API key id's string).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of_val(&*self.shards)
            + self
                .shards
                .iter()
                .map(|s| {
                    s.inner
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .table
                        .allocation_size()
                })
                .sum::<usize>()
    }
}

/// Keeps only the keys counted in window `min_window` or later.
fn retain_recent<K>(shard: &mut ShardInner<K>, min_window: u64) {
    shard.table.retain(|(_, s)| s.window >= min_window);
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl RateLimitStore for MemoryRateLimitStore<RateLimitKey> {
    async fn load(&self, key: &RateLimitKey) -> Result<Option<WindowState>, StoreError> {
        Ok(self.get(key))
    }

    /// `ttl` is not needed here: idle keys are recognised by their window index.
    async fn compare_and_swap(
        &self,
        key: &RateLimitKey,
        expected: Option<WindowState>,
        new: WindowState,
        _ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        Ok(self.compare_and_swap_sync(key, expected, new))
    }

    /// One evaluation under the shard's lock ([`MemoryRateLimitStore::check`]): the
    /// load + compare-and-swap loop is not needed in process.
    async fn check_and_count(
        &self,
        key: &RateLimitKey,
        window: &SlidingWindow,
        limit: NonZeroU32,
        now_ms: u64,
    ) -> Result<Decision, StoreError> {
        Ok(self.check(key, window, limit, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn small(capacity: usize, shards: usize) -> MemoryRateLimitStore<IpAddr> {
        MemoryRateLimitStore::new(MemoryStoreConfig {
            capacity: NonZeroUsize::new(capacity).unwrap(),
            shards: NonZeroUsize::new(shards).unwrap(),
        })
    }

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(i))
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_within_capacity() {
        let store = small(1_000, 4);
        let win = SlidingWindow::from_secs(nz(60));
        for i in 0..100_000 {
            let d = store.check(&ip(i), &win, nz(5), 1_000);
            assert!(d.is_allowed());
            assert!(store.len() <= store.capacity());
        }
        assert!(store.len() >= store.capacity() * 7 / 8 - 4);
    }

    #[test]
    fn idle_keys_are_swept_and_stalest_go_first() {
        let store = small(8, 1);
        let win = SlidingWindow::from_secs(nz(1));
        for i in 0..4 {
            store.check(&ip(i), &win, nz(5), 500);
        }
        // Three windows later, inserting a new key sweeps the four idle ones.
        store.check(&ip(100), &win, nz(5), 3_500);
        assert_eq!(store.len(), 1);
        for i in 0..7 {
            store.check(&ip(200 + i), &win, nz(5), 4_500);
        }
        assert_eq!(store.len(), 8);
        // Full: the key last counted in window 3 goes first.
        store.check(&ip(300), &win, nz(5), 4_600);
        assert_eq!(store.len(), 8);
        assert_eq!(store.get(&ip(100)), None);
        store.sweep(&win, 10_000);
        assert!(store.is_empty());
    }

    #[test]
    fn refusals_do_not_insert() {
        let store = small(8, 1);
        let win = SlidingWindow::from_secs(nz(60));
        let s = WindowState {
            window: 0,
            prev: 0,
            curr: 1,
        };
        assert_eq!(
            store.compare_and_swap_sync(&ip(1), Some(s), s),
            CasOutcome::Conflict(None)
        );
        assert_eq!(
            store.compare_and_swap_sync(&ip(1), None, s),
            CasOutcome::Swapped
        );
        assert_eq!(
            store.compare_and_swap_sync(&ip(1), None, s),
            CasOutcome::Conflict(Some(s))
        );
        assert!(!store.check(&ip(1), &win, nz(1), 10).is_allowed());
        assert_eq!(store.len(), 1);
        assert!(store.memory_bytes() > 0);
    }
}
