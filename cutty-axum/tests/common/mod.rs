//! A facade on in-memory stores with a fake clock, a router over it, and helpers to send
//! requests and check answers against the OpenAPI document.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use cutty_axum::{CuttyState, TokioPasswordWork};
use cutty_core::api_key::{ApiKeyHasher, ApiKeySalt, SaltId};
use cutty_core::app::{Cutty, Settings, Stores};
use cutty_core::clock::FakeClock;
use cutty_core::password::PasswordHasher;
use cutty_core::token::{Algorithm, Keyring};
use serde_json::Value;

/// The default client address of [`TestApp::request`].
pub const PEER: [u8; 4] = [192, 0, 2, 10];

pub struct TestApp {
    pub cutty: Cutty,
    pub clock: FakeClock,
    pub router: Router,
    pub spec: Value,
}

pub fn app() -> TestApp {
    app_with(|_| {})
}

pub fn app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    app_with_stores(configure, |_| {})
}

pub fn app_with_stores(
    configure: impl FnOnce(&mut Settings),
    stores_hook: impl FnOnce(&mut Stores),
) -> TestApp {
    let clock = FakeClock::at_unix_ms(1_700_000_000_000);
    let mut stores = cutty_store::memory::stores();
    stores_hook(&mut stores);
    let keyring = Keyring::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef").unwrap();
    let salt = ApiKeySalt::new(
        SaltId::new("test").unwrap(),
        b"a test salt, 16+ bytes".to_vec(),
    )
    .unwrap();
    let mut settings = Settings::new(keyring, ApiKeyHasher::new(salt));
    settings.password_hasher = PasswordHasher::new().with_iterations(1000).unwrap();
    configure(&mut settings);
    let cutty = Cutty::new(
        stores,
        settings,
        Arc::new(clock.clone()),
        Arc::new(TokioPasswordWork::new(2)),
    )
    .unwrap();
    let router = cutty_axum::router(CuttyState::new(cutty.clone()));
    let spec = serde_json::to_value(cutty_axum::openapi()).unwrap();
    TestApp {
        cutty,
        clock,
        router,
        spec,
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.bytes))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The error code of a contract error, after checking the whole error shape and that
    /// the body's request id is the header's.
    #[track_caller]
    pub fn code(&self) -> String {
        let body = self.json();
        let Some(error) = body.get("error") else {
            panic!("an error body expected, got {} {body}", self.status)
        };
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/json",
            "error content type"
        );
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            error["request_id"].as_str(),
            self.header("x-request-id"),
            "body and header request ids"
        );
        error["code"].as_str().expect("a code").to_owned()
    }

    pub fn rate_limit(&self) -> Option<(u64, u64, u64)> {
        let get = |n: &str| self.header(n).map(|v| v.parse::<u64>().unwrap());
        Some((
            get("x-ratelimit-limit")?,
            get("x-ratelimit-remaining")?,
            get("x-ratelimit-reset")?,
        ))
    }
}

pub struct Req {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    peer: SocketAddr,
}

pub fn req(method: Method, uri: &str) -> Req {
    Req {
        method,
        uri: uri.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        peer: SocketAddr::from((PEER, 40000)),
    }
}

pub fn get(uri: &str) -> Req {
    req(Method::GET, uri)
}

pub fn post(uri: &str, json: Value) -> Req {
    req(Method::POST, uri).json(json)
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(mut self, json: Value) -> Self {
        self.body = serde_json::to_vec(&json).unwrap();
        self.header("content-type", "application/json")
    }

    pub fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn peer(mut self, ip: [u8; 4]) -> Self {
        self.peer = SocketAddr::from((ip, 40000));
        self
    }

    pub fn build(self) -> Request<Body> {
        let mut b = Request::builder().method(self.method).uri(self.uri);
        for (n, v) in &self.headers {
            b = b.header(n, v);
        }
        let mut r = b.body(Body::from(self.body)).unwrap();
        r.extensions_mut().insert(ConnectInfo(self.peer));
        r
    }
}

pub async fn send_to(router: &Router, r: Req) -> Answer {
    use tower::ServiceExt;
    let response = router.clone().oneshot(r.build()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    assert!(
        headers.contains_key("x-request-id"),
        "X-Request-Id on every answer"
    );
    Answer {
        status,
        headers,
        bytes,
    }
}

impl TestApp {
    pub async fn send(&self, r: Req) -> Answer {
        send_to(&self.router, r).await
    }

    /// Registers `name` and answers its access token, checking the answer against the
    /// spec.
    pub async fn register(&self, name: &str) -> (String, Value) {
        let a = self
            .send(post(
                "/api/accounts/register",
                serde_json::json!({"username": name, "email": format!("{name}@example.org"),
                    "password": "correct horse battery"}),
            ))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
        self.conforms("/api/accounts/register", "post", &a);
        let body = a.json();
        (body["access_token"].as_str().unwrap().to_owned(), body)
    }

    /// An admin's access token.
    pub async fn admin_token(&self) -> String {
        self.cutty
            .admin()
            .create_user("root", "root@example.org", "correct horse battery", true)
            .await
            .unwrap();
        let a = self
            .send(post(
                "/api/accounts/login",
                serde_json::json!({"username": "root", "password": "correct horse battery"}),
            ))
            .await;
        assert_eq!(a.status, StatusCode::OK);
        a.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Checks that `answer` is documented for `path`/`method` (its status or `default`)
    /// and that its JSON body matches the documented schema.
    pub fn conforms(&self, path: &str, method: &str, answer: &Answer) {
        let op = &self.spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let status = answer.status.as_str();
        let response = op["responses"]
            .get(status)
            .or_else(|| op["responses"].get("default"))
            .unwrap_or_else(|| panic!("{status} undocumented for {method} {path}"));
        match response.pointer("/content/application~1json/schema") {
            Some(schema) => {
                let body = answer.json();
                if let Err(e) = validate(&self.spec, schema, &body, "$") {
                    panic!("{method} {path} {status}: {e}\nbody: {body}");
                }
            }
            None => {
                if response.get("content").is_none() {
                    assert!(
                        answer.bytes.is_empty(),
                        "{method} {path}: undocumented body"
                    );
                }
            }
        }
    }
}

/// A small JSON Schema check covering what the spec uses: `$ref`, `type` (one or a list),
/// `required`, `properties`, `additionalProperties`, `items`, `enum`, `pattern` (only `^…$`
/// literals and the code pattern), `format: uuid`, `minimum`.
pub fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        let target = &spec["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("{at}: unknown schema {name}"));
        }
        return validate(spec, target, value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            if list.iter().any(|s| validate(spec, s, value, at).is_ok()) {
                return Ok(());
            }
            return Err(format!("{at}: matches none of {key}"));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        return Err(format!("{at}: {value} not in {values:?}"));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            return Err(format!("{at}: {actual} where {types:?} expected"));
        }
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && value.as_f64().is_some_and(|v| v < min)
    {
        return Err(format!("{at}: {value} below minimum {min}"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("uuid")
        && let Some(s) = value.as_str()
        && uuid::Uuid::parse_str(s).is_err()
    {
        return Err(format!("{at}: {s:?} is not a uuid"));
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str)
        && let Some(s) = value.as_str()
    {
        let ok = match p {
            "^ok$" => s == "ok",
            "^[A-Z]+_[0-9]{3}$" => {
                let (a, b) = s.split_once('_').unwrap_or(("", ""));
                !a.is_empty()
                    && a.bytes().all(|c| c.is_ascii_uppercase())
                    && b.len() == 3
                    && b.bytes().all(|c| c.is_ascii_digit())
            }
            other => return Err(format!("{at}: pattern {other} not supported by the test")),
        };
        if !ok {
            return Err(format!("{at}: {s:?} does not match {p}"));
        }
    }
    if let Some(obj) = value.as_object() {
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{at}: required field {r} missing"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(spec, s, v, &format!("{at}.{k}"))?,
                None => match schema.get("additionalProperties") {
                    Some(s) if s.is_object() => validate(spec, s, v, &format!("{at}.{k}"))?,
                    Some(Value::Bool(false)) => return Err(format!("{at}: unexpected field {k}")),
                    // Undocumented fields would make the mirrors untruthful: refuse them.
                    _ if props.is_some() => return Err(format!("{at}: undocumented field {k}")),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            validate(spec, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
