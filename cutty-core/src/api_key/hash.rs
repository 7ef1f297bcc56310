//! Keyed hashing of keys: HMAC-SHA256 under `API_KEY_SALT`, with several salts at once.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::key::ApiKey;

/// HMAC-SHA256 (RFC 2104) with both pad blocks already compressed, shared with PBKDF2
/// (`crate::password::pbkdf2_fast`): hashing a 38-byte key is then exactly two compressions
/// of one block each, and the states are wiped on drop.
type PadStates = crate::password::pbkdf2_fast::PadStates<crate::password::pbkdf2_fast::Sha256>;

/// Shortest accepted salt secret, in bytes. HMAC-SHA256 keys shorter than the 32-byte output
/// weaken it; 16 is the floor we accept, 32 random bytes is what we recommend.
pub const MIN_SALT_LEN: usize = 16;

/// Why an [`ApiKeyHasher`] could not be built. A configuration problem, seen at start-up,
/// never by clients.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyConfigError {
    /// A salt id is empty, longer than 64 bytes, or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid API-key salt id")]
    InvalidSaltId,
    /// A salt secret is shorter than [`MIN_SALT_LEN`] bytes.
    #[error("API-key salt shorter than {MIN_SALT_LEN} bytes")]
    SaltTooShort,
    /// Two salts share one id.
    #[error("duplicate API-key salt id")]
    DuplicateSaltId,
}

/// The stable name of one salt, stored next to every hash it made (like a JWT `kid`):
/// 1–64 characters of `[A-Za-z0-9._-]`, e.g. `"2025q1"`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct SaltId(String);

impl SaltId {
    /// Validates and wraps a salt id.
    pub fn new(id: impl Into<String>) -> Result<Self, ApiKeyConfigError> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(id))
        } else {
            Err(ApiKeyConfigError::InvalidSaltId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SaltId {
    type Error = ApiKeyConfigError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<SaltId> for String {
    fn from(id: SaltId) -> Self {
        id.0
    }
}

impl fmt::Display for SaltId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// HMAC-SHA256 of a key: what the store keeps instead of the key.
///
/// Compare with [`KeyHash::ct_eq`] (constant time; `PartialEq` is constant-time too). Its
/// `Debug` is redacted; [`KeyHash::to_hex`]/[`KeyHash::from_hex`] are the storage encoding
/// (64 lowercase hex digits; serde uses the same).
#[derive(Clone, Copy)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Wraps raw HMAC output (e.g. read from a `BYTEA`/`BLOB` column).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }

    /// Parses 64 hex digits (either case). `None` for anything else.
    pub fn from_hex(s: &str) -> Option<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Self(out))
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}
impl Eq for KeyHash {}

impl std::hash::Hash for KeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

impl serde::Serialize for KeyHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for KeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("key hash is not 64 hex digits"))
    }
}

/// One `API_KEY_SALT` secret with its id. The secret bytes are zeroized on drop and never
/// shown by `Debug`.
pub struct ApiKeySalt {
    id: SaltId,
    secret: Zeroizing<Vec<u8>>,
}

impl ApiKeySalt {
    /// A salt named `id` with secret `secret` (at least [`MIN_SALT_LEN`] bytes; the
    /// `API_KEY_SALT` value's UTF-8 bytes are used as they are).
    pub fn new(id: SaltId, secret: impl Into<Vec<u8>>) -> Result<Self, ApiKeyConfigError> {
        let secret = Zeroizing::new(secret.into());
        if secret.len() < MIN_SALT_LEN {
            return Err(ApiKeyConfigError::SaltTooShort);
        }
        Ok(Self { id, secret })
    }

    /// The salt's id.
    pub fn id(&self) -> &SaltId {
        &self.id
    }
}

impl fmt::Debug for ApiKeySalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySalt")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

struct PreparedSalt {
    id: SaltId,
    /// The pad states, computed once.
    pads: PadStates,
}

/// What comparing a key with a stored `(salt_id, key_hash)` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCheck {
    /// The key matches. `needs_rehash` is true when the hash was made under an older salt:
    /// the host should store [`ApiKeyHasher::hash`] of the key in its place.
    Match {
        /// The stored hash was made under a salt that is no longer the current one.
        needs_rehash: bool,
    },
    /// The key does not match the hash.
    Mismatch,
    /// The hash names a salt this hasher no longer knows (retired): the key cannot be
    /// verified.
    UnknownSalt,
}

/// The salts known at once: the current one (hashes new keys; tried first) and older ones
/// still accepted so that rotating `API_KEY_SALT` does not invalidate every key.
///
/// Each salt's HMAC pad states are computed once at construction (a verification is then
/// two SHA-256 compressions). The raw salt secrets are zeroized as soon as the states are
/// prepared, and the states are zeroized when the hasher is dropped.
///
/// Rotation: add the new salt as current and keep the old one as previous
/// ([`ApiKeyHasher::with_previous`]); keys hashed under it keep verifying, report
/// `needs_rehash`, and are migrated on use. Remove the old salt once no stored hash names it
/// (or accept that keys unused since then stop working — they answer `API_002`).
pub struct ApiKeyHasher {
    /// `salts[0]` is the current salt; the rest are older, in the order given.
    salts: Vec<PreparedSalt>,
}

impl ApiKeyHasher {
    /// A hasher with one (current) salt.
    pub fn new(current: ApiKeySalt) -> Self {
        Self {
            salts: vec![Self::prepare(current)],
        }
    }

    /// Adds an older salt, still accepted for verification. Salts added earlier are tried
    /// first.
    pub fn with_previous(mut self, older: ApiKeySalt) -> Result<Self, ApiKeyConfigError> {
        if self.salts.iter().any(|s| s.id == older.id) {
            return Err(ApiKeyConfigError::DuplicateSaltId);
        }
        self.salts.push(Self::prepare(older));
        Ok(self)
    }

    fn prepare(salt: ApiKeySalt) -> PreparedSalt {
        let pads = PadStates::new(&salt.secret);
        PreparedSalt { id: salt.id, pads }
        // `salt.secret` is zeroized here, on drop.
    }

    /// The id of the salt new keys are hashed under.
    pub fn current_salt_id(&self) -> &SaltId {
        &self.salts[0].id
    }

    /// Every known salt id, current first.
    pub fn salt_ids(&self) -> impl Iterator<Item = &SaltId> {
        self.salts.iter().map(|s| &s.id)
    }

    fn mac(prepared: &PreparedSalt, key: &ApiKey) -> KeyHash {
        KeyHash(prepared.pads.mac_bytes(key.as_bytes()))
    }

    /// Hashes `key` under the current salt: what a new (or rehashed) record stores.
    pub fn hash(&self, key: &ApiKey) -> (SaltId, KeyHash) {
        let current = &self.salts[0];
        (current.id.clone(), Self::mac(current, key))
    }

    /// Hashes `key` under the salt named `salt_id`, if known.
    pub fn hash_with(&self, salt_id: &SaltId, key: &ApiKey) -> Option<KeyHash> {
        self.salts
            .iter()
            .find(|s| &s.id == salt_id)
            .map(|s| Self::mac(s, key))
    }

    /// `(salt id, hash)` of `key` under every known salt, current first: the look-ups to try
    /// in the store.
    pub fn candidates<'a>(
        &'a self,
        key: &'a ApiKey,
    ) -> impl Iterator<Item = (&'a SaltId, KeyHash)> + 'a {
        self.salts.iter().map(move |s| (&s.id, Self::mac(s, key)))
    }

    /// Whether `salt_id` names an older (non-current) salt.
    pub fn is_outdated(&self, salt_id: &SaltId) -> bool {
        salt_id != self.current_salt_id()
    }

    /// Checks `key` against a stored `(salt_id, expected)` in constant time.
    pub fn verify(&self, key: &ApiKey, salt_id: &SaltId, expected: &KeyHash) -> HashCheck {
        match self.hash_with(salt_id, key) {
            None => HashCheck::UnknownSalt,
            Some(h) if h.ct_eq(expected) => HashCheck::Match {
                needs_rehash: self.is_outdated(salt_id),
            },
            Some(_) => HashCheck::Mismatch,
        }
    }
}

impl fmt::Debug for ApiKeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyHasher")
            .field(
                "salt_ids",
                &self.salts.iter().map(|s| &s.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use sha2::Sha256;

    fn salt(id: &str, secret: &str) -> ApiKeySalt {
        ApiKeySalt::new(SaltId::new(id).unwrap(), secret).unwrap()
    }

    #[test]
    fn hmac_matches_a_fresh_hmac_of_the_key_text() {
        let key = ApiKey::generate(&mut StdRng::seed_from_u64(5));
        let hasher = ApiKeyHasher::new(salt("s1", "0123456789abcdef-secret"));
        let (id, h) = hasher.hash(&key);
        assert_eq!(id.as_str(), "s1");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef-secret").unwrap();
        mac.update(key.expose_secret().as_bytes());
        assert_eq!(h.as_bytes()[..], mac.finalize().into_bytes()[..]);
    }

    #[test]
    fn key_hash_hex_serde_and_debug() {
        let h = KeyHash::from_bytes([0xab; 32]);
        assert_eq!(h.to_hex(), "ab".repeat(32));
        assert_eq!(KeyHash::from_hex(&"AB".repeat(32)), Some(h));
        assert_eq!(KeyHash::from_hex("ab"), None);
        assert_eq!(KeyHash::from_hex(&"zz".repeat(32)), None);
        assert_eq!(format!("{h:?}"), "KeyHash(..)");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<KeyHash>(&json).unwrap(), h);
    }

    #[test]
    fn rotation_old_salt_verifies_and_needs_rehash() {
        let key = ApiKey::generate(&mut StdRng::seed_from_u64(9));
        let old = ApiKeyHasher::new(salt("2024q4", "old-secret-old-secret"));
        let (old_id, old_hash) = old.hash(&key);

        let rotated = ApiKeyHasher::new(salt("2025q1", "new-secret-new-secret"))
            .with_previous(salt("2024q4", "old-secret-old-secret"))
            .unwrap();
        assert_eq!(
            rotated.verify(&key, &old_id, &old_hash),
            HashCheck::Match { needs_rehash: true }
        );
        let (new_id, new_hash) = rotated.hash(&key);
        assert_eq!(new_id.as_str(), "2025q1");
        assert_eq!(
            rotated.verify(&key, &new_id, &new_hash),
            HashCheck::Match {
                needs_rehash: false
            }
        );
        assert_ne!(new_hash, old_hash);
        let ids: Vec<_> = rotated.candidates(&key).map(|(id, _)| id.clone()).collect();
        assert_eq!(ids, [new_id.clone(), old_id.clone()]);

        let retired = ApiKeyHasher::new(salt("2025q1", "new-secret-new-secret"));
        assert_eq!(
            retired.verify(&key, &old_id, &old_hash),
            HashCheck::UnknownSalt
        );
        let other = ApiKey::generate(&mut StdRng::seed_from_u64(10));
        assert_eq!(
            retired.verify(&other, &new_id, &new_hash),
            HashCheck::Mismatch
        );
    }

    #[test]
    fn config_errors() {
        assert_eq!(SaltId::new(""), Err(ApiKeyConfigError::InvalidSaltId));
        assert_eq!(SaltId::new("a b"), Err(ApiKeyConfigError::InvalidSaltId));
        assert_eq!(
            SaltId::new("x".repeat(65)),
            Err(ApiKeyConfigError::InvalidSaltId)
        );
        assert!(SaltId::new("2025-q1.v_2").is_ok());
        assert_eq!(
            ApiKeySalt::new(SaltId::new("a").unwrap(), "short").unwrap_err(),
            ApiKeyConfigError::SaltTooShort
        );
        let dup = ApiKeyHasher::new(salt("a", "0123456789abcdef"))
            .with_previous(salt("a", "fedcba9876543210"));
        assert_eq!(dup.unwrap_err(), ApiKeyConfigError::DuplicateSaltId);
        assert!(serde_json::from_str::<SaltId>("\"bad id\"").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = salt("k1", "super-secret-value-123");
        assert!(!format!("{s:?}").contains("super-secret"));
        let h = ApiKeyHasher::new(s);
        let dbg = format!("{h:?}");
        assert!(dbg.contains("k1") && !dbg.contains("super-secret"));
    }

    proptest! {
        /// The two-compression HMAC equals the `hmac` crate's for any salt length (short,
        /// exactly one block, longer than a block — hashed first) and any key.
        #[test]
        fn pad_state_hmac_equals_the_hmac_crate(
            secret in proptest::collection::vec(any::<u8>(), 16..200),
            seed in any::<u64>(),
        ) {
            let key = ApiKey::generate(&mut StdRng::seed_from_u64(seed));
            let ours = PadStates::new(&secret).mac_bytes(key.as_bytes());
            let mut reference = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            reference.update(key.as_bytes());
            prop_assert_eq!(&ours[..], &reference.finalize().into_bytes()[..]);
        }
    }

    #[test]
    fn pad_state_hmac_at_block_boundaries() {
        let key = ApiKey::generate(&mut StdRng::seed_from_u64(1));
        for len in [16, 63, 64, 65, 128] {
            let secret = vec![0xa5u8; len];
            let mut reference = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            reference.update(key.as_bytes());
            assert_eq!(
                PadStates::new(&secret).mac_bytes(key.as_bytes())[..],
                reference.finalize().into_bytes()[..],
                "salt length {len}"
            );
        }
    }
}
