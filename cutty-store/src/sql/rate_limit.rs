//! `RateLimitStore` on SQL: one row per key holding the sliding-window state, swapped with
//! `INSERT … ON CONFLICT DO NOTHING` (expected: no state) or a conditional `UPDATE … WHERE
//! key = $1 AND win = … AND prev = … AND curr = …`, checking the row count. Same text on
//! SQLite and PostgreSQL.
//!
//! The trait gives a TTL but no time, so a row's `expires_at_ms` is the store's clock plus
//! the TTL; `maintenance` deletes rows past it. A stale row that has not been deleted yet
//! is harmless: the limiter treats a state two windows old like none.

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::rate_limit::WindowState;

pub(crate) const INSERT_IF_ABSENT: &str = "INSERT INTO rate_limit_counters (key, win, prev, curr, expires_at_ms) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING";
pub(crate) const SWAP: &str = "UPDATE rate_limit_counters SET win = $2, prev = $3, curr = $4, expires_at_ms = $5 \
     WHERE key = $1 AND win = $6 AND prev = $7 AND curr = $8";
pub(crate) const LOAD: &str = "SELECT win, prev, curr FROM rate_limit_counters WHERE key = $1";

/// `(win, prev, curr)` as stored.
pub(crate) type Row = (i64, i64, i64);

pub(crate) fn to_row(s: &WindowState) -> Result<Row, StoreError> {
    let win = i64::try_from(s.window).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Constraint,
            "rate_limit_counters: window out of range",
        )
    })?;
    Ok((win, i64::from(s.prev), i64::from(s.curr)))
}

pub(crate) fn from_row((win, prev, curr): Row) -> Result<WindowState, StoreError> {
    let bad = || {
        StoreError::new(
            StoreErrorKind::SchemaMismatch,
            "rate_limit_counters: value out of range",
        )
    };
    Ok(WindowState {
        window: u64::try_from(win).map_err(|_| bad())?,
        prev: u32::try_from(prev).map_err(|_| bad())?,
        curr: u32::try_from(curr).map_err(|_| bad())?,
    })
}

pub(crate) fn expires_at(now_ms: i64, ttl: std::time::Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// Implements `RateLimitStore` for a SQL store type with fields `pool`, `options` and
/// `clock`.
macro_rules! impl_rate_limit_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::rate_limit::RateLimitStore for $store {
            async fn load(
                &self,
                key: &cutty_core::rate_limit::RateLimitKey,
            ) -> Result<Option<cutty_core::rate_limit::WindowState>, cutty_core::error::StoreError>
            {
                let fut =
                    sqlx::query_as::<_, crate::sql::rate_limit::Row>(crate::sql::rate_limit::LOAD)
                        .bind(key.to_string())
                        .fetch_optional(&self.pool);
                crate::sql::bounded("rate_limit.load", self.options.operation_timeout, fut)
                    .await?
                    .map(crate::sql::rate_limit::from_row)
                    .transpose()
            }

            async fn compare_and_swap(
                &self,
                key: &cutty_core::rate_limit::RateLimitKey,
                expected: Option<cutty_core::rate_limit::WindowState>,
                new: cutty_core::rate_limit::WindowState,
                ttl: std::time::Duration,
            ) -> Result<cutty_core::rate_limit::CasOutcome, cutty_core::error::StoreError> {
                let t = self.options.operation_timeout;
                let k = key.to_string();
                let (win, prev, curr) = crate::sql::rate_limit::to_row(&new)?;
                let expires = crate::sql::rate_limit::expires_at(self.clock.now_unix_ms(), ttl);
                let query = match expected {
                    None => sqlx::query(crate::sql::rate_limit::INSERT_IF_ABSENT)
                        .bind(&k)
                        .bind(win)
                        .bind(prev)
                        .bind(curr)
                        .bind(expires),
                    Some(old) => {
                        let (owin, oprev, ocurr) = crate::sql::rate_limit::to_row(&old)?;
                        sqlx::query(crate::sql::rate_limit::SWAP)
                            .bind(&k)
                            .bind(win)
                            .bind(prev)
                            .bind(curr)
                            .bind(expires)
                            .bind(owin)
                            .bind(oprev)
                            .bind(ocurr)
                    }
                };
                let done = crate::sql::bounded(
                    "rate_limit.compare_and_swap",
                    t,
                    query.execute(&self.pool),
                )
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(cutty_core::rate_limit::CasOutcome::Swapped);
                }
                let fut =
                    sqlx::query_as::<_, crate::sql::rate_limit::Row>(crate::sql::rate_limit::LOAD)
                        .bind(&k)
                        .fetch_optional(&self.pool);
                let seen = crate::sql::bounded("rate_limit.compare_and_swap", t, fut)
                    .await?
                    .map(crate::sql::rate_limit::from_row)
                    .transpose()?;
                Ok(cutty_core::rate_limit::CasOutcome::Conflict(seen))
            }
        }
    };
}
pub(crate) use impl_rate_limit_store;
