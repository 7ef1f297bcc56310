//! An HTTP client that checks the contract's universal rules on every response it sees:
//! never a 5xx, a valid `X-Request-Id`, the error envelope with a known code and its status,
//! consistent rate-limit headers, and `Retry-After` on every 429.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::host::Config;

/// Per-request timeout: a server that hangs fails the test instead of blocking it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Every error code of the contract with the status it must be sent with.
pub const ERROR_CODES: &[(&str, &[u16])] = &[
    ("AUTH_001", &[401]),
    ("AUTH_002", &[401]),
    ("AUTH_003", &[401]),
    ("AUTH_004", &[401]),
    ("AUTH_005", &[404]),
    ("AUTH_006", &[429]),
    ("AUTH_007", &[403]),
    ("AUTH_008", &[403]),
    ("AUTH_009", &[409]),
    ("AUTH_010", &[403]),
    ("API_001", &[401]),
    ("API_002", &[401]),
    ("API_003", &[401]),
    ("API_004", &[401]),
    ("API_005", &[403]),
    // API_006 is "not emitted": absent on purpose.
    ("DB_001", &[503]),
    ("DB_002", &[503]),
    ("DB_003", &[409]),
    ("DB_004", &[500]),
    ("DB_005", &[500]),
    ("RATE_001", &[429]),
    ("RATE_002", &[429]),
    ("RATE_003", &[429]),
    ("RATE_004", &[429]),
    ("FILE_001", &[400, 500]),
    ("FILE_002", &[404]),
    ("FILE_003", &[403]),
    ("FILE_004", &[413]),
    ("FILE_005", &[415]),
    ("REQ_001", &[400]),
    ("REQ_002", &[413]),
    ("REQ_003", &[404]),
    ("REQ_004", &[404]),
    ("REQ_005", &[405]),
    ("REQ_006", &[415]),
    ("SEC_001", &[403]),
];

/// Fragments that must never reach a client in an error message or its details (stack
/// traces, SQL, driver names, source paths). Compared case-insensitively.
const LEAKS: &[&str] = &[
    "panicked",
    "stack backtrace",
    "unwrap()",
    ".rs:",
    "select * ",
    "insert into",
    "delete from",
    "sqlx",
    "sqlite",
    "postgres",
    "redis",
];

/// The next client IP: a random /8-internal base per process plus a counter, so every
/// client of one test binary has its own IP (and its own IP counters and lockouts on a
/// shared host).
fn next_ip() -> String {
    // 10.a.b.c with c in 1..=254: 256 × 256 × 254 addresses.
    const SPACE: u32 = 256 * 256 * 254;
    static BASE: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = *BASE.get_or_init(|| {
        let b = uuid::Uuid::new_v4();
        let b = b.as_bytes();
        u32::from_be_bytes([0, b[0], b[1], b[2]]) % SPACE
    });
    let n = (base + NEXT.fetch_add(1, Ordering::Relaxed) % SPACE) % SPACE;
    format!("10.{}.{}.{}", n / (256 * 254), (n / 254) % 256, 1 + n % 254)
}

/// A fresh client IP that no other client of this process uses.
pub fn fresh_ip() -> String {
    next_ip()
}

/// A client of one host, presenting one client IP through `X-Forwarded-For` (the suite's
/// standard configuration trusts the loopback peer as a proxy).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    ip: String,
    config: Config,
}

impl Client {
    /// A client of the host at `base_url` started with `config`, with a fresh client IP.
    pub fn new(base_url: &str, config: &Config) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"));
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            ip: next_ip(),
            config: config.clone(),
        }
    }

    /// The same host, another client IP.
    pub fn with_ip(&self, ip: &str) -> Self {
        Self {
            ip: ip.to_owned(),
            ..self.clone()
        }
    }

    /// The same host, a fresh client IP.
    pub fn fresh(&self) -> Self {
        self.with_ip(&next_ip())
    }

    /// The client IP this client presents in `X-Forwarded-For`.
    pub fn ip(&self) -> &str {
        &self.ip
    }

    /// The host's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The configuration the host was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A request with any method.
    pub fn request(&self, method: &str, path: &str) -> Req<'_> {
        Req {
            client: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            multipart: None,
            forwarded: true,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Req<'_> {
        self.request("GET", path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> Req<'_> {
        self.request("POST", path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.request("DELETE", path)
    }

    /// Sends raw bytes (a whole HTTP/1.1 request, with `Connection: close`) to the host and
    /// reads the response until the server closes the connection. For what a regular client
    /// refuses to send: chunked bodies beyond the limit, bytes a header value may not hold.
    /// The server may answer before the request is fully written (e.g. `413`).
    pub async fn raw(&self, label: &str, request: Vec<u8>) -> Resp {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let addr = self.base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("{label}: cannot connect to {addr}: {e}"));
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            // The server may close early (after answering 413); that is not a failure.
            let _ = wr.write_all(&request).await;
            let _ = wr.flush().await;
            wr
        });
        let mut bytes = Vec::new();
        let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => bytes.extend_from_slice(&buf[..n]),
                    // A reset after the answer was received: keep what was read.
                    Err(_) => break,
                }
            }
        })
        .await;
        writer.abort();
        if read.is_err() {
            panic!("{label}: no complete answer within {REQUEST_TIMEOUT:?}");
        }
        let resp = parse_raw_response(label, &bytes);
        check_universal(&resp, &self.config);
        resp
    }

    /// `host:port` of the host, for raw requests' `Host` header.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

/// Parses an HTTP/1.1 response read until the connection closed.
fn parse_raw_response(label: &str, bytes: &[u8]) -> Resp {
    let Some(split) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        panic!(
            "{label}: no HTTP response head in {} bytes: {:?}",
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        )
    };
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{label}: bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            )
        {
            headers.append(k, v);
        }
    }
    let mut body = bytes[split + 4..].to_vec();
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        body = dechunk(&body);
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Resp {
        label: label.to_owned(),
        status,
        headers,
        body,
        sent_request_id: None,
        sent_body: String::new(),
    }
}

/// Decodes a chunked body (as much of it as is complete).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

/// A request being built.
#[derive(Debug)]
pub struct Req<'c> {
    client: &'c Client,
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    multipart: Option<reqwest::multipart::Form>,
    forwarded: bool,
}

impl Req<'_> {
    /// Adds a header (raw bytes allowed, as far as a header value may hold them).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.body_with("application/json", body.to_string().into_bytes())
    }

    /// A body with the given content type.
    pub fn body_with(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .push(("content-type".to_owned(), content_type.as_bytes().to_vec()));
        self.body = Some(body.into());
        self
    }

    /// A body without any `Content-Type`.
    pub fn body_bare(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// A multipart form body.
    pub fn multipart(mut self, form: reqwest::multipart::Form) -> Self {
        self.multipart = Some(form);
        self
    }

    /// Sends no `X-Forwarded-For` of this client's IP (the request then comes from the
    /// socket peer, or from whatever forwarding headers the test adds itself).
    pub fn without_forwarded_for(mut self) -> Self {
        self.forwarded = false;
        self
    }

    /// Sends the request, checks the universal rules and returns the response.
    pub async fn send(self) -> Resp {
        let label = format!("{} {}", self.method, self.path);
        let url = format!("{}{}", self.client.base, self.path);
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .unwrap_or_else(|e| panic!("{label}: bad method: {e}"));
        let mut rb = self.client.http.request(method, &url);
        if self.forwarded {
            rb = rb.header("x-forwarded-for", self.client.ip.as_str());
        }
        let mut sent_request_id = None;
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case("x-request-id") {
                sent_request_id = Some(v.clone());
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .unwrap_or_else(|e| panic!("{label}: bad header name {k:?}: {e}"));
            let value = HeaderValue::from_bytes(v)
                .unwrap_or_else(|e| panic!("{label}: bad header value for {k}: {e}"));
            rb = rb.header(name, value);
        }
        let sent_body = self
            .body
            .as_deref()
            .map(|b| shorten(&String::from_utf8_lossy(b), 200))
            .unwrap_or_default();
        if let Some(body) = self.body {
            rb = rb.body(body);
        }
        if let Some(form) = self.multipart {
            rb = rb.multipart(form);
        }
        let response = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{label}: request failed (no HTTP answer): {e:?}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{label}: reading the body failed: {e:?}"))
            .to_vec();
        let resp = Resp {
            label,
            status,
            headers,
            body,
            sent_request_id,
            sent_body,
        };
        check_universal(&resp, &self.client.config);
        resp
    }
}

/// A response, already checked against the universal rules.
#[derive(Debug, Clone)]
pub struct Resp {
    /// `METHOD path`, for messages.
    pub label: String,
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
    sent_request_id: Option<Vec<u8>>,
    sent_body: String,
}

/// `text` cut to at most `max` bytes (on a character boundary), with its length if cut.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

impl Resp {
    /// The body as text, shortened, for failure messages.
    pub fn snippet(&self) -> String {
        shorten(&String::from_utf8_lossy(&self.body), 600)
    }

    /// The request body that was sent (shortened, lossy), for failure messages.
    pub fn sent_body(&self) -> &str {
        &self.sent_body
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// A header that must be present and a non-negative integer.
    pub fn header_u64(&self, name: &str) -> u64 {
        let v = self
            .header(name)
            .unwrap_or_else(|| panic!("{}: no {name} header (status {})", self.label, self.status));
        v.trim().parse().unwrap_or_else(|_| {
            panic!(
                "{}: {name} is {v:?}, not a non-negative integer",
                self.label
            )
        })
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}), status {}: {}",
                self.label,
                self.status,
                self.snippet()
            )
        })
    }

    /// Asserts the status; returns `self` for chaining.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}: expected status {status}, got {}: {} (request body: {:?})",
            self.label,
            self.status,
            self.snippet(),
            self.sent_body
        );
        self
    }

    /// Asserts a JSON success with this status and returns the body.
    #[track_caller]
    pub fn ok_json(&self, status: u16) -> Value {
        self.expect(status);
        assert_json_content_type(self);
        self.json()
    }

    /// Asserts an error response with this status and code; returns the `error` object.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        let actual = self.error_code();
        assert!(
            self.status == status && actual.as_deref() == Some(code),
            "{}: expected {status} {code}, got {} {}: {} (request body: {:?})",
            self.label,
            self.status,
            actual.as_deref().unwrap_or("(no error code)"),
            self.snippet(),
            self.sent_body
        );
        self.json()["error"].clone()
    }

    /// The `error.code` of an error response, if any.
    pub fn error_code(&self) -> Option<String> {
        if self.status < 400 {
            return None;
        }
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
    }

    /// The three `X-RateLimit-*` headers, if present: `(limit, remaining, reset)`.
    pub fn rate_limit(&self) -> Option<(u64, u64, u64)> {
        self.header("x-ratelimit-limit")?;
        Some((
            self.header_u64("x-ratelimit-limit"),
            self.header_u64("x-ratelimit-remaining"),
            self.header_u64("x-ratelimit-reset"),
        ))
    }

    /// The three `X-RateLimit-*` headers, which must be present.
    #[track_caller]
    pub fn expect_rate_limit(&self) -> (u64, u64, u64) {
        self.rate_limit().unwrap_or_else(|| {
            panic!(
                "{}: no X-RateLimit-* headers on an /api response (status {})",
                self.label, self.status
            )
        })
    }
}

/// Asserts `Content-Type: application/json` (parameters allowed).
#[track_caller]
pub fn assert_json_content_type(resp: &Resp) {
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json"),
        "{}: Content-Type is {ct:?}, not application/json",
        resp.label
    );
}

/// Whether an `X-Request-Id` value is one the contract says is echoed.
pub fn is_echoable_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The rules every response must follow, whatever the request.
fn check_universal(resp: &Resp, config: &Config) {
    let label = &resp.label;
    // "Never a 5xx for bad input": the suite's storage is healthy, so never a 5xx at all.
    assert!(
        resp.status < 500,
        "{label}: server error {} (the contract allows no 5xx here): {}; request body: {:?}",
        resp.status,
        resp.snippet(),
        resp.sent_body
    );

    // X-Request-Id on every response.
    let id = resp
        .headers
        .get("x-request-id")
        .unwrap_or_else(|| panic!("{label}: no X-Request-Id header (status {})", resp.status))
        .as_bytes()
        .to_vec();
    assert!(
        is_echoable_request_id(&id),
        "{label}: X-Request-Id {:?} is not 1-128 characters of [A-Za-z0-9._-]",
        String::from_utf8_lossy(&id)
    );
    match &resp.sent_request_id {
        Some(sent) if is_echoable_request_id(sent) => assert_eq!(
            &id, sent,
            "{label}: a valid incoming X-Request-Id must be echoed"
        ),
        other => {
            let text = String::from_utf8_lossy(&id);
            assert!(
                uuid::Uuid::parse_str(&text).is_ok(),
                "{label}: X-Request-Id {text:?} should be a new UUID (sent: {:?})",
                other
                    .as_ref()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
            );
        }
    }

    if resp.status >= 400 {
        check_error_envelope(resp, &id);
    }

    // Rate-limit headers, where present, are consistent.
    if let Some((limit, remaining, reset)) = resp.rate_limit() {
        assert!(
            remaining <= limit,
            "{label}: X-RateLimit-Remaining {remaining} > X-RateLimit-Limit {limit}"
        );
        let window = config.rate_limit_window();
        assert!(
            reset <= window,
            "{label}: X-RateLimit-Reset {reset} outside 0..={window}"
        );
    }

    if resp.status == 429 {
        let code = resp.error_code().unwrap_or_default();
        let retry = resp.header_u64("retry-after");
        if code.starts_with("RATE_") {
            let (_, remaining, reset) = resp.expect_rate_limit();
            assert_eq!(
                retry, reset,
                "{label}: Retry-After must equal X-RateLimit-Reset on a {code} 429"
            );
            assert_eq!(
                remaining, 0,
                "{label}: a {code} 429 with Remaining {remaining}"
            );
        } else {
            let max = config.lockout_seconds().max(30);
            assert!(
                retry <= max,
                "{label}: Retry-After {retry} on {code} beyond the lockout ({max} s)"
            );
        }
    }
}

/// `{"error":{"code","message","request_id"[,"details"]}}`, the code known and sent with its
/// status, `request_id` equal to the header, nothing leaked.
fn check_error_envelope(resp: &Resp, request_id: &[u8]) {
    let label = &resp.label;
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
        panic!(
            "{label}: error {} without a JSON body ({e}): {}",
            resp.status,
            resp.snippet()
        )
    });
    assert_json_content_type(resp);
    let top = body
        .as_object()
        .unwrap_or_else(|| panic!("{label}: error body is not an object: {body}"));
    assert!(
        top.len() == 1 && top.contains_key("error"),
        "{label}: error body must be exactly {{\"error\": …}}: {body}"
    );
    let err = top["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{label}: `error` is not an object: {body}"));
    for key in err.keys() {
        assert!(
            matches!(key.as_str(), "code" | "message" | "request_id" | "details"),
            "{label}: unexpected field error.{key}: {body}"
        );
    }
    let code = err
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{label}: error.code missing or not a string: {body}"));
    let statuses = ERROR_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("{label}: error code {code:?} is not in the contract's table"));
    assert!(
        statuses.contains(&resp.status),
        "{label}: {code} sent with status {}, the contract says {statuses:?}",
        resp.status
    );
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{label}: error.message missing or not a string: {body}"));
    assert!(!message.trim().is_empty(), "{label}: empty error.message");
    let rid = err
        .get("request_id")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{label}: error.request_id missing or not a string: {body}"));
    assert_eq!(
        rid.as_bytes(),
        request_id,
        "{label}: error.request_id differs from the X-Request-Id header"
    );
    if let Some(details) = err.get("details") {
        assert!(
            details.is_object(),
            "{label}: error.details must be an object: {body}"
        );
    }
    let visible =
        format!("{message} {}", err.get("details").unwrap_or(&Value::Null)).to_ascii_lowercase();
    for leak in LEAKS {
        assert!(
            !visible.contains(leak),
            "{label}: error message/details contain {leak:?} (no stack traces, SQL or internals): {body}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_rule() {
        assert!(is_echoable_request_id(b"a"));
        assert!(is_echoable_request_id(b"A-b_c.9"));
        assert!(is_echoable_request_id(&[b'x'; 128]));
        assert!(!is_echoable_request_id(&[b'x'; 129]));
        assert!(!is_echoable_request_id(b""));
        assert!(!is_echoable_request_id(b"a b"));
        assert!(!is_echoable_request_id("é".as_bytes()));
    }

    #[test]
    fn client_ips_are_distinct() {
        let ips: std::collections::BTreeSet<String> = (0..1000).map(|_| next_ip()).collect();
        assert_eq!(ips.len(), 1000);
    }

    #[test]
    fn raw_responses_parse_with_and_without_chunking() {
        let r = parse_raw_response(
            "t",
            b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhelloEXTRA",
        );
        assert_eq!((r.status, r.body.as_slice()), (413, &b"hello"[..]));
        assert_eq!(r.header("x-a").as_deref(), Some("b"));
        let r = parse_raw_response(
            "t",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(r.body, b"abcde");
    }
}
