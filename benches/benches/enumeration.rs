//! Account enumeration by timing: `Cutty::login` (the facade, on a real SQLite store in a
//! temporary file, at the contract's 600 000 PBKDF2 iterations) for an **unknown username**
//! and for a **known username with a wrong password**. The contract wants both to cost the
//! same; the target is medians within 5 %.
//!
//! Both calls are checked to answer `AUTH_004` (invalid credentials) before measuring, and
//! on every iteration. Repeated failures would lock the username and the IP (`AUTH_006`,
//! answered without any password work), so the fake clock moves two hours forward before
//! each attempt: every attempt meets an expired lockout state and takes the password path
//! (lockout check, user look-up, PBKDF2 verification or its dummy, failure count, event),
//! with the lockout record still read and written in the store each time.
//!
//! The password work runs inline on the benchmark's thread (`InlinePasswordWork`, as the
//! CLI does; the server hands the same call to a blocking pool). The group also holds the
//! floors, the password work alone: `PasswordHasher::dummy_verify` (what an unknown user
//! pays) and `PasswordHasher::verify` of the wrong password against the stored hash.
//!
//! After the criterion group the bench prints the same two logins measured **interleaved**
//! (40 pairs, alternating order), wall-clock and thread-CPU medians and their ratio: on a
//! shared machine the load changes between criterion's back-to-back measurements, and the
//! interleaved ratio is the one to compare with the 5 % target.
//!
//! `cargo bench -p cutty-benches --bench enumeration`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use cutty_core::api_key::{ApiKeyHasher, ApiKeySalt, SaltId};
use cutty_core::app::{
    Cutty, InlinePasswordWork, LoginRequest, RegisterRequest, SecretString, Settings, Stores,
};
use cutty_core::clock::FakeClock;
use cutty_core::error::{Error, ErrorCode};
use cutty_core::password::PasswordHasher;
use cutty_core::token::{Algorithm, Keyring};
use cutty_store::StoreOptions;
use cutty_store::sqlite::SqliteStore;
use tokio::runtime::Runtime;

/// The contract's `CUTTY_PBKDF2_ITERATIONS` default.
const ITERATIONS: u32 = 600_000;
const KNOWN: &str = "enumeration.target";
const UNKNOWN: &str = "enumeration.nobody";
const PASSWORD: &str = "the right password, 600k";
const WRONG: &str = "a wrong password, same len";
/// Longer than the lockout window (15 min) and the lock (1 h): every attempt starts afresh.
const PAST_ANY_LOCKOUT: Duration = Duration::from_secs(2 * 3600);

fn facade(store: &SqliteStore, clock: &FakeClock) -> Cutty {
    let stores = Stores::all_in_one(store.clone());
    let keyring = Keyring::hmac(
        Algorithm::HS256,
        b"enumeration-bench-secret-0123456789abcdef",
    )
    .expect("keyring");
    let salt = ApiKeySalt::new(
        SaltId::new("bench").expect("salt id"),
        b"enumeration bench salt".to_vec(),
    )
    .expect("salt");
    let mut settings = Settings::new(keyring, ApiKeyHasher::new(salt));
    settings.password_hasher = PasswordHasher::default()
        .with_iterations(ITERATIONS)
        .expect("hasher");
    Cutty::new(
        stores,
        settings,
        Arc::new(clock.clone()),
        Arc::new(InlinePasswordWork),
    )
    .expect("facade")
}

/// One login attempt after the lockout state has expired; must be `AUTH_004`.
fn attempt(rt: &Runtime, cutty: &Cutty, clock: &FakeClock, username: &str, ip: IpAddr) {
    clock.advance(PAST_ANY_LOCKOUT);
    let result = rt.block_on(cutty.login(
        LoginRequest {
            username: username.to_owned(),
            password: SecretString::new(WRONG),
        },
        ip,
    ));
    match result {
        Err(Error::InvalidCredentials) => {}
        Err(e) => panic!("{username}: expected AUTH_004, got {}", e.code().as_str()),
        Ok(_) => panic!("{username}: a wrong password logged in"),
    }
    black_box(&result);
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`, Linux), if
/// readable.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Criterion measures one function after the other, so on a shared machine a change of
/// load between the two shows up as a difference between them. This measures the two
/// attempts interleaved (alternating which goes first), `ROUNDS` pairs, and prints the
/// medians of wall time and of the benchmark thread's CPU time (the PBKDF2 work runs on
/// it; SQLite's work runs on its own thread and is in the wall time only).
fn interleaved(rt: &Runtime, cutty: &Cutty, clock: &FakeClock, ip: IpAddr) {
    const ROUNDS: usize = 40;
    let mut wall = [Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let name = [UNKNOWN, KNOWN][which];
            let (t0, c0) = (Instant::now(), thread_cpu_ns());
            attempt(rt, cutty, clock, name, ip);
            let (t1, c1) = (Instant::now(), thread_cpu_ns());
            wall[which].push((t1 - t0).as_secs_f64() * 1e3);
            if let (Some(a), Some(b)) = (c0, c1) {
                cpu[which].push((b - a) as f64 / 1e6);
            }
        }
    }
    let [wu, wk] = wall.map(median);
    println!(
        "interleaved, {ROUNDS} pairs, wall-clock medians: unknown_username {wu:.2} ms, \
         known_username_wrong_password {wk:.2} ms, ratio {:.3}",
        wk / wu
    );
    if cpu.iter().all(|v| v.len() == ROUNDS) {
        let [cu, ck] = cpu.map(median);
        println!(
            "interleaved, {ROUNDS} pairs, thread-CPU medians: unknown_username {cu:.2} ms, \
             known_username_wrong_password {ck:.2} ms, ratio {:.3}",
            ck / cu
        );
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!(
        "cutty-bench-enumeration-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = rt
        .block_on(SqliteStore::connect(
            &format!("sqlite://{}/cutty.db", dir.display()),
            StoreOptions::default(),
        ))
        .expect("sqlite");
    let clock = FakeClock::at_unix_ms(1_800_000_000_000);
    let cutty = facade(&store, &clock);
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    rt.block_on(cutty.register(
        RegisterRequest {
            username: KNOWN.to_owned(),
            email: "target@example.org".to_owned(),
            password: SecretString::new(PASSWORD),
        },
        ip,
    ))
    .expect("register the known user");
    // The right password works (so "known user" really is known), and both measured calls
    // answer AUTH_004 several times in a row (no lockout refusal creeps in).
    clock.advance(PAST_ANY_LOCKOUT);
    rt.block_on(cutty.login(
        LoginRequest {
            username: KNOWN.to_owned(),
            password: SecretString::new(PASSWORD),
        },
        ip,
    ))
    .expect("the right password logs in");
    for _ in 0..6 {
        attempt(&rt, &cutty, &clock, UNKNOWN, ip);
        attempt(&rt, &cutty, &clock, KNOWN, ip);
    }
    assert_eq!(
        Error::InvalidCredentials.code(),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(ErrorCode::InvalidCredentials.as_str(), "AUTH_004");

    let mut g = c.benchmark_group("login_enumeration_600k");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    g.bench_function("unknown_username", |b| {
        b.iter(|| attempt(&rt, &cutty, &clock, UNKNOWN, ip));
    });
    g.bench_function("known_username_wrong_password", |b| {
        b.iter(|| attempt(&rt, &cutty, &clock, KNOWN, ip));
    });
    // The floors: the password work alone, without the facade and the store.
    let hasher = PasswordHasher::default()
        .with_iterations(ITERATIONS)
        .expect("hasher");
    let stored = rt
        .block_on(cutty.admin().find_user(KNOWN))
        .expect("look-up")
        .password_hash;
    g.bench_function("floor_dummy_verify", |b| {
        b.iter(|| black_box(hasher.dummy_verify(black_box(WRONG))));
    });
    g.bench_function("floor_verify_wrong_password", |b| {
        b.iter(|| black_box(hasher.verify(black_box(WRONG), &stored).expect("verify")));
    });
    g.finish();

    interleaved(&rt, &cutty, &clock, ip);

    rt.block_on(store.close());
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
