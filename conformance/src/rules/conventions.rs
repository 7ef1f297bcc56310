//! Conventions: `X-Request-Id`, the error envelope, JSON in and out.

use std::collections::BTreeSet;

use serde_json::json;

use super::{walk_config, walk_response_kinds};
use crate::check::assert_fields;
use crate::client::assert_json_content_type;
use crate::fixtures::{self, Ctx};
use crate::host::{Config, Launch};

/// An incoming `X-Request-Id` of 1–128 characters of `[A-Za-z0-9._-]` is echoed, on
/// successes and errors alike, and an error's `request_id` is the same value.
pub async fn request_id_valid_is_echoed<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let long = "x".repeat(128);
    for id in ["a", "abc-DEF_123.9", "0", "---", long.as_str()] {
        for path in [
            "/health",
            "/api/accounts/user",
            "/api/no-such-route",
            "/no-such-route",
        ] {
            let r = c.get(path).header("x-request-id", id).send().await;
            assert_eq!(
                r.header("x-request-id").as_deref(),
                Some(id),
                "{}: X-Request-Id {id:?} must be echoed",
                r.label
            );
            if r.status >= 400 {
                assert_eq!(r.json()["error"]["request_id"], json!(id));
            }
        }
    }
}

/// Any other incoming `X-Request-Id` (empty, too long, other characters, non-ASCII bytes) is
/// replaced by a new UUID.
pub async fn request_id_invalid_is_replaced_by_uuid<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let too_long = "y".repeat(129);
    let invalid: [&[u8]; 8] = [
        b"",
        too_long.as_bytes(),
        b"has space",
        b"semi;colon",
        b"slash/id",
        b"<script>",
        "\u{fc}mlaut".as_bytes(),
        b"tab\there",
    ];
    for id in invalid {
        for path in ["/health", "/api/accounts/user"] {
            let r = c.get(path).header("x-request-id", id).send().await;
            let got = r.header("x-request-id").unwrap_or_default();
            assert_ne!(
                got.as_bytes(),
                id,
                "{}: invalid X-Request-Id was echoed",
                r.label
            );
            assert!(
                uuid::Uuid::parse_str(&got).is_ok(),
                "{}: replacement X-Request-Id {got:?} is not a UUID",
                r.label
            );
        }
    }
}

/// Without an incoming `X-Request-Id` every response gets a new, distinct UUID.
pub async fn request_id_generated_when_absent<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let mut seen = BTreeSet::new();
    for path in [
        "/health",
        "/health",
        "/api/accounts/user",
        "/api/accounts/user",
        "/nope",
    ] {
        let r = c.get(path).send().await;
        let id = r.header("x-request-id").unwrap_or_default();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "{}: {id:?} is not a UUID",
            r.label
        );
        assert!(
            seen.insert(id.clone()),
            "{}: request id {id} reused",
            r.label
        );
    }
}

/// Every response carries `X-Request-Id`: 200, 201, 204, 400, 401, 403, 404, 405, 409, 413,
/// 415 and 429 answers alike (the client checks it on each).
pub async fn request_id_on_every_kind_of_response<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, walk_config()).await;
    let seen = walk_response_kinds(&ctx).await;
    for r in &seen {
        assert!(
            r.header("x-request-id").is_some(),
            "{}: no X-Request-Id",
            r.label
        );
    }
    let statuses: BTreeSet<u16> = seen.iter().map(|r| r.status).collect();
    for s in [200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 429] {
        assert!(statuses.contains(&s), "walk did not produce a {s}");
    }
}

/// Every error is `{"error":{"code","message","request_id"}}` (`details` optional, an
/// object) with `Content-Type: application/json`.
pub async fn error_body_is_the_contract_envelope<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let cases = [
        c.get("/api/accounts/user").send().await,
        c.get("/api/no-such-route").send().await,
        c.post("/api/accounts/login").json(&json!({})).send().await,
        c.post("/api/accounts/login")
            .json(&json!({"username": fixtures::unique("nobody"), "password": "whatever-password"}))
            .send()
            .await,
    ];
    for r in &cases {
        assert!(
            r.status >= 400,
            "{}: expected an error, got {}",
            r.label,
            r.status
        );
        assert_json_content_type(r);
        let body = r.json();
        assert_fields(&body, &["error"], &r.label);
        let err = &body["error"];
        let mut allowed = vec!["code", "message", "request_id"];
        if err.get("details").is_some() {
            allowed.push("details");
            assert!(
                err["details"].is_object(),
                "{}: details must be an object",
                r.label
            );
        }
        assert_fields(err, &allowed, &format!("{} error", r.label));
        assert_eq!(
            err["request_id"].as_str(),
            r.header("x-request-id").as_deref(),
            "{}: error.request_id must equal X-Request-Id",
            r.label
        );
    }
}

/// JSON in and out: success answers are `application/json`, and a request body declared as
/// `application/json; charset=utf-8` is accepted.
pub async fn json_in_and_out<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let username = fixtures::unique("charset");
    let body = json!({
        "username": username,
        "email": format!("{username}@example.com"),
        "password": fixtures::strong_password(),
    });
    let r = c
        .post("/api/accounts/register")
        .body_with("application/json; charset=utf-8", body.to_string())
        .send()
        .await;
    r.ok_json(201);
    let access = r.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    fixtures::whoami(&c, &access).await.ok_json(200);
    c.get("/health").send().await.ok_json(200);
}
