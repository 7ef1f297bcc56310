//! [`VerifiedTokenCache`]: access tokens whose signature and claims were already checked.
//!
//! # Why
//! A client sends the same access token on every request for its whole life (15 minutes by
//! default). Checking its signature and decoding its claims each time is the largest part
//! of an authenticated request's cost in Cutty (see `BENCHMARKS.md`); remembering the
//! result of that check, keyed by the exact token, removes it for every request but the
//! first.
//!
//! # What it does not change
//! The cache stands in for [`TokenCodec::verify`](super::TokenCodec::verify) only: the
//! store checks that follow it in
//! [`TokenService::verify_access`](super::TokenService::verify_access) — revoked `jti`,
//! the user's not-before mark (password change, invalidation), revoked family — and the
//! host's user look-up run on every request, so logout and invalidation take effect at
//! once. A hit is only answered inside the times the token verifies at (its `iat`/`nbf` to
//! its `exp`, with the leeway); outside them the token is verified again, which gives the
//! same error a verification would.
//!
//! # Security
//! * Only tokens that passed the full verification are inserted; a forged or altered token
//!   never matches an entry, since a hit needs the **whole** token equal, byte for byte.
//! * Entries are found by a 64-bit SipHash of the token's last 16 bytes (96 bits of a JWT's
//!   signature) under a random per-process key, then the whole stored token is compared in constant
//!   time: a probe learns
//!   nothing about a cached token from timing beyond what guessing a keyed hash would.
//! * Bounded: at most the configured number of entries (in 16 shards); a full shard drops
//!   its expired entries, then an arbitrary one. Only valid tokens get in, so filling it
//!   takes as many logins as entries.
//! * A cache lives inside one [`TokenService`](super::TokenService) and its keys: new keys
//!   mean a new service and an empty cache.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use subtle::ConstantTimeEq;

use super::VerifiedClaims;
use crate::prehashed::PassThroughBuilder;

/// Default [`TokenConfig::verified_cache_entries`](super::TokenConfig::verified_cache_entries).
pub const DEFAULT_VERIFIED_CACHE_ENTRIES: usize = 16_384;

const SHARDS: usize = 16;

/// A bounded map from an access token to its verified claims (see the [module docs](self)).
pub struct VerifiedTokenCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
}

/// Keys are already keyed hashes: the map uses them as they are.
type Shard = HashMap<u64, Entry, PassThroughBuilder>;

struct Entry {
    token: Box<[u8]>,
    claims: VerifiedClaims,
    valid: Range<i64>,
}

impl VerifiedTokenCache {
    /// A cache of at most `entries` tokens (rounded up to a multiple of 16); `0` turns it
    /// off (every look-up misses, nothing is stored).
    pub fn new(entries: usize) -> Self {
        let per_shard = entries.div_ceil(SHARDS);
        let shards = (0..if per_shard == 0 { 0 } else { SHARDS })
            .map(|_| Mutex::new(Shard::default()))
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            per_shard,
        }
    }

    /// Whether the cache stores anything at all.
    pub fn is_enabled(&self) -> bool {
        !self.shards.is_empty()
    }

    /// The claims of `token` if it was verified before and `now_ms` is inside the times it
    /// verifies at.
    ///
    /// `token` is raw bytes: a hit means they equal, byte for byte, a token that passed the
    /// full verification, so a caller may skip its own syntax checks on a hit (see
    /// [`TokenService::verify_access_seen`](super::TokenService::verify_access_seen)).
    pub fn get(&self, token: &[u8], now_ms: i64) -> Option<VerifiedClaims> {
        let (key, shard) = self.locate(token)?;
        let map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get(&key)?;
        let same = constant_time_eq(&entry.token, token);
        (same && entry.valid.contains(&now_ms)).then(|| entry.claims.clone())
    }

    /// Remembers that `token` verified to `claims`, valid at the times `valid` (Unix ms).
    pub fn insert(&self, token: &str, claims: &VerifiedClaims, valid: Range<i64>, now_ms: i64) {
        let Some((key, shard)) = self.locate(token.as_bytes()) else {
            return;
        };
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.per_shard && !map.contains_key(&key) {
            map.retain(|_, e| e.valid.end > now_ms);
            if map.len() >= self.per_shard
                && let Some(victim) = map.keys().next().copied()
            {
                map.remove(&victim);
            }
        }
        map.insert(
            key,
            Entry {
                token: token.as_bytes().into(),
                claims: claims.clone(),
                valid,
            },
        );
    }

    /// Entries held now (expired ones included until their shard needs the room).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn locate(&self, token: &[u8]) -> Option<(u64, &Mutex<Shard>)> {
        if self.shards.is_empty() {
            return None;
        }
        let key = self.hasher.hash_one(lookup_part(token));
        // The low bits pick the shard; the map inside uses all of them.
        let index = usize::try_from(key % SHARDS as u64).unwrap_or(0);
        self.shards.get(index).map(|shard| (key, shard))
    }
}

/// The part of a token the look-up hashes: its last [`LOOKUP_BYTES`] bytes, which for a JWT
/// are the end of its signature (96 bits of MAC output: distinct for distinct valid tokens)
/// and a small fraction of the token to hash. Tokens that share them share a slot; the full
/// comparison tells them apart, and one that fails verification never takes the slot.
fn lookup_part(bytes: &[u8]) -> &[u8] {
    bytes
        .get(bytes.len().saturating_sub(LOOKUP_BYTES)..)
        .unwrap_or(bytes)
}

/// How much of a token [`lookup_part`] hashes.
const LOOKUP_BYTES: usize = 16;

/// Whether `a == b`, in time that depends on their lengths only. (`subtle`'s slice `ct_eq`
/// puts each byte through an optimisation barrier, which costs more than the rest of a
/// look-up; here the bytes are folded eight at a time and only the result goes through it.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a_words
        .remainder()
        .iter()
        .zip(b_words.remainder())
        .fold(0u64, |acc, (x, y)| acc | u64::from(x ^ y));
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes);
    let diff = a_words
        .zip(b_words)
        .fold(tail, |acc, (x, y)| acc | (word(x) ^ word(y)));
    diff.ct_eq(&0).into()
}

impl fmt::Debug for VerifiedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the tokens.
        f.debug_struct("VerifiedTokenCache")
            .field("capacity", &(self.per_shard * self.shards.len()))
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn constant_time_eq_is_eq(a in prop::collection::vec(any::<u8>(), 0..40), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
            prop_assert!(constant_time_eq(&a, &a.clone()));
            let mut b = a.clone();
            if !b.is_empty() {
                let i = flip.index(b.len());
                b[i] ^= 1 << bit;
                prop_assert!(!constant_time_eq(&a, &b));
            }
            let mut longer = a.clone();
            longer.push(0);
            prop_assert!(!constant_time_eq(&a, &longer));
        }
    }
}
