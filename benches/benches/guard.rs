//! Client-IP resolution, block-list look-up and the in-memory lockout check.
//!
//! Every group holds a floor measured in the same run (std's IP parser, a linear scan of the
//! block list, a bare store load), so each figure can be quoted as a ratio.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use cutty_core::client_ip::{ClientIpResolver, ForwardedHeaders, parse_trusted_proxies};
use cutty_core::clock::FakeClock;
use cutty_core::ip_block::{BlockEntry, BlockList, parse_ip_or_cidr};
use cutty_core::lockout::{Lockout, LockoutConfig, LockoutKey, MemoryLockoutStore};

/// Polls a future that never pends (the memory store) to completion.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn client_ip(c: &mut Criterion) {
    // Cloudflare's 15 published IPv4 ranges and 7 IPv6 ranges, plus a private range: a
    // realistic trusted list.
    let proxies = parse_trusted_proxies(
        "173.245.48.0/20,103.21.244.0/22,103.22.200.0/22,103.31.4.0/22,141.101.64.0/18,\
         108.162.192.0/18,190.93.240.0/20,188.114.96.0/20,197.234.240.0/22,198.41.128.0/17,\
         162.158.0.0/15,104.16.0.0/13,104.24.0.0/14,172.64.0.0/13,131.0.72.0/22,\
         2400:cb00::/32,2606:4700::/32,2803:f800::/32,2405:b500::/32,2405:8100::/32,\
         2a06:98c0::/29,2c0f:f248::/32,10.0.0.0/8",
    )
    .unwrap();
    let plain = ClientIpResolver::new(proxies.clone(), false);
    let cf = ClientIpResolver::new(proxies, true);
    let untrusted: IpAddr = "203.0.113.9".parse().unwrap();
    let trusted: IpAddr = "10.1.2.3".parse().unwrap();
    let spoof = ForwardedHeaders {
        cf_connecting_ip: Some(b"1.1.1.1"),
        x_forwarded_for: Some(b"1.1.1.1, 2.2.2.2"),
        x_real_ip: Some(b"3.3.3.3"),
    };
    let xff = ForwardedHeaders {
        x_forwarded_for: Some(b"198.51.100.23, 10.0.0.7, 172.64.1.1"),
        ..ForwardedHeaders::default()
    };
    let cf_hdr = ForwardedHeaders {
        cf_connecting_ip: Some(b"2001:db8::42"),
        x_forwarded_for: Some(b"198.51.100.23, 10.0.0.7"),
        ..ForwardedHeaders::default()
    };
    let long = vec!["10.0.0.1"; 40].join(", ");
    let worst = ForwardedHeaders {
        x_forwarded_for: Some(long.as_bytes()),
        ..ForwardedHeaders::default()
    };

    let mut g = c.benchmark_group("client_ip");
    g.bench_function("floor_std_parse_one_ipv4", |b| {
        b.iter(|| black_box("198.51.100.23").parse::<IpAddr>().ok())
    });
    g.bench_function("untrusted_peer_spoofed_headers", |b| {
        b.iter(|| plain.resolve(black_box(untrusted), black_box(&spoof)))
    });
    g.bench_function("trusted_peer_xff_3_hops", |b| {
        b.iter(|| plain.resolve(black_box(trusted), black_box(&xff)))
    });
    g.bench_function("trusted_peer_cf_connecting_ip", |b| {
        b.iter(|| cf.resolve(black_box(trusted), black_box(&cf_hdr)))
    });
    g.bench_function("trusted_peer_xff_40_trusted_hops_capped", |b| {
        b.iter(|| plain.resolve(black_box(trusted), black_box(&worst)))
    });
    g.finish();
}

/// 10,000 entries: 6,000 IPv4 (/32, /24 and /16 mixed, some overlapping, some expiring) and
/// 4,000 IPv6 (/128, /64 and /48).
fn ten_thousand_entries() -> Vec<BlockEntry> {
    let mut out = Vec::with_capacity(10_000);
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for i in 0..6_000u32 {
        let prefix = [32, 32, 24, 16][(i % 4) as usize];
        let addr = u32::from(Ipv4Addr::from(next() | 0x0100_0000)) & (u32::MAX << (32 - prefix));
        let net = parse_ip_or_cidr(&format!("{}/{prefix}", Ipv4Addr::from(addr))).unwrap();
        let exp = (i % 3 == 0).then_some(2_000_000_000_000);
        out.push(BlockEntry::new(net, "bench", 0, exp));
    }
    for i in 0..4_000u32 {
        let prefix = [128, 64, 48][(i % 3) as usize];
        let hi = u128::from(next()) << 96 | u128::from(next()) << 64;
        let addr = (0x2001_0000_0000_0000_0000_0000_0000_0000 ^ hi | u128::from(i))
            & (u128::MAX << (128 - prefix));
        let net = parse_ip_or_cidr(&format!("{}/{prefix}", Ipv6Addr::from(addr))).unwrap();
        out.push(BlockEntry::new(net, "bench", 0, None));
    }
    out
}

fn ip_block(c: &mut Criterion) {
    let entries = ten_thousand_entries();
    let list = BlockList::from_entries(entries.clone());
    let now = 1_800_000_000_000;
    let hit_v4 = entries[2].network.addr(); // inside a /24
    let hit_v6 = entries[6_001].network.addr(); // inside a /64
    let miss_v4: IpAddr = "0.0.0.1".parse().unwrap();
    let miss_v6: IpAddr = "3fff::1".parse().unwrap();
    assert!(list.is_blocked(hit_v4, now) && list.is_blocked(hit_v6, now));
    assert!(!list.is_blocked(miss_v4, now) && !list.is_blocked(miss_v6, now));
    let nets: Vec<_> = entries.iter().map(|e| e.network).collect();

    let mut g = c.benchmark_group("ip_block_10k");
    g.bench_function("hit_v4", |b| {
        b.iter(|| list.is_blocked(black_box(hit_v4), now))
    });
    g.bench_function("miss_v4", |b| {
        b.iter(|| list.is_blocked(black_box(miss_v4), now))
    });
    g.bench_function("hit_v6", |b| {
        b.iter(|| list.is_blocked(black_box(hit_v6), now))
    });
    g.bench_function("miss_v6", |b| {
        b.iter(|| list.is_blocked(black_box(miss_v6), now))
    });
    g.bench_function("peer_linear_scan_miss_v4", |b| {
        b.iter(|| nets.iter().any(|n| n.contains(&black_box(miss_v4))))
    });
    g.finish();

    let mut g = c.benchmark_group("ip_block_rebuild");
    g.sample_size(20);
    g.bench_function("replace_all_10k", |b| {
        b.iter(|| BlockList::from_entries(black_box(entries.clone())))
    });
    g.finish();
}

fn lockout(c: &mut Criterion) {
    let clock = FakeClock::at_unix_ms(1_700_000_000_000);
    let store = MemoryLockoutStore::new();
    let svc = Lockout::new(&store, clock.clone(), LockoutConfig::default());
    let ip: IpAddr = "198.51.100.23".parse().unwrap();
    // 10,000 other keys with state, so the map is not trivially small.
    for i in 0..10_000u32 {
        ready(svc.record_failure(&format!("user{i}"), IpAddr::from(i.to_be_bytes()))).unwrap();
    }
    ready(svc.record_failure("delayed", "192.0.2.9".parse().unwrap())).unwrap();
    let delayed_ip: IpAddr = "192.0.2.9".parse().unwrap();
    let user_key = LockoutKey::username("alice");
    let ip_key = LockoutKey::ip(ip);

    let mut g = c.benchmark_group("lockout_memory");
    g.bench_function("floor_load_now_absent_key", |b| {
        b.iter(|| store.load_now(black_box(&user_key), 0))
    });
    g.bench_function("check_keys_clean", |b| {
        b.iter(|| ready(svc.check_keys(black_box(&user_key), black_box(&ip_key))))
    });
    g.bench_function("check_clean_from_str", |b| {
        b.iter(|| ready(svc.check(black_box("Alice"), black_box(ip))))
    });
    g.bench_function("check_keys_now_clean_sync", |b| {
        b.iter(|| svc.check_keys_now(black_box(&user_key), black_box(&ip_key)))
    });
    let delayed_user = LockoutKey::username("delayed");
    let delayed_ip_key = LockoutKey::ip(delayed_ip);
    g.bench_function("check_keys_now_refused_sync", |b| {
        b.iter(|| svc.check_keys_now(black_box(&delayed_user), black_box(&delayed_ip_key)))
    });
    g.bench_function("check_refused_delay", |b| {
        b.iter(|| ready(svc.check(black_box("delayed"), black_box(delayed_ip))))
    });
    g.finish();
}

criterion_group!(benches, client_ip, ip_block, lockout);
criterion_main!(benches);
