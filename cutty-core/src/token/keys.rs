//! Signing and verification keys, and the keyring that holds them.

use std::fmt;

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{DecodingKey, EncodingKey};

use super::{Algorithm, AlgorithmFamily};

/// The shortest HMAC secret accepted, in bytes (RFC 7518 §3.2: a key at least as long as
/// the hash output; 32 bytes for HS256).
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// Why a key or keyring could not be built. A start-up error, never shown to clients.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// An HMAC secret shorter than the algorithm's hash output (see [`MIN_HMAC_SECRET_LEN`]).
    #[error("HMAC secret too short: {len} bytes, at least {min} required")]
    WeakSecret {
        /// Length given.
        len: usize,
        /// Length required for the algorithm.
        min: usize,
    },
    /// The PEM (or secret) could not be parsed as a key for this algorithm.
    #[error("key cannot be used with {0:?}")]
    InvalidKey(Algorithm),
    /// The constructor does not fit the algorithm's family (e.g. an HMAC secret for RS256).
    #[error("{0:?} does not take this kind of key")]
    WrongFamily(Algorithm),
    /// A `kid` that is empty or longer than 256 bytes.
    #[error("kid must be 1 to 256 bytes long")]
    BadKid,
    /// Two verification keys share a `kid` (or both have none).
    #[error("two verification keys share the kid {0:?}")]
    DuplicateKid(Option<String>),
    /// No process-wide `jsonwebtoken` crypto provider is available (both or neither of its
    /// `rust_crypto`/`aws_lc_rs` features are enabled and none was installed).
    #[error("jsonwebtoken has no crypto provider")]
    NoCryptoProvider,
}

pub(crate) fn provider() -> Result<&'static CryptoProvider, KeyError> {
    CryptoProvider::try_get_default().ok_or(KeyError::NoCryptoProvider)
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty() || kid.len() > 256 {
        Err(KeyError::BadKid)
    } else {
        Ok(())
    }
}

fn min_hmac_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => MIN_HMAC_SECRET_LEN,
    }
}

fn check_hmac_secret(alg: Algorithm, secret: &[u8]) -> Result<(), KeyError> {
    if alg.family() != AlgorithmFamily::Hmac {
        return Err(KeyError::WrongFamily(alg));
    }
    let min = min_hmac_len(alg);
    if secret.len() < min {
        return Err(KeyError::WeakSecret {
            len: secret.len(),
            min,
        });
    }
    Ok(())
}

/// An HMAC key with its inner and outer hash states computed once (two compressions saved
/// per token). The states are derived from the secret, so they are wiped on drop like it
/// (`sha2`'s `zeroize` feature).
#[derive(Clone)]
pub(crate) enum HmacKey {
    S256(hmac_013::Hmac<sha2_011::Sha256>),
    S384(hmac_013::Hmac<sha2_011::Sha384>),
    S512(hmac_013::Hmac<sha2_011::Sha512>),
}

impl HmacKey {
    fn new(alg: Algorithm, secret: &[u8]) -> Option<Self> {
        use hmac_013::KeyInit as _;
        match alg {
            Algorithm::HS256 => hmac_013::Hmac::new_from_slice(secret).ok().map(Self::S256),
            Algorithm::HS384 => hmac_013::Hmac::new_from_slice(secret).ok().map(Self::S384),
            Algorithm::HS512 => hmac_013::Hmac::new_from_slice(secret).ok().map(Self::S512),
            _ => None,
        }
    }

    /// Appends `base64url(HMAC(msg))` to `out`.
    pub(crate) fn sign_into(&self, msg: &[u8], out: &mut String) {
        use base64::Engine as _;
        use hmac_013::Mac as _;
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        match self {
            Self::S256(k) => {
                let mut m = k.clone();
                m.update(msg);
                engine.encode_string(m.finalize().into_bytes(), out);
            }
            Self::S384(k) => {
                let mut m = k.clone();
                m.update(msg);
                engine.encode_string(m.finalize().into_bytes(), out);
            }
            Self::S512(k) => {
                let mut m = k.clone();
                m.update(msg);
                engine.encode_string(m.finalize().into_bytes(), out);
            }
        }
    }

    /// Constant-time check of `tag` against `HMAC(msg)`.
    pub(crate) fn verify(&self, msg: &[u8], tag: &[u8]) -> bool {
        use hmac_013::Mac as _;
        match self {
            Self::S256(k) => {
                let mut m = k.clone();
                m.update(msg);
                m.verify_slice(tag).is_ok()
            }
            Self::S384(k) => {
                let mut m = k.clone();
                m.update(msg);
                m.verify_slice(tag).is_ok()
            }
            Self::S512(k) => {
                let mut m = k.clone();
                m.update(msg);
                m.verify_slice(tag).is_ok()
            }
        }
    }
}

/// `base64url` of the header Cutty writes for `alg` and `kid`.
fn header_segment(alg: Algorithm, kid: Option<&str>) -> String {
    use base64::Engine as _;
    #[derive(serde::Serialize)]
    struct Header<'a> {
        alg: &'a str,
        typ: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        kid: Option<&'a str>,
    }
    let json = serde_json::to_vec(&Header {
        alg: alg.as_str(),
        typ: "JWT",
        kid,
    })
    .unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The key new tokens are signed with: an algorithm, the key material and an optional
/// `kid` written into every header.
///
/// Key material is zeroized on drop (by `jsonwebtoken`'s key types) and never printed.
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    key: EncodingKey,
    /// The precomputed HMAC state, for `HS*`.
    pub(crate) mac: Option<HmacKey>,
    /// `base64url(header) + "."`, computed once.
    pub(crate) header_prefix: String,
}

impl SigningKey {
    /// An HMAC key (`HS256`, `HS384`, `HS512`) from a raw secret of at least the hash's
    /// output length.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        check_hmac_secret(alg, secret)?;
        let key = EncodingKey::from_secret(secret).map_err(|_| KeyError::InvalidKey(alg))?;
        let mut this = Self::build(alg, key)?;
        this.mac = Some(HmacKey::new(alg, secret).ok_or(KeyError::InvalidKey(alg))?);
        Ok(this)
    }

    /// An `HS256` key from a raw secret of at least 32 bytes (the default algorithm).
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS256, secret)
    }

    /// A private key in PEM for an asymmetric algorithm: PKCS#1 or PKCS#8 RSA for
    /// `RS*`/`PS*`, PKCS#8 P-256/P-384 for `ES256`/`ES384`, PKCS#8 Ed25519 for `EdDSA`.
    pub fn from_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        let key = match alg.family() {
            AlgorithmFamily::Hmac => return Err(KeyError::WrongFamily(alg)),
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(pem),
        }
        .map_err(|_| KeyError::InvalidKey(alg))?;
        Self::build(alg, key)
    }

    fn build(alg: Algorithm, key: EncodingKey) -> Result<Self, KeyError> {
        // Building a signer parses the key for this algorithm: fail at start-up, not on
        // the first login.
        (provider()?.signer_factory)(&alg.to_jwt(), &key).map_err(|_| KeyError::InvalidKey(alg))?;
        let mut this = Self {
            alg,
            kid: None,
            key,
            mac: None,
            header_prefix: String::new(),
        };
        this.header_prefix = this.make_header_prefix();
        Ok(this)
    }

    /// Sets the `kid` written into every header (1–256 bytes).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        self.kid = Some(kid);
        self.header_prefix = self.make_header_prefix();
        Ok(self)
    }

    fn make_header_prefix(&self) -> String {
        let mut s = header_segment(self.alg, self.kid.as_deref());
        s.push('.');
        s
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.key
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// A key tokens are verified with, bound to exactly one algorithm and an optional `kid`.
pub struct VerificationKey {
    alg: Algorithm,
    kid: Option<String>,
    key: DecodingKey,
    /// The precomputed HMAC state, for `HS*`.
    pub(crate) mac: Option<HmacKey>,
    /// The header segment Cutty itself writes for this key: a token carrying exactly these
    /// bytes needs no header parsing.
    pub(crate) header_b64: String,
}

impl VerificationKey {
    /// An HMAC verification key (the same secret as the signing key).
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        check_hmac_secret(alg, secret)?;
        let key = DecodingKey::from_secret(secret).map_err(|_| KeyError::InvalidKey(alg))?;
        let mut this = Self::build(alg, key)?;
        this.mac = Some(HmacKey::new(alg, secret).ok_or(KeyError::InvalidKey(alg))?);
        Ok(this)
    }

    /// An `HS256` verification key.
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS256, secret)
    }

    /// A public key in PEM (`PUBLIC KEY` SPKI, or PKCS#1 `RSA PUBLIC KEY`) for an
    /// asymmetric algorithm.
    pub fn from_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        let key = match alg.family() {
            AlgorithmFamily::Hmac => return Err(KeyError::WrongFamily(alg)),
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(pem),
        }
        .map_err(|_| KeyError::InvalidKey(alg))?;
        Self::build(alg, key)
    }

    fn build(alg: Algorithm, key: DecodingKey) -> Result<Self, KeyError> {
        (provider()?.verifier_factory)(&alg.to_jwt(), &key)
            .map_err(|_| KeyError::InvalidKey(alg))?;
        Ok(Self {
            alg,
            kid: None,
            key,
            mac: None,
            header_b64: header_segment(alg, None),
        })
    }

    /// Sets the `kid` this key answers to (1–256 bytes). A key without a `kid` answers
    /// tokens whose header has none.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        self.header_b64 = header_segment(self.alg, Some(&kid));
        self.kid = Some(kid);
        Ok(self)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// One signing key and every key currently accepted for verification, by `kid`.
///
/// Rotation without logging anyone out: add the new key as a verification key, then make it
/// the signing key (with a new `kid`) while the old one stays a verification key until the
/// longest TTL has passed, then drop it.
///
/// ```
/// use cutty_core::token::{Algorithm, Keyring, SigningKey, VerificationKey};
///
/// let old = [1u8; 32];
/// let new = [2u8; 32];
/// let keyring = Keyring::new(SigningKey::hs256(&new)?.with_kid("2026-12")?)
///     .with_verification_key(VerificationKey::hs256(&new)?.with_kid("2026-12")?)?
///     .with_verification_key(VerificationKey::hs256(&old)?.with_kid("2026-09")?)?;
/// assert_eq!(keyring.verification_keys().len(), 2);
/// # Ok::<(), cutty_core::token::KeyError>(())
/// ```
#[derive(Debug)]
pub struct Keyring {
    signing: SigningKey,
    verification: Vec<VerificationKey>,
}

impl Keyring {
    /// A keyring that signs with `signing` and, so far, verifies with nothing: add
    /// verification keys with [`Keyring::with_verification_key`].
    pub fn new(signing: SigningKey) -> Self {
        Self {
            signing,
            verification: Vec::new(),
        }
    }

    /// The common case: one HMAC secret that signs and verifies, no `kid`.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        Self::new(SigningKey::hmac(alg, secret)?)
            .with_verification_key(VerificationKey::hmac(alg, secret)?)
    }

    /// Adds a verification key. Fails if its `kid` (or absence of one) is already taken.
    pub fn with_verification_key(mut self, key: VerificationKey) -> Result<Self, KeyError> {
        if self.verification.iter().any(|k| k.kid == key.kid) {
            return Err(KeyError::DuplicateKid(key.kid));
        }
        self.verification.push(key);
        Ok(self)
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Every verification key.
    pub fn verification_keys(&self) -> &[VerificationKey] {
        &self.verification
    }

    /// The verification key for a header's `kid` (a header without `kid` selects the key
    /// without one). Exact match only.
    pub(crate) fn find(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        self.verification.iter().find(|k| k.kid.as_deref() == kid)
    }

    /// The key whose Cutty-written header segment is exactly `segment`, if any.
    pub(crate) fn find_by_header_segment(&self, segment: &str) -> Option<&VerificationKey> {
        self.verification
            .iter()
            .find(|k| k.header_b64.as_bytes() == segment.as_bytes())
    }
}
