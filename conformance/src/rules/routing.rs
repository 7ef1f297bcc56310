//! Unknown routes (`404 REQ_003`) and wrong methods (`405 REQ_005`).

use super::Misses;
use crate::fixtures::Ctx;
use crate::host::{Config, Launch};

/// Unknown routes are `404 REQ_003` — also under authenticated prefixes and without
/// credentials (not 401), and with credentials.
pub async fn unknown_routes_are_req_003<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let paths = [
        "/nope",
        "/api",
        "/api/",
        "/api/nope",
        "/api/accounts/nope",
        "/api/admin/nope",
        "/api/analytics/security/nope",
        "/api/api-keys/usage/extra",
        "/api/files/1/extra",
        "/healthz",
        "/api/%F0%9F%98%80",
    ];
    let mut misses = Misses::default();
    for path in paths {
        for method in ["GET", "POST"] {
            let r = c.request(method, path).send().await;
            misses.check(&r, &[(404, "REQ_003")], &format!("{method} {path}"));
            let r = c.request(method, path).bearer(&account.access).send().await;
            misses.check(
                &r,
                &[(404, "REQ_003")],
                &format!("{method} {path} (with a JWT)"),
            );
        }
    }
    misses.assert_none();
}

/// A known route with the wrong method is `405 REQ_005`, with or without credentials.
pub async fn wrong_methods_are_req_005<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let admin = ctx.admin().await;
    let cases = [
        ("DELETE", "/api/accounts/login", &account.access),
        ("GET", "/api/accounts/register", &account.access),
        ("PUT", "/api/accounts/user", &account.access),
        ("GET", "/api/accounts/token/refresh", &account.access),
        ("GET", "/api/accounts/logout", &account.access),
        ("GET", "/api/accounts/password", &account.access),
        ("PATCH", "/api/api-keys", &account.access),
        ("POST", "/api/api-keys/usage", &account.access),
        ("GET", "/api/api-keys/some-id", &account.access),
        ("PUT", "/api/files", &account.access),
        ("GET", "/api/lists/process", &account.access),
        ("POST", "/health", &account.access),
        ("DELETE", "/health/auth", &account.access),
        ("POST", "/api/analytics/security/events", &admin.access),
        ("GET", "/api/analytics/security/block-ip", &admin.access),
        ("GET", "/api/analytics/security/unblock-ip", &admin.access),
        (
            "DELETE",
            "/api/analytics/security/blocked-ips",
            &admin.access,
        ),
        ("GET", "/api/admin/invalidate-user-tokens", &admin.access),
    ];
    let mut misses = Misses::default();
    for (method, path, token) in cases {
        let r = c.request(method, path).bearer(token).send().await;
        misses.check(
            &r,
            &[(405, "REQ_005")],
            &format!("{method} {path} (with a JWT)"),
        );
        let r = c.fresh().request(method, path).send().await;
        misses.check(&r, &[(405, "REQ_005")], &format!("{method} {path}"));
    }
    misses.assert_none();
}
