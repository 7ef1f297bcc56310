//! The key itself: `cutty_` + 26 random base62 characters + a 6-character CRC32 checksum.

use std::fmt;
use std::str::FromStr;

use rand::CryptoRng;
use zeroize::Zeroizing;

use crate::error::Error;

/// Every key starts with this, so scanners and hosts can tell a key from a JWT.
pub const KEY_PREFIX: &str = "cutty_";
/// Total length of a key in bytes (all ASCII): `cutty_` + 32 base62 characters.
pub const KEY_LEN: usize = 38;
/// Random base62 characters after the prefix (26 × log2 62 ≈ 154.8 bits of entropy).
pub const RANDOM_LEN: usize = 26;
/// Base62 characters of the CRC32 checksum at the end.
pub const CHECKSUM_LEN: usize = 6;
/// Length of the display prefix kept in the store: `cutty_` + the first 4 random characters
/// (≈ 23.8 bits revealed, ≈ 131 bits left secret).
pub const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 4;

const BODY_LEN: usize = KEY_PREFIX.len() + RANDOM_LEN; // what the checksum covers: 32 bytes
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plaintext API key (`cutty_` + 32 base62 characters), valid in format and checksum.
///
/// This is the secret itself: it is shown to its owner once, at creation, and otherwise only
/// ever exists in a request. Its [`Debug`] shows only the display prefix, it has no
/// `Display`, and its bytes are zeroized on drop. Read it with [`ApiKey::expose_secret`].
#[derive(Clone)]
pub struct ApiKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl ApiKey {
    /// Generates a fresh key from `rng`.
    ///
    /// Production code must pass the operating system's CSPRNG
    /// (`&mut rand::rngs::OsRng.unwrap_err()` with `rand::TryRngCore` in scope, or `rand::rng()` which is reseeded from it); the
    /// `CryptoRng` bound keeps non-cryptographic generators out. Tests may pass a seeded
    /// `StdRng`. Each character is drawn uniformly from the 62-letter alphabet by rejection
    /// sampling (bytes ≥ 248 are discarded), so no character is more likely than another.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes[..KEY_PREFIX.len()].copy_from_slice(KEY_PREFIX.as_bytes());
        let mut pool = Zeroizing::new([0u8; 48]);
        let mut filled = KEY_PREFIX.len();
        while filled < BODY_LEN {
            rng.fill_bytes(&mut pool[..]);
            for &b in pool.iter() {
                if filled == BODY_LEN {
                    break;
                }
                // 248 = 4 × 62: accepting only bytes below it keeps the draw uniform.
                if b < 248 {
                    bytes[filled] = ALPHABET[usize::from(b % 62)];
                    filled += 1;
                }
            }
        }
        let checksum = encode_checksum(crc32fast::hash(&bytes[..BODY_LEN]));
        bytes[BODY_LEN..].copy_from_slice(&checksum);
        Self { bytes }
    }

    /// Parses a presented key strictly: exactly 38 bytes, the `cutty_` prefix, 32 characters
    /// of `[0-9A-Za-z]`, and a checksum that matches. Anything else is
    /// [`Error::ApiKeyMalformed`] (`API_001`), decided without touching any store.
    ///
    /// The checksum is the CRC32 (IEEE, as `crc32fast` computes it) of the first 32 bytes —
    /// the prefix `cutty_` *and* the 26 random characters, i.e. everything before the
    /// checksum — written in base62 (alphabet `0-9A-Za-z`, most significant digit first)
    /// and left-padded with `0` to 6 characters. It catches typos and made-up keys; it is
    /// not a secret and proves nothing about authenticity.
    pub fn parse(presented: &str) -> Result<Self, Error> {
        let input = presented.as_bytes();
        if input.len() != KEY_LEN || !input.starts_with(KEY_PREFIX.as_bytes()) {
            return Err(Error::ApiKeyMalformed);
        }
        if !input[KEY_PREFIX.len()..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
        {
            return Err(Error::ApiKeyMalformed);
        }
        let (body, checksum) = input.split_at(BODY_LEN);
        let expected = decode_checksum(checksum).ok_or(Error::ApiKeyMalformed)?;
        if u64::from(crc32fast::hash(body)) != expected {
            return Err(Error::ApiKeyMalformed);
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(input);
        Ok(Self { bytes })
    }

    /// The whole key as text. Every call site of this function is a place where the secret
    /// leaves Cutty: the create response, and hashing.
    pub fn expose_secret(&self) -> &str {
        // Only ASCII alphanumerics and `_` are ever stored in `bytes`.
        std::str::from_utf8(&self.bytes[..]).unwrap_or_default()
    }

    /// The key's bytes, for hashing.
    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The display prefix stored next to the hash and shown in listings, e.g. `cutty_a1B2`
    /// ([`DISPLAY_PREFIX_LEN`] characters). Not secret.
    pub fn display_prefix(&self) -> &str {
        self.expose_secret()
            .get(..DISPLAY_PREFIX_LEN)
            .unwrap_or(KEY_PREFIX)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("prefix", &self.display_prefix())
            .finish_non_exhaustive()
    }
}

impl FromStr for ApiKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.bytes[..].ct_eq(&other.bytes[..]).into()
    }
}
impl Eq for ApiKey {}

/// Whether `credential` is meant to be an API key rather than a JWT: it starts with `cutty_`.
///
/// A host that reads `Authorization: Bearer …` uses this to pick the verifier; the key is then
/// checked strictly by [`ApiKey::parse`] (a `cutty_…` value that is not a valid key is
/// `API_001`, never retried as a JWT — a JWT's first segment is base64url JSON and never
/// starts with `cutty_`).
pub fn looks_like_api_key(credential: &str) -> bool {
    credential.starts_with(KEY_PREFIX)
}

fn encode_checksum(mut value: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

fn decode_checksum(digits: &[u8]) -> Option<u64> {
    // 62^6 < 2^36: six digits always fit in a u64.
    digits.iter().try_fold(0u64, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        Some(acc * 62 + u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn key(seed: u64) -> ApiKey {
        ApiKey::generate(&mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn format_is_prefix_random_checksum() {
        let k = key(1);
        let s = k.expose_secret();
        assert_eq!(s.len(), 38);
        assert!(s.starts_with("cutty_"));
        assert!(s[6..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let crc = crc32fast::hash(&s.as_bytes()[..32]);
        assert_eq!(
            &s[32..],
            std::str::from_utf8(&encode_checksum(crc)).unwrap()
        );
        assert_eq!(k.display_prefix(), &s[..10]);
        assert!(looks_like_api_key(s));
        assert!(!looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }

    #[test]
    fn checksum_known_answers() {
        assert_eq!(&encode_checksum(0), b"000000");
        assert_eq!(&encode_checksum(61), b"00000z");
        assert_eq!(&encode_checksum(62), b"000010");
        assert_eq!(&encode_checksum(u32::MAX), b"4gfFC3");
        assert_eq!(decode_checksum(b"4gfFC3"), Some(u64::from(u32::MAX)));
        assert_eq!(decode_checksum(b"zzzzzz"), Some(62u64.pow(6) - 1));
        assert_eq!(decode_checksum(b"zz-zzz"), None);
    }

    #[test]
    fn hand_built_key_parses() {
        // A key assembled independently of `generate`: body, then CRC32 over the 32 bytes.
        let body = "cutty_ABCDEFGHIJKLMNOPQRSTUVWXYz";
        let crc = crc32fast::hash(body.as_bytes());
        let mut n = crc;
        let mut digits = Vec::new();
        for _ in 0..6 {
            digits.push(ALPHABET[(n % 62) as usize]);
            n /= 62;
        }
        digits.reverse();
        let full = format!("{body}{}", String::from_utf8(digits).unwrap());
        let k = ApiKey::parse(&full).unwrap();
        assert_eq!(k.expose_secret(), full);
    }

    #[test]
    fn malformed_inputs_are_api_001() {
        let good = key(7).expose_secret().to_owned();
        let cases = [
            String::new(),
            "cutty_".into(),
            good[..37].into(),
            format!("{good}0"),
            good.replacen("cutty_", "Cutty_", 1),
            good.replacen("cutty_", "cutty-", 1),
            format!("{}!{}", &good[..10], &good[11..]),
            format!("{}é{}", &good[..10], &good[12..]),
            format!(" {}", &good[1..]),
        ];
        for case in cases {
            let err = ApiKey::parse(&case).unwrap_err();
            assert!(matches!(err, Error::ApiKeyMalformed), "{case:?}");
            assert_eq!(err.code().as_str(), "API_001");
        }
    }

    #[test]
    fn debug_redacts() {
        let k = key(3);
        let dbg = format!("{k:?}");
        assert!(dbg.contains(k.display_prefix()));
        assert!(!dbg.contains(&k.expose_secret()[10..]));
    }

    #[test]
    fn generation_is_uniform_enough() {
        // 2000 keys × 26 characters: each of the 62 letters expected ~839 times.
        let mut rng = StdRng::seed_from_u64(99);
        let mut counts = [0u32; 62];
        for _ in 0..2000 {
            let k = ApiKey::generate(&mut rng);
            for b in k.expose_secret().as_bytes()[6..32].iter() {
                let i = ALPHABET.iter().position(|a| a == b).unwrap();
                counts[i] += 1;
            }
        }
        assert!(
            counts.iter().all(|&c| (600..1100).contains(&c)),
            "{counts:?}"
        );
    }

    proptest! {
        #[test]
        fn generated_keys_always_parse(seed in any::<u64>()) {
            let k = key(seed);
            let parsed = ApiKey::parse(k.expose_secret()).unwrap();
            prop_assert_eq!(parsed, k);
        }

        #[test]
        fn any_single_character_change_is_rejected(
            seed in any::<u64>(),
            pos in 0usize..38,
            replacement in any::<char>(),
        ) {
            let k = key(seed);
            let original = k.expose_secret();
            let mut chars: Vec<char> = original.chars().collect();
            prop_assume!(chars[pos] != replacement);
            chars[pos] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(matches!(ApiKey::parse(&changed), Err(Error::ApiKeyMalformed)));
        }

        #[test]
        fn single_base62_substitution_is_caught_by_checksum(
            seed in any::<u64>(),
            pos in 6usize..38,
            letter in 0usize..62,
        ) {
            let k = key(seed);
            let mut bytes = k.expose_secret().as_bytes().to_vec();
            prop_assume!(bytes[pos] != ALPHABET[letter]);
            bytes[pos] = ALPHABET[letter];
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(matches!(ApiKey::parse(&changed), Err(Error::ApiKeyMalformed)));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = ApiKey::parse(&s);
            let _ = looks_like_api_key(&s);
        }

        #[test]
        fn arbitrary_prefixed_strings_never_panic(s in "cutty_[0-9A-Za-z]{0,40}") {
            let _ = ApiKey::parse(&s);
        }
    }
}
