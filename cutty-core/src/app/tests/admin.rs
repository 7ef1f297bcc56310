//! Admin endpoints and the operator interface.

use super::*;
use crate::event::{EventQuery, EventType};

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn admin_endpoints_refuse_non_admins() {
    let h = H::new();
    let (alice, _) = h.user("alice");
    let c = &h.cutty;
    assert_eq!(code(block_on(c.query_events(&alice, &[]))), "AUTH_010");
    assert_eq!(code(block_on(c.security_metrics(&alice))), "AUTH_010");
    assert_eq!(code(block_on(c.blocked_ips(&alice))), "AUTH_010");
    let block = BlockIpRequest {
        ip_address: "192.0.2.1".into(),
        reason: "x".into(),
        duration_seconds: None,
    };
    assert_eq!(code(block_on(c.block_ip(&alice, block, ip()))), "AUTH_010");
    let unblock = UnblockIpRequest {
        ip_address: "192.0.2.1".into(),
    };
    assert_eq!(
        code(block_on(c.unblock_ip(&alice, unblock, ip()))),
        "AUTH_010"
    );
    let inv = InvalidateUserTokensRequest { user_id: 1 };
    assert_eq!(
        code(block_on(c.invalidate_user_tokens(&alice, inv, ip()))),
        "AUTH_010"
    );
    // Nothing was blocked by the refused call.
    block_on(c.check_blocked("192.0.2.1".parse().unwrap())).unwrap();
}

#[test]
fn invalidate_user_tokens() {
    let h = H::new();
    let admin = h.admin();
    let (alice, reg) = h.user("alice");
    let key = block_on(h.cutty.create_api_key(
        &alice,
        CreateApiKeyRequest {
            name: "k".into(),
            permissions: vec!["files:read".into()],
            expires_at: None,
            rate_limit_override: None,
        },
        ip(),
    ))
    .unwrap();
    let unknown = InvalidateUserTokensRequest { user_id: 9_999 };
    assert_eq!(
        code(block_on(h.cutty.invalidate_user_tokens(
            &admin,
            unknown,
            ip()
        ))),
        "AUTH_005"
    );
    let req = InvalidateUserTokensRequest {
        user_id: reg.user.id,
    };
    h.tick();
    block_on(h.cutty.invalidate_user_tokens(&admin, req, ip())).unwrap();
    assert_eq!(code(h.auth(&reg.tokens.access_token)), "AUTH_003");
    let r = block_on(h.cutty.refresh(
        RefreshRequest {
            refresh_token: reg.tokens.refresh_token,
        },
        ip(),
    ));
    assert_eq!(code(r), "AUTH_003");
    // API keys are not touched; a new login in the same millisecond works.
    h.caller(key.key.expose_secret());
    let fresh = h.login("alice", PASSWORD).unwrap();
    h.caller(&fresh.tokens.access_token);
    let ev = h.events.of(EventType::TokensInvalidated);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].user_id, Some(reg.user.id));
    assert_eq!(ev[0].details["by"], admin.user().id);
}

#[test]
fn events_query_and_metrics() {
    let h = H::new();
    let admin = h.admin();
    h.register("alice");
    assert_eq!(code(h.login("alice", "wrong password")), "AUTH_004");
    let page = block_on(h.cutty.query_events(
        &admin,
        &pairs(&[("event_type", "login"), ("success", "false")]),
    ))
    .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].details["username"], "alice");
    assert_eq!(page.next_cursor, None);
    let page = block_on(h.cutty.query_events(&admin, &pairs(&[("limit", "1")]))).unwrap();
    assert_eq!(page.events.len(), 1);
    assert!(page.next_cursor.is_some());
    for bad in [
        &[("event_type", "nope")][..],
        &[("user_id", "x")],
        &[("ip_address", "999.1.1.1")],
        &[("limit", "0")],
        &[("success", "yes")],
    ] {
        assert_eq!(
            code(block_on(h.cutty.query_events(&admin, &pairs(bad)))),
            "REQ_001"
        );
    }
    block_on(h.cutty.admin().block("192.0.2.0/24", "x", None)).unwrap();
    block_on(h.cutty.admin().block("192.0.3.0/24", "x", Some(1))).unwrap();
    h.secs(2);
    let m = block_on(h.cutty.security_metrics(&admin)).unwrap();
    assert_eq!(m.blocked_ips, 1);
    let login = m.last_hour[&EventType::Login];
    assert_eq!((login.success, login.failure), (1, 1));
    assert_eq!(m.last_day[&EventType::Registration].success, 2);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["last_hour"]["login"]["failure"], 1);
    assert_eq!(json["blocked_ips"], 1);
}

#[test]
fn block_unblock_list() {
    let h = H::new();
    let admin = h.admin();
    let block = |addr: &str, reason: &str, d: Option<u64>| {
        block_on(h.cutty.block_ip(
            &admin,
            BlockIpRequest {
                ip_address: addr.into(),
                reason: reason.into(),
                duration_seconds: d,
            },
            ip(),
        ))
    };
    block("2001:db8::/32", "v6 range", None).unwrap();
    block("192.0.2.7", "host", Some(3600)).unwrap();
    assert_eq!(code(block("10.1.2.3/8", "host bits", None)), "REQ_001");
    assert_eq!(code(block("not an ip", "x", None)), "REQ_001");
    let e = block("not an ip", " ", None).unwrap_err();
    let Error::InvalidRequest(v) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(v.len(), 2, "both fields named: {v:?}");
    assert_eq!(code(block("192.0.2.8", "x", Some(0))), "REQ_001");
    let listed = block_on(h.cutty.blocked_ips(&admin)).unwrap();
    let json = serde_json::to_value(&listed).unwrap();
    assert_eq!(json["blocked_ips"][0]["ip_address"], "192.0.2.7");
    assert_eq!(json["blocked_ips"][0]["expires_at"], START_MS + 3_600_000);
    assert_eq!(json["blocked_ips"][1]["ip_address"], "2001:db8::/32");
    assert_eq!(json["blocked_ips"][1]["reason"], "v6 range");
    assert_eq!(
        code(block_on(
            h.cutty.check_blocked("2001:db8::5".parse().unwrap())
        )),
        "SEC_001"
    );

    let unblock = |addr: &str| {
        block_on(h.cutty.unblock_ip(
            &admin,
            UnblockIpRequest {
                ip_address: addr.into(),
            },
            ip(),
        ))
    };
    assert_eq!(code(unblock("192.0.2.99")), "REQ_004");
    assert_eq!(code(unblock("garbage")), "REQ_001");
    unblock("2001:db8::/32").unwrap();
    block_on(h.cutty.check_blocked("2001:db8::5".parse().unwrap())).unwrap();
    assert_eq!(code(unblock("2001:db8::/32")), "REQ_004");
    assert_eq!(
        block_on(h.cutty.blocked_ips(&admin))
            .unwrap()
            .blocked_ips
            .len(),
        1
    );
    assert_eq!(h.events.of(EventType::IpBlocked).len(), 2);
    assert_eq!(h.events.of(EventType::IpUnblocked).len(), 1);
}

#[test]
fn operator_commands() {
    let h = H::new();
    let admin = h.cutty.admin();
    let root = block_on(admin.create_user("Root", "root@example.org", PASSWORD, true)).unwrap();
    assert!(root.is_admin);
    assert_eq!(
        code(block_on(admin.create_user(
            "ROOT",
            "x@example.org",
            PASSWORD,
            false
        ))),
        "AUTH_009"
    );
    assert_eq!(
        code(block_on(admin.create_user(
            "ok_name",
            "x@example.org",
            "short",
            false
        ))),
        "REQ_001"
    );
    assert_eq!(
        block_on(admin.find_user("root@EXAMPLE.org")).unwrap().id,
        root.id
    );
    assert_eq!(code(block_on(admin.find_user("nobody"))), "AUTH_005");

    // API keys for a user, listed by user or for all.
    let key = block_on(admin.create_api_key_for(
        "root",
        &CreateApiKeyRequest {
            name: "cli".into(),
            permissions: vec!["files:write".into()],
            expires_at: None,
            rate_limit_override: Some(10),
        },
    ))
    .unwrap();
    h.caller(key.key.expose_secret());
    assert_eq!(
        block_on(admin.list_api_keys(Some("root")))
            .unwrap()
            .api_keys
            .len(),
        1
    );
    assert_eq!(
        block_on(admin.list_api_keys(None)).unwrap().api_keys.len(),
        1
    );
    assert_eq!(
        code(block_on(admin.list_api_keys(Some("nobody")))),
        "AUTH_005"
    );
    block_on(admin.revoke_api_key(&key.key_id.to_string())).unwrap();
    assert_eq!(
        code(block_on(admin.revoke_api_key(&key.key_id.to_string()))),
        "REQ_004"
    );

    // Tokens: decode without verification, verify, revoke and unrevoke by jti.
    let r = h.login("root", PASSWORD).unwrap();
    let decoded = admin.decode_token(&r.tokens.access_token).unwrap();
    assert_eq!(decoded.header["alg"], "HS256");
    assert_eq!(decoded.claims["type"], "access");
    assert_eq!(decoded.claims["sub"], root.id.to_string());
    assert_eq!(code(admin.decode_token("a.b")), "AUTH_001");
    let check = block_on(admin.verify_token(&r.tokens.access_token)).unwrap();
    assert_eq!(
        (check.token_type, check.revocation_checked),
        ("access", true)
    );
    let jti = check.jti.to_string();
    let check = block_on(admin.verify_token(&r.tokens.refresh_token)).unwrap();
    assert_eq!(
        (check.token_type, check.revocation_checked),
        ("refresh", false)
    );
    block_on(admin.revoke_jti(&jti)).unwrap();
    assert_eq!(
        code(block_on(admin.verify_token(&r.tokens.access_token))),
        "AUTH_003"
    );
    assert_eq!(code(h.auth(&r.tokens.access_token)), "AUTH_003");
    assert!(block_on(admin.unrevoke_jti(&jti)).unwrap());
    assert!(!block_on(admin.unrevoke_jti(&jti)).unwrap());
    h.caller(&r.tokens.access_token);
    assert_eq!(code(block_on(admin.revoke_jti("not-a-uuid"))), "REQ_001");
    h.tick();
    block_on(admin.invalidate_user_tokens(root.id)).unwrap();
    assert_eq!(code(h.auth(&r.tokens.access_token)), "AUTH_003");
    assert_eq!(
        code(block_on(admin.invalidate_user_tokens(12345))),
        "AUTH_005"
    );

    // Passwords.
    let hash = block_on(admin.hash_password("pw for the cli")).unwrap();
    assert!(hash.starts_with("pbkdf2_sha256$1000$"));
    assert!(
        admin
            .verify_password("pw for the cli", &hash)
            .unwrap()
            .matches
    );
    assert!(admin.verify_password("x", "garbage").is_err());

    // Block list from the CLI.
    block_on(admin.block("192.0.2.0/24", "cli", Some(10))).unwrap();
    assert_eq!(block_on(admin.blocked()).unwrap().blocked_ips.len(), 1);
    assert_eq!(code(block_on(admin.unblock("192.0.2.1"))), "REQ_004");

    // Maintenance: expired blocks and old events go.
    let events_now = h.events.all().len();
    assert!(events_now > 0);
    h.secs(31 * 86_400);
    block_on(h.cutty.admin().block("192.0.3.0/24", "fresh", None)).unwrap();
    let report = block_on(admin.maintenance()).unwrap();
    assert_eq!(report.blocks_purged, 1);
    assert_eq!(report.events_deleted, events_now as u64);
    let left = block_on(admin.events(&EventQuery::default())).unwrap();
    assert_eq!(left.events.len(), 1);
    assert_eq!(left.events[0].details["via"], "cli");
}
