//! Tests of the facade over in-memory reference stores, a fake clock and a low PBKDF2 cost.

mod accounts;
mod admin;
mod api_keys;
mod fakes;
mod gate;
mod health;

use std::net::IpAddr;
use std::sync::Arc;

use futures::executor::block_on;

use super::*;
use crate::api_key::{ApiKeyHasher, ApiKeySalt, SaltId};
use crate::clock::FakeClock;
use crate::error::Error;
use crate::lockout::MemoryLockoutStore;
use crate::password::PasswordHasher;
use crate::rate_limit::{MemoryRateLimitStore, MemoryStoreConfig};
use crate::token::testing::FakeTokenStore;
use crate::token::{Algorithm, Keyring};
use fakes::{CountingWork, FakeProbe, MemBlocks, MemEvents, MemKeys, MemUsers};

const SECRET: &[u8] = b"a test secret of at least 32 bytes!!";
/// Low PBKDF2 cost: these tests are about the flows, not the hashing.
const ITERATIONS: u32 = 1_000;
const PASSWORD: &str = "correct horse battery";
const START_MS: i64 = 1_800_000_000_000;

/// One facade and handles on every fake behind it.
struct H {
    cutty: Cutty,
    clock: FakeClock,
    users: Arc<MemUsers>,
    tokens: Arc<FakeTokenStore>,
    keys: Arc<MemKeys>,
    blocks: Arc<MemBlocks>,
    events: Arc<MemEvents>,
    work: Arc<CountingWork>,
    db: Arc<FakeProbe>,
}

fn ip() -> IpAddr {
    "203.0.113.5".parse().unwrap()
}

fn ip2() -> IpAddr {
    "198.51.100.9".parse().unwrap()
}

fn settings() -> Settings {
    let mut s = Settings::new(
        Keyring::hmac(Algorithm::HS256, SECRET).unwrap(),
        ApiKeyHasher::new(
            ApiKeySalt::new(SaltId::new("s1").unwrap(), "an api key salt for tests").unwrap(),
        ),
    );
    s.password_hasher = PasswordHasher::default()
        .with_iterations(ITERATIONS)
        .unwrap();
    s
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    r.expect_err("expected an error").code().as_str()
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

impl H {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(configure: impl FnOnce(&mut Settings)) -> Self {
        let clock = FakeClock::at_unix_ms(START_MS);
        let users = Arc::new(MemUsers::default());
        let tokens = Arc::new(FakeTokenStore::new());
        let keys = Arc::new(MemKeys::default());
        let blocks = Arc::new(MemBlocks::default());
        let events = Arc::new(MemEvents::default());
        let work = Arc::new(CountingWork::default());
        let db = Arc::new(FakeProbe::default());
        let stores = Stores {
            users: users.clone(),
            tokens: tokens.clone(),
            api_keys: keys.clone(),
            rate_limits: Arc::new(MemoryRateLimitStore::new(MemoryStoreConfig::default())),
            lockouts: Arc::new(MemoryLockoutStore::new()),
            block_list: blocks.clone(),
            events: events.clone(),
            health: vec![(HealthService::Database, db.clone() as Arc<dyn HealthCheck>)],
        };
        let mut s = settings();
        configure(&mut s);
        let cutty = Cutty::new(stores, s, Arc::new(clock.clone()), work.clone()).unwrap();
        Self {
            cutty,
            clock,
            users,
            tokens,
            keys,
            blocks,
            events,
            work,
            db,
        }
    }

    fn register(&self, username: &str) -> AuthResponse {
        block_on(self.cutty.register(
            RegisterRequest {
                username: username.to_owned(),
                email: format!("{username}@example.org"),
                password: PASSWORD.into(),
            },
            ip(),
        ))
        .unwrap()
    }

    fn login(&self, username: &str, password: &str) -> Result<AuthResponse, Error> {
        self.login_from(username, password, ip())
    }

    fn login_from(
        &self,
        username: &str,
        password: &str,
        from: IpAddr,
    ) -> Result<AuthResponse, Error> {
        block_on(self.cutty.login(
            LoginRequest {
                username: username.to_owned(),
                password: password.into(),
            },
            from,
        ))
    }

    fn auth(&self, token: &str) -> Result<Option<Caller>, Error> {
        block_on(self.cutty.authenticate(Some(&bearer(token))))
    }

    fn caller(&self, token: &str) -> Caller {
        self.auth(token).unwrap().unwrap()
    }

    /// A registered user's caller.
    fn user(&self, username: &str) -> (Caller, AuthResponse) {
        let r = self.register(username);
        (self.caller(&r.tokens.access_token), r)
    }

    /// An admin (created with the CLI) and its caller.
    fn admin(&self) -> Caller {
        block_on(
            self.cutty
                .admin()
                .create_user("root", "root@example.org", PASSWORD, true),
        )
        .unwrap();
        let r = self.login("root", PASSWORD).unwrap();
        self.caller(&r.tokens.access_token)
    }

    /// Tokens issued in the very millisecond of an invalidation survive it (see the token
    /// module): move on one millisecond, as any real clock would, before invalidating.
    fn tick(&self) {
        self.clock.advance(std::time::Duration::from_millis(1));
    }

    fn secs(&self, s: u64) {
        self.clock.advance(std::time::Duration::from_secs(s));
    }
}

#[test]
fn the_facade_and_its_futures_are_send_and_sync() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    send_sync::<Cutty>();
    let h = H::new();
    let c = &h.cutty;
    let caller = h.admin();
    send(&c.gate(ip(), &Default::default(), None));
    send(&c.login(
        LoginRequest {
            username: "x".into(),
            password: "y".into(),
        },
        ip(),
    ));
    send(&c.create_api_key(
        &caller,
        CreateApiKeyRequest {
            name: "n".into(),
            permissions: vec![],
            expires_at: None,
            rate_limit_override: None,
        },
        ip(),
    ));
    send(&c.change_password(
        Some(&caller),
        ChangePasswordRequest {
            old_password: "a".into(),
            new_password: "b".into(),
            username: None,
        },
        ip(),
    ));
    send(&c.health());
    send(&c.admin().set_active("x", false));
}

#[test]
fn settings_are_validated() {
    let h = H::new();
    let stores = || Stores {
        users: h.users.clone(),
        tokens: h.tokens.clone(),
        api_keys: h.keys.clone(),
        rate_limits: Arc::new(MemoryRateLimitStore::new(MemoryStoreConfig::default())),
        lockouts: Arc::new(MemoryLockoutStore::new()),
        block_list: h.blocks.clone(),
        events: h.events.clone(),
        health: vec![],
    };
    let build = |s: Settings| {
        Cutty::new(
            stores(),
            s,
            Arc::new(h.clock.clone()),
            Arc::new(InlinePasswordWork),
        )
    };
    let mut s = settings();
    s.block_list_refresh = std::time::Duration::from_secs(6);
    assert!(matches!(build(s), Err(SetupError::BlockListRefresh)));
    let mut s = settings();
    s.lockout.threshold = 0;
    assert!(matches!(build(s), Err(SetupError::Lockout(_))));
    let mut s = settings();
    s.token.algorithms = vec![Algorithm::RS256];
    assert!(matches!(build(s), Err(SetupError::Token(_))));
    let mut s = settings();
    s.rate_limit_failure = crate::rate_limit::StoreFailurePolicy::FailOpen;
    let c = build(s).unwrap();
    assert_eq!(
        c.rate_limit_config().on_store_error,
        crate::rate_limit::StoreFailurePolicy::FailOpen
    );
}
