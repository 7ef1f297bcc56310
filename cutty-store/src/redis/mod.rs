//! Redis: rate-limit counters, token revocations, refresh families and lockout states.
//!
//! [`RedisStore`] implements cutty-core's [`RateLimitStore`](cutty_core::rate_limit::RateLimitStore),
//! [`LockoutStore`](cutty_core::lockout::LockoutStore) and
//! [`TokenStore`](cutty_core::token::TokenStore) over one
//! [`ConnectionManager`](::redis::aio::ConnectionManager) (a multiplexed connection that
//! reconnects by itself). Users and API keys stay in SQL; a deployment mixes backends by
//! handing each service the store it wants (e.g. PostgreSQL users + Redis counters).
//!
//! # One round trip per operation
//! Every operation is one command or one Lua script (sent with `EVALSHA`, falling back to
//! `EVAL` once after a server restart):
//!
//! * **rate-limit check** — [`check_and_count`](cutty_core::rate_limit::RateLimitStore::check_and_count)
//!   is one script that reads the 16-byte window state, decides admission with the same
//!   integer arithmetic as [`SlidingWindow::evaluate`](cutty_core::rate_limit::SlidingWindow::evaluate)
//!   and writes the next state with `PX` = the window TTL. It returns the previous state, and
//!   the decision (remaining, reset) is computed from it in Rust by `evaluate` itself, so the
//!   only arithmetic duplicated in Lua is the admission test and the state transition. The
//!   conformance suite (`check_and_count_matches_the_model`, `check_and_count_edge_cases`)
//!   holds both to the Rust model, state by state.
//! * **lockout** — compare-and-swap of a versioned JSON blob in one script (versions come
//!   from a store-wide `INCR` counter, so they never repeat).
//! * **tokens** — revocation, not-before marks and refresh-family rotation are scripts;
//!   [`access_state`](cutty_core::token::TokenStore::access_state) is one `MGET`.
//!
//! # Numbers in Lua
//! Redis Lua numbers are doubles: integers are exact below 2^53. The rate-limit script
//! refuses to compute when any product it needs could reach 2^51 (a window of hours with
//! limits in the billions, or a clock past the year 73 000) and answers "fall back" instead;
//! the store then runs the exact Rust load + compare-and-swap path
//! ([`check_and_count_with_cas`](cutty_core::rate_limit::check_and_count_with_cas)) —
//! correct, one round trip more. Token and lockout times are Unix milliseconds clamped to
//! ±(2^53 − 1) before they reach a script (±285 000 years: only "forever" is affected,
//! and it stays far in the future).
//!
//! # Keys and expiry
//! Every key starts with [`RedisOptions::prefix`] (default `cutty:`): `rl:<limit key>`,
//! `lo:<lockout key>` (+ `lo:version`), `rev:<jti>`, `nbf:<user id>`, `fam:<family id>`.
//! Logical expiry is always decided against the caller's `now_ms` and the expiry stored in
//! the value; the physical TTL (`PX`) is the record's remaining life as of that `now_ms` plus
//! [`RedisOptions::ttl_grace`], so a record is never dropped while a caller whose clock lags
//! Redis's by less than the grace still needs it. Nothing needs a maintenance job: expired
//! records disappear by themselves.
//!
//! # Failures
//! Every operation is bounded by [`RedisOptions::operation_timeout`]: a reply that takes
//! longer is [`StoreErrorKind::Timeout`] (`DB_002`); a refused, dropped or unreachable
//! connection is [`StoreErrorKind::Unavailable`] (`DB_001`). What a failing rate-limit store
//! means is the limiter's policy ([`StoreFailurePolicy`](cutty_core::rate_limit::StoreFailurePolicy),
//! fail closed by default); a failing revocation check fails the request (closed).
//!
//! # Example
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use cutty_core::clock::SystemClock;
//! use cutty_core::rate_limit::{RateLimitConfig, RateLimiter, RequestIdentity};
//! use cutty_store::redis::{RedisOptions, RedisStore};
//!
//! let store = RedisStore::connect("redis://127.0.0.1:6379", RedisOptions::default())
//!     .await
//!     .expect("redis is up");
//! let limiter = RateLimiter::new(RateLimitConfig::default(), store, SystemClock);
//! let outcome = limiter
//!     .check(&RequestIdentity::anonymous("192.0.2.1".parse().unwrap()))
//!     .await
//!     .expect("one round trip");
//! assert!(outcome.is_allowed());
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, Script, Value};
use cutty_core::error::{StoreError, StoreErrorKind};

mod lockout;
mod rate_limit;
mod token;

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Prepended to every key. Default `cutty:`. Give each deployment (or each test) its own
    /// to share one Redis without collisions.
    pub prefix: String,
    /// The longest one operation (or the initial connection) may take before it fails with
    /// `DB_002` (`DB_001` while connecting). Default 5 s, as for the SQL backends. The
    /// operations themselves take well under a millisecond on a healthy server.
    pub operation_timeout: Duration,
    /// Added to every physical TTL beyond the record's logical remaining life. Default 30 s:
    /// covers clock differences between the nodes and Redis; costs only memory.
    pub ttl_grace: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "cutty:".to_owned(),
            operation_timeout: Duration::from_secs(5),
            ttl_grace: Duration::from_secs(30),
        }
    }
}

/// The Lua scripts, hashed once.
struct Scripts {
    rate_check: Script,
    rate_cas: Script,
    lockout_cas: Script,
    revoke: Script,
    not_before: Script,
    family_create: Script,
    family_rotate: Script,
    family_revoke: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            rate_check: Script::new(include_str!("rate_limit_check.lua")),
            rate_cas: Script::new(include_str!("rate_limit_cas.lua")),
            lockout_cas: Script::new(include_str!("lockout_cas.lua")),
            revoke: Script::new(include_str!("token_revoke.lua")),
            not_before: Script::new(include_str!("token_not_before.lua")),
            family_create: Script::new(include_str!("family_create.lua")),
            family_rotate: Script::new(include_str!("family_rotate.lua")),
            family_revoke: Script::new(include_str!("family_revoke.lua")),
        }
    }
}

/// Rate-limit, lockout and token state on Redis. Cheap to clone (clones share the
/// connection).
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    grace_ms: i64,
    scripts: Arc<Scripts>,
}

/// Shows the prefix and timeout, never the URL (it may hold a password).
impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("operation_timeout", &self.timeout)
            .field("ttl_grace_ms", &self.grace_ms)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host[:port][/db]`, `rediss://…` is not
    /// enabled), failing with `Unavailable` (`DB_001`) if the server cannot be reached
    /// within [`RedisOptions::operation_timeout`]. Later disconnections are repaired by the
    /// connection manager; operations during an outage fail with `Unavailable`.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        // The URL may contain a password: the parse error is not kept as a source.
        let client = Client::open(url)
            .map_err(|_| StoreError::new(StoreErrorKind::Unavailable, "redis: invalid URL"))?;
        let timeout = options.operation_timeout;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            match tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
                .await
            {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => {
                    return Err(
                        StoreError::new(StoreErrorKind::Unavailable, "redis: connect")
                            .with_source(e),
                    );
                }
                Err(_) => {
                    return Err(StoreError::new(
                        StoreErrorKind::Unavailable,
                        "redis: connect timed out",
                    ));
                }
            };
        Ok(Self {
            conn,
            prefix: Arc::from(options.prefix),
            timeout,
            grace_ms: i64::try_from(options.ttl_grace.as_millis()).unwrap_or(i64::MAX / 4),
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A copy of the connection, for commands of your own (clones share one connection).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn key(&self, kind: &str, id: impl fmt::Display) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Runs `fut` within the operation timeout, mapping failures to store errors.
    async fn bounded<T>(
        &self,
        context: &'static str,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| store_error(context, e)),
            Err(_) => Err(StoreError::new(StoreErrorKind::Timeout, context)),
        }
    }

    /// Runs `script` with `keys` and `args`, bounded.
    async fn run(
        &self,
        context: &'static str,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Value, StoreError> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        let mut conn = self.conn.clone();
        self.bounded(context, inv.invoke_async::<Value>(&mut conn))
            .await
    }

    /// Deletes every key under this store's prefix (`SCAN MATCH <prefix>*` + `DEL`, in
    /// batches): for tests and for retiring a deployment. Returns how many were deleted.
    /// Each batch is bounded by the operation timeout.
    pub async fn purge_prefix(&self) -> Result<u64, StoreError> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let mut conn = self.conn.clone();
            let (next, keys): (u64, Vec<String>) = self
                .bounded(
                    "redis: scan",
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn),
                )
                .await?;
            if !keys.is_empty() {
                let n: u64 = self
                    .bounded(
                        "redis: delete",
                        ::redis::cmd("DEL").arg(&keys).query_async(&mut conn),
                    )
                    .await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// A round trip with no work (`PING`): the floor every operation is measured against.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.bounded::<String>("redis: ping", ::redis::cmd("PING").query_async(&mut conn))
            .await
            .map(drop)
    }

    /// The TTL to set for a record that logically ends at `expires_at_ms`, as of `now_ms`.
    fn ttl_ms(&self, expires_at_ms: i64, now_ms: i64) -> String {
        expires_at_ms
            .saturating_sub(now_ms)
            .saturating_add(self.grace_ms)
            .max(1)
            .to_string()
    }
}

/// Escapes the glob characters of `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Structural classification: a timeout is `Timeout`; everything else (refused, dropped,
/// I/O, server errors such as `BUSY` or `LOADING`) is `Unavailable`.
fn store_error(context: &'static str, e: RedisError) -> StoreError {
    let kind = if e.is_timeout() {
        StoreErrorKind::Timeout
    } else {
        StoreErrorKind::Unavailable
    };
    StoreError::new(kind, context).with_source(e)
}

/// Times sent to scripts stay where doubles are exact.
const MAX_EXACT: i64 = (1 << 53) - 1;

fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(-MAX_EXACT, MAX_EXACT)
}

/// A reply that does not have the expected shape: the script and this build disagree.
fn malformed(context: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::SchemaMismatch, context)
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

/// A bulk string or nil.
fn as_opt_string(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Nil => Some(None),
        Value::BulkString(b) => String::from_utf8(b.clone()).ok().map(Some),
        Value::SimpleString(s) => Some(Some(s.clone())),
        _ => None,
    }
}

#[async_trait::async_trait]
impl cutty_core::app::HealthCheck for RedisStore {
    /// [`RedisStore::ping`].
    async fn ping(&self) -> Result<(), StoreError> {
        RedisStore::ping(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("cutty-test-1:"), "cutty-test-1:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn times_are_clamped_to_exact_doubles() {
        assert_eq!(clamp_ms(i64::MAX), MAX_EXACT);
        assert_eq!(clamp_ms(i64::MIN), -MAX_EXACT);
        assert_eq!(clamp_ms(1_700_000_000_000), 1_700_000_000_000);
    }
}
