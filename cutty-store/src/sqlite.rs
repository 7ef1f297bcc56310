//! SQLite, the embedded default: one file (e.g. `cutty.db`) created and migrated on first
//! use, in WAL mode so readers never wait for the writer.
//!
//! SQLite takes one writer at a time, and a connection that finds the write lock taken
//! waits in SQLite's busy handler, which sleeps in steps of 1, 2, 5, 10… ms — far longer
//! than the ~15 µs a counter write holds the lock. Rate-limit counters, written on every
//! request, therefore have a pool of their own with a single connection: concurrent checks
//! queue for it in the pool instead of sleeping in SQLite, and collide with the main pool
//! only when another kind of write (an event, a token) happens at the same moment.

use std::str::FromStr;
use std::time::Duration;

use cutty_core::error::{StoreError, StoreErrorKind};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::api_keys::impl_api_key_store;
use crate::sql::block_list::impl_block_list_store;
use crate::sql::events::impl_event_store;
use crate::sql::files::impl_file_store;
use crate::sql::lockout::impl_lockout_store;
use crate::sql::rate_limit::impl_rate_limit_store;
use crate::sql::tokens::impl_token_store;
use crate::sql::{StoreClock, bounded, impl_maintenance, impl_user_store};
use crate::{StoreOptions, acquire_timeout};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite-backed store. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for the rate-limit counters (the module docs say why); the main pool
    /// itself for an in-memory database, which exists per connection.
    counters: SqlitePool,
    options: StoreOptions,
    clock: StoreClock,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` — `sqlite://cutty.db`,
    /// `sqlite:///abs/path.db` or `sqlite::memory:` — and applies pending migrations.
    ///
    /// A database migrated by a newer Cutty is refused with `SchemaMismatch` (`DB_005`).
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::new(StoreErrorKind::Unavailable, "sqlite.url").with_source(e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(options.operation_timeout);
        // An in-memory database exists per connection: keep exactly one so every query
        // sees the same data.
        let in_memory = url.contains(":memory:");
        let max = if in_memory {
            1
        } else {
            options.max_connections.max(1)
        };
        let pool_with = |max: u32| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire_timeout(&options))
                .idle_timeout(None::<Duration>)
                .connect_lazy_with(connect.clone())
        };
        let pool = pool_with(max);
        bounded("sqlite.migrate", options.operation_timeout * 4, async {
            MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)
        })
        .await?;
        let counters = if in_memory {
            pool.clone()
        } else {
            pool_with(1)
        };
        Ok(Self {
            pool,
            counters,
            options,
            clock: StoreClock::default(),
        })
    }

    /// The underlying pool, for callers that need their own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection, flushing the WAL.
    pub async fn close(&self) {
        self.counters.close().await;
        self.pool.close().await;
    }
}

impl_user_store!(SqliteStore);
impl_token_store!(SqliteStore);
impl_api_key_store!(SqliteStore);
impl_block_list_store!(SqliteStore);
impl_event_store!(SqliteStore);
impl_file_store!(SqliteStore);
impl_lockout_store!(SqliteStore);
impl_rate_limit_store!(SqliteStore, counters, crate::sql::rate_limit::CHECK_SQLITE);
impl_maintenance!(SqliteStore);
crate::sql::health::impl_health_check!(SqliteStore);
