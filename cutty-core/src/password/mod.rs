//! Django-compatible password hashing and verification.
//!
//! Cutty stores passwords exactly as Django does, so a user table can move between a Django
//! project and Cutty in either direction:
//!
//! ```text
//! pbkdf2_sha256$600000$<22-character salt>$<base64 of the 32-byte PBKDF2-HMAC-SHA256 key>
//! ```
//!
//! [`PasswordHasher`] is a small, cheap-to-clone configuration: the algorithm new hashes are
//! made with (default `pbkdf2_sha256`), its work factor (default 600 000 iterations, the
//! OWASP 2023 figure and Django 4.2's default) and the salt entropy (default 128 bits, as in
//! Django: 22 characters of `[a-zA-Z0-9]`). It verifies every encoding Django does:
//!
//! | algorithm | encoding | cargo feature |
//! |---|---|---|
//! | `pbkdf2_sha256` | `pbkdf2_sha256$<iterations>$<salt>$<b64>` | always |
//! | `pbkdf2_sha1` | `pbkdf2_sha1$<iterations>$<salt>$<b64>` | always |
//! | `argon2` | `argon2$argon2id$v=19$m=…,t=…,p=…$<b64 salt>$<b64 hash>` | `argon2` |
//! | `scrypt` | `scrypt$<N>$<salt>$<r>$<p>$<b64>` | `scrypt` |
//! | `bcrypt_sha256` | `bcrypt_sha256$2b$<cost>$<salt+hash>` | `bcrypt` |
//! | `bcrypt` | `bcrypt$2b$<cost>$<salt+hash>` | `bcrypt` |
//! | `md5` (verify only) | `md5$<salt>$<hex>` | always |
//! | `unsalted_md5` (verify only) | 32 hex digits, or `md5$$<hex>` | always |
//!
//! # Verifying and re-hashing
//!
//! [`PasswordHasher::verify`] answers a [`Verification`]: whether the password matches and
//! whether the stored hash should be replaced, decided exactly as Django's `must_update`
//! (another algorithm, an iteration count different *in either direction*, a salt with less
//! entropy than configured, other argon2/scrypt/bcrypt parameters). After a successful login
//! with `must_update`, store [`PasswordHasher::hash`] of the password.
//!
//! ```
//! use cutty_core::password::PasswordHasher;
//!
//! // Low iteration count to keep the example fast; keep the default in production.
//! let hasher = PasswordHasher::default().with_iterations(1_000).unwrap();
//! let encoded = hasher.hash("correct horse battery staple");
//! assert!(encoded.starts_with("pbkdf2_sha256$1000$"));
//!
//! let ok = hasher.verify("correct horse battery staple", &encoded).unwrap();
//! assert!(ok.matches && !ok.must_update);
//! assert!(!hasher.verify("wrong", &encoded).unwrap().matches);
//!
//! // The default configuration asks for 600 000 iterations, so this hash is upgraded.
//! let upgrade = PasswordHasher::default().must_update(&encoded).unwrap();
//! assert!(upgrade);
//! ```
//!
//! # Timing
//! - Verifying costs the same as hashing: both run the same PBKDF2 core.
//! - Like Django's `harden_runtime`, a *failed* verification of a hash with fewer iterations
//!   (or a lower bcrypt cost) than configured runs the difference afterwards, so the answer
//!   time does not reveal the stored work factor.
//! - [`PasswordHasher::dummy_verify`] costs what verifying a real hash at the configured
//!   parameters costs: call it when the user does not exist.
//! - Django's unusable passwords (`!…`, from `set_unusable_password`) never match, after a
//!   dummy verification, like Django.
//!
//! # Errors
//! Malformed encodings, unknown algorithms and absurd parameters are refused *before* any
//! expensive work with a [`PasswordError`]: iterations above [`MAX_PBKDF2_ITERATIONS`], argon2
//! memory above [`MAX_ARGON2_MEMORY_KIB`], scrypt `N` above 2^[`MAX_SCRYPT_LOG_N`], bcrypt cost
//! above [`MAX_BCRYPT_COST`]. At login such an error must be answered like a wrong password
//! (`Error::InvalidCredentials`), see [`PasswordError`].
//!
//! # Salt randomness
//! [`PasswordHasher::hash`] draws the salt from `rand::rng()`, rand's thread-local CSPRNG
//! (ChaCha12 seeded and periodically reseeded from the operating system via `getrandom`).
//! [`PasswordHasher::hash_with_rng`] takes any [`rand::CryptoRng`] instead.

pub(crate) mod pbkdf2_fast;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use md5::Digest as _;
use subtle::ConstantTimeEq;

use pbkdf2_fast::{Sha1, Sha256};

/// Django's salt alphabet (`django.utils.crypto.RANDOM_STRING_CHARS`).
const SALT_CHARS: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Default PBKDF2 iterations: 600 000 (Django 4.2 and OWASP 2023 for PBKDF2-HMAC-SHA256).
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 600_000;
/// Largest PBKDF2 iteration count accepted, in a stored hash or in the configuration
/// (about a second of work here): refuses a forged `pbkdf2_sha256$999999999$…` at once.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Default salt entropy in bits (Django's `salt_entropy`): 22 characters of `[a-zA-Z0-9]`.
pub const DEFAULT_SALT_ENTROPY_BITS: u32 = 128;
/// Largest argon2 memory cost accepted, in KiB (1 GiB; Django's default is 100 MiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;
/// Largest argon2 `memory_cost_kib × time_cost` accepted (20× Django's default of
/// 102 400 × 2), so a forged hash cannot ask for minutes of work.
pub const MAX_ARGON2_WORK: u64 = 1 << 22;
/// Largest argon2 time cost accepted.
pub const MAX_ARGON2_TIME_COST: u32 = 64;
/// Largest argon2 parallelism accepted.
pub const MAX_ARGON2_PARALLELISM: u32 = 64;
/// Largest scrypt `log2(N)` accepted (Django's default is 14).
pub const MAX_SCRYPT_LOG_N: u32 = 20;
/// Largest scrypt memory (`128 · r · N` bytes) accepted: 256 MiB.
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 256 << 20;
/// Largest scrypt `N × r × p` accepted (25× Django 5's default of 2^14 × 8 × 5).
pub const MAX_SCRYPT_WORK: u64 = 1 << 24;
/// Largest bcrypt cost accepted (Django's default is 12; each step doubles the work).
pub const MAX_BCRYPT_COST: u32 = 16;
/// Longest salt accepted in a stored hash, in bytes (Django's column holds 128 characters).
const MAX_SALT_LEN: usize = 256;
/// Longest stored hash accepted at all, in bytes.
const MAX_ENCODED_LEN: usize = 1024;

/// Why a stored hash or a configuration value was refused.
///
/// Messages never contain the password or the hash. At login, treat every `PasswordError`
/// for a *stored* hash like a wrong password — answer `Error::InvalidCredentials`
/// (`AUTH_004`) and log the variant; there is no server error for a bad stored hash. There is
/// deliberately no `From<PasswordError> for crate::Error`: the right mapping depends on the
/// call site (a bad configuration is a startup error, not a credential failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The stored hash does not have the shape its algorithm requires (wrong number of
    /// `$`-separated fields, a non-numeric or non-canonical number, bad base64, a digest of the
    /// wrong length, an empty or over-long salt). The string says which part, never its value.
    #[error("malformed password hash: {0}")]
    Malformed(&'static str),
    /// The hash names an algorithm Django does not have (or none at all).
    #[error("unknown password hash algorithm")]
    UnknownAlgorithm,
    /// A Django algorithm whose cargo feature is not enabled in this build, or (for
    /// configuration) one that can only be verified, never used for new hashes.
    #[error("password hash algorithm `{0}` is not supported here")]
    UnsupportedAlgorithm(Algorithm),
    /// A work factor outside the accepted range (iterations 0 or above
    /// [`MAX_PBKDF2_ITERATIONS`], huge argon2 memory, scrypt `N`, bcrypt cost, …).
    #[error("password hash parameter out of range: {0}")]
    ParameterOutOfRange(&'static str),
}

/// A password hashing algorithm, by its Django name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `pbkdf2_sha256`, Django's default and Cutty's.
    Pbkdf2Sha256,
    /// `pbkdf2_sha1`.
    Pbkdf2Sha1,
    /// `argon2` (argon2id for new hashes; argon2i/argon2d verified too).
    Argon2,
    /// `scrypt`.
    Scrypt,
    /// `bcrypt_sha256`: bcrypt of the hex SHA-256 of the password.
    BcryptSha256,
    /// `bcrypt`: plain bcrypt (passwords truncated to 72 bytes).
    Bcrypt,
    /// `md5`: salted MD5, verify only.
    Md5,
    /// `unsalted_md5`: bare MD5 hex, verify only.
    UnsaltedMd5,
}

impl Algorithm {
    /// Django's name for the algorithm (the prefix of the encoded hash).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Pbkdf2Sha256 => "pbkdf2_sha256",
            Algorithm::Pbkdf2Sha1 => "pbkdf2_sha1",
            Algorithm::Argon2 => "argon2",
            Algorithm::Scrypt => "scrypt",
            Algorithm::BcryptSha256 => "bcrypt_sha256",
            Algorithm::Bcrypt => "bcrypt",
            Algorithm::Md5 => "md5",
            Algorithm::UnsaltedMd5 => "unsalted_md5",
        }
    }

    /// Identify the algorithm of an encoded hash as Django's `identify_hasher` does: a bare
    /// 32-character string without `$`, or a 37-character `md5$$…`, is `unsalted_md5`;
    /// otherwise the text before the first `$`.
    pub fn identify(encoded: &str) -> Result<Algorithm, PasswordError> {
        if (encoded.len() == 32 && !encoded.contains('$'))
            || (encoded.len() == 37 && encoded.starts_with("md5$$"))
        {
            return Ok(Algorithm::UnsaltedMd5);
        }
        let (name, _) = encoded
            .split_once('$')
            .ok_or(PasswordError::UnknownAlgorithm)?;
        Ok(match name {
            "pbkdf2_sha256" => Algorithm::Pbkdf2Sha256,
            "pbkdf2_sha1" => Algorithm::Pbkdf2Sha1,
            "argon2" => Algorithm::Argon2,
            "scrypt" => Algorithm::Scrypt,
            "bcrypt_sha256" => Algorithm::BcryptSha256,
            "bcrypt" => Algorithm::Bcrypt,
            "md5" => Algorithm::Md5,
            _ => return Err(PasswordError::UnknownAlgorithm),
        })
    }

    /// Whether new hashes can be made with this algorithm in this build.
    pub fn can_hash(self) -> bool {
        match self {
            Algorithm::Pbkdf2Sha256 | Algorithm::Pbkdf2Sha1 => true,
            Algorithm::Argon2 => cfg!(feature = "argon2"),
            Algorithm::Scrypt => cfg!(feature = "scrypt"),
            Algorithm::BcryptSha256 | Algorithm::Bcrypt => cfg!(feature = "bcrypt"),
            Algorithm::Md5 | Algorithm::UnsaltedMd5 => false,
        }
    }

    /// Whether hashes of this algorithm can be verified in this build.
    pub fn can_verify(self) -> bool {
        match self {
            Algorithm::Md5 | Algorithm::UnsaltedMd5 => true,
            other => other.can_hash(),
        }
    }
}

impl core::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`PasswordHasher::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Verification {
    /// The password is the one the hash was made from.
    pub matches: bool,
    /// Django's `must_update`: the stored hash should be replaced by a fresh
    /// [`PasswordHasher::hash`] (only act on it when `matches`).
    pub must_update: bool,
}

impl Verification {
    /// A non-matching answer.
    const NO: Verification = Verification {
        matches: false,
        must_update: false,
    };

    /// `matches && must_update`: re-hash and store the password now.
    pub fn should_rehash(&self) -> bool {
        self.matches && self.must_update
    }
}

/// Argon2 parameters for new hashes (Django's `Argon2PasswordHasher` attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Passes over memory. Django: 2.
    pub time_cost: u32,
    /// Memory in KiB. Django: 102 400 (100 MiB).
    pub memory_cost_kib: u32,
    /// Lanes. Django: 8.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            time_cost: 2,
            memory_cost_kib: 102_400,
            parallelism: 8,
        }
    }
}

/// Scrypt parameters for new hashes (Django's `ScryptPasswordHasher` attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptParams {
    /// `N`, a power of two. Django: 2^14.
    pub work_factor: u64,
    /// `r`. Django: 8.
    pub block_size: u32,
    /// `p`. Django: 5.
    pub parallelism: u32,
}

impl Default for ScryptParams {
    fn default() -> Self {
        ScryptParams {
            work_factor: 1 << 14,
            block_size: 8,
            parallelism: 5,
        }
    }
}

/// Django's default bcrypt cost (`rounds`).
pub const DEFAULT_BCRYPT_COST: u32 = 12;

/// Password hashing configuration: which algorithm new hashes use and at what cost.
///
/// Defaults (see the module docs for why): `pbkdf2_sha256`, [`DEFAULT_PBKDF2_ITERATIONS`],
/// [`DEFAULT_SALT_ENTROPY_BITS`], and Django's argon2/scrypt/bcrypt parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHasher {
    algorithm: Algorithm,
    iterations: u32,
    salt_entropy_bits: u32,
    argon2: Argon2Params,
    scrypt: ScryptParams,
    bcrypt_cost: u32,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher {
            algorithm: Algorithm::Pbkdf2Sha256,
            iterations: DEFAULT_PBKDF2_ITERATIONS,
            salt_entropy_bits: DEFAULT_SALT_ENTROPY_BITS,
            argon2: Argon2Params::default(),
            scrypt: ScryptParams::default(),
            bcrypt_cost: DEFAULT_BCRYPT_COST,
        }
    }
}

impl PasswordHasher {
    /// The default configuration (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Use `algorithm` for new hashes. Refuses verify-only algorithms (`md5`,
    /// `unsalted_md5`) and those whose cargo feature is off.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Result<Self, PasswordError> {
        if !algorithm.can_hash() {
            return Err(PasswordError::UnsupportedAlgorithm(algorithm));
        }
        self.algorithm = algorithm;
        Ok(self)
    }

    /// PBKDF2 iteration count for new hashes, 1..=[`MAX_PBKDF2_ITERATIONS`].
    pub fn with_iterations(mut self, iterations: u32) -> Result<Self, PasswordError> {
        if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
            return Err(PasswordError::ParameterOutOfRange("iterations"));
        }
        self.iterations = iterations;
        Ok(self)
    }

    /// Salt entropy in bits (Django's `salt_entropy`), 64..=1024. New salts get
    /// `ceil(bits / log2(62))` characters; stored salts with less are flagged `must_update`.
    pub fn with_salt_entropy(mut self, bits: u32) -> Result<Self, PasswordError> {
        if !(64..=1024).contains(&bits) {
            return Err(PasswordError::ParameterOutOfRange("salt entropy"));
        }
        self.salt_entropy_bits = bits;
        Ok(self)
    }

    /// Argon2 parameters for new hashes (and for `must_update` of argon2 hashes).
    pub fn with_argon2_params(mut self, params: Argon2Params) -> Result<Self, PasswordError> {
        check_argon2(params.time_cost, params.memory_cost_kib, params.parallelism)?;
        self.argon2 = params;
        Ok(self)
    }

    /// Scrypt parameters for new hashes (and for `must_update` of scrypt hashes).
    pub fn with_scrypt_params(mut self, params: ScryptParams) -> Result<Self, PasswordError> {
        check_scrypt(params.work_factor, params.block_size, params.parallelism)?;
        self.scrypt = params;
        Ok(self)
    }

    /// Bcrypt cost for new hashes, 4..=[`MAX_BCRYPT_COST`].
    pub fn with_bcrypt_cost(mut self, cost: u32) -> Result<Self, PasswordError> {
        check_bcrypt_cost(cost)?;
        self.bcrypt_cost = cost;
        Ok(self)
    }

    /// The algorithm new hashes are made with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The PBKDF2 iteration count new hashes are made with.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt entropy in bits.
    pub fn salt_entropy_bits(&self) -> u32 {
        self.salt_entropy_bits
    }

    /// Length of new salts in characters: `ceil(bits / log2(62))`, 22 for 128 bits (Django's
    /// `BasePasswordHasher.salt`).
    pub fn salt_len(&self) -> usize {
        (f64::from(self.salt_entropy_bits) / 62f64.log2()).ceil() as usize
    }

    /// A new random Django-style salt: [`Self::salt_len`] characters of `[a-zA-Z0-9]`, each
    /// drawn uniformly from `rng`.
    pub fn salt_with_rng<R: rand::CryptoRng + ?Sized>(&self, rng: &mut R) -> String {
        use rand::Rng as _;
        (0..self.salt_len())
            .map(|_| char::from(SALT_CHARS[rng.random_range(0..SALT_CHARS.len())]))
            .collect()
    }

    /// Hash `password` with a fresh salt from `rand::rng()` (a CSPRNG).
    pub fn hash(&self, password: &str) -> String {
        self.hash_with_rng(password, &mut rand::rng())
    }

    /// Hash `password` with a fresh salt drawn from `rng`.
    pub fn hash_with_rng<R: rand::CryptoRng + ?Sized>(
        &self,
        password: &str,
        rng: &mut R,
    ) -> String {
        match self.algorithm {
            #[cfg(feature = "bcrypt")]
            Algorithm::Bcrypt | Algorithm::BcryptSha256 => {
                let mut salt = [0u8; 16];
                rand::RngCore::fill_bytes(rng, &mut salt);
                bcrypt_encode(self.algorithm, password, self.bcrypt_cost, salt, "2b")
            }
            _ => {
                let salt = self.salt_with_rng(rng);
                self.encode_with_salt(password, &salt)
            }
        }
    }

    /// Hash with a given salt (no `$`, non-empty); the salt is only checked in debug
    /// builds, callers here always pass a generated one.
    fn encode_with_salt(&self, password: &str, salt: &str) -> String {
        debug_assert!(!salt.is_empty() && !salt.contains('$'));
        match self.algorithm {
            Algorithm::Pbkdf2Sha1 => {
                encode_pbkdf2(Algorithm::Pbkdf2Sha1, password, salt, self.iterations)
            }
            #[cfg(feature = "argon2")]
            Algorithm::Argon2 => {
                let p = self.argon2;
                let mut out = [0u8; 32];
                // Parameters were validated by the builder.
                let ok = argon2_raw(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    p.memory_cost_kib,
                    p.time_cost,
                    p.parallelism,
                    password,
                    salt.as_bytes(),
                    &mut out,
                )
                .is_ok();
                debug_assert!(ok);
                format!(
                    "argon2$argon2id$v=19$m={},t={},p={}${}${}",
                    p.memory_cost_kib,
                    p.time_cost,
                    p.parallelism,
                    STANDARD_NO_PAD.encode(salt),
                    STANDARD_NO_PAD.encode(out)
                )
            }
            #[cfg(feature = "scrypt")]
            Algorithm::Scrypt => {
                let p = self.scrypt;
                let mut out = [0u8; 64];
                let ok = scrypt_raw(
                    p.work_factor,
                    p.block_size,
                    p.parallelism,
                    password,
                    salt,
                    &mut out,
                )
                .is_ok();
                debug_assert!(ok);
                format!(
                    "scrypt${}${}${}${}${}",
                    p.work_factor,
                    salt,
                    p.block_size,
                    p.parallelism,
                    STANDARD.encode(out)
                )
            }
            #[cfg(feature = "bcrypt")]
            Algorithm::Bcrypt | Algorithm::BcryptSha256 => {
                // bcrypt salts are raw bytes; derive 16 from the text salt (dummy path only).
                let digest = sha2::Sha256::digest(salt.as_bytes());
                let mut raw = [0u8; 16];
                raw.copy_from_slice(&digest[..16]);
                bcrypt_encode(self.algorithm, password, self.bcrypt_cost, raw, "2b")
            }
            // Pbkdf2Sha256, and anything a builder refused.
            _ => encode_pbkdf2(Algorithm::Pbkdf2Sha256, password, salt, self.iterations),
        }
    }

    /// Check `password` against a stored Django-style hash.
    ///
    /// `Ok` with `matches: false` for a wrong password (and for Django's unusable `!…`
    /// passwords); `Err` for a hash that is malformed, of an unknown or disabled algorithm, or
    /// has absurd parameters — refused before any expensive work. `must_update` is Django's
    /// verdict for the configured algorithm and parameters.
    pub fn verify(&self, password: &str, encoded: &str) -> Result<Verification, PasswordError> {
        if encoded.starts_with('!') {
            // Django's unusable password: run the hasher once so the time matches.
            return Ok(self.dummy_verify(password));
        }
        let parsed = Parsed::parse(encoded)?;
        let algorithm = parsed.algorithm();
        if !algorithm.can_verify() {
            return Err(PasswordError::UnsupportedAlgorithm(algorithm));
        }
        let hasher_changed = algorithm != self.algorithm;
        let must_update = hasher_changed || self.must_update_parsed(&parsed);
        let matches = parsed.verify(password, encoded)?;
        if !matches && !hasher_changed && must_update {
            self.harden_runtime(password, &parsed);
        }
        Ok(Verification {
            matches,
            must_update,
        })
    }

    /// Django's `must_update` for a stored hash under this configuration, without verifying
    /// any password.
    pub fn must_update(&self, encoded: &str) -> Result<bool, PasswordError> {
        let parsed = Parsed::parse(encoded)?;
        Ok(parsed.algorithm() != self.algorithm || self.must_update_parsed(&parsed))
    }

    /// Spend the time of a verification at the configured parameters and return nothing
    /// useful: call it when the user does not exist, so the login answer takes as long as for
    /// a wrong password. Always a non-match.
    pub fn dummy_verify(&self, password: &str) -> Verification {
        // A fixed, valid salt of the configured length: the work does not depend on it.
        let salt: String = SALT_CHARS
            .iter()
            .cycle()
            .take(self.salt_len().max(1))
            .map(|&b| char::from(b))
            .collect();
        let made = self.encode_with_salt(password, &salt);
        // Compare like a real verification does, against a value that can never match.
        let never = core::hint::black_box(made.as_bytes().ct_eq(b"!"));
        let _ = core::hint::black_box(never);
        Verification::NO
    }

    /// Same algorithm as configured: do its parameters differ (Django's per-hasher
    /// `must_update`)?
    fn must_update_parsed(&self, parsed: &Parsed<'_>) -> bool {
        match parsed {
            Parsed::Pbkdf2 {
                iterations, salt, ..
            } => *iterations != self.iterations || self.salt_too_weak(salt.chars().count()),
            Parsed::Argon2 {
                variant,
                version,
                m,
                t,
                p,
                salt,
                hash,
            } => {
                *variant != Argon2Variant::Id
                    || *version != 0x13
                    || hash.len() != 32
                    || *t != self.argon2.time_cost
                    || *m != self.argon2.memory_cost_kib
                    || *p != self.argon2.parallelism
                    // Django decodes the salt as latin-1: one character per byte.
                    || self.salt_too_weak(salt.len())
            }
            Parsed::Scrypt { n, r, p, .. } => {
                *n != self.scrypt.work_factor
                    || *r != self.scrypt.block_size
                    || *p != self.scrypt.parallelism
            }
            Parsed::Bcrypt { cost, .. } => *cost != self.bcrypt_cost,
            Parsed::Md5 { salt, .. } => self.salt_too_weak(salt.chars().count()),
            Parsed::UnsaltedMd5 { .. } => false,
        }
    }

    /// Django's `must_update_salt`: `len(salt) * log2(62) < salt_entropy`.
    fn salt_too_weak(&self, chars: usize) -> bool {
        (chars as f64) * 62f64.log2() < f64::from(self.salt_entropy_bits)
    }

    /// Django's `harden_runtime`: after a failed verification of a hash of the configured
    /// algorithm with a lower work factor, run the difference.
    fn harden_runtime(&self, password: &str, parsed: &Parsed<'_>) {
        match parsed {
            Parsed::Pbkdf2 {
                algorithm,
                iterations,
                salt,
                ..
            } => {
                if let Some(extra) = self.iterations.checked_sub(*iterations).filter(|e| *e > 0) {
                    let _ = core::hint::black_box(encode_pbkdf2(*algorithm, password, salt, extra));
                }
            }
            #[cfg(feature = "bcrypt")]
            Parsed::Bcrypt {
                algorithm,
                cost,
                salt,
                version,
                ..
            } if self.bcrypt_cost > *cost => {
                // Django: 2^(configured - stored) - 1 more encodes at the stored cost.
                let extra = (1u64 << (self.bcrypt_cost - cost)) - 1;
                if let Some(raw) = bcrypt_salt(salt) {
                    for _ in 0..extra {
                        let _ = core::hint::black_box(bcrypt_encode(
                            *algorithm, password, *cost, raw, version,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_argon2(t: u32, m: u32, p: u32) -> Result<(), PasswordError> {
    if t == 0 || t > MAX_ARGON2_TIME_COST {
        return Err(PasswordError::ParameterOutOfRange("argon2 time cost"));
    }
    if p == 0 || p > MAX_ARGON2_PARALLELISM {
        return Err(PasswordError::ParameterOutOfRange("argon2 parallelism"));
    }
    if m < 8 * p || m > MAX_ARGON2_MEMORY_KIB {
        return Err(PasswordError::ParameterOutOfRange("argon2 memory cost"));
    }
    if u64::from(m) * u64::from(t) > MAX_ARGON2_WORK {
        return Err(PasswordError::ParameterOutOfRange(
            "argon2 memory × time cost",
        ));
    }
    Ok(())
}

fn check_scrypt(n: u64, r: u32, p: u32) -> Result<(), PasswordError> {
    if n < 2 || !n.is_power_of_two() || n > (1u64 << MAX_SCRYPT_LOG_N) {
        return Err(PasswordError::ParameterOutOfRange("scrypt work factor"));
    }
    if r == 0 || r > 64 {
        return Err(PasswordError::ParameterOutOfRange("scrypt block size"));
    }
    if p == 0 || p > 64 {
        return Err(PasswordError::ParameterOutOfRange("scrypt parallelism"));
    }
    if 128 * u64::from(r) * n > MAX_SCRYPT_MEMORY_BYTES {
        return Err(PasswordError::ParameterOutOfRange("scrypt memory"));
    }
    if n * u64::from(r) * u64::from(p) > MAX_SCRYPT_WORK {
        return Err(PasswordError::ParameterOutOfRange("scrypt N × r × p"));
    }
    Ok(())
}

fn check_bcrypt_cost(cost: u32) -> Result<(), PasswordError> {
    if !(4..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(PasswordError::ParameterOutOfRange("bcrypt cost"));
    }
    Ok(())
}

/// `pbkdf2_<sha>$<iterations>$<salt>$<b64>` as Django's `PBKDF2PasswordHasher.encode`.
fn encode_pbkdf2(algorithm: Algorithm, password: &str, salt: &str, iterations: u32) -> String {
    let b64 = pbkdf2_b64(algorithm, password, salt, iterations);
    format!("{}${}${}${}", algorithm.as_str(), iterations, salt, b64)
}

fn pbkdf2_b64(algorithm: Algorithm, password: &str, salt: &str, iterations: u32) -> String {
    let mut out = [0u8; 32];
    if algorithm == Algorithm::Pbkdf2Sha1 {
        pbkdf2_fast::pbkdf2::<Sha1>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
        STANDARD.encode(&out[..20])
    } else {
        pbkdf2_fast::pbkdf2::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
        STANDARD.encode(out)
    }
}

/// Constant-time equality of two strings (length may leak, content does not).
fn ct_str_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Argon2Variant {
    I,
    D,
    Id,
}

/// A stored hash split into its fields; every number range-checked.
#[derive(Debug)]
enum Parsed<'a> {
    Pbkdf2 {
        algorithm: Algorithm,
        iterations: u32,
        salt: &'a str,
        hash: &'a str,
    },
    Argon2 {
        variant: Argon2Variant,
        version: u32,
        m: u32,
        t: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Scrypt {
        n: u64,
        r: u32,
        p: u32,
        #[cfg_attr(not(feature = "scrypt"), allow(dead_code))]
        salt: &'a str,
        #[cfg_attr(not(feature = "scrypt"), allow(dead_code))]
        hash: &'a str,
    },
    Bcrypt {
        algorithm: Algorithm,
        #[cfg_attr(not(feature = "bcrypt"), allow(dead_code))]
        version: &'a str,
        cost: u32,
        #[cfg_attr(not(feature = "bcrypt"), allow(dead_code))]
        salt: &'a str,
    },
    Md5 {
        salt: &'a str,
        hash: &'a str,
    },
    UnsaltedMd5 {
        hash: &'a str,
    },
}

/// A decimal number as Django writes it: ASCII digits, no sign, no leading zero, no
/// whitespace, at most 12 digits (so parsing stays trivial); range checks follow.
fn parse_decimal(s: &str, what: &'static str) -> Result<u64, PasswordError> {
    let canonical = !s.is_empty()
        && s.len() <= 12
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(PasswordError::Malformed(what));
    }
    s.parse().map_err(|_| PasswordError::Malformed(what))
}

fn check_salt(salt: &str) -> Result<(), PasswordError> {
    if salt.is_empty() {
        return Err(PasswordError::Malformed("empty salt"));
    }
    if salt.len() > MAX_SALT_LEN {
        return Err(PasswordError::ParameterOutOfRange("salt length"));
    }
    Ok(())
}

impl<'a> Parsed<'a> {
    fn parse(encoded: &'a str) -> Result<Parsed<'a>, PasswordError> {
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(PasswordError::Malformed("too long"));
        }
        let algorithm = Algorithm::identify(encoded)?;
        match algorithm {
            Algorithm::Pbkdf2Sha256 | Algorithm::Pbkdf2Sha1 => {
                let mut it = encoded.splitn(4, '$');
                let (_, iterations, salt, hash) = match (it.next(), it.next(), it.next(), it.next())
                {
                    (Some(a), Some(i), Some(s), Some(h)) => (a, i, s, h),
                    _ => return Err(PasswordError::Malformed("expected 4 fields")),
                };
                let iterations = parse_decimal(iterations, "iterations")?;
                if iterations == 0 || iterations > u64::from(MAX_PBKDF2_ITERATIONS) {
                    return Err(PasswordError::ParameterOutOfRange("iterations"));
                }
                check_salt(salt)?;
                let want_len = if algorithm == Algorithm::Pbkdf2Sha1 {
                    28
                } else {
                    44
                };
                if hash.len() != want_len {
                    return Err(PasswordError::Malformed("hash length"));
                }
                if STANDARD.decode(hash).is_err() {
                    return Err(PasswordError::Malformed("hash base64"));
                }
                Ok(Parsed::Pbkdf2 {
                    algorithm,
                    iterations: iterations as u32,
                    salt,
                    hash,
                })
            }
            Algorithm::Argon2 => Self::parse_argon2(encoded),
            Algorithm::Scrypt => {
                let fields: Vec<&str> = encoded.split('$').collect();
                let [_, n, salt, r, p, hash] = fields[..] else {
                    return Err(PasswordError::Malformed("expected 6 fields"));
                };
                let n = parse_decimal(n, "scrypt work factor")?;
                let r = parse_decimal(r, "scrypt block size")?;
                let p = parse_decimal(p, "scrypt parallelism")?;
                let (r, p) = match (u32::try_from(r), u32::try_from(p)) {
                    (Ok(r), Ok(p)) => (r, p),
                    _ => return Err(PasswordError::ParameterOutOfRange("scrypt parameters")),
                };
                check_scrypt(n, r, p)?;
                check_salt(salt)?;
                if hash.len() != 88 {
                    return Err(PasswordError::Malformed("hash length"));
                }
                if STANDARD.decode(hash).is_err() {
                    return Err(PasswordError::Malformed("hash base64"));
                }
                Ok(Parsed::Scrypt {
                    n,
                    r,
                    p,
                    salt,
                    hash,
                })
            }
            Algorithm::Bcrypt | Algorithm::BcryptSha256 => {
                let fields: Vec<&str> = encoded.splitn(5, '$').collect();
                let [_, "", version, cost, data] = fields[..] else {
                    return Err(PasswordError::Malformed("expected bcrypt fields"));
                };
                if !matches!(version, "2a" | "2b" | "2x" | "2y") {
                    return Err(PasswordError::Malformed("bcrypt version"));
                }
                if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(PasswordError::Malformed("bcrypt cost"));
                }
                let cost: u32 = cost
                    .parse()
                    .map_err(|_| PasswordError::Malformed("bcrypt cost"))?;
                check_bcrypt_cost(cost)?;
                let bcrypt_b64 = |b: u8| b == b'.' || b == b'/' || b.is_ascii_alphanumeric();
                if data.len() != 53 || !data.bytes().all(bcrypt_b64) {
                    return Err(PasswordError::Malformed("bcrypt salt and hash"));
                }
                Ok(Parsed::Bcrypt {
                    algorithm,
                    version,
                    cost,
                    salt: &data[..22],
                })
            }
            Algorithm::Md5 => {
                let mut it = encoded.splitn(3, '$');
                let (salt, hash) = match (it.next(), it.next(), it.next()) {
                    (Some(_), Some(s), Some(h)) => (s, h),
                    _ => return Err(PasswordError::Malformed("expected 3 fields")),
                };
                check_salt(salt)?;
                if hash.len() != 32 {
                    return Err(PasswordError::Malformed("hash length"));
                }
                Ok(Parsed::Md5 { salt, hash })
            }
            Algorithm::UnsaltedMd5 => Ok(Parsed::UnsaltedMd5 {
                hash: encoded.strip_prefix("md5$$").unwrap_or(encoded),
            }),
        }
    }

    fn parse_argon2(encoded: &'a str) -> Result<Parsed<'a>, PasswordError> {
        // argon2$<variant>$[v=<n>$]m=<m>,t=<t>,p=<p>$<salt>$<hash>
        let fields: Vec<&str> = encoded.split('$').collect();
        let (variant, version, params, salt, hash) = match fields[..] {
            [_, variant, version, params, salt, hash] => {
                (variant, Some(version), params, salt, hash)
            }
            [_, variant, params, salt, hash] => (variant, None, params, salt, hash),
            _ => return Err(PasswordError::Malformed("expected argon2 fields")),
        };
        let variant = match variant {
            "argon2id" => Argon2Variant::Id,
            "argon2i" => Argon2Variant::I,
            "argon2d" => Argon2Variant::D,
            _ => return Err(PasswordError::Malformed("argon2 variant")),
        };
        let version = match version {
            None => 0x10,
            Some("v=19") => 0x13,
            Some("v=16") => 0x10,
            Some(_) => return Err(PasswordError::Malformed("argon2 version")),
        };
        let mut it = params.split(',');
        let (m, t, p) = match (it.next(), it.next(), it.next(), it.next()) {
            (Some(m), Some(t), Some(p), None) => (m, t, p),
            _ => return Err(PasswordError::Malformed("argon2 parameters")),
        };
        let num = |field: &str, key: &str, what: &'static str| -> Result<u32, PasswordError> {
            let v = field
                .strip_prefix(key)
                .ok_or(PasswordError::Malformed(what))?;
            u32::try_from(parse_decimal(v, what)?)
                .map_err(|_| PasswordError::ParameterOutOfRange(what))
        };
        let m = num(m, "m=", "argon2 memory cost")?;
        let t = num(t, "t=", "argon2 time cost")?;
        let p = num(p, "p=", "argon2 parallelism")?;
        check_argon2(t, m, p)?;
        let salt = STANDARD_NO_PAD
            .decode(salt)
            .map_err(|_| PasswordError::Malformed("argon2 salt base64"))?;
        let hash = STANDARD_NO_PAD
            .decode(hash)
            .map_err(|_| PasswordError::Malformed("argon2 hash base64"))?;
        if salt.len() < 8 || salt.len() > MAX_SALT_LEN {
            return Err(PasswordError::ParameterOutOfRange("argon2 salt length"));
        }
        if hash.len() < 4 || hash.len() > 128 {
            return Err(PasswordError::ParameterOutOfRange("argon2 hash length"));
        }
        Ok(Parsed::Argon2 {
            variant,
            version,
            m,
            t,
            p,
            salt,
            hash,
        })
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Parsed::Pbkdf2 { algorithm, .. } | Parsed::Bcrypt { algorithm, .. } => *algorithm,
            Parsed::Argon2 { .. } => Algorithm::Argon2,
            Parsed::Scrypt { .. } => Algorithm::Scrypt,
            Parsed::Md5 { .. } => Algorithm::Md5,
            Parsed::UnsaltedMd5 { .. } => Algorithm::UnsaltedMd5,
        }
    }

    /// Recompute and compare in constant time, as Django's `verify` does.
    fn verify(&self, password: &str, encoded: &str) -> Result<bool, PasswordError> {
        let _ = encoded;
        match self {
            Parsed::Pbkdf2 {
                algorithm,
                iterations,
                salt,
                hash,
            } => Ok(ct_str_eq(
                &pbkdf2_b64(*algorithm, password, salt, *iterations),
                hash,
            )),
            Parsed::Md5 { salt, hash } => {
                let mut md5 = md5::Md5::new();
                md5.update(salt.as_bytes());
                md5.update(password.as_bytes());
                Ok(ct_str_eq(&hex(&md5.finalize()), hash))
            }
            Parsed::UnsaltedMd5 { hash } => Ok(ct_str_eq(
                &hex(&md5::Md5::digest(password.as_bytes())),
                hash,
            )),
            #[cfg(feature = "argon2")]
            Parsed::Argon2 {
                variant,
                version,
                m,
                t,
                p,
                salt,
                hash,
            } => {
                let variant = match variant {
                    Argon2Variant::I => argon2::Algorithm::Argon2i,
                    Argon2Variant::D => argon2::Algorithm::Argon2d,
                    Argon2Variant::Id => argon2::Algorithm::Argon2id,
                };
                let version = if *version == 0x13 {
                    argon2::Version::V0x13
                } else {
                    argon2::Version::V0x10
                };
                let mut out = vec![0u8; hash.len()];
                argon2_raw(variant, version, *m, *t, *p, password, salt, &mut out)?;
                Ok(bool::from(out.ct_eq(hash)))
            }
            #[cfg(feature = "scrypt")]
            Parsed::Scrypt {
                n,
                r,
                p,
                salt,
                hash,
            } => {
                let mut out = [0u8; 64];
                scrypt_raw(*n, *r, *p, password, salt, &mut out)?;
                Ok(ct_str_eq(&STANDARD.encode(out), hash))
            }
            #[cfg(feature = "bcrypt")]
            Parsed::Bcrypt {
                algorithm,
                version,
                cost,
                salt,
            } => {
                let raw = bcrypt_salt(salt).ok_or(PasswordError::Malformed("bcrypt salt"))?;
                Ok(ct_str_eq(
                    &bcrypt_encode(*algorithm, password, *cost, raw, version),
                    encoded,
                ))
            }
            #[allow(unreachable_patterns)]
            other => Err(PasswordError::UnsupportedAlgorithm(other.algorithm())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(feature = "argon2")]
#[allow(clippy::too_many_arguments)]
fn argon2_raw(
    variant: argon2::Algorithm,
    version: argon2::Version,
    m: u32,
    t: u32,
    p: u32,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    let params = argon2::Params::new(m, t, p, Some(out.len()))
        .map_err(|_| PasswordError::ParameterOutOfRange("argon2 parameters"))?;
    argon2::Argon2::new(variant, version, params)
        .hash_password_into(password.as_bytes(), salt, out)
        .map_err(|_| PasswordError::ParameterOutOfRange("argon2 parameters"))
}

#[cfg(feature = "scrypt")]
fn scrypt_raw(
    n: u64,
    r: u32,
    p: u32,
    password: &str,
    salt: &str,
    out: &mut [u8],
) -> Result<(), PasswordError> {
    let log_n = n.trailing_zeros() as u8;
    let params = scrypt::Params::new(log_n, r, p, out.len())
        .map_err(|_| PasswordError::ParameterOutOfRange("scrypt parameters"))?;
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, out)
        .map_err(|_| PasswordError::ParameterOutOfRange("scrypt parameters"))
}

/// Decode a 22-character bcrypt salt to its 16 bytes (the last character's 4 spare bits are
/// ignored, as bcrypt does; re-encoding then canonicalises them, as Django's comparison sees).
#[cfg(feature = "bcrypt")]
fn bcrypt_salt(salt: &str) -> Option<[u8; 16]> {
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    const BCRYPT_B64: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::BCRYPT,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    let bytes = BCRYPT_B64.decode(salt).ok()?;
    bytes.try_into().ok()
}

/// `bcrypt$…` / `bcrypt_sha256$…` as Django's `BCryptSHA256PasswordHasher.encode`.
#[cfg(feature = "bcrypt")]
fn bcrypt_encode(
    algorithm: Algorithm,
    password: &str,
    cost: u32,
    salt: [u8; 16],
    version: &str,
) -> String {
    let version = match version {
        "2a" => bcrypt::Version::TwoA,
        "2x" => bcrypt::Version::TwoX,
        "2y" => bcrypt::Version::TwoY,
        _ => bcrypt::Version::TwoB,
    };
    let prehashed;
    let input: &[u8] = if algorithm == Algorithm::BcryptSha256 {
        prehashed = hex(&sha2::Sha256::digest(password.as_bytes()));
        prehashed.as_bytes()
    } else {
        password.as_bytes()
    };
    // The cost was range-checked; bcrypt truncates input beyond 72 bytes, like bcrypt < 5.
    match bcrypt::hash_with_salt(input, cost, salt) {
        Ok(parts) => format!(
            "{}${}",
            algorithm.as_str(),
            parts.format_for_version(version)
        ),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::default().with_iterations(10).unwrap()
    }

    const GOOD_B64: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn defaults_are_djangos() {
        let h = PasswordHasher::default();
        assert_eq!(h.algorithm(), Algorithm::Pbkdf2Sha256);
        assert_eq!(h.iterations(), 600_000);
        assert_eq!(h.salt_len(), 22);
        assert_eq!(h.clone().with_salt_entropy(256).unwrap().salt_len(), 43);
        assert_eq!(h.clone().with_salt_entropy(64).unwrap().salt_len(), 11);
    }

    #[test]
    fn salt_is_django_alphabet() {
        let salt = cheap().salt_with_rng(&mut rand::rng());
        assert_eq!(salt.len(), 22);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn hash_has_django_shape_and_verifies() {
        let h = cheap();
        let encoded = h.hash("s3cret");
        let fields: Vec<&str> = encoded.split('$').collect();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0], "pbkdf2_sha256");
        assert_eq!(fields[1], "10");
        assert_eq!(fields[2].len(), 22);
        assert_eq!(fields[3].len(), 44);
        let v = h.verify("s3cret", &encoded).unwrap();
        assert!(v.matches && !v.must_update && !v.should_rehash());
        assert!(!h.verify("s3cret ", &encoded).unwrap().matches);
        assert_ne!(h.hash("s3cret"), encoded, "fresh salt each time");
    }

    /// Known answer from Django 5.2: `PBKDF2PasswordHasher().encode("password", "seasalt", 1000)`.
    #[test]
    fn known_django_answer() {
        let encoded = encode_pbkdf2(Algorithm::Pbkdf2Sha256, "password", "seasalt", 1000);
        assert_eq!(
            encoded,
            "pbkdf2_sha256$1000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c="
        );
    }

    #[test]
    fn default_iterations_hash_verifies() {
        // The one test that runs the real 600 000 iterations (about 70 ms optimised).
        let h = PasswordHasher::default();
        let encoded = h.hash("pässwörd");
        assert!(encoded.starts_with("pbkdf2_sha256$600000$"));
        assert!(h.verify("pässwörd", &encoded).unwrap().matches);
    }

    #[test]
    fn must_update_follows_django() {
        let h = cheap();
        let salt = "abcdefghijklmnopqrstuv";
        let at = |n| encode_pbkdf2(Algorithm::Pbkdf2Sha256, "pw", salt, n);
        assert!(!h.must_update(&at(10)).unwrap());
        assert!(h.must_update(&at(9)).unwrap(), "fewer iterations");
        assert!(h.must_update(&at(11)).unwrap(), "more iterations");
        let short = encode_pbkdf2(Algorithm::Pbkdf2Sha256, "pw", "abcdefghijklmnopqrstu", 10);
        assert!(
            h.must_update(&short).unwrap(),
            "21 characters: 125 bits < 128"
        );
        let sha1 = encode_pbkdf2(Algorithm::Pbkdf2Sha1, "pw", salt, 10);
        assert!(h.must_update(&sha1).unwrap(), "another algorithm");
        let v = h.verify("pw", &at(9)).unwrap();
        assert!(v.should_rehash());
        // A wrong password against a weaker hash still answers (after hardening).
        let v = h.verify("nope", &at(9)).unwrap();
        assert!(!v.matches && v.must_update && !v.should_rehash());
    }

    #[test]
    fn unusable_password_never_matches() {
        let h = cheap();
        let v = h
            .verify("", "!XyZunusable0123456789012345678901234567890")
            .unwrap();
        assert_eq!(v, Verification::NO);
        assert_eq!(h.dummy_verify("anything"), Verification::NO);
    }

    #[test]
    fn legacy_md5_forms() {
        let h = cheap();
        // md5("password") and md5("salt" + "password").
        let bare = "5f4dcc3b5aa765d61d8327deb882cf99";
        assert!(h.verify("password", bare).unwrap().matches);
        assert!(
            h.verify("password", &format!("md5$${bare}"))
                .unwrap()
                .matches
        );
        assert!(!h.verify("Password", bare).unwrap().matches);
        assert!(!h.verify("password", &bare.to_uppercase()).unwrap().matches);
        assert!(h.verify("password", bare).unwrap().must_update);
        let salted = format!("md5$salt${}", hex(&md5::Md5::digest(b"saltpassword")));
        let v = h.verify("password", &salted).unwrap();
        assert!(v.matches && v.must_update);
        assert_eq!(
            h.clone().with_algorithm(Algorithm::Md5),
            Err(PasswordError::UnsupportedAlgorithm(Algorithm::Md5))
        );
    }

    fn err(encoded: &str) -> PasswordError {
        match cheap().verify("pw", encoded) {
            Err(e) => e,
            Ok(v) => panic!("accepted: {v:?}"),
        }
    }

    #[test]
    fn malformed_pbkdf2_fails_fast() {
        let cases = [
            format!("pbkdf2_sha256$0$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$-1$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$abc$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$0600000$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$+1000$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$ 1000$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$1_000$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$1000000000000$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$10000001$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$999999999999999999999999$salt${GOOD_B64}"),
            format!("pbkdf2_sha256$1000$${GOOD_B64}"),
            format!("pbkdf2_sha256$1000${}${GOOD_B64}", "s".repeat(300)),
            "pbkdf2_sha256$1000$salt$AAAA".to_string(),
            "pbkdf2_sha256$1000$salt$!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string(),
            "pbkdf2_sha256$1000$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=".to_string(),
            format!("pbkdf2_sha1$1000$salt${GOOD_B64}"),
            "pbkdf2_sha256$1000$salt".to_string(),
            "pbkdf2_sha256$1000".to_string(),
            "pbkdf2_sha256$".to_string(),
            format!("pbkdf2_sha256$1000$salt${GOOD_B64}{}", "A".repeat(2000)),
        ];
        for case in &cases {
            let e = err(case);
            assert!(
                matches!(
                    e,
                    PasswordError::Malformed(_) | PasswordError::ParameterOutOfRange(_)
                ),
                "{case}: {e:?}"
            );
        }
    }

    #[test]
    fn unknown_algorithms() {
        for case in [
            "",
            "$",
            "plain",
            "sha1$$abc",
            "sha1$salt$abc",
            "crypt$$ab",
            "PBKDF2_SHA256$1$s$h",
        ] {
            assert_eq!(err(case), PasswordError::UnknownAlgorithm, "{case:?}");
        }
    }

    #[test]
    fn absurd_argon2_scrypt_bcrypt_parameters_fail_fast() {
        let salt = "c2FsdHNhbHRzYWx0c2FsdA";
        let hash = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for params in [
            "m=4294967295,t=2,p=8",
            "m=2097152,t=1,p=1",
            "m=1048576,t=64,p=1",
            "m=102400,t=0,p=8",
            "m=102400,t=2,p=0",
            "m=4,t=2,p=8",
            "m=102400,t=2",
            "m=102400,t=2,p=8,x=1",
            "t=2,m=102400,p=8",
            "m=-1,t=2,p=8",
            "m=99999999999999999999,t=2,p=8",
        ] {
            let e = err(&format!("argon2$argon2id$v=19${params}${salt}${hash}"));
            assert!(
                matches!(
                    e,
                    PasswordError::Malformed(_) | PasswordError::ParameterOutOfRange(_)
                ),
                "{params}: {e:?}"
            );
        }
        for bad in [
            format!("argon2$argon2x$v=19$m=64,t=1,p=1${salt}${hash}"),
            format!("argon2$argon2id$v=20$m=64,t=1,p=1${salt}${hash}"),
            format!("argon2$argon2id$v=19$m=64,t=1,p=1$!!${hash}"),
            format!("argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdA${hash}"),
            format!("argon2$argon2id$v=19$m=64,t=1,p=1${salt}$AA"),
            "argon2$argon2id".to_string(),
        ] {
            let e = err(&bad);
            assert!(
                matches!(
                    e,
                    PasswordError::Malformed(_) | PasswordError::ParameterOutOfRange(_)
                ),
                "{bad}: {e:?}"
            );
        }
        let h88 = "A".repeat(86) + "==";
        for (n, r, p) in [
            ("3", "8", "1"),
            ("0", "8", "1"),
            ("1", "8", "1"),
            ("1073741824", "8", "1"),
            ("2097152", "8", "1"),
            ("16384", "0", "1"),
            ("16384", "8", "0"),
            ("16384", "8", "1000"),
            ("16384", "64", "64"),
            ("16384", "99999999999", "1"),
            ("-16384", "8", "1"),
        ] {
            let e = err(&format!("scrypt${n}$salt${r}${p}${h88}"));
            assert!(
                matches!(
                    e,
                    PasswordError::Malformed(_) | PasswordError::ParameterOutOfRange(_)
                ),
                "scrypt {n} {r} {p}: {e:?}"
            );
        }
        let data = "abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyz01234";
        for (version, cost) in [
            ("2b", "31"),
            ("2b", "17"),
            ("2b", "03"),
            ("2b", "4"),
            ("2b", "1x"),
            ("2c", "12"),
        ] {
            let e = err(&format!("bcrypt_sha256$${version}${cost}${data}"));
            assert!(
                matches!(
                    e,
                    PasswordError::Malformed(_) | PasswordError::ParameterOutOfRange(_)
                ),
                "bcrypt {version} {cost}: {e:?}"
            );
        }
        assert!(matches!(
            err("bcrypt$$2b$12$short"),
            PasswordError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!("bcrypt$2b$12${data}")),
            PasswordError::Malformed(_)
        ));
    }

    #[test]
    fn builders_refuse_out_of_range() {
        let h = PasswordHasher::default();
        assert!(h.clone().with_iterations(0).is_err());
        assert!(
            h.clone()
                .with_iterations(MAX_PBKDF2_ITERATIONS + 1)
                .is_err()
        );
        assert!(h.clone().with_iterations(MAX_PBKDF2_ITERATIONS).is_ok());
        assert!(h.clone().with_salt_entropy(63).is_err());
        assert!(h.clone().with_bcrypt_cost(3).is_err());
        assert!(h.clone().with_bcrypt_cost(17).is_err());
        let huge = Argon2Params {
            memory_cost_kib: u32::MAX,
            ..Argon2Params::default()
        };
        assert!(h.clone().with_argon2_params(huge).is_err());
        let odd = ScryptParams {
            work_factor: 1000,
            ..ScryptParams::default()
        };
        assert!(h.clone().with_scrypt_params(odd).is_err());
    }

    #[test]
    fn errors_and_debug_never_echo_input() {
        let secret = "pbkdf2_sha256$1000$SECRETSALT$SECRETHASH";
        let e = err(secret);
        assert!(!format!("{e} {e:?}").contains("SECRET"));
        assert!(!format!("{:?}", PasswordHasher::default()).contains("SECRET"));
        let e = err("SECRETALGO$x");
        assert!(!format!("{e} {e:?}").contains("SECRET"));
    }

    #[test]
    fn features_gate_algorithms() {
        let h = PasswordHasher::default();
        for a in [
            Algorithm::Argon2,
            Algorithm::Scrypt,
            Algorithm::Bcrypt,
            Algorithm::BcryptSha256,
        ] {
            assert_eq!(h.clone().with_algorithm(a).is_ok(), a.can_hash(), "{a}");
        }
    }

    #[cfg(feature = "argon2")]
    #[test]
    fn argon2_round_trip_and_must_update() {
        let params = Argon2Params {
            time_cost: 1,
            memory_cost_kib: 64,
            parallelism: 2,
        };
        let h = PasswordHasher::default()
            .with_algorithm(Algorithm::Argon2)
            .unwrap()
            .with_argon2_params(params)
            .unwrap();
        let encoded = h.hash("pw");
        assert!(encoded.starts_with("argon2$argon2id$v=19$m=64,t=1,p=2$"));
        let v = h.verify("pw", &encoded).unwrap();
        assert!(v.matches && !v.must_update);
        assert!(!h.verify("px", &encoded).unwrap().matches);
        assert!(PasswordHasher::default().must_update(&encoded).unwrap());
        let other = h
            .with_argon2_params(Argon2Params {
                time_cost: 2,
                ..params
            })
            .unwrap();
        assert!(other.must_update(&encoded).unwrap());
    }

    #[cfg(feature = "scrypt")]
    #[test]
    fn scrypt_round_trip_and_must_update() {
        let params = ScryptParams {
            work_factor: 16,
            block_size: 8,
            parallelism: 1,
        };
        let h = PasswordHasher::default()
            .with_algorithm(Algorithm::Scrypt)
            .unwrap()
            .with_scrypt_params(params)
            .unwrap();
        let encoded = h.hash("pw");
        assert!(encoded.starts_with("scrypt$16$"));
        assert!(h.verify("pw", &encoded).unwrap().matches);
        assert!(!h.verify("pw", &encoded).unwrap().must_update);
        assert!(!h.verify("px", &encoded).unwrap().matches);
        let other = h
            .with_scrypt_params(ScryptParams {
                parallelism: 2,
                ..params
            })
            .unwrap();
        assert!(other.must_update(&encoded).unwrap());
    }

    #[cfg(feature = "bcrypt")]
    #[test]
    fn bcrypt_round_trip_and_hardening_path() {
        for algorithm in [Algorithm::BcryptSha256, Algorithm::Bcrypt] {
            let h = PasswordHasher::default()
                .with_algorithm(algorithm)
                .unwrap()
                .with_bcrypt_cost(5)
                .unwrap();
            let encoded = h.hash("pw");
            assert!(encoded.starts_with(&format!("{algorithm}$$2b$05$")));
            let v = h.verify("pw", &encoded).unwrap();
            assert!(v.matches && !v.must_update);
            // A cost-4 hash under a cost-5 configuration: updated, and a failure is hardened.
            let weaker = h.clone().with_bcrypt_cost(4).unwrap().hash("pw");
            let v = h.verify("pw", &weaker).unwrap();
            assert!(v.matches && v.must_update);
            assert!(!h.verify("px", &weaker).unwrap().matches);
        }
    }
}
