//! Persistence across a restart: revocations (logout, refresh reuse, invalidation,
//! password change, disabling), blocked IPs and revoked API keys survive; valid tokens and
//! keys stay valid.

use serde_json::json;

use super::{BLOCK_PROPAGATION, POLL, block_body, until_blocked};
use crate::check::assert_token_pair;
use crate::fixtures::{self, Ctx, create_key, refresh, strong_password, whoami};
use crate::host::{Config, Launch, Operation};

/// Every kind of token revocation survives a restart (`AUTH_003` before and after), and
/// tokens that were valid — the untouched user's, the one issued after an invalidation, the
/// one from a password change — are still valid after it.
pub async fn token_revocations_survive_a_restart<L: Launch>(launch: &L) {
    let mut ctx = Ctx::start(launch, Config::standard().exclusive()).await;
    let c = ctx.client();
    let ttl = ctx.access_ttl();
    let admin = ctx.admin().await;

    let control = ctx.register(&c.fresh()).await;
    let logged_out = ctx.register(&c.fresh()).await;
    c.post("/api/accounts/logout")
        .bearer(&logged_out.access)
        .json(&json!({"refresh_token": logged_out.refresh}))
        .send()
        .await
        .expect(204);
    let reused = ctx.register(&c.fresh()).await;
    let body = refresh(&c, &reused.refresh).await.ok_json(200);
    let (reused_access, reused_refresh) = assert_token_pair(&body, ttl, true, "refresh");
    refresh(&c, &reused.refresh)
        .await
        .expect_error(401, "AUTH_003");
    let invalidated = ctx.register(&c.fresh()).await;
    c.post("/api/admin/invalidate-user-tokens")
        .bearer(&admin.access)
        .json(&json!({"user_id": invalidated.id}))
        .send()
        .await
        .expect(200);
    let after_invalidation = fixtures::login_again(&c.fresh(), &invalidated, ttl).await;
    let changed = ctx.register(&c.fresh()).await;
    let body = c
        .post("/api/accounts/password")
        .bearer(&changed.access)
        .json(&json!({"old_password": changed.password, "new_password": strong_password()}))
        .send()
        .await
        .ok_json(200);
    let (changed_access, _) = assert_token_pair(&body, ttl, true, "password change");
    let disabled = ctx.register(&c.fresh()).await;
    ctx.operate(Operation::DisableUser {
        username: disabled.username.clone(),
    })
    .await;

    let revoked = [
        ("logged-out access", logged_out.access.clone()),
        ("reused family's first access", reused.access.clone()),
        ("reused family's rotated access", reused_access.clone()),
        ("invalidated access", invalidated.access.clone()),
        ("access before password change", changed.access.clone()),
        ("disabled user's access", disabled.access.clone()),
    ];
    let revoked_refresh = [
        ("logged-out refresh", logged_out.refresh.clone()),
        ("reused family's rotated refresh", reused_refresh.clone()),
        ("invalidated refresh", invalidated.refresh.clone()),
        ("refresh before password change", changed.refresh.clone()),
        ("disabled user's refresh", disabled.refresh.clone()),
    ];
    let valid = [
        ("untouched user's access", control.access.clone()),
        (
            "access issued after the invalidation",
            after_invalidation.access.clone(),
        ),
        ("access from the password change", changed_access.clone()),
    ];

    for round in ["before", "after"] {
        if round == "after" {
            ctx.restart().await;
        }
        let c = ctx.client();
        for (what, token) in &valid {
            let r = whoami(&c, token).await;
            assert_eq!(
                r.status,
                200,
                "{round} restart: {what} must be valid: {}",
                r.snippet()
            );
        }
        for (what, token) in &revoked {
            let r = whoami(&c, token).await;
            assert!(
                r.status == 401 && r.error_code().as_deref() == Some("AUTH_003"),
                "{round} restart: {what}: expected 401 AUTH_003, got {} {}",
                r.status,
                r.snippet()
            );
        }
        for (what, token) in &revoked_refresh {
            let r = refresh(&c, token).await;
            assert!(
                r.status == 401 && r.error_code().as_deref() == Some("AUTH_003"),
                "{round} restart: {what}: expected 401 AUTH_003, got {} {}",
                r.status,
                r.snippet()
            );
        }
    }
    let c = ctx.client();
    fixtures::login_patiently(&c, &control.username, &control.password)
        .await
        .expect(200);
}

/// Blocked IPs and CIDR ranges (made over HTTP and with the CLI) and revoked API keys
/// survive a restart; a valid key stays valid.
pub async fn blocks_and_key_revocations_survive_a_restart<L: Launch>(launch: &L) {
    let mut ctx = Ctx::start(launch, Config::standard().exclusive()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let account = ctx.register(&c.fresh()).await;
    let kept = create_key(&c, &account.access, &["files:read"], json!({})).await;
    let revoked = create_key(&c, &account.access, &["files:read"], json!({})).await;
    c.delete(&format!("/api/api-keys/{}", revoked.id))
        .bearer(&account.access)
        .send()
        .await
        .expect(204);
    let by_api = c.fresh();
    c.post("/api/analytics/security/block-ip")
        .bearer(&admin.access)
        .json(&block_body(by_api.ip()))
        .send()
        .await
        .expect(201);
    let by_cli = c.with_ip("10.253.7.9");
    ctx.operate(Operation::BlockIp {
        address: "10.253.7.0/24".to_owned(),
        reason: "restart".to_owned(),
        duration_seconds: None,
    })
    .await;
    until_blocked(&by_api, true, BLOCK_PROPAGATION, "API block before restart").await;
    until_blocked(
        &by_cli,
        true,
        BLOCK_PROPAGATION + POLL,
        "CLI block before restart",
    )
    .await;

    ctx.restart().await;
    let c = ctx.client();
    let by_api = c.with_ip(by_api.ip());
    let by_cli = c.with_ip(by_cli.ip());
    until_blocked(&by_api, true, BLOCK_PROPAGATION, "API block after restart").await;
    until_blocked(&by_cli, true, BLOCK_PROPAGATION, "CLI block after restart").await;
    whoami(&c, &kept.key).await.expect(200);
    whoami(&c, &revoked.key).await.expect_error(401, "API_004");
    whoami(&c, &account.access).await.expect(200);
}
