//! Access and refresh JWTs: issuing, verifying, refresh rotation with reuse detection,
//! revocation by `jti` and per-user invalidation.
//!
//! # Pieces
//! * [`TokenConfig`] — issuer, leeway, TTLs and the algorithm allow-list, each field with its
//!   documented default (`cutty`, 30 s, 900 s, 604 800 s, `[HS256]`).
//! * [`Keyring`] — one [`SigningKey`] and several [`VerificationKey`]s by `kid`, so keys
//!   rotate without logging anyone out. HS256 by default; RS256/PS256, ES256 and EdDSA
//!   from PEM.
//! * [`TokenCodec`] — config + keys; signs and verifies one token with no store. Returns
//!   [`VerifiedClaims`], which only it can build.
//! * [`TokenStore`] — the async storage trait (revoked jtis, one not-before mark per user,
//!   refresh families with an atomic [`TokenStore::rotate_family`]).
//! * [`TokenService`] — codec + store + [`Clock`](crate::clock::Clock): `issue_pair`,
//!   `verify_access` (→ [`VerifiedAccess`]), `refresh`, `logout`, `invalidate_user`.
//! * [`VerifiedTokenCache`] — inside `TokenService`: an access token sent again (the
//!   client's normal case) skips its signature check and claim decoding, never the store
//!   checks ([`TokenConfig::verified_cache_entries`], `0` turns it off).
//!
//! # Claims
//! `sub` (user id as a string), `jti` (UUID v4), `iat`, `exp`, `iss`, `type`
//! (`"access"`/`"refresh"`), `fam` (the refresh family, a UUID, in **both** tokens so that
//! revoking a family kills its access tokens) and `iat_ms` (issue time in milliseconds, see
//! below). A standard JWT library given the same key verifies Cutty's tokens; the PyJWT
//! vectors in `cutty-core/tests/vectors/` check both directions.
//!
//! # Verification order
//! Length (≤ [`MAX_TOKEN_LEN`]) and shape; header `alg` against the allow-list **before**
//! any key is chosen (`none`, unknown names and disallowed algorithms →
//! `AlgorithmNotAllowed`); `kid` → key (unknown → `UnknownKey`; each key is bound to one
//! algorithm); signature (`BadSignature`); `iss` (`WrongIssuer`), `type` (`WrongType`),
//! required claims (`MissingClaim`); `nbf`/`iat` not in the future beyond the leeway
//! (`NotYetValid`); `exp` (→ [`Error::TokenExpired`](crate::Error::TokenExpired)). Times
//! come from the injected clock: `jsonwebtoken` is used only for its signature primitives,
//! never for its `Validation`, which would read the system clock.
//!
//! # Same-second invalidation
//! The contract says a token issued after an invalidation stays valid "even within the same
//! second", but `iat` has whole seconds. So every Cutty token also carries `iat_ms`, its
//! issue time in Unix milliseconds (signed like every claim, and checked to agree with
//! `iat`), and a user's invalidation is one millisecond mark: a token is refused iff its
//! `iat_ms` is **strictly before** the mark. A pair issued in the same millisecond as the
//! invalidation — the password-change flow does exactly that — therefore stays valid. The
//! cost is that a token issued concurrently in that very millisecond, before the
//! invalidation, survives it; we accept one millisecond over refusing the new pair. A token
//! without `iat_ms` (not made by Cutty) counts as issued at the start of its `iat` second,
//! so it loses to any mark within that second.
//!
//! # Revocation semantics
//! * `logout` revokes the access token's `jti` and its whole family (its refresh token
//!   dies with it); an optional refresh token of another family of the same user is revoked
//!   too.
//! * `refresh` is one-time: the store atomically swaps the family's current refresh jti.
//!   Presenting an older one revokes the family ([`RefreshOutcome::ReuseDetected`], which
//!   `refresh` turns into `AUTH_003`).
//! * Every record lasts until the last token it can affect has expired (plus the leeway),
//!   then the store may drop it.
//! * Store errors fail closed: they surface as [`Error::Store`](crate::Error::Store), never
//!   as "not revoked".
//! * Whether the subject still exists is the host's check (it maps a missing user to
//!   `InvalidToken(UnknownUser)`, `AUTH_001`).
//!
//! # Example
//! ```
//! # #[cfg(feature = "testing")] {
//! use cutty_core::clock::FakeClock;
//! use cutty_core::token::{TokenCodec, TokenService, testing::{block_on, FakeTokenStore}};
//! use cutty_core::{Error, ErrorCode};
//! use std::time::Duration;
//!
//! let codec = TokenCodec::hs256(b"a test secret of at least 32 bytes!!").unwrap();
//! let clock = FakeClock::at_unix_ms(1_800_000_000_000);
//! let tokens = TokenService::new(codec, FakeTokenStore::new(), clock.clone());
//!
//! block_on(async {
//!     let login = tokens.issue_pair("42").await?;
//!     assert_eq!(login.pair.token_type, "Bearer");
//!     assert_eq!(login.pair.expires_in, 900);
//!
//!     let me = tokens.verify_access(&login.pair.access_token).await?;
//!     assert_eq!(me.user_id(), "42");
//!
//!     clock.advance(Duration::from_secs(60));
//!     let next = tokens.refresh(&login.pair.refresh_token).await?;
//!     tokens.verify_access(&next.pair.access_token).await?;
//!
//!     // The old refresh token is spent: presenting it again revokes the whole family.
//!     let reused = tokens.refresh(&login.pair.refresh_token).await.unwrap_err();
//!     assert_eq!(reused.code(), ErrorCode::TokenRevoked);
//!     let dead = tokens.verify_access(&next.pair.access_token).await.unwrap_err();
//!     assert_eq!(dead.code(), ErrorCode::TokenRevoked);
//!     Ok::<(), Error>(())
//! })
//! .unwrap();
//! # }
//! ```

mod cache;
mod codec;
mod config;
mod keys;
mod service;
mod store;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use cache::{DEFAULT_VERIFIED_CACHE_ENTRIES, VerifiedTokenCache};
pub use codec::{
    FAMILY_CLAIM, HsError, ISSUED_AT_MS_CLAIM, IssuedToken, MAX_TOKEN_LEN, TokenCodec, TokenType,
    VerifiedClaims,
};
pub use config::{Algorithm, AlgorithmFamily, ConfigError, MAX_LEEWAY, TokenConfig};
pub use keys::{KeyError, Keyring, MIN_HMAC_SECRET_LEN, SigningKey, VerificationKey};
pub use service::{IssuedPair, RefreshOutcome, TokenPair, TokenService, VerifiedAccess};
pub use store::{AccessState, FamilyId, FamilyState, Rotation, TokenStore};
