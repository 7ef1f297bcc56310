//! [`TokenService`]: issuing pairs, verifying access tokens, rotation, logout, invalidation.

use std::fmt;

use uuid::Uuid;

use super::{
    FamilyId, FamilyState, Rotation, TokenCodec, TokenStore, TokenType, VerifiedClaims,
    VerifiedTokenCache,
};
use crate::clock::Clock;
use crate::error::Error;

/// The contract's token pair, serialized exactly as
/// `{"access_token","refresh_token","token_type":"Bearer","expires_in"}`.
///
/// `Debug` does not print the tokens.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenPair {
    /// The access JWT.
    pub access_token: String,
    /// The refresh JWT.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Seconds until the access token expires (the access TTL).
    pub expires_in: u64,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A pair just issued, with what a host logs or records about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedPair {
    /// What the client receives.
    pub pair: TokenPair,
    /// `sub`.
    pub user_id: String,
    /// The refresh family both tokens belong to.
    pub family: FamilyId,
    /// The access token's `jti`.
    pub access_jti: Uuid,
    /// The refresh token's `jti`.
    pub refresh_jti: Uuid,
    /// The access token's `exp`, in Unix ms.
    pub access_expires_at_ms: i64,
    /// The refresh token's `exp`, in Unix ms.
    pub refresh_expires_at_ms: i64,
}

/// Proof that an access token passed every check: signature, claims, times, and the store
/// (jti not revoked, issued after the user's not-before mark, family not revoked).
///
/// Only [`TokenService::verify_access`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccess {
    claims: VerifiedClaims,
}

impl VerifiedAccess {
    /// The verified claims.
    pub fn claims(&self) -> &VerifiedClaims {
        &self.claims
    }
    /// `sub`: the user id. Whether that user still exists is the host's check: it maps a
    /// missing user to `Error::InvalidToken(`[`InvalidTokenReason::UnknownUser`](crate::error::InvalidTokenReason::UnknownUser)`)` (`AUTH_001`).
    pub fn user_id(&self) -> &str {
        self.claims.user_id()
    }
    /// `jti`.
    pub fn jti(&self) -> Uuid {
        self.claims.jti()
    }
    /// The refresh family.
    pub fn family(&self) -> FamilyId {
        self.claims.family()
    }
}

/// What a refresh attempt came to, for hosts that record `refresh_reuse` events.
/// [`RefreshOutcome::into_result`] turns it into the client's answer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: here is the new pair, in the same family.
    Rotated(IssuedPair),
    /// The token had already been used: its family (and every token in it) is now revoked.
    ReuseDetected {
        /// `sub` of the reused token.
        user_id: String,
        /// The family just revoked.
        family: FamilyId,
    },
}

impl RefreshOutcome {
    /// `Rotated` → the pair; `ReuseDetected` → [`Error::TokenRevoked`] (`AUTH_003`).
    pub fn into_result(self) -> Result<IssuedPair, Error> {
        match self {
            Self::Rotated(pair) => Ok(pair),
            Self::ReuseDetected { .. } => Err(Error::TokenRevoked),
        }
    }
}

/// Tokens with their store and clock: the operations behind the contract's login, refresh,
/// logout and invalidate endpoints.
///
/// Revocation checks fail closed: a store error is returned as [`Error::Store`], never read
/// as "not revoked".
#[derive(Debug)]
pub struct TokenService<S, C> {
    codec: TokenCodec,
    store: S,
    clock: C,
    verified: VerifiedTokenCache,
}

impl<S: TokenStore, C: Clock> TokenService<S, C> {
    /// Ties a codec, a store and a clock together.
    pub fn new(codec: TokenCodec, store: S, clock: C) -> Self {
        let verified = VerifiedTokenCache::new(codec.config().verified_cache_entries);
        Self {
            codec,
            store,
            clock,
            verified,
        }
    }

    /// The access tokens already verified (see
    /// [`TokenConfig::verified_cache_entries`](super::TokenConfig::verified_cache_entries)).
    pub fn verified_cache(&self) -> &VerifiedTokenCache {
        &self.verified
    }

    /// The codec (settings and keys).
    pub fn codec(&self) -> &TokenCodec {
        &self.codec
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    fn leeway_ms(&self) -> i64 {
        i64::try_from(self.codec.config().leeway.as_millis()).unwrap_or(i64::MAX)
    }

    /// Issues an access + refresh pair for `user_id` in a new refresh family (login,
    /// registration, password change).
    pub async fn issue_pair(&self, user_id: &str) -> Result<IssuedPair, Error> {
        let now = self.clock.now_unix_ms();
        let family = FamilyId::random();
        let refresh = self.codec.issue(TokenType::Refresh, user_id, family, now)?;
        let access = self.codec.issue(TokenType::Access, user_id, family, now)?;
        let keep = access
            .expires_at_ms()
            .max(refresh.expires_at_ms())
            .saturating_add(self.leeway_ms());
        self.store
            .create_family(family, user_id, refresh.jti(), keep, now)
            .await?;
        Ok(self.assemble(user_id, family, access, refresh))
    }

    fn assemble(
        &self,
        user_id: &str,
        family: FamilyId,
        access: super::IssuedToken,
        refresh: super::IssuedToken,
    ) -> IssuedPair {
        IssuedPair {
            user_id: user_id.to_owned(),
            family,
            access_jti: access.jti(),
            refresh_jti: refresh.jti(),
            access_expires_at_ms: access.expires_at_ms(),
            refresh_expires_at_ms: refresh.expires_at_ms(),
            pair: TokenPair {
                access_token: access.into_string(),
                refresh_token: refresh.into_string(),
                token_type: "Bearer".to_owned(),
                expires_in: self.codec.config().access_ttl.as_secs(),
            },
        }
    }

    /// Verifies an access token completely: [`TokenCodec::verify`], then one
    /// [`TokenStore::access_state`] read — its jti not revoked, issued (in ms) at or after the
    /// user's not-before mark, its family active. Any of those failing is
    /// [`Error::TokenRevoked`] (`AUTH_003`); a refresh token here is
    /// `InvalidToken(WrongType)`.
    pub async fn verify_access(&self, token: &str) -> Result<VerifiedAccess, Error> {
        let now = self.clock.now_unix_ms();
        // The signature and claims of a token seen before come from the cache; the store
        // checks below run every time.
        let claims = match self.verified.get(token.as_bytes(), now) {
            Some(claims) => claims,
            None => {
                let (claims, valid) = self.codec.verify_window(token, TokenType::Access, now)?;
                self.verified.insert(token, &claims, valid, now);
                claims
            }
        };
        self.check_access_state(claims, now).await
    }

    /// [`verify_access`](Self::verify_access) for a token that was verified before and is
    /// still inside its validity window (a [`verified_cache`](Self::verified_cache) hit),
    /// given as raw bytes: `None` when it is not such a token (verify it with
    /// `verify_access` then). A hit means the bytes equal a token that passed every check
    /// of [`TokenCodec::verify`] — a well-formed JWT, ASCII, never API-key shaped — so a
    /// host may look a bearer credential up here before parsing it at all. The store
    /// checks run as in `verify_access`.
    pub async fn verify_access_seen(&self, token: &[u8]) -> Option<Result<VerifiedAccess, Error>> {
        let now = self.clock.now_unix_ms();
        let claims = self.verified.get(token, now)?;
        Some(self.check_access_state(claims, now).await)
    }

    /// The store checks of [`verify_access`](Self::verify_access) for verified `claims`.
    async fn check_access_state(
        &self,
        claims: VerifiedClaims,
        now: i64,
    ) -> Result<VerifiedAccess, Error> {
        let state = self
            .store
            .access_state(claims.jti(), claims.user_id(), claims.family(), now)
            .await?;
        let before_mark = state
            .user_not_before_ms
            .is_some_and(|mark| claims.issued_at_ms() < mark);
        if state.token_revoked || before_mark || state.family != FamilyState::Active {
            return Err(Error::TokenRevoked);
        }
        Ok(VerifiedAccess { claims })
    }

    /// Exchanges a refresh token for a new pair in the same family (one-time use).
    /// A reused refresh token revokes its family and answers [`Error::TokenRevoked`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedPair, Error> {
        self.refresh_outcome(refresh_token).await?.into_result()
    }

    /// [`TokenService::refresh`], telling reuse apart so the host can record it.
    pub async fn refresh_outcome(&self, refresh_token: &str) -> Result<RefreshOutcome, Error> {
        let now = self.clock.now_unix_ms();
        let claims = self.codec.verify(refresh_token, TokenType::Refresh, now)?;
        let user = claims.user_id();
        let family = claims.family();
        let state = self
            .store
            .access_state(claims.jti(), user, family, now)
            .await?;
        let before_mark = state
            .user_not_before_ms
            .is_some_and(|mark| claims.issued_at_ms() < mark);
        if state.token_revoked || before_mark {
            return Err(Error::TokenRevoked);
        }
        let refresh = self.codec.issue(TokenType::Refresh, user, family, now)?;
        let access = self.codec.issue(TokenType::Access, user, family, now)?;
        let keep = access
            .expires_at_ms()
            .max(refresh.expires_at_ms())
            .saturating_add(self.leeway_ms());
        match self
            .store
            .rotate_family(family, claims.jti(), refresh.jti(), keep, now)
            .await?
        {
            Rotation::Rotated => Ok(RefreshOutcome::Rotated(
                self.assemble(user, family, access, refresh),
            )),
            Rotation::Reused => Ok(RefreshOutcome::ReuseDetected {
                user_id: user.to_owned(),
                family,
            }),
            Rotation::Revoked | Rotation::Unknown => Err(Error::TokenRevoked),
        }
    }

    /// Logs out the session of `access`: revokes its jti until its expiry and revokes its
    /// family (so the session's refresh token dies too). If a `refresh_token` is given and
    /// belongs to another family of the same user, that family is revoked as well.
    ///
    /// The refresh token is checked first, so a refused call changes nothing: invalid →
    /// `InvalidToken`, another user's → [`Error::Forbidden`]. An expired one is accepted
    /// (there is nothing left to revoke).
    pub async fn logout(
        &self,
        access: &VerifiedAccess,
        refresh_token: Option<&str>,
    ) -> Result<(), Error> {
        let now = self.clock.now_unix_ms();
        let mut other_family = None;
        if let Some(token) = refresh_token {
            match self.codec.verify(token, TokenType::Refresh, now) {
                Ok(c) if c.user_id() != access.user_id() => return Err(Error::Forbidden),
                Ok(c) if c.family() != access.family() => other_family = Some(c.family()),
                Ok(_) | Err(Error::TokenExpired) => {}
                Err(e) => return Err(e),
            }
        }
        let keep = access
            .claims
            .expires_at_ms()
            .saturating_add(self.leeway_ms());
        self.store.revoke_token(access.jti(), keep, now).await?;
        self.store.revoke_family(access.family(), now).await?;
        if let Some(family) = other_family {
            self.store.revoke_family(family, now).await?;
        }
        Ok(())
    }

    /// Invalidates every token of `user_id` issued before now (one not-before mark per
    /// user). Tokens issued from now on — even within the same millisecond, e.g. the new pair
    /// of a password change — stay valid. API keys are not touched.
    pub async fn invalidate_user(&self, user_id: &str) -> Result<(), Error> {
        let now = self.clock.now_unix_ms();
        let keep = now.saturating_add(self.codec.max_lifetime_ms());
        self.store
            .raise_user_not_before(user_id, now, keep, now)
            .await
            .map_err(Error::from)
    }

    /// Revokes one token by `jti` (`cutty token revoke JTI`), kept for the longest token
    /// lifetime since the token's own expiry is not known here.
    pub async fn revoke_jti(&self, jti: Uuid) -> Result<(), Error> {
        let now = self.clock.now_unix_ms();
        let keep = now.saturating_add(self.codec.max_lifetime_ms());
        Ok(self.store.revoke_token(jti, keep, now).await?)
    }

    /// Lifts a revocation made in error (`cutty token unrevoke JTI`). Returns whether there
    /// was one.
    pub async fn unrevoke_jti(&self, jti: Uuid) -> Result<bool, Error> {
        Ok(self.store.unrevoke_token(jti).await?)
    }

    /// Revokes a whole refresh family (all its access and refresh tokens).
    pub async fn revoke_family(&self, family: FamilyId) -> Result<(), Error> {
        let now = self.clock.now_unix_ms();
        Ok(self.store.revoke_family(family, now).await?)
    }
}
