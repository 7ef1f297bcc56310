//! PBKDF2-HMAC over the raw SHA-1 / SHA-256 compression functions.
//!
//! Single-block PBKDF2 (the derived key is exactly one digest long, as Django uses it) with
//! the HMAC inner and outer pad states computed once per password. Each iteration is then
//! exactly two compressions of one fixed, already padded 64-byte block: the message of both
//! the inner and the outer hash is `64 + digest_len` bytes long, so the padding and the length
//! field are the same for both and are written once, before the loop.
//!
//! `sha2::compress256` picks SHA-NI (or AVX2/SSSE3) at run time through `cpufeatures`;
//! `sha1::compress` does the same for SHA-1.

use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;

type Block = GenericArray<u8, U64>;

/// One Merkle–Damgård hash with 64-byte blocks, big-endian words and a 64-bit bit-length.
pub(crate) trait Md: Copy {
    /// The chaining state, `[u32; 8]` or `[u32; 5]`.
    type State: Copy + AsRef<[u32]> + AsMut<[u32]>;
    /// Initial value.
    const IV: Self::State;
    /// Digest length in bytes (the state serialised big-endian).
    const OUT: usize;
    /// Compress blocks into the state.
    fn compress(state: &mut Self::State, blocks: &[Block]);
}

/// SHA-256.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sha256;

/// SHA-1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sha1;

impl Md for Sha256 {
    type State = [u32; 8];
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    const OUT: usize = 32;
    #[inline(always)]
    fn compress(state: &mut [u32; 8], blocks: &[Block]) {
        sha2::compress256(state, blocks);
    }
}

impl Md for Sha1 {
    type State = [u32; 5];
    const IV: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    const OUT: usize = 20;
    #[inline(always)]
    fn compress(state: &mut [u32; 5], blocks: &[Block]) {
        sha1::compress(state, blocks);
    }
}

/// Write the state big-endian into the first `4 * words` bytes of `out`.
#[inline(always)]
fn store_be(state: &[u32], out: &mut [u8]) {
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

/// Hash `data` starting from `state`, as if `prefix_len` bytes (a multiple of 64) had already
/// been compressed into it, and return the final state.
fn finish<H: Md>(mut state: H::State, prefix_len: u64, data: &[u8]) -> H::State {
    let mut chunks = data.chunks_exact(64);
    for chunk in &mut chunks {
        H::compress(&mut state, &[*Block::from_slice(chunk)]);
    }
    let rest = chunks.remainder();
    let bit_len = prefix_len
        .wrapping_add(data.len() as u64)
        .wrapping_mul(8)
        .to_be_bytes();
    let mut tail = [Block::default(), Block::default()];
    let blocks = if rest.len() < 56 { 1 } else { 2 };
    {
        let (first, second) = tail.split_at_mut(1);
        let bytes: &mut [u8] = &mut first[0];
        bytes[..rest.len()].copy_from_slice(rest);
        bytes[rest.len()] = 0x80;
        let last: &mut [u8] = if blocks == 1 { bytes } else { &mut second[0] };
        last[56..].copy_from_slice(&bit_len);
    }
    H::compress(&mut state, &tail[..blocks]);
    state
}

/// HMAC key states: the hash state after compressing `key ^ ipad`, and after `key ^ opad`.
/// Shared by PBKDF2 and API-key hashing; the states are derived from the secret and are
/// wiped on drop.
pub(crate) struct PadStates<H: Md> {
    inner: H::State,
    outer: H::State,
}

impl<H: Md> Drop for PadStates<H> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.inner.as_mut());
        zeroize::Zeroize::zeroize(self.outer.as_mut());
    }
}

impl<H: Md> PadStates<H> {
    /// Prepare the HMAC pad states for `key` (hashed first when longer than a block).
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            let digest = finish::<H>(H::IV, 0, key);
            store_be(digest.as_ref(), &mut k[..H::OUT]);
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut ipad = Block::default();
        let mut opad = Block::default();
        for ((i, o), b) in ipad.iter_mut().zip(opad.iter_mut()).zip(k.iter()) {
            *i = b ^ 0x36;
            *o = b ^ 0x5c;
        }
        let mut inner = H::IV;
        H::compress(&mut inner, core::slice::from_ref(&ipad));
        let mut outer = H::IV;
        H::compress(&mut outer, core::slice::from_ref(&opad));
        // Best effort: the key copy does not outlive this call.
        zeroize::Zeroize::zeroize(&mut k);
        Self { inner, outer }
    }

    /// HMAC of `message`, as bytes (`H::OUT` of the 32 are used).
    pub(crate) fn mac_bytes(&self, message: &[u8]) -> [u8; 32] {
        let state = self.mac(message);
        let mut out = [0u8; 32];
        store_be(state.as_ref(), &mut out[..H::OUT]);
        out
    }

    /// HMAC of an arbitrary message (used for the first PBKDF2 block).
    fn mac(&self, message: &[u8]) -> H::State {
        let inner = finish::<H>(self.inner, 64, message);
        let mut digest = [0u8; 32];
        store_be(inner.as_ref(), &mut digest[..H::OUT]);
        finish::<H>(self.outer, 64, &digest[..H::OUT])
    }
}

/// PBKDF2-HMAC-`H` with a derived key of exactly one digest (`H::OUT` bytes), written to
/// `out[..H::OUT]`. `iterations` must be at least 1 (0 is treated as 1).
pub(crate) fn pbkdf2<H: Md>(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    let pads = PadStates::<H>::new(password);
    pbkdf2_with_pads(&pads, salt, iterations, out);
}

/// [`pbkdf2`] with the pad states already prepared.
pub(crate) fn pbkdf2_with_pads<H: Md>(
    pads: &PadStates<H>,
    salt: &[u8],
    iterations: u32,
    out: &mut [u8],
) {
    // U_1 = HMAC(P, salt || INT_32_BE(1)).
    let mut first = Vec::with_capacity(salt.len() + 4);
    first.extend_from_slice(salt);
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = pads.mac(&first);
    let mut acc = u;

    // Both hashed messages in the loop are 64 (pad block) + OUT bytes long: one block with
    // the same padding and length field.
    let mut block = Block::default();
    block[H::OUT] = 0x80;
    block[56..].copy_from_slice(&(((64 + H::OUT) as u64) * 8).to_be_bytes());
    let block = core::slice::from_mut(&mut block);

    for _ in 1..iterations {
        store_be(u.as_ref(), &mut block[0][..H::OUT]);
        let mut inner = pads.inner;
        H::compress(&mut inner, block);
        store_be(inner.as_ref(), &mut block[0][..H::OUT]);
        u = pads.outer;
        H::compress(&mut u, block);
        for (a, w) in acc.as_mut().iter_mut().zip(u.as_ref()) {
            *a ^= *w;
        }
    }
    store_be(acc.as_ref(), &mut out[..H::OUT]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // RFC 6070 (PBKDF2-HMAC-SHA1), dkLen = 20.
    #[test]
    fn rfc6070_sha1() {
        let cases: &[(&[u8], &[u8], u32, &str)] = &[
            (
                b"password",
                b"salt",
                1,
                "0c60c80f961f0e71f3a9b524af6012062fe037a6",
            ),
            (
                b"password",
                b"salt",
                2,
                "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957",
            ),
            (
                b"password",
                b"salt",
                4096,
                "4b007901b765489abead49d926f721d065a429c1",
            ),
        ];
        for (p, s, c, want) in cases {
            let mut out = [0u8; 20];
            pbkdf2::<Sha1>(p, s, *c, &mut out);
            assert_eq!(hex(&out), *want);
        }
    }

    // RFC 7914 section 11 (PBKDF2-HMAC-SHA256), first 32 bytes of the 64-byte output.
    #[test]
    fn rfc7914_sha256() {
        let mut out = [0u8; 32];
        pbkdf2::<Sha256>(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        pbkdf2::<Sha256>(b"Password", b"NaCl", 80000, &mut out);
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn agrees_with_pbkdf2_crate_for_awkward_lengths() {
        for key_len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 200] {
            for salt_len in [0usize, 1, 51, 52, 55, 56, 60, 64, 100, 130] {
                let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
                let salt: Vec<u8> = (0..salt_len).map(|i| (i * 7) as u8).collect();
                let mut ours = [0u8; 32];
                let mut theirs = [0u8; 32];
                pbkdf2::<Sha256>(&key, &salt, 3, &mut ours);
                ::pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&key, &salt, 3, &mut theirs);
                assert_eq!(ours, theirs, "sha256 key {key_len} salt {salt_len}");
                let mut ours = [0u8; 20];
                let mut theirs = [0u8; 20];
                pbkdf2::<Sha1>(&key, &salt, 3, &mut ours);
                ::pbkdf2::pbkdf2_hmac::<sha1::Sha1>(&key, &salt, 3, &mut theirs);
                assert_eq!(ours, theirs, "sha1 key {key_len} salt {salt_len}");
            }
        }
    }
}
