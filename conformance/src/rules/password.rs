//! Password change, and the account states the operator sets with the CLI: disabled and
//! reset-required.

use serde_json::json;

use crate::check::assert_token_pair;
use crate::client::{Client, Resp};
use crate::fixtures::{
    self, Account, Ctx, login, login_patiently, refresh, strong_password, whoami,
};
use crate::host::{Config, Launch, Operation};

async fn change(c: &Client, token: Option<&str>, body: serde_json::Value) -> Resp {
    let req = c.post("/api/accounts/password");
    match token {
        Some(t) => req.bearer(t).json(&body).send().await,
        None => req.json(&body).send().await,
    }
}

/// [`change`], waiting out a progressive delay (`429 AUTH_006`, short `Retry-After`): the
/// contract does not say whether a wrong `old_password` counts as a failed login.
async fn change_patiently(c: &Client, body: serde_json::Value) -> Resp {
    for _ in 0..3 {
        let r = change(c, None, body.clone()).await;
        if r.status == 429 && r.error_code().as_deref() == Some("AUTH_006") {
            let wait = r.header_u64("retry-after");
            if wait <= 30 {
                tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 300)).await;
                continue;
            }
        }
        return r;
    }
    change(c, None, body).await
}

/// A password change answers 200 with exactly a new token pair; every token issued before
/// (both sessions' access and refresh tokens) is `AUTH_003`, the new pair works at once (even
/// within the same second), the old password no longer logs in and the new one does.
pub async fn password_change_revokes_earlier_tokens<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let other = fixtures::login_again(&c, &account, ctx.access_ttl()).await;
    let new_password = strong_password();
    let body = change(
        &c,
        Some(&account.access),
        json!({"old_password": account.password, "new_password": new_password}),
    )
    .await
    .ok_json(200);
    let (access, refresh_token) =
        assert_token_pair(&body, ctx.access_ttl(), true, "password change");
    whoami(&c, &access).await.expect(200);
    for old in [&account, &other] {
        whoami(&c, &old.access).await.expect_error(401, "AUTH_003");
        refresh(&c, &old.refresh)
            .await
            .expect_error(401, "AUTH_003");
    }
    refresh(&c, &refresh_token).await.expect(200);
    login(&c.fresh(), &account.username, &account.password)
        .await
        .expect_error(401, "AUTH_004");
    login_patiently(&c.fresh(), &account.username, &new_password)
        .await
        .expect(200);
}

/// A wrong `old_password` is `401 AUTH_004` and changes nothing.
pub async fn password_change_with_wrong_old_password_is_auth_004<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    change(
        &c,
        Some(&account.access),
        json!({"old_password": "Not-the-password-1", "new_password": strong_password()}),
    )
    .await
    .expect_error(401, "AUTH_004");
    whoami(&c, &account.access).await.expect(200);
    login_patiently(&c.fresh(), &account.username, &account.password)
        .await
        .expect(200);
}

/// The registration rules apply to the new password (`400 REQ_001`), and a refused change
/// revokes nothing; missing or mistyped fields are `400 REQ_001`.
pub async fn password_change_applies_the_password_rules<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    for new_password in [
        "short1!".to_owned(),
        "1234567890".to_owned(),
        account.username.clone(),
        "q".repeat(4097),
    ] {
        change(
            &c,
            Some(&account.access),
            json!({"old_password": account.password, "new_password": new_password}),
        )
        .await
        .expect_error(400, "REQ_001");
    }
    for body in [
        json!({}),
        json!({"old_password": account.password}),
        json!({"new_password": strong_password()}),
        json!({"old_password": 1, "new_password": strong_password()}),
    ] {
        change(&c, Some(&account.access), body)
            .await
            .expect_error(400, "REQ_001");
    }
    whoami(&c, &account.access).await.expect(200);
}

/// A password change does not revoke API keys.
pub async fn password_change_keeps_api_keys<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let key = fixtures::create_key(&c, &account.access, &["files:read"], json!({})).await;
    change(
        &c,
        Some(&account.access),
        json!({"old_password": account.password, "new_password": strong_password()}),
    )
    .await
    .expect(200);
    whoami(&c, &key.key).await.expect(200);
}

/// An API key on the password endpoint is `403 AUTH_010`. Without any credentials and
/// without `username` the change is refused: `401 AUTH_001` (the contract lists the endpoint
/// as needing a JWT; `400 REQ_001` for the missing `username` is also accepted — the
/// contract does not say which check comes first).
pub async fn password_change_needs_a_jwt<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let key =
        fixtures::create_key(&c, &account.access, &fixtures::ALL_PERMISSIONS, json!({})).await;
    let body = json!({"old_password": account.password, "new_password": strong_password()});
    change(&c, Some(&key.key), body.clone())
        .await
        .expect_error(403, "AUTH_010");
    let r = change(&c, None, body).await;
    let code = r.error_code();
    assert!(
        matches!(
            (r.status, code.as_deref()),
            (401, Some("AUTH_001")) | (400, Some("REQ_001"))
        ),
        "{}: expected 401 AUTH_001 (or 400 REQ_001), got {} {}",
        r.label,
        r.status,
        r.snippet()
    );
    login_patiently(&c.fresh(), &account.username, &account.password)
        .await
        .expect(200);
}

/// A disabled account gets `403 AUTH_008` only after a correct password; a wrong one is
/// still `401 AUTH_004`.
pub async fn disabled_account_is_auth_008_after_correct_password<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    ctx.operate(Operation::DisableUser {
        username: account.username.clone(),
    })
    .await;
    login(&c.fresh(), &account.username, "Not-the-password-1")
        .await
        .expect_error(401, "AUTH_004");
    login_patiently(&c.fresh(), &account.username, &account.password)
        .await
        .expect_error(403, "AUTH_008");
}

/// Disabling revokes the user's existing tokens (`401 AUTH_003`, access and refresh), and
/// they stay revoked after re-enabling; a fresh login then works.
pub async fn disabled_account_tokens_stay_revoked<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let other: Account = fixtures::login_again(&c, &account, ctx.access_ttl()).await;
    ctx.operate(Operation::DisableUser {
        username: account.username.clone(),
    })
    .await;
    whoami(&c, &account.access)
        .await
        .expect_error(401, "AUTH_003");
    refresh(&c, &other.refresh)
        .await
        .expect_error(401, "AUTH_003");
    ctx.operate(Operation::EnableUser {
        username: account.username.clone(),
    })
    .await;
    let fresh = fixtures::login_again(&c.fresh(), &account, ctx.access_ttl()).await;
    whoami(&c, &fresh.access).await.expect(200);
    whoami(&c, &account.access)
        .await
        .expect_error(401, "AUTH_003");
    whoami(&c, &other.access)
        .await
        .expect_error(401, "AUTH_003");
    refresh(&c, &account.refresh)
        .await
        .expect_error(401, "AUTH_003");
}

/// A user flagged to reset the password gets `403 AUTH_007` after a correct password (a
/// wrong one is `401 AUTH_004`); `POST /api/accounts/password` with `username` and no token
/// answers 200 with a token pair and clears the flag: the new password logs in, the old one
/// does not.
pub async fn reset_required_is_auth_007_until_changed_with_username<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    ctx.operate(Operation::RequireReset {
        username: account.username.clone(),
    })
    .await;
    login(&c.fresh(), &account.username, "Not-the-password-1")
        .await
        .expect_error(401, "AUTH_004");
    login_patiently(&c.fresh(), &account.username, &account.password)
        .await
        .expect_error(403, "AUTH_007");
    // A wrong old password with the username changes nothing.
    change_patiently(
        &c.fresh(),
        json!({"username": account.username, "old_password": "Not-the-password-2", "new_password": strong_password()}),
    )
    .await
    .expect_error(401, "AUTH_004");
    let new_password = strong_password();
    let body = change_patiently(
        &c.fresh(),
        json!({"username": account.username, "old_password": account.password, "new_password": new_password}),
    )
    .await
    .ok_json(200);
    let (access, _) = assert_token_pair(
        &body,
        ctx.access_ttl(),
        true,
        "password change with username",
    );
    whoami(&c, &access).await.expect(200);
    login_patiently(&c.fresh(), &account.username, &new_password)
        .await
        .expect(200);
    login(&c.fresh(), &account.username, &account.password)
        .await
        .expect_error(401, "AUTH_004");
}
