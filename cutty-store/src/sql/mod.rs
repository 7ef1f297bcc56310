//! What the SQL backends share: error classification and the user queries, which are the same
//! text on SQLite and PostgreSQL.

use std::future::Future;
use std::time::Duration;

use cutty_core::error::{StoreError, StoreErrorKind};

pub(crate) mod api_keys;
pub(crate) mod block_list;
pub(crate) mod events;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod lockout;
pub(crate) mod rate_limit;
pub(crate) mod tokens;

/// Classifies a driver error structurally (never by its message).
pub(crate) fn store_error(context: &'static str, e: sqlx::Error) -> StoreError {
    use sqlx::error::ErrorKind;
    let kind = match &e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation => StoreErrorKind::Constraint,
            _ => match db.code().as_deref() {
                // PostgreSQL: query_canceled (statement_timeout).
                Some("57014") => StoreErrorKind::Timeout,
                // PostgreSQL: undefined table / column — the schema is not ours.
                Some("42P01") | Some("42703") => StoreErrorKind::SchemaMismatch,
                // SQLite: SQLITE_BUSY / SQLITE_LOCKED after the busy timeout.
                Some("5") | Some("6") => StoreErrorKind::Timeout,
                _ => StoreErrorKind::Rollback,
            },
        },
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
        sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. } => StoreErrorKind::SchemaMismatch,
        sqlx::Error::Migrate(m) => match **m {
            sqlx::migrate::MigrateError::VersionMissing(_)
            | sqlx::migrate::MigrateError::VersionMismatch(_) => StoreErrorKind::SchemaMismatch,
            _ => StoreErrorKind::Unavailable,
        },
        _ => StoreErrorKind::Rollback,
    };
    StoreError::new(kind, context).with_source(e)
}

/// Runs `fut` with the operation timeout; a late answer is `Timeout`.
pub(crate) async fn bounded<T>(
    context: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| store_error(context, e)),
        Err(_) => Err(StoreError::new(StoreErrorKind::Timeout, context)),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    email: String,
    password_hash: String,
    is_active: bool,
    is_admin: bool,
    password_reset_required: bool,
    created_at: i64,
}

impl From<UserRow> for cutty_core::user::User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            username: r.username,
            email: r.email,
            password_hash: r.password_hash,
            is_active: r.is_active,
            is_admin: r.is_admin,
            password_reset_required: r.password_reset_required,
            created_at: r.created_at,
        }
    }
}

const USER_COLUMNS: &str =
    "id, username, email, password_hash, is_active, is_admin, password_reset_required, created_at";

pub(crate) fn q_insert_user() -> String {
    format!(
        "INSERT INTO users (username, username_key, email, email_key, password_hash, is_admin, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
    )
}
pub(crate) fn q_user_by_id() -> String {
    format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")
}
pub(crate) fn q_user_by_login() -> String {
    // The username wins over another user's identical email.
    format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username_key = $1 OR email_key = $1 \
         ORDER BY CASE WHEN username_key = $1 THEN 0 ELSE 1 END LIMIT 1"
    )
}

/// Implements `UserStore` for a SQL store type with fields `pool` and `options`. The query
/// text is shared; only the driver differs.
macro_rules! impl_user_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::user::UserStore for $store {
            async fn create(
                &self,
                user: cutty_core::user::NewUser,
            ) -> Result<cutty_core::user::User, cutty_core::user::CreateUserError> {
                let q = crate::sql::q_insert_user();
                let fut = sqlx::query_as::<_, crate::sql::UserRow>(&q)
                    .bind(&user.username)
                    .bind(user.username_key())
                    .bind(&user.email)
                    .bind(user.email_key())
                    .bind(&user.password_hash)
                    .bind(user.is_admin)
                    .bind(user.created_at)
                    .fetch_one(&self.pool);
                match crate::sql::bounded("users.create", self.options.operation_timeout, fut).await {
                    Ok(row) => Ok(row.into()),
                    Err(e) if e.kind() == cutty_core::error::StoreErrorKind::Constraint => {
                        Err(cutty_core::user::CreateUserError::AlreadyRegistered)
                    }
                    Err(e) => Err(e.into()),
                }
            }

            async fn find_by_id(
                &self,
                id: i64,
            ) -> Result<Option<cutty_core::user::User>, cutty_core::error::StoreError> {
                let q = crate::sql::q_user_by_id();
                let fut = sqlx::query_as::<_, crate::sql::UserRow>(&q).bind(id).fetch_optional(&self.pool);
                Ok(crate::sql::bounded("users.find_by_id", self.options.operation_timeout, fut)
                    .await?
                    .map(Into::into))
            }

            async fn find_by_login(
                &self,
                login: &str,
            ) -> Result<Option<cutty_core::user::User>, cutty_core::error::StoreError> {
                // No stored username or email holds NUL (registration refuses it, and
                // PostgreSQL cannot store it in text): such a name matches nobody. Answering
                // here keeps PostgreSQL from failing the query with a 500.
                if login.contains('\0') {
                    return Ok(None);
                }
                let q = crate::sql::q_user_by_login();
                let key = cutty_core::user::fold_case(login);
                let fut = sqlx::query_as::<_, crate::sql::UserRow>(&q).bind(key).fetch_optional(&self.pool);
                Ok(crate::sql::bounded("users.find_by_login", self.options.operation_timeout, fut)
                    .await?
                    .map(Into::into))
            }

            async fn update_password_hash(
                &self,
                id: i64,
                password_hash: &str,
                clear_reset_flag: bool,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = sqlx::query(
                    "UPDATE users SET password_hash = $1, \
                     password_reset_required = CASE WHEN $2 THEN FALSE ELSE password_reset_required END \
                     WHERE id = $3",
                )
                .bind(password_hash)
                .bind(clear_reset_flag)
                .bind(id)
                .execute(&self.pool);
                let done = crate::sql::bounded("users.update_password_hash", self.options.operation_timeout, fut).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_active(&self, id: i64, active: bool) -> Result<bool, cutty_core::error::StoreError> {
                let fut = sqlx::query("UPDATE users SET is_active = $1 WHERE id = $2")
                    .bind(active)
                    .bind(id)
                    .execute(&self.pool);
                let done = crate::sql::bounded("users.set_active", self.options.operation_timeout, fut).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_password_reset_required(
                &self,
                id: i64,
                required: bool,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = sqlx::query("UPDATE users SET password_reset_required = $1 WHERE id = $2")
                    .bind(required)
                    .bind(id)
                    .execute(&self.pool);
                let done = crate::sql::bounded("users.set_password_reset_required", self.options.operation_timeout, fut)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_user_store;

/// The wall clock a SQL store reads for the one expiry it must compute itself (rate-limit
/// rows: the trait passes a TTL, not a time). Everything else takes `now_ms` from the
/// caller.
#[derive(Clone)]
pub(crate) struct StoreClock(pub(crate) std::sync::Arc<dyn cutty_core::clock::Clock>);

impl StoreClock {
    pub(crate) fn now_unix_ms(&self) -> i64 {
        self.0.now_unix_ms()
    }
}

impl Default for StoreClock {
    fn default() -> Self {
        Self(std::sync::Arc::new(cutty_core::clock::SystemClock))
    }
}

impl std::fmt::Debug for StoreClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreClock")
    }
}

/// The deletes of `maintenance`, each `$1 = now_ms`.
pub(crate) const PURGE_REVOKED: &str = "DELETE FROM revoked_tokens WHERE expires_at_ms <= $1";
pub(crate) const PURGE_MARKS: &str = "DELETE FROM user_token_marks WHERE keep_until_ms <= $1";
pub(crate) const PURGE_FAMILIES: &str = "DELETE FROM refresh_families WHERE expires_at_ms <= $1";
pub(crate) const PURGE_LOCKOUTS: &str = "DELETE FROM lockout_state WHERE expires_at_ms <= $1";
pub(crate) const PURGE_COUNTERS: &str = "DELETE FROM rate_limit_counters WHERE expires_at_ms <= $1";

/// Implements `maintenance` and `with_clock` for a SQL store type with fields `pool`,
/// `options` and `clock`.
macro_rules! impl_maintenance {
    ($store:ty) => {
        impl $store {
            /// Uses `clock` (instead of the system clock) for the expiry of rate-limit rows,
            /// the one time this store computes itself.
            pub fn with_clock(mut self, clock: impl cutty_core::clock::Clock + 'static) -> Self {
                self.clock = crate::sql::StoreClock(std::sync::Arc::new(clock));
                self
            }

            /// Deletes what no longer matters at `now_ms`: expired revocations, user marks
            /// and refresh families, expired lockout states and idle rate-limit counters,
            /// lapsed block-list entries, and security events older than
            /// `event_retention_days` ([`DEFAULT_RETENTION_DAYS`](cutty_core::event::DEFAULT_RETENTION_DAYS)
            /// is 30). Each table is cleaned by its own statement, so a failure leaves the
            /// others done. Safe to run from several processes at once.
            pub async fn maintenance(
                &self,
                now_ms: i64,
                event_retention_days: u32,
            ) -> Result<crate::MaintenanceReport, cutty_core::error::StoreError> {
                let t = self.options.operation_timeout;
                let mut counts = [0u64; 5];
                for (n, (q, ctx)) in [
                    (crate::sql::PURGE_REVOKED, "maintenance.revoked_tokens"),
                    (crate::sql::PURGE_MARKS, "maintenance.user_token_marks"),
                    (crate::sql::PURGE_FAMILIES, "maintenance.refresh_families"),
                    (crate::sql::PURGE_LOCKOUTS, "maintenance.lockout_state"),
                    (
                        crate::sql::PURGE_COUNTERS,
                        "maintenance.rate_limit_counters",
                    ),
                ]
                .into_iter()
                .enumerate()
                {
                    let fut = sqlx::query(q).bind(now_ms).execute(&self.pool);
                    if let Some(slot) = counts.get_mut(n) {
                        *slot = crate::sql::bounded(ctx, t, fut).await?.rows_affected();
                    }
                }
                let [
                    revoked_tokens,
                    user_marks,
                    refresh_families,
                    lockouts,
                    rate_limit_counters,
                ] = counts;
                let blocked_ips =
                    cutty_core::ip_block::BlockListStore::purge_expired(self, now_ms).await?;
                let events =
                    cutty_core::event::apply_retention(self, now_ms, event_retention_days).await?;
                Ok(crate::MaintenanceReport {
                    revoked_tokens,
                    user_marks,
                    refresh_families,
                    lockouts,
                    rate_limit_counters,
                    blocked_ips,
                    events,
                })
            }
        }
    };
}
pub(crate) use impl_maintenance;
