//! Client IP: the socket peer unless it is a trusted proxy; then `CF-Connecting-IP` (behind
//! Cloudflare), `X-Forwarded-For` (right-most untrusted hop) or `X-Real-IP`. Observed through
//! the IP rate limit (limit 2): which requests share a counter shows which IP the host saw.

use crate::client::{Client, Resp, fresh_ip};
use crate::fixtures::Ctx;
use crate::host::{Config, Launch};

/// An anonymous `/api` request with exactly these forwarding headers (and no automatic
/// `X-Forwarded-For`).
async fn probe(c: &Client, headers: &[(&str, String)]) -> Resp {
    let mut req = c.get("/api/accounts/user").without_forwarded_for();
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send().await
}

fn is_ip_limited(r: &Resp) -> bool {
    r.status == 429 && r.error_code().as_deref() == Some("RATE_001")
}

/// Sends three probes; the host must see the same client IP for all three (3rd refused with
/// `429 RATE_001` under a limit of 2).
async fn assert_same_ip(c: &Client, probes: [Vec<(&str, String)>; 3], what: &str) {
    probe(c, &probes[0]).await.expect_error(401, "AUTH_001");
    probe(c, &probes[1]).await.expect_error(401, "AUTH_001");
    let r = probe(c, &probes[2]).await;
    assert!(
        is_ip_limited(&r),
        "{what}: the third request should count against the same client IP (429 RATE_001), got {} {}",
        r.status,
        r.snippet()
    );
}

/// Sends three probes; the host must see three different client IPs (none refused).
async fn assert_distinct_ips(c: &Client, probes: [Vec<(&str, String)>; 3], what: &str) {
    for (i, p) in probes.iter().enumerate() {
        let r = probe(c, p).await;
        assert!(
            r.status == 401,
            "{what}: request {} should count against its own client IP, got {} {}",
            i + 1,
            r.status,
            r.snippet()
        );
    }
}

fn limited(trusted: &str) -> Config {
    Config::standard()
        .set("CUTTY_TRUSTED_PROXIES", trusted)
        .set("CUTTY_RATE_LIMIT_IP", 2)
}

/// From an untrusted peer, spoofed `X-Forwarded-For`, `X-Real-IP` and `CF-Connecting-IP`
/// (even with `CUTTY_BEHIND_CLOUDFLARE=true`) are ignored: every request counts against the
/// peer's own IP.
pub async fn spoofed_headers_from_untrusted_peers_are_ignored<L: Launch>(launch: &L) {
    let config = limited("")
        .set("CUTTY_BEHIND_CLOUDFLARE", "true")
        .exclusive();
    let ctx = Ctx::start(launch, config).await;
    let c = ctx.client();
    assert_same_ip(
        &c,
        [
            vec![("x-forwarded-for", fresh_ip())],
            vec![("x-real-ip", fresh_ip())],
            vec![
                ("cf-connecting-ip", fresh_ip()),
                ("x-forwarded-for", fresh_ip()),
            ],
        ],
        "untrusted peer",
    )
    .await;
}

/// From a trusted proxy, `X-Forwarded-For` is honoured: distinct addresses are distinct
/// clients, the same address shares a counter, and the right-most untrusted hop wins over
/// spoofed hops to its left and trusted hops to its right.
pub async fn forwarded_for_from_a_trusted_proxy_is_honoured<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, limited("127.0.0.1/32,::1/128")).await;
    let c = ctx.client();
    assert_distinct_ips(
        &c,
        [
            vec![("x-forwarded-for", fresh_ip())],
            vec![("x-forwarded-for", fresh_ip())],
            vec![("x-forwarded-for", fresh_ip())],
        ],
        "distinct X-Forwarded-For",
    )
    .await;
    let client_ip = fresh_ip();
    assert_same_ip(
        &c,
        [
            vec![("x-forwarded-for", format!("{}, {client_ip}", fresh_ip()))],
            vec![(
                "x-forwarded-for",
                format!("{}, {}, {client_ip}", fresh_ip(), fresh_ip()),
            )],
            vec![("x-forwarded-for", format!("{client_ip}, 127.0.0.1"))],
        ],
        "right-most untrusted X-Forwarded-For hop",
    )
    .await;
}

/// From a trusted proxy without `X-Forwarded-For`, `X-Real-IP` is honoured.
pub async fn real_ip_from_a_trusted_proxy_is_honoured<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, limited("127.0.0.1/32,::1/128")).await;
    let c = ctx.client();
    assert_distinct_ips(
        &c,
        [
            vec![("x-real-ip", fresh_ip())],
            vec![("x-real-ip", fresh_ip())],
            vec![("x-real-ip", fresh_ip())],
        ],
        "distinct X-Real-IP",
    )
    .await;
    let ip = fresh_ip();
    assert_same_ip(
        &c,
        [
            vec![("x-real-ip", ip.clone())],
            vec![("x-real-ip", ip.clone())],
            vec![("x-real-ip", ip)],
        ],
        "same X-Real-IP",
    )
    .await;
}

/// Behind Cloudflare (`CUTTY_BEHIND_CLOUDFLARE=true`), `CF-Connecting-IP` from a trusted proxy
/// wins over `X-Forwarded-For`.
pub async fn cf_connecting_ip_wins_behind_cloudflare<L: Launch>(launch: &L) {
    let ctx = Ctx::start(
        launch,
        limited("127.0.0.1/32,::1/128").set("CUTTY_BEHIND_CLOUDFLARE", "true"),
    )
    .await;
    let c = ctx.client();
    let ip = fresh_ip();
    assert_same_ip(
        &c,
        [
            vec![
                ("cf-connecting-ip", ip.clone()),
                ("x-forwarded-for", fresh_ip()),
            ],
            vec![
                ("cf-connecting-ip", ip.clone()),
                ("x-forwarded-for", fresh_ip()),
            ],
            vec![("cf-connecting-ip", ip), ("x-forwarded-for", fresh_ip())],
        ],
        "CF-Connecting-IP over X-Forwarded-For",
    )
    .await;
}

/// Not behind Cloudflare (the default), `CF-Connecting-IP` is ignored even from a trusted
/// proxy: `X-Forwarded-For` decides.
pub async fn cf_connecting_ip_is_ignored_unless_behind_cloudflare<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, limited("127.0.0.1/32,::1/128")).await;
    let c = ctx.client();
    let ip = fresh_ip();
    assert_distinct_ips(
        &c,
        [
            vec![
                ("cf-connecting-ip", ip.clone()),
                ("x-forwarded-for", fresh_ip()),
            ],
            vec![
                ("cf-connecting-ip", ip.clone()),
                ("x-forwarded-for", fresh_ip()),
            ],
            vec![("cf-connecting-ip", ip), ("x-forwarded-for", fresh_ip())],
        ],
        "CF-Connecting-IP without CUTTY_BEHIND_CLOUDFLARE",
    )
    .await;
}
