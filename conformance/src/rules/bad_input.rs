//! Bad input on every JSON route: malformed JSON, wrong types, oversized bodies, wrong
//! `Content-Type`, odd unicode, absurd query values, garbage headers. Always a 4xx with a
//! contract code, never a 5xx (the client checks the latter on every response).

use serde_json::{Value, json};

use super::{MIB, Misses, json_of_size, raw_request};
use crate::client::{Client, Resp};
use crate::fixtures::{self, Account, Ctx};
use crate::host::{Config, Host, Launch};

/// Who calls a JSON route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    User,
    Admin,
}

/// Every JSON route, who calls it, and whether `{}` is a valid body for it.
const JSON_ROUTES: &[(&str, Caller, bool)] = &[
    ("/api/accounts/register", Caller::Anonymous, false),
    ("/api/accounts/login", Caller::Anonymous, false),
    ("/api/accounts/token/refresh", Caller::Anonymous, false),
    ("/api/accounts/logout", Caller::User, true),
    ("/api/accounts/password", Caller::User, false),
    ("/api/api-keys", Caller::User, false),
    ("/api/analytics/security/block-ip", Caller::Admin, false),
    ("/api/analytics/security/unblock-ip", Caller::Admin, false),
    ("/api/admin/invalidate-user-tokens", Caller::Admin, false),
    ("/api/lists/process", Caller::User, false),
];

struct Callers {
    user: Account,
    admin: Account,
}

impl Callers {
    async fn new<H: Host>(ctx: &Ctx<H>, c: &Client) -> Self {
        Self {
            user: ctx.register(c).await,
            admin: ctx.admin().await,
        }
    }

    /// The bearer token for a route; logout gets a fresh session each time so that a wrong
    /// 204 cannot spoil the next case.
    async fn token(&self, c: &Client, path: &str, caller: Caller) -> Option<String> {
        match caller {
            Caller::Anonymous => None,
            Caller::Admin => Some(self.admin.access.clone()),
            Caller::User if path == "/api/accounts/logout" => {
                let body =
                    fixtures::login_patiently(&c.fresh(), &self.user.username, &self.user.password)
                        .await
                        .ok_json(200);
                body["access_token"].as_str().map(str::to_owned)
            }
            Caller::User => Some(self.user.access.clone()),
        }
    }
}

async fn post_bytes(
    c: &Client,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Resp {
    let mut req = c.post(path);
    if let Some(t) = token {
        req = req.bearer(t);
    }
    req = match content_type {
        Some(ct) => req.body_with(ct, body.to_vec()),
        None => req.body_bare(body.to_vec()),
    };
    req.send().await
}

fn nested(depth: usize) -> Vec<u8> {
    let mut v = vec![b'['; depth];
    v.extend(std::iter::repeat_n(b']', depth));
    v
}

/// Malformed JSON on every JSON route — truncated, invalid syntax, not an object, trailing
/// data, invalid UTF-8, NUL, 100 000 levels of nesting — is `400 REQ_001`.
pub async fn malformed_json_is_req_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let callers = Callers::new(&ctx, &c.fresh()).await;
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"{\"a\":}".to_vec(),
        b"{\"a\" 1}".to_vec(),
        b"{'a': 1}".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"42".to_vec(),
        b"{\"a\":1,}".to_vec(),
        b"{\"a\":1}{\"b\":2}".to_vec(),
        b"{\"a\":\"\xff\xfe\"}".to_vec(),
        b"\x00".to_vec(),
        b"{\"a\":1e99999}".to_vec(),
        nested(100_000),
        b"{\"a\":"
            .iter()
            .copied()
            .chain(nested(100_000))
            .chain(*b"}")
            .collect(),
    ];
    let mut misses = Misses::default();
    for (path, caller, _) in JSON_ROUTES {
        for body in &bodies {
            let token = callers.token(&c, path, *caller).await;
            let r = post_bytes(
                &c.fresh(),
                path,
                token.as_deref(),
                Some("application/json"),
                body,
            )
            .await;
            let what = format!(
                "{path} with body {:?}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
            misses.check(&r, &[(400, "REQ_001")], &what);
        }
    }
    misses.assert_none();
}

/// Missing fields (`{}` where fields are required) and every field of the wrong type are
/// `400 REQ_001` on every JSON route.
pub async fn wrong_types_and_missing_fields_are_req_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let callers = Callers::new(&ctx, &c.fresh()).await;
    let wrong_types = json!({
        "username": ["x"], "email": {"a": 1}, "password": 12345678,
        "refresh_token": 7, "old_password": false, "new_password": [1],
        "name": {}, "permissions": "files:read", "expires_at": "soon", "rate_limit_override": "x",
        "ip_address": 1, "reason": [], "duration_seconds": "x",
        "user_id": "one", "file_id": [], "dedupe": "yes", "columns": 3, "split_rows": "x",
    });
    let mut misses = Misses::default();
    for (path, caller, empty_ok) in JSON_ROUTES {
        let mut bodies: Vec<Value> = vec![wrong_types.clone()];
        if !empty_ok {
            bodies.push(json!({}));
        }
        for body in bodies {
            let token = callers.token(&c, path, *caller).await;
            let r = post_bytes(
                &c.fresh(),
                path,
                token.as_deref(),
                Some("application/json"),
                body.to_string().as_bytes(),
            )
            .await;
            let what = if body == json!({}) {
                format!("{path} with {{}}")
            } else {
                format!("{path} with every field mistyped")
            };
            misses.check(&r, &[(400, "REQ_001")], &what);
        }
    }
    misses.assert_none();
}

/// A JSON body over 1 MiB is `413 REQ_002` on every JSON route, with `Content-Length` or
/// chunked.
pub async fn oversized_bodies_are_req_002<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let callers = Callers::new(&ctx, &c.fresh()).await;
    let body = json_of_size("", MIB + 1);
    let mut misses = Misses::default();
    for (path, caller, _) in JSON_ROUTES {
        for chunked in [false, true] {
            let token = callers.token(&c, path, *caller).await;
            let auth = token.map(|t| format!("Bearer {t}"));
            let mut headers: Vec<(&str, &[u8])> = vec![("Content-Type", b"application/json")];
            if let Some(a) = &auth {
                headers.push(("Authorization", a.as_bytes()));
            }
            let client = c.fresh();
            let label = format!("POST {path} (1 MiB + 1, chunked: {chunked})");
            let r = client
                .raw(
                    &label,
                    raw_request(&client, "POST", path, &headers, Some(&body), chunked),
                )
                .await;
            misses.check(&r, &[(413, "REQ_002")], &label);
        }
    }
    misses.assert_none();
}

/// A body of exactly 1 MiB is within the limit: not 413 (here `400 REQ_001`, the password
/// being far over 4096 characters).
pub async fn body_of_exactly_1_mib_is_accepted_for_parsing<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let username = fixtures::unique("mib");
    let head = format!(
        "{{\"username\":\"{username}\",\"email\":\"{username}@example.com\",\"password\":\""
    );
    let tail = "\"}";
    let mut body = head.into_bytes();
    body.resize(MIB - tail.len(), b'p');
    body.extend_from_slice(tail.as_bytes());
    assert_eq!(body.len(), MIB);
    let r = c
        .raw(
            "POST /api/accounts/register (exactly 1 MiB)",
            raw_request(
                &c,
                "POST",
                "/api/accounts/register",
                &[("Content-Type", b"application/json")],
                Some(&body),
                false,
            ),
        )
        .await;
    r.expect_error(400, "REQ_001");
}

/// A body declared as anything but JSON on a JSON route is `415 REQ_006`; a JSON body
/// without any `Content-Type` is refused with `415 REQ_006` (or `400 REQ_001`: the contract
/// does not say which).
pub async fn wrong_content_type_is_req_006<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let callers = Callers::new(&ctx, &c.fresh()).await;
    let body = json!({"username": "someone", "password": "something-long"}).to_string();
    let mut misses = Misses::default();
    for (path, caller, _) in JSON_ROUTES {
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
            "multipart/form-data; boundary=xyz",
            "application/octet-stream",
        ] {
            let token = callers.token(&c, path, *caller).await;
            let r = post_bytes(
                &c.fresh(),
                path,
                token.as_deref(),
                Some(ct),
                body.as_bytes(),
            )
            .await;
            misses.check(&r, &[(415, "REQ_006")], &format!("{path} as {ct}"));
        }
        if *path != "/api/accounts/logout" {
            let token = callers.token(&c, path, *caller).await;
            let r = post_bytes(&c.fresh(), path, token.as_deref(), None, body.as_bytes()).await;
            misses.check(
                &r,
                &[(415, "REQ_006"), (400, "REQ_001")],
                &format!("{path} without Content-Type"),
            );
        }
    }
    misses.assert_none();
}

/// Odd unicode in every field of registration and login (NUL, bidi overrides, BOM,
/// non-characters, combining marks, astral characters, lone surrogate escapes, very long
/// strings) is answered with success or a 4xx contract error, never a 5xx.
pub async fn odd_unicode_never_breaks_the_server<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let long = "\u{1F600}".repeat(5000);
    let odd = [
        "\u{0}",
        "a\u{0}b\u{0}c",
        "\u{202E}evil",
        "\u{FEFF}bom",
        "\u{FFFF}\u{FFFE}",
        "e\u{301}\u{301}\u{301}",
        "\u{1D56C}\u{1D591}\u{1D58E}",
        "\u{200B}\u{200C}\u{200D}",
        long.as_str(),
    ];
    for s in odd {
        let client = c.fresh();
        fixtures::register_raw(&client, s, &format!("{s}@example.com"), s).await;
        fixtures::register_raw(
            &client,
            &fixtures::unique("odd"),
            &format!("{}@example.com", fixtures::unique("odd")),
            &format!("{s}{s}{s}{s}{s}{s}{s}{s}"),
        )
        .await;
        fixtures::login(&client.fresh(), s, s).await;
    }
    for raw in [
        &br#"{"username":"\ud800","email":"a@example.com","password":"\udfff\ud800aaaaaaaa"}"#[..],
        &br#"{"username":"\u0000","email":"\u0000@example.com","password":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}"#[..],
    ] {
        let r = post_bytes(&c.fresh(), "/api/accounts/register", None, Some("application/json"), raw).await;
        assert!(r.status == 201 || (400..500).contains(&r.status), "{}: {}", r.label, r.status);
        post_bytes(&c.fresh(), "/api/accounts/login", None, Some("application/json"), raw).await;
    }
}

/// Absurd query strings on every GET route (unknown parameters, overflowing numbers,
/// percent-encoded garbage, 20 000 characters) never cause a 5xx.
pub async fn absurd_query_values_never_break_the_server<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let callers = Callers::new(&ctx, &c.fresh()).await;
    let long = format!("x={}", "9".repeat(20_000));
    let queries = [
        "limit=-1&offset=99999999999999999999999",
        "page=%00%FF&cursor=%FE",
        "a=%E2%80%AE&b=%F0%9F%98%80",
        "since=-99999999999999999999&until=1e400",
        "&&&===",
        long.as_str(),
    ];
    let routes = [
        ("/health", None),
        ("/health/auth", None),
        ("/api/accounts/user", Some(&callers.user.access)),
        ("/api/api-keys", Some(&callers.user.access)),
        ("/api/api-keys/usage", Some(&callers.user.access)),
        ("/api/files", Some(&callers.user.access)),
        (
            "/api/analytics/security/events",
            Some(&callers.admin.access),
        ),
        (
            "/api/analytics/security/metrics",
            Some(&callers.admin.access),
        ),
        (
            "/api/analytics/security/blocked-ips",
            Some(&callers.admin.access),
        ),
    ];
    for (path, token) in routes {
        for q in queries {
            let mut req = c.get(&format!("{path}?{q}"));
            if let Some(t) = token {
                req = req.bearer(t);
            }
            let r = req.send().await;
            assert!(r.status < 500, "{}: {}", r.label, r.status);
        }
    }
}

/// Garbage forwarding headers from a trusted proxy (not an IP, out-of-range octets, empty
/// hops, 10 000 characters) are harmless: the request is answered normally (here
/// `401 AUTH_001`).
pub async fn garbage_forwarding_headers_are_harmless<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let long = "1".repeat(10_000);
    for value in [
        "not-an-ip",
        "999.1.1.1",
        ", , ,",
        "unknown",
        "::ffff:zzzz",
        "1.2.3.4:80",
        long.as_str(),
    ] {
        for header in ["x-forwarded-for", "x-real-ip", "cf-connecting-ip"] {
            c.get("/api/accounts/user")
                .without_forwarded_for()
                .header(header, value)
                .send()
                .await
                .expect_error(401, "AUTH_001");
        }
    }
}
