//! A million distinct client IPs through the router: the in-memory stores stay within their
//! capacity and the process's resident memory stays bounded.
//!
//! In-process (a `tower::ServiceExt::oneshot` per request, 64 at a time) rather than over
//! HTTP, so a debug build gets through a million requests in under a minute (about 40 s on a
//! busy two-core machine). It is the only test in its binary, so the resident set measured
//! is this flood's alone. The clock stands still: every key stays in the current window, so
//! nothing expires and only the capacity bounds hold memory down (the worst case).
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::app_with_stores;
use cutty_core::client_ip::ClientIpResolver;
use cutty_core::error::ErrorCode;
use cutty_core::lockout::{DEFAULT_MEMORY_CAPACITY, MemoryLockoutStore};
use cutty_core::password::PasswordHasher;
use cutty_core::rate_limit::{MemoryRateLimitStore, MemoryStoreConfig};
use cutty_store::memory::{DEFAULT_EVENT_CAPACITY, MemoryEventStore};
use tower::ServiceExt as _;

/// Distinct client IPs, one request each.
const REQUESTS: u32 = 1_000_000;
/// Every this many requests is a failed login (unknown username, its own IP) instead of an
/// anonymous request: each creates two lockout keys (username and IP).
const LOGIN_EVERY: u32 = 20;
/// The lockout store's configured capacity: smaller than the default
/// ([`DEFAULT_MEMORY_CAPACITY`]) so that the failed logins of the flood overrun it
/// several times over without paying for 200 000 password verifications.
const LOCKOUT_CAPACITY: usize = 20_000;
/// The security-event ring's configured capacity: smaller than the default
/// ([`DEFAULT_EVENT_CAPACITY`]) so that the 50 000 failed-login events overrun it.
const EVENT_CAPACITY: usize = 20_000;
/// How much the resident set may grow over the flood. Measured (debug build): about
/// 30 MiB with the stores bounded as here (100 000 rate-limit keys ≈ 11 MiB, 20 000 lockout
/// keys, 20 000 events of ≈ 0.8 KB each); about 140 MiB with every bound lifted (a million
/// rate-limit keys, 100 000 lockout keys, 50 000 events).
const RSS_GROWTH_BOUND: u64 = 64 << 20;
/// The trusted proxy half of the clients come through (the other half connect directly).
const PROXY: [u8; 4] = [10, 255, 255, 1];

/// The resident set size in bytes, from `/proc/self/statm` (pages) and the page size.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages in statm");
    let page_size = std::process::Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096u64);
    pages * page_size
}

/// The `i`-th client IP: 1.0.0.0 upwards (distinct for every `i` < 2^24·254).
fn client_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0100_0000 + i)
}

/// A request from client `i`: half connect directly, half come through the trusted proxy
/// with `X-Forwarded-For`.
fn request(i: u32, builder: axum::http::request::Builder, body: Body) -> Request<Body> {
    let ip = client_ip(i);
    let (peer, builder) = if i.is_multiple_of(2) {
        (IpAddr::V4(ip), builder)
    } else {
        (
            IpAddr::from(PROXY),
            builder.header("x-forwarded-for", format!("192.0.2.1, {ip}")),
        )
    };
    let mut req = builder.body(body).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(peer, 40_000)));
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_client_ips_keep_memory_bounded() {
    let rate_limits = Arc::new(MemoryRateLimitStore::new(MemoryStoreConfig::default()));
    let lockouts = Arc::new(MemoryLockoutStore::with_capacity(LOCKOUT_CAPACITY));
    let events = Arc::new(MemoryEventStore::with_capacity(EVENT_CAPACITY));
    let rate_capacity = rate_limits.capacity();
    const {
        assert!(
            LOCKOUT_CAPACITY < DEFAULT_MEMORY_CAPACITY && EVENT_CAPACITY < DEFAULT_EVENT_CAPACITY
        )
    };
    let app = {
        let (r, l, e) = (rate_limits.clone(), lockouts.clone(), events.clone());
        app_with_stores(
            |s| {
                s.client_ip = ClientIpResolver::from_config("10.255.255.0/24", false)
                    .expect("trusted proxies");
                // The failed logins measure the stores, not PBKDF2.
                s.password_hasher = PasswordHasher::new().with_iterations(1).expect("hasher");
            },
            move |stores| {
                stores.rate_limits = r;
                stores.lockouts = l;
                stores.events = e;
            },
        )
    };
    let router = app.router.clone();

    let send = |i: u32| {
        let router = router.clone();
        async move {
            let login = i.is_multiple_of(LOGIN_EVERY);
            let req = if login {
                let body = format!(r#"{{"username":"flood_{i}","password":"not the password"}}"#);
                request(
                    i,
                    Request::post("/api/accounts/login").header("content-type", "application/json"),
                    Body::from(body),
                )
            } else {
                request(i, Request::get("/api/accounts/user"), Body::empty())
            };
            let resp = router.oneshot(req).await.expect("infallible");
            let code = resp.extensions().get::<ErrorCode>().copied();
            let expected = if login { "AUTH_004" } else { "AUTH_001" };
            assert_eq!(
                (resp.status(), code.map(|c| c.as_str())),
                (StatusCode::UNAUTHORIZED, Some(expected)),
                "request {i} from {}",
                client_ip(i)
            );
        }
    };

    // Warm up (runtime, thread pools, first allocations), then take the baseline.
    const WARM_UP: u32 = 1_000;
    for i in 0..WARM_UP {
        send(i).await;
    }
    let rss_before = rss_bytes();

    const BATCH: u32 = 64;
    let mut i = WARM_UP;
    while i < REQUESTS {
        let end = (i + BATCH).min(REQUESTS);
        futures::future::join_all((i..end).map(send)).await;
        i = end;
        if i % 100_000 < BATCH {
            assert!(
                rate_limits.len() <= rate_capacity,
                "after {i} clients the rate-limit store holds {} keys, capacity {rate_capacity}",
                rate_limits.len()
            );
            assert!(
                lockouts.len() <= LOCKOUT_CAPACITY,
                "after {i} clients the lockout store holds {} keys, capacity {LOCKOUT_CAPACITY}",
                lockouts.len()
            );
        }
    }
    let rss_after = rss_bytes();

    // The flood really reached the stores, and they held to their capacities.
    let (rate_len, lockout_len) = (rate_limits.len(), lockouts.len());
    let event_len = events.len().expect("events");
    eprintln!(
        "after {REQUESTS} clients: {rate_len} rate-limit keys (capacity {rate_capacity}), \
         {lockout_len} lockout keys (capacity {LOCKOUT_CAPACITY}), {event_len} events \
         (capacity {EVENT_CAPACITY}); resident set {} MiB -> {} MiB",
        rss_before >> 20,
        rss_after >> 20
    );

    assert!(
        (rate_capacity / 2..=rate_capacity).contains(&rate_len),
        "rate-limit keys {rate_len}, capacity {rate_capacity}"
    );
    assert!(
        (LOCKOUT_CAPACITY / 2..=LOCKOUT_CAPACITY).contains(&lockout_len),
        "lockout keys {lockout_len}, capacity {LOCKOUT_CAPACITY}"
    );
    assert_eq!(
        event_len, EVENT_CAPACITY,
        "the failed logins fill the event ring, which keeps only the newest"
    );
    let growth = rss_after.saturating_sub(rss_before);
    assert!(
        growth < RSS_GROWTH_BOUND,
        "the resident set grew by {} MiB over {REQUESTS} client IPs (bound {} MiB)",
        growth >> 20,
        RSS_GROWTH_BOUND >> 20
    );
}
