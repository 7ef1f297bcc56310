//! Blocked IPs and CIDR ranges: `403 SEC_001` everywhere but `/health` and `/health/auth`,
//! the admin list, durations, and the CLI's block reaching a running server within 5 s.

use std::time::Duration;

use serde_json::{Value, json};

use super::{BLOCK_PROPAGATION, POLL, block_body, until_blocked};
use crate::check::{assert_fields, int, ms_near_now, string};
use crate::client::{Client, Resp, fresh_ip};
use crate::fixtures::{Account, Ctx, strong_password, unique};
use crate::host::{Config, Launch, Operation};

async fn block(c: &Client, admin: &Account, body: &Value) -> Resp {
    c.post("/api/analytics/security/block-ip")
        .bearer(&admin.access)
        .json(body)
        .send()
        .await
}

async fn unblock(c: &Client, admin: &Account, ip: &str) -> Resp {
    c.post("/api/analytics/security/unblock-ip")
        .bearer(&admin.access)
        .json(&json!({"ip_address": ip}))
        .send()
        .await
}

async fn blocked_list(c: &Client, admin: &Account) -> Vec<Value> {
    let body = c
        .get("/api/analytics/security/blocked-ips")
        .bearer(&admin.access)
        .send()
        .await
        .ok_json(200);
    assert_fields(&body, &["blocked_ips"], "blocked-ips");
    body["blocked_ips"]
        .as_array()
        .unwrap_or_else(|| panic!("blocked_ips is not an array: {body}"))
        .clone()
}

/// An IP blocked by an admin (201) gets `403 SEC_001` on every route — API, login, unknown
/// routes, `/docs`, `/openapi.json` — but `/health` and `/health/auth` (200); other IPs are
/// unaffected; after unblocking (200) the IP is admitted again.
pub async fn blocked_ip_is_refused_everywhere_but_health<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let victim = c.fresh();
    let user = ctx.register(&victim).await;
    block(&c, &admin, &block_body(victim.ip()))
        .await
        .expect(201);
    until_blocked(&victim, true, BLOCK_PROPAGATION, "API block").await;
    let cases = [
        victim.get("/api/accounts/user").bearer(&user.access).send().await,
        victim
            .post("/api/accounts/login")
            .json(&json!({"username": user.username, "password": user.password}))
            .send()
            .await,
        victim
            .post("/api/accounts/register")
            .json(&json!({"username": unique("b"), "email": format!("{}@example.com", unique("b")), "password": strong_password()}))
            .send()
            .await,
        victim.get("/api/no-such-route").send().await,
        victim.get("/no-such-route").send().await,
        victim.get("/docs").send().await,
        victim.get("/openapi.json").send().await,
    ];
    for r in cases {
        r.expect_error(403, "SEC_001");
    }
    victim.get("/health").send().await.expect(200);
    victim.get("/health/auth").send().await.expect(200);
    c.get("/api/accounts/user")
        .bearer(&user.access)
        .send()
        .await
        .expect(200);
    unblock(&c, &admin, victim.ip()).await.expect(200);
    until_blocked(&victim, false, BLOCK_PROPAGATION, "API unblock").await;
    victim
        .get("/api/accounts/user")
        .bearer(&user.access)
        .send()
        .await
        .expect(200);
}

/// CIDR ranges block every address inside them, IPv4 and IPv6, and nothing outside.
pub async fn cidr_ranges_block_ipv4_and_ipv6<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let base = fresh_ip();
    let octets: Vec<&str> = base.split('.').collect();
    let (a, b, third) = (octets[1], octets[2], octets[3]);
    let range = format!("172.{a}.{b}.0/24");
    let v6_net = format!("fd00:{a}:{b}:{third}");
    for cidr in [
        range.clone(),
        format!("{v6_net}::/64"),
        format!("fd01:{a}:{b}:{third}::5"),
    ] {
        block(&c, &admin, &block_body(&cidr)).await.expect(201);
    }
    let inside = [
        format!("172.{a}.{b}.1"),
        format!("172.{a}.{b}.254"),
        format!("{v6_net}::1"),
        format!("{v6_net}:ffff:ffff:ffff:fffe"),
        format!("fd01:{a}:{b}:{third}::5"),
    ];
    for ip in &inside {
        until_blocked(
            &c.with_ip(ip),
            true,
            BLOCK_PROPAGATION,
            &format!("{ip} inside a blocked range"),
        )
        .await;
    }
    let next_b = (b.parse::<u16>().unwrap_or(0) + 1) % 256;
    for ip in [
        format!("172.{a}.{next_b}.1"),
        format!("fd00:{a}:{b}:{}::1", third.parse::<u16>().unwrap_or(0) + 1),
        format!("fd01:{a}:{b}:{third}::6"),
    ] {
        let r = c.with_ip(&ip).get("/api/accounts/user").send().await;
        r.expect_error(401, "AUTH_001");
    }
}

/// `GET /api/analytics/security/blocked-ips` lists `{ip_address, reason, created_at,
/// expires_at}`: `expires_at` null without a duration, `created_at` + duration with one.
/// A CIDR is listed as given; a single address as given or as its /32 (/128).
pub async fn blocked_ips_list_shape<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let single = fresh_ip();
    let octets: Vec<&str> = single.split('.').collect();
    let range = format!("192.168.{}.0/24", octets[3]);
    block(
        &c,
        &admin,
        &json!({"ip_address": single, "reason": "single reason"}),
    )
    .await
    .expect(201);
    block(
        &c,
        &admin,
        &json!({"ip_address": range, "reason": "range reason", "duration_seconds": 600}),
    )
    .await
    .expect(201);
    let list = blocked_list(&c, &admin).await;
    for e in &list {
        assert_fields(
            e,
            &["ip_address", "reason", "created_at", "expires_at"],
            "blocked IP",
        );
    }
    let find = |ip: &str, alt: &str| {
        list.iter()
            .find(|e| e["ip_address"] == json!(ip) || e["ip_address"] == json!(alt))
            .cloned()
            .unwrap_or_else(|| panic!("{ip} not listed: {list:?}"))
    };
    let s = find(&single, &format!("{single}/32"));
    assert_eq!(string(&s["reason"], "reason"), "single reason");
    ms_near_now(&s["created_at"], "created_at");
    assert!(
        s["expires_at"].is_null(),
        "permanent block with expires_at: {s}"
    );
    let r = find(&range, &range);
    assert_eq!(string(&r["reason"], "reason"), "range reason");
    let created = ms_near_now(&r["created_at"], "created_at");
    let expires = int(&r["expires_at"], "expires_at");
    assert!(
        (expires - created - 600_000).abs() <= 2000,
        "expires_at {expires} should be created_at {created} + 600 s"
    );
    unblock(&c, &admin, &range).await.expect(200);
    let list = blocked_list(&c, &admin).await;
    assert!(
        !list.iter().any(|e| e["ip_address"] == json!(range)),
        "unblocked range still listed: {list:?}"
    );
}

/// A block with `duration_seconds` ends by itself (1 s, then within the 5 s propagation).
pub async fn timed_block_expires<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let victim = c.fresh();
    block(
        &c,
        &admin,
        &json!({"ip_address": victim.ip(), "reason": "short", "duration_seconds": 1}),
    )
    .await
    .expect(201);
    // Blocked at some point within the propagation delay (it may also expire before a
    // cached copy is refreshed; then the second wait is immediate).
    let _ = tokio::time::timeout(
        BLOCK_PROPAGATION,
        until_blocked(&victim, true, BLOCK_PROPAGATION, "timed block"),
    )
    .await;
    until_blocked(
        &victim,
        false,
        BLOCK_PROPAGATION + Duration::from_secs(2),
        "timed block expiry",
    )
    .await;
}

/// A block made with the CLI (`cutty ip block`) reaches the running server within 5 s.
pub async fn cli_block_reaches_the_server_within_5_seconds<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let victim = c.fresh();
    victim
        .get("/api/accounts/user")
        .send()
        .await
        .expect_error(401, "AUTH_001");
    ctx.operate(Operation::BlockIp {
        address: victim.ip().to_owned(),
        reason: "cli".to_owned(),
        duration_seconds: None,
    })
    .await;
    until_blocked(&victim, true, BLOCK_PROPAGATION + POLL, "CLI block").await;
    victim.get("/health").send().await.expect(200);
    ctx.operate(Operation::UnblockIp {
        address: victim.ip().to_owned(),
    })
    .await;
}

/// Bad block/unblock bodies are `400 REQ_001`: not an IP, a bad prefix length, a missing or
/// mistyped reason, a negative or mistyped duration, a missing address.
pub async fn block_ip_validation<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let ip = fresh_ip();
    for body in [
        json!({"ip_address": "not-an-ip", "reason": "r"}),
        json!({"ip_address": "10.0.0.0/33", "reason": "r"}),
        json!({"ip_address": "fd00::/129", "reason": "r"}),
        json!({"ip_address": "10.0.0.256", "reason": "r"}),
        json!({"ip_address": ip}),
        json!({"ip_address": ip, "reason": 5}),
        json!({"ip_address": ip, "reason": "r", "duration_seconds": -5}),
        json!({"ip_address": ip, "reason": "r", "duration_seconds": "long"}),
        json!({"reason": "r"}),
        json!({"ip_address": 10, "reason": "r"}),
    ] {
        block(&c, &admin, &body).await.expect_error(400, "REQ_001");
    }
    for body in [
        json!({}),
        json!({"ip_address": "nope"}),
        json!({"ip_address": 1}),
    ] {
        c.post("/api/analytics/security/unblock-ip")
            .bearer(&admin.access)
            .json(&body)
            .send()
            .await
            .expect_error(400, "REQ_001");
    }
    // Nothing was blocked by the refused requests.
    c.with_ip(&ip)
        .get("/api/accounts/user")
        .send()
        .await
        .expect_error(401, "AUTH_001");
}
