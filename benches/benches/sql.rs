//! SQL-backed checks next to their floor, per backend (SQLite file in WAL mode, PostgreSQL
//! on loopback): the floor is the cheapest statement through the same pool (`SELECT 1`),
//! and `SELECT 1` on a connection of its own outside any pool (`floor_select_1_unpooled`:
//! sqlx's pool pings a connection when it hands it out and again when it takes it back),
//! then Cutty's sliding-window rate-limit check (`check_and_count`), the revocation check a
//! verified access token pays (`access_state`), and the store work of one login (user
//! look-up by login name, then one security-event write). `rate_limit_16_in_flight` times
//! 16 checks of 16 keys started together (concurrent requests: on SQLite their writes
//! contend for the one write lock), next to 16 `SELECT 1` in flight as its floor.
//!
//! Needs PostgreSQL on 127.0.0.1:5432, database `test` (or `CUTTY_TEST_POSTGRES_URL`); the
//! benchmark works in a fresh schema and drops it at the end. SQLite uses a temporary file.
//!
//! `cargo bench -p cutty-benches --bench sql -- --warm-up-time 1 --measurement-time 3`; a
//! filter such as `sqlite/` or `postgres/(floor|rate)` runs a part (criterion's regex).

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use cutty_core::clock::{Clock, SystemClock};
use cutty_core::event::{EventSink, EventType, SecurityEvent};
use cutty_core::rate_limit::{RateLimitConfig, RateLimitKey, RateLimitStore, RateLimiter};
use cutty_core::token::{FamilyId, TokenStore};
use cutty_core::user::{NewUser, UserStore};
use cutty_store::StoreOptions;
use cutty_store::postgres::PostgresStore;
use cutty_store::sqlite::SqliteStore;
use futures::future::join_all;
use sqlx::Connection;
use tokio::runtime::Runtime;

/// Large enough that every check of a run is admitted: the hot path writes every time.
const LIMIT: u32 = 1_000_000_000;

/// Seeds one refresh family, a not-before mark and a user for the checks below.
async fn seed<S>(store: &S, now: i64) -> (uuid::Uuid, FamilyId)
where
    S: TokenStore + UserStore,
{
    let (jti, family) = (uuid::Uuid::new_v4(), FamilyId::random());
    store
        .create_family(family, "7", uuid::Uuid::new_v4(), now + 3_600_000, now)
        .await
        .expect("family");
    store
        .raise_user_not_before("7", now - 1_000, now + 3_600_000, now)
        .await
        .expect("mark");
    store
        .create(NewUser {
            username: "Bench.User".to_owned(),
            email: "bench@example.com".to_owned(),
            password_hash: "pbkdf2_sha256$1000$c2FsdHNhbHRzYWx0$AAAA".to_owned(),
            is_admin: false,
            created_at: now,
        })
        .await
        .expect("user");
    (jti, family)
}

fn checks<S, F>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    store: &S,
    floor: impl Fn() -> F,
    mut floor_unpooled: impl FnMut(),
) where
    S: TokenStore + UserStore + EventSink + RateLimitStore + Clone + 'static,
    F: Future<Output = ()>,
{
    let now = SystemClock.now_unix_ms();
    let (jti, family) = rt.block_on(seed(store, now));
    let limiter = RateLimiter::new(RateLimitConfig::default(), store.clone(), SystemClock);
    let limit = NonZeroU32::new(LIMIT).expect("non-zero");
    let key = RateLimitKey::ApiKey(Arc::from("bench"));

    g.bench_function(format!("{name}/floor_select_1"), |b| {
        b.iter(|| rt.block_on(floor()));
    });
    g.bench_function(format!("{name}/floor_select_1_unpooled"), |b| {
        b.iter(&mut floor_unpooled);
    });
    g.bench_function(format!("{name}/rate_limit_check"), |b| {
        b.iter(|| black_box(rt.block_on(limiter.check_key(&key, limit)).expect("check")));
    });
    let keys: Vec<RateLimitKey> = (0..16)
        .map(|i| RateLimitKey::ApiKey(Arc::from(format!("bench-{i}"))))
        .collect();
    g.bench_function(format!("{name}/floor_16_in_flight"), |b| {
        b.iter(|| rt.block_on(join_all((0..16).map(|_| floor()))));
    });
    g.bench_function(format!("{name}/rate_limit_16_in_flight"), |b| {
        b.iter(|| {
            let all = rt.block_on(join_all(keys.iter().map(|k| limiter.check_key(k, limit))));
            for d in all {
                black_box(d.expect("check"));
            }
        });
    });
    g.bench_function(format!("{name}/revocation_check_access_state"), |b| {
        b.iter(|| {
            let now = SystemClock.now_unix_ms();
            black_box(
                rt.block_on(store.access_state(jti, "7", family, now))
                    .expect("access state"),
            )
        });
    });
    g.bench_function(format!("{name}/login_store_work"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let user = store
                    .find_by_login("bench.user")
                    .await
                    .expect("look-up")
                    .expect("user exists");
                let event = SecurityEvent::new(&SystemClock, EventType::Login, true)
                    .with_user(user.id)
                    .with_ip(std::net::Ipv4Addr::LOCALHOST.into());
                store.record(&event).await.expect("event");
            })
        });
    });
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("sql_store");

    let dir = std::env::temp_dir().join(format!("cutty-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sqlite = rt
        .block_on(SqliteStore::connect(
            &format!("sqlite://{}/cutty.db", dir.display()),
            StoreOptions::default(),
        ))
        .expect("sqlite");
    let pool = sqlite.pool().clone();
    let mut own = rt
        .block_on(sqlx::SqliteConnection::connect(&format!(
            "sqlite://{}/cutty.db",
            dir.display()
        )))
        .expect("sqlite connection");
    checks(
        &mut g,
        &rt,
        "sqlite",
        &sqlite,
        || async {
            let r: (i32,) = sqlx::query_as("SELECT 1")
                .fetch_one(&pool)
                .await
                .expect("select 1");
            black_box(r);
        },
        || {
            let r: (i32,) = rt
                .block_on(sqlx::query_as("SELECT 1").fetch_one(&mut own))
                .expect("select 1");
            black_box(r);
        },
    );

    let url = std::env::var("CUTTY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("cutty_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = rt
        .block_on(sqlx::PgPool::connect(&url))
        .expect("PostgreSQL must answer on 127.0.0.1:5432 for this benchmark");
    rt.block_on(sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin))
        .expect("schema");
    let opts = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let pg = rt
        .block_on(PostgresStore::connect_with(
            opts.clone(),
            StoreOptions::default(),
        ))
        .expect("postgres");
    let pg_pool = pg.pool().clone();
    let mut pg_own = rt
        .block_on(sqlx::PgConnection::connect_with(&opts))
        .expect("postgres connection");
    checks(
        &mut g,
        &rt,
        "postgres",
        &pg,
        || async {
            let r: (i32,) = sqlx::query_as("SELECT 1")
                .fetch_one(&pg_pool)
                .await
                .expect("select 1");
            black_box(r);
        },
        || {
            let r: (i32,) = rt
                .block_on(sqlx::query_as("SELECT 1").fetch_one(&mut pg_own))
                .expect("select 1");
            black_box(r);
        },
    );
    g.finish();

    rt.block_on(pg_own.close()).expect("close");
    rt.block_on(own.close()).expect("close");
    rt.block_on(pg.close());
    rt.block_on(sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin))
        .expect("drop schema");
    rt.block_on(sqlite.close());
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
