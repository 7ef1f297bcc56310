//! A [`Hasher`] for maps whose keys are already keyed hashes: the hash goes through as it
//! is (the in-memory lockout store, the verified-token cache and the file list's set of row
//! hashes find entries this way).

use std::hash::{BuildHasherDefault, Hasher};

/// Passes a precomputed `u64` (or the low 64 bits of a `u128`) through; the maps that use
/// it only ever feed it one.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

/// The `BuildHasher` of a map keyed by precomputed hashes.
pub(crate) type PassThroughBuilder = BuildHasherDefault<PassThrough>;

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is meant to be called; fold anything else in rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u128(&mut self, n: u128) {
        // The low half of a uniformly distributed hash is one too.
        self.0 = n as u64;
    }
}
