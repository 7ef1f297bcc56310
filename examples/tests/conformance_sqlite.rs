//! The HTTP conformance suite (`cutty-conformance`) against the `cutty` binary on SQLite:
//! every test starts `cutty serve --bind 127.0.0.1:0` on a fresh database file in its own
//! temporary directory, and the operator commands run the same binary as the admin CLI with
//! the same environment.

use cutty_conformance::process::{ProcessHost, ProcessSpec, TempDir};
use cutty_conformance::{Config, HostError};

/// Starts `cutty serve` on a fresh SQLite database; `config` (the suite's contract
/// variables) is applied on top of the storage settings below.
async fn start(config: Config) -> Result<ProcessHost, HostError> {
    let dir = TempDir::new("cutty-conformance-sqlite")?;
    let path = dir.path().to_path_buf();
    let spec = ProcessSpec::new(env!("CARGO_BIN_EXE_cutty"), dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", path.join("cutty.db").display()),
        )
        .env("CUTTY_ENV", "development")
        .env(
            "CUTTY_DEV_SECRETS_FILE",
            path.join("cutty-dev-secrets.toml").display(),
        )
        .env("CUTTY_FILES_DIR", path.join("files").display())
        .env("CUTTY_PBKDF2_ITERATIONS", 1000)
        .cache_configured(false);
    ProcessHost::start(spec, config).await
}

cutty_conformance::suite!(start);
