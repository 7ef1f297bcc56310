//! The storage trait for revocations, per-user invalidation marks and refresh families.

use std::fmt;

use uuid::Uuid;

use crate::error::StoreError;

/// The id of a refresh family: every pair issued from one login and its rotations. Carried
/// in both tokens as the `fam` claim, so revoking the family kills its access tokens too.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct FamilyId(pub Uuid);

impl FamilyId {
    /// A new random family id.
    pub fn random() -> Self {
        Self(super::codec::new_uuid())
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyId({})", self.0)
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The answer of [`TokenStore::rotate_family`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rotation {
    /// The presented jti was the family's current one; it is now replaced by the new one.
    Rotated,
    /// The presented jti was not the current one (an older, already used refresh token):
    /// the family has been revoked, in the same atomic step.
    Reused,
    /// The family was already revoked. Nothing changed.
    Revoked,
    /// No such family (never created, or expired and dropped). Nothing changed.
    Unknown,
}

/// The state of a refresh family, as [`TokenStore::family_state`] sees it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FamilyState {
    /// Exists and is not revoked.
    Active,
    /// Revoked (logout, reuse). Its tokens fail with `AUTH_003`.
    Revoked,
    /// Not known (never created, or expired and dropped).
    Unknown,
}

/// Everything [`TokenStore::access_state`] reports about one access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessState {
    /// Its `jti` is revoked.
    pub token_revoked: bool,
    /// The user's "not valid before" mark, in Unix ms, if any.
    pub user_not_before_ms: Option<i64>,
    /// Its family's state.
    pub family: FamilyState,
}

/// Storage for token revocation state. One trait for the whole concern, implemented by
/// cutty-store's memory, SQLite, PostgreSQL and Redis backends and by the Worker.
///
/// Three kinds of records, each with an expiry after which the backend may drop it (every
/// token it could affect has expired by then):
///
/// * **revoked jti** — one per explicitly revoked token, kept until that token's `exp`;
/// * **user not-before mark** — one per user (not one per token): tokens of that user issued
///   before the mark, in milliseconds, are refused. Only ever raised;
/// * **refresh family** — its user, its current refresh `jti`, revoked or not.
///
/// Times are Unix milliseconds from the caller's [`Clock`](crate::clock::Clock); the store
/// never reads a clock of its own: a record counts as expired when the `now_ms` argument is
/// at or past its expiry, whatever physical TTL the backend also sets (writes carry `now_ms`
/// too, so a backend can derive a relative TTL such as Redis `PX expires_at_ms - now_ms`).
/// `rotate_family` must be atomic (a compare-and-swap, a transaction, a Lua script or a
/// Durable Object): two concurrent calls with the same jti must not both succeed.
/// [`conformance`](super::conformance) checks all of this.
///
/// # Implementing it
/// See `FakeTokenStore` in [`testing`](super::testing) (feature `testing`) for a short,
/// complete in-memory implementation.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait TokenStore: Send + Sync {
    /// Revokes the token `jti` until `expires_at_ms` (its own `exp`). Idempotent; a later
    /// call with a later expiry extends the record.
    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Lifts a revocation made in error (`cutty token unrevoke`). Returns whether one was
    /// there.
    async fn unrevoke_token(&self, jti: Uuid) -> Result<bool, StoreError>;

    /// Whether `jti` is revoked at `now_ms` (a record past its expiry counts as absent).
    async fn is_token_revoked(&self, jti: Uuid, now_ms: i64) -> Result<bool, StoreError>;

    /// Raises `user_id`'s not-before mark to `not_before_ms` — never lowers it — and keeps
    /// it at least until `keep_until_ms` (extending any earlier keep-until).
    async fn raise_user_not_before(
        &self,
        user_id: &str,
        not_before_ms: i64,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// `user_id`'s not-before mark at `now_ms`, if any.
    async fn user_not_before(&self, user_id: &str, now_ms: i64) -> Result<Option<i64>, StoreError>;

    /// Creates `family` for `user_id` with `refresh_jti` as its current token, kept until
    /// `expires_at_ms`. A family id that already exists is a
    /// [`StoreErrorKind::Constraint`](crate::error::StoreErrorKind::Constraint) error.
    async fn create_family(
        &self,
        family: FamilyId,
        user_id: &str,
        refresh_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// **Atomically**: if `family` is unknown (or expired at `now_ms`) → `Unknown`; if
    /// revoked → `Revoked`; if `presented_jti` is its current jti → make `next_jti` current,
    /// extend its expiry to `expires_at_ms`, `Rotated`; otherwise (an older jti: reuse) →
    /// revoke the family and answer `Reused`.
    async fn rotate_family(
        &self,
        family: FamilyId,
        presented_jti: Uuid,
        next_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<Rotation, StoreError>;

    /// Revokes `family` (kept until its expiry). Unknown families: no-op.
    async fn revoke_family(&self, family: FamilyId, now_ms: i64) -> Result<(), StoreError>;

    /// The family's state at `now_ms`.
    async fn family_state(&self, family: FamilyId, now_ms: i64) -> Result<FamilyState, StoreError>;

    /// The three reads [`TokenService::verify_access`](super::TokenService::verify_access)
    /// needs. The default makes three calls; a networked backend should override it with
    /// one round trip (a pipeline, one SQL statement). It must answer exactly what the three
    /// calls would.
    async fn access_state(
        &self,
        jti: Uuid,
        user_id: &str,
        family: FamilyId,
        now_ms: i64,
    ) -> Result<AccessState, StoreError> {
        Ok(AccessState {
            token_revoked: self.is_token_revoked(jti, now_ms).await?,
            user_not_before_ms: self.user_not_before(user_id, now_ms).await?,
            family: self.family_state(family, now_ms).await?,
        })
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl<T: TokenStore + ?Sized> TokenStore for std::sync::Arc<T> {
    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        (**self).revoke_token(jti, expires_at_ms, now_ms).await
    }
    async fn unrevoke_token(&self, jti: Uuid) -> Result<bool, StoreError> {
        (**self).unrevoke_token(jti).await
    }
    async fn is_token_revoked(&self, jti: Uuid, now_ms: i64) -> Result<bool, StoreError> {
        (**self).is_token_revoked(jti, now_ms).await
    }
    async fn raise_user_not_before(
        &self,
        user_id: &str,
        not_before_ms: i64,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        (**self)
            .raise_user_not_before(user_id, not_before_ms, keep_until_ms, now_ms)
            .await
    }
    async fn user_not_before(&self, user_id: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        (**self).user_not_before(user_id, now_ms).await
    }
    async fn create_family(
        &self,
        family: FamilyId,
        user_id: &str,
        refresh_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        (**self)
            .create_family(family, user_id, refresh_jti, expires_at_ms, now_ms)
            .await
    }
    async fn rotate_family(
        &self,
        family: FamilyId,
        presented_jti: Uuid,
        next_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<Rotation, StoreError> {
        (**self)
            .rotate_family(family, presented_jti, next_jti, expires_at_ms, now_ms)
            .await
    }
    async fn revoke_family(&self, family: FamilyId, now_ms: i64) -> Result<(), StoreError> {
        (**self).revoke_family(family, now_ms).await
    }
    async fn family_state(&self, family: FamilyId, now_ms: i64) -> Result<FamilyState, StoreError> {
        (**self).family_state(family, now_ms).await
    }
    // On every request: the inner store's future, not a second box around it.
    fn access_state<'life0, 'life1, 'async_trait>(
        &'life0 self,
        jti: Uuid,
        user_id: &'life1 str,
        family: FamilyId,
        now_ms: i64,
    ) -> crate::BoxedStoreFuture<'async_trait, Result<AccessState, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).access_state(jti, user_id, family, now_ms)
    }
}
