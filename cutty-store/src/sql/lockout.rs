//! `LockoutStore` on SQL: one row per key holding the state as JSON, a version for
//! compare-and-swap and the state's expiry. Same text on SQLite and PostgreSQL.
//!
//! Versions are random 63-bit numbers drawn for every write, so they never repeat for a key
//! in practice, even across a reset and re-creation or a maintenance delete (the trait asks
//! for that), and no shared counter row becomes a hot spot.

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::lockout::{LockoutState, VersionedState};

/// Insert if absent — an expired row counts as absent and is replaced.
pub(crate) const INSERT_IF_ABSENT: &str = "INSERT INTO lockout_state (key, state, version, expires_at_ms) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET state = excluded.state, \
     version = excluded.version, expires_at_ms = excluded.expires_at_ms \
     WHERE lockout_state.expires_at_ms <= $5";
/// The compare-and-swap on a live row's version.
pub(crate) const SWAP: &str = "UPDATE lockout_state SET state = $2, version = $3, expires_at_ms = $4 \
     WHERE key = $1 AND version = $5 AND expires_at_ms > $6";
pub(crate) const LOAD: &str =
    "SELECT state, version FROM lockout_state WHERE key = $1 AND expires_at_ms > $2";
pub(crate) const RESET: &str = "DELETE FROM lockout_state WHERE key = $1";

/// A fresh version: 63 random bits (non-negative as `BIGINT`).
pub(crate) fn new_version() -> i64 {
    (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64
}

pub(crate) fn encode(state: &LockoutState) -> Result<String, StoreError> {
    serde_json::to_string(state).map_err(|e| {
        StoreError::new(StoreErrorKind::Rollback, "lockout_state: encode").with_source(e)
    })
}

pub(crate) fn decode(state: &str, version: i64) -> Result<VersionedState, StoreError> {
    let state = serde_json::from_str(state).map_err(|e| {
        StoreError::new(StoreErrorKind::SchemaMismatch, "lockout_state.state").with_source(e)
    })?;
    Ok(VersionedState {
        state,
        version: version as u64,
    })
}

/// Implements `LockoutStore` for a SQL store type with fields `pool` and `options`.
macro_rules! impl_lockout_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::lockout::LockoutStore for $store {
            async fn load(
                &self,
                key: &cutty_core::lockout::LockoutKey,
                now_ms: i64,
            ) -> Result<Option<cutty_core::lockout::VersionedState>, cutty_core::error::StoreError>
            {
                let fut = sqlx::query_as::<_, (String, i64)>(crate::sql::lockout::LOAD)
                    .bind(key.storage_key())
                    .bind(now_ms)
                    .fetch_optional(&self.pool);
                crate::sql::bounded("lockout.load", self.options.operation_timeout, fut)
                    .await?
                    .map(|(state, version)| crate::sql::lockout::decode(&state, version))
                    .transpose()
            }

            async fn compare_and_swap(
                &self,
                key: &cutty_core::lockout::LockoutKey,
                expected: Option<u64>,
                state: &cutty_core::lockout::LockoutState,
                now_ms: i64,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let json = crate::sql::lockout::encode(state)?;
                let version = crate::sql::lockout::new_version();
                let fut = match expected {
                    None => sqlx::query(crate::sql::lockout::INSERT_IF_ABSENT)
                        .bind(key.storage_key())
                        .bind(json)
                        .bind(version)
                        .bind(state.expires_at_ms)
                        .bind(now_ms)
                        .execute(&self.pool),
                    Some(expected) => {
                        // Versions are always non-negative BIGINTs: a larger one matches nothing.
                        let Ok(expected) = i64::try_from(expected) else {
                            return Ok(false);
                        };
                        sqlx::query(crate::sql::lockout::SWAP)
                            .bind(key.storage_key())
                            .bind(json)
                            .bind(version)
                            .bind(state.expires_at_ms)
                            .bind(expected)
                            .bind(now_ms)
                            .execute(&self.pool)
                    }
                };
                let done = crate::sql::bounded(
                    "lockout.compare_and_swap",
                    self.options.operation_timeout,
                    fut,
                )
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reset(
                &self,
                key: &cutty_core::lockout::LockoutKey,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::lockout::RESET)
                    .bind(key.storage_key())
                    .execute(&self.pool);
                crate::sql::bounded("lockout.reset", self.options.operation_timeout, fut).await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_lockout_store;
