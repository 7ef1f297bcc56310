//! Configuration: the contract's environment variables, and the same keys in a TOML file.
//!
//! Every setting is read from the environment and, when `CUTTY_CONFIG` names a file, from
//! that TOML file under the same name lower-cased and without the `CUTTY_` prefix
//! (`CUTTY_RATE_LIMIT_IP` → `rate_limit_ip`, `DATABASE_URL` → `database_url`). The
//! environment wins over the file; an empty environment variable counts as unset. Unknown
//! keys in the file are refused (a typo must not silently fall back to a default).
//!
//! Every value is validated at start-up and an error names the variable (or the file key)
//! that is wrong. Secret values (`JWT_SECRET`, `API_KEY_SALT`, and the two URLs, which may
//! carry a password) are never repeated in an error.
//!
//! ## Secrets in development
//! With `CUTTY_ENV=production`, `JWT_SECRET` and `API_KEY_SALT` are required. In development
//! a missing one is taken from the dev secrets file (`CUTTY_DEV_SECRETS_FILE`, by default
//! `cutty-dev-secrets.toml` beside the SQLite file, else in the working directory), which is
//! created once with random secrets and mode 0600, with a loud warning on stderr. See
//! [`Config::secrets`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cutty_axum::HashingPriority;
use cutty_core::client_ip::{ClientIpResolver, TrustedProxiesError};
use cutty_core::lockout::{LockoutConfig, MAX_THRESHOLD};
use cutty_core::password::MAX_PBKDF2_ITERATIONS;
use cutty_core::rate_limit::{RateLimitConfig, StoreFailurePolicy};
use cutty_core::token::TokenConfig;
use zeroize::Zeroizing;

/// Shortest accepted `JWT_SECRET`, in bytes (HS256 needs a key as long as its hash).
pub const MIN_JWT_SECRET_LEN: usize = cutty_core::token::MIN_HMAC_SECRET_LEN;
/// Shortest accepted `API_KEY_SALT`, in bytes.
pub const MIN_API_KEY_SALT_LEN: usize = cutty_core::api_key::MIN_SALT_LEN;
/// The default name of the dev secrets file.
pub const DEV_SECRETS_FILE_NAME: &str = "cutty-dev-secrets.toml";

/// A setting: its environment variable and whether its value is secret.
#[derive(Debug, Clone, Copy)]
struct Var {
    env: &'static str,
    secret: bool,
}

const fn var(env: &'static str) -> Var {
    Var { env, secret: false }
}
const fn secret(env: &'static str) -> Var {
    Var { env, secret: true }
}

const ENV: Var = var("CUTTY_ENV");
const BIND: Var = var("CUTTY_BIND");
const DATABASE_URL: Var = secret("DATABASE_URL");
const REDIS_URL: Var = secret("REDIS_URL");
const REDIS_PREFIX: Var = var("CUTTY_REDIS_PREFIX");
const JWT_SECRET: Var = secret("JWT_SECRET");
const API_KEY_SALT: Var = secret("API_KEY_SALT");
const JWT_ISSUER: Var = var("CUTTY_JWT_ISSUER");
const JWT_LEEWAY: Var = var("CUTTY_JWT_LEEWAY_SECONDS");
const ACCESS_TTL: Var = var("CUTTY_ACCESS_TTL_SECONDS");
const REFRESH_TTL: Var = var("CUTTY_REFRESH_TTL_SECONDS");
const PBKDF2_ITERATIONS: Var = var("CUTTY_PBKDF2_ITERATIONS");
const RL_WINDOW: Var = var("CUTTY_RATE_LIMIT_WINDOW_SECONDS");
const RL_IP: Var = var("CUTTY_RATE_LIMIT_IP");
const RL_USER: Var = var("CUTTY_RATE_LIMIT_USER");
const RL_API_KEY: Var = var("CUTTY_RATE_LIMIT_API_KEY");
const RL_GLOBAL: Var = var("CUTTY_RATE_LIMIT_GLOBAL");
const LOCKOUT_THRESHOLD: Var = var("CUTTY_LOCKOUT_THRESHOLD");
const LOCKOUT_WINDOW: Var = var("CUTTY_LOCKOUT_WINDOW_SECONDS");
const LOCKOUT_SECONDS: Var = var("CUTTY_LOCKOUT_SECONDS");
const TRUSTED_PROXIES: Var = var("CUTTY_TRUSTED_PROXIES");
const BEHIND_CLOUDFLARE: Var = var("CUTTY_BEHIND_CLOUDFLARE");
const FILES_DIR: Var = var("CUTTY_FILES_DIR");
const MAX_UPLOAD: Var = var("CUTTY_MAX_UPLOAD_BYTES");
const RETENTION: Var = var("CUTTY_EVENT_RETENTION_DAYS");
const DEBUG_MODE: Var = var("DEBUG_MODE");
const DEV_SECRETS_FILE: Var = var("CUTTY_DEV_SECRETS_FILE");
const CORS_ORIGINS: Var = var("CUTTY_CORS_ORIGINS");
const HASH_WORKERS: Var = var("CUTTY_HASH_WORKERS");
const HASH_PRIORITY: Var = var("CUTTY_HASH_PRIORITY");
const HEADER_TIMEOUT: Var = var("CUTTY_HEADER_TIMEOUT_SECONDS");
const BODY_TIMEOUT: Var = var("CUTTY_BODY_TIMEOUT_SECONDS");
const MAINTENANCE_INTERVAL: Var = var("CUTTY_MAINTENANCE_INTERVAL_SECONDS");

/// Every setting, in the order of the documentation.
const VARS: &[Var] = &[
    ENV,
    BIND,
    DATABASE_URL,
    REDIS_URL,
    REDIS_PREFIX,
    JWT_SECRET,
    API_KEY_SALT,
    JWT_ISSUER,
    JWT_LEEWAY,
    ACCESS_TTL,
    REFRESH_TTL,
    PBKDF2_ITERATIONS,
    RL_WINDOW,
    RL_IP,
    RL_USER,
    RL_API_KEY,
    RL_GLOBAL,
    LOCKOUT_THRESHOLD,
    LOCKOUT_WINDOW,
    LOCKOUT_SECONDS,
    TRUSTED_PROXIES,
    BEHIND_CLOUDFLARE,
    FILES_DIR,
    MAX_UPLOAD,
    RETENTION,
    DEBUG_MODE,
    DEV_SECRETS_FILE,
    CORS_ORIGINS,
    HASH_WORKERS,
    HASH_PRIORITY,
    HEADER_TIMEOUT,
    BODY_TIMEOUT,
    MAINTENANCE_INTERVAL,
];

/// The variable naming the TOML file.
pub const CONFIG_FILE_VAR: &str = "CUTTY_CONFIG";

/// The file key of an environment variable: lower case, without `CUTTY_`.
fn file_key(env: &str) -> String {
    env.strip_prefix("CUTTY_")
        .unwrap_or(env)
        .to_ascii_lowercase()
}

/// Every environment variable Cutty reads, with its TOML key (for documentation and tests).
pub fn variables() -> impl Iterator<Item = (&'static str, String)> {
    VARS.iter().map(|v| (v.env, file_key(v.env)))
}

/// Why the configuration was refused. Messages name the setting and never contain a secret
/// value.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that cannot be used.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The variable (`CUTTY_RATE_LIMIT_IP`) or file key (`rate_limit_ip in cutty.toml`).
        setting: String,
        /// What is wrong; repeats the value only when it is not secret.
        reason: String,
    },
    /// A secret that production requires is unset.
    #[error(
        "{0} is required when CUTTY_ENV=production (set it in the environment or the CUTTY_CONFIG file)"
    )]
    MissingInProduction(&'static str),
    /// The `CUTTY_CONFIG` file cannot be read.
    #[error("CUTTY_CONFIG: cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The `CUTTY_CONFIG` file is not valid TOML (the parser's message is withheld: it may
    /// quote a secret).
    #[error("CUTTY_CONFIG: {path} is not valid TOML (near line {line})")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
    },
    /// A key in the `CUTTY_CONFIG` file that is not a setting.
    #[error("CUTTY_CONFIG: unknown key `{key}` in {path}")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// The dev secrets file cannot be read, parsed or written.
    #[error("CUTTY_DEV_SECRETS_FILE: {path}: {reason}")]
    DevSecrets {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// A secret string: zeroized on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `CUTTY_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// The default: dev secrets are generated and persisted, logs are compact.
    Development,
    /// Secrets are required, logs are JSON.
    Production,
}

impl Environment {
    /// The value as written in `CUTTY_ENV`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }
}

/// `DATABASE_URL`, classified. `Debug` hides the URL (it may hold a password).
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// `sqlite://path`, `sqlite:path` or `sqlite::memory:`.
    Sqlite {
        /// The URL as given to the driver.
        url: String,
        /// The database file, `None` for an in-memory database.
        path: Option<PathBuf>,
    },
    /// `postgres://…` or `postgresql://…`.
    Postgres {
        /// The URL as given to the driver.
        url: String,
    },
}

impl Database {
    /// The URL as given to the driver. May contain a password: do not log it.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url } => url,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    fn parse(url: &str) -> Result<Self, String> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self::Postgres {
                url: url.to_owned(),
            });
        }
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let file = rest.split('?').next().unwrap_or_default();
            if file.is_empty() {
                return Err("a sqlite URL needs a file name (sqlite://cutty.db)".to_owned());
            }
            let path = if file == ":memory:" || rest.contains("mode=memory") {
                None
            } else {
                Some(PathBuf::from(file))
            };
            return Ok(Self::Sqlite {
                url: url.to_owned(),
                path,
            });
        }
        Err("expected sqlite://PATH or postgres://… (the value is not repeated: it may hold a password)".to_owned())
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path, .. } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::Postgres { .. } => f.write_str("Postgres(<redacted>)"),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CUTTY_ENV` (default development).
    pub environment: Environment,
    /// `CUTTY_BIND` (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// `DATABASE_URL` (default `sqlite://cutty.db`).
    pub database: Database,
    /// `REDIS_URL` (default unset).
    pub redis_url: Option<Secret>,
    /// `CUTTY_REDIS_PREFIX` (default `cutty:`).
    pub redis_prefix: String,
    /// `JWT_SECRET` as configured (see [`Config::secrets`] for the effective one).
    pub jwt_secret: Option<Secret>,
    /// `API_KEY_SALT` as configured (see [`Config::secrets`]).
    pub api_key_salt: Option<Secret>,
    /// Issuer, leeway and TTLs (`CUTTY_JWT_ISSUER`, `CUTTY_JWT_LEEWAY_SECONDS`,
    /// `CUTTY_ACCESS_TTL_SECONDS`, `CUTTY_REFRESH_TTL_SECONDS`); HS256 only.
    pub token: TokenConfig,
    /// `CUTTY_PBKDF2_ITERATIONS` (default 600 000).
    pub pbkdf2_iterations: u32,
    /// `CUTTY_RATE_LIMIT_*` (defaults 60 s; 100, 60, 1000, off). Fails closed when the
    /// counter store fails.
    pub rate_limit: RateLimitConfig,
    /// `CUTTY_LOCKOUT_*` (defaults 5, 900 s, 3600 s; progressive delay capped at 30 s).
    pub lockout: LockoutConfig,
    /// `CUTTY_TRUSTED_PROXIES` and `CUTTY_BEHIND_CLOUDFLARE`.
    pub client_ip: ClientIpResolver,
    /// `CUTTY_FILES_DIR` (default `./cutty-files`).
    pub files_dir: PathBuf,
    /// `CUTTY_MAX_UPLOAD_BYTES` (default 10 MiB).
    pub max_upload_bytes: u64,
    /// `CUTTY_EVENT_RETENTION_DAYS` (default 30).
    pub event_retention_days: u32,
    /// `DEBUG_MODE` (default false): lowers the default log level to `debug`. Never turns
    /// on logging of secrets or bodies.
    pub debug_mode: bool,
    /// `CUTTY_DEV_SECRETS_FILE` (default `cutty-dev-secrets.toml` beside the SQLite file,
    /// else in the working directory).
    pub dev_secrets_file: PathBuf,
    /// `CUTTY_CORS_ORIGINS`: allowed origins (`https://app.example`, or `*`); empty = no
    /// CORS headers (the default).
    pub cors_origins: Vec<String>,
    /// `CUTTY_HASH_WORKERS`: most password hashes computed at once (each on its own low-priority hashing thread)
    /// (default: the number of CPUs).
    pub hash_workers: usize,
    /// `CUTTY_HASH_PRIORITY`: how hashing threads give way to requests on Linux: a nice
    /// value `1`–`19` (default 10), `idle` (`SCHED_IDLE`) or `normal`.
    pub hash_priority: HashingPriority,
    /// `CUTTY_HEADER_TIMEOUT_SECONDS`: time allowed to send the request head (default 10).
    pub header_timeout: Duration,
    /// `CUTTY_BODY_TIMEOUT_SECONDS`: time allowed to send the request body (default 30).
    pub body_timeout: Duration,
    /// `CUTTY_MAINTENANCE_INTERVAL_SECONDS`: how often the server purges expired state
    /// (default 3600).
    pub maintenance_interval: Duration,
}

/// Where a raw value came from.
#[derive(Debug, Clone)]
enum Origin {
    Env,
    File(PathBuf),
}

/// The raw string values of every setting, environment over file.
#[derive(Debug, Default)]
struct Raw {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Raw {
    fn get(&self, v: Var) -> Option<&str> {
        self.values.get(v.env).map(|(s, _)| s.as_str())
    }

    /// How to name `v` in an error: the variable, or the file key and file.
    fn name(&self, v: Var) -> String {
        match self.values.get(v.env) {
            Some((_, Origin::File(path))) => {
                format!("{} (in {})", file_key(v.env), path.display())
            }
            _ => v.env.to_owned(),
        }
    }

    fn invalid(&self, v: Var, reason: impl fmt::Display) -> ConfigError {
        let reason = match (v.secret, self.get(v)) {
            (false, Some(value)) => format!("{reason} (got {value:?})"),
            _ => reason.to_string(),
        };
        ConfigError::Invalid {
            setting: self.name(v),
            reason,
        }
    }

    fn string(&self, v: Var, default: &str) -> String {
        self.get(v).unwrap_or(default).to_owned()
    }

    fn parse<T: std::str::FromStr>(
        &self,
        v: Var,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(v) {
            None => Ok(default),
            Some(s) => s.trim().parse().map_err(|_| self.invalid(v, expected)),
        }
    }

    fn u64_in(&self, v: Var, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let n: u64 = self.parse(
            v,
            default,
            &format!("expected a whole number from {min} to {max}"),
        )?;
        if n < min || n > max {
            return Err(self.invalid(v, format!("must be from {min} to {max}")));
        }
        Ok(n)
    }

    /// A nice value `1`–`19`, `idle` or `normal`.
    fn hash_priority(&self, v: Var) -> Result<HashingPriority, ConfigError> {
        let Some(value) = self.get(v) else {
            return Ok(HashingPriority::default());
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "idle" => Ok(HashingPriority::Idle),
            "normal" => Ok(HashingPriority::Normal),
            n => match n.parse::<i32>() {
                Ok(n @ 1..=19) => Ok(HashingPriority::Nice(n)),
                _ => Err(self.invalid(v, "expected a nice value from 1 to 19, idle or normal")),
            },
        }
    }

    fn u32_in(&self, v: Var, default: u32, min: u32, max: u32) -> Result<u32, ConfigError> {
        let n = self.u64_in(v, default.into(), min.into(), max.into())?;
        u32::try_from(n).map_err(|_| self.invalid(v, "too large"))
    }

    fn nonzero(&self, v: Var, default: u32) -> Result<NonZeroU32, ConfigError> {
        let n = self.u32_in(v, default, 1, u32::MAX)?;
        NonZeroU32::new(n).ok_or_else(|| self.invalid(v, "must be at least 1"))
    }

    fn bool(&self, v: Var, default: bool) -> Result<bool, ConfigError> {
        match self.get(v).map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(s) => match s.as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(self.invalid(v, "expected true or false")),
            },
        }
    }

    fn secret(&self, v: Var, min_len: usize) -> Result<Option<Secret>, ConfigError> {
        match self.get(v) {
            None => Ok(None),
            Some(s) if s.len() < min_len => Err(self.invalid(
                v,
                format!(
                    "too short: {} bytes, at least {min_len} required (generate one with `openssl rand -base64 48`)",
                    s.len()
                ),
            )),
            Some(s) => Ok(Some(Secret::new(s))),
        }
    }
}

/// Converts one TOML value to the string form the environment would hold.
fn toml_to_string(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn read_file(path: &Path, raw: &mut Raw) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path: path.to_owned(),
        line: e.span().map_or(1, |s| line_of(&text, s.start)),
    })?;
    for (key, value) in &table {
        let Some(v) = VARS.iter().find(|v| file_key(v.env) == *key) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
            });
        };
        let Some(s) = toml_to_string(value) else {
            return Err(ConfigError::Invalid {
                setting: format!("{key} (in {})", path.display()),
                reason: "expected a string, an integer, a boolean or a list of strings".into(),
            });
        };
        raw.values.insert(v.env, (s, Origin::File(path.to_owned())));
    }
    Ok(())
}

impl Config {
    /// Reads the process environment (and the `CUTTY_CONFIG` file it names).
    pub fn from_process_env() -> Result<Self, ConfigError> {
        let mut vars = BTreeMap::new();
        for v in VARS
            .iter()
            .map(|v| v.env)
            .chain(std::iter::once(CONFIG_FILE_VAR))
        {
            match std::env::var(v) {
                Ok(s) => {
                    vars.insert(v.to_owned(), s);
                }
                Err(std::env::VarError::NotPresent) => {}
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(ConfigError::Invalid {
                        setting: v.to_owned(),
                        reason: "not valid UTF-8".into(),
                    });
                }
            }
        }
        Self::from_vars(vars)
    }

    /// Reads the given environment (name → value; other names are ignored) and the
    /// `CUTTY_CONFIG` file it names.
    pub fn from_vars<I, K, V>(env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let mut raw = Raw::default();
        if let Some(path) = env.get(CONFIG_FILE_VAR) {
            read_file(Path::new(path), &mut raw)?;
        }
        for v in VARS {
            if let Some(s) = env.get(v.env) {
                raw.values.insert(v.env, (s.clone(), Origin::Env));
            }
        }
        Self::from_raw(&raw)
    }

    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let environment = match raw.get(ENV).map(|s| s.trim().to_ascii_lowercase()) {
            None => Environment::Development,
            Some(s) if s == "development" => Environment::Development,
            Some(s) if s == "production" => Environment::Production,
            Some(_) => return Err(raw.invalid(ENV, "expected development or production")),
        };
        let bind = raw.parse(
            BIND,
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "expected IP:PORT (e.g. 127.0.0.1:8080 or [::]:8080)",
        )?;
        let database = Database::parse(raw.get(DATABASE_URL).unwrap_or("sqlite://cutty.db"))
            .map_err(|reason| raw.invalid(DATABASE_URL, reason))?;
        let redis_url = match raw.get(REDIS_URL) {
            None => None,
            Some(s) => {
                let lower = s.to_ascii_lowercase();
                if !(lower.starts_with("redis://")
                    || lower.starts_with("redis+unix://")
                    || lower.starts_with("unix://"))
                {
                    return Err(raw.invalid(REDIS_URL, "expected redis://HOST[:PORT][/DB]"));
                }
                Some(Secret::new(s))
            }
        };
        let redis_prefix = raw.string(REDIS_PREFIX, "cutty:");
        if redis_prefix.len() > 128 || redis_prefix.chars().any(char::is_whitespace) {
            return Err(raw.invalid(REDIS_PREFIX, "at most 128 characters, no spaces"));
        }
        let jwt_secret = raw.secret(JWT_SECRET, MIN_JWT_SECRET_LEN)?;
        let api_key_salt = raw.secret(API_KEY_SALT, MIN_API_KEY_SALT_LEN)?;

        let issuer = raw.string(JWT_ISSUER, "cutty");
        if issuer.is_empty() || issuer.len() > 256 {
            return Err(raw.invalid(JWT_ISSUER, "must be 1 to 256 bytes long"));
        }
        let max_leeway = cutty_core::token::MAX_LEEWAY.as_secs();
        const MAX_TTL: u64 = 10 * 366 * 86_400;
        let token = TokenConfig {
            issuer,
            leeway: Duration::from_secs(raw.u64_in(JWT_LEEWAY, 30, 0, max_leeway)?),
            access_ttl: Duration::from_secs(raw.u64_in(ACCESS_TTL, 900, 1, MAX_TTL)?),
            refresh_ttl: Duration::from_secs(raw.u64_in(REFRESH_TTL, 604_800, 1, MAX_TTL)?),
            ..TokenConfig::default()
        };
        token.validate().map_err(|e| ConfigError::Invalid {
            setting: "token settings".into(),
            reason: e.to_string(),
        })?;
        let pbkdf2_iterations = raw.u32_in(
            PBKDF2_ITERATIONS,
            cutty_core::password::DEFAULT_PBKDF2_ITERATIONS,
            1,
            MAX_PBKDF2_ITERATIONS,
        )?;
        let global = match raw.get(RL_GLOBAL) {
            None => None,
            Some(s) if s.trim().eq_ignore_ascii_case("off") => None,
            Some(_) => Some(raw.nonzero(RL_GLOBAL, 1)?),
        };
        let rate_limit = RateLimitConfig {
            window_secs: raw.nonzero(RL_WINDOW, 60)?,
            ip: raw.nonzero(RL_IP, 100)?,
            user: raw.nonzero(RL_USER, 60)?,
            api_key: raw.nonzero(RL_API_KEY, 1000)?,
            global,
            on_store_error: StoreFailurePolicy::FailClosed,
        };
        const MAX_SECS: u64 = 100 * 366 * 86_400;
        let lockout = LockoutConfig {
            threshold: raw.u32_in(LOCKOUT_THRESHOLD, 5, 1, MAX_THRESHOLD)?,
            window_secs: raw.u64_in(LOCKOUT_WINDOW, 900, 1, MAX_SECS)?,
            lock_secs: raw.u64_in(LOCKOUT_SECONDS, 3600, 1, MAX_SECS)?,
            ..LockoutConfig::default()
        };
        lockout.validate().map_err(|e| ConfigError::Invalid {
            setting: "lockout settings".into(),
            reason: e.to_string(),
        })?;
        let behind_cloudflare = raw.bool(BEHIND_CLOUDFLARE, false)?;
        let client_ip = ClientIpResolver::from_config(
            raw.get(TRUSTED_PROXIES).unwrap_or_default(),
            behind_cloudflare,
        )
        .map_err(|e| match e {
            TrustedProxiesError::HostBitsSet { position, network } => raw.invalid(
                TRUSTED_PROXIES,
                format!("entry {position} has host bits set (did you mean {network}?)"),
            ),
            other => raw.invalid(TRUSTED_PROXIES, other),
        })?;
        let files_dir = PathBuf::from(raw.string(FILES_DIR, "./cutty-files"));
        let max_upload_bytes = raw.u64_in(MAX_UPLOAD, 10 * 1024 * 1024, 1, 1 << 40)?;
        let event_retention_days = raw.u32_in(RETENTION, 30, 1, 36_600)?;
        let debug_mode = raw.bool(DEBUG_MODE, false)?;
        let dev_secrets_file = match raw.get(DEV_SECRETS_FILE) {
            Some(p) => PathBuf::from(p),
            None => default_dev_secrets_file(&database),
        };
        let cors_origins = parse_origins(raw.get(CORS_ORIGINS).unwrap_or_default())
            .map_err(|reason| raw.invalid(CORS_ORIGINS, reason))?;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let hash_workers = usize::try_from(raw.u64_in(HASH_WORKERS, cpus as u64, 1, 1024)?)
            .map_err(|_| raw.invalid(HASH_WORKERS, "too large"))?;
        let hash_priority = raw.hash_priority(HASH_PRIORITY)?;
        let header_timeout = Duration::from_secs(raw.u64_in(HEADER_TIMEOUT, 10, 1, 3600)?);
        let body_timeout = Duration::from_secs(raw.u64_in(BODY_TIMEOUT, 30, 1, 3600)?);
        let maintenance_interval =
            Duration::from_secs(raw.u64_in(MAINTENANCE_INTERVAL, 3600, 1, 7 * 86_400)?);
        Ok(Self {
            environment,
            bind,
            database,
            redis_url,
            redis_prefix,
            jwt_secret,
            api_key_salt,
            token,
            pbkdf2_iterations,
            rate_limit,
            lockout,
            client_ip,
            files_dir,
            max_upload_bytes,
            event_retention_days,
            debug_mode,
            dev_secrets_file,
            cors_origins,
            hash_workers,
            hash_priority,
            header_timeout,
            body_timeout,
            maintenance_interval,
        })
    }

    /// The effective `JWT_SECRET` and `API_KEY_SALT`.
    ///
    /// In production both must be configured ([`ConfigError::MissingInProduction`]). In
    /// development a missing one comes from the dev secrets file, which is created with
    /// fresh random secrets (mode 0600) when it does not exist yet; every use of it is
    /// announced on stderr.
    pub fn secrets(&self) -> Result<Secrets, ConfigError> {
        if let (Some(jwt), Some(salt)) = (&self.jwt_secret, &self.api_key_salt) {
            return Ok(Secrets {
                jwt_secret: jwt.clone(),
                api_key_salt: salt.clone(),
                source: SecretSource::Configured,
            });
        }
        if self.environment == Environment::Production {
            let missing = if self.jwt_secret.is_none() {
                JWT_SECRET.env
            } else {
                API_KEY_SALT.env
            };
            return Err(ConfigError::MissingInProduction(missing));
        }
        let (dev, created) = DevSecrets::load_or_create(&self.dev_secrets_file)?;
        let path = self.dev_secrets_file.display();
        if created {
            eprintln!(
                "\n\
                 ************************************************************************\n\
                 WARNING: JWT_SECRET and/or API_KEY_SALT are not set.\n\
                 Generated random development secrets and saved them to\n\
                 {path} (mode 0600).\n\
                 They are reused on every start. NEVER use them in production:\n\
                 set CUTTY_ENV=production with your own JWT_SECRET and API_KEY_SALT.\n\
                 ************************************************************************\n"
            );
        } else {
            eprintln!(
                "WARNING: using development secrets from {path} (JWT_SECRET and/or API_KEY_SALT unset; not for production)"
            );
        }
        Ok(Secrets {
            jwt_secret: self.jwt_secret.clone().unwrap_or(dev.jwt_secret),
            api_key_salt: self.api_key_salt.clone().unwrap_or(dev.api_key_salt),
            source: SecretSource::DevFile {
                created,
                path: self.dev_secrets_file.clone(),
            },
        })
    }
}

/// Where [`Secrets`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Both were configured.
    Configured,
    /// At least one came from the dev secrets file.
    DevFile {
        /// Whether the file was created just now.
        created: bool,
        /// The file.
        path: PathBuf,
    },
}

/// The effective secrets.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// The HS256 signing and verification secret.
    pub jwt_secret: Secret,
    /// The API-key hashing salt.
    pub api_key_salt: Secret,
    /// Where they came from.
    pub source: SecretSource,
}

/// The contents of the dev secrets file.
struct DevSecrets {
    jwt_secret: Secret,
    api_key_salt: Secret,
}

impl DevSecrets {
    fn generate() -> Self {
        use rand::Rng as _;
        let mut rng = rand::rng();
        let mut random = |n: usize| -> String {
            (0..n)
                .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
                .collect()
        };
        Self {
            jwt_secret: Secret::new(random(64)),
            api_key_salt: Secret::new(random(48)),
        }
    }

    fn error(path: &Path, reason: impl fmt::Display) -> ConfigError {
        ConfigError::DevSecrets {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }

    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| Self::error(path, format!("cannot read: {e}")))?,
        );
        let table: toml::Table = toml::from_str(&text)
            .map_err(|_| Self::error(path, "not valid TOML (delete it to generate new secrets)"))?;
        let get = |key: &str, min: usize| -> Result<Secret, ConfigError> {
            match table.get(key) {
                Some(toml::Value::String(s)) if s.len() >= min => Ok(Secret::new(s.as_str())),
                Some(toml::Value::String(_)) => Err(Self::error(
                    path,
                    format!("`{key}` shorter than {min} bytes"),
                )),
                _ => Err(Self::error(
                    path,
                    format!("`{key}` missing or not a string"),
                )),
            }
        };
        let secrets = Self {
            jwt_secret: get("jwt_secret", MIN_JWT_SECRET_LEN)?,
            api_key_salt: get("api_key_salt", MIN_API_KEY_SALT_LEN)?,
        };
        warn_if_readable_by_others(path);
        Ok(secrets)
    }

    /// Reads the file, or creates it atomically (never overwriting one another process
    /// created meanwhile). `true` when this call created it.
    fn load_or_create(path: &Path) -> Result<(Self, bool), ConfigError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => return Ok((Self::read(path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Self::error(path, format!("cannot access: {e}"))),
        }
        let secrets = Self::generate();
        let text = Zeroizing::new(format!(
            "# Cutty development secrets, generated on first start. NOT FOR PRODUCTION.\n\
             # Delete this file to generate new ones (every issued token and API key then fails).\n\
             jwt_secret = \"{}\"\napi_key_salt = \"{}\"\n",
            secrets.jwt_secret.expose(),
            secrets.api_key_salt.expose()
        ));
        // Write a private temporary file, then link it into place: the link fails if the
        // file appeared meanwhile, and a reader never sees a half-written file.
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("cutty-dev-secrets"),
            uuid::Uuid::new_v4().simple()
        ));
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        };
        let written = write().and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => Ok((secrets, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::read(path)?, false))
            }
            Err(e) => Err(Self::error(path, format!("cannot create: {e}"))),
        }
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "WARNING: {} is readable by other users; run `chmod 600` on it",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// `cutty-dev-secrets.toml` beside the SQLite file, else in the working directory.
fn default_dev_secrets_file(database: &Database) -> PathBuf {
    match database {
        Database::Sqlite {
            path: Some(file), ..
        } => match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(DEV_SECRETS_FILE_NAME),
            _ => PathBuf::from(DEV_SECRETS_FILE_NAME),
        },
        _ => PathBuf::from(DEV_SECRETS_FILE_NAME),
    }
}

/// Parses `CUTTY_CORS_ORIGINS`: comma-separated origins, or `*`.
fn parse_origins(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            out.push(entry.to_owned());
            continue;
        }
        let rest = entry
            .strip_prefix("https://")
            .or_else(|| entry.strip_prefix("http://"))
            .ok_or_else(|| format!("origin {entry:?} must start with http:// or https://"))?;
        let valid = !rest.is_empty()
            && rest.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !valid {
            return Err(format!(
                "origin {entry:?} must be scheme://host[:port] without a path"
            ));
        }
        out.push(entry.trim_end_matches('/').to_owned());
    }
    if out.len() > 1 && out.iter().any(|o| o == "*") {
        return Err("`*` cannot be combined with other origins".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().copied())
    }

    const JWT: &str = "0123456789abcdef0123456789abcdef-jwt";
    const SALT: &str = "0123456789abcdef-salt";

    #[test]
    fn defaults_are_the_contracts() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.database,
            Database::Sqlite {
                url: "sqlite://cutty.db".into(),
                path: Some("cutty.db".into())
            }
        );
        assert!(c.redis_url.is_none());
        assert_eq!(c.redis_prefix, "cutty:");
        assert_eq!(c.token, TokenConfig::default());
        assert_eq!(c.pbkdf2_iterations, 600_000);
        assert_eq!(c.rate_limit, RateLimitConfig::default());
        assert_eq!(c.lockout, LockoutConfig::default());
        assert!(!c.client_ip.behind_cloudflare());
        assert!(!c.client_ip.is_trusted("10.0.0.1".parse().unwrap()));
        assert_eq!(c.files_dir, PathBuf::from("./cutty-files"));
        assert_eq!(c.max_upload_bytes, 10_485_760);
        assert_eq!(c.event_retention_days, 30);
        assert!(!c.debug_mode);
        assert_eq!(c.dev_secrets_file, PathBuf::from(DEV_SECRETS_FILE_NAME));
        assert!(c.cors_origins.is_empty());
        assert!(c.hash_workers >= 1);
        assert_eq!(c.hash_priority, HashingPriority::Nice(10));
        assert_eq!(c.maintenance_interval, Duration::from_secs(3600));
    }

    #[test]
    fn every_variable_is_parsed() {
        let c = cfg(&[
            ("CUTTY_ENV", "production"),
            ("CUTTY_BIND", "[::1]:9000"),
            ("DATABASE_URL", "postgres://u:pw@localhost/db"),
            ("REDIS_URL", "redis://127.0.0.1:6379/2"),
            ("CUTTY_REDIS_PREFIX", "t1:"),
            ("JWT_SECRET", JWT),
            ("API_KEY_SALT", SALT),
            ("CUTTY_JWT_ISSUER", "me"),
            ("CUTTY_JWT_LEEWAY_SECONDS", "5"),
            ("CUTTY_ACCESS_TTL_SECONDS", "60"),
            ("CUTTY_REFRESH_TTL_SECONDS", "120"),
            ("CUTTY_PBKDF2_ITERATIONS", "1000"),
            ("CUTTY_RATE_LIMIT_WINDOW_SECONDS", "10"),
            ("CUTTY_RATE_LIMIT_IP", "7"),
            ("CUTTY_RATE_LIMIT_USER", "8"),
            ("CUTTY_RATE_LIMIT_API_KEY", "9"),
            ("CUTTY_RATE_LIMIT_GLOBAL", "10000"),
            ("CUTTY_LOCKOUT_THRESHOLD", "3"),
            ("CUTTY_LOCKOUT_WINDOW_SECONDS", "60"),
            ("CUTTY_LOCKOUT_SECONDS", "120"),
            ("CUTTY_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("CUTTY_BEHIND_CLOUDFLARE", "true"),
            ("CUTTY_FILES_DIR", "/tmp/files"),
            ("CUTTY_MAX_UPLOAD_BYTES", "1024"),
            ("CUTTY_EVENT_RETENTION_DAYS", "7"),
            ("DEBUG_MODE", "1"),
            ("CUTTY_DEV_SECRETS_FILE", "/tmp/x.toml"),
            (
                "CUTTY_CORS_ORIGINS",
                "https://app.example, http://localhost:3000",
            ),
            ("CUTTY_HASH_WORKERS", "3"),
            ("CUTTY_HASH_PRIORITY", " Idle "),
            ("CUTTY_HEADER_TIMEOUT_SECONDS", "4"),
            ("CUTTY_BODY_TIMEOUT_SECONDS", "6"),
            ("CUTTY_MAINTENANCE_INTERVAL_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.bind.to_string(), "[::1]:9000");
        assert_eq!(c.database.kind(), "postgres");
        assert_eq!(c.redis_url.unwrap().expose(), "redis://127.0.0.1:6379/2");
        assert_eq!(c.redis_prefix, "t1:");
        assert_eq!(c.jwt_secret.unwrap().expose(), JWT);
        assert_eq!(c.api_key_salt.unwrap().expose(), SALT);
        assert_eq!(c.token.issuer, "me");
        assert_eq!(c.token.leeway, Duration::from_secs(5));
        assert_eq!(c.token.access_ttl, Duration::from_secs(60));
        assert_eq!(c.token.refresh_ttl, Duration::from_secs(120));
        assert_eq!(c.pbkdf2_iterations, 1000);
        assert_eq!(c.rate_limit.window_secs.get(), 10);
        assert_eq!(c.rate_limit.ip.get(), 7);
        assert_eq!(c.rate_limit.user.get(), 8);
        assert_eq!(c.rate_limit.api_key.get(), 9);
        assert_eq!(c.rate_limit.global.map(NonZeroU32::get), Some(10_000));
        assert_eq!(c.lockout.threshold, 3);
        assert_eq!(c.lockout.window_secs, 60);
        assert_eq!(c.lockout.lock_secs, 120);
        assert!(c.client_ip.is_trusted("10.1.2.3".parse().unwrap()));
        assert!(c.client_ip.is_trusted("::1".parse().unwrap()));
        assert!(!c.client_ip.is_trusted("11.0.0.1".parse().unwrap()));
        assert!(c.client_ip.behind_cloudflare());
        assert_eq!(c.files_dir, PathBuf::from("/tmp/files"));
        assert_eq!(c.max_upload_bytes, 1024);
        assert_eq!(c.event_retention_days, 7);
        assert!(c.debug_mode);
        assert_eq!(c.dev_secrets_file, PathBuf::from("/tmp/x.toml"));
        assert_eq!(
            c.cors_origins,
            vec!["https://app.example", "http://localhost:3000"]
        );
        assert_eq!(c.hash_workers, 3);
        assert_eq!(c.hash_priority, HashingPriority::Idle);
        assert_eq!(c.header_timeout, Duration::from_secs(4));
        assert_eq!(c.body_timeout, Duration::from_secs(6));
        assert_eq!(c.maintenance_interval, Duration::from_secs(60));
    }

    #[test]
    fn errors_name_the_variable_and_hide_secrets() {
        let e = cfg(&[("CUTTY_RATE_LIMIT_IP", "lots")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("CUTTY_RATE_LIMIT_IP:"), "{e}");
        assert!(e.contains("\"lots\""), "{e}");
        let e = cfg(&[("CUTTY_RATE_LIMIT_IP", "0")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("CUTTY_RATE_LIMIT_IP:"), "{e}");

        let e = cfg(&[("JWT_SECRET", "short-secret-value")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("JWT_SECRET:"), "{e}");
        assert!(!e.contains("short-secret-value"), "{e}");
        let e = cfg(&[("API_KEY_SALT", "tiny-salt")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("API_KEY_SALT:") && !e.contains("tiny-salt"),
            "{e}"
        );
        let e = cfg(&[("DATABASE_URL", "mysql://root:hunter2@db/x")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("DATABASE_URL:") && !e.contains("hunter2"),
            "{e}"
        );
        let e = cfg(&[("REDIS_URL", "http://:hunter2@x")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("REDIS_URL:") && !e.contains("hunter2"), "{e}");

        for (var, value) in [
            ("CUTTY_ENV", "staging"),
            ("CUTTY_BIND", "localhost"),
            ("CUTTY_BEHIND_CLOUDFLARE", "maybe"),
            ("CUTTY_TRUSTED_PROXIES", "10.0.0.1/8"),
            ("CUTTY_TRUSTED_PROXIES", "not-an-ip"),
            ("CUTTY_JWT_LEEWAY_SECONDS", "301"),
            ("CUTTY_ACCESS_TTL_SECONDS", "0"),
            ("CUTTY_PBKDF2_ITERATIONS", "0"),
            ("CUTTY_PBKDF2_ITERATIONS", "10000001"),
            ("CUTTY_LOCKOUT_THRESHOLD", "65"),
            ("CUTTY_RATE_LIMIT_WINDOW_SECONDS", "-1"),
            ("CUTTY_CORS_ORIGINS", "app.example"),
            ("CUTTY_CORS_ORIGINS", "https://a.example/path"),
            ("CUTTY_CORS_ORIGINS", "*,https://a.example"),
            ("CUTTY_HASH_WORKERS", "0"),
            ("CUTTY_HASH_PRIORITY", "0"),
            ("CUTTY_HASH_PRIORITY", "20"),
            ("CUTTY_HASH_PRIORITY", "low"),
            ("CUTTY_HASH_PRIORITY", "-1"),
            ("CUTTY_EVENT_RETENTION_DAYS", "0"),
            ("DATABASE_URL", "sqlite://"),
        ] {
            let e = cfg(&[(var, value)]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{var}:")), "{var}={value}: {e}");
        }
    }

    #[test]
    fn cidr_with_host_bits_suggests_the_network() {
        let e = cfg(&[("CUTTY_TRUSTED_PROXIES", "10.0.0.0/8,10.1.2.3/16")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("entry 2") && e.contains("10.1.0.0/16"), "{e}");
    }

    #[test]
    fn global_limit_off_and_empty_values_are_unset() {
        let c = cfg(&[
            ("CUTTY_RATE_LIMIT_GLOBAL", "off"),
            ("CUTTY_RATE_LIMIT_IP", ""),
        ])
        .unwrap();
        assert_eq!(c.rate_limit.global, None);
        assert_eq!(c.rate_limit.ip.get(), 100);
    }

    #[test]
    fn sqlite_urls_and_dev_secrets_location() {
        let c = cfg(&[("DATABASE_URL", "sqlite:///var/lib/cutty/main.db?mode=rwc")]).unwrap();
        assert_eq!(
            c.dev_secrets_file,
            PathBuf::from("/var/lib/cutty/cutty-dev-secrets.toml")
        );
        let c = cfg(&[("DATABASE_URL", "sqlite::memory:")]).unwrap();
        assert!(matches!(c.database, Database::Sqlite { path: None, .. }));
        assert_eq!(c.dev_secrets_file, PathBuf::from(DEV_SECRETS_FILE_NAME));
        let c = cfg(&[("DATABASE_URL", "sqlite:data/x.db")]).unwrap();
        assert_eq!(
            c.dev_secrets_file,
            PathBuf::from("data/cutty-dev-secrets.toml")
        );
        assert!(
            !format!(
                "{:?}",
                cfg(&[("DATABASE_URL", "postgres://u:hunter2@h/d")]).unwrap()
            )
            .contains("hunter2")
        );
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cutty-config-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn file_values_and_env_precedence() {
        let dir = temp_dir("file");
        let file = dir.join("cutty.toml");
        std::fs::write(
            &file,
            "env = \"production\"\n\
             database_url = \"sqlite://x.db\"\n\
             jwt_secret = \"file-secret-file-secret-file-secret!\"\n\
             api_key_salt = \"file-salt-file-salt\"\n\
             rate_limit_ip = 5\n\
             rate_limit_user = \"6\"\n\
             behind_cloudflare = true\n\
             trusted_proxies = [\"10.0.0.0/8\", \"192.168.0.0/16\"]\n\
             cors_origins = [\"https://a.example\"]\n\
             debug_mode = true\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = cfg(&[(CONFIG_FILE_VAR, path), ("CUTTY_RATE_LIMIT_IP", "50")]).unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.rate_limit.ip.get(), 50, "environment wins");
        assert_eq!(c.rate_limit.user.get(), 6);
        assert!(c.client_ip.behind_cloudflare());
        assert!(c.client_ip.is_trusted("192.168.4.4".parse().unwrap()));
        assert_eq!(c.cors_origins, vec!["https://a.example"]);
        assert!(c.debug_mode);
        assert_eq!(
            c.jwt_secret.unwrap().expose(),
            "file-secret-file-secret-file-secret!"
        );
        let c = cfg(&[(CONFIG_FILE_VAR, path), ("JWT_SECRET", JWT)]).unwrap();
        assert_eq!(c.jwt_secret.unwrap().expose(), JWT);

        // An error in the file names the key and the file.
        std::fs::write(&file, "rate_limit_ip = 0\n").unwrap();
        let e = cfg(&[(CONFIG_FILE_VAR, path)]).unwrap_err().to_string();
        assert!(e.starts_with("rate_limit_ip (in "), "{e}");
        // ... unless the environment overrides it.
        assert!(cfg(&[(CONFIG_FILE_VAR, path), ("CUTTY_RATE_LIMIT_IP", "3")]).is_ok());

        std::fs::write(&file, "rate_limit_ipp = 3\n").unwrap();
        let e = cfg(&[(CONFIG_FILE_VAR, path)]).unwrap_err();
        assert!(
            matches!(&e, ConfigError::UnknownKey { key, .. } if key == "rate_limit_ipp"),
            "{e}"
        );
        // The CUTTY_ prefix is not part of a file key.
        std::fs::write(&file, "CUTTY_RATE_LIMIT_IP = 3\n").unwrap();
        assert!(matches!(
            cfg(&[(CONFIG_FILE_VAR, path)]),
            Err(ConfigError::UnknownKey { .. })
        ));

        std::fs::write(&file, "a = 1\njwt_secret = \"hunter2-never-shown\n").unwrap();
        let e = cfg(&[(CONFIG_FILE_VAR, path)]).unwrap_err();
        assert!(matches!(e, ConfigError::ParseFile { line: 2, .. }), "{e}");
        assert!(!e.to_string().contains("hunter2"));

        std::fs::write(&file, "rate_limit_ip = 1.5\n").unwrap();
        assert!(cfg(&[(CONFIG_FILE_VAR, path)]).is_err());

        let e = cfg(&[(CONFIG_FILE_VAR, dir.join("missing.toml").to_str().unwrap())]).unwrap_err();
        assert!(matches!(e, ConfigError::ReadFile { .. }), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_variable_has_a_file_key() {
        let keys: Vec<_> = variables().map(|(_, k)| k).collect();
        for k in [
            "env",
            "bind",
            "database_url",
            "jwt_secret",
            "rate_limit_ip",
            "debug_mode",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k}");
        }
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len());
    }

    #[test]
    fn production_refuses_to_start_without_secrets() {
        let dir = temp_dir("prod");
        let dev = dir.join("dev.toml");
        let dev = dev.to_str().unwrap();
        for (vars, missing) in [
            (vec![], "JWT_SECRET"),
            (vec![("API_KEY_SALT", SALT)], "JWT_SECRET"),
            (vec![("JWT_SECRET", JWT)], "API_KEY_SALT"),
        ] {
            let mut all = vec![("CUTTY_ENV", "production"), ("CUTTY_DEV_SECRETS_FILE", dev)];
            all.extend(vars);
            let e = cfg(&all).unwrap().secrets().unwrap_err();
            assert!(
                matches!(e, ConfigError::MissingInProduction(v) if v == missing),
                "{e}"
            );
        }
        assert!(
            !Path::new(dev).exists(),
            "production never writes dev secrets"
        );
        let s = cfg(&[
            ("CUTTY_ENV", "production"),
            ("JWT_SECRET", JWT),
            ("API_KEY_SALT", SALT),
        ])
        .unwrap()
        .secrets()
        .unwrap();
        assert_eq!(s.source, SecretSource::Configured);
        assert_eq!(s.jwt_secret.expose(), JWT);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn development_generates_secrets_once() {
        let dir = temp_dir("dev");
        let db = format!("sqlite://{}", dir.join("cutty.db").display());
        let c = cfg(&[("DATABASE_URL", db.as_str())]).unwrap();
        assert_eq!(c.dev_secrets_file, dir.join(DEV_SECRETS_FILE_NAME));
        let first = c.secrets().unwrap();
        assert!(matches!(
            first.source,
            SecretSource::DevFile { created: true, .. }
        ));
        assert!(first.jwt_secret.expose().len() >= MIN_JWT_SECRET_LEN);
        assert!(first.api_key_salt.expose().len() >= MIN_API_KEY_SALT_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&c.dev_secrets_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = cfg(&[("DATABASE_URL", db.as_str())])
            .unwrap()
            .secrets()
            .unwrap();
        assert!(matches!(
            second.source,
            SecretSource::DevFile { created: false, .. }
        ));
        assert_eq!(first.jwt_secret.expose(), second.jwt_secret.expose());
        assert_eq!(first.api_key_salt.expose(), second.api_key_salt.expose());
        // A configured secret wins over the file, the other still comes from it.
        let third = cfg(&[("DATABASE_URL", db.as_str()), ("JWT_SECRET", JWT)])
            .unwrap()
            .secrets()
            .unwrap();
        assert_eq!(third.jwt_secret.expose(), JWT);
        assert_eq!(third.api_key_salt.expose(), first.api_key_salt.expose());
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // A damaged file is an error, not silently replaced.
        std::fs::write(&c.dev_secrets_file, "jwt_secret = \"short\"\n").unwrap();
        let e = c.secrets().unwrap_err();
        assert!(matches!(e, ConfigError::DevSecrets { .. }), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_secret() {
        let dir = temp_dir("race");
        let db = format!("sqlite://{}", dir.join("cutty.db").display());
        let c = cfg(&[("DATABASE_URL", db.as_str())]).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || c.secrets().unwrap().jwt_secret.expose().to_owned())
            })
            .collect();
        let secrets: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(secrets.windows(2).all(|w| w[0] == w[1]));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
