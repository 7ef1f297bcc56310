//! SQLite, the embedded default: one file (e.g. `cutty.db`) created and migrated on first
//! use, in WAL mode so readers never wait for the writer.
//!
//! SQLite takes one writer at a time, and a connection that finds the write lock taken
//! waits in SQLite's busy handler, which sleeps in steps of 1, 2, 5, 10… ms — far longer
//! than the ~15 µs a counter write holds the lock. Rate-limit checks, one write on every
//! request, therefore go through one connection of their own (`CounterConnection`):
//! concurrent checks queue for it in order instead of sleeping in SQLite, and collide with
//! the pool only when another kind of write (an event, a token) happens at the same moment.
//! It is held outside the pool because sqlx pings a pooled connection when it is taken and
//! again when it is given back, two more round trips to its worker thread that a single
//! connection would wait for on every check.
//!
//! # Checkpoints off the request path
//! In WAL mode a commit appends pages to the `-wal` file without waiting for the disk
//! (`synchronous = NORMAL`); the wait comes when the WAL is checkpointed, that is copied
//! back into the database file and both files are synced. SQLite's default does that inside
//! whichever commit pushes the WAL past 1 000 pages — with a counter write on every request,
//! several times a second, and the request whose commit drew the short straw waited for two
//! `fsync`s (milliseconds to tens of milliseconds on a busy disk: the p99 of every request
//! behind it in the counters' queue). Here the store checkpoints on its own instead: a
//! background task runs `PRAGMA wal_checkpoint(PASSIVE)` every
//! [`CHECKPOINT_INTERVAL`] (a passive checkpoint never blocks readers or writers), and the
//! automatic checkpoint is moved up to [`AUTOCHECKPOINT_PAGES`], a backstop that bounds the
//! WAL should the task fall behind or its runtime be gone. The task ends when the last
//! clone of the store is dropped or [`SqliteStore::close`] is called.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cutty_core::error::{StoreError, StoreErrorKind};
use sqlx::Connection as _;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
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

/// How often the background task checkpoints the WAL (see the module docs).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// The WAL size, in pages, at which a commit checkpoints by itself: the backstop behind
/// the background task (SQLite's default is 1 000). With 4 KiB pages, 16 MiB.
pub const AUTOCHECKPOINT_PAGES: u32 = 4096;

/// A SQLite-backed store. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The connection rate-limit checks go through (the module docs say why); `None` for an
    /// in-memory database, which exists per connection: its checks use the pool's one.
    counters: Option<Arc<CounterConnection>>,
    /// The background checkpoint task (file databases only); aborted when the last clone
    /// of the store goes.
    checkpointer: Option<Arc<Checkpointer>>,
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
        let connect = if in_memory {
            connect
        } else {
            connect.pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string())
        };
        let max = if in_memory {
            1
        } else {
            options.max_connections.max(1)
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(acquire_timeout(&options))
            .idle_timeout(None::<Duration>)
            .connect_lazy_with(connect.clone());
        bounded("sqlite.migrate", options.operation_timeout * 4, async {
            MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)
        })
        .await?;
        let counters = (!in_memory).then(|| {
            Arc::new(CounterConnection {
                connect,
                slot: tokio::sync::Mutex::new(None),
                closed: AtomicBool::new(false),
            })
        });
        let checkpointer = if in_memory {
            None
        } else {
            Checkpointer::start(pool.clone()).map(Arc::new)
        };
        Ok(Self {
            pool,
            counters,
            checkpointer,
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
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.task.abort();
        }
        if let Some(counters) = &self.counters {
            counters.close().await;
        }
        self.pool.close().await;
    }

    /// The one-statement rate-limit check, through the counters' connection.
    async fn counter_check(
        &self,
        key: &str,
        args: &crate::sql::rate_limit::CheckArgs,
    ) -> Result<Vec<crate::sql::rate_limit::CheckRow>, sqlx::Error> {
        let query = crate::sql::rate_limit::check_query::<sqlx::Sqlite>(
            crate::sql::rate_limit::CHECK_SQLITE,
            key,
            args,
        );
        match &self.counters {
            Some(counters) => counters.fetch_all(query).await,
            None => query.fetch_all(&self.pool).await,
        }
    }
}

/// The background checkpoint task (see the module docs).
#[derive(Debug)]
struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    /// Starts the task on the current tokio runtime (`None` outside one: the backstop
    /// alone then bounds the WAL).
    fn start(pool: SqlitePool) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let task = runtime.spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let done = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await;
                // Busy or failing: the next tick tries again, and the backstop bounds the WAL
                // meanwhile. A closed pool ends the task.
                if let Err(sqlx::Error::PoolClosed) = done {
                    return;
                }
            }
        });
        Some(Self { task })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection, opened on first use, that rate-limit checks take in turn (a fair
/// mutex: first come, first served).
#[derive(Debug)]
struct CounterConnection {
    connect: SqliteConnectOptions,
    slot: tokio::sync::Mutex<Option<SqliteConnection>>,
    /// Set by [`SqliteStore::close`]: later checks fail like the closed pool's queries.
    closed: AtomicBool,
}

impl CounterConnection {
    async fn fetch_all<'q, O>(
        &self,
        query: sqlx::query::QueryAs<'q, sqlx::Sqlite, O, SqliteArguments<'q>>,
    ) -> Result<Vec<O>, sqlx::Error>
    where
        O: Send + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow>,
    {
        let mut slot = self.slot.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        // Taken out for the query: if this future is dropped half-way (the operation
        // timeout), the connection goes with it and the next check opens a new one.
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => SqliteConnection::connect_with(&self.connect).await?,
        };
        let rows = query.fetch_all(&mut conn).await;
        // An error of the statement leaves the connection usable; any other drops it.
        if matches!(&rows, Ok(_) | Err(sqlx::Error::Database(_))) {
            *slot = Some(conn);
        }
        rows
    }

    async fn close(&self) {
        let mut slot = self.slot.lock().await;
        self.closed.store(true, Ordering::Release);
        if let Some(conn) = slot.take() {
            // Closing is best effort: the pool's own close flushes the WAL.
            let _ = conn.close().await;
        }
    }
}

impl_user_store!(SqliteStore);
impl_token_store!(SqliteStore);
impl_api_key_store!(SqliteStore);
impl_block_list_store!(SqliteStore);
impl_event_store!(SqliteStore);
impl_file_store!(SqliteStore);
impl_lockout_store!(SqliteStore);
impl_rate_limit_store!(SqliteStore);
impl_maintenance!(SqliteStore);
crate::sql::health::impl_health_check!(SqliteStore);
