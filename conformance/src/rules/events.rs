//! Security events (`GET /api/analytics/security/events`) and metrics.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::block_body;
use crate::check::{self, assert_fields, int, path_id};
use crate::client::Client;
use crate::fixtures::{self, Account, Ctx, events, login, refresh, whoami};
use crate::host::{Config, Launch};

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| path_id(&e["id"], "id")).collect()
}

fn assert_newest_first(events: &[Value]) {
    for w in events.windows(2) {
        assert!(
            int(&w[0]["timestamp"], "timestamp") >= int(&w[1]["timestamp"], "timestamp"),
            "events must be newest first: {} before {}",
            w[0],
            w[1]
        );
    }
}

/// Every event is `{id, timestamp (ms), event_type, user_id, ip_address, success, details}`,
/// newest first; the page is `{events, next_cursor}`; a registration is recorded with the
/// new user's id, the client IP and `success: true`.
pub async fn events_shape_and_order<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let account = ctx.register(&c).await;
    login(&c, &account.username, &account.password)
        .await
        .expect(200);
    let (list, _) = events(&c, &admin, &format!("ip_address={}", c.ip())).await;
    assert!(
        list.len() >= 2,
        "registration and login from {} not recorded: {list:?}",
        c.ip()
    );
    assert_newest_first(&list);
    let reg = list
        .iter()
        .find(|e| e["event_type"] == json!("registration"))
        .unwrap_or_else(|| panic!("no registration event: {list:?}"));
    assert_eq!(reg["user_id"], json!(account.id));
    assert_eq!(reg["ip_address"], json!(c.ip()));
    assert_eq!(reg["success"], json!(true));
    check::ms_near_now(&reg["timestamp"], "timestamp");
}

/// Finds at least one event of `event_type` (with `success` when given) from `ip`.
async fn expect_event(
    c: &Client,
    admin: &Account,
    event_type: &str,
    ip: &str,
    success: Option<bool>,
) -> Value {
    let mut query = format!("event_type={event_type}&ip_address={ip}");
    if let Some(s) = success {
        query.push_str(&format!("&success={s}"));
    }
    let (list, _) = events(c, admin, &query).await;
    for e in &list {
        assert_eq!(
            e["event_type"],
            json!(event_type),
            "filter event_type ignored: {e}"
        );
        assert_eq!(e["ip_address"], json!(ip), "filter ip_address ignored: {e}");
        if let Some(s) = success {
            assert_eq!(e["success"], json!(s), "filter success ignored: {e}");
        }
    }
    list.first().cloned().unwrap_or_else(|| {
        panic!("no `{event_type}` event (success {success:?}) from {ip} recorded")
    })
}

/// Each auth decision is recorded with its type: registration, login (success and
/// failure — a failed login is `login` with `success: false`), token_refresh,
/// refresh_reuse, token_invalid, api_key_created, api_key_revoked, password_changed,
/// logout, tokens_invalidated, ip_blocked, ip_unblocked.
pub async fn auth_decisions_are_recorded<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let admin_client = c.fresh();
    let account = ctx.register(&c).await;
    let session = fixtures::login_again(&c, &account, ctx.access_ttl()).await;
    refresh(&c, &session.refresh).await.ok_json(200);
    refresh(&c, &session.refresh)
        .await
        .expect_error(401, "AUTH_003");
    let jwt = check::decode_jwt(&account.access);
    let forged = check::sign_hs256(&jwt.header, &jwt.claims, b"not-the-secret");
    whoami(&c, &forged).await.expect_error(401, "AUTH_001");
    let key = fixtures::create_key(&c, &account.access, &["files:read"], json!({})).await;
    c.delete(&format!("/api/api-keys/{}", key.id))
        .bearer(&account.access)
        .send()
        .await
        .expect(204);
    let new_password = fixtures::strong_password();
    let changed = c
        .post("/api/accounts/password")
        .bearer(&account.access)
        .json(&json!({"old_password": account.password, "new_password": new_password}))
        .send()
        .await
        .ok_json(200);
    let access = changed["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    c.post("/api/accounts/logout")
        .bearer(&access)
        .send()
        .await
        .expect(204);
    login(&c, &account.username, "Wrong-password-9")
        .await
        .expect_error(401, "AUTH_004");
    admin_client
        .post("/api/admin/invalidate-user-tokens")
        .bearer(&admin.access)
        .json(&json!({"user_id": account.id}))
        .send()
        .await
        .expect(200);
    let blocked = crate::client::fresh_ip();
    admin_client
        .post("/api/analytics/security/block-ip")
        .bearer(&admin.access)
        .json(&block_body(&blocked))
        .send()
        .await
        .expect(201);
    admin_client
        .post("/api/analytics/security/unblock-ip")
        .bearer(&admin.access)
        .json(&json!({"ip_address": blocked}))
        .send()
        .await
        .expect(200);

    let ip = c.ip().to_owned();
    let reg = expect_event(&c, &admin, "registration", &ip, Some(true)).await;
    assert_eq!(reg["user_id"], json!(account.id));
    expect_event(&c, &admin, "login", &ip, Some(true)).await;
    let failed = expect_event(&c, &admin, "login", &ip, Some(false)).await;
    assert_eq!(failed["success"], json!(false));
    for t in [
        "token_refresh",
        "refresh_reuse",
        "token_invalid",
        "api_key_created",
        "api_key_revoked",
        "password_changed",
        "logout",
    ] {
        expect_event(&c, &admin, t, &ip, None).await;
    }
    for t in ["tokens_invalidated", "ip_blocked", "ip_unblocked"] {
        expect_event(&c, &admin, t, admin_client.ip(), None).await;
    }
}

/// Rate-limit refusals and lockouts are recorded (`rate_limit`, `lockout`), with the client
/// IP.
pub async fn rate_limits_and_lockouts_are_recorded<L: Launch>(launch: &L) {
    let config = Config::standard()
        .set("CUTTY_RATE_LIMIT_IP", 4)
        .set("CUTTY_LOCKOUT_THRESHOLD", 2)
        .set("CUTTY_LOCKOUT_SECONDS", 60);
    let ctx = Ctx::start(launch, config).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let limited = c.fresh();
    for _ in 0..4 {
        limited.get("/api/accounts/user").send().await.expect(401);
    }
    limited
        .get("/api/accounts/user")
        .send()
        .await
        .expect_error(429, "RATE_001");
    let guesser = c.fresh();
    let victim = ctx.register(&c.fresh()).await;
    login(&guesser, &victim.username, "Wrong-password-1")
        .await
        .expect_error(401, "AUTH_004");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    login(&guesser, &victim.username, "Wrong-password-2")
        .await
        .expect_error(401, "AUTH_004");
    login(&guesser, &victim.username, &victim.password)
        .await
        .expect_error(429, "AUTH_006");
    expect_event(&c, &admin, "rate_limit", limited.ip(), None).await;
    expect_event(&c, &admin, "lockout", guesser.ip(), None).await;
}

/// Filters: `event_type`, `user_id`, `ip_address`, `success`, and `since`/`until`
/// (milliseconds, inclusive) each narrow the result to matching events.
pub async fn events_filters<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let account = ctx.register(&c).await;
    login(&c, &account.username, &account.password)
        .await
        .expect(200);
    login(&c, &account.username, "Wrong-password-1")
        .await
        .expect_error(401, "AUTH_004");
    let ip = c.ip().to_owned();

    let (by_user, _) = events(&c, &admin, &format!("user_id={}", account.id)).await;
    assert!(!by_user.is_empty(), "no events for user {}", account.id);
    assert!(
        by_user.iter().all(|e| e["user_id"] == json!(account.id)),
        "user_id filter ignored: {by_user:?}"
    );

    let (by_ip, _) = events(&c, &admin, &format!("ip_address={ip}&limit=500")).await;
    assert!(
        by_ip.len() >= 3,
        "registration, login and failed login from {ip}: {by_ip:?}"
    );
    assert!(
        by_ip.iter().all(|e| e["ip_address"] == json!(ip)),
        "ip filter ignored"
    );

    let (failures, _) = events(&c, &admin, &format!("ip_address={ip}&success=false")).await;
    assert!(!failures.is_empty() && failures.iter().all(|e| e["success"] == json!(false)));
    let (successes, _) = events(&c, &admin, &format!("ip_address={ip}&success=true")).await;
    assert!(!successes.is_empty() && successes.iter().all(|e| e["success"] == json!(true)));

    let (logins, _) = events(&c, &admin, &format!("ip_address={ip}&event_type=login")).await;
    assert_eq!(
        logins.len(),
        2,
        "one successful and one failed login: {logins:?}"
    );

    let first = &by_ip[by_ip.len() - 1];
    let t = int(&first["timestamp"], "timestamp");
    let id = path_id(&first["id"], "id");
    let (exact, _) = events(&c, &admin, &format!("ip_address={ip}&since={t}&until={t}")).await;
    assert!(
        ids(&exact).contains(&id),
        "since/until are inclusive: {t} not found"
    );
    assert!(exact.iter().all(|e| e["timestamp"] == json!(t)));
    let (after, _) = events(&c, &admin, &format!("ip_address={ip}&since={}", t + 1)).await;
    assert!(
        !ids(&after).contains(&id),
        "since={} must exclude an event at {t}",
        t + 1
    );
    let (before, _) = events(&c, &admin, &format!("ip_address={ip}&until={}", t - 1)).await;
    assert!(
        !ids(&before).contains(&id),
        "until={} must exclude an event at {t}",
        t - 1
    );
}

/// Paging: `limit` bounds the page, `next_cursor` leads to the next page, pages neither
/// overlap nor skip, and the last page has `next_cursor: null`. `limit` defaults to 50 and
/// may be 500.
pub async fn events_paging_with_cursor<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let account = ctx.register(&c).await;
    for _ in 0..54 {
        login(&c, &account.username, &account.password)
            .await
            .expect(200);
    }
    let ip = c.ip().to_owned();
    let filter = format!("ip_address={ip}&event_type=login");
    let (all, cursor) = events(&c, &admin, &format!("{filter}&limit=500")).await;
    assert_eq!(all.len(), 54, "54 logins");
    assert!(
        cursor.is_none(),
        "single page must end with next_cursor null"
    );
    assert_newest_first(&all);
    let (default_page, cursor) = events(&c, &admin, &filter).await;
    assert_eq!(default_page.len(), 50, "default limit is 50");
    assert!(
        cursor.is_some(),
        "more events than the default limit: next_cursor expected"
    );

    let mut collected = Vec::new();
    let mut query = format!("{filter}&limit=20");
    let mut pages = 0;
    loop {
        let (page, next) = events(&c, &admin, &query).await;
        pages += 1;
        assert!(page.len() <= 20);
        collected.extend(page);
        match next {
            Some(cur) => {
                assert!(pages < 10, "paging does not end");
                query = format!("{filter}&limit=20&cursor={}", fixtures::encode_query(&cur));
            }
            None => break,
        }
    }
    assert_eq!(pages, 3, "54 events in pages of 20");
    assert_eq!(
        ids(&collected),
        ids(&all),
        "pages must cover every event once, in order"
    );
    let unique: BTreeSet<String> = ids(&collected).into_iter().collect();
    assert_eq!(unique.len(), 54);
}

/// Bad query values are `400 REQ_001`: limit outside 1–500 or not an integer, `success`
/// other than true/false, non-integer or overflowing times and user ids, a non-IP
/// `ip_address`, an unknown `event_type`, a garbage cursor.
pub async fn events_bad_query_values_are_req_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let long_type = "x".repeat(1000);
    let bad = [
        "limit=0".to_owned(),
        "limit=501".to_owned(),
        "limit=-1".to_owned(),
        "limit=abc".to_owned(),
        "limit=1.5".to_owned(),
        "limit=1e3".to_owned(),
        "limit=99999999999999999999999".to_owned(),
        "success=yes".to_owned(),
        "success=1".to_owned(),
        "since=abc".to_owned(),
        "until=1.5".to_owned(),
        "since=99999999999999999999999".to_owned(),
        "user_id=abc".to_owned(),
        "user_id=99999999999999999999999".to_owned(),
        "ip_address=not-an-ip".to_owned(),
        "ip_address=10.0.0.256".to_owned(),
        "event_type=no_such_type".to_owned(),
        format!("event_type={long_type}"),
        "cursor=%00%FF%FE".to_owned(),
        "cursor=garbage".to_owned(),
    ];
    for query in bad {
        c.get(&format!("/api/analytics/security/events?{query}"))
            .bearer(&admin.access)
            .send()
            .await
            .expect_error(400, "REQ_001");
    }
    for ok in [
        "limit=1",
        "limit=500",
        "success=true",
        "success=false",
        "event_type=login",
    ] {
        events(&c, &admin, ok).await;
    }
}

/// Metrics are `{last_hour, last_day, blocked_ips}`: per event type `{success, failure}`
/// counts, last_day ≥ last_hour, and exact increments for one successful and one failed
/// login and two blocks.
pub async fn metrics_shape_and_counts<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard().exclusive()).await;
    let c = ctx.client();
    let admin = ctx.admin().await;
    let account = ctx.register(&c).await;
    let get = || async {
        let m = c
            .get("/api/analytics/security/metrics")
            .bearer(&admin.access)
            .send()
            .await
            .ok_json(200);
        assert_fields(&m, &["last_hour", "last_day", "blocked_ips"], "metrics");
        for period in ["last_hour", "last_day"] {
            let map = m[period]
                .as_object()
                .unwrap_or_else(|| panic!("metrics.{period} is not an object: {m}"));
            for (t, counts) in map {
                assert_fields(
                    counts,
                    &["success", "failure"],
                    &format!("metrics.{period}.{t}"),
                );
                assert!(
                    counts["success"].as_u64().is_some() && counts["failure"].as_u64().is_some(),
                    "{m}"
                );
            }
        }
        for (t, counts) in m["last_hour"].as_object().into_iter().flatten() {
            for field in ["success", "failure"] {
                let hour = counts[field].as_u64().unwrap_or(0);
                let day = m["last_day"][t][field].as_u64().unwrap_or(0);
                assert!(day >= hour, "last_day.{t}.{field} {day} < last_hour {hour}");
            }
        }
        assert!(
            m["blocked_ips"].as_u64().is_some(),
            "blocked_ips is not a count: {m}"
        );
        m
    };
    let count = |m: &Value, field: &str| m["last_hour"]["login"][field].as_u64().unwrap_or(0);
    let before = get().await;
    login(&c, &account.username, &account.password)
        .await
        .expect(200);
    login(&c, &account.username, "Wrong-password-1")
        .await
        .expect_error(401, "AUTH_004");
    for ip in ["10.251.0.1", "10.251.1.0/24"] {
        c.post("/api/analytics/security/block-ip")
            .bearer(&admin.access)
            .json(&block_body(ip))
            .send()
            .await
            .expect(201);
    }
    let after = get().await;
    assert_eq!(
        count(&after, "success"),
        count(&before, "success") + 1,
        "login successes: {after}"
    );
    assert_eq!(
        count(&after, "failure"),
        count(&before, "failure") + 1,
        "login failures: {after}"
    );
    assert_eq!(
        after["blocked_ips"].as_u64().unwrap_or(0),
        before["blocked_ips"].as_u64().unwrap_or(0) + 2,
        "blocked_ips after two blocks"
    );
}
