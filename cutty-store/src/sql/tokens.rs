//! `TokenStore` on SQL: revoked jtis, per-user not-before marks and refresh families. The
//! statements are the same text on SQLite and PostgreSQL.
//!
//! Rotation is a compare-and-swap in one conditional `UPDATE … WHERE current_jti = $2 AND
//! NOT revoked`: two concurrent rotations presenting the same jti cannot both change a row.
//! The loser's follow-up `UPDATE … SET revoked` (presented jti no longer current) reports
//! the reuse.

/// Revoke (or extend a revocation of) a jti.
pub(crate) const REVOKE_TOKEN: &str = "INSERT INTO revoked_tokens (jti, expires_at_ms) VALUES ($1, $2) \
     ON CONFLICT (jti) DO UPDATE SET expires_at_ms = \
     CASE WHEN excluded.expires_at_ms > revoked_tokens.expires_at_ms \
     THEN excluded.expires_at_ms ELSE revoked_tokens.expires_at_ms END";
pub(crate) const UNREVOKE_TOKEN: &str = "DELETE FROM revoked_tokens WHERE jti = $1";
pub(crate) const IS_REVOKED: &str =
    "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1 AND expires_at_ms > $2)";
/// Raise a user's mark; an expired mark counts as absent and is replaced.
pub(crate) const RAISE_MARK: &str = "INSERT INTO user_token_marks (user_id, not_before_ms, keep_until_ms) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET \
     not_before_ms = CASE WHEN user_token_marks.keep_until_ms <= $4 \
       OR excluded.not_before_ms > user_token_marks.not_before_ms \
       THEN excluded.not_before_ms ELSE user_token_marks.not_before_ms END, \
     keep_until_ms = CASE WHEN user_token_marks.keep_until_ms <= $4 \
       OR excluded.keep_until_ms > user_token_marks.keep_until_ms \
       THEN excluded.keep_until_ms ELSE user_token_marks.keep_until_ms END";
pub(crate) const USER_MARK: &str =
    "SELECT not_before_ms FROM user_token_marks WHERE user_id = $1 AND keep_until_ms > $2";
/// Create a family; an expired family with the same id is replaced, a live one is kept
/// (zero rows affected → `Constraint`).
pub(crate) const CREATE_FAMILY: &str = "INSERT INTO refresh_families (family_id, user_id, current_jti, revoked, expires_at_ms) \
     VALUES ($1, $2, $3, FALSE, $4) \
     ON CONFLICT (family_id) DO UPDATE SET user_id = excluded.user_id, \
     current_jti = excluded.current_jti, revoked = FALSE, expires_at_ms = excluded.expires_at_ms \
     WHERE refresh_families.expires_at_ms <= $5";
/// The compare-and-swap of a rotation.
pub(crate) const ROTATE: &str = "UPDATE refresh_families SET current_jti = $3, expires_at_ms = $4 \
     WHERE family_id = $1 AND current_jti = $2 AND NOT revoked AND expires_at_ms > $5";
/// Reuse: revoke a live family whose current jti is not the presented one.
pub(crate) const REVOKE_ON_REUSE: &str = "UPDATE refresh_families SET revoked = TRUE \
     WHERE family_id = $1 AND current_jti <> $2 AND NOT revoked AND expires_at_ms > $3";
pub(crate) const FAMILY_ROW: &str = "SELECT revoked, current_jti FROM refresh_families \
     WHERE family_id = $1 AND expires_at_ms > $2";
pub(crate) const REVOKE_FAMILY: &str =
    "UPDATE refresh_families SET revoked = TRUE WHERE family_id = $1";
/// The three reads of `access_state` in one round trip.
pub(crate) const ACCESS_STATE: &str = "SELECT \
     EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1 AND expires_at_ms > $4), \
     (SELECT not_before_ms FROM user_token_marks WHERE user_id = $2 AND keep_until_ms > $4), \
     (SELECT revoked FROM refresh_families WHERE family_id = $3 AND expires_at_ms > $4)";

pub(crate) fn family_state(row: Option<bool>) -> cutty_core::token::FamilyState {
    match row {
        None => cutty_core::token::FamilyState::Unknown,
        Some(true) => cutty_core::token::FamilyState::Revoked,
        Some(false) => cutty_core::token::FamilyState::Active,
    }
}

/// Implements `TokenStore` for a SQL store type with fields `pool` and `options`.
macro_rules! impl_token_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::token::TokenStore for $store {
            async fn revoke_token(
                &self,
                jti: uuid::Uuid,
                expires_at_ms: i64,
                _now_ms: i64,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::tokens::REVOKE_TOKEN)
                    .bind(jti.to_string())
                    .bind(expires_at_ms)
                    .execute(&self.pool);
                crate::sql::bounded("tokens.revoke", self.options.operation_timeout, fut).await?;
                Ok(())
            }

            async fn unrevoke_token(
                &self,
                jti: uuid::Uuid,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::tokens::UNREVOKE_TOKEN)
                    .bind(jti.to_string())
                    .execute(&self.pool);
                let done =
                    crate::sql::bounded("tokens.unrevoke", self.options.operation_timeout, fut)
                        .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn is_token_revoked(
                &self,
                jti: uuid::Uuid,
                now_ms: i64,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = sqlx::query_scalar::<_, bool>(crate::sql::tokens::IS_REVOKED)
                    .bind(jti.to_string())
                    .bind(now_ms)
                    .fetch_one(&self.pool);
                crate::sql::bounded("tokens.is_revoked", self.options.operation_timeout, fut).await
            }

            async fn raise_user_not_before(
                &self,
                user_id: &str,
                not_before_ms: i64,
                keep_until_ms: i64,
                now_ms: i64,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::tokens::RAISE_MARK)
                    .bind(user_id)
                    .bind(not_before_ms)
                    .bind(keep_until_ms)
                    .bind(now_ms)
                    .execute(&self.pool);
                crate::sql::bounded(
                    "tokens.raise_user_not_before",
                    self.options.operation_timeout,
                    fut,
                )
                .await?;
                Ok(())
            }

            async fn user_not_before(
                &self,
                user_id: &str,
                now_ms: i64,
            ) -> Result<Option<i64>, cutty_core::error::StoreError> {
                let fut = sqlx::query_scalar::<_, i64>(crate::sql::tokens::USER_MARK)
                    .bind(user_id)
                    .bind(now_ms)
                    .fetch_optional(&self.pool);
                crate::sql::bounded(
                    "tokens.user_not_before",
                    self.options.operation_timeout,
                    fut,
                )
                .await
            }

            async fn create_family(
                &self,
                family: cutty_core::token::FamilyId,
                user_id: &str,
                refresh_jti: uuid::Uuid,
                expires_at_ms: i64,
                now_ms: i64,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::tokens::CREATE_FAMILY)
                    .bind(family.0.to_string())
                    .bind(user_id)
                    .bind(refresh_jti.to_string())
                    .bind(expires_at_ms)
                    .bind(now_ms)
                    .execute(&self.pool);
                let done = crate::sql::bounded(
                    "tokens.create_family",
                    self.options.operation_timeout,
                    fut,
                )
                .await?;
                if done.rows_affected() == 0 {
                    return Err(cutty_core::error::StoreError::new(
                        cutty_core::error::StoreErrorKind::Constraint,
                        "tokens.create_family: family id exists",
                    ));
                }
                Ok(())
            }

            async fn rotate_family(
                &self,
                family: cutty_core::token::FamilyId,
                presented_jti: uuid::Uuid,
                next_jti: uuid::Uuid,
                expires_at_ms: i64,
                now_ms: i64,
            ) -> Result<cutty_core::token::Rotation, cutty_core::error::StoreError> {
                use cutty_core::token::Rotation;
                let t = self.options.operation_timeout;
                let (fam, presented) = (family.0.to_string(), presented_jti.to_string());
                // Bounded: a retry is only needed if the family was (re)created with the
                // presented jti between two statements.
                for _ in 0..3 {
                    let fut = sqlx::query(crate::sql::tokens::ROTATE)
                        .bind(&fam)
                        .bind(&presented)
                        .bind(next_jti.to_string())
                        .bind(expires_at_ms)
                        .bind(now_ms)
                        .execute(&self.pool);
                    if crate::sql::bounded("tokens.rotate", t, fut)
                        .await?
                        .rows_affected()
                        == 1
                    {
                        return Ok(Rotation::Rotated);
                    }
                    let fut = sqlx::query(crate::sql::tokens::REVOKE_ON_REUSE)
                        .bind(&fam)
                        .bind(&presented)
                        .bind(now_ms)
                        .execute(&self.pool);
                    if crate::sql::bounded("tokens.rotate", t, fut)
                        .await?
                        .rows_affected()
                        == 1
                    {
                        return Ok(Rotation::Reused);
                    }
                    let fut = sqlx::query_as::<_, (bool, String)>(crate::sql::tokens::FAMILY_ROW)
                        .bind(&fam)
                        .bind(now_ms)
                        .fetch_optional(&self.pool);
                    match crate::sql::bounded("tokens.rotate", t, fut).await? {
                        None => return Ok(Rotation::Unknown),
                        Some((true, _)) => return Ok(Rotation::Revoked),
                        // Live and not revoked: it changed between our statements
                        // (re-created, or rotated to the presented jti); look again.
                        Some((false, _)) => continue,
                    }
                }
                Err(cutty_core::error::StoreError::new(
                    cutty_core::error::StoreErrorKind::Rollback,
                    "tokens.rotate: family kept changing",
                ))
            }

            async fn revoke_family(
                &self,
                family: cutty_core::token::FamilyId,
                _now_ms: i64,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::tokens::REVOKE_FAMILY)
                    .bind(family.0.to_string())
                    .execute(&self.pool);
                crate::sql::bounded("tokens.revoke_family", self.options.operation_timeout, fut)
                    .await?;
                Ok(())
            }

            async fn family_state(
                &self,
                family: cutty_core::token::FamilyId,
                now_ms: i64,
            ) -> Result<cutty_core::token::FamilyState, cutty_core::error::StoreError> {
                let fut = sqlx::query_as::<_, (bool, String)>(crate::sql::tokens::FAMILY_ROW)
                    .bind(family.0.to_string())
                    .bind(now_ms)
                    .fetch_optional(&self.pool);
                let row =
                    crate::sql::bounded("tokens.family_state", self.options.operation_timeout, fut)
                        .await?;
                Ok(crate::sql::tokens::family_state(row.map(|r| r.0)))
            }

            async fn access_state(
                &self,
                jti: uuid::Uuid,
                user_id: &str,
                family: cutty_core::token::FamilyId,
                now_ms: i64,
            ) -> Result<cutty_core::token::AccessState, cutty_core::error::StoreError> {
                let fut = sqlx::query_as::<_, (bool, Option<i64>, Option<bool>)>(
                    crate::sql::tokens::ACCESS_STATE,
                )
                .bind(jti.to_string())
                .bind(user_id)
                .bind(family.0.to_string())
                .bind(now_ms)
                .fetch_one(&self.pool);
                let (token_revoked, user_not_before_ms, fam) =
                    crate::sql::bounded("tokens.access_state", self.options.operation_timeout, fut)
                        .await?;
                Ok(cutty_core::token::AccessState {
                    token_revoked,
                    user_not_before_ms,
                    family: crate::sql::tokens::family_state(fam),
                })
            }
        }
    };
}
pub(crate) use impl_token_store;
