//! The rules of the contract, one async function per rule, each generic over the host.
//! [`crate::suite!`] turns every one of them into a `#[tokio::test]` named
//! `<module>::<rule>`.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod bad_input;
pub mod blocking;
pub mod client_ip;
pub mod conventions;
pub mod docs;
pub mod events;
pub mod files;
pub mod health;
pub mod lists;
pub mod lockout;
pub mod password;
pub mod rate_limit;
pub mod restart;
pub mod routing;
pub mod tokens;

use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{Client, Resp};
use crate::fixtures::{self, Ctx};
use crate::host::{Config, Host};

/// One mebibyte: the JSON body limit.
pub(crate) const MIB: usize = 1024 * 1024;

/// How long a block-list change may take to reach a running server.
pub(crate) const BLOCK_PROPAGATION: Duration = Duration::from_secs(5);
/// Polling interval while waiting for a block-list change.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// Builds a raw HTTP/1.1 request with `Host`, `X-Forwarded-For` (the client's IP),
/// `Connection: close` and either `Content-Length` or chunked transfer encoding.
pub(crate) fn raw_request(
    client: &Client,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
    chunked: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\n").as_bytes());
    out.extend_from_slice(format!("Host: {}\r\n", client.authority()).as_bytes());
    out.extend_from_slice(format!("X-Forwarded-For: {}\r\n", client.ip()).as_bytes());
    out.extend_from_slice(b"Connection: close\r\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    match (body, chunked) {
        (Some(body), true) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in body.chunks(64 * 1024) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        (Some(body), false) => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        }
        (None, _) => out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
    }
    out
}

/// A JSON object of exactly `size` bytes: `{"pad":"xxx…"}` plus the given fields in front.
pub(crate) fn json_of_size(prefix_fields: &str, size: usize) -> Vec<u8> {
    let head = if prefix_fields.is_empty() {
        "{\"pad\":\"".to_owned()
    } else {
        format!("{{{prefix_fields},\"pad\":\"")
    };
    let tail = "\"}";
    let fill = size
        .checked_sub(head.len() + tail.len())
        .unwrap_or_else(|| panic!("json_of_size: {size} is too small"));
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(head.as_bytes());
    out.resize(head.len() + fill, b'x');
    out.extend_from_slice(tail.as_bytes());
    out
}

/// Polls `GET /api/accounts/user` from `client` until it is (or is no longer) refused with
/// `403 SEC_001`, for at most `timeout`; returns how long it took, or panics.
pub(crate) async fn until_blocked(
    client: &Client,
    blocked: bool,
    timeout: Duration,
    what: &str,
) -> Duration {
    let start = Instant::now();
    loop {
        let resp = client.get("/api/accounts/user").send().await;
        let is_blocked = resp.status == 403 && resp.error_code().as_deref() == Some("SEC_001");
        if is_blocked == blocked {
            return start.elapsed();
        }
        if start.elapsed() > timeout {
            panic!(
                "{what}: {} from {} still {} after {timeout:?}: last answer {} {}",
                resp.label,
                client.ip(),
                if blocked {
                    "not refused with 403 SEC_001"
                } else {
                    "refused"
                },
                resp.status,
                resp.snippet()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Provokes one response of (almost) every kind the contract names — 200, 201, 204, 400,
/// 401, 403 (AUTH_010 and SEC_001), 404 (REQ_003 and REQ_004), 405, 409, 413, 415, 429
/// (RATE_001 and AUTH_006) — plus the non-API routes, each checked for its status and code.
pub(crate) async fn walk_response_kinds<H: Host>(ctx: &Ctx<H>) -> Vec<Resp> {
    let mut out = Vec::new();
    let c = ctx.client();
    let admin = ctx.admin().await;
    let user = ctx.register(&c.fresh()).await;

    out.push(c.get("/health").send().await.expect(200).clone());
    out.push(c.get("/health/auth").send().await.expect(200).clone());
    let r = c.get("/no-such-route").send().await;
    r.expect_error(404, "REQ_003");
    out.push(r);

    out.push(fixtures::whoami(&c, &user.access).await.expect(200).clone());
    let reg = fixtures::register_raw(
        &c.fresh(),
        &fixtures::unique("kind"),
        &format!("{}@example.com", fixtures::unique("kind")),
        &fixtures::strong_password(),
    )
    .await;
    out.push(reg.expect(201).clone());
    let second = fixtures::login_again(&c.fresh(), &user, ctx.access_ttl()).await;
    out.push(
        c.post("/api/accounts/logout")
            .bearer(&second.access)
            .send()
            .await
            .expect(204)
            .clone(),
    );
    let r = c
        .fresh()
        .post("/api/accounts/register")
        .body_with("application/json", "{not json")
        .send()
        .await;
    r.expect_error(400, "REQ_001");
    out.push(r);
    let r = c.fresh().get("/api/accounts/user").send().await;
    r.expect_error(401, "AUTH_001");
    out.push(r);
    let r = c
        .get("/api/analytics/security/metrics")
        .bearer(&user.access)
        .send()
        .await;
    r.expect_error(403, "AUTH_010");
    out.push(r);
    let r = c.fresh().get("/api/no-such-route").send().await;
    r.expect_error(404, "REQ_003");
    out.push(r);
    let r = c
        .delete("/api/api-keys/no-such-key")
        .bearer(&user.access)
        .send()
        .await;
    r.expect_error(404, "REQ_004");
    out.push(r);
    let r = c
        .fresh()
        .request("DELETE", "/api/accounts/login")
        .send()
        .await;
    r.expect_error(405, "REQ_005");
    out.push(r);
    let r = fixtures::register_raw(&c.fresh(), &user.username, &user.email, &user.password).await;
    r.expect_error(409, "AUTH_009");
    out.push(r);
    let big = c.fresh();
    let r = big
        .raw(
            "POST /api/accounts/register (1 MiB + 1)",
            raw_request(
                &big,
                "POST",
                "/api/accounts/register",
                &[("Content-Type", b"application/json")],
                Some(&json_of_size("", MIB + 1)),
                false,
            ),
        )
        .await;
    r.expect_error(413, "REQ_002");
    out.push(r);
    let r = c
        .fresh()
        .post("/api/accounts/register")
        .body_with("text/plain", json!({"username": "x"}).to_string())
        .send()
        .await;
    r.expect_error(415, "REQ_006");
    out.push(r);

    // 429 RATE_001: the configuration's IP limit from one IP.
    let limited = c.fresh();
    let limit = ctx.config().number("CUTTY_RATE_LIMIT_IP", 100);
    for _ in 0..limit {
        limited.get("/api/accounts/user").send().await.expect(401);
    }
    let r = limited.get("/api/accounts/user").send().await;
    r.expect_error(429, "RATE_001");
    out.push(r);

    // 429 AUTH_006: a failed login, then an immediate retry.
    let guesser = c.fresh();
    fixtures::login(&guesser, &user.username, "wrong password 1")
        .await
        .expect_error(401, "AUTH_004");
    let r = fixtures::login(&guesser, &user.username, &user.password).await;
    r.expect_error(429, "AUTH_006");
    out.push(r);

    // 403 SEC_001.
    let blocked = c.fresh();
    c.post("/api/analytics/security/block-ip")
        .bearer(&admin.access)
        .json(&json!({"ip_address": blocked.ip(), "reason": "conformance"}))
        .send()
        .await
        .expect(201);
    until_blocked(&blocked, true, BLOCK_PROPAGATION, "API block").await;
    let r = blocked.get("/api/accounts/user").send().await;
    r.expect_error(403, "SEC_001");
    out.push(r);
    out
}

/// The configuration [`walk_response_kinds`] needs: the standard one with an IP limit of 3.
pub(crate) fn walk_config() -> Config {
    Config::standard().set("CUTTY_RATE_LIMIT_IP", 3)
}

/// Collects every deviation of a multi-route rule, so one failure reports them all.
#[derive(Debug, Default)]
pub(crate) struct Misses(Vec<String>);

impl Misses {
    /// Records `r` unless its status and code are one of `allowed`.
    pub(crate) fn check(&mut self, r: &Resp, allowed: &[(u16, &str)], what: &str) {
        let code = r.error_code();
        if !allowed
            .iter()
            .any(|(s, c)| r.status == *s && code.as_deref() == Some(*c))
        {
            self.0.push(format!(
                "{what}: expected {allowed:?}, got {} {}",
                r.status,
                r.snippet()
            ));
        }
    }

    #[track_caller]
    pub(crate) fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} deviation(s):\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// `{"ip_address": ip, "reason": reason}` for block-ip.
pub(crate) fn block_body(ip: &str) -> serde_json::Value {
    json!({"ip_address": ip, "reason": "conformance test"})
}
