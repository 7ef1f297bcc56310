//! The HTTP conformance suite (`cutty-conformance`) against the `cutty` binary on
//! PostgreSQL + Redis: every test gets a fresh PostgreSQL schema (created with `psql`,
//! dropped afterwards) and a fresh Redis key prefix (deleted afterwards). PostgreSQL on
//! 127.0.0.1:5432 (user `postgres`, database `test`, trust auth) and Redis on 127.0.0.1:6379
//! must be running: when they are not, every test fails — none is skipped.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use cutty_conformance::process::{ProcessHost, ProcessSpec, TempDir};
use cutty_conformance::{Config, HostError};

const PG_HOST: &str = "127.0.0.1";
const PG_PORT: &str = "5432";
const PG_USER: &str = "postgres";
const PG_DB: &str = "test";
const REDIS_ADDR: &str = "127.0.0.1:6379";

/// Runs one SQL statement with `psql`.
fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", PG_DB])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {sql:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A PostgreSQL schema, dropped (with everything in it) on drop.
struct Schema {
    name: String,
}

impl Schema {
    fn create() -> Result<Self, HostError> {
        let name = format!("cutty_conf_{}", uuid::Uuid::new_v4().simple());
        psql(&format!("CREATE SCHEMA {name}")).map_err(|e| {
            HostError::Start(format!("PostgreSQL at {PG_HOST}:{PG_PORT} unusable: {e}"))
        })?;
        Ok(Self { name })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(e) = psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)) {
            eprintln!("leaving schema {} behind: {e}", self.name);
        }
    }
}

/// Sends one command to Redis in RESP and returns the raw reply.
fn redis(args: &[&str]) -> Result<String, String> {
    let addr = REDIS_ADDR
        .parse()
        .map_err(|e| format!("bad Redis address: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to Redis at {REDIS_ADDR}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream
        .write_all(cmd.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    if reply.starts_with('-') {
        Err(format!("Redis error: {}", reply.trim()))
    } else {
        Ok(reply)
    }
}

/// A Redis key prefix whose keys are deleted on drop.
struct RedisPrefix {
    prefix: String,
}

impl RedisPrefix {
    fn create() -> Result<Self, HostError> {
        let pong = redis(&["PING"]).map_err(HostError::Start)?;
        if !pong.starts_with("+PONG") {
            return Err(HostError::Start(format!(
                "Redis at {REDIS_ADDR} answered {pong:?} to PING"
            )));
        }
        Ok(Self {
            prefix: format!("cutty-conf-{}:", uuid::Uuid::new_v4().simple()),
        })
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let script =
            "for _,k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0";
        let pattern = format!("{}*", self.prefix);
        if let Err(e) = redis(&["EVAL", script, "0", &pattern]) {
            eprintln!("leaving Redis keys {pattern} behind: {e}");
        }
    }
}

/// Starts `cutty serve` on a fresh PostgreSQL schema and Redis prefix; `config` (the suite's
/// contract variables) is applied on top of the storage settings below.
async fn start(config: Config) -> Result<ProcessHost, HostError> {
    let schema = Schema::create()?;
    let prefix = RedisPrefix::create()?;
    let dir = TempDir::new("cutty-conformance-pg")?;
    let path = dir.path().to_path_buf();
    let database_url = format!(
        "postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}?options=-c%20search_path%3D{}",
        schema.name
    );
    let spec = ProcessSpec::new(env!("CARGO_BIN_EXE_cutty"), dir)
        .env("DATABASE_URL", database_url)
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
