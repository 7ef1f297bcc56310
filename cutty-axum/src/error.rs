//! The contract's error responses: [`ApiError`], the one [`IntoResponse`] for
//! [`cutty_core::Error`].
//!
//! Every failure a client can see is rendered here, with the same shape:
//!
//! ```json
//! {"error": {"code": "REQ_001", "message": "Invalid request", "request_id": "…",
//!            "details": {"username": "must be 3 to 150 characters"}}}
//! ```
//!
//! * `code` and the HTTP status come from [`ErrorCode`] (the contract's table, in core).
//! * `message` is always [`ErrorCode::message`]: generic, safe to show. The error's own
//!   detail (a store's context and source, a token's failure reason) goes to the log at
//!   `error` level for 5xx answers and at `debug` level otherwise, never to the client.
//! * `request_id` is the id of the request being answered. It comes from the task-local
//!   set by [`RequestIdLayer`](crate::request_id::RequestIdLayer) around the whole inner
//!   service (see [`crate::request_id`] for why a task-local rather than a response
//!   extension). Rendered outside that layer, a fresh UUID is used and also written to the
//!   response's `X-Request-Id`, so the body and the header never disagree.
//! * `details` is present only for `REQ_001` with field violations: an object mapping each
//!   field name to what is wrong with it (two problems with one field are joined by `"; "`).
//! * `Retry-After` (whole seconds) is added for `AUTH_006` and `RATE_00x`.
//!
//! The rendered [`ErrorCode`] is also stored in the response's extensions, for layers and
//! tests that want to know which contract error a response carries without parsing it.

use std::collections::BTreeMap;
use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cutty_core::error::{Error, ErrorCode};
use serde::Serialize;

use crate::request_id::{self, REQUEST_ID_HEADER, RequestId};

/// A [`cutty_core::Error`] on its way to the client: its [`IntoResponse`] renders the
/// contract's JSON error (see the [module docs](self)).
///
/// Handlers return `Result<_, ApiError>`; `?` converts any [`Error`] or [`ErrorCode`].
pub struct ApiError(pub Error);

impl ApiError {
    /// Wraps an error or an error code.
    pub fn new(error: impl Into<Error>) -> Self {
        Self(error.into())
    }

    /// The contract code this error renders as.
    pub fn code(&self) -> ErrorCode {
        self.0.code()
    }

    /// The wrapped error.
    pub fn into_inner(self) -> Error {
        self.0
    }

    /// The error rendered when something failed that is not the client's doing and has no
    /// code of its own (a panic caught by the safety net, a task that could not finish):
    /// `500 DB_004`.
    ///
    /// The contract has no generic "internal error" code; `DB_004` ("Storage transaction
    /// failed", 500) is the only 5xx code that promises nothing more specific than "the
    /// operation did not complete and nothing was committed by it", which holds for a
    /// request whose handler died.
    pub fn internal() -> Self {
        Self(Error::Code(ErrorCode::StoreRollback))
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiError").field(&self.0).finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.0)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self(Error::Code(code))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match request_id::current() {
            Some(id) => error_response(&self.0, &id),
            None => {
                let id = RequestId::generate();
                let mut response = error_response(&self.0, &id);
                response
                    .headers_mut()
                    .insert(REQUEST_ID_HEADER, id.header_value().clone());
                response
            }
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'static str,
    message: &'static str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<BTreeMap<&'a str, String>>,
}

/// The `details` object of a `REQ_001`: field name to message, `None` when there is no
/// field-level detail.
fn details(error: &Error) -> Option<BTreeMap<&str, String>> {
    let Error::InvalidRequest(violations) = error else {
        return None;
    };
    if violations.is_empty() {
        return None;
    }
    let mut map: BTreeMap<&str, String> = BTreeMap::new();
    for v in violations {
        map.entry(v.field.as_ref())
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(&v.message);
            })
            .or_insert_with(|| v.message.to_string());
    }
    Some(map)
}

/// Renders `error` as the contract's JSON error for the request `request_id`: status,
/// `Content-Type: application/json`, `Retry-After` where the contract wants it, and the
/// [`ErrorCode`] in the response extensions. Logs the error (see the [module docs](self)).
///
/// Does not set `X-Request-Id`: [`RequestIdLayer`](crate::request_id::RequestIdLayer) does
/// that for every response.
pub fn error_response(error: &Error, request_id: &RequestId) -> Response {
    let code = error.code();
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(code = code.as_str(), request_id = request_id.as_str(), error = %ErrorChain(error), "request failed");
    } else {
        tracing::debug!(code = code.as_str(), request_id = request_id.as_str(), error = %error, "request refused");
    }
    let body = Envelope {
        error: Body {
            code: code.as_str(),
            message: code.message(),
            request_id: request_id.as_str(),
            details: details(error),
        },
    };
    // Serialising plain strings and a string map cannot fail; the fallback keeps the
    // contract's shape anyway.
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| {
        format!(
            r#"{{"error":{{"code":"{}","message":"{}","request_id":"{}"}}}}"#,
            code.as_str(),
            code.message(),
            request_id.as_str()
        )
        .into_bytes()
    });
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = error.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response.extensions_mut().insert(code);
    response
}

/// Displays an error with its whole `source()` chain, for logs.
struct ErrorChain<'a>(&'a Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use cutty_core::error::{FieldViolation, LimitScope, StoreError, StoreErrorKind};

    async fn render(error: Error) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let id = RequestId::from_incoming(b"req-1").unwrap();
        let response = error_response(&error, &id);
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn renders_the_contract_shape() {
        let (status, headers, body) = render(Error::InvalidCredentials).await;
        assert_eq!(status, 401);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(!headers.contains_key(header::RETRY_AFTER));
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "AUTH_004",
                "message": "Invalid username or password", "request_id": "req-1"}})
        );
    }

    #[tokio::test]
    async fn field_violations_become_details() {
        let error = Error::InvalidRequest(vec![
            FieldViolation::new("username", "too short"),
            FieldViolation::new("email", "invalid"),
            FieldViolation::new("username", "bad character"),
        ]);
        let (status, _, body) = render(error).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "REQ_001");
        assert_eq!(
            body["error"]["details"],
            serde_json::json!({"username": "too short; bad character", "email": "invalid"})
        );
        let (_, _, body) = render(Error::InvalidRequest(Vec::new())).await;
        assert!(body["error"].get("details").is_none());
    }

    #[tokio::test]
    async fn retry_after_for_lockout_and_rate_limits() {
        let (status, headers, body) = render(Error::LockedOut {
            retry_after_secs: 7,
        })
        .await;
        assert_eq!(
            (
                status.as_u16(),
                headers[header::RETRY_AFTER].to_str().unwrap()
            ),
            (429, "7")
        );
        assert_eq!(body["error"]["code"], "AUTH_006");
        let (status, headers, body) = render(Error::RateLimited {
            scope: LimitScope::ApiKey,
            retry_after_secs: 42,
        })
        .await;
        assert_eq!(
            (
                status.as_u16(),
                headers[header::RETRY_AFTER].to_str().unwrap()
            ),
            (429, "42")
        );
        assert_eq!(body["error"]["code"], "RATE_003");
    }

    #[derive(Debug)]
    struct Secret;
    impl fmt::Display for Secret {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("password=hunter2 SELECT * FROM users")
        }
    }
    impl std::error::Error for Secret {}

    #[tokio::test]
    async fn store_errors_never_leak_their_detail() {
        let error: Error = StoreError::new(StoreErrorKind::Unavailable, "users.find_by_name")
            .with_source(Secret)
            .into();
        let (status, _, body) = render(error).await;
        assert_eq!(status, 503);
        let text = body.to_string();
        assert!(!text.contains("hunter2") && !text.contains("SELECT") && !text.contains("users."));
        assert_eq!(body["error"]["code"], "DB_001");
        assert_eq!(body["error"]["message"], "Storage is unavailable");
    }

    #[tokio::test]
    async fn outside_the_layer_the_header_matches_the_body() {
        let response = ApiError::from(ErrorCode::RouteNotFound).into_response();
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.extensions().get::<ErrorCode>(),
            Some(&ErrorCode::RouteNotFound)
        );
        let header = response.headers()[REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["request_id"], header.as_str());
        assert!(uuid::Uuid::parse_str(&header).is_ok());
    }
}
