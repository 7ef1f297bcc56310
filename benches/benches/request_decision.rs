//! The full in-memory decision a host makes before a handler runs: block-list look-up,
//! the applicable rate limits and, on the login path, the brute-force lockout check.
//!
//! Two paths, each over 10,000 distinct clients so the maps are warm but not trivially
//! cached:
//! * `authenticated`: block list + IP limit + user limit (+ global), as for a JWT request
//!   that is also counted per IP (the heaviest limiter work a request can need);
//! * `login`: block list + IP limit + lockout check of username and IP.
//!
//! Each is shown next to the sum of its parts' floors (a bare block-list look-up and a bare
//! limiter check) so the composition's overhead is visible.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use cutty_core::clock::FakeClock;
use cutty_core::ip_block::{BlockEntry, BlockList, parse_ip_or_cidr};
use cutty_core::lockout::{Lockout, LockoutConfig, LockoutKey, MemoryLockoutStore};
use cutty_core::rate_limit::{
    MemoryRateLimiter, MemoryStoreConfig, Principal, RateLimitConfig, RateLimitKey, RequestIdentity,
};

const CLIENTS: u32 = 10_000;

fn ip_of(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xC633_0000u32 + i)) // 198.51.0.0 + i
}

fn block_list() -> BlockList {
    // 1,000 blocked /32s and /24s elsewhere in the address space.
    BlockList::from_entries((0..1_000u32).map(|i| {
        let net = if i % 2 == 0 {
            format!("203.{}.{}.0/24", i / 256, i % 256)
        } else {
            format!("100.64.{}.{}", i / 256, i % 256)
        };
        BlockEntry::new(parse_ip_or_cidr(&net).unwrap(), "bench", 0, None)
    }))
}

fn decision(c: &mut Criterion) {
    let clock = FakeClock::at_unix_ms(1_700_000_000_000);
    // Generous limits so every check is admitted and the measured path is the common one.
    let config = RateLimitConfig {
        ip: NonZeroU32::new(u32::MAX).unwrap(),
        user: NonZeroU32::new(u32::MAX).unwrap(),
        global: Some(NonZeroU32::new(u32::MAX).unwrap()),
        ..RateLimitConfig::default()
    };
    let limiter = MemoryRateLimiter::new(config, MemoryStoreConfig::default(), clock.clone());
    let blocks = block_list();
    let lockout = Lockout::new(
        MemoryLockoutStore::new(),
        clock.clone(),
        LockoutConfig::default(),
    );
    let usernames: Vec<String> = (0..CLIENTS).map(|i| format!("user{i}")).collect();
    let ip_limit = NonZeroU32::new(u32::MAX).unwrap();
    let now = 1_700_000_000_000;

    let mut g = c.benchmark_group("request_decision");
    let mut i = 0u32;
    g.bench_function("floor: block-list look-up only", |b| {
        b.iter(|| {
            i = (i + 1) % CLIENTS;
            black_box(blocks.is_blocked(ip_of(i), now))
        })
    });
    g.bench_function("floor: one limiter check (IP key)", |b| {
        b.iter(|| {
            i = (i + 1) % CLIENTS;
            black_box(limiter.check_key(&RateLimitKey::Ip(ip_of(i)), ip_limit))
        })
    });
    g.bench_function("authenticated: block + IP + user + global limits", |b| {
        b.iter(|| {
            i = (i + 1) % CLIENTS;
            let ip = ip_of(i);
            if blocks.is_blocked(ip, now) {
                return None;
            }
            let per_ip = limiter.check_key(&RateLimitKey::Ip(ip), ip_limit);
            let identity = RequestIdentity::new(ip, Principal::User(i64::from(i)));
            Some(black_box((per_ip, limiter.check(&identity))))
        })
    });
    g.bench_function("login: block + IP limit + lockout (username, IP)", |b| {
        b.iter(|| {
            i = (i + 1) % CLIENTS;
            let ip = ip_of(i);
            if blocks.is_blocked(ip, now) {
                return None;
            }
            let outcome = limiter.check(&RequestIdentity::anonymous(ip));
            let user = LockoutKey::username(&usernames[i as usize]);
            let lock = lockout.check_keys_now(&user, &LockoutKey::ip(ip));
            Some(black_box((outcome, lock)))
        })
    });
    g.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
