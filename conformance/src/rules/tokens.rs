//! Tokens: claims, the `Authorization` header, forged and expired tokens, refresh rotation
//! and reuse detection, logout.

use std::time::Duration;

use serde_json::{Value, json};

use crate::check::{self, assert_token_pair, decode_jwt, int, sign_hs256, string};
use crate::client::Client;
use crate::fixtures::{self, Account, Ctx, refresh, whoami};
use crate::host::{Config, Launch};

/// Claims every JWT library knows; anything else in an access token is Cutty's own (the
/// refresh family id among them).
const STANDARD_CLAIMS: &[&str] = &[
    "sub", "jti", "iat", "exp", "iss", "type", "nbf", "aud", "kid",
];

/// The claims present, with the same value, in both tokens and not standard: where the
/// refresh family id lives (the contract does not name the claim).
fn shared_family_claims(access: &Value, refresh: &Value) -> Vec<(String, Value)> {
    access
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| {
                    !STANDARD_CLAIMS.contains(&k.as_str()) && refresh.get(k.as_str()) == Some(*v)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Access tokens are HS256 JWTs (the default) with `sub` (the user id as a string), `jti` (a
/// UUID), `iat`, `exp` = `iat` + 900, `iss` "cutty", `type` "access" and the refresh family
/// id; refresh tokens have `type` "refresh", `exp` = `iat` + 7 days, and the same family id.
/// Rotation keeps the family. (The family claim is recognised as a non-standard claim with
/// the same value in both tokens of a pair and kept by rotation; the contract does not name
/// it.)
pub async fn token_claims<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let access = decode_jwt(&account.access);
    let refresh_jwt = decode_jwt(&account.refresh);
    assert_eq!(
        access.header["alg"],
        json!("HS256"),
        "default algorithm: {}",
        access.header
    );
    let a = &access.claims;
    assert_eq!(
        a["sub"],
        json!(account.id.to_string()),
        "sub is the user id as a string: {a}"
    );
    let jti = string(&a["jti"], "jti");
    assert!(
        uuid::Uuid::parse_str(jti).is_ok(),
        "jti {jti:?} is not a UUID"
    );
    let iat = int(&a["iat"], "iat");
    assert!(
        (iat - check::now_s()).abs() < 600,
        "iat {iat} is not Unix seconds near now"
    );
    assert_eq!(int(&a["exp"], "exp") - iat, 900, "access lifetime: {a}");
    assert_eq!(a["iss"], json!("cutty"), "default issuer: {a}");
    assert_eq!(a["type"], json!("access"), "{a}");

    let r = &refresh_jwt.claims;
    assert_eq!(r["type"], json!("refresh"), "{r}");
    assert_eq!(r["sub"], a["sub"], "{r}");
    assert_eq!(r["iss"], json!("cutty"), "{r}");
    let riat = int(&r["iat"], "refresh iat");
    assert_eq!(
        int(&r["exp"], "refresh exp") - riat,
        604_800,
        "refresh lifetime: {r}"
    );
    assert_ne!(r["jti"], a["jti"], "access and refresh share a jti");

    let rotated = refresh(&c, &account.refresh).await.ok_json(200);
    let (new_access, new_refresh) = assert_token_pair(&rotated, 900, true, "refresh");
    let (na, nr) = (
        decode_jwt(&new_access).claims,
        decode_jwt(&new_refresh).claims,
    );
    // The family id: a non-standard claim with one value in both tokens of the first pair
    // and in both tokens of the rotated pair (a per-token value such as an issue time in
    // milliseconds may coincide within one pair, but not across the rotation).
    let family: Vec<_> = shared_family_claims(a, r)
        .into_iter()
        .filter(|(k, v)| na.get(k) == Some(v) && nr.get(k) == Some(v))
        .collect();
    assert!(
        !family.is_empty(),
        "no refresh family id: no non-standard claim is shared by the access ({a}) and \
         refresh ({r}) tokens and kept by rotation ({na}, {nr})"
    );
    assert_ne!(na["jti"], a["jti"]);
}

/// `CUTTY_JWT_ISSUER`, `CUTTY_ACCESS_TTL_SECONDS` and `CUTTY_REFRESH_TTL_SECONDS` set the
/// issuer, `expires_in` and both lifetimes.
pub async fn token_settings_are_configurable<L: Launch>(launch: &L) {
    let config = Config::standard()
        .set("CUTTY_JWT_ISSUER", "conformance-issuer")
        .set("CUTTY_ACCESS_TTL_SECONDS", 120)
        .set("CUTTY_REFRESH_TTL_SECONDS", 3600);
    let ctx = Ctx::start(launch, config).await;
    let c = ctx.client();
    let account = ctx.register(&c).await; // checks expires_in == 120
    let a = decode_jwt(&account.access).claims;
    let r = decode_jwt(&account.refresh).claims;
    assert_eq!(a["iss"], json!("conformance-issuer"));
    assert_eq!(r["iss"], json!("conformance-issuer"));
    assert_eq!(int(&a["exp"], "exp") - int(&a["iat"], "iat"), 120);
    assert_eq!(int(&r["exp"], "exp") - int(&r["iat"], "iat"), 3600);
    whoami(&c, &account.access).await.expect(200);
}

/// A missing or malformed `Authorization` header (no `Bearer ` prefix, another scheme, an
/// empty or garbage token) is `401 AUTH_001`.
pub async fn malformed_authorization_is_auth_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    c.get("/api/accounts/user")
        .send()
        .await
        .expect_error(401, "AUTH_001");
    let long = format!("Bearer {}", "A".repeat(10_000));
    let values: Vec<Vec<u8>> = vec![
        account.access.clone().into_bytes(),
        format!("Token {}", account.access).into_bytes(),
        format!("Basic {}", account.access).into_bytes(),
        format!("Bearer{}", account.access).into_bytes(),
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer abc".to_vec(),
        b"Bearer a.b.c".to_vec(),
        b"Bearer ..".to_vec(),
        b"Bearer \xff\xfe.\x80.x".to_vec(),
        long.into_bytes(),
    ];
    for v in values {
        let r = c
            .get("/api/accounts/user")
            .header("authorization", &v)
            .send()
            .await;
        r.expect_error(401, "AUTH_001");
    }
}

/// Forged tokens are `401 AUTH_001`: `alg: none`, a stripped signature, a tampered payload,
/// a token signed with another key, algorithm confusion (RS256/HS512 headers over an HS256
/// signature), and a refresh token used as an access token (wrong `type`).
pub async fn forged_tokens_are_auth_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let other = ctx.register(&c.fresh()).await;
    let jwt = decode_jwt(&account.access);
    let [h, p, s] = jwt.segments.clone();
    let b64 = |v: &Value| check::b64url(v.to_string().as_bytes());
    let mut tampered = jwt.claims.clone();
    tampered["sub"] = json!(other.id.to_string());
    let mut header_none = jwt.header.clone();
    header_none["alg"] = json!("none");
    let mut header_rs = jwt.header.clone();
    header_rs["alg"] = json!("RS256");
    let mut header_512 = jwt.header.clone();
    header_512["alg"] = json!("HS512");
    let forged = [
        ("alg none", format!("{}.{p}.", b64(&header_none))),
        (
            "alg none with signature",
            format!("{}.{p}.{s}", b64(&header_none)),
        ),
        ("stripped signature", format!("{h}.{p}.")),
        ("tampered sub", format!("{h}.{}.{s}", b64(&tampered))),
        ("other key", sign_hs256(&jwt.header, &jwt.claims, b"secret")),
        ("empty key", sign_hs256(&jwt.header, &jwt.claims, b"")),
        ("RS256 header", format!("{}.{p}.{s}", b64(&header_rs))),
        ("HS512 header", format!("{}.{p}.{s}", b64(&header_512))),
        ("refresh token as access", account.refresh.clone()),
        (
            "truncated",
            account.access[..account.access.len() - 5].to_owned(),
        ),
    ];
    for (what, token) in forged {
        let r = whoami(&c, &token).await;
        assert!(
            r.status == 401 && r.error_code().as_deref() == Some("AUTH_001"),
            "{what}: expected 401 AUTH_001, got {} {}",
            r.status,
            r.snippet()
        );
    }
    // The genuine token still works.
    whoami(&c, &account.access).await.expect(200);
}

/// `kid` values an attacker hopes a host resolves against a file system or a database.
const HOSTILE_KIDS: &[&str] = &[
    "../../etc/passwd",
    "../../../../../../../../dev/null",
    "/dev/zero",
    "/dev/random",
    "/proc/self/environ",
    "file:///etc/passwd",
    "C:\\Windows\\win.ini",
    "' OR 1=1 --",
    "' UNION SELECT 'secret' --",
    "1; DROP TABLE users; --",
    "\" OR \"\"=\"",
    "http://169.254.169.254/latest/meta-data/",
    "%00",
    "\u{0}",
    "*",
    "",
];

/// A `kid` header holding a path (`../../etc/passwd`, `/dev/zero`), SQL text
/// (`' OR 1=1 --`), a URL or a NUL byte is `401 AUTH_001` — never a 5xx, never accepted —
/// whether the token is signed with a guessed key or with the host's real `JWT_SECRET`
/// (the contract accepts only its configured keys; the host's key has no such `kid`). A
/// `kid` of another JSON type (number, boolean, object, array) is refused the same way, and so
/// is a refresh token with such a `kid` presented for rotation (which then neither rotates
/// nor revokes the genuine pair).
///
/// The rule configures `JWT_SECRET` itself (a contract variable), and first proves it is the
/// secret in use: the genuine claims re-signed with it, without a `kid`, are accepted.
pub async fn hostile_kid_headers_are_auth_001<L: Launch>(launch: &L) {
    let secret = format!("conformance-{}", check::random_alnum(40));
    let config = Config::standard().set("JWT_SECRET", &secret);
    let ctx = Ctx::start(launch, config).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let access = decode_jwt(&account.access);
    let refresh_jwt = decode_jwt(&account.refresh);

    // Control: the host really signs with the configured secret, so a refusal below is
    // about the `kid`, not about the key.
    let resigned = sign_hs256(&access.header, &access.claims, secret.as_bytes());
    whoami(&c, &resigned).await.expect(200);

    let with_kid = |header: &Value, kid: Value| {
        let mut h = header.clone();
        h["kid"] = kid;
        h
    };
    let mut kids: Vec<Value> = HOSTILE_KIDS.iter().map(|k| json!(k)).collect();
    kids.extend([
        json!(1),
        json!(-1),
        json!(1e308),
        json!(true),
        // (`"kid": null` is left out: hosts may read it as no `kid`, which with the real
        // secret is simply a genuine token.)
        json!(["../../etc/passwd"]),
        json!({"$ne": null}),
        json!("A".repeat(10_000)),
    ]);
    let keys: [(&str, &[u8]); 4] = [
        ("the real secret", secret.as_bytes()),
        ("a guessed key", b"secret"),
        ("an empty key", b""),
        // What `/dev/zero` or a SELECT returning nothing would give as a key.
        ("32 zero bytes", &[0u8; 32]),
    ];
    for kid in &kids {
        let header = with_kid(&access.header, kid.clone());
        for (which, key) in keys {
            let token = sign_hs256(&header, &access.claims, key);
            let r = whoami(&c, &token).await;
            assert!(
                r.status == 401 && r.error_code().as_deref() == Some("AUTH_001"),
                "access token with kid {kid} signed with {which}: expected 401 AUTH_001, got {} {}",
                r.status,
                r.snippet()
            );
        }
        // A refresh token with the kid, signed with the real secret, is refused for
        // rotation and does not log anyone out.
        let refresh_header = with_kid(&refresh_jwt.header, kid.clone());
        let token = sign_hs256(&refresh_header, &refresh_jwt.claims, secret.as_bytes());
        let r = refresh(&c, &token).await;
        assert!(
            r.status == 401 && r.error_code().as_deref() == Some("AUTH_001"),
            "refresh with kid {kid} signed with the real secret: expected 401 AUTH_001, got {} {}",
            r.status,
            r.snippet()
        );
    }
    // The genuine pair is untouched: the hostile refresh tokens neither rotated nor revoked it.
    whoami(&c, &account.access).await.expect(200);
    refresh(&c, &account.refresh).await.expect(200);
}

/// Expired access and refresh tokens are `401 AUTH_002` (TTL 1 s / 2 s, leeway 0).
pub async fn expired_tokens_are_auth_002<L: Launch>(launch: &L) {
    let config = Config::standard()
        .set("CUTTY_ACCESS_TTL_SECONDS", 1)
        .set("CUTTY_REFRESH_TTL_SECONDS", 2)
        .set("CUTTY_JWT_LEEWAY_SECONDS", 0);
    let ctx = Ctx::start(launch, config).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    whoami(&c, &account.access)
        .await
        .expect_error(401, "AUTH_002");
    refresh(&c, &account.refresh)
        .await
        .expect_error(401, "AUTH_002");
}

/// The clock-skew leeway (default 30 s) still accepts a token that expired a second ago.
pub async fn expiry_has_a_leeway<L: Launch>(launch: &L) {
    let ctx = Ctx::start(
        launch,
        Config::standard().set("CUTTY_ACCESS_TTL_SECONDS", 1),
    )
    .await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    whoami(&c, &account.access).await.expect(200);
}

/// `POST /api/accounts/token/refresh` answers 200 with exactly a new token pair; both new
/// tokens work, and the new refresh token can be used in turn.
pub async fn refresh_rotates_the_pair<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let body = refresh(&c, &account.refresh).await.ok_json(200);
    let (a1, r1) = assert_token_pair(&body, ctx.access_ttl(), true, "refresh");
    assert_ne!(a1, account.access);
    assert_ne!(r1, account.refresh);
    whoami(&c, &a1).await.expect(200);
    let body = refresh(&c, &r1).await.ok_json(200);
    let (a2, _) = assert_token_pair(&body, ctx.access_ttl(), true, "second refresh");
    whoami(&c, &a2).await.expect(200);
}

/// A refresh token is one-time: presenting a used one is `401 AUTH_003` and revokes its
/// whole family — every access and refresh token issued in it — while another session of
/// the same user is untouched.
pub async fn refresh_reuse_revokes_the_family<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let other_session = fixtures::login_again(&c, &account, ctx.access_ttl()).await;
    let body = refresh(&c, &account.refresh).await.ok_json(200);
    let (a1, r1) = assert_token_pair(&body, ctx.access_ttl(), true, "refresh");
    whoami(&c, &a1).await.expect(200);
    refresh(&c, &account.refresh)
        .await
        .expect_error(401, "AUTH_003");
    whoami(&c, &account.access)
        .await
        .expect_error(401, "AUTH_003");
    whoami(&c, &a1).await.expect_error(401, "AUTH_003");
    refresh(&c, &r1).await.expect_error(401, "AUTH_003");
    whoami(&c, &other_session.access).await.expect(200);
    refresh(&c, &other_session.refresh).await.expect(200);
}

/// Refreshing one token from 8 concurrent requests admits exactly one; the others are
/// `401 AUTH_003`.
pub async fn concurrent_refresh_admits_one<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let client: Client = c.clone();
        let token = account.refresh.clone();
        set.spawn(async move { refresh(&client, &token).await });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap_or_else(|e| panic!("task failed: {e}"));
        if r.status == 200 {
            ok += 1;
        } else {
            r.expect_error(401, "AUTH_003");
        }
    }
    assert_eq!(
        ok, 1,
        "a refresh token is one-time use, also under concurrency"
    );
}

/// An access token or garbage in `refresh_token` is `401 AUTH_001`; a missing or mistyped
/// field is `400 REQ_001`.
pub async fn refresh_with_wrong_token_is_refused<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    refresh(&c, &account.access)
        .await
        .expect_error(401, "AUTH_001");
    refresh(&c, "garbage").await.expect_error(401, "AUTH_001");
    refresh(&c, "").await.expect_error(401, "AUTH_001");
    for body in [
        json!({}),
        json!({"refresh_token": 1}),
        json!({"refresh_token": null}),
    ] {
        c.post("/api/accounts/token/refresh")
            .json(&body)
            .send()
            .await
            .expect_error(400, "REQ_001");
    }
    // The pair is intact after all that.
    refresh(&c, &account.refresh).await.expect(200);
}

async fn logout(c: &Client, account: &Account, body: Option<Value>) -> crate::client::Resp {
    let req = c.post("/api/accounts/logout").bearer(&account.access);
    match body {
        Some(b) => req.json(&b).send().await,
        None => req.send().await,
    }
}

/// Logout answers 204 with an empty body and revokes the access token used (`AUTH_003`
/// afterwards); another session of the same user keeps working.
pub async fn logout_revokes_the_access_token<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let other = fixtures::login_again(&c, &account, ctx.access_ttl()).await;
    let r = logout(&c, &account, None).await;
    r.expect(204);
    assert!(r.body.is_empty(), "204 with a body: {}", r.snippet());
    whoami(&c, &account.access)
        .await
        .expect_error(401, "AUTH_003");
    whoami(&c, &other.access).await.expect(200);
}

/// Logout with `{refresh_token}` revokes that refresh token too; `{}` is accepted.
pub async fn logout_with_refresh_token_revokes_it<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    logout(
        &c,
        &account,
        Some(json!({"refresh_token": account.refresh})),
    )
    .await
    .expect(204);
    refresh(&c, &account.refresh)
        .await
        .expect_error(401, "AUTH_003");
    whoami(&c, &account.access)
        .await
        .expect_error(401, "AUTH_003");
    let second = fixtures::login_again(&c, &account, ctx.access_ttl()).await;
    logout(&c, &second, Some(json!({}))).await.expect(204);
    whoami(&c, &second.access)
        .await
        .expect_error(401, "AUTH_003");
}

/// Logout needs a JWT: none is `401 AUTH_001`, an API key `403 AUTH_010`; a revoked token
/// cannot log out again (`401 AUTH_003`).
pub async fn logout_requires_a_jwt<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    c.post("/api/accounts/logout")
        .send()
        .await
        .expect_error(401, "AUTH_001");
    let key =
        fixtures::create_key(&c, &account.access, &fixtures::ALL_PERMISSIONS, json!({})).await;
    c.post("/api/accounts/logout")
        .bearer(&key.key)
        .send()
        .await
        .expect_error(403, "AUTH_010");
    logout(&c, &account, None).await.expect(204);
    logout(&c, &account, None)
        .await
        .expect_error(401, "AUTH_003");
}
