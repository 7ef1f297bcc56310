//! Request ids: [`RequestIdLayer`] gives every request an id and every response its
//! `X-Request-Id`; [`CatchPanicLayer`] turns a panic into a contract error.
//!
//! # The rule
//! An incoming `X-Request-Id` of 1–128 characters of `[A-Za-z0-9._-]`, sent once, is
//! echoed; anything else (absent, empty, too long, another character, the header sent twice)
//! is replaced by a new random UUID. The id is written to every response that passes the
//! layer — routed answers, 404/405 fallbacks, 413s, gate refusals and caught panics alike.
//!
//! # How error bodies learn the id: a task-local
//! Error bodies carry `request_id` too, and they are rendered deep inside the stack, by an
//! extractor's rejection or a handler's `?`, which never see the request. Two designs were
//! possible: render a placeholder and let the layer rewrite finished bodies (a second JSON
//! pass over every error, and a body type the layer must understand), or make the id
//! available *while* the inner service runs. Cutty does the latter: the layer runs the inner
//! service's `call` and its whole future inside a [`tokio::task_local!`] scope, and
//! [`ApiError`]'s `IntoResponse` reads [`current`]. The id is also put in
//! the request's extensions (extract it as [`RequestId`]) for handlers and logs; a second
//! `RequestIdLayer` inside the first reuses that id, so stacking the layer (e.g. once more
//! outside a CORS layer wrapped around [`crate::router`]) is harmless.
//!
//! A task-local does not follow work moved to another task (`tokio::spawn`,
//! `spawn_blocking`); errors are rendered on the request's own task, so that never matters
//! here. Rendered outside the layer altogether, an error gets a fresh id in both its body
//! and its header (see [`crate::error`]).
//!
//! # Error bodies nobody rendered
//! An error answer that did not come from [`ApiError`] — an axum rejection returned as is, a
//! tower-http limit — would break the contract's "every error is JSON". The layer replaces
//! the body of a 400, 404, 405, 413, 415, 500 or 503 that is not JSON and carries no
//! [`ErrorCode`] in its extensions by the contract error of that status (`REQ_001`, `REQ_003`, `REQ_005`,
//! `REQ_002`, `REQ_006`, `DB_004`, `DB_001`), keeping its other headers.
//!
//! # The panic safety net
//! [`CatchPanicLayer`] catches a panic in its inner service's `call` or future and answers
//! [`ApiError::internal`](crate::ApiError::internal) — a contract JSON error, never a bare
//! 500 or a dropped connection. The panic message goes to the log; nothing of it to the
//! client. [`crate::router`] installs it twice: just inside [`RequestIdLayer`] (so a panic in
//! the gate is caught) and just inside the gate (so a panicking handler's answer still gets
//! its `X-RateLimit-*` headers).

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use cutty_core::error::ErrorCode;
use tower::{Layer, Service};

use crate::ApiError;

/// `X-Request-Id`.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming id that is echoed, in characters (bytes: the alphabet is ASCII).
pub const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request being served, while [`RequestIdLayer`]'s inner service runs.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// A request id: either the client's (validated) or a new UUID. Cheap to clone.
///
/// Extract it in a handler: `async fn h(id: RequestId)`. Without [`RequestIdLayer`] the
/// extractor answers a fresh id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A new random (v4) UUID.
    pub fn generate() -> Self {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        // Owned by the `Bytes` itself: one allocation, and every clone of the id (the
        // extension, the task-local, the header) only counts a reference.
        Self(
            HeaderValue::from_maybe_shared(axum::body::Bytes::from_owner(text))
                .unwrap_or(HeaderValue::from_static("invalid")),
        )
    }

    /// The client's id if it follows the rule (1–128 of `[A-Za-z0-9._-]`), else `None`.
    pub fn from_incoming(value: &[u8]) -> Option<Self> {
        let ok = (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
            && value
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return None;
        }
        HeaderValue::from_bytes(value).ok().map(Self)
    }

    /// The id of a request with these headers: the echoed one or a new UUID.
    pub fn for_headers(headers: &axum::http::HeaderMap) -> Self {
        let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => Self::from_incoming(v.as_bytes()).unwrap_or_else(Self::generate),
            _ => Self::generate(),
        }
    }

    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .or_else(current)
            .unwrap_or_else(RequestId::generate))
    }
}

/// A boxed, `Send` response future (the future type of this crate's services).
pub type BoxResponseFuture<E> =
    Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send + 'static>>;

/// Gives each request an id and each response `X-Request-Id` (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl RequestIdLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

/// The service of [`RequestIdLayer`].
#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

impl<S> RequestIdService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // An outer RequestIdLayer already chose the id: keep it (stacking is idempotent).
        let id = match req.extensions().get::<RequestId>() {
            Some(id) => id.clone(),
            None => RequestId::for_headers(req.headers()),
        };
        req.extensions_mut().insert(id.clone());
        let fut = CURRENT.sync_scope(id.clone(), || self.inner.call(req));
        RequestIdFuture {
            inner: CURRENT.scope(id, fut),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestIdService`]: the inner future, run inside the
    /// request's task-local id, then the answer's `X-Request-Id` and error-body check. Not
    /// boxed: this runs on every request.
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<RequestId, F>,
    }
}

impl<F, ResBody, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        let response = std::task::ready!(inner.as_mut().poll(cx))?;
        // The scope hands its id back once the inner future is done (taken once: a future is
        // not polled again after it answered Ready).
        let id = inner.take_value().unwrap_or_else(RequestId::generate);
        let mut response = contract_error_body(response.map(Body::new), &id);
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER, id.header_value().clone());
        Poll::Ready(Ok(response))
    }
}

impl<F> std::fmt::Debug for RequestIdFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestIdFuture").finish_non_exhaustive()
    }
}

/// The contract code for an error status that something other than [`ApiError`] answered
/// (an axum rejection used as is, a tower-http layer), if the status has an obvious one.
fn code_for_status(status: StatusCode) -> Option<ErrorCode> {
    Some(match status.as_u16() {
        400 => ErrorCode::InvalidRequest,
        404 => ErrorCode::RouteNotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::BodyTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        500 => ErrorCode::StoreRollback,
        503 => ErrorCode::StoreUnavailable,
        _ => return None,
    })
}

/// The safety net for error bodies: a 400/404/405/413/415/500/503 that was not rendered by
/// [`ApiError`] (no [`ErrorCode`] in its extensions) gets the contract's JSON body for the
/// matching code; its other headers (`Allow`, `X-RateLimit-*`, …) are kept.
fn contract_error_body(response: Response<Body>, id: &RequestId) -> Response<Body> {
    // The status first: it is what rules out almost every answer, and costs no look-up.
    let Some(code) = code_for_status(response.status()) else {
        return response;
    };
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // Rendered by ApiError, or a JSON answer of its own (`/health/auth`'s 503 report).
    if json || response.extensions().get::<ErrorCode>().is_some() {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let rendered = crate::error::error_response(&code.into(), id);
    let (rendered_parts, body) = rendered.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    for (name, value) in &rendered_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    parts.status = rendered_parts.status;
    parts.extensions.insert(code);
    Response::from_parts(parts, body)
}

/// Answers a contract error instead of unwinding when the inner service panics (see the
/// [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl CatchPanicLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

/// The service of [`CatchPanicLayer`].
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S> CatchPanic<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn panic_response(payload: Box<dyn Any + Send>) -> Response<Body> {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    tracing::error!(panic = %what, "request handler panicked");
    ApiError::internal().into_response()
}

impl<S, B, ResBody> Service<Request<B>> for CatchPanic<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(fut) => Box::pin(CatchUnwind {
                inner: Box::pin(fut),
            }),
            Err(payload) => {
                let response = panic_response(payload);
                Box::pin(std::future::ready(Ok(response)))
            }
        }
    }
}

/// Polls a response future, turning a panic into [`ApiError::internal`].
struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

impl<F, ResBody, E> Future for CatchUnwind<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(move || inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(result.map(|r| r.map(Body::new))),
            Err(payload) => Poll::Ready(Ok(panic_response(payload))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_rules() {
        for ok in ["a", "req-1", "A.b_c-D", &"x".repeat(128)] {
            assert_eq!(
                RequestId::from_incoming(ok.as_bytes()).unwrap().as_str(),
                ok
            );
        }
        for bad in ["", "a b", "a/b", "é", "a\tb", "{x}", &"x".repeat(129)] {
            assert!(
                RequestId::from_incoming(bad.as_bytes()).is_none(),
                "{bad:?}"
            );
        }
        let g = RequestId::generate();
        assert!(uuid::Uuid::parse_str(g.as_str()).is_ok());
        assert_ne!(g, RequestId::generate());
    }

    #[test]
    fn a_header_sent_twice_is_replaced() {
        let mut h = axum::http::HeaderMap::new();
        h.append(REQUEST_ID_HEADER, HeaderValue::from_static("one"));
        assert_eq!(RequestId::for_headers(&h).as_str(), "one");
        h.append(REQUEST_ID_HEADER, HeaderValue::from_static("two"));
        let id = RequestId::for_headers(&h);
        assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
    }
}
