//! Test fixtures: a started host with its configuration, accounts, API keys, uploads.

use std::time::Duration;

use serde_json::{Value, json};

use crate::check::{self, assert_token_pair, assert_user, int, path_id, string};
use crate::client::{Client, Resp};
use crate::host::{Config, Host, Launch, Operation};

/// The contract's default access-token lifetime (`CUTTY_ACCESS_TTL_SECONDS`).
pub const DEFAULT_ACCESS_TTL: i64 = 900;

/// A started host and the configuration it was started with.
#[derive(Debug)]
pub struct Ctx<H> {
    host: H,
    config: Config,
}

impl<H: Host> Ctx<H> {
    /// Starts a host for `config`, failing the test loudly if it cannot.
    pub async fn start<L: Launch<Host = H>>(launch: &L, config: Config) -> Self {
        let host = launch
            .launch(config.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self { host, config }
    }

    /// The host.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A client with a fresh client IP.
    pub fn client(&self) -> Client {
        Client::new(&self.host.base_url(), &self.config)
    }

    /// Runs an operator command, failing the test if it fails.
    pub async fn operate(&self, operation: Operation) {
        let what = format!("{operation:?}");
        self.host
            .operate(operation)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    /// Stops and starts the host on the same storage.
    pub async fn restart(&mut self) {
        self.host.restart().await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// The access-token lifetime the host was configured with.
    pub fn access_ttl(&self) -> i64 {
        i64::try_from(
            self.config
                .number("CUTTY_ACCESS_TTL_SECONDS", DEFAULT_ACCESS_TTL as u64),
        )
        .unwrap_or(DEFAULT_ACCESS_TTL)
    }

    /// Creates an administrator with the operator CLI and logs it in from its own client IP.
    pub async fn admin(&self) -> Account {
        let username = unique("admin");
        let email = format!("{username}@example.com");
        let password = strong_password();
        self.operate(Operation::CreateUser {
            username: username.clone(),
            email: email.clone(),
            password: password.clone(),
            admin: true,
        })
        .await;
        let client = self.client();
        let body = login(&client, &username, &password).await.ok_json(200);
        let account = Account::from_auth(&body, &password, self.access_ttl(), "admin login");
        assert_eq!(
            account.user["is_admin"],
            json!(true),
            "a user created with `user create --admin` must be an admin: {}",
            account.user
        );
        account
    }

    /// Registers a fresh user over HTTP from `client`.
    pub async fn register(&self, client: &Client) -> Account {
        register(client, self.access_ttl()).await
    }
}

/// A unique name: `prefix_` + 12 random characters.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", check::random_alnum(12))
}

/// A password that passes every registration rule.
pub fn strong_password() -> String {
    format!("Pw-{}-x", check::random_alnum(16))
}

/// A registered (or logged-in) user with one token pair.
#[derive(Debug, Clone)]
pub struct Account {
    /// User id.
    pub id: i64,
    /// Username as stored.
    pub username: String,
    /// Email as stored.
    pub email: String,
    /// Password.
    pub password: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
    /// The `user` object.
    pub user: Value,
}

impl Account {
    /// From a register/login answer (`token pair + user`).
    #[track_caller]
    pub fn from_auth(body: &Value, password: &str, expires_in: i64, what: &str) -> Self {
        check::assert_fields(
            body,
            &[
                "access_token",
                "refresh_token",
                "token_type",
                "expires_in",
                "user",
            ],
            what,
        );
        let (access, refresh) = assert_token_pair(body, expires_in, false, what);
        let user = body["user"].clone();
        let id = assert_user(&user, &format!("{what}.user"));
        Self {
            id,
            username: string(&user["username"], "username").to_owned(),
            email: string(&user["email"], "email").to_owned(),
            password: password.to_owned(),
            access,
            refresh,
            user,
        }
    }

    /// The same user with another token pair.
    pub fn with_tokens(&self, access: String, refresh: String) -> Self {
        Self {
            access,
            refresh,
            ..self.clone()
        }
    }
}

/// `POST /api/accounts/register`.
pub async fn register_raw(client: &Client, username: &str, email: &str, password: &str) -> Resp {
    client
        .post("/api/accounts/register")
        .json(&json!({"username": username, "email": email, "password": password}))
        .send()
        .await
}

/// Registers a fresh user and checks the 201 answer.
pub async fn register(client: &Client, expires_in: i64) -> Account {
    let username = unique("user");
    let email = format!("{username}@example.com");
    let password = strong_password();
    let body = register_raw(client, &username, &email, &password)
        .await
        .ok_json(201);
    let account = Account::from_auth(&body, &password, expires_in, "registration");
    assert_eq!(account.username, username);
    account
}

/// `POST /api/accounts/login`.
pub async fn login(client: &Client, username: &str, password: &str) -> Resp {
    client
        .post("/api/accounts/login")
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
}

/// Logs in, waiting out a progressive delay (`429 AUTH_006` with a short `Retry-After`) as a
/// well-behaved client would; for tests that are not about brute-force protection.
pub async fn login_patiently(client: &Client, username: &str, password: &str) -> Resp {
    for _ in 0..3 {
        let resp = login(client, username, password).await;
        if resp.status == 429 && resp.error_code().as_deref() == Some("AUTH_006") {
            let wait = resp.header_u64("retry-after");
            if wait <= 30 {
                tokio::time::sleep(Duration::from_millis(wait * 1000 + 300)).await;
                continue;
            }
        }
        return resp;
    }
    login(client, username, password).await
}

/// Logs `account` in again (a second session) and returns it with the new tokens.
pub async fn login_again(client: &Client, account: &Account, expires_in: i64) -> Account {
    let body = login_patiently(client, &account.username, &account.password)
        .await
        .ok_json(200);
    let fresh = Account::from_auth(&body, &account.password, expires_in, "login");
    assert_eq!(fresh.id, account.id);
    fresh
}

/// `GET /api/accounts/user` with a bearer token.
pub async fn whoami(client: &Client, token: &str) -> Resp {
    client.get("/api/accounts/user").bearer(token).send().await
}

/// `POST /api/accounts/token/refresh`.
pub async fn refresh(client: &Client, refresh_token: &str) -> Resp {
    client
        .post("/api/accounts/token/refresh")
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
}

/// An API key as created.
#[derive(Debug, Clone)]
pub struct Key {
    /// `key_id` as used in paths.
    pub id: String,
    /// The key itself.
    pub key: String,
    /// The whole 201 answer.
    pub created: Value,
}

/// `POST /api/api-keys` with the given body.
pub async fn create_key_raw(client: &Client, access: &str, body: &Value) -> Resp {
    client
        .post("/api/api-keys")
        .bearer(access)
        .json(body)
        .send()
        .await
}

/// Creates an API key with these permissions (and extra fields merged into the body).
pub async fn create_key(client: &Client, access: &str, permissions: &[&str], extra: Value) -> Key {
    let mut body = json!({"name": unique("key"), "permissions": permissions});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let created = create_key_raw(client, access, &body).await.ok_json(201);
    Key {
        id: path_id(&created["key_id"], "key_id"),
        key: string(&created["key"], "key").to_owned(),
        created,
    }
}

/// Every permission an API key can hold.
pub const ALL_PERMISSIONS: [&str; 3] = ["files:read", "files:write", "list:process"];

/// Uploads bytes as a raw body with `?filename=`; returns the response.
pub async fn upload_raw(
    client: &Client,
    token: &str,
    filename: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Resp {
    client
        .post(&format!("/api/files?filename={}", encode_query(filename)))
        .bearer(token)
        .body_with(content_type, bytes)
        .send()
        .await
}

/// Uploads a CSV file and returns its metadata.
pub async fn upload_csv(client: &Client, token: &str, filename: &str, text: &str) -> Value {
    upload_raw(
        client,
        token,
        filename,
        "text/csv",
        text.as_bytes().to_vec(),
    )
    .await
    .ok_json(201)
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /api/analytics/security/events?<query>` as `admin`; asserts 200 and the page shape,
/// returns `(events, next_cursor)`.
pub async fn events(client: &Client, admin: &Account, query: &str) -> (Vec<Value>, Option<String>) {
    let body = client
        .get(&format!("/api/analytics/security/events?{query}"))
        .bearer(&admin.access)
        .send()
        .await
        .ok_json(200);
    check::assert_fields(&body, &["events", "next_cursor"], "event page");
    let events = body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events is not an array: {body}"))
        .clone();
    for e in &events {
        assert_event(e);
    }
    let cursor = match &body["next_cursor"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    (events, cursor)
}

/// Asserts the shape of one security event.
#[track_caller]
pub fn assert_event(e: &Value) {
    check::assert_fields(
        e,
        &[
            "id",
            "timestamp",
            "event_type",
            "user_id",
            "ip_address",
            "success",
            "details",
        ],
        "security event",
    );
    path_id(&e["id"], "event.id");
    int(&e["timestamp"], "event.timestamp");
    string(&e["event_type"], "event.event_type");
    assert!(
        e["user_id"].is_null() || e["user_id"].is_i64(),
        "event.user_id must be an integer or null: {e}"
    );
    assert!(
        e["ip_address"].is_null() || e["ip_address"].is_string(),
        "event.ip_address must be a string or null: {e}"
    );
    check::boolean(&e["success"], "event.success");
}
