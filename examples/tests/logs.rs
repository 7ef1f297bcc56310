//! Secrets never reach the logs, even at `RUST_LOG=trace`.
//!
//! Each test starts `cutty serve` with the most verbose logging there is (`RUST_LOG=trace`,
//! `DEBUG_MODE=true`), captures its stdout and stderr, walks through every flow that
//! handles a secret — registration, logins with the right and a wrong password and for an
//! unknown user, refresh and refresh reuse, API-key creation and use, password changes,
//! logout, the admin routes, forged tokens — stops the server, and then searches the
//! captured output for every secret involved: the passwords, the access and refresh tokens
//! and their signatures, the API key and its secret part, `JWT_SECRET`, `API_KEY_SALT`,
//! and the password and API-key hashes read back from the database. One hit fails the
//! test. Once with SQLite and compact logs, once with PostgreSQL + Redis and the JSON logs
//! of `CUTTY_ENV=production`.
mod support;

use serde_json::{Value, json};
use support::{PG_ADDR, REDIS_ADDR, RedisPrefix, Schema, Server, TempDir, run_cli};

/// What a test must never find in the logs, each with a label for the failure message.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, label: &str, value: &str) {
        assert!(
            value.len() >= 8,
            "{label} is too short to search for: {value:?}"
        );
        self.0.push((label.to_owned(), value.to_owned()));
    }

    /// A JWT, and its signature on its own.
    fn add_token(&mut self, label: &str, token: &str) {
        self.add(label, token);
        let signature = token.rsplit('.').next().expect("a JWT");
        self.add(&format!("{label} signature"), signature);
    }

    /// A Django-format hash (`algorithm$iterations$salt$hash`), and its salt and hash.
    fn add_password_hash(&mut self, label: &str, encoded: &str) {
        self.add(label, encoded);
        let parts: Vec<&str> = encoded.split('$').collect();
        assert_eq!(parts.len(), 4, "{label}: not a PBKDF2 hash");
        self.add(&format!("{label} salt"), parts[2]);
        self.add(&format!("{label} digest"), parts[3]);
    }

    /// Every secret found in `logs`, with where.
    fn hits(&self, logs: &str) -> Vec<String> {
        let mut hits = Vec::new();
        for (label, value) in &self.0 {
            for (n, line) in logs.lines().enumerate() {
                if line.contains(value.as_str()) {
                    hits.push(format!("{label} on log line {}: {line}", n + 1));
                }
            }
        }
        hits
    }
}

fn random(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(n);
    s
}

fn token(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .to_owned()
}

/// Exercises every flow that carries a secret against `server`; returns the secrets used
/// (all but the stored hashes, which the caller reads back from the database).
fn exercise(server: &Server, dir: &std::path::Path, vars: &[(String, String)]) -> Secrets {
    let mut secrets = Secrets::default();
    let password = format!("first-Pw-{}", random(20));
    let new_password = format!("second-Pw-{}", random(20));
    let wrong = format!("wrong-Pw-{}", random(20));
    let unknown_users = format!("unknown-Pw-{}", random(20));
    let admin_password = format!("admin-Pw-{}", random(20));
    let rejected = format!("rejected-Pw-{}", random(20));
    for (label, p) in [
        ("password", &password),
        ("new password", &new_password),
        ("wrong password", &wrong),
        ("password tried for an unknown user", &unknown_users),
        ("admin password", &admin_password),
        ("password of a refused registration", &rejected),
    ] {
        secrets.add(label, p);
    }

    // An administrator made with the CLI (password on stdin); the CLI must not echo it.
    let cli = run_cli(
        dir,
        vars,
        &[
            "--json",
            "user",
            "create",
            "--username",
            "root",
            "--email",
            "root@example.org",
            "--admin",
        ],
        format!("{admin_password}\n").as_bytes(),
    );
    assert!(
        !cli.contains(&admin_password),
        "the CLI echoed the password: {cli}"
    );

    // Registration, and a refused one (bad email) carrying a password.
    let reg = server
        .post(
            "/api/accounts/register",
            None,
            json!({"username": "alice", "email": "alice@example.org", "password": password}),
        )
        .expect(201)
        .clone();
    let user_id = reg["user"]["id"].as_i64().expect("user id");
    secrets.add_token("registration access token", &token(&reg, "access_token"));
    secrets.add_token("registration refresh token", &token(&reg, "refresh_token"));
    server
        .post(
            "/api/accounts/register",
            None,
            json!({"username": "bob", "email": "not an email", "password": rejected}),
        )
        .expect_error(400, "REQ_001");
    // Malformed JSON, and a mistyped field, holding a password.
    let truncated = format!(r#"{{"username":"alice","password":"{rejected}""#);
    server
        .request_raw(
            "POST",
            "/api/accounts/login",
            &[("Content-Type", "application/json")],
            truncated.as_bytes(),
        )
        .expect_error(400, "REQ_001");
    server
        .post(
            "/api/accounts/login",
            None,
            json!({"username": ["alice", rejected], "password": rejected}),
        )
        .expect_error(400, "REQ_001");

    // Logins: wrong password, unknown user, right password (after the progressive delay).
    // (Each failure comes from its own client IP, through the trusted loopback proxy, so
    // the per-IP progressive delay does not hold up the next step.)
    let from = |ip: &str, body: Value| {
        server.request(
            "POST",
            "/api/accounts/login",
            &[("X-Forwarded-For", ip)],
            Some(&body),
        )
    };
    from(
        "203.0.113.1",
        json!({"username": "alice", "password": wrong}),
    )
    .expect_error(401, "AUTH_004");
    from(
        "203.0.113.2",
        json!({"username": "nobody-here", "password": unknown_users}),
    )
    .expect_error(401, "AUTH_004");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let login = server
        .post(
            "/api/accounts/login",
            None,
            json!({"username": "alice", "password": password}),
        )
        .expect(200)
        .clone();
    secrets.add_token("login access token", &token(&login, "access_token"));
    let refresh = token(&login, "refresh_token");
    secrets.add_token("login refresh token", &refresh);

    // Refresh, then reuse of the same refresh token (revokes the family).
    let rotated = server
        .post(
            "/api/accounts/token/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .expect(200)
        .clone();
    secrets.add_token("rotated access token", &token(&rotated, "access_token"));
    secrets.add_token("rotated refresh token", &token(&rotated, "refresh_token"));
    server
        .post(
            "/api/accounts/token/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .expect_error(401, "AUTH_003");
    server
        .get("/api/accounts/user", Some(&token(&rotated, "access_token")))
        .expect_error(401, "AUTH_003");

    // A fresh session: the current user, an API key made and used.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let session = server
        .post(
            "/api/accounts/login",
            None,
            json!({"username": "alice@example.org", "password": password}),
        )
        .expect(200)
        .clone();
    let access = token(&session, "access_token");
    secrets.add_token("session access token", &access);
    secrets.add_token("session refresh token", &token(&session, "refresh_token"));
    server.get("/api/accounts/user", Some(&access)).expect(200);
    let created = server
        .post(
            "/api/api-keys",
            Some(&access),
            json!({"name": "ci", "permissions": ["files:read", "files:write"]}),
        )
        .expect(201)
        .clone();
    let key = token(&created, "key");
    secrets.add("API key", &key);
    secrets.add(
        "API key secret part",
        key.strip_prefix("cutty_").expect("cutty_ prefix"),
    );
    let key_id = created["key_id"].to_string().trim_matches('"').to_owned();
    server.get("/api/accounts/user", Some(&key)).expect(200);
    server.get("/api/files", Some(&key)).expect(200);
    server.get("/api/api-keys", Some(&access)).expect(200);
    server.get("/api/api-keys/usage", Some(&access)).expect(200);
    // A key with a broken checksum and a well-formed unknown one.
    let mut broken = key.clone();
    broken.pop();
    broken.push(if key.ends_with('A') { 'B' } else { 'A' });
    secrets.add("mangled API key", &broken);
    server
        .get("/api/accounts/user", Some(&broken))
        .expect_error(401, "API_001");

    // Password change: a wrong old password, then the real one.
    server
        .request(
            "POST",
            "/api/accounts/password",
            &[
                ("Authorization", &format!("Bearer {access}")),
                ("X-Forwarded-For", "203.0.113.3"),
            ],
            Some(&json!({"old_password": wrong, "new_password": new_password})),
        )
        .expect_error(401, "AUTH_004");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let changed = server
        .post(
            "/api/accounts/password",
            Some(&access),
            json!({"old_password": password, "new_password": new_password}),
        )
        .expect(200)
        .clone();
    let after = token(&changed, "access_token");
    secrets.add_token("access token after the change", &after);
    secrets.add_token(
        "refresh token after the change",
        &token(&changed, "refresh_token"),
    );
    server
        .get("/api/accounts/user", Some(&access))
        .expect_error(401, "AUTH_003");

    // A forged token (another key) and garbage.
    let mut parts: Vec<&str> = after.split('.').collect();
    parts[2] = "c2lnbmF0dXJlLWZyb20tYW5vdGhlci1rZXktMDEyMzQ1Njc4OQ";
    let forged = parts.join(".");
    secrets.add_token("forged token", &forged);
    server
        .get("/api/accounts/user", Some(&forged))
        .expect_error(401, "AUTH_001");

    // Admin routes.
    let admin = server
        .post(
            "/api/accounts/login",
            None,
            json!({"username": "root", "password": admin_password}),
        )
        .expect(200)
        .clone();
    let admin_access = token(&admin, "access_token");
    secrets.add_token("admin access token", &admin_access);
    secrets.add_token("admin refresh token", &token(&admin, "refresh_token"));
    let a = Some(admin_access.as_str());
    server
        .get("/api/analytics/security/events?limit=500", a)
        .expect(200);
    server.get("/api/analytics/security/metrics", a).expect(200);
    server
        .post(
            "/api/analytics/security/block-ip",
            a,
            json!({"ip_address": "198.51.100.0/24", "reason": "test"}),
        )
        .expect(201);
    server
        .get("/api/analytics/security/blocked-ips", a)
        .expect(200);
    server
        .post(
            "/api/analytics/security/unblock-ip",
            a,
            json!({"ip_address": "198.51.100.0/24"}),
        )
        .expect(200);
    server
        .request(
            "DELETE",
            &format!("/api/api-keys/{key_id}"),
            &[("Authorization", &format!("Bearer {admin_access}"))],
            None,
        )
        .expect(204);
    server
        .get("/api/accounts/user", Some(&key))
        .expect_error(401, "API_004");
    server
        .post(
            "/api/admin/invalidate-user-tokens",
            a,
            json!({"user_id": user_id}),
        )
        .expect(200);
    server
        .get("/api/accounts/user", Some(&after))
        .expect_error(401, "AUTH_003");

    // Logout with the refresh token in the body.
    server
        .post(
            "/api/accounts/logout",
            a,
            json!({"refresh_token": token(&admin, "refresh_token")}),
        )
        .expect(204);
    secrets
}

/// The server's environment with `RUST_LOG=trace` and known secrets.
fn base_vars(dir: &TempDir, jwt_secret: &str, salt: &str) -> Vec<(String, String)> {
    [
        ("RUST_LOG", "trace".to_owned()),
        ("DEBUG_MODE", "true".to_owned()),
        ("JWT_SECRET", jwt_secret.to_owned()),
        ("API_KEY_SALT", salt.to_owned()),
        (
            "CUTTY_FILES_DIR",
            dir.path().join("files").display().to_string(),
        ),
        ("CUTTY_PBKDF2_ITERATIONS", "1000".to_owned()),
        ("CUTTY_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Every user's password hash and every API key's hash, read back from the database.
async fn stored_hashes<S>(store: &S) -> Vec<(String, String)>
where
    S: cutty_core::user::UserStore + cutty_core::api_key::ApiKeyStore,
{
    let mut out = Vec::new();
    for login in ["alice", "root"] {
        let user = store
            .find_by_login(login)
            .await
            .expect("store")
            .expect("user");
        out.push((format!("{login}'s password hash"), user.password_hash));
    }
    for record in store.list_all().await.expect("store") {
        out.push(("API key hash".to_owned(), record.key_hash.to_hex()));
    }
    assert!(out.len() >= 3, "no API key stored");
    out
}

/// Runs the flows, stops the server, and fails on any secret in its output.
fn check(
    server: &mut Server,
    secrets: &mut Secrets,
    extra: &[(&str, &str)],
    hashes: Vec<(String, String)>,
) {
    server.stop();
    for (label, value) in extra {
        secrets.add(label, value);
    }
    for (label, hash) in hashes {
        if hash.contains('$') {
            secrets.add_password_hash(&label, &hash);
        } else {
            secrets.add(&label, &hash);
        }
    }
    let logs = server.logs();
    // The logging really was verbose: debug events (no crate in the graph emits trace
    // events on these paths), SQL statements (`sqlx=warn` by default) and the request lines.
    assert!(
        logs.contains("DEBUG")
            && logs.contains("sqlx::query")
            && logs.contains("/api/accounts/login"),
        "RUST_LOG=trace did not make the logs verbose:\n{logs}"
    );
    let hits = secrets.hits(&logs);
    assert!(
        hits.is_empty(),
        "{} secret(s) in {} lines of logs:\n{}",
        hits.len(),
        logs.lines().count(),
        hits.join("\n")
    );
    assert!(
        !logs.contains("pbkdf2_sha256$"),
        "a password hash format in the logs"
    );
    eprintln!(
        "searched {} lines of logs for {} secrets: none found",
        logs.lines().count(),
        secrets.0.len()
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Starts the server with known secrets and `storage` on top of [`base_vars`], walks every
/// flow, stops it, reads the stored hashes with `stored`, and fails on any secret in its
/// logs.
fn walk_and_search<Fut>(dir: &TempDir, storage: &[(&str, String)], stored: impl FnOnce() -> Fut)
where
    Fut: std::future::Future<Output = Vec<(String, String)>>,
{
    let (jwt_secret, salt) = (
        format!("jwt-{}", random(44)),
        format!("salt-{}", random(28)),
    );
    let mut vars = base_vars(dir, &jwt_secret, &salt);
    vars.extend(storage.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let mut server = Server::start(dir.path(), &vars);
    let mut secrets = exercise(&server, dir.path(), &vars);
    server.stop();
    let hashes = runtime().block_on(stored());
    check(
        &mut server,
        &mut secrets,
        &[("JWT_SECRET", &jwt_secret), ("API_KEY_SALT", &salt)],
        hashes,
    );
}

#[test]
fn no_secret_reaches_the_logs_sqlite() {
    let dir = TempDir::new("logs-sqlite");
    let db = format!("sqlite://{}", dir.path().join("cutty.db").display());
    let storage = [
        ("DATABASE_URL", db.clone()),
        ("CUTTY_ENV", "development".to_owned()),
    ];
    walk_and_search(&dir, &storage, || async move {
        let store = cutty_store::sqlite::SqliteStore::connect(&db, Default::default())
            .await
            .expect("the database");
        let hashes = stored_hashes(&store).await;
        store.close().await;
        hashes
    });
}

#[test]
fn no_secret_reaches_the_logs_postgres_redis_production() {
    let schema = Schema::create();
    let prefix = RedisPrefix::create();
    let dir = TempDir::new("logs-pg");
    let url = schema.url(PG_ADDR);
    let storage = [
        ("DATABASE_URL", url.clone()),
        ("REDIS_URL", format!("redis://{REDIS_ADDR}")),
        ("CUTTY_REDIS_PREFIX", prefix.prefix.clone()),
        ("CUTTY_ENV", "production".to_owned()),
    ];
    walk_and_search(&dir, &storage, || async move {
        let store = cutty_store::postgres::PostgresStore::connect(&url, Default::default())
            .await
            .expect("the database");
        let hashes = stored_hashes(&store).await;
        store.close().await;
        hashes
    });
}
