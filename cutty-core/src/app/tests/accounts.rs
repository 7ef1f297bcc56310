//! Registration, login (lockout, enumeration safety, flags, re-hash), refresh, logout and
//! password changes.

use super::*;
use crate::event::EventType;

#[test]
fn register_returns_the_contract_shape_and_records_an_event() {
    let h = H::new();
    let r = h.register("Alice");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 900);
    assert!(json["access_token"].is_string() && json["refresh_token"].is_string());
    assert_eq!(
        json["user"],
        serde_json::json!({
            "id": r.user.id, "username": "Alice", "email": "Alice@example.org",
            "is_active": true, "is_admin": false, "created_at": START_MS,
        })
    );
    assert!(
        !json.to_string().contains("pbkdf2"),
        "no hash in the response"
    );
    let stored = h.users.get(r.user.id).unwrap();
    assert!(stored.password_hash.starts_with("pbkdf2_sha256$1000$"));
    let events = h.events.of(EventType::Registration);
    assert_eq!(events.len(), 1);
    assert!(events[0].success);
    assert_eq!(events[0].user_id, Some(r.user.id));
    assert_eq!(events[0].ip_address, Some(ip()));
    // The access token works.
    assert_eq!(h.caller(&r.tokens.access_token).user().id, r.user.id);
}

#[test]
fn register_validates_every_field_and_refuses_duplicates_case_insensitively() {
    let h = H::new();
    let bad = block_on(h.cutty.register(
        RegisterRequest {
            username: "a b".into(),
            email: "nope".into(),
            password: "12345678".into(),
        },
        ip(),
    ))
    .unwrap_err();
    let Error::InvalidRequest(v) = bad else {
        panic!("{bad:?}")
    };
    let fields: Vec<_> = v.iter().map(|f| f.field.as_ref()).collect();
    assert_eq!(fields, ["username", "email", "password"]);
    assert_eq!(
        h.work.counts().0,
        0,
        "nothing hashed for an invalid request"
    );

    h.register("alice");
    for (username, email) in [("ALICE", "other@example.org"), ("bob", "Alice@EXAMPLE.org")] {
        let r = block_on(h.cutty.register(
            RegisterRequest {
                username: username.into(),
                email: email.into(),
                password: PASSWORD.into(),
            },
            ip(),
        ));
        assert_eq!(code(r), "AUTH_009");
    }
    let failures: Vec<_> = h
        .events
        .of(EventType::Registration)
        .into_iter()
        .filter(|e| !e.success)
        .collect();
    assert_eq!(failures.len(), 2);
}

#[test]
fn login_by_username_or_email_in_any_case() {
    let h = H::new();
    let reg = h.register("Alice");
    for login in [
        "Alice",
        "alice",
        "ALICE",
        "alice@example.org",
        "ALICE@EXAMPLE.ORG",
    ] {
        let r = h.login(login, PASSWORD).unwrap();
        assert_eq!(r.user.id, reg.user.id);
        assert_eq!(h.caller(&r.tokens.access_token).user().id, reg.user.id);
    }
    let ok = h
        .events
        .of(EventType::Login)
        .into_iter()
        .filter(|e| e.success)
        .count();
    assert_eq!(ok, 5);
}

#[test]
fn unknown_user_pays_a_dummy_verification_and_counts_as_a_failure() {
    let h = H::new();
    h.register("alice");
    let before = h.work.counts();
    assert_eq!(code(h.login("mallory", PASSWORD)), "AUTH_004");
    let after = h.work.counts();
    assert_eq!(after.1, before.1, "no real verification");
    assert_eq!(after.2, before.2 + 1, "one dummy verification");
    // The unknown name was counted: an immediate retry for it, from another IP, is delayed.
    let delayed = h.login_from("mallory", PASSWORD, ip2()).unwrap_err();
    assert_eq!(delayed.code().as_str(), "AUTH_006");
    assert_eq!(delayed.retry_after_secs(), Some(1));
    // Wrong password of a real user: one real verification, same answer. (The IP's
    // one-second delay after the first failure must pass first.)
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_006");
    assert_eq!(
        h.work.counts(),
        after,
        "a refused attempt does no password work"
    );
    h.secs(1);
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    let last = h.work.counts();
    assert_eq!((last.1, last.2), (after.1 + 1, after.2));
    let failed: Vec<_> = h
        .events
        .of(EventType::Login)
        .into_iter()
        .filter(|e| !e.success)
        .collect();
    let reasons: Vec<_> = failed.iter().map(|e| e.details["reason"].clone()).collect();
    assert_eq!(
        reasons,
        [
            "unknown_user",
            "locked_out",
            "locked_out",
            "invalid_password"
        ]
    );
    assert_eq!(failed[0].user_id, None);
    assert_eq!(failed[3].user_id, Some(h.users.get(1).unwrap().id));
}

#[test]
fn unusable_stored_hashes_pay_a_dummy_verification() {
    let h = H::new();
    let r = h.register("alice");
    for broken in [
        "pbkdf2_sha256$notanumber$salt$hash",
        "pbkdf2_sha256$999999999$salt$aGFzaA==",
        "!unusable",
        "",
        "nosuchalgo$1$2$3",
    ] {
        h.users.set_hash(r.user.id, broken);
        let before = h.work.counts();
        assert_eq!(code(h.login("alice", PASSWORD)), "AUTH_004", "{broken}");
        let after = h.work.counts();
        assert_eq!((after.1, after.2), (before.1, before.2 + 1), "{broken}");
        h.secs(60);
    }
}

#[test]
fn lockout_progression_delay_then_lock_then_reset() {
    let h = H::new();
    h.register("alice");
    for k in 1..=4u64 {
        assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
        let refused = h.login("alice", PASSWORD).unwrap_err();
        assert_eq!(refused.code().as_str(), "AUTH_006");
        assert_eq!(
            refused.retry_after_secs(),
            Some(k),
            "delay after failure {k}"
        );
        h.secs(k);
    }
    // The 5th failure within 15 minutes locks the username and the IP for an hour.
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    let before = h.work.counts();
    let locked = h.login("alice", PASSWORD).unwrap_err();
    assert_eq!(locked.code().as_str(), "AUTH_006");
    assert_eq!(locked.retry_after_secs(), Some(3600));
    assert_eq!(
        h.work.counts(),
        before,
        "a refused attempt does no password work"
    );
    // The IP is locked too, for any username.
    assert_eq!(code(h.login("bob", PASSWORD)), "AUTH_006");
    // The username is locked from another IP too.
    assert_eq!(code(h.login_from("alice", PASSWORD, ip2())), "AUTH_006");
    let lockouts = h.events.of(EventType::Lockout);
    assert_eq!(lockouts.len(), 1);
    assert_eq!(lockouts[0].details["username_locked"], true);
    assert_eq!(lockouts[0].details["ip_locked"], true);

    h.secs(3599);
    assert_eq!(code(h.login("alice", PASSWORD)), "AUTH_006");
    h.secs(1);
    h.login("alice", PASSWORD).unwrap();
    // The success reset the counts: the next failure is a first failure again.
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    assert_eq!(
        h.login("alice", PASSWORD).unwrap_err().retry_after_secs(),
        Some(1)
    );
}

#[test]
fn the_ip_is_counted_across_usernames() {
    let h = H::new();
    for (i, name) in ["u1", "u2", "u3", "u4", "u5"].iter().enumerate() {
        assert_eq!(code(h.login(name, "whatever1")), "AUTH_004");
        h.secs(i as u64 + 1);
    }
    let locked = h.login("u6", "whatever1").unwrap_err();
    assert_eq!(locked.code().as_str(), "AUTH_006");
    assert!(locked.retry_after_secs().unwrap() > 3000);
    // Another IP is not affected.
    assert_eq!(code(h.login_from("u6", "whatever1", ip2())), "AUTH_004");
}

#[test]
fn a_login_typed_as_email_resets_the_username_count_too() {
    let h = H::new();
    h.register("alice");
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    h.secs(1);
    h.login("alice@example.org", PASSWORD).unwrap();
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    assert_eq!(
        h.login("alice", PASSWORD).unwrap_err().retry_after_secs(),
        Some(1)
    );
}

#[test]
fn disabled_and_reset_required_are_revealed_only_after_a_correct_password() {
    let h = H::new();
    h.register("alice");
    h.register("bob");
    let admin = h.cutty.admin();
    block_on(admin.set_active("alice", false)).unwrap();
    block_on(admin.require_reset("bob")).unwrap();
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    h.secs(5);
    assert_eq!(code(h.login("alice", PASSWORD)), "AUTH_008");
    h.secs(5);
    assert_eq!(
        code(h.login_from("bob", "wrong password", ip2())),
        "AUTH_004"
    );
    h.secs(5);
    assert_eq!(code(h.login_from("bob", PASSWORD, ip2())), "AUTH_007");
    let reasons: Vec<_> = h
        .events
        .of(EventType::Login)
        .iter()
        .map(|e| e.details["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        reasons,
        [
            "invalid_password",
            "account_disabled",
            "invalid_password",
            "password_reset_required"
        ]
    );
}

#[test]
fn outdated_hashes_are_rehashed_on_a_successful_login_only() {
    let h = H::new();
    let r = h.register("alice");
    let old = PasswordHasher::default()
        .with_iterations(2_000)
        .unwrap()
        .hash(PASSWORD);
    h.users.set_hash(r.user.id, &old);
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    assert_eq!(h.users.get(r.user.id).unwrap().password_hash, old);
    h.secs(1);
    h.login("alice", PASSWORD).unwrap();
    let new = h.users.get(r.user.id).unwrap().password_hash;
    assert!(new.starts_with("pbkdf2_sha256$1000$"), "{new}");
    // And the new hash verifies.
    h.login("alice", PASSWORD).unwrap();
    // Django's pbkdf2_sha1 is migrated to the configured algorithm too.
    let sha1 = PasswordHasher::default()
        .with_algorithm(crate::password::Algorithm::Pbkdf2Sha1)
        .unwrap()
        .with_iterations(ITERATIONS)
        .unwrap()
        .hash(PASSWORD);
    assert!(sha1.starts_with("pbkdf2_sha1$"));
    h.users.set_hash(r.user.id, &sha1);
    h.login("alice", PASSWORD).unwrap();
    let new = h.users.get(r.user.id).unwrap().password_hash;
    assert!(new.starts_with("pbkdf2_sha256$1000$"), "{new}");
    assert_eq!(h.cutty.diagnostics().rehash_failures, 0);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let h = H::new();
    let r = h.register("alice");
    h.secs(10);
    let next = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: r.tokens.refresh_token.clone(),
        },
        ip(),
    ))
    .unwrap();
    assert_ne!(next.access_token, r.tokens.access_token);
    h.caller(&next.access_token);
    let reuse = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: r.tokens.refresh_token.clone(),
        },
        ip(),
    ));
    assert_eq!(code(reuse), "AUTH_003");
    // The whole family is dead: the newest access and refresh tokens too.
    assert_eq!(code(h.auth(&next.access_token)), "AUTH_003");
    let again = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: next.refresh_token,
        },
        ip(),
    ));
    assert_eq!(code(again), "AUTH_003");
    let reuse_events = h.events.of(EventType::RefreshReuse);
    assert_eq!(reuse_events.len(), 1);
    assert_eq!(reuse_events[0].user_id, Some(r.user.id));
    assert!(!reuse_events[0].success);
    // An access token is not a refresh token.
    let wrong = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: r.tokens.access_token,
        },
        ip(),
    ));
    assert_eq!(code(wrong), "AUTH_001");
}

#[test]
fn refresh_fails_for_a_deleted_or_disabled_user() {
    let h = H::new();
    let alice = h.register("alice");
    let bob = h.register("bob");
    h.users.delete(alice.user.id);
    let r = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: alice.tokens.refresh_token,
        },
        ip(),
    ));
    assert_eq!(code(r), "AUTH_001");
    assert_eq!(code(h.auth(&alice.tokens.access_token)), "AUTH_001");
    // Disabled directly in the store (not through the CLI): refused, and the session is
    // revoked so that re-enabling does not revive it.
    block_on(h.users.set_active(bob.user.id, false)).unwrap();
    let r = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: bob.tokens.refresh_token.clone(),
        },
        ip(),
    ));
    assert_eq!(code(r), "AUTH_003");
    block_on(h.users.set_active(bob.user.id, true)).unwrap();
    let r = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: bob.tokens.refresh_token,
        },
        ip(),
    ));
    assert_eq!(code(r), "AUTH_003");
}

#[test]
fn logout_revokes_the_session_and_only_the_callers_refresh_tokens() {
    let h = H::new();
    let (alice, a1) = h.user("alice");
    let a2 = h.login("alice", PASSWORD).unwrap();
    let (_, b) = h.user("bob");
    // Another user's refresh token: refused, nothing revoked.
    let r = block_on(h.cutty.logout(
        &alice,
        LogoutRequest {
            refresh_token: Some(b.tokens.refresh_token.clone()),
        },
        ip(),
    ));
    assert_eq!(code(r), "AUTH_010");
    h.caller(&a1.tokens.access_token);
    // Logging out session 1 and naming session 2's refresh token revokes both.
    block_on(h.cutty.logout(
        &alice,
        LogoutRequest {
            refresh_token: Some(a2.tokens.refresh_token.clone()),
        },
        ip(),
    ))
    .unwrap();
    assert_eq!(code(h.auth(&a1.tokens.access_token)), "AUTH_003");
    assert_eq!(code(h.auth(&a2.tokens.access_token)), "AUTH_003");
    for rt in [a1.tokens.refresh_token, a2.tokens.refresh_token] {
        let r = block_on(h.cutty.refresh(RefreshRequest { refresh_token: rt }, ip()));
        assert_eq!(code(r), "AUTH_003");
    }
    // Bob is untouched.
    h.caller(&b.tokens.access_token);
    assert_eq!(h.events.of(EventType::Logout).len(), 1);
}

#[test]
fn change_password_with_a_jwt() {
    let h = H::new();
    let (alice, reg) = h.user("alice");
    let key = block_on(h.cutty.create_api_key(
        &alice,
        CreateApiKeyRequest {
            name: "ci".into(),
            permissions: vec!["files:read".into()],
            expires_at: None,
            rate_limit_override: None,
        },
        ip(),
    ))
    .unwrap();
    let req = |old: &str, new: &str| ChangePasswordRequest {
        old_password: old.into(),
        new_password: new.into(),
        username: None,
    };
    // New password rules first, named as `new_password`.
    let bad = block_on(
        h.cutty
            .change_password(Some(&alice), req(PASSWORD, "123456789"), ip()),
    )
    .unwrap_err();
    let Error::InvalidRequest(v) = &bad else {
        panic!("{bad:?}")
    };
    assert_eq!(v[0].field, "new_password");
    let same_as_name = block_on(h.cutty.change_password(
        Some(&alice),
        req(PASSWORD, "ALICE"),
        ip(),
    ));
    assert_eq!(code(same_as_name), "REQ_001");
    // Wrong old password: AUTH_004, counted for the lockout.
    let wrong = block_on(h.cutty.change_password(
        Some(&alice),
        req("wrong password", "a new password"),
        ip(),
    ));
    assert_eq!(code(wrong), "AUTH_004");
    let delayed = block_on(h.cutty.change_password(
        Some(&alice),
        req(PASSWORD, "a new password"),
        ip(),
    ));
    assert_eq!(code(delayed), "AUTH_006");
    h.secs(1);
    // An API key may not change the password.
    let key_caller = h.caller(key.key.expose_secret());
    let by_key = block_on(h.cutty.change_password(
        Some(&key_caller),
        req(PASSWORD, "a new password"),
        ip(),
    ));
    assert_eq!(code(by_key), "AUTH_010");
    // Success: a new pair, every earlier token revoked, the API key untouched.
    let pair = block_on(h.cutty.change_password(
        Some(&alice),
        req(PASSWORD, "a new password"),
        ip(),
    ))
    .unwrap();
    h.caller(&pair.access_token);
    assert_eq!(code(h.auth(&reg.tokens.access_token)), "AUTH_003");
    let old_refresh = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: reg.tokens.refresh_token,
        },
        ip(),
    ));
    assert_eq!(code(old_refresh), "AUTH_003");
    h.caller(key.key.expose_secret());
    assert_eq!(code(h.login("alice", PASSWORD)), "AUTH_004");
    h.secs(1);
    h.login("alice", "a new password").unwrap();
    let changed = h.events.of(EventType::PasswordChanged);
    assert_eq!(changed.iter().filter(|e| e.success).count(), 1);
    assert_eq!(changed.iter().filter(|e| !e.success).count(), 2);
}

#[test]
fn change_password_without_a_jwt_only_when_a_reset_is_required() {
    let h = H::new();
    let reg = h.register("alice");
    h.register("bob");
    let req = |user: Option<&str>, old: &str| ChangePasswordRequest {
        old_password: old.into(),
        new_password: "a brand new password".into(),
        username: user.map(str::to_owned),
    };
    // No credentials and no username.
    assert_eq!(
        code(block_on(h.cutty.change_password(
            None,
            req(None, PASSWORD),
            ip()
        ))),
        "AUTH_001"
    );
    // Bob does not need a reset: a correct password still does not let him skip the JWT.
    assert_eq!(
        code(block_on(h.cutty.change_password(
            None,
            req(Some("bob"), PASSWORD),
            ip()
        ))),
        "AUTH_001"
    );
    block_on(h.cutty.admin().require_reset("alice")).unwrap();
    assert_eq!(code(h.login_from("alice", PASSWORD, ip2())), "AUTH_007");
    // Wrong old password and unknown users: AUTH_004.
    assert_eq!(
        code(block_on(h.cutty.change_password(
            None,
            req(Some("alice"), "wrong password"),
            ip2()
        ))),
        "AUTH_004"
    );
    let dummies = h.work.counts().2;
    assert_eq!(
        code(block_on(h.cutty.change_password(
            None,
            req(Some("nobody"), PASSWORD),
            "192.0.2.1".parse().unwrap()
        ))),
        "AUTH_004"
    );
    assert_eq!(h.work.counts().2, dummies + 1);
    h.secs(2);
    let pair = block_on(
        h.cutty
            .change_password(None, req(Some("ALICE"), PASSWORD), ip2()),
    )
    .unwrap();
    assert_eq!(h.caller(&pair.access_token).user().id, reg.user.id);
    assert!(!h.users.get(reg.user.id).unwrap().password_reset_required);
    assert_eq!(code(h.auth(&reg.tokens.access_token)), "AUTH_003");
    h.login("alice", "a brand new password").unwrap();
}

#[test]
fn a_failing_event_store_never_fails_a_request() {
    let h = H::new();
    h.events.failing.set(true);
    let r = h.register("alice");
    h.login("alice", PASSWORD).unwrap();
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    let caller = h.caller(&r.tokens.access_token);
    block_on(h.cutty.logout(&caller, LogoutRequest::default(), ip())).unwrap();
    assert!(h.events.all().is_empty());
    assert_eq!(h.cutty.diagnostics().event_write_failures, 4);
}

#[test]
fn a_failing_user_store_is_a_store_error_not_a_credential_answer() {
    let h = H::new();
    h.register("alice");
    h.users.failing.set(true);
    assert_eq!(code(h.login("alice", PASSWORD)), "DB_001");
    h.users.failing.set(false);
    // It was not counted as a failure.
    h.login("alice", PASSWORD).unwrap();
}
