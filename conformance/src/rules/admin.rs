//! Admin-only routes and `POST /api/admin/invalidate-user-tokens`.

use serde_json::{Value, json};

use crate::client::{Client, Resp};
use crate::fixtures::{self, Account, Ctx, refresh, whoami};
use crate::host::{Config, Launch};

/// Every admin route with a body that would be valid for an admin.
fn admin_requests(target_user: i64) -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/api/analytics/security/events", None),
        ("GET", "/api/analytics/security/metrics", None),
        (
            "POST",
            "/api/analytics/security/block-ip",
            Some(json!({"ip_address": "10.252.0.1", "reason": "r"})),
        ),
        (
            "POST",
            "/api/analytics/security/unblock-ip",
            Some(json!({"ip_address": "10.252.0.1"})),
        ),
        ("GET", "/api/analytics/security/blocked-ips", None),
        (
            "POST",
            "/api/admin/invalidate-user-tokens",
            Some(json!({"user_id": target_user})),
        ),
    ]
}

async fn send(
    c: &Client,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    let mut req = c.request(method, path);
    if let Some(t) = token {
        req = req.bearer(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await
}

/// Admin routes refuse normal users with `403 AUTH_010`, anonymous callers with
/// `401 AUTH_001`, and API keys — even an admin's — with `403 AUTH_010` (a key never holds
/// the admin role). Nothing is done by the refused calls.
pub async fn admin_routes_refuse_non_admins<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let user = ctx.register(&c).await;
    let admin = ctx.admin().await;
    let admin_key =
        fixtures::create_key(&c, &admin.access, &fixtures::ALL_PERMISSIONS, json!({})).await;
    for (method, path, body) in admin_requests(user.id) {
        send(&c, method, path, Some(&user.access), body.as_ref())
            .await
            .expect_error(403, "AUTH_010");
        send(&c, method, path, Some(&admin_key.key), body.as_ref())
            .await
            .expect_error(403, "AUTH_010");
        send(&c.fresh(), method, path, None, body.as_ref())
            .await
            .expect_error(401, "AUTH_001");
    }
    whoami(&c, &user.access).await.expect(200);
    c.with_ip("10.252.0.1")
        .get("/api/accounts/user")
        .send()
        .await
        .expect_error(401, "AUTH_001");
    // The same calls work for the admin.
    for (method, path, body) in admin_requests(user.id) {
        let r = send(&c, method, path, Some(&admin.access), body.as_ref()).await;
        assert!(
            r.status < 300,
            "{}: admin refused: {} {}",
            r.label,
            r.status,
            r.snippet()
        );
    }
}

/// Invalidating a user's tokens (200) makes every access and refresh token of that user
/// `AUTH_003`; tokens issued afterwards — even within the same second — work; other users
/// are untouched.
pub async fn invalidate_user_tokens_revokes_earlier_tokens_only<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let account = ctx.register(&c).await;
    let bystander = ctx.register(&c.fresh()).await;
    let mut sessions: Vec<Account> = vec![account.clone()];
    for round in 0..3 {
        sessions.push(fixtures::login_again(&c, &account, ctx.access_ttl()).await);
        c.post("/api/admin/invalidate-user-tokens")
            .bearer(&admin.access)
            .json(&json!({"user_id": account.id}))
            .send()
            .await
            .expect(200);
        for s in &sessions {
            whoami(&c, &s.access).await.expect_error(401, "AUTH_003");
            refresh(&c, &s.refresh).await.expect_error(401, "AUTH_003");
        }
        // Issued right after the invalidation, most likely within the same second.
        let fresh = fixtures::login_again(&c, &account, ctx.access_ttl()).await;
        let r = whoami(&c, &fresh.access).await;
        assert_eq!(
            r.status,
            200,
            "round {round}: a token issued after the invalidation must work: {}",
            r.snippet()
        );
        let body = refresh(&c, &fresh.refresh).await.ok_json(200);
        whoami(&c, body["access_token"].as_str().unwrap_or_default())
            .await
            .expect(200);
        sessions.push(fresh);
    }
    whoami(&c, &bystander.access).await.expect(200);
}

/// Invalidating a user's tokens does not touch their API keys.
pub async fn invalidate_user_tokens_keeps_api_keys<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let account = ctx.register(&c).await;
    let key = fixtures::create_key(&c, &account.access, &["files:read"], json!({})).await;
    c.post("/api/admin/invalidate-user-tokens")
        .bearer(&admin.access)
        .json(&json!({"user_id": account.id}))
        .send()
        .await
        .expect(200);
    whoami(&c, &account.access)
        .await
        .expect_error(401, "AUTH_003");
    whoami(&c, &key.key).await.expect(200);
}

/// An unknown user id is `404 AUTH_005`; a missing or non-integer `user_id` is
/// `400 REQ_001`.
pub async fn invalidate_user_tokens_validation<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let send = |body: Value| {
        let c = c.clone();
        let token = admin.access.clone();
        async move {
            c.post("/api/admin/invalidate-user-tokens")
                .bearer(&token)
                .json(&body)
                .send()
                .await
        }
    };
    for id in [999_999_999_i64, i64::MAX] {
        send(json!({"user_id": id}))
            .await
            .expect_error(404, "AUTH_005");
    }
    for body in [
        json!({}),
        json!({"user_id": "abc"}),
        json!({"user_id": 1.5}),
        json!({"user_id": null}),
        json!({"user_id": [1]}),
        json!({"user_id": 99_999_999_999_999_999_999.0}),
    ] {
        send(body).await.expect_error(400, "REQ_001");
    }
    whoami(&c, &admin.access).await.expect(200);
}
