//! `/health` and `/health/auth`, and that neither they nor the documentation count against
//! any limit.

use crate::check::{assert_fields, string};
use crate::client::Client;
use crate::fixtures::Ctx;
use crate::host::{Config, Host, Launch};

/// `GET /health` is `200 {"status":"ok","version":…}` (the version a non-empty string).
pub async fn health_is_ok_with_version<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let body = ctx.client().get("/health").send().await.ok_json(200);
    assert_fields(&body, &["status", "version"], "/health");
    assert_eq!(body["status"], "ok", "/health status");
    assert!(
        !string(&body["version"], "/health version").is_empty(),
        "/health version is empty"
    );
}

/// `GET /health/auth` is 200 with `status` `ok` and `services.database`, `cache` and `jwt`,
/// each with a `status`; the database is `ok` with a numeric `latency_ms`; the cache is
/// `not_configured` without Redis and `ok` (with `latency_ms`) with it; jwt is `ok`.
pub async fn health_auth_reports_services<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let body = ctx.client().get("/health/auth").send().await.ok_json(200);
    assert_fields(&body, &["status", "services"], "/health/auth");
    assert_eq!(
        body["status"], "ok",
        "/health/auth status with healthy services: {body}"
    );
    let services = &body["services"];
    assert_fields(
        services,
        &["database", "cache", "jwt"],
        "/health/auth services",
    );
    let status = |name: &str| -> String {
        let s = &services[name];
        assert!(s.is_object(), "services.{name} is not an object: {body}");
        string(&s["status"], &format!("services.{name}.status")).to_owned()
    };
    let latency = |name: &str| {
        let l = &services[name]["latency_ms"];
        assert!(
            l.as_f64().is_some_and(|v| v >= 0.0),
            "services.{name}.latency_ms must be a non-negative number: {body}"
        );
    };
    assert_eq!(status("database"), "ok", "{body}");
    latency("database");
    if ctx.host().cache_configured() {
        assert_eq!(status("cache"), "ok", "{body}");
        latency("cache");
    } else {
        assert_eq!(status("cache"), "not_configured", "{body}");
    }
    assert_eq!(status("jwt"), "ok", "{body}");
}

async fn spam_unlimited_routes(c: &Client) {
    for _ in 0..10 {
        for path in ["/health", "/health/auth", "/docs", "/openapi.json"] {
            let r = c.get(path).send().await;
            assert!(
                r.status < 400,
                "{path} must not be rate-limited: {} {}",
                r.status,
                r.snippet()
            );
        }
    }
}

/// `/health`, `/health/auth`, `/docs` and `/openapi.json` are not rate-limited and count
/// against no limit: 40 of them from one IP leave its IP limit (3) and the global limit (5)
/// untouched.
pub async fn health_and_docs_count_against_no_limit<L: Launch>(launch: &L) {
    let config = Config::standard()
        .set("CUTTY_RATE_LIMIT_IP", 3)
        .set("CUTTY_RATE_LIMIT_GLOBAL", 5)
        .exclusive();
    let ctx = Ctx::start(launch, config).await;
    let c = ctx.client();
    spam_unlimited_routes(&c).await;
    let r = c.get("/api/accounts/user").send().await;
    r.expect_error(401, "AUTH_001");
    let (limit, remaining, _) = r.expect_rate_limit();
    assert_eq!(
        (limit, remaining),
        (3, 2),
        "first /api request after 40 unlimited ones: IP limit 3, 2 remaining"
    );
    // Four more anonymous requests from other IPs: the global limit (5) admits exactly
    // these, so none of the 40 was counted globally either.
    for _ in 0..4 {
        c.fresh()
            .get("/api/accounts/user")
            .send()
            .await
            .expect_error(401, "AUTH_001");
    }
    c.fresh()
        .get("/api/accounts/user")
        .send()
        .await
        .expect_error(429, "RATE_004");
    spam_unlimited_routes(&c.fresh()).await;
}
