//! The facade: every contract operation over the building blocks of this crate.
//!
//! [`Cutty`] holds one `Arc<dyn …>` per store trait ([`Stores`]), the [`Settings`], an
//! injected [`Clock`] and a [`PasswordWork`] (where PBKDF2 runs). Adapters (axum, actix,
//! the Worker) call it and only translate HTTP to and from its request and response types;
//! the CLI uses [`Cutty::admin`]. No business rule lives outside this crate.
//!
//! # Per request
//! For every `/api/*` request an adapter calls [`Cutty::gate`] (or the steps it bundles:
//! [`Cutty::client_ip`], [`Cutty::check_blocked`], [`Cutty::authenticate`],
//! [`Cutty::admit`]), writes the `X-RateLimit-*` headers from the outcome, and then runs the
//! handler, which calls one method below with the [`Caller`] it got.
//!
//! # Security events
//! Every auditable decision writes a [`SecurityEvent`](crate::event::SecurityEvent). A
//! failing event store **never** turns a success (or a refusal) into another answer: the
//! write error is swallowed and counted in [`Diagnostics::event_write_failures`], which an
//! adapter exports (e.g. on `/metrics`) and may log. The same holds for API-key usage
//! counters ([`Diagnostics::usage_write_failures`]) and for a lazy password re-hash after a
//! successful login ([`Diagnostics::rehash_failures`]).
//!
//! Floods do not turn into event floods: a `rate_limit` event is written at most once per
//! limited key per rate-limit window, and a `token_invalid` event (written by
//! [`Cutty::gate`]) at most once per client IP and error code per window.
//!
//! # Wiring
//! ```text
//! let stores = Stores { users, tokens, api_keys, rate_limits, lockouts, block_list, events,
//!                       health: vec![(HealthService::Database, sql.clone())] };
//! // or, with one backend for everything: Stores::all_in_one(sql_store)
//! let settings = Settings::new(Keyring::hmac(Algorithm::HS256, jwt_secret)?, api_key_hasher);
//! let cutty = Cutty::new(stores, settings, Arc::new(SystemClock), Arc::new(InlinePasswordWork))?;
//! ```
//! (The tests in `app/tests/` build one over in-memory stores.)
//!
//! # Decisions where the contract is silent
//! * **Failures fail closed.** A user, token, lockout or rate-limit store error is answered
//!   with its `DB_00x` code (rate limits: unless [`Settings::rate_limit_failure`] says fail
//!   open). Only the side effects above are swallowed and counted.
//! * **Lockout keys.** Failures are counted under the login name *as typed* (username or
//!   email, case-folded) and the IP. A success resets the name typed, the account's
//!   username and its email, and the IP. An attempt refused by the lockout is recorded as a
//!   failed `login` with `details.reason = "locked_out"` but is not a new failure.
//! * **Failed logins** carry `details.username` (cut to 150 characters) and `details.reason`:
//!   `unknown_user`, `invalid_password`, `unusable_password_hash`, `locked_out`,
//!   `account_disabled` or `password_reset_required`. Clients only ever see `AUTH_004`,
//!   `AUTH_006`, `AUTH_008` and `AUTH_007`.
//! * **Password change without a JWT** needs `username`, a correct old password and the
//!   reset flag; without `username` it is `AUTH_001`, for an account that needs no reset
//!   `AUTH_001` after the password check (so the flag is never revealed to a guesser).
//! * **Disabling** a user revokes its tokens (a `tokens_invalidated` event); its API keys
//!   answer `API_004` while it is disabled and work again once it is enabled. Requiring a
//!   reset leaves existing tokens alone.
//! * **A token whose user was disabled** by other means than the CLI (directly in the
//!   store) is refused with `AUTH_003`; refreshing it revokes its session for good.
//! * **Block list.** Changes made through this facade apply at once in this process; changes
//!   made elsewhere (the CLI) within [`Settings::block_list_refresh`] (1 s by default, 5 s
//!   at most).
//! * **Health.** A probe slower than [`DEGRADED_AFTER_MS`] is `degraded`; only a database
//!   that is `down` makes `/health/auth` answer 503.
//! * **Files** are optional ([`Cutty::with_files`]); without them the file and list routes
//!   answer `503 DB_001`. Their own decisions are listed in [`crate::file`](mod@crate::file).

mod accounts;
mod admin;
mod api_keys;
mod caller;
mod gate;
mod health;
mod requests;
mod support;
mod work;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::api_key::{ApiKeyHasher, ApiKeyService, ApiKeyStore};
use crate::client_ip::ClientIpResolver;
use crate::clock::Clock;
use crate::error::{Error, StoreError, StoreErrorKind};
use crate::event::{DEFAULT_RETENTION_DAYS, EventStore};
use crate::file::FileService;
use crate::ip_block::{BlockListStore, SharedBlockList};
use crate::lockout::{Lockout, LockoutConfig, LockoutConfigError, LockoutStore};
use crate::password::PasswordHasher;
use crate::rate_limit::{RateLimitConfig, RateLimitStore, RateLimiter, StoreFailurePolicy};
use crate::token::{ConfigError, Keyring, TokenCodec, TokenConfig, TokenService, TokenStore};
use crate::user::UserStore;

pub use admin::{Admin, DecodedToken, MaintenanceReport, TokenCheck};
pub use caller::{Caller, KeyCaller, UserCaller};
pub use gate::{BlockListRefresher, Gate};
pub use health::{
    DEGRADED_AFTER_MS, HealthReport, HealthService, HealthServices, OverallStatus, ServiceHealth,
    ServiceStatus,
};
pub use requests::{
    AuthResponse, BlockIpRequest, BlockedIps, ChangePasswordRequest, InvalidateUserTokensRequest,
    LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, SecretString, UnblockIpRequest,
};
pub use work::{InlinePasswordWork, PasswordWork};

// The request and response types of the API-key, events and token endpoints are defined in
// their modules; re-exported here so an adapter finds every body type in one place.
pub use crate::api_key::{
    ApiKeyList, ApiKeyListItem, ApiKeyUsageItem, ApiKeyUsageList, CreateApiKeyRequest,
    CreatedApiKey, Permission,
};
pub use crate::event::{EventPage, SecurityMetrics};
pub use crate::ip_block::BlockEntry;
pub use crate::token::TokenPair;
pub use crate::user::User;

/// A liveness probe of one backend, for `/health/auth`.
///
/// Implementations must bound their own time (a pool acquire timeout, a command timeout):
/// core has no runtime and cannot time a call out.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait HealthCheck: Send + Sync {
    /// One cheap round trip (`SELECT 1`, `PING`). `Err` means the backend is down.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The stores of one deployment: one `Arc` per trait. A backend may fill several (a SQLite
/// store is the users, tokens, API keys, … store at once).
#[derive(Clone)]
pub struct Stores {
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Token revocations, per-user marks and refresh families.
    pub tokens: Arc<dyn TokenStore>,
    /// API keys and their usage counters.
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// Rate-limit counters.
    pub rate_limits: Arc<dyn RateLimitStore>,
    /// Brute-force lockout states.
    pub lockouts: Arc<dyn LockoutStore>,
    /// The persistent IP block list.
    pub block_list: Arc<dyn BlockListStore>,
    /// Security events.
    pub events: Arc<dyn EventStore>,
    /// The probes of `/health/auth`, by service (several for one service: the worst wins).
    pub health: Vec<(HealthService, Arc<dyn HealthCheck>)>,
}

impl Stores {
    /// Every store from one backend that implements all the traits (a SQL store), which is
    /// also the [`HealthService::Database`] probe. Replace fields afterwards to move some of
    /// them elsewhere (e.g. counters, tokens and lockouts to Redis).
    pub fn all_in_one<S>(store: S) -> Self
    where
        S: UserStore
            + TokenStore
            + ApiKeyStore
            + RateLimitStore
            + LockoutStore
            + BlockListStore
            + EventStore
            + HealthCheck
            + 'static,
    {
        let s = Arc::new(store);
        Self {
            users: s.clone(),
            tokens: s.clone(),
            api_keys: s.clone(),
            rate_limits: s.clone(),
            lockouts: s.clone(),
            block_list: s.clone(),
            events: s.clone(),
            health: vec![(HealthService::Database, s)],
        }
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field(
                "health",
                &self.health.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Default of [`Settings::block_list_refresh`]: one second.
pub const DEFAULT_BLOCK_LIST_REFRESH: Duration = Duration::from_secs(1);
/// The longest accepted [`Settings::block_list_refresh`]: the contract wants a CLI block to
/// reach a running server within 5 s.
pub const MAX_BLOCK_LIST_REFRESH: Duration = Duration::from_secs(5);

/// Everything configurable about the facade. [`Settings::new`] fills the contract's
/// defaults around the two secrets that have none.
#[derive(Debug)]
pub struct Settings {
    /// Issuer, leeway, TTLs, allowed algorithms (defaults: `cutty`, 30 s, 900 s, 7 days,
    /// `[HS256]`).
    pub token: TokenConfig,
    /// Signing and verification keys (`JWT_SECRET`).
    pub keyring: Keyring,
    /// API-key salts (`API_KEY_SALT`, plus older ones during a rotation).
    pub api_key_hasher: ApiKeyHasher,
    /// Algorithm and cost of new password hashes (default PBKDF2-SHA256, 600 000).
    pub password_hasher: PasswordHasher,
    /// Rate-limit quotas and window (IP 100, user 60, key 1000 per 60 s; global off).
    pub rate_limit: RateLimitConfig,
    /// What a failing counter store means. **This field wins** over
    /// `rate_limit.on_store_error` (it is copied there by [`Cutty::new`]). Default
    /// fail closed.
    pub rate_limit_failure: StoreFailurePolicy,
    /// Lockout thresholds (5 failures in 900 s lock for 3600 s; delay capped at 30 s).
    pub lockout: LockoutConfig,
    /// Trusted proxies and Cloudflare mode (default: trust nobody).
    pub client_ip: ClientIpResolver,
    /// Days security events are kept by [`Admin::maintenance`] (default 30).
    pub event_retention_days: u32,
    /// The version reported by `/health`.
    pub version: String,
    /// How stale the cached block list may get before it is reloaded (one cheap
    /// `version()` call), by the request that finds it due or by a
    /// [`BlockListRefresher`]'s timer. Default [`DEFAULT_BLOCK_LIST_REFRESH`], at most
    /// [`MAX_BLOCK_LIST_REFRESH`].
    pub block_list_refresh: Duration,
}

impl Settings {
    /// The contract's defaults with the given keys and salts.
    pub fn new(keyring: Keyring, api_key_hasher: ApiKeyHasher) -> Self {
        Self {
            token: TokenConfig::default(),
            keyring,
            api_key_hasher,
            password_hasher: PasswordHasher::default(),
            rate_limit: RateLimitConfig::default(),
            rate_limit_failure: StoreFailurePolicy::default(),
            lockout: LockoutConfig::default(),
            client_ip: ClientIpResolver::default(),
            event_retention_days: DEFAULT_RETENTION_DAYS,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            block_list_refresh: DEFAULT_BLOCK_LIST_REFRESH,
        }
    }
}

/// Why [`Cutty::new`] refused its settings. A start-up error.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The token settings do not fit the keys.
    #[error("token settings: {0}")]
    Token(#[from] ConfigError),
    /// The lockout thresholds cannot work.
    #[error("lockout settings: {0}")]
    Lockout(#[from] LockoutConfigError),
    /// `block_list_refresh` is zero or above [`MAX_BLOCK_LIST_REFRESH`].
    #[error("block list refresh interval must be between 1 ms and 5 s")]
    BlockListRefresh,
}

/// Counters of side effects that failed without failing the request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// Security events that could not be written.
    pub event_write_failures: u64,
    /// API-key usage counters that could not be incremented.
    pub usage_write_failures: u64,
    /// Lazy password re-hashes after a login that could not be stored.
    pub rehash_failures: u64,
    /// Block-list reloads that failed (the last loaded list stayed in force).
    pub block_list_refresh_failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    event_write_failures: AtomicU64,
    usage_write_failures: AtomicU64,
    rehash_failures: AtomicU64,
    block_list_refresh_failures: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) type DynClock = Arc<dyn Clock>;

struct Inner {
    users: Arc<dyn UserStore>,
    api_key_store: Arc<dyn ApiKeyStore>,
    events: Arc<dyn EventStore>,
    block_store: Arc<dyn BlockListStore>,
    health: Vec<(HealthService, Arc<dyn HealthCheck>)>,
    tokens: TokenService<Arc<dyn TokenStore>, DynClock>,
    api_keys: ApiKeyService<DynClock>,
    limiter: RateLimiter<Arc<dyn RateLimitStore>, DynClock>,
    lockout: Lockout<Arc<dyn LockoutStore>, DynClock>,
    password_hasher: PasswordHasher,
    client_ip: ClientIpResolver,
    work: Arc<dyn PasswordWork>,
    clock: DynClock,
    event_retention_days: u32,
    version: String,
    block_list: SharedBlockList,
    block_list_loaded: AtomicBool,
    /// Live [`BlockListRefresher`]s: while any, requests do not reload the list.
    block_list_refreshers: AtomicUsize,
    block_list_refresh_ns: u64,
    block_list_next_ns: AtomicU64,
    throttle: support::EventThrottle,
    counters: Counters,
}

/// The Cutty facade. Cheap to clone (one `Arc` inside); share one per process.
#[derive(Clone)]
pub struct Cutty {
    inner: Arc<Inner>,
    /// Uploads and lists: optional, so a deployment without file storage still serves the
    /// rest of the API (file routes then answer `503 DB_001`).
    files: Option<FileService>,
}

impl std::fmt::Debug for Cutty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cutty")
            .field("version", &self.inner.version)
            .field("files", &self.files.is_some())
            .finish_non_exhaustive()
    }
}

impl Cutty {
    /// Builds the facade. Fails if the token settings do not fit the keys, the lockout
    /// thresholds are out of range, or the block-list refresh interval is not within
    /// (0, 5 s].
    pub fn new(
        stores: Stores,
        settings: Settings,
        clock: Arc<dyn Clock>,
        work: Arc<dyn PasswordWork>,
    ) -> Result<Self, SetupError> {
        let codec = TokenCodec::new(settings.token, settings.keyring)?;
        settings.lockout.validate()?;
        if settings.block_list_refresh.is_zero()
            || settings.block_list_refresh > MAX_BLOCK_LIST_REFRESH
        {
            return Err(SetupError::BlockListRefresh);
        }
        let mut rate_limit = settings.rate_limit;
        rate_limit.on_store_error = settings.rate_limit_failure;
        let refresh_ns = u64::try_from(settings.block_list_refresh.as_nanos()).unwrap_or(u64::MAX);
        let window_ms = i64::from(rate_limit.window_secs.get()) * 1000;
        Ok(Self {
            inner: Arc::new(Inner {
                users: stores.users,
                api_key_store: stores.api_keys,
                events: stores.events,
                block_store: stores.block_list,
                health: stores.health,
                tokens: TokenService::new(codec, stores.tokens, Arc::clone(&clock)),
                api_keys: ApiKeyService::new(settings.api_key_hasher, Arc::clone(&clock)),
                limiter: RateLimiter::new(rate_limit, stores.rate_limits, Arc::clone(&clock)),
                lockout: Lockout::new(stores.lockouts, Arc::clone(&clock), settings.lockout),
                password_hasher: settings.password_hasher,
                client_ip: settings.client_ip,
                work,
                clock,
                event_retention_days: settings.event_retention_days,
                version: settings.version,
                block_list: SharedBlockList::new(),
                block_list_loaded: AtomicBool::new(false),
                block_list_refreshers: AtomicUsize::new(0),
                block_list_refresh_ns: refresh_ns,
                block_list_next_ns: AtomicU64::new(0),
                throttle: support::EventThrottle::new(window_ms),
                counters: Counters::default(),
            }),
            files: None,
        })
    }

    /// The version reported by `GET /health`.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The password hashing configuration (for `cutty password hash|verify`).
    pub fn password_hasher(&self) -> &PasswordHasher {
        &self.inner.password_hasher
    }

    /// The rate-limit policies in force.
    pub fn rate_limit_config(&self) -> &RateLimitConfig {
        self.inner.limiter.config()
    }

    /// Side effects that failed without failing a request, since start-up.
    pub fn diagnostics(&self) -> Diagnostics {
        let c = &self.inner.counters;
        Diagnostics {
            event_write_failures: c.event_write_failures.load(Ordering::Relaxed),
            usage_write_failures: c.usage_write_failures.load(Ordering::Relaxed),
            rehash_failures: c.rehash_failures.load(Ordering::Relaxed),
            block_list_refresh_failures: c.block_list_refresh_failures.load(Ordering::Relaxed),
        }
    }

    /// The facade with file storage: `POST/GET /api/files`, `GET/DELETE /api/files/{id}`
    /// and `POST /api/lists/process` are served by `files` (see [`crate::file`](mod@crate::file)).
    pub fn with_files(mut self, files: FileService) -> Self {
        self.files = Some(files);
        self
    }

    /// The file service for the file and list endpoints; `503 DB_001` when the deployment
    /// configured none ([`Cutty::with_files`]). Build its [`FileActor`](crate::file::FileActor)
    /// from the request's [`Caller`] (`FileActor::from(&caller)`).
    pub fn files(&self) -> Result<&FileService, Error> {
        self.files.as_ref().ok_or_else(|| {
            Error::Store(StoreError::new(
                StoreErrorKind::Unavailable,
                "file storage is not configured",
            ))
        })
    }

    /// The operator's interface (the CLI): trusted, no caller.
    pub fn admin(&self) -> Admin<'_> {
        Admin::new(self)
    }
}
