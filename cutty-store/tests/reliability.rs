//! Restarts, maintenance and a database that is down.

mod common;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use cutty_core::app::HealthCheck;
use cutty_core::clock::FakeClock;
use cutty_core::error::StoreErrorKind;
use cutty_core::event::{EventSink, EventStore, EventType, SecurityEvent};
use cutty_core::ip_block::{BlockEntry, BlockListStore, parse_ip_or_cidr};
use cutty_core::lockout::{
    Lockout, LockoutConfig, LockoutDecision, LockoutKey, LockoutState, LockoutStore,
};
use cutty_core::rate_limit::{RateLimitConfig, RateLimitKey, RateLimitStore, RateLimiter};
use cutty_core::token::{FamilyId, FamilyState, TokenStore};
use cutty_store::StoreOptions;
use cutty_store::postgres::PostgresStore;
use uuid::Uuid;

const T: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

/// What the restart tests write before the restart and check after it.
struct Written {
    jti: Uuid,
    user: String,
    ip: IpAddr,
}

/// Revokes a token and locks a username out (five failures with the default config).
async fn write_state<S: TokenStore + LockoutStore>(store: &S, clock: &FakeClock) -> Written {
    let w = Written {
        jti: Uuid::new_v4(),
        user: format!("restart-{}", Uuid::new_v4().simple()),
        ip: "198.51.100.9".parse().expect("ip"),
    };
    store.revoke_token(w.jti, T + DAY, T).await.expect("revoke");
    let lockout = Lockout::new(store, clock.clone(), LockoutConfig::default());
    for _ in 0..5 {
        lockout
            .record_failure(&w.user, w.ip)
            .await
            .expect("failure");
    }
    assert!(matches!(
        lockout.check(&w.user, w.ip).await.expect("check"),
        LockoutDecision::Refused { .. }
    ));
    w
}

async fn check_state<S: TokenStore + LockoutStore>(store: &S, clock: &FakeClock, w: &Written) {
    assert!(
        store.is_token_revoked(w.jti, T).await.expect("read"),
        "a revocation survives a restart"
    );
    let lockout = Lockout::new(store, clock.clone(), LockoutConfig::default());
    assert!(
        matches!(
            lockout.check(&w.user, w.ip).await.expect("check"),
            LockoutDecision::Refused { .. }
        ),
        "a lockout survives a restart"
    );
}

#[tokio::test]
async fn sqlite_state_survives_reopening_the_file() {
    let clock = FakeClock::at_unix_ms(T);
    let (store, dir) = common::sqlite().await;
    let w = write_state(&store, &clock).await;
    store.close().await;
    drop(store);
    let reopened = common::sqlite_in(&dir).await;
    check_state(&reopened, &clock, &w).await;
    reopened.close().await;
}

/// The WAL is checkpointed into the database file by the store's background task, not by
/// a commit: about 1 MiB of writes (far below the commit-time backstop of
/// `AUTOCHECKPOINT_PAGES`) reaches the main file without any further statement. (A
/// liveness bound, not a timing measurement: the task runs every 250 ms; 30 s allowed.)
#[tokio::test]
async fn sqlite_checkpoints_in_the_background() {
    use cutty_store::sqlite::{AUTOCHECKPOINT_PAGES, CHECKPOINT_INTERVAL};
    let (store, dir) = common::sqlite().await;
    let pool = store.pool();
    let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(pages, i64::from(AUTOCHECKPOINT_PAGES));
    let main = dir.0.join("cutty.db");
    let before = std::fs::metadata(&main).unwrap().len();
    sqlx::query("CREATE TABLE scratch (b BLOB NOT NULL)")
        .execute(pool)
        .await
        .unwrap();
    for _ in 0..64 {
        sqlx::query("INSERT INTO scratch (b) VALUES (randomblob(16384))")
            .execute(pool)
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&main).unwrap().len() < before + 1024 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was never checkpointed into {}",
            main.display()
        );
        tokio::time::sleep(CHECKPOINT_INTERVAL).await;
    }
    store.close().await;
}

#[tokio::test]
async fn postgres_state_survives_a_new_pool() {
    let clock = FakeClock::at_unix_ms(T);
    let (store, schema) = common::postgres().await;
    let w = write_state(&store, &clock).await;
    store.close().await;
    drop(store);
    let reopened = common::postgres_in(&schema).await;
    check_state(&reopened, &clock, &w).await;
    reopened.close().await;
    schema.drop().await;
}

fn event(ts: i64) -> SecurityEvent {
    SecurityEvent::new(&FakeClock::at_unix_ms(ts), EventType::Login, true)
}

fn lockout_state(expires_at_ms: i64) -> LockoutState {
    LockoutState {
        consecutive_failures: 1,
        last_failure_ms: T,
        recent_failures_ms: vec![T],
        locked_until_ms: None,
        expires_at_ms,
    }
}

/// Writes one expired and one live record of every kind (the rate-limit rows through a
/// store clock at `T`), runs `maintenance` at `T + 10 s` with a 30-day event retention and
/// checks that exactly the dead ones went.
macro_rules! maintenance_test {
    ($store:expr) => {{
        let store = $store.with_clock(FakeClock::at_unix_ms(T));
        let now = T + 10_000;
        let (dead, live) = (Uuid::new_v4(), Uuid::new_v4());
        store
            .revoke_token(dead, T + 1_000, T)
            .await
            .expect("revoke");
        store.revoke_token(live, T + DAY, T).await.expect("revoke");
        store
            .raise_user_not_before("u-dead", T, T + 1_000, T)
            .await
            .expect("mark");
        store
            .raise_user_not_before("u-live", T, T + DAY, T)
            .await
            .expect("mark");
        let (fam_dead, fam_live) = (FamilyId::random(), FamilyId::random());
        store
            .create_family(fam_dead, "u", Uuid::new_v4(), T + 1_000, T)
            .await
            .expect("family");
        store
            .create_family(fam_live, "u", Uuid::new_v4(), T + DAY, T)
            .await
            .expect("family");
        let (lk_dead, lk_live) = (LockoutKey::username("dead"), LockoutKey::username("live"));
        assert!(
            LockoutStore::compare_and_swap(&store, &lk_dead, None, &lockout_state(T + 1_000), T)
                .await
                .expect("cas")
        );
        assert!(
            LockoutStore::compare_and_swap(&store, &lk_live, None, &lockout_state(T + DAY), T)
                .await
                .expect("cas")
        );
        // A 60 s window: the counter's row is kept 2 windows, well past `now`.
        let limiter =
            RateLimiter::new(RateLimitConfig::default(), &store, FakeClock::at_unix_ms(T));
        let rl = RateLimitKey::User(7);
        limiter
            .check_key(&rl, NonZeroU32::new(5).expect("nz"))
            .await
            .expect("check");
        let (net_dead, net_live) = (
            parse_ip_or_cidr("192.0.2.0/24").expect("net"),
            parse_ip_or_cidr("198.51.100.0/24").expect("net"),
        );
        store
            .add(&BlockEntry::new(net_dead, "old", T, Some(T + 1_000)))
            .await
            .expect("block");
        store
            .add(&BlockEntry::new(net_live, "new", T, None))
            .await
            .expect("block");
        store.record(&event(now - 31 * DAY)).await.expect("event");
        store.record(&event(now - 29 * DAY)).await.expect("event");

        let report = store.maintenance(now, 30).await.expect("maintenance");
        assert_eq!(
            (
                report.revoked_tokens,
                report.user_marks,
                report.refresh_families,
                report.lockouts,
                report.rate_limit_counters,
                report.blocked_ips,
                report.events,
            ),
            (1, 1, 1, 1, 0, 1, 1),
            "{report:?}"
        );
        assert!(store.is_token_revoked(live, now).await.expect("read"));
        assert_eq!(
            store.user_not_before("u-live", now).await.expect("read"),
            Some(T)
        );
        assert_eq!(
            store.family_state(fam_live, now).await.expect("state"),
            FamilyState::Active
        );
        assert!(
            LockoutStore::load(&store, &lk_live, now)
                .await
                .expect("load")
                .is_some()
        );
        assert!(
            RateLimitStore::load(&store, &rl)
                .await
                .expect("load")
                .is_some()
        );
        assert_eq!(store.list().await.expect("list").len(), 1);
        let page = store
            .query(&cutty_core::event::EventQuery::default())
            .await
            .expect("query");
        assert_eq!(page.events.len(), 1);

        // Once the counter has been idle past its TTL, it goes too.
        let later = store
            .maintenance(T + 3 * 60_000, 30)
            .await
            .expect("maintenance");
        assert_eq!(later.rate_limit_counters, 1, "{later:?}");
        assert!(
            RateLimitStore::load(&store, &rl)
                .await
                .expect("load")
                .is_none()
        );
        store
    }};
}

#[tokio::test]
async fn sqlite_maintenance_deletes_only_what_expired() {
    let (store, _dir) = common::sqlite().await;
    let store = maintenance_test!(store);
    store.close().await;
}

#[tokio::test]
async fn postgres_maintenance_deletes_only_what_expired() {
    let (store, schema) = common::postgres().await;
    let store = maintenance_test!(store);
    store.close().await;
    schema.drop().await;
}

/// Nothing listens on port 1: connecting answers `Unavailable` (`DB_001`), bounded by the
/// operation timeout rather than hanging.
#[tokio::test]
async fn a_down_postgres_is_unavailable() {
    let options = StoreOptions {
        operation_timeout: Duration::from_millis(500),
        ..StoreOptions::default()
    };
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test", options)
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err:?}");
}

/// A TCP proxy in front of PostgreSQL that can be pulled, like a server going down.
struct Proxy {
    port: u16,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = std::sync::Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                shared.lock().expect("lock").push(conn);
            }
        });
        tasks.lock().expect("lock").push(accept);
        Self { port, tasks }
    }

    /// Stops accepting and cuts every connection.
    fn pull(&self) {
        for t in self.tasks.lock().expect("lock").drain(..) {
            t.abort();
        }
    }
}

/// A PostgreSQL that goes away under a running store: reads fail closed with
/// `Unavailable` (`DB_001`) — never a hang, never a "not revoked".
#[tokio::test]
async fn postgres_going_down_under_a_store_is_unavailable() {
    let (setup, schema) = common::postgres().await;
    setup.close().await;
    let upstream: std::net::SocketAddr = "127.0.0.1:5432".parse().expect("addr");
    let proxy = Proxy::start(upstream).await;
    let options = StoreOptions {
        operation_timeout: Duration::from_millis(500),
        ..StoreOptions::default()
    };
    let url = format!("postgres://postgres@127.0.0.1:{}/test", proxy.port);
    let store = common::postgres_in_via(&schema, &url, options).await;
    let jti = Uuid::new_v4();
    store.revoke_token(jti, T + DAY, T).await.expect("revoke");
    assert!(store.is_token_revoked(jti, T).await.expect("read"));
    HealthCheck::ping(&store).await.expect("up");
    proxy.pull();
    let err = HealthCheck::ping(&store).await.expect_err("down");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err:?}");
    for _ in 0..3 {
        let err = store
            .is_token_revoked(jti, T)
            .await
            .expect_err("the database is gone");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err:?}");
    }
    store.close().await;
    schema.drop().await;
}

/// Rows this build cannot read (written by hand, or by a future schema) are
/// `SchemaMismatch` (`DB_005`), never a panic or a wrong answer.
#[tokio::test]
async fn unreadable_rows_are_a_schema_mismatch() {
    use cutty_core::api_key::ApiKeyStore;
    let (store, _dir) = common::sqlite().await;
    let key_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO api_keys (key_id, user_id, name, key_prefix, key_hash, salt_id, permissions, \
         created_at, is_active) VALUES ($1, 1, 'n', 'cutty_abcd', $2, 's1', 'files:everything', 1, 1)",
    )
    .bind(key_id.to_string())
    .bind("ab".repeat(32))
    .execute(store.pool())
    .await
    .expect("insert");
    let err = store.get(key_id).await.expect_err("unknown permission");
    assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);

    sqlx::query(
        "INSERT INTO security_events (id, timestamp, event_type, success, details) \
         VALUES ($1, 1, 'from_the_future', 1, '{}')",
    )
    .bind(Uuid::new_v4().as_bytes().to_vec())
    .execute(store.pool())
    .await
    .expect("insert");
    let err = store
        .query(&cutty_core::event::EventQuery::default())
        .await
        .expect_err("unknown event type");
    assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);

    sqlx::query(
        "INSERT INTO lockout_state (key, state, version, expires_at_ms) \
         VALUES ('user:broken', 'not json', 1, $1)",
    )
    .bind(T + DAY)
    .execute(store.pool())
    .await
    .expect("insert");
    let err = LockoutStore::load(&store, &LockoutKey::username("broken"), T)
        .await
        .expect_err("bad state");
    assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);

    sqlx::query(
        "INSERT INTO blocked_ips (network, reason, created_at) VALUES ('nonsense', 'x', 1)",
    )
    .execute(store.pool())
    .await
    .expect("insert");
    let err = store.list().await.expect_err("bad network");
    assert_eq!(err.kind(), StoreErrorKind::SchemaMismatch);
    store.close().await;
}

/// `/health/auth` probes: SQLite and the in-memory store answer when they are up.
#[tokio::test]
async fn health_checks_answer_when_up() {
    let (store, _dir) = common::sqlite().await;
    HealthCheck::ping(&store).await.expect("sqlite up");
    store.close().await;
    let err = HealthCheck::ping(&store).await.expect_err("closed pool");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err:?}");
    let memory = cutty_store::memory::MemoryUserStore::default();
    HealthCheck::ping(&memory).await.expect("memory up");
}
