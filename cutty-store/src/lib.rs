//! # cutty-store
//!
//! Real backends for the [`cutty_core`] store traits, each behind a cargo feature:
//!
//! | feature | backend | default | holds |
//! |---|---|---|---|
//! | `memory` | [`memory`]: in-process maps | yes | everything; for tests and single-node use |
//! | `sqlite` | [`sqlite::SqliteStore`]: one file, WAL mode, migrated on first use | yes | everything but file bytes (the embedded default) |
//! | `postgres` | [`postgres::PostgresStore`]: the same schema on PostgreSQL | no | everything but file bytes |
//! | `redis` | [`redis::RedisStore`]: Lua scripts, one round trip per operation | no | rate-limit counters, lockouts, revocations, refresh families (users and keys stay in SQL) |
//! | `fs` | [`fs::FsBlobStore`]: one file per upload under `CUTTY_FILES_DIR`, written atomically and fsynced | yes (and with `sqlite` or `postgres`) | uploaded files' bytes (`BlobStore`) |
//!
//! Every SQL store implements all the cutty-core store traits (`UserStore`, `TokenStore`,
//! `ApiKeyStore`, `BlockListStore`, `EventSink` + `EventStore`, `LockoutStore`,
//! `RateLimitStore`, `FileStore`) and offers `maintenance(now_ms, retention_days)`; [`memory`]
//! has one type per trait. File bytes go to a `BlobStore`: [`fs::FsBlobStore`] or
//! [`memory::MemoryBlobStore`].
//!
//! Every backend runs the same conformance suites that `cutty-core` ships behind its
//! `testing` feature, so "the same semantics everywhere" is a test, not a promise.
//!
//! ## Failure policy
//! Every SQL operation is bounded by [`StoreOptions::operation_timeout`]; a backend that is
//! down answers [`StoreErrorKind::Unavailable`](cutty_core::error::StoreErrorKind) (`DB_001`)
//! within that time rather than hanging. A database whose schema is newer than this build
//! is refused with `SchemaMismatch` (`DB_005`) at connect time.
//!
//! ## Example (SQLite, the embedded default)
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use cutty_core::user::{NewUser, UserStore};
//! use cutty_store::{StoreOptions, sqlite::SqliteStore};
//!
//! let store = SqliteStore::connect("sqlite::memory:", StoreOptions::default()).await.unwrap();
//! let user = store
//!     .create(NewUser {
//!         username: "Ada".into(),
//!         email: "ada@example.org".into(),
//!         password_hash: "pbkdf2_sha256$600000$salt$hash".into(),
//!         is_admin: false,
//!         created_at: 1_700_000_000_000,
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(store.find_by_login("ADA").await.unwrap().unwrap().id, user.id);
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

#[cfg(feature = "fs")]
pub mod fs;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// Connection settings shared by the SQL backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections in the pool. Default 8 (SQLite: writes serialise anyway; PostgreSQL:
    /// enough for a 2–4 core host without starving other clients).
    pub max_connections: u32,
    /// How long one operation, including waiting for a connection, may take before it fails
    /// with `DB_002`/`DB_001`. Default 5 s: long enough for a busy disk, short enough that a
    /// down database answers a client promptly.
    pub operation_timeout: Duration,
}

/// What one `maintenance` run deleted (SQL stores: `SqliteStore::maintenance`,
/// `PostgresStore::maintenance`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Revocations past their token's expiry.
    pub revoked_tokens: u64,
    /// Per-user not-before marks past their keep-until.
    pub user_marks: u64,
    /// Refresh families past their expiry.
    pub refresh_families: u64,
    /// Lockout states past their expiry.
    pub lockouts: u64,
    /// Idle rate-limit counters.
    pub rate_limit_counters: u64,
    /// Lapsed block-list entries.
    pub blocked_ips: u64,
    /// Security events older than the retention.
    pub events: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            operation_timeout: Duration::from_secs(5),
        }
    }
}

/// The pool's wait for a connection: four fifths of the operation timeout, so that a
/// database that cannot be reached answers `Unavailable` (`DB_001`) before the operation as
/// a whole times out (`Timeout`, `DB_002`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn acquire_timeout(options: &StoreOptions) -> Duration {
    options.operation_timeout * 4 / 5
}
