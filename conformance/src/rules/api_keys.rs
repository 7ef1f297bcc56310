//! API keys: creation, listing, revocation, authentication errors, permissions, usage.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::check::{
    self, ChecksumScheme, assert_fields, corrupt_key, int, is_key_shaped, ms_near_now, path_id,
    string,
};
use crate::client::{Client, Resp};
use crate::fixtures::{
    self, ALL_PERMISSIONS, Ctx, Key, create_key, create_key_raw, unique, whoami,
};
use crate::host::{Config, Launch};

const CREATED_FIELDS: &[&str] = &[
    "key_id",
    "key",
    "name",
    "key_prefix",
    "permissions",
    "created_at",
    "expires_at",
    "rate_limit_override",
];
const LISTED_FIELDS: &[&str] = &[
    "key_id",
    "name",
    "key_prefix",
    "permissions",
    "created_at",
    "expires_at",
    "rate_limit_override",
    "is_active",
    "last_used",
];
const USAGE_FIELDS: &[&str] = &["key_id", "name", "requests", "rate_limited", "last_used"];

fn permission_set(v: &Value, what: &str) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: permissions is not an array: {v}"))
        .iter()
        .map(|p| string(p, "permission").to_owned())
        .collect()
}

async fn list(c: &Client, access: &str) -> Vec<Value> {
    let body = c
        .get("/api/api-keys")
        .bearer(access)
        .send()
        .await
        .ok_json(200);
    assert_fields(&body, &["api_keys"], "GET /api/api-keys");
    let keys = body["api_keys"]
        .as_array()
        .unwrap_or_else(|| panic!("api_keys is not an array: {body}"))
        .clone();
    for k in &keys {
        assert_fields(k, LISTED_FIELDS, "listed API key");
    }
    keys
}

fn find<'a>(keys: &'a [Value], key: &Key) -> Option<&'a Value> {
    keys.iter()
        .find(|k| path_id(&k["key_id"], "key_id") == key.id)
}

async fn usage(c: &Client, access: &str) -> Vec<Value> {
    let body = c
        .get("/api/api-keys/usage")
        .bearer(access)
        .send()
        .await
        .ok_json(200);
    assert_fields(&body, &["usage"], "GET /api/api-keys/usage");
    let entries = body["usage"]
        .as_array()
        .unwrap_or_else(|| panic!("usage is not an array: {body}"))
        .clone();
    for e in &entries {
        assert_fields(e, USAGE_FIELDS, "usage entry");
        int(&e["requests"], "requests");
        int(&e["rate_limited"], "rate_limited");
    }
    entries
}

async fn delete(c: &Client, access: &str, key_id: &str) -> Resp {
    c.delete(&format!("/api/api-keys/{key_id}"))
        .bearer(access)
        .send()
        .await
}

/// `POST /api/api-keys` answers 201 with exactly `{key_id, key, name, key_prefix,
/// permissions, created_at, expires_at, rate_limit_override}`: the key is `cutty_` + 32
/// base62 characters starting with `key_prefix` (which is shorter than the key), the
/// permissions are those asked for, `created_at` is Unix ms, and `expires_at` /
/// `rate_limit_override` are null unless given, then echoed.
pub async fn create_api_key_shape<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let name = unique("key");
    let body = create_key_raw(
        &c,
        &account.access,
        &json!({"name": name, "permissions": ["files:read", "list:process"]}),
    )
    .await
    .ok_json(201);
    assert_fields(&body, CREATED_FIELDS, "created API key");
    let key = string(&body["key"], "key");
    assert!(
        is_key_shaped(key),
        "key {key:?} is not cutty_ + 32 base62 characters"
    );
    let prefix = string(&body["key_prefix"], "key_prefix");
    assert!(
        key.starts_with(prefix) && prefix.len() < key.len() && !prefix.is_empty(),
        "key_prefix {prefix:?} must be a proper prefix of the key"
    );
    assert_eq!(body["name"], json!(name));
    assert_eq!(
        permission_set(&body["permissions"], "created"),
        ["files:read", "list:process"].map(str::to_owned).into(),
    );
    ms_near_now(&body["created_at"], "created_at");
    assert!(
        body["expires_at"].is_null(),
        "expires_at without one asked: {body}"
    );
    assert!(
        body["rate_limit_override"].is_null(),
        "rate_limit_override without one asked: {body}"
    );
    path_id(&body["key_id"], "key_id");

    let expires = check::now_ms() + 3_600_000;
    let body = create_key_raw(
        &c,
        &account.access,
        &json!({"name": unique("key"), "permissions": ["files:write"], "expires_at": expires, "rate_limit_override": 7}),
    )
    .await
    .ok_json(201);
    assert_eq!(int(&body["expires_at"], "expires_at"), expires);
    assert_eq!(int(&body["rate_limit_override"], "rate_limit_override"), 7);
    let other = string(&body["key"], "key");
    assert_ne!(other, key, "two keys are equal");
}

/// An `expires_at` in the past, an unknown permission, a missing name or permissions, and
/// mistyped fields are `400 REQ_001`.
pub async fn create_api_key_validation<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let past = check::now_ms() - 60_000;
    for body in [
        json!({"name": "k", "permissions": ["files:read"], "expires_at": past}),
        json!({"name": "k", "permissions": ["files:delete"]}),
        json!({"name": "k", "permissions": ["admin"]}),
        json!({"name": "k", "permissions": "files:read"}),
        json!({"name": "k", "permissions": [1]}),
        json!({"permissions": ["files:read"]}),
        json!({"name": "k"}),
        json!({"name": 5, "permissions": ["files:read"]}),
        json!({"name": "k", "permissions": ["files:read"], "expires_at": "tomorrow"}),
        json!({"name": "k", "permissions": ["files:read"], "rate_limit_override": -1}),
        json!({"name": "k", "permissions": ["files:read"], "rate_limit_override": "many"}),
    ] {
        create_key_raw(&c, &account.access, &body)
            .await
            .expect_error(400, "REQ_001");
    }
    assert!(
        list(&c, &account.access).await.is_empty(),
        "a refused creation left a key behind"
    );
}

/// `GET /api/api-keys` lists the caller's own keys with exactly the creation fields minus
/// `key`, plus `is_active` and `last_used`; no field holds the key; an unused key has
/// `last_used: null`, a used one a Unix-ms timestamp. Other users' keys are not listed.
pub async fn list_api_keys_shape_and_secrecy<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let stranger = ctx.register(&c.fresh()).await;
    let foreign = create_key(&c, &stranger.access, &["files:read"], json!({})).await;
    let key = create_key(
        &c,
        &account.access,
        &["files:read"],
        json!({"rate_limit_override": 50}),
    )
    .await;
    let keys = list(&c, &account.access).await;
    assert_eq!(keys.len(), 1, "only the caller's own key: {keys:?}");
    let listed = find(&keys, &key).unwrap_or_else(|| panic!("created key not listed: {keys:?}"));
    let secret = &key.key[check::KEY_PREFIX.len() + 4..];
    assert!(
        !serde_json::to_string(&keys)
            .unwrap_or_default()
            .contains(secret),
        "the key (or its tail) appears in the list: {keys:?}"
    );
    for field in [
        "key_id",
        "name",
        "key_prefix",
        "permissions",
        "created_at",
        "expires_at",
        "rate_limit_override",
    ] {
        assert_eq!(
            listed[field], key.created[field],
            "listed {field} differs from creation"
        );
    }
    assert_eq!(listed["is_active"], json!(true));
    assert!(
        listed["last_used"].is_null(),
        "unused key with last_used: {listed}"
    );
    assert!(
        find(&keys, &foreign).is_none(),
        "another user's key is listed"
    );

    whoami(&c, &key.key).await.expect(200);
    let keys = list(&c, &account.access).await;
    let listed = find(&keys, &key).unwrap_or_else(|| panic!("key vanished: {keys:?}"));
    ms_near_now(&listed["last_used"], "last_used after use");
}

/// An API key authenticates as its owner on `GET /api/accounts/user`, whatever its
/// permissions.
pub async fn api_key_authenticates_as_its_owner<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    for perms in [&["files:read"][..], &ALL_PERMISSIONS[..], &[][..]] {
        let r = create_key_raw(
            &c,
            &account.access,
            &json!({"name": unique("k"), "permissions": perms}),
        )
        .await;
        if perms.is_empty() && r.status == 400 {
            continue; // The contract does not say whether a key without permissions may exist.
        }
        let key = check::string(&r.ok_json(201)["key"], "key").to_owned();
        let me = whoami(&c, &key).await.ok_json(200);
        assert_eq!(me, account.user, "key with {perms:?}");
    }
}

/// A key that is not `cutty_` + 32 base62 characters, or whose checksum fails, is
/// `401 API_001`.
pub async fn malformed_api_key_is_api_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let key = create_key(&c, &account.access, &["files:read"], json!({})).await;
    let k = &key.key;
    let cases = [
        "cutty_".to_owned(),
        "cutty_short".to_owned(),
        format!("{k}A"),
        k[..k.len() - 1].to_owned(),
        format!("{}-{}", &k[..10], &k[11..]),
        format!("{}\u{e9}{}", &k[..10], &k[12..]),
        corrupt_key(k),
        format!("{}000000", &k[..k.len() - 6]),
    ];
    for bad in cases {
        let r = whoami(&c, &bad).await;
        assert!(
            r.status == 401 && r.error_code().as_deref() == Some("API_001"),
            "key {bad:?}: expected 401 API_001, got {} {}",
            r.status,
            r.snippet()
        );
    }
    whoami(&c, k).await.expect(200);
}

/// A well-formed key with a valid checksum that was never issued is `401 API_002`. (The
/// suite mints it under the checksum reading that fits a key the host issued — CRC32 in
/// base62 as in GitHub's format; if no reading fits, the checksum is not GitHub's.)
pub async fn unknown_api_key_is_api_002<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let key = create_key(&c, &account.access, &["files:read"], json!({})).await;
    let schemes = ChecksumScheme::fitting(&key.key);
    assert!(
        !schemes.is_empty(),
        "the issued key's last 6 characters are not a base62 CRC32 of the rest (GitHub's format)"
    );
    let minted = schemes[0].mint();
    whoami(&c, &minted).await.expect_error(401, "API_002");
}

/// A key past its `expires_at` is `401 API_003`.
pub async fn expired_api_key_is_api_003<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let expires = check::now_ms() + 1500;
    let key = create_key(
        &c,
        &account.access,
        &["files:read"],
        json!({"expires_at": expires}),
    )
    .await;
    whoami(&c, &key.key).await.expect(200);
    let wait = u64::try_from(expires - check::now_ms() + 1500).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    whoami(&c, &key.key).await.expect_error(401, "API_003");
}

/// `DELETE /api/api-keys/{key_id}` answers 204 and the key is refused at once with
/// `401 API_004`; it stays listed with `is_active: false`; deleting it again is
/// `404 REQ_004`.
pub async fn revoked_api_key_is_api_004<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let key = create_key(&c, &account.access, &["files:read"], json!({})).await;
    whoami(&c, &key.key).await.expect(200);
    let r = delete(&c, &account.access, &key.id).await;
    r.expect(204);
    assert!(r.body.is_empty(), "204 with a body");
    whoami(&c, &key.key).await.expect_error(401, "API_004");
    let keys = list(&c, &account.access).await;
    let listed =
        find(&keys, &key).unwrap_or_else(|| panic!("deleted key no longer listed: {keys:?}"));
    assert_eq!(listed["is_active"], json!(false));
    delete(&c, &account.access, &key.id)
        .await
        .expect_error(404, "REQ_004");
}

/// Deleting an unknown key id or another user's key is `404 REQ_004` (the other user's key
/// keeps working); an admin may delete any key.
pub async fn delete_unknown_or_foreign_key_is_req_004<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let stranger = ctx.register(&c.fresh()).await;
    let foreign = create_key(&c, &stranger.access, &["files:read"], json!({})).await;
    let huge = "9".repeat(200);
    let long = "k".repeat(2000);
    for id in [
        foreign.id.as_str(),
        "0",
        "-1",
        "999999999",
        huge.as_str(),
        long.as_str(),
        "%00",
        "..%2F..%2Fetc",
        "%F0%9F%98%80",
    ] {
        delete(&c, &account.access, id)
            .await
            .expect_error(404, "REQ_004");
    }
    whoami(&c, &foreign.key).await.expect(200);
    let admin = ctx.admin().await;
    delete(&c, &admin.access, &foreign.id).await.expect(204);
    whoami(&c, &foreign.key).await.expect_error(401, "API_004");
}

/// An API key holds only its permissions: `files:read` may list and download but not upload,
/// delete or process (`403 API_005`); `files:write` may upload and delete but not list;
/// `list:process` may process but not list.
pub async fn api_key_permissions_are_enforced<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let meta = fixtures::upload_csv(&c, &account.access, "perm.csv", "a,b\n1,2\n").await;
    let file_id = path_id(&meta["id"], "file id");
    let read = create_key(&c, &account.access, &["files:read"], json!({})).await;
    let write = create_key(&c, &account.access, &["files:write"], json!({})).await;
    let process = create_key(&c, &account.access, &["list:process"], json!({})).await;

    // files:read
    c.get("/api/files")
        .bearer(&read.key)
        .send()
        .await
        .expect(200);
    c.get(&format!("/api/files/{file_id}"))
        .bearer(&read.key)
        .send()
        .await
        .expect(200);
    fixtures::upload_raw(&c, &read.key, "x.csv", "text/csv", b"a\n1\n".to_vec())
        .await
        .expect_error(403, "API_005");
    c.delete(&format!("/api/files/{file_id}"))
        .bearer(&read.key)
        .send()
        .await
        .expect_error(403, "API_005");
    c.post("/api/lists/process")
        .bearer(&read.key)
        .json(&json!({"file_id": meta["id"], "dedupe": true}))
        .send()
        .await
        .expect_error(403, "API_005");

    // files:write
    let uploaded = fixtures::upload_raw(&c, &write.key, "w.csv", "text/csv", b"a\n1\n".to_vec())
        .await
        .ok_json(201);
    c.get("/api/files")
        .bearer(&write.key)
        .send()
        .await
        .expect_error(403, "API_005");
    c.get(&format!("/api/files/{file_id}"))
        .bearer(&write.key)
        .send()
        .await
        .expect_error(403, "API_005");
    c.delete(&format!("/api/files/{}", path_id(&uploaded["id"], "id")))
        .bearer(&write.key)
        .send()
        .await
        .expect(204);

    // list:process
    c.post("/api/lists/process")
        .bearer(&process.key)
        .json(&json!({"file_id": meta["id"], "dedupe": true}))
        .send()
        .await
        .expect(201);
    c.get("/api/files")
        .bearer(&process.key)
        .send()
        .await
        .expect_error(403, "API_005");
}

/// An API key on an endpoint that needs a JWT (API-key management, usage, password change,
/// logout) is `403 AUTH_010`.
pub async fn api_key_on_jwt_only_endpoints_is_auth_010<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let key = create_key(&c, &account.access, &ALL_PERMISSIONS, json!({})).await;
    let k = key.key.as_str();
    let body = json!({"name": "n", "permissions": ["files:read"]});
    let cases = [
        c.post("/api/api-keys").bearer(k).json(&body).send().await,
        c.get("/api/api-keys").bearer(k).send().await,
        c.get("/api/api-keys/usage").bearer(k).send().await,
        c.delete(&format!("/api/api-keys/{}", key.id)).bearer(k).send().await,
        c.post("/api/accounts/password")
            .bearer(k)
            .json(&json!({"old_password": account.password, "new_password": fixtures::strong_password()}))
            .send()
            .await,
        c.post("/api/accounts/logout").bearer(k).send().await,
    ];
    for r in cases {
        r.expect_error(403, "AUTH_010");
    }
    whoami(&c, k).await.expect(200);
}

/// `GET /api/api-keys/usage` reports per key `{key_id, name, requests, rate_limited,
/// last_used}`: three admitted requests count 3, none refused; a user sees only their own
/// keys, an admin sees everyone's.
pub async fn api_key_usage_counts_requests<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let stranger = ctx.register(&c.fresh()).await;
    let key = create_key(&c, &account.access, &["files:read"], json!({})).await;
    let foreign = create_key(&c, &stranger.access, &["files:read"], json!({})).await;
    let entries = usage(&c, &account.access).await;
    let entry = |entries: &[Value], k: &Key| {
        entries
            .iter()
            .find(|e| path_id(&e["key_id"], "key_id") == k.id)
            .cloned()
    };
    let e =
        entry(&entries, &key).unwrap_or_else(|| panic!("own key missing from usage: {entries:?}"));
    assert_eq!(
        (
            int(&e["requests"], "requests"),
            int(&e["rate_limited"], "rate_limited")
        ),
        (0, 0)
    );
    assert!(e["last_used"].is_null(), "unused key with last_used: {e}");
    assert_eq!(e["name"], key.created["name"]);
    for _ in 0..3 {
        whoami(&c, &key.key).await.expect(200);
    }
    let entries = usage(&c, &account.access).await;
    let e = entry(&entries, &key).unwrap_or_else(|| panic!("own key missing: {entries:?}"));
    assert_eq!(int(&e["requests"], "requests"), 3, "{e}");
    assert_eq!(int(&e["rate_limited"], "rate_limited"), 0, "{e}");
    ms_near_now(&e["last_used"], "last_used");
    assert!(
        entry(&entries, &foreign).is_none(),
        "a user sees another user's key usage"
    );
    let admin = ctx.admin().await;
    let all = usage(&c, &admin.access).await;
    assert!(
        entry(&all, &key).is_some() && entry(&all, &foreign).is_some(),
        "admin must see all keys: {all:?}"
    );
}

/// With a key limit of 2, four requests are 2 admitted and 2 refused (`429 RATE_003`), and
/// usage reports `requests: 2, rate_limited: 2`.
pub async fn api_key_usage_counts_refused_requests<L: Launch>(launch: &L) {
    let ctx = Ctx::start(
        launch,
        Config::standard().set("CUTTY_RATE_LIMIT_API_KEY", 2),
    )
    .await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let key = create_key(&c, &account.access, &["files:read"], json!({})).await;
    whoami(&c, &key.key).await.expect(200);
    whoami(&c, &key.key).await.expect(200);
    whoami(&c, &key.key).await.expect_error(429, "RATE_003");
    whoami(&c, &key.key).await.expect_error(429, "RATE_003");
    let entries = usage(&c, &account.access).await;
    let e = entries
        .iter()
        .find(|e| path_id(&e["key_id"], "key_id") == key.id)
        .unwrap_or_else(|| panic!("key missing from usage: {entries:?}"));
    assert_eq!(int(&e["requests"], "requests"), 2, "{e}");
    assert_eq!(int(&e["rate_limited"], "rate_limited"), 2, "{e}");
}
