//! Store wiring: from a [`Config`] to the facade's [`Stores`] and [`Settings`], and to a
//! running [`Cutty`].
//!
//! `DATABASE_URL` picks the SQL store (SQLite, created and migrated on first use, or
//! PostgreSQL, migrated on start); it holds users, API keys, events and the block list, and,
//! without `REDIS_URL`, also the rate-limit counters, revocations, refresh families and
//! lockout states. With `REDIS_URL`, those four live in Redis (keys prefixed with
//! `CUTTY_REDIS_PREFIX`) and expire there by TTL.

use std::sync::Arc;

use cutty_core::api_key::{ApiKeyHasher, ApiKeySalt, SaltId};
use cutty_core::app::{Cutty, HealthService, PasswordWork, Settings, SetupError, Stores};
use cutty_core::clock::{Clock, SystemClock};
use cutty_core::error::StoreError;
use cutty_core::file::{FileConfig, FileService, FileStore};
use cutty_core::password::PasswordHasher;
use cutty_core::rate_limit::StoreFailurePolicy;
use cutty_core::token::{Algorithm, Keyring};
use cutty_store::fs::FsBlobStore;
use cutty_store::postgres::PostgresStore;
use cutty_store::redis::{RedisOptions, RedisStore};
use cutty_store::sqlite::SqliteStore;
use cutty_store::{MaintenanceReport, StoreOptions};

use crate::config::{Config, ConfigError, Database, Secrets};

/// The id stored next to every API-key hash made with `API_KEY_SALT`.
pub const API_KEY_SALT_ID: &str = "default";

/// Why the service could not be put together.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A store could not be reached, created or migrated.
    #[error("{what}: {}", describe_store_error(.source))]
    Store {
        /// `DATABASE_URL` or `REDIS_URL`.
        what: &'static str,
        /// The store's error.
        source: StoreError,
    },
    /// The facade refused the settings.
    #[error("{0}")]
    Setup(#[from] SetupError),
}

/// A store error with its cause chain, except for URL parse errors (which could quote the
/// URL, and with it a password).
pub fn describe_store_error(e: &StoreError) -> String {
    let mut out = e.to_string();
    if out.ends_with(".url") || out.contains("invalid URL") {
        return out;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The SQL store named by `DATABASE_URL`.
#[derive(Debug, Clone)]
pub enum SqlStore {
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PostgresStore),
}

impl SqlStore {
    /// Connects (SQLite: creating the file if missing) and applies pending migrations.
    pub async fn connect(database: &Database) -> Result<Self, StartError> {
        let store = |source| StartError::Store {
            what: "DATABASE_URL",
            source,
        };
        Ok(match database {
            Database::Sqlite { url, .. } => Self::Sqlite(
                SqliteStore::connect(url, StoreOptions::default())
                    .await
                    .map_err(store)?,
            ),
            Database::Postgres { url } => Self::Postgres(
                PostgresStore::connect(url, StoreOptions::default())
                    .await
                    .map_err(store)?,
            ),
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Deletes expired revocations, marks, families, lockouts, idle counters, lapsed blocks
    /// and events older than the retention.
    pub async fn maintenance(
        &self,
        now_ms: i64,
        retention_days: u32,
    ) -> Result<MaintenanceReport, StoreError> {
        match self {
            Self::Sqlite(s) => s.maintenance(now_ms, retention_days).await,
            Self::Postgres(s) => s.maintenance(now_ms, retention_days).await,
        }
    }

    /// Closes the pool (SQLite: flushes the WAL).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }
}

/// The connected backends of one process.
#[derive(Debug, Clone)]
pub struct Backends {
    /// The SQL store.
    pub sql: SqlStore,
    /// Redis, when `REDIS_URL` is set.
    pub redis: Option<RedisStore>,
}

impl Backends {
    /// Connects to the configured stores.
    pub async fn connect(config: &Config) -> Result<Self, StartError> {
        let sql = SqlStore::connect(&config.database).await?;
        let redis = match &config.redis_url {
            None => None,
            Some(url) => {
                let options = RedisOptions {
                    prefix: config.redis_prefix.clone(),
                    ..RedisOptions::default()
                };
                Some(
                    RedisStore::connect(url.expose(), options)
                        .await
                        .map_err(|source| StartError::Store {
                            what: "REDIS_URL",
                            source,
                        })?,
                )
            }
        };
        Ok(Self { sql, redis })
    }

    /// The facade's stores: everything in SQL, except counters, tokens and lockouts when
    /// Redis is configured.
    pub fn stores(&self) -> Stores {
        // Each store is its own health probe (`HealthCheck` in cutty-store: a bounded
        // `SELECT 1`, Redis `PING`).
        let mut stores = match &self.sql {
            SqlStore::Sqlite(s) => Stores::all_in_one(s.clone()),
            SqlStore::Postgres(s) => Stores::all_in_one(s.clone()),
        };
        if let Some(redis) = &self.redis {
            let r = Arc::new(redis.clone());
            stores.tokens = r.clone();
            stores.rate_limits = r.clone();
            stores.lockouts = r.clone();
            stores.health.push((HealthService::Cache, r));
        }
        stores
    }
}

/// The facade's settings from the configuration and the effective secrets.
pub fn settings(config: &Config, secrets: &Secrets) -> Result<Settings, StartError> {
    let invalid = |setting: &str, reason: String| {
        StartError::Config(ConfigError::Invalid {
            setting: setting.to_owned(),
            reason,
        })
    };
    let keyring = Keyring::hmac(Algorithm::HS256, secrets.jwt_secret.expose().as_bytes())
        .map_err(|e| invalid("JWT_SECRET", e.to_string()))?;
    let salt_id =
        SaltId::new(API_KEY_SALT_ID).map_err(|e| invalid("API_KEY_SALT", e.to_string()))?;
    let salt = ApiKeySalt::new(salt_id, secrets.api_key_salt.expose().as_bytes())
        .map_err(|e| invalid("API_KEY_SALT", e.to_string()))?;
    let password_hasher = PasswordHasher::default()
        .with_iterations(config.pbkdf2_iterations)
        .map_err(|e| invalid("CUTTY_PBKDF2_ITERATIONS", e.to_string()))?;
    let mut settings = Settings::new(keyring, ApiKeyHasher::new(salt));
    settings.token = config.token.clone();
    settings.password_hasher = password_hasher;
    settings.rate_limit = config.rate_limit;
    settings.rate_limit_failure = StoreFailurePolicy::FailClosed;
    settings.lockout = config.lockout;
    settings.client_ip = config.client_ip.clone();
    settings.event_retention_days = config.event_retention_days;
    settings.version = env!("CARGO_PKG_VERSION").to_owned();
    Ok(settings)
}

/// Everything a command needs: the facade and the backends behind it.
#[derive(Debug, Clone)]
pub struct App {
    /// The facade.
    pub cutty: Cutty,
    /// The stores it runs on.
    pub backends: Backends,
}

impl App {
    /// Resolves the secrets, connects the stores and builds the facade with `work`.
    pub async fn start(config: &Config, work: Arc<dyn PasswordWork>) -> Result<Self, StartError> {
        let secrets = config.secrets()?;
        let settings = settings(config, &secrets)?;
        let backends = Backends::connect(config).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cutty = Cutty::new(backends.stores(), settings, Arc::clone(&clock), work)?;
        // Uploads: metadata in the SQL store, bytes under CUTTY_FILES_DIR.
        let files: Arc<dyn FileStore> = match &backends.sql {
            SqlStore::Sqlite(s) => Arc::new(s.clone()),
            SqlStore::Postgres(s) => Arc::new(s.clone()),
        };
        let blobs = FsBlobStore::open(config.files_dir.clone())
            .await
            .map_err(|source| StartError::Store {
                what: "CUTTY_FILES_DIR",
                source,
            })?;
        let file_config = FileConfig {
            max_upload_bytes: config.max_upload_bytes,
            ..FileConfig::default()
        };
        let cutty = cutty.with_files(FileService::new(files, Arc::new(blobs), clock, file_config));
        Ok(Self { cutty, backends })
    }

    /// Storage housekeeping: the SQL store's purge (Redis expires its records by TTL).
    pub async fn maintenance(&self, retention_days: u32) -> Result<MaintenanceReport, StoreError> {
        self.backends
            .sql
            .maintenance(self.cutty.clock().now_unix_ms(), retention_days)
            .await
    }
}
