//! PostgreSQL: the same schema and semantics as SQLite, for deployments that outgrow one
//! machine.

use std::str::FromStr;

use cutty_core::error::{StoreError, StoreErrorKind};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::sql::api_keys::impl_api_key_store;
use crate::sql::block_list::impl_block_list_store;
use crate::sql::events::impl_event_store;
use crate::sql::files::impl_file_store;
use crate::sql::lockout::impl_lockout_store;
use crate::sql::rate_limit::impl_rate_limit_store;
use crate::sql::tokens::impl_token_store;
use crate::sql::{StoreClock, bounded, impl_maintenance, impl_user_store};
use crate::{StoreOptions, acquire_timeout};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A PostgreSQL-backed store. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    options: StoreOptions,
    clock: StoreClock,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and applies pending migrations.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::new(StoreErrorKind::Unavailable, "postgres.url").with_source(e)
        })?;
        Self::connect_with(connect, options).await
    }

    /// Connects with explicit options (e.g. a `search_path` per test schema) and migrates.
    pub async fn connect_with(
        connect: PgConnectOptions,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(acquire_timeout(&options))
            .connect_lazy_with(connect);
        bounded("postgres.migrate", options.operation_timeout * 4, async {
            MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)
        })
        .await?;
        Ok(Self {
            pool,
            options,
            clock: StoreClock::default(),
        })
    }

    /// The underlying pool, for callers that need their own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The one-statement rate-limit check through the pool.
    async fn counter_check(
        &self,
        key: &str,
        args: &crate::sql::rate_limit::CheckArgs,
    ) -> Result<Vec<crate::sql::rate_limit::CheckRow>, sqlx::Error> {
        crate::sql::rate_limit::check_query::<sqlx::Postgres>(
            crate::sql::rate_limit::CHECK_POSTGRES,
            key,
            args,
        )
        .fetch_all(&self.pool)
        .await
    }
}

impl_user_store!(PostgresStore);
impl_token_store!(PostgresStore);
impl_api_key_store!(PostgresStore);
impl_block_list_store!(PostgresStore);
impl_event_store!(PostgresStore);
impl_file_store!(PostgresStore);
impl_lockout_store!(PostgresStore);
impl_rate_limit_store!(PostgresStore);
impl_maintenance!(PostgresStore);
crate::sql::health::impl_health_check!(PostgresStore);
