//! The HTTP conformance suite (`cutty-conformance`) against the `cutty` binary on
//! PostgreSQL + Redis: every test gets a fresh PostgreSQL schema (created with `psql`,
//! dropped afterwards) and a fresh Redis key prefix (deleted afterwards), both from the
//! end-to-end tests' `support` module. PostgreSQL on 127.0.0.1:5432 (user `postgres`,
//! database `test`, trust auth) and Redis on 127.0.0.1:6379 must be running: when they are
//! not, every test fails — none is skipped.

mod support;

use cutty_conformance::process::{ProcessHost, ProcessSpec, TempDir};
use cutty_conformance::{Config, HostError};
use support::{PG_ADDR, REDIS_ADDR, RedisPrefix, Schema};

/// Starts `cutty serve` on a fresh PostgreSQL schema and Redis prefix; `config` (the suite's
/// contract variables) is applied on top of the storage settings below.
async fn start(config: Config) -> Result<ProcessHost, HostError> {
    let schema = Schema::try_create().map_err(HostError::Start)?;
    let prefix = RedisPrefix::try_create().map_err(HostError::Start)?;
    let dir = TempDir::new("cutty-conformance-pg")?;
    let path = dir.path().to_path_buf();
    let spec = ProcessSpec::new(env!("CARGO_BIN_EXE_cutty"), dir)
        .env("DATABASE_URL", schema.url(PG_ADDR))
        .env("REDIS_URL", format!("redis://{REDIS_ADDR}"))
        .env("CUTTY_REDIS_PREFIX", &prefix.prefix)
        .env("CUTTY_ENV", "development")
        .env(
            "CUTTY_DEV_SECRETS_FILE",
            path.join("cutty-dev-secrets.toml").display(),
        )
        .env("CUTTY_FILES_DIR", path.join("files").display())
        .env("CUTTY_PBKDF2_ITERATIONS", 1000)
        .cache_configured(true)
        .keep_alive(schema)
        .keep_alive(prefix);
    ProcessHost::start(spec, config).await
}

cutty_conformance::suite!(start);
