//! API-key management: JWT only, validation, ownership, admin powers, usage.

use super::*;
use crate::event::EventType;

fn req(perms: &[&str]) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        name: "ci".into(),
        permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
        expires_at: None,
        rate_limit_override: None,
    }
}

#[test]
fn create_list_revoke() {
    let h = H::new();
    let (alice, _) = h.user("alice");
    let created = block_on(h.cutty.create_api_key(
        &alice,
        req(&["files:read", "list:process"]),
        ip(),
    ))
    .unwrap();
    let json = serde_json::to_value(&created).unwrap();
    assert!(json["key"].as_str().unwrap().starts_with("cutty_"));
    assert_eq!(
        json["permissions"],
        serde_json::json!(["files:read", "list:process"])
    );
    let listed = block_on(h.cutty.list_api_keys(&alice)).unwrap();
    let json = serde_json::to_string(&listed).unwrap();
    assert!(
        !json.contains(created.key.expose_secret()),
        "the key is shown once"
    );
    assert_eq!(listed.api_keys.len(), 1);
    assert!(listed.api_keys[0].is_active);
    assert_eq!(listed.api_keys[0].last_used, None);
    h.caller(created.key.expose_secret());
    let listed = block_on(h.cutty.list_api_keys(&alice)).unwrap();
    assert_eq!(listed.api_keys[0].last_used, Some(START_MS));

    block_on(
        h.cutty
            .revoke_api_key(&alice, &created.key_id.to_string(), ip()),
    )
    .unwrap();
    let listed = block_on(h.cutty.list_api_keys(&alice)).unwrap();
    assert!(!listed.api_keys[0].is_active, "revoked keys stay listed");
    // Already revoked, unknown and malformed ids: REQ_004.
    for id in [
        created.key_id.to_string(),
        uuid::Uuid::new_v4().to_string(),
        "nope".into(),
    ] {
        assert_eq!(
            code(block_on(h.cutty.revoke_api_key(&alice, &id, ip()))),
            "REQ_004"
        );
    }
    assert_eq!(h.events.of(EventType::ApiKeyCreated).len(), 1);
    assert_eq!(h.events.of(EventType::ApiKeyRevoked).len(), 1);
}

#[test]
fn create_validates_values() {
    let h = H::new();
    let (alice, _) = h.user("alice");
    let mut past = req(&["files:read"]);
    past.expires_at = Some(START_MS - 1);
    let e = block_on(h.cutty.create_api_key(&alice, past, ip())).unwrap_err();
    let Error::InvalidRequest(v) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(v[0].field, "expires_at");
    for perms in [&[][..], &["admin"], &["files:READ"]] {
        assert_eq!(
            code(block_on(h.cutty.create_api_key(&alice, req(perms), ip()))),
            "REQ_001"
        );
    }
    let mut zero = req(&["files:read"]);
    zero.rate_limit_override = Some(0);
    assert_eq!(
        code(block_on(h.cutty.create_api_key(&alice, zero, ip()))),
        "REQ_001"
    );
}

#[test]
fn key_management_needs_a_jwt() {
    let h = H::new();
    let (alice, _) = h.user("alice");
    let k = block_on(h.cutty.create_api_key(
        &alice,
        req(&["files:read", "files:write", "list:process"]),
        ip(),
    ))
    .unwrap();
    let kc = h.caller(k.key.expose_secret());
    assert_eq!(
        code(block_on(h.cutty.create_api_key(
            &kc,
            req(&["files:read"]),
            ip()
        ))),
        "AUTH_010"
    );
    assert_eq!(code(block_on(h.cutty.list_api_keys(&kc))), "AUTH_010");
    assert_eq!(code(block_on(h.cutty.api_key_usage(&kc))), "AUTH_010");
    assert_eq!(
        code(block_on(h.cutty.revoke_api_key(
            &kc,
            &k.key_id.to_string(),
            ip()
        ))),
        "AUTH_010"
    );
    assert_eq!(
        code(block_on(h.cutty.logout(
            &kc,
            LogoutRequest::default(),
            ip()
        ))),
        "AUTH_010"
    );
    // The current user works with a key.
    assert_eq!(
        block_on(h.cutty.current_user(&kc)).unwrap().username,
        "alice"
    );
}

#[test]
fn owners_revoke_their_own_keys_admins_any() {
    let h = H::new();
    let (alice, _) = h.user("alice");
    let (bob, _) = h.user("bob");
    let admin = h.admin();
    let ka = block_on(h.cutty.create_api_key(&alice, req(&["files:read"]), ip())).unwrap();
    let kb = block_on(h.cutty.create_api_key(&bob, req(&["files:read"]), ip())).unwrap();
    assert_eq!(
        code(block_on(h.cutty.revoke_api_key(
            &bob,
            &ka.key_id.to_string(),
            ip()
        ))),
        "REQ_004"
    );
    h.caller(ka.key.expose_secret());
    // Usage: own keys for a user, every key for an admin.
    let mine = block_on(h.cutty.api_key_usage(&bob)).unwrap();
    assert_eq!(
        mine.usage.iter().map(|u| u.key_id).collect::<Vec<_>>(),
        [kb.key_id]
    );
    let all = block_on(h.cutty.api_key_usage(&admin)).unwrap();
    assert_eq!(all.usage.len(), 2);
    block_on(h.cutty.revoke_api_key(&admin, &ka.key_id.to_string(), ip())).unwrap();
    assert_eq!(code(h.auth(ka.key.expose_secret())), "API_004");
    // An admin's own API key never carries the admin role.
    let kadmin = block_on(h.cutty.create_api_key(&admin, req(&["files:read"]), ip())).unwrap();
    let kc = h.caller(kadmin.key.expose_secret());
    assert_eq!(code(kc.require_admin()), "AUTH_010");
    assert_eq!(code(block_on(h.cutty.blocked_ips(&kc))), "AUTH_010");
}
