//! The per-request gate: authentication, disabled users, rate limits, the block list.

use std::num::NonZeroU32;
use std::time::Duration;

use super::*;
use crate::client_ip::ForwardedHeaders;
use crate::error::LimitScope;
use crate::event::EventType;
use crate::ip_block::{BlockEntry, BlockListStore, parse_ip_or_cidr};

fn key_req(perms: &[&str]) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        name: "key".into(),
        permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
        expires_at: None,
        rate_limit_override: None,
    }
}

#[test]
fn authenticate_answers_each_credential_failure_with_its_code() {
    let h = H::new();
    let (alice, reg) = h.user("alice");
    assert!(block_on(h.cutty.authenticate(None)).unwrap().is_none());
    for (header, expected) in [
        (&b"Basic abc"[..], "AUTH_001"),
        (b"Bearer", "AUTH_001"),
        (b"Bearer not.a.jwt", "AUTH_001"),
        (b"Bearer cutty_0123456789abcdefghijklmnopqrstuv", "API_001"),
    ] {
        assert_eq!(code(block_on(h.cutty.authenticate(Some(header)))), expected);
    }
    // A well-formed key that was never issued.
    let other = crate::api_key::ApiKey::generate(&mut rand::rng());
    assert_eq!(code(h.auth(other.expose_secret())), "API_002");
    // A token signed with another secret.
    let foreign = crate::token::TokenCodec::hs256(b"another secret that is 32 bytes long")
        .unwrap()
        .issue(
            crate::token::TokenType::Access,
            &reg.user.id.to_string(),
            crate::token::FamilyId::random(),
            START_MS,
        )
        .unwrap();
    assert_eq!(code(h.auth(foreign.as_str())), "AUTH_001");
    // Expired.
    h.secs(901 + 30);
    assert_eq!(code(h.auth(&reg.tokens.access_token)), "AUTH_002");
    // A valid key authenticates as its owner with its permissions.
    let k = block_on(
        h.cutty
            .create_api_key(&alice, key_req(&["files:read"]), ip()),
    )
    .unwrap();
    let kc = h.caller(k.key.expose_secret());
    assert_eq!(kc.user().id, reg.user.id);
    assert!(kc.require(Permission::FilesRead).is_ok());
    assert_eq!(code(kc.require(Permission::FilesWrite)), "API_005");
    assert_eq!(code(kc.require_jwt()), "AUTH_010");
    assert!(alice.require(Permission::FilesWrite).is_ok());
    // Expiry of a key.
    let mut expiring = key_req(&["files:read"]);
    expiring.expires_at = Some(h.cutty.clock().now_unix_ms() + 1_000);
    let k2 = block_on(h.cutty.create_api_key(&alice, expiring, ip())).unwrap();
    h.caller(k2.key.expose_secret());
    h.secs(1);
    assert_eq!(code(h.auth(k2.key.expose_secret())), "API_003");
    // Revoked.
    block_on(h.cutty.revoke_api_key(&alice, &k.key_id.to_string(), ip())).unwrap();
    assert_eq!(code(h.auth(k.key.expose_secret())), "API_004");
}

#[test]
fn a_disabled_users_tokens_are_revoked_and_stay_revoked_after_re_enabling() {
    let h = H::new();
    let (alice, reg) = h.user("alice");
    let key = block_on(
        h.cutty
            .create_api_key(&alice, key_req(&["files:read"]), ip()),
    )
    .unwrap();
    let admin = h.cutty.admin();
    h.tick();
    let disabled = block_on(admin.set_active("alice", false)).unwrap();
    assert!(!disabled.is_active);
    assert_eq!(code(h.auth(&reg.tokens.access_token)), "AUTH_003");
    assert_eq!(code(h.auth(key.key.expose_secret())), "API_004");
    assert_eq!(h.events.of(EventType::TokensInvalidated).len(), 1);

    block_on(admin.set_active("alice", true)).unwrap();
    assert_eq!(code(h.auth(&reg.tokens.access_token)), "AUTH_003");
    let r = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: reg.tokens.refresh_token,
        },
        ip(),
    ));
    assert_eq!(code(r), "AUTH_003");
    // API keys were never revoked: they work again with their owner.
    h.caller(key.key.expose_secret());
    // A new login works.
    let fresh = h.login("alice", PASSWORD).unwrap();
    h.caller(&fresh.tokens.access_token);
    assert_eq!(
        code(block_on(admin.set_active("nobody", false))),
        "AUTH_005"
    );
}

#[test]
fn limits_apply_per_ip_user_and_key_and_count_key_usage() {
    let h = H::with(|s| {
        s.rate_limit.ip = NonZeroU32::new(2).unwrap();
        s.rate_limit.user = NonZeroU32::new(3).unwrap();
        s.rate_limit.api_key = NonZeroU32::new(5).unwrap();
    });
    let (alice, _) = h.user("alice");
    // Anonymous: the IP limit.
    for remaining in [1, 0] {
        let o = block_on(h.cutty.admit(ip(), None)).unwrap();
        assert_eq!(
            (o.scope, o.decision.limit(), o.decision.remaining()),
            (LimitScope::Ip, 2, remaining)
        );
    }
    let refused = block_on(h.cutty.admit(ip(), None)).unwrap_err();
    assert_eq!(refused.code().as_str(), "RATE_001");
    assert!(refused.retry_after_secs().unwrap() >= 1);
    // The same refusal as an outcome, for the headers.
    let o = block_on(h.cutty.limits(ip(), None)).unwrap();
    assert!(!o.is_allowed());
    // A JWT user is counted against its own limit, not the exhausted IP.
    for _ in 0..3 {
        block_on(h.cutty.admit(ip(), Some(&alice))).unwrap();
    }
    assert_eq!(
        code(block_on(h.cutty.admit(ip(), Some(&alice)))),
        "RATE_002"
    );
    // API keys: their own limit, or their override; usage counts both outcomes.
    let mut req = key_req(&["files:read"]);
    req.rate_limit_override = Some(1);
    let k1 = block_on(h.cutty.create_api_key(&alice, req, ip())).unwrap();
    let k2 = block_on(
        h.cutty
            .create_api_key(&alice, key_req(&["files:read"]), ip()),
    )
    .unwrap();
    let c1 = h.caller(k1.key.expose_secret());
    let c2 = h.caller(k2.key.expose_secret());
    block_on(h.cutty.admit(ip(), Some(&c1))).unwrap();
    assert_eq!(code(block_on(h.cutty.admit(ip(), Some(&c1)))), "RATE_003");
    assert_eq!(code(block_on(h.cutty.admit(ip(), Some(&c1)))), "RATE_003");
    for _ in 0..5 {
        block_on(h.cutty.admit(ip(), Some(&c2))).unwrap();
    }
    let usage = block_on(h.cutty.api_key_usage(&alice)).unwrap();
    let mut counts: Vec<_> = usage
        .usage
        .iter()
        .map(|u| (u.key_id, u.requests, u.rate_limited))
        .collect();
    counts.sort();
    let mut expected = [(k1.key_id, 1, 2), (k2.key_id, 5, 0)];
    expected.sort();
    assert_eq!(counts, expected);
    // One rate_limit event per limited key per window, not one per refusal.
    let events = h.events.of(EventType::RateLimit);
    let scopes: Vec<_> = events.iter().map(|e| e.details["scope"].clone()).collect();
    assert_eq!(scopes, ["ip", "user", "api_key"]);
    // The window slides.
    h.secs(120);
    block_on(h.cutty.admit(ip(), None)).unwrap();
    // A failing usage store is counted, not answered.
    h.keys.failing_usage.set(true);
    block_on(h.cutty.admit(ip(), Some(&c2))).unwrap();
    assert_eq!(h.cutty.diagnostics().usage_write_failures, 1);
}

#[test]
fn the_global_limit_counts_everyone() {
    let h = H::with(|s| s.rate_limit.global = NonZeroU32::new(2));
    block_on(h.cutty.admit(ip(), None)).unwrap();
    block_on(h.cutty.admit(ip2(), None)).unwrap();
    assert_eq!(
        code(block_on(h.cutty.admit("192.0.2.77".parse().unwrap(), None))),
        "RATE_004"
    );
}

#[test]
fn blocks_made_here_apply_at_once_and_blocks_made_elsewhere_within_the_refresh_interval() {
    let h = H::new();
    let admin = h.admin();
    block_on(h.cutty.check_blocked(ip())).unwrap();
    let entry = block_on(h.cutty.block_ip(
        &admin,
        BlockIpRequest {
            ip_address: "203.0.113.0/24".into(),
            reason: "scanner".into(),
            duration_seconds: Some(60),
        },
        ip2(),
    ))
    .unwrap();
    assert_eq!(entry.expires_at, Some(START_MS + 60_000));
    assert_eq!(code(block_on(h.cutty.check_blocked(ip()))), "SEC_001");
    assert_eq!(
        code(block_on(
            h.cutty
                .check_blocked("::ffff:203.0.113.200".parse().unwrap())
        )),
        "SEC_001"
    );
    block_on(h.cutty.check_blocked(ip2())).unwrap();
    // Another process (the CLI) writes to the store directly.
    let now = h.cutty.clock().now_unix_ms();
    block_on(h.blocks.add(&BlockEntry::new(
        parse_ip_or_cidr("198.51.100.0/24").unwrap(),
        "cli",
        now,
        None,
    )))
    .unwrap();
    block_on(h.cutty.check_blocked(ip2())).unwrap();
    h.secs(1);
    assert_eq!(code(block_on(h.cutty.check_blocked(ip2()))), "SEC_001");
    // Within the interval, the store is not asked again.
    let calls = h
        .blocks
        .version_calls
        .load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..10 {
        let _ = block_on(h.cutty.check_blocked(ip2()));
    }
    assert_eq!(
        h.blocks
            .version_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        calls
    );
    // Timed blocks lapse.
    h.secs(60);
    block_on(h.cutty.check_blocked(ip())).unwrap();
    // A failing store keeps the last list in force.
    h.blocks.failing.set(true);
    h.secs(5);
    assert_eq!(code(block_on(h.cutty.check_blocked(ip2()))), "SEC_001");
    assert!(h.cutty.diagnostics().block_list_refresh_failures >= 1);
}

#[test]
fn a_block_list_that_never_loaded_fails_closed() {
    let h = H::new();
    h.blocks.failing.set(true);
    assert_eq!(code(block_on(h.cutty.check_blocked(ip()))), "DB_001");
    h.blocks.failing.set(false);
    block_on(h.cutty.check_blocked(ip())).unwrap();
}

#[test]
fn gate_resolves_the_ip_and_orders_refusals() {
    let h = H::with(|s| {
        s.rate_limit.ip = NonZeroU32::new(1).unwrap();
        s.client_ip = crate::client_ip::ClientIpResolver::new(
            [ipnet::IpNet::from(std::net::IpAddr::from([10, 0, 0, 1]))],
            false,
        );
    });
    let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    let headers = ForwardedHeaders {
        x_forwarded_for: Some(b"203.0.113.5"),
        ..Default::default()
    };
    // Through the trusted proxy, the forwarded address is the client.
    let g = block_on(h.cutty.gate(proxy, &headers, Some(b"Bearer garbage"))).unwrap();
    assert_eq!(g.ip, ip());
    assert!(g.limits.is_allowed());
    assert_eq!(g.limits.scope, LimitScope::Ip);
    assert_eq!(code(g.into_caller()), "AUTH_001");
    // Spoofed headers from an untrusted peer are ignored.
    let g = block_on(h.cutty.gate(ip2(), &headers, None)).unwrap();
    assert_eq!(g.ip, ip2());
    assert!(g.into_caller().unwrap().is_none());
    // Over the limit: the rate-limit refusal comes first.
    let g = block_on(h.cutty.gate(proxy, &headers, Some(b"Bearer garbage"))).unwrap();
    assert!(!g.limits.is_allowed());
    assert_eq!(code(g.into_caller()), "RATE_001");
    // One token_invalid event for the two bad tokens from that IP in this window.
    let ev = h.events.of(EventType::TokenInvalid);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].ip_address, Some(ip()));
    assert_eq!(ev[0].details["code"], "AUTH_001");
    // A blocked IP is refused before anything else.
    block_on(h.cutty.admin().block("203.0.113.5", "test", None)).unwrap();
    assert_eq!(
        code(
            block_on(h.cutty.gate(proxy, &headers, None))
                .unwrap()
                .into_caller()
        ),
        "SEC_001"
    );
    let _ = Duration::ZERO;
}

#[test]
fn a_block_list_refresher_takes_the_reloads_off_the_request_path() {
    use std::sync::atomic::Ordering::SeqCst;
    let h = H::new();
    let calls = || h.blocks.version_calls.load(SeqCst);
    let mut refresher = h.cutty.block_list_refresher();
    // Nothing loaded yet: a request still loads the list itself (fail closed otherwise).
    block_on(h.cutty.check_blocked(ip())).unwrap();
    let after_first_load = calls();
    assert!(after_first_load >= 1);

    // Loaded and handed over: requests never ask the store, however stale the copy.
    let now = h.cutty.clock().now_unix_ms();
    block_on(h.blocks.add(&BlockEntry::new(
        parse_ip_or_cidr("203.0.113.0/24").unwrap(),
        "cli",
        now,
        None,
    )))
    .unwrap();
    h.secs(30);
    for _ in 0..10 {
        block_on(h.cutty.check_blocked(ip2())).unwrap();
    }
    assert_eq!(calls(), after_first_load);
    // The timer's reload brings the new entry in, and asks for the next one in 1 s.
    assert_eq!(block_on(refresher.refresh()), Duration::from_secs(1));
    assert_eq!(code(block_on(h.cutty.check_blocked(ip()))), "SEC_001");

    // A failing store: the last list stays in force, requests do not wait for the store,
    // and the timer backs off, doubling up to 5 s.
    h.blocks.failing.set(true);
    let delays: Vec<u64> = (0..5)
        .map(|_| block_on(refresher.refresh()).as_secs())
        .collect();
    assert_eq!(delays, [2, 4, 5, 5, 5]);
    assert_eq!(refresher.failures(), 5);
    let before = calls();
    h.secs(30);
    assert_eq!(code(block_on(h.cutty.check_blocked(ip()))), "SEC_001");
    assert_eq!(calls(), before);
    assert!(h.cutty.diagnostics().block_list_refresh_failures >= 5);
    h.blocks.failing.set(false);
    assert_eq!(block_on(refresher.refresh()), Duration::from_secs(1));
    assert_eq!(refresher.failures(), 0);

    // Dropped, the reloads go back to the requests.
    drop(refresher);
    h.secs(2);
    block_on(h.cutty.check_blocked(ip2())).unwrap();
    assert!(calls() > before + 1);
}
