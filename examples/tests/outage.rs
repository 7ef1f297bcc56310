//! A database that goes down under a running `cutty serve`, and comes back.
//!
//! The server reaches PostgreSQL (or Redis) through a TCP proxy of the test's own
//! (`support::Proxy`); pulling the proxy closes its port and cuts every connection, as a
//! crashed database host would. Requests that need the store are then answered
//! `503 DB_001` within the store's operation timeout (5 s, `StoreOptions` /
//! `RedisOptions`), the process stays up and `/health/auth` reports the failure; once the
//! proxy listens again on the same port, the same process serves again. The real PostgreSQL
//! and Redis servers are never touched (each test has its own schema and key prefix).
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{PG_ADDR, Proxy, REDIS_ADDR, RedisPrefix, Resp, Schema, Server, TempDir};

/// The store's operation timeout (the default of `StoreOptions` and `RedisOptions`).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// What a request may take while PostgreSQL is down: one operation timeout. (It used to be
/// two: the gate reloaded the cached block list inside the request that found it due, so
/// one request per reload waited for the pool twice. The server now reloads it on a timer,
/// `cutty_axum::spawn_block_list_refresh`.)
const PG_BUDGET: Duration = OPERATION_TIMEOUT;
/// Added to the timeout for scheduling on a busy machine: a refusal must come in time,
/// not after a hang.
const GRACE: Duration = Duration::from_secs(2);
/// How long the stores may take to reconnect once the database is back.
const RECOVERY: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse battery staple";

fn vars(dir: &TempDir, database_url: &str, redis_url: &str, prefix: &str) -> Vec<(String, String)> {
    let path = dir.path();
    [
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", redis_url.to_owned()),
        ("CUTTY_REDIS_PREFIX", prefix.to_owned()),
        ("CUTTY_ENV", "development".to_owned()),
        (
            "CUTTY_DEV_SECRETS_FILE",
            path.join("dev-secrets.toml").display().to_string(),
        ),
        ("CUTTY_FILES_DIR", path.join("files").display().to_string()),
        ("CUTTY_PBKDF2_ITERATIONS", "1000".to_owned()),
        ("CUTTY_RATE_LIMIT_IP", "100000".to_owned()),
        ("CUTTY_RATE_LIMIT_USER", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn register(server: &Server, name: &str) -> Value {
    server
        .post(
            "/api/accounts/register",
            None,
            json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD}),
        )
        .expect(201)
        .clone()
}

fn login(server: &Server, name: &str) -> Resp {
    server.post(
        "/api/accounts/login",
        None,
        json!({"username": name, "password": PASSWORD}),
    )
}

/// A `503 DB_001` with the contract's envelope, answered within `budget`, naming neither
/// the database nor its address.
#[track_caller]
fn assert_unavailable(r: &Resp, what: &str, hidden: &[&str], budget: Duration) {
    assert_eq!(
        (r.status, r.code()),
        (503, Some("DB_001")),
        "{what}: expected 503 DB_001, got {r:?}"
    );
    assert!(
        r.elapsed <= budget + GRACE,
        "{what}: answered after {:?}, the budget is {budget:?}",
        r.elapsed
    );
    eprintln!("{what}: 503 DB_001 after {:?}", r.elapsed);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    for h in hidden {
        assert!(
            !message.contains(h),
            "{what}: the message {message:?} shows {h:?}"
        );
    }
}

/// `/health/auth` and the named service's status.
fn health(server: &Server) -> (u16, Value) {
    let r = server.get("/health/auth", None);
    (r.status, r.body)
}

/// Waits until `ok` holds for a fresh request, at most [`RECOVERY`].
fn eventually(what: &str, mut ok: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        match ok() {
            Ok(()) => return,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: not back within {RECOVERY:?}; last answer: {last}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// While the proxy is pulled: liveness answers 200, `/health/auth` answers `status` with
/// `down` down and `up` ok, and the process is alive. Then the proxy comes back and a login
/// succeeds again within [`RECOVERY`], without a restart.
fn assert_degraded_then_recovers(
    server: &mut Server,
    proxy: &mut Proxy,
    status: u16,
    down: &str,
    up: &str,
) {
    server.get("/health", None).expect(200);
    let (seen, h) = health(server);
    assert_eq!(seen, status, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["services"][down]["status"], "down", "{h}");
    assert_eq!(h["services"][up]["status"], "ok", "{h}");
    assert!(server.is_running(), "the server died with its {down}");

    proxy.restore();
    eventually("login", || {
        let r = login(server, "before_outage");
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
}

#[test]
fn postgres_down_and_back_under_a_running_server() {
    let schema = Schema::create();
    let prefix = RedisPrefix::create();
    let dir = TempDir::new("outage-pg");
    let mut proxy = Proxy::start(PG_ADDR);
    let vars = vars(
        &dir,
        &schema.url(&proxy.addr()),
        &format!("redis://{REDIS_ADDR}"),
        &prefix.prefix,
    );
    let mut server = Server::start(dir.path(), &vars);
    let pid = server.pid();

    let before = register(&server, "before_outage");
    let access = before["access_token"].as_str().expect("token").to_owned();
    server.get("/api/accounts/user", Some(&access)).expect(200);
    let (status, h) = health(&server);
    assert_eq!(
        (status, &h["services"]["database"]["status"]),
        (200, &json!("ok"))
    );

    proxy.pull();
    let hidden = [proxy.addr(), schema.name.clone(), "postgres".to_owned()];
    let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
    // Two of each, all at once (each request waits for the pool, so in sequence this
    // would take minutes): logins, registrations, and the current user (the token checks
    // out, but its user must be read).
    let answers: Vec<(String, Resp)> = std::thread::scope(|scope| {
        let server = &server;
        let access = access.as_str();
        let tasks: Vec<_> = (0..2)
            .flat_map(|round| {
                [
                    scope.spawn(move || (format!("login #{round}"), login(server, "before_outage"))),
                    scope.spawn(move || {
                        let name = format!("during_{round}");
                        let body = json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD});
                        (
                            format!("register #{round}"),
                            server.post("/api/accounts/register", None, body),
                        )
                    }),
                    scope.spawn(move || {
                        (
                            format!("current user #{round}"),
                            server.get("/api/accounts/user", Some(access)),
                        )
                    }),
                ]
            })
            .collect();
        tasks
            .into_iter()
            .map(|t| t.join().expect("request thread"))
            .collect()
    });
    for (what, r) in &answers {
        assert_unavailable(r, what, &hidden, PG_BUDGET);
    }
    // One after another, each request comes after the cached block list fell due (every
    // second): none may wait for the pool twice (it did, 8 s each, before the timer).
    for round in 0..2 {
        let r = server.get("/api/accounts/user", Some(&access));
        assert_unavailable(
            &r,
            &format!("current user in sequence #{round}"),
            &hidden,
            PG_BUDGET,
        );
    }
    // Liveness stays up; /health/auth says the database is down, with a 503.
    assert_degraded_then_recovers(&mut server, &mut proxy, 503, "database", "cache");
    register(&server, "after_outage");
    server.get("/api/accounts/user", Some(&access)).expect(200);
    let (status, h) = health(&server);
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["services"]["database"]["status"], "ok", "{h}");
    assert!(server.is_running());
    assert_eq!(server.pid(), pid, "the same process recovered");
    drop(server);
    drop(proxy);
}

#[test]
fn redis_down_and_back_under_a_running_server() {
    let schema = Schema::create();
    let prefix = RedisPrefix::create();
    let dir = TempDir::new("outage-redis");
    let mut proxy = Proxy::start(REDIS_ADDR);
    let vars = vars(
        &dir,
        &schema.url(PG_ADDR),
        &format!("redis://{}", proxy.addr()),
        &prefix.prefix,
    );
    let mut server = Server::start(dir.path(), &vars);
    let pid = server.pid();

    let before = register(&server, "before_outage");
    let access = before["access_token"].as_str().expect("token").to_owned();
    let refresh = before["refresh_token"].as_str().expect("token").to_owned();
    server.get("/api/accounts/user", Some(&access)).expect(200);
    let (status, h) = health(&server);
    assert_eq!(
        (status, &h["services"]["cache"]["status"]),
        (200, &json!("ok"))
    );

    proxy.pull();
    let hidden = [proxy.addr(), prefix.prefix.clone(), "redis".to_owned()];
    let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
    for round in 0..2 {
        // Counters, revocations and lockouts live in Redis: every /api request needs it
        // (the rate limit fails closed).
        assert_unavailable(
            &login(&server, "before_outage"),
            &format!("login #{round}"),
            &hidden,
            OPERATION_TIMEOUT,
        );
        assert_unavailable(
            &server.get("/api/accounts/user", Some(&access)),
            &format!("current user #{round}"),
            &hidden,
            OPERATION_TIMEOUT,
        );
        assert_unavailable(
            &server.post(
                "/api/accounts/token/refresh",
                None,
                json!({"refresh_token": refresh}),
            ),
            &format!("refresh #{round}"),
            &hidden,
            OPERATION_TIMEOUT,
        );
    }
    // The database is fine, so /health/auth answers 200 with the cache down.
    assert_degraded_then_recovers(&mut server, &mut proxy, 200, "cache", "database");
    server.get("/api/accounts/user", Some(&access)).expect(200);
    // The refresh token was never consumed while Redis was away: it still rotates once.
    server
        .post(
            "/api/accounts/token/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .expect(200);
    let (status, h) = health(&server);
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["services"]["cache"]["status"], "ok", "{h}");
    assert!(server.is_running());
    assert_eq!(server.pid(), pid, "the same process recovered");
    drop(server);
    drop(proxy);
}
