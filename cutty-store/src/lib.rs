//! # cutty-store
//!
//! Real backends for the [`cutty_core`] store traits, each behind a cargo feature:
//!
//! | feature | backend | default | holds |
//! |---|---|---|---|
//! | `memory` | [`memory`]: in-process maps | yes | everything; for tests and single-node use |
//! | `sqlite` | [`sqlite::SqliteStore`]: one file, WAL mode, migrated on first use | yes | everything (the embedded default) |
//! | `postgres` | [`postgres::PostgresStore`]: the same schema on PostgreSQL | no | everything |
//! | `redis` | [`redis::RedisStore`]: Lua scripts, one round trip per operation | no | rate-limit counters, lockouts, revocations, refresh families (users and keys stay in SQL) |
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

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            operation_timeout: Duration::from_secs(5),
        }
    }
}
