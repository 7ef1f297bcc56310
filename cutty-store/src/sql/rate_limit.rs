//! `RateLimitStore` on SQL: one row per key holding the sliding-window state.
//!
//! * [`check_and_count`](cutty_core::rate_limit::RateLimitStore::check_and_count) is one
//!   statement (`upsert!`): `INSERT … ON CONFLICT (key) DO UPDATE SET … WHERE <admitted>
//!   RETURNING …`, whose `SET` and `WHERE` are [`SlidingWindow::evaluate`]'s window roll and
//!   admission test in exact 64-bit integer arithmetic. An admission returns the new state,
//!   from which the decision is computed here by `evaluate` itself (the state before it is
//!   the new one with one request less, in the same window). A refusal writes nothing and
//!   returns no row, so the statement also reads the row: on PostgreSQL in the same
//!   statement (a `SELECT … FOR UPDATE` in a CTE, [`CHECK_POSTGRES`]), on SQLite, which has
//!   no data-modifying CTEs, as a second statement of the same query text, run back to back
//!   on the connection's worker thread ([`CHECK_SQLITE`]). The refusal is answered from that
//!   state only if `evaluate` refuses it too; otherwise another writer got in between (a
//!   concurrent first insert, or on SQLite a write between the two statements) and the
//!   statement runs again, at most [`MAX_CAS_ATTEMPTS`] times.
//! * The load + compare-and-swap primitives are `INSERT … ON CONFLICT DO NOTHING` (expected:
//!   no state) and a conditional `UPDATE … WHERE key = $1 AND win = … AND prev = … AND curr
//!   = …`, checking the row count. Windows of 2³¹ ms (24.8 days) or more, where the products
//!   of the admission test could leave 64 bits, take this path for the check as well.
//!
//! On PostgreSQL the check's transaction commits with `synchronous_commit = off`, set with
//! `set_config(…, true)` inside the statement so that it ends with that transaction: a crash
//! of the database server may forget the counts of the last few hundred milliseconds (a
//! client then gets a few requests more), never anything else. See the crate README.
//!
//! The trait gives a TTL but no time, so a row's `expires_at_ms` is the store's clock plus
//! the TTL, rounded up to the next whole second (so that it stays the same value while the
//! window does, and PostgreSQL can update the row in place); `maintenance` deletes rows past
//! it. A stale row that has not been deleted yet is harmless: the limiter treats a state two
//! windows old like none.

use std::num::NonZeroU32;

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::rate_limit::{Decision, SlidingWindow, WindowState};

pub(crate) use cutty_core::rate_limit::MAX_CAS_ATTEMPTS;

pub(crate) const INSERT_IF_ABSENT: &str = "INSERT INTO rate_limit_counters (key, win, prev, curr, expires_at_ms) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING";
pub(crate) const SWAP: &str = "UPDATE rate_limit_counters SET win = $2, prev = $3, curr = $4, expires_at_ms = $5 \
     WHERE key = $1 AND win = $6 AND prev = $7 AND curr = $8";
pub(crate) const LOAD: &str = "SELECT win, prev, curr FROM rate_limit_counters WHERE key = $1";

/// The check-and-count upsert, the same text on both databases, without its `RETURNING`.
///
/// `$1` key, `$2` the window index `k = now / W`, `$3` the offset `e = now % W`, `$4` the
/// window length `W` in ms, `$5` the limit, `$6` the expiry of a state in window `k`, `$7`
/// the expiry of a state in a later window (a clock behind the stored window).
///
/// With `t` the stored row, `evaluate` first rolls it to the window it counts in (`win'`) and
/// takes its counts there (`prev'`, `curr'`) and the elapsed time (`e'`):
///
/// | stored window | `win'` | `prev'` | `curr'` | `e'` |
/// |---|---|---|---|---|
/// | none | `k` | 0 | 0 | `e` |
/// | `> k` (clock behind) | `t.win` | `t.prev` | `t.curr` | 0 |
/// | `= k` | `k` | `t.prev` | `t.curr` | `e` |
/// | `= k − 1` | `k` | `t.curr` | 0 | `e` |
/// | `< k − 1` | `k` | 0 | 0 | `e` |
///
/// and admits when `prev'·(W − e') + curr'·W + W ≤ limit·W`, written here as
/// `curr' < limit AND prev'·(W − e') ≤ (limit − curr' − 1)·W`: with counts below 2³² and
/// `W` below 2³¹ both products stay below 2⁶³, so the test is exact in 64-bit integers on
/// both databases (SQLite would otherwise fall back to floating point). A stored count
/// outside `0..2³²` is never admitted (the `CASE` keeps it out of the arithmetic); the row
/// read back then fails as a schema mismatch. The admitted state is
/// `(win', prev', curr' + 1)`.
macro_rules! upsert {
    () => {
        "INSERT INTO rate_limit_counters AS t (key, win, prev, curr, expires_at_ms) \
         VALUES ($1, $2, 0, 1, $6) \
         ON CONFLICT (key) DO UPDATE SET \
         win = CASE WHEN t.win > $2 THEN t.win ELSE $2 END, \
         prev = CASE WHEN t.win >= $2 THEN t.prev WHEN t.win = $2 - 1 THEN t.curr ELSE 0 END, \
         curr = CASE WHEN t.win >= $2 THEN t.curr + 1 ELSE 1 END, \
         expires_at_ms = CASE WHEN t.win > $2 THEN $7 ELSE $6 END \
         WHERE CASE WHEN t.win < 0 OR t.prev < 0 OR t.prev > 4294967295 \
         OR t.curr < 0 OR t.curr > 4294967295 THEN FALSE \
         ELSE CASE WHEN t.win >= $2 THEN t.curr ELSE 0 END < $5 \
         AND CASE WHEN t.win >= $2 THEN t.prev WHEN t.win = $2 - 1 THEN t.curr ELSE 0 END \
         * ($4 - CASE WHEN t.win > $2 THEN 0 ELSE $3 END) \
         <= ($5 - 1 - CASE WHEN t.win >= $2 THEN t.curr ELSE 0 END) * $4 END"
    };
}

/// The whole check on PostgreSQL, one statement. `cur` locks and reads the row first (its
/// latest committed version, waiting for a concurrent writer), so a refusal is answered
/// from the very state it was refused on; `up` is the upsert. Rows: the stored state
/// (`admitted = FALSE`, absent for a new key) and, when admitted, the new one (`TRUE`). The
/// last branch returns nothing: it makes this transaction commit without waiting for the
/// WAL flush (`set_config(…, true)` is transaction-local, so it ends with this statement).
#[cfg(feature = "postgres")]
pub(crate) const CHECK_POSTGRES: &str = concat!(
    "WITH cur AS (SELECT win, prev, curr FROM rate_limit_counters WHERE key = $1 FOR UPDATE), \
     up AS (",
    upsert!(),
    " RETURNING win, prev, curr) \
     SELECT win, prev, curr, FALSE AS admitted FROM cur \
     UNION ALL SELECT win, prev, curr, TRUE FROM up \
     UNION ALL SELECT NULL, NULL, NULL, NULL \
     WHERE set_config('synchronous_commit', 'off', true) IS NULL"
);

/// The whole check on SQLite: the upsert returning the new state when admitted (`TRUE`),
/// then the stored state read back (`FALSE`). Both statements run in one call on the
/// connection's worker thread; each is its own transaction.
#[cfg(feature = "sqlite")]
pub(crate) const CHECK_SQLITE: &str = concat!(
    upsert!(),
    " RETURNING win, prev, curr, TRUE; \
     SELECT win, prev, curr, FALSE FROM rate_limit_counters WHERE key = $1"
);

/// The check statement `sql` ([`CHECK_POSTGRES`] or [`CHECK_SQLITE`]) bound for `key`.
pub(crate) fn check_query<'q, DB>(
    sql: &'q str,
    key: &'q str,
    a: &CheckArgs,
) -> sqlx::query::QueryAs<'q, DB, CheckRow, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    CheckRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    sqlx::query_as::<DB, CheckRow>(sql)
        .bind(key)
        .bind(a.k)
        .bind(a.e)
        .bind(a.w)
        .bind(a.limit)
        .bind(a.expires_same)
        .bind(a.expires_ahead)
}

/// `(win, prev, curr)` as stored.
pub(crate) type Row = (i64, i64, i64);

/// A row of [`CHECK_POSTGRES`] / [`CHECK_SQLITE`]: a state and whether it is the one just
/// admitted.
pub(crate) type CheckRow = (i64, i64, i64, bool);

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

/// The store's time plus `ttl_ms`, rounded up to the next whole second: never earlier than
/// the TTL asks, and the same value for every write of one window while the store's and the
/// limiter's clocks agree to within a second, so an update leaves PostgreSQL's expiry index
/// alone (a HOT update). SQLite dirtied its index page on every update all the same (twice
/// the WAL per check, measured), so migration `0004` dropped the index there.
fn expiry(store_now_ms: i64, ttl_ms: u64) -> i64 {
    let at = store_now_ms.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
    at.div_euclid(1000).saturating_add(1).saturating_mul(1000)
}

pub(crate) fn expires_at(store_now_ms: i64, ttl: std::time::Duration) -> i64 {
    expiry(
        store_now_ms,
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
    )
}

/// Windows at least this long (2³¹ ms, 24.8 days) take the load + compare-and-swap path:
/// beyond it the admission test's products could leave 64 bits.
const SQL_EXACT_WINDOW_MS: u64 = 1 << 31;

/// The parameters `$2`… of the check statements, or `None` when the values are out of
/// the range the statement computes exactly (see [`SQL_EXACT_WINDOW_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckArgs {
    pub(crate) k: i64,
    pub(crate) e: i64,
    pub(crate) w: i64,
    pub(crate) limit: i64,
    pub(crate) expires_same: i64,
    pub(crate) expires_ahead: i64,
}

impl CheckArgs {
    pub(crate) fn new(
        window: &SlidingWindow,
        limit: NonZeroU32,
        now_ms: u64,
        store_now_ms: i64,
    ) -> Option<Self> {
        let w = window.window_ms();
        if w >= SQL_EXACT_WINDOW_MS {
            return None;
        }
        let e = now_ms % w;
        Some(Self {
            k: i64::try_from(now_ms / w).ok()?,
            e: i64::try_from(e).ok()?,
            w: i64::try_from(w).ok()?,
            limit: i64::from(limit.get()),
            // `SlidingWindow::ttl_ms` of a state in window k: the rest of this window and
            // the next; of a later window: capped at two windows.
            expires_same: expiry(store_now_ms, 2 * w - e),
            expires_ahead: expiry(store_now_ms, 2 * w),
        })
    }
}

/// The decision from the rows of one check statement, or `None` when another writer got in
/// between the write and the read and the statement must run again.
pub(crate) fn decide(
    rows: &[CheckRow],
    window: &SlidingWindow,
    limit: NonZeroU32,
    now_ms: u64,
) -> Result<Option<Decision>, StoreError> {
    if let Some(&(win, prev, curr, _)) = rows.iter().find(|r| r.3) {
        // Admitted: the state before is the new one minus this request, in the same
        // window, which `evaluate` rolls exactly as the statement did.
        let next = from_row((win, prev, curr))?;
        let before = WindowState {
            curr: next.curr.checked_sub(1).ok_or_else(disagrees)?,
            ..next
        };
        let ev = window.evaluate(Some(before), now_ms, limit);
        if ev.next != Some(next) {
            return Err(disagrees());
        }
        return Ok(Some(ev.decision));
    }
    // Refused: nothing was written. The refusal stands on the state read back if the model
    // refuses that state as well.
    let Some(&(win, prev, curr, _)) = rows.first() else {
        return Ok(None);
    };
    let ev = window.evaluate(Some(from_row((win, prev, curr))?), now_ms, limit);
    Ok(ev.next.is_none().then_some(ev.decision))
}

/// The statement admitted a state the model would not have reached: never expected (the
/// conformance suite compares them state by state), reported rather than guessed.
fn disagrees() -> StoreError {
    StoreError::new(
        StoreErrorKind::SchemaMismatch,
        "rate_limit_counters: check statement disagrees with the model",
    )
}

/// Implements `RateLimitStore` for a SQL store type with fields `pool`, `options` and
/// `clock` and a method `counter_check(&self, key: &str, args: &CheckArgs) ->
/// Result<Vec<CheckRow>, sqlx::Error>` running the one-statement check ([`CHECK_POSTGRES`]
/// or [`CHECK_SQLITE`], see [`check_query`]).
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

            /// One statement per check (see the module docs of `sql::rate_limit`); windows
            /// too long for its exact arithmetic take the load + compare-and-swap path.
            async fn check_and_count(
                &self,
                key: &cutty_core::rate_limit::RateLimitKey,
                window: &cutty_core::rate_limit::SlidingWindow,
                limit: std::num::NonZeroU32,
                now_ms: u64,
            ) -> Result<cutty_core::rate_limit::Decision, cutty_core::error::StoreError> {
                let Some(args) = crate::sql::rate_limit::CheckArgs::new(
                    window,
                    limit,
                    now_ms,
                    self.clock.now_unix_ms(),
                ) else {
                    return cutty_core::rate_limit::check_and_count_with_cas(
                        self, key, window, limit, now_ms,
                    )
                    .await;
                };
                let k = key.to_string();
                for _ in 0..crate::sql::rate_limit::MAX_CAS_ATTEMPTS {
                    let rows = crate::sql::bounded(
                        "rate_limit.check_and_count",
                        self.options.operation_timeout,
                        self.counter_check(&k, &args),
                    )
                    .await?;
                    if let Some(decision) =
                        crate::sql::rate_limit::decide(&rows, window, limit, now_ms)?
                    {
                        return Ok(decision);
                    }
                }
                Err(cutty_core::error::StoreError::new(
                    cutty_core::error::StoreErrorKind::Timeout,
                    "rate_limit.check_and_count: contention",
                ))
            }
        }
    };
}
pub(crate) use impl_rate_limit_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn expiry_rounds_up_to_the_next_second_and_saturates() {
        assert_eq!(expiry(1_000, 0), 2_000);
        assert_eq!(expiry(1_000, 999), 2_000);
        assert_eq!(expiry(1_001, 119_000), 121_000);
        assert_eq!(expiry(-1, 0), 0);
        assert_eq!(expiry(i64::MAX - 5, 10), i64::MAX);
        // Within one window, clocks a few ms apart give one value.
        let w = 60_000u64;
        let at = |store: i64, now: u64| expiry(store, 2 * w - now % w);
        assert_eq!(at(120_000, 120_000), at(125_007, 125_000));
        assert_eq!(at(120_000, 120_000), at(179_999, 179_999));
    }

    #[test]
    fn long_windows_take_the_compare_and_swap_path() {
        let short = SlidingWindow::from_secs(nz(2_147_483));
        let long = SlidingWindow::from_secs(nz(2_147_484));
        assert!(CheckArgs::new(&short, nz(u32::MAX), u64::MAX, 0).is_some());
        assert!(CheckArgs::new(&long, nz(1), 0, 0).is_none());
        let args = CheckArgs::new(&SlidingWindow::from_secs(nz(60)), nz(7), 123_456, 5).unwrap();
        assert_eq!((args.k, args.e, args.w, args.limit), (2, 3_456, 60_000, 7));
        assert_eq!(args.expires_same, 117_000);
        assert_eq!(args.expires_ahead, 121_000);
    }

    #[test]
    fn decisions_come_from_the_model() {
        let win = SlidingWindow::from_secs(nz(60));
        let now = 90_000;
        // Admitted: the new state (1, 10, 3) was (1, 10, 2) before this request.
        let before = WindowState {
            window: 1,
            prev: 10,
            curr: 2,
        };
        let got = decide(&[(1, 10, 2, false), (1, 10, 3, true)], &win, nz(10), now).unwrap();
        assert_eq!(got, Some(win.evaluate(Some(before), now, nz(10)).decision));
        // Refused on the state read back.
        let full = WindowState {
            window: 1,
            prev: 10,
            curr: 5,
        };
        let got = decide(&[(1, 10, 5, false)], &win, nz(10), now).unwrap();
        let model = win.evaluate(Some(full), now, nz(10));
        assert!(model.next.is_none());
        assert_eq!(got, Some(model.decision));
        // Refused, but the state read back would be admitted (another writer got in
        // between), or no state at all: run again.
        assert_eq!(
            decide(&[(1, 10, 4, false)], &win, nz(10), now).unwrap(),
            None
        );
        assert_eq!(decide(&[], &win, nz(10), now).unwrap(), None);
        // An admission the model would not have made is an error, not an answer.
        let err = decide(&[(1, 10, 6, true)], &win, nz(10), now).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);
        let err = decide(&[(1, 10, 0, true)], &win, nz(10), now).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);
        let err = decide(&[(1, -1, 0, false)], &win, nz(10), now).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);
    }
}
