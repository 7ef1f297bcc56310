//! Backends for the conformance tests: each test gets a store of its own — a fresh SQLite
//! file, a fresh PostgreSQL schema — so runs never collide.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use cutty_store::StoreOptions;
use cutty_store::postgres::PostgresStore;
use cutty_store::sqlite::SqliteStore;

/// The PostgreSQL server the suites use: `CUTTY_TEST_POSTGRES_URL`, else the local one.
pub fn postgres_url() -> String {
    std::env::var("CUTTY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A SQLite store in a file of its own, removed with the returned directory guard.
pub async fn sqlite() -> (SqliteStore, TempDir) {
    let dir = TempDir::new();
    let url = format!("sqlite://{}/cutty.db", dir.0.display());
    (
        SqliteStore::connect(&url, StoreOptions::default())
            .await
            .expect("sqlite connects"),
        dir,
    )
}

/// A PostgreSQL store in a schema of its own, dropped by [`PgSchema::drop`].
pub async fn postgres() -> (PostgresStore, PgSchema) {
    let schema = format!("cutty_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&postgres_url())
        .await
        .expect("PostgreSQL must answer on 127.0.0.1:5432 (database test); .ci/run starts it");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create schema");
    let opts = sqlx::postgres::PgConnectOptions::from_str(&postgres_url())
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let store = PostgresStore::connect_with(opts, StoreOptions::default())
        .await
        .expect("postgres connects");
    (store, PgSchema { admin, schema })
}

/// Another store (a new pool, as after a restart or in a second server) on the schema of
/// an existing test store.
pub async fn postgres_in(schema: &PgSchema) -> PostgresStore {
    postgres_in_via(schema, &postgres_url(), StoreOptions::default()).await
}

/// Like [`postgres_in`], through `url` (e.g. a proxy) and with `options`.
pub async fn postgres_in_via(schema: &PgSchema, url: &str, options: StoreOptions) -> PostgresStore {
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)
        .expect("url")
        .options([("search_path", schema.schema.as_str())]);
    PostgresStore::connect_with(opts, options)
        .await
        .expect("postgres connects")
}

/// Another store (a new pool, as after a restart) on the SQLite file in `dir`.
pub async fn sqlite_in(dir: &TempDir) -> SqliteStore {
    let url = format!("sqlite://{}/cutty.db", dir.0.display());
    SqliteStore::connect(&url, StoreOptions::default())
        .await
        .expect("sqlite connects")
}

/// A test schema; call [`PgSchema::drop`] at the end of the test.
pub struct PgSchema {
    admin: sqlx::PgPool,
    schema: String,
}

impl PgSchema {
    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&self.admin)
            .await
            .expect("drop schema");
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!(
            "cutty-store-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
