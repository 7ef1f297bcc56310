//! API keys: `cutty_` + 32 base62 characters, keyed hashing with rotating salts, strict
//! permissions, and the store trait.
//!
//! ## Format
//! `cutty_` + 26 random characters + a 6-character checksum, 38 ASCII characters in all,
//! alphabet `0-9A-Za-z`:
//!
//! * the 26 random characters come from a CSPRNG (≈ 154.8 bits), drawn uniformly by
//!   rejection sampling;
//! * the checksum is the CRC32 of the **first 32 bytes** (`cutty_` and the random part —
//!   everything before the checksum), in base62 with the most significant digit first,
//!   left-padded with `0` to 6 characters.
//!
//! [`ApiKey::parse`] refuses a wrong prefix, length, alphabet or checksum with `API_001`
//! before any store is touched, so typos and made-up keys cost no database round trip, and
//! secret scanners can match `cutty_[0-9A-Za-z]{32}` and confirm the checksum offline.
//! [`looks_like_api_key`] tells a key from a JWT in an `Authorization: Bearer` value.
//!
//! ## Storage
//! Only `HMAC-SHA256(API_KEY_SALT, key)` ([`KeyHash`]) is stored, tagged with the id of the
//! salt that made it ([`SaltId`]), plus a display prefix (`cutty_` + the first 4 random
//! characters, [`DISPLAY_PREFIX_LEN`] = 10) shown in listings. A fast keyed hash is right
//! here, unlike for passwords: keys have 154 bits of entropy, so there is nothing to
//! brute-force, and every request pays for the hash.
//!
//! [`ApiKeyHasher`] holds several salts at once, like JWT verification keys: new keys are
//! hashed under the current salt; look-ups try the current salt first, then older ones; a
//! key found under an older salt reports `needs_rehash` ([`HashCheck`]) and
//! [`ApiKeyService::authenticate`] migrates it on the spot. The quarterly `API_KEY_SALT`
//! rotation therefore no longer invalidates every key. Each salt's HMAC state (the padded
//! key already absorbed) is prepared once; a verification costs two SHA-256 compressions.
//!
//! ## Permissions
//! [`Permission`] is `files:read`, `files:write` or `list:process`, parsed from the exact
//! strings only. [`PermissionSet::require`] (or [`ApiKeyPrincipal::require`]) is the one
//! check, answering `API_005`. A key never holds more than its owner: creation refuses
//! permissions the owner lacks, and [`ApiKeyPrincipal::limited_to_owner`] intersects the
//! key's set with the owner's. An API key never carries the admin role
//! ([`ApiKeyPrincipal::is_admin`] is always `false`); a JWT user holds every permission on
//! its own resources.
//!
//! ## Authentication
//! [`ApiKeyService::authenticate`]: parse (`API_001`) → hash under each salt → store look-up
//! (none: `API_002`) → inactive (`API_004`) → expired by the injected clock (`API_003`) →
//! migrate an old-salt hash → record `last_used` → an [`ApiKeyPrincipal`], which only this
//! module can build.
//!
//! ## Example
//! ```
//! use cutty_core::api_key::{
//!     ApiKey, ApiKeyHasher, ApiKeySalt, HashCheck, Permission, PermissionSet, SaltId,
//! };
//! use cutty_core::Error;
//! use rand::TryRngCore as _;
//!
//! // Once, at start-up: the current salt (from API_KEY_SALT) and, after a rotation, older ones.
//! let hasher = ApiKeyHasher::new(ApiKeySalt::new(
//!     SaltId::new("2025q2")?,
//!     "a-long-random-API_KEY_SALT-value",
//! )?)
//! .with_previous(ApiKeySalt::new(SaltId::new("2025q1")?, "the-previous-quarters-salt")?)?;
//!
//! // Creating: generate from the OS CSPRNG, store only the salt id, hash and prefix.
//! let key = ApiKey::generate(&mut rand::rngs::OsRng.unwrap_err());
//! let (salt_id, key_hash) = hasher.hash(&key);
//! let shown_once = key.expose_secret().to_owned();
//! assert_eq!(shown_once.len(), 38);
//! assert!(shown_once.starts_with(key.display_prefix()));
//!
//! // A request presents it: parse strictly, then verify in constant time.
//! let presented = ApiKey::parse(&shown_once)?;
//! assert_eq!(
//!     hasher.verify(&presented, &salt_id, &key_hash),
//!     HashCheck::Match { needs_rehash: false }
//! );
//!
//! // Typos never reach the store.
//! let mut typo = shown_once.clone();
//! typo.replace_range(10..11, if &shown_once[10..11] == "x" { "y" } else { "x" });
//! assert!(matches!(ApiKey::parse(&typo), Err(Error::ApiKeyMalformed)));
//!
//! // Permissions: parsed strictly, checked by one function.
//! let granted = PermissionSet::parse_list(["files:read", "list:process"])?;
//! assert!(granted.require(Permission::FilesRead).is_ok());
//! assert!(matches!(
//!     granted.require(Permission::FilesWrite),
//!     Err(Error::ApiKeyPermissionDenied)
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod hash;
mod key;
mod permission;
mod record;
mod service;
mod store;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

pub use hash::{
    ApiKeyConfigError, ApiKeyHasher, ApiKeySalt, HashCheck, KeyHash, MIN_SALT_LEN, SaltId,
};
pub use key::{
    ApiKey, CHECKSUM_LEN, DISPLAY_PREFIX_LEN, KEY_LEN, KEY_PREFIX, RANDOM_LEN, looks_like_api_key,
};
pub use permission::{Permission, PermissionSet};
pub use record::{
    ApiKeyList, ApiKeyListItem, ApiKeyRecord, ApiKeyUsageItem, ApiKeyUsageList,
    CreateApiKeyRequest, CreatedApiKey, MAX_NAME_CHARS, UsageCounts, UsageOutcome,
    ValidCreateRequest,
};
pub use service::{ApiKeyPrincipal, ApiKeyService, NewApiKey};
pub use store::{ApiKeyStore, Revoker};

#[cfg(test)]
mod tests;
