//! The router against the contract: errors, request ids, body rules, the gate, the
//! extractors and the OpenAPI document, through `tower::ServiceExt::oneshot`.

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use common::{Answer, app, app_with, get as get_req, post, req, send_to};
use cutty_axum::auth::{
    AdminUser, ApiKeyCaller, AuthUser, FilesRead, FilesWrite, RequirePermission,
};
use cutty_axum::{CatchPanicLayer, ClientIp, CuttyState, GateLayer, RequestIdLayer};
use serde_json::json;

#[tokio::test]
async fn health_is_open_unlimited_and_conforms() {
    let app = app();
    let a = app.send(get_req("/health")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["status"], "ok");
    assert!(a.rate_limit().is_none(), "/health is not rate limited");
    app.conforms("/health", "get", &a);
    let a = app.send(get_req("/health/auth")).await;
    assert_eq!(a.status, StatusCode::OK);
    app.conforms("/health/auth", "get", &a);
    assert!(a.rate_limit().is_none());
}

#[tokio::test]
async fn request_ids_are_echoed_or_replaced_everywhere() {
    let app = app();
    let good = "Abc-1.2_3";
    let long_ok = "x".repeat(128);
    for path in ["/health", "/nope", "/api/nope"] {
        let a = app.send(get_req(path).header("x-request-id", good)).await;
        assert_eq!(a.header("x-request-id"), Some(good), "{path}");
        let a = app
            .send(get_req(path).header("x-request-id", &long_ok))
            .await;
        assert_eq!(a.header("x-request-id"), Some(long_ok.as_str()));
        for bad in ["a b", "a/b", "{}", &"x".repeat(129)] {
            let a = app.send(get_req(path).header("x-request-id", bad)).await;
            let id = a.header("x-request-id").unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{bad:?} -> {id}");
        }
    }
    // In error bodies too (Answer::code checks body == header), for 404/405/413/415.
    let a = app
        .send(get_req("/nope").header("x-request-id", good))
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (404, "REQ_003".into()));
    assert_eq!(a.json()["error"]["request_id"], good);
    let a = app
        .send(req(Method::PUT, "/api/accounts/login").header("x-request-id", good))
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (405, "REQ_005".into()));
    let a = app
        .send(
            req(Method::POST, "/api/accounts/login")
                .header("content-type", "application/json")
                .header("x-request-id", good)
                .raw(vec![b' '; 1024 * 1024 + 1]),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (413, "REQ_002".into()));
    assert_eq!(a.json()["error"]["request_id"], good);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = app();
    for path in [
        "/nope",
        "/api",
        "/api/nope",
        "/api/accounts/login/",
        "/api/files/x/y",
    ] {
        let a = app.send(get_req(path)).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (404, "REQ_003".into()),
            "{path}"
        );
    }
    // Unknown routes under /api are still rate limited and carry the headers.
    let a = app.send(get_req("/api/nope")).await;
    assert!(a.rate_limit().is_some());
    // ... and a bad credential does not turn a 404 into a 401.
    let a = app.send(get_req("/api/nope").bearer("garbage")).await;
    assert_eq!(a.code(), "REQ_003");

    let a = app.send(get_req("/api/accounts/login")).await;
    assert_eq!((a.status.as_u16(), a.code()), (405, "REQ_005".into()));
    assert_eq!(a.header("allow"), Some("POST"));
    let a = app.send(req(Method::DELETE, "/health")).await;
    assert_eq!(a.code(), "REQ_005");
    let a = app.send(req(Method::PATCH, "/api/api-keys")).await;
    assert_eq!(a.code(), "REQ_005");
}

#[tokio::test]
async fn json_body_rules() {
    let app = app();
    let login = "/api/accounts/login";
    let body = json!({"username": "ada", "password": "x"}).to_string();

    // 415: missing or non-JSON content type.
    let a = app.send(req(Method::POST, login).raw(body.clone())).await;
    assert_eq!((a.status.as_u16(), a.code()), (415, "REQ_006".into()));
    let a = app
        .send(
            req(Method::POST, login)
                .header("content-type", "text/plain")
                .raw(body.clone()),
        )
        .await;
    assert_eq!(a.code(), "REQ_006");
    // Parameters and +json are fine (then: unknown user, 401).
    let a = app
        .send(
            req(Method::POST, login)
                .header("content-type", "application/json; charset=utf-8")
                .raw(body),
        )
        .await;
    assert_eq!(a.code(), "AUTH_004");

    // 400 with the field in details.
    let a = app.send(post(login, json!({"username": "ada"}))).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "REQ_001".into()));
    assert_eq!(a.json()["error"]["details"]["password"], "is required");
    app.conforms(login, "post", &a);
    let a = app
        .send(post(login, json!({"username": 5, "password": "x"})))
        .await;
    assert_eq!(a.code(), "REQ_001");
    assert!(a.json()["error"]["details"]["username"].is_string());
    let a = app
        .send(
            req(Method::POST, login)
                .header("content-type", "application/json")
                .raw("{\"username\""),
        )
        .await;
    assert_eq!(a.code(), "REQ_001");
    assert_eq!(a.json()["error"]["details"]["body"], "is not valid JSON");
    let a = app
        .send(req(Method::POST, login).header("content-type", "application/json"))
        .await;
    assert_eq!(a.code(), "REQ_001", "an empty body is malformed JSON");
    // Nested and typed fields.
    let (token, _) = app.register("ada").await;
    let a = app
        .send(
            post(
                "/api/api-keys",
                json!({"name": "k", "permissions": "files:read"}),
            )
            .bearer(&token),
        )
        .await;
    assert_eq!(a.code(), "REQ_001");
    assert!(a.json()["error"]["details"]["permissions"].is_string());
    let a = app
        .send(
            post(
                "/api/api-keys",
                json!({"name": "k", "permissions": ["nope"]}),
            )
            .bearer(&token),
        )
        .await;
    assert_eq!(a.code(), "REQ_001");

    // 413 above 1 MiB, exactly 1 MiB is read (and then malformed).
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(1024 * 1024)
    );
    let a = app
        .send(
            req(Method::POST, login)
                .header("content-type", "application/json")
                .raw(big),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (413, "REQ_002".into()));
    assert!(
        a.rate_limit().is_some(),
        "413 under /api carries the rate-limit headers"
    );
    let a = app
        .send(
            req(Method::POST, login)
                .header("content-type", "application/json")
                .raw(vec![b' '; 1024 * 1024]),
        )
        .await;
    assert_eq!(a.code(), "REQ_001");
}

#[tokio::test]
async fn account_flow_conforms_to_the_spec() {
    let app = app();
    let (token, body) = app.register("ada").await;
    assert_eq!(body["user"]["username"], "ada");
    let a = app
        .send(post("/api/accounts/register", json!({"username": "ADA", "email": "x@example.org", "password": "correct horse battery"})))
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (409, "AUTH_009".into()));
    app.conforms("/api/accounts/register", "post", &a);
    let a = app
        .send(post(
            "/api/accounts/register",
            json!({"username": "a", "email": "nope", "password": "1234"}),
        ))
        .await;
    assert_eq!(a.code(), "REQ_001");
    let details = a.json()["error"]["details"].clone();
    for field in ["username", "email", "password"] {
        assert!(details[field].is_string(), "{field} in {details}");
    }

    let a = app.send(get_req("/api/accounts/user").bearer(&token)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["username"], "ada");
    app.conforms("/api/accounts/user", "get", &a);

    let a = app
        .send(post(
            "/api/accounts/login",
            json!({"username": "ada@EXAMPLE.org", "password": "correct horse battery"}),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    app.conforms("/api/accounts/login", "post", &a);
    let refresh = a.json()["refresh_token"].as_str().unwrap().to_owned();
    let a = app
        .send(post(
            "/api/accounts/token/refresh",
            json!({"refresh_token": refresh}),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    app.conforms("/api/accounts/token/refresh", "post", &a);
    let a = app
        .send(post(
            "/api/accounts/token/refresh",
            json!({"refresh_token": refresh}),
        ))
        .await;
    assert_eq!(a.code(), "AUTH_003", "reuse");

    app.clock.advance(Duration::from_millis(1500));
    let a = app
        .send(post("/api/accounts/password", json!({"old_password": "correct horse battery", "new_password": "another fine password"})).bearer(&token))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    app.conforms("/api/accounts/password", "post", &a);
    let new_token = a.json()["access_token"].as_str().unwrap().to_owned();
    let a = app.send(get_req("/api/accounts/user").bearer(&token)).await;
    assert_eq!(a.code(), "AUTH_003", "tokens before the change are revoked");

    // Logout with and without a body.
    let a = app
        .send(req(Method::POST, "/api/accounts/logout").bearer(&new_token))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(a.bytes.is_empty());
    app.conforms("/api/accounts/logout", "post", &a);
    let a = app
        .send(get_req("/api/accounts/user").bearer(&new_token))
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (401, "AUTH_003".into()));
    app.conforms("/api/accounts/user", "get", &a);
    let (t2, _) = app.register("bob").await;
    let a = app
        .send(post("/api/accounts/logout", json!({})).bearer(&t2))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn auth_errors_and_extractor_answers() {
    let app = app();
    let user = "/api/accounts/user";
    let a = app.send(get_req(user)).await;
    assert_eq!((a.status.as_u16(), a.code()), (401, "AUTH_001".into()));
    assert!(
        a.rate_limit().is_some(),
        "errors carry the rate-limit headers"
    );
    let a = app
        .send(get_req(user).header("authorization", "Basic eDp5"))
        .await;
    assert_eq!(a.code(), "AUTH_001");
    let a = app.send(get_req(user).bearer("not.a.jwt")).await;
    assert_eq!(a.code(), "AUTH_001");
    let a = app.send(get_req(user).bearer("cutty_short")).await;
    assert_eq!((a.status.as_u16(), a.code()), (401, "API_001".into()));

    // An API key works where a key may be used, is AUTH_010 where a JWT is needed.
    let (token, _) = app.register("ada").await;
    let a = app
        .send(
            post(
                "/api/api-keys",
                json!({"name": "ci", "permissions": ["files:read"]}),
            )
            .bearer(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    app.conforms("/api/api-keys", "post", &a);
    let key = a.json()["key"].as_str().unwrap().to_owned();
    let key_id = a.json()["key_id"].as_str().unwrap().to_owned();
    let a = app.send(get_req(user).bearer(&key)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["username"], "ada");
    for (method, path) in [
        (Method::GET, "/api/api-keys"),
        (Method::GET, "/api/api-keys/usage"),
        (Method::POST, "/api/accounts/logout"),
    ] {
        let a = app.send(req(method, path).bearer(&key)).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (403, "AUTH_010".into()),
            "{path}"
        );
    }
    // Forbidden comes before body validation.
    let a = app
        .send(
            req(Method::POST, "/api/api-keys")
                .bearer(&key)
                .raw("garbage"),
        )
        .await;
    assert_eq!(a.code(), "AUTH_010");

    // Listing, usage, revocation.
    let a = app.send(get_req("/api/api-keys").bearer(&token)).await;
    app.conforms("/api/api-keys", "get", &a);
    assert!(a.json()["api_keys"][0]["last_used"].as_i64().is_some());
    let a = app
        .send(get_req("/api/api-keys/usage").bearer(&token))
        .await;
    app.conforms("/api/api-keys/usage", "get", &a);
    assert!(a.json()["usage"][0]["requests"].as_u64().unwrap() >= 1);
    for bad in ["nope", "00000000-0000-0000-0000-000000000000", "%FF"] {
        let a = app
            .send(req(Method::DELETE, &format!("/api/api-keys/{bad}")).bearer(&token))
            .await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (404, "REQ_004".into()),
            "{bad}"
        );
        app.conforms("/api/api-keys/{key_id}", "delete", &a);
    }
    let a = app
        .send(req(Method::DELETE, &format!("/api/api-keys/{key_id}")).bearer(&token))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = app.send(get_req(user).bearer(&key)).await;
    assert_eq!(a.code(), "API_004");

    // Admin routes: AUTH_010 for a plain user, 200 for an admin.
    let admin = app.admin_token().await;
    for path in [
        "/api/analytics/security/events",
        "/api/analytics/security/metrics",
        "/api/analytics/security/blocked-ips",
    ] {
        let a = app.send(get_req(path).bearer(&token)).await;
        assert_eq!((a.status.as_u16(), a.code()), (403, "AUTH_010".into()));
        let a = app.send(get_req(path).bearer(&admin)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {:?}", a.json());
        app.conforms(path, "get", &a);
    }
    let a = app
        .send(get_req("/api/analytics/security/events?limit=0").bearer(&admin))
        .await;
    assert_eq!(a.code(), "REQ_001");
    let a = app
        .send(
            get_req("/api/analytics/security/events?event_type=login&success=true&limit=2")
                .bearer(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    app.conforms("/api/analytics/security/events", "get", &a);
    let a = app
        .send(
            post(
                "/api/admin/invalidate-user-tokens",
                json!({"user_id": 99999}),
            )
            .bearer(&admin),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (404, "AUTH_005".into()));
    let ada_id = app.send(get_req(user).bearer(&token)).await.json()["id"]
        .as_i64()
        .unwrap();
    app.clock.advance(Duration::from_millis(1500));
    let a = app
        .send(
            post(
                "/api/admin/invalidate-user-tokens",
                json!({"user_id": ada_id}),
            )
            .bearer(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    app.conforms("/api/admin/invalidate-user-tokens", "post", &a);
    let a = app.send(get_req(user).bearer(&token)).await;
    assert_eq!(a.code(), "AUTH_003");
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let app = app_with(|s| s.rate_limit.ip = std::num::NonZeroU32::new(3).unwrap());
    for remaining in [2, 1, 0] {
        let a = app.send(get_req("/api/accounts/user")).await;
        let (limit, rem, reset) = a.rate_limit().unwrap();
        assert_eq!((limit, rem), (3, remaining));
        assert!(reset <= 60);
    }
    let a = app.send(get_req("/api/accounts/user")).await;
    assert_eq!((a.status.as_u16(), a.code()), (429, "RATE_001".into()));
    let (limit, rem, reset) = a.rate_limit().unwrap();
    assert_eq!((limit, rem), (3, 0));
    assert!(reset >= 1);
    assert_eq!(a.header("retry-after"), Some(reset.to_string().as_str()));
    app.conforms("/api/accounts/user", "get", &a);
    // Failed credentials count against the same IP.
    let a = app.send(get_req("/api/accounts/user").bearer("bad")).await;
    assert_eq!(a.code(), "RATE_001");
    // Health and docs are not limited; another IP has its own budget.
    assert_eq!(app.send(get_req("/health")).await.status, StatusCode::OK);
    assert_eq!(
        app.send(get_req("/openapi.json")).await.status,
        StatusCode::OK
    );
    let a = app
        .send(get_req("/api/accounts/user").peer([192, 0, 2, 99]))
        .await;
    assert_eq!(a.code(), "AUTH_001");
    // Two windows later the IP is admitted again.
    app.clock.advance(Duration::from_secs(120));
    let a = app.send(get_req("/api/accounts/user")).await;
    assert_eq!(a.code(), "AUTH_001");
}

#[tokio::test]
async fn user_limit_applies_to_jwt_callers() {
    let app = app_with(|s| {
        s.rate_limit.user = std::num::NonZeroU32::new(2).unwrap();
        s.rate_limit.ip = std::num::NonZeroU32::new(50).unwrap();
    });
    let (token, _) = app.register("ada").await;
    let a = app.send(get_req("/api/accounts/user").bearer(&token)).await;
    assert_eq!(a.rate_limit().unwrap().0, 2);
    app.send(get_req("/api/accounts/user").bearer(&token)).await;
    let a = app.send(get_req("/api/accounts/user").bearer(&token)).await;
    assert_eq!(a.code(), "RATE_002");
    assert!(a.header("retry-after").is_some());
}

#[tokio::test]
async fn blocked_ips_get_sec_001_except_on_health() {
    let app = app();
    let admin = app.admin_token().await;
    let a = app
        .send(
            post(
                "/api/analytics/security/block-ip",
                json!({"ip_address": "198.51.100.0/24", "reason": "test"}),
            )
            .bearer(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
    app.conforms("/api/analytics/security/block-ip", "post", &a);
    app.clock.advance(Duration::from_secs(6));
    let blocked = [198, 51, 100, 7];
    for path in [
        "/api/accounts/user",
        "/api/nope",
        "/docs",
        "/openapi.json",
        "/elsewhere",
    ] {
        let a = app.send(get_req(path).peer(blocked)).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (403, "SEC_001".into()),
            "{path}"
        );
    }
    for path in ["/health", "/health/auth"] {
        let a = app.send(get_req(path).peer(blocked)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
    }
    // A spoofed X-Forwarded-For from an untrusted peer changes nothing.
    let a = app
        .send(
            get_req("/api/accounts/user")
                .peer(blocked)
                .header("x-forwarded-for", "192.0.2.50"),
        )
        .await;
    assert_eq!(a.code(), "SEC_001");
    let a = app
        .send(get_req("/api/analytics/security/blocked-ips").bearer(&admin))
        .await;
    app.conforms("/api/analytics/security/blocked-ips", "get", &a);
    assert_eq!(a.json()["blocked_ips"][0]["ip_address"], "198.51.100.0/24");
    let a = app
        .send(
            post(
                "/api/analytics/security/unblock-ip",
                json!({"ip_address": "198.51.100.0/24"}),
            )
            .bearer(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    app.conforms("/api/analytics/security/unblock-ip", "post", &a);
    app.clock.advance(Duration::from_secs(6));
    let a = app.send(get_req("/api/accounts/user").peer(blocked)).await;
    assert_eq!(a.code(), "AUTH_001");
}

#[tokio::test]
async fn trusted_proxy_headers_decide_the_client_ip() {
    let app = app_with(|s| {
        s.client_ip =
            cutty_core::client_ip::ClientIpResolver::from_config("10.0.0.0/8", false).unwrap();
        s.rate_limit.ip = std::num::NonZeroU32::new(1).unwrap();
    });
    let proxy = [10, 0, 0, 1];
    let a = app
        .send(
            get_req("/api/nope")
                .peer(proxy)
                .header("x-forwarded-for", "203.0.113.1"),
        )
        .await;
    assert_eq!(a.code(), "REQ_003");
    let a = app
        .send(
            get_req("/api/nope")
                .peer(proxy)
                .header("x-forwarded-for", "203.0.113.2"),
        )
        .await;
    assert_eq!(
        a.code(),
        "REQ_003",
        "another client behind the proxy has its own limit"
    );
    let a = app
        .send(
            get_req("/api/nope")
                .peer(proxy)
                .header("x-forwarded-for", "203.0.113.1"),
        )
        .await;
    assert_eq!(a.code(), "RATE_001");
}

/// Custom routes using the extractors, behind the same layers.
fn custom(state: CuttyState) -> Router {
    async fn who(ClientIp(ip): ClientIp, AuthUser(u): AuthUser) -> String {
        format!("{} from {ip}", u.user().username)
    }
    async fn admin(AdminUser(u): AdminUser) -> String {
        u.user().username.clone()
    }
    async fn key(ApiKeyCaller(k): ApiKeyCaller) -> String {
        k.principal().key_id().to_string()
    }
    async fn read(p: RequirePermission<FilesRead>) -> String {
        p.caller().user().username.clone()
    }
    async fn write(p: RequirePermission<FilesWrite>) -> String {
        p.caller().user().username.clone()
    }
    async fn boom() -> String {
        panic!("boom")
    }
    Router::new()
        .route("/api/who", get(who))
        .route("/api/admin-only", get(admin))
        .route("/api/key-only", get(key))
        .route("/api/read", get(read))
        .route("/api/write", get(write))
        .route("/api/boom", get(boom))
        .route("/outside", get(read))
        .layer(CatchPanicLayer::new())
        .layer(GateLayer::new(state.clone()))
        .layer(RequestIdLayer::new())
        .with_state(state)
}

#[tokio::test]
async fn extractors_and_the_permission_guard() {
    let app = app();
    let routes = custom(CuttyState::new(app.cutty.clone()));
    let send = |r| send_to(&routes, r);
    let (token, _) = app.register("ada").await;
    let key_for = |perms: Vec<&'static str>| {
        let app = &app;
        let token = token.clone();
        async move {
            let a = app
                .send(
                    post("/api/api-keys", json!({"name": "k", "permissions": perms}))
                        .bearer(&token),
                )
                .await;
            a.json()["key"].as_str().unwrap().to_owned()
        }
    };
    let read_key = key_for(vec!["files:read"]).await;
    let write_key = key_for(vec!["files:write"]).await;

    let a = send(get_req("/api/who").bearer(&token)).await;
    assert_eq!(a.bytes, b"ada from 192.0.2.10");
    let a = send(get_req("/api/who").bearer(&read_key)).await;
    assert_eq!(a.code(), "AUTH_010");
    let a = send(get_req("/api/who")).await;
    assert_eq!(a.code(), "AUTH_001");
    let a = send(get_req("/api/admin-only").bearer(&token)).await;
    assert_eq!(a.code(), "AUTH_010");
    let admin = app.admin_token().await;
    let a = send(get_req("/api/admin-only").bearer(&admin)).await;
    assert_eq!(a.bytes, b"root");
    let a = send(get_req("/api/key-only").bearer(&token)).await;
    assert_eq!(a.code(), "AUTH_010");
    let a = send(get_req("/api/key-only").bearer(&read_key)).await;
    assert_eq!(a.status, StatusCode::OK);

    // RequirePermission: a JWT holds every permission, a key only its own (API_005).
    assert_eq!(
        send(get_req("/api/read").bearer(&token)).await.bytes,
        b"ada"
    );
    assert_eq!(
        send(get_req("/api/write").bearer(&token)).await.bytes,
        b"ada"
    );
    assert_eq!(
        send(get_req("/api/read").bearer(&read_key)).await.bytes,
        b"ada"
    );
    let a = send(get_req("/api/write").bearer(&read_key)).await;
    assert_eq!((a.status.as_u16(), a.code()), (403, "API_005".into()));
    assert_eq!(
        send(get_req("/api/write").bearer(&write_key)).await.bytes,
        b"ada"
    );
    let a = send(get_req("/api/read").bearer(&write_key)).await;
    assert_eq!(a.code(), "API_005");

    // Outside /api the gate does not authenticate: the extractor says so (500), it does
    // not treat the request as anonymous.
    let a = send(get_req("/outside").bearer(&token)).await;
    assert_eq!((a.status.as_u16(), a.code()), (500, "DB_004".into()));
}

#[tokio::test]
async fn a_panicking_handler_answers_a_contract_error() {
    let app = app();
    let routes = custom(CuttyState::new(app.cutty.clone()));
    let a: Answer = send_to(
        &routes,
        get_req("/api/boom").header("x-request-id", "panic-1"),
    )
    .await;
    assert_eq!((a.status.as_u16(), a.code()), (500, "DB_004".into()));
    assert_eq!(a.json()["error"]["request_id"], "panic-1");
    assert!(a.rate_limit().is_some(), "the gate still adds its headers");
    assert!(!String::from_utf8_lossy(&a.bytes).contains("boom"));
}

#[tokio::test]
async fn mounted_under_a_prefix() {
    let app = app();
    let nested = Router::new().nest(
        "/auth",
        cutty_axum::router(CuttyState::new(app.cutty.clone())),
    );
    let a = send_to(&nested, get_req("/auth/health")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.rate_limit().is_none());
    let a = send_to(&nested, get_req("/auth/api/accounts/user")).await;
    assert_eq!(a.code(), "AUTH_001");
    assert!(a.rate_limit().is_some());
    let a = send_to(&nested, get_req("/auth/api/nope")).await;
    assert_eq!(a.code(), "REQ_003");
}

#[tokio::test]
async fn openapi_and_docs_describe_every_route() {
    let app = app();
    let a = app.send(get_req("/openapi.json")).await;
    assert_eq!(a.status, StatusCode::OK);
    let spec = a.json();
    assert_eq!(spec, app.spec);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer_jwt"]["scheme"],
        "bearer"
    );
    // Every documented operation is routed (not REQ_003/REQ_005), and every one has a
    // default error response.
    let mut count = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            assert!(op["responses"]["default"].is_object(), "{method} {path}");
            let concrete = path
                .replace("{key_id}", "some-id")
                .replace("{id}", "some-id");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let a = app.send(req(m, &concrete)).await;
            if a.status.is_client_error() || a.status.is_server_error() {
                let code = a.code();
                assert!(
                    code != "REQ_003" && code != "REQ_005",
                    "{method} {path}: {code}"
                );
                app.conforms(path, method, &a);
            }
        }
    }
    assert_eq!(count, cutty_axum::openapi::OPERATIONS.len());
    assert_eq!(count, 25);

    let a = app.send(get_req("/docs")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    let html = String::from_utf8(a.bytes).unwrap();
    assert!(html.contains("/api/accounts/register") && html.contains("AUTH_009"));
}

#[tokio::test]
async fn request_id_layer_stacks_without_changing_the_id() {
    let app = app();
    let outer = cutty_axum::router(CuttyState::new(app.cutty.clone())).layer(RequestIdLayer::new());
    let a = send_to(&outer, get_req("/api/nope")).await;
    // Answer::code checks that the body's id is the header's.
    assert_eq!(a.code(), "REQ_003");
    let a = send_to(&outer, get_req("/nope").header("x-request-id", "kept")).await;
    assert_eq!(a.json()["error"]["request_id"], "kept");
}

#[tokio::test]
async fn foreign_error_bodies_become_contract_errors() {
    use axum::response::IntoResponse;
    let app = app();
    let routes = Router::new()
        .route(
            "/api/raw413",
            get(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "too big").into_response() }),
        )
        .route(
            "/api/raw400",
            get(|| async { (StatusCode::BAD_REQUEST, [("x-extra", "kept")], "nope") }),
        )
        .route("/api/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
        .layer(GateLayer::new(CuttyState::new(app.cutty.clone())))
        .layer(RequestIdLayer::new());
    let a = send_to(&routes, get_req("/api/raw413")).await;
    assert_eq!((a.status.as_u16(), a.code()), (413, "REQ_002".into()));
    let a = send_to(&routes, get_req("/api/raw400")).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "REQ_001".into()));
    assert_eq!(a.header("x-extra"), Some("kept"));
    assert!(a.rate_limit().is_some());
    // Axum's own 404 for an unrouted path, without any fallback of ours.
    let a = send_to(&routes, get_req("/api/unrouted")).await;
    assert_eq!((a.status.as_u16(), a.code()), (404, "REQ_003".into()));
    // A status with no obvious code is left alone.
    let a = send_to(&routes, get_req("/api/teapot")).await;
    assert_eq!(a.status.as_u16(), 418);
}

#[tokio::test]
async fn health_auth_reports_a_down_database_with_503() {
    use cutty_core::app::{HealthCheck, HealthService};
    use cutty_core::error::{StoreError, StoreErrorKind};
    struct Down;
    #[async_trait::async_trait]
    impl HealthCheck for Down {
        async fn ping(&self) -> Result<(), StoreError> {
            Err(StoreError::new(StoreErrorKind::Unavailable, "test"))
        }
    }
    let app = common::app_with_stores(
        |_| {},
        |s| {
            s.health
                .push((HealthService::Database, std::sync::Arc::new(Down)))
        },
    );
    let a = app.send(get_req("/health/auth")).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = a.json();
    assert_eq!(body["services"]["database"]["status"], "down");
    assert_eq!(body["services"]["cache"]["status"], "not_configured");
    app.conforms("/health/auth", "get", &a);
}
