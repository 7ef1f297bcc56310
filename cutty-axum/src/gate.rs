//! The gate: [`GateLayer`], a tower layer that resolves the client IP, refuses blocked IPs,
//! authenticates and rate-limits every request before it reaches a handler.
//!
//! # What happens to a request
//! The path (as the layer sees it: inside [`Router::nest`](axum::Router::nest) the prefix
//! is already stripped) decides its [`RouteClass`] (default: [`classify`]):
//!
//! | class | paths | client IP | block list (`403 SEC_001`) | `Authorization` | rate limit + `X-RateLimit-*` |
//! |---|---|---|---|---|---|
//! | [`Exempt`](RouteClass::Exempt) | `/health`, `/health/auth` | – | – | – | – |
//! | [`Public`](RouteClass::Public) | `/docs`, `/openapi.json`, any other non-`/api` path | yes | yes | – | – |
//! | [`Api`](RouteClass::Api) | `/api`, `/api/…` | yes | yes | verified | counted |
//!
//! For an `Api` request the layer calls [`Cutty::gate`]: the client IP from the socket peer
//! and the forwarding headers (trusted proxies only), the block list, the `Authorization`
//! header, and the rate limits (the IP's when there are no or failed credentials, else the
//! user's or the key's, plus the global one). Then:
//!
//! * blocked: `403 SEC_001`, counted against the IP limit, with `X-RateLimit-*`;
//! * refused by a limit: `429 RATE_00x` with `Retry-After` and the `X-RateLimit-*` headers;
//! * otherwise the request goes on with a [`GateOutcome`] in its extensions (the client IP
//!   is [`GateOutcome::ip`]; the [`ClientIp`] extractor reads it there), and
//!   `X-RateLimit-Limit/Remaining/Reset` are added to whatever the inner service answers —
//!   successes, errors, 404s alike. A `Public` request carries a [`ClientIp`] extension.
//!
//! Failed credentials do **not** stop the request here: an anonymous route (login) works
//! with a stale `Authorization` header, an unknown route is still `404 REQ_003`, and a
//! route that needs a caller answers the credential's error through its extractor
//! ([`Authenticated`](crate::auth::Authenticated) and friends).
//!
//! # The peer address
//! The peer comes from axum's [`ConnectInfo<SocketAddr>`] extension: serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` (or add
//! [`MockConnectInfo`](axum::extract::connect_info::MockConnectInfo) in tests). Without it
//! every request would share one address, so the layer uses `0.0.0.0` and logs a warning
//! (once).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use cutty_core::app::{Caller, Cutty};
use cutty_core::client_ip::ForwardedHeaders;
use cutty_core::error::Error;
use cutty_core::rate_limit::RateLimitOutcome;
use tower::{Layer, Service};

use crate::error::error_response;
use crate::request_id::{self, BoxResponseFuture, RequestId};
use crate::state::CuttyState;

/// `X-RateLimit-Limit`.
pub const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// What the gate does with a path (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// Health checks: nothing at all (not even the block list).
    Exempt,
    /// Documentation and anything outside the API: block list only.
    Public,
    /// The API: block list, authentication, rate limits and their headers.
    Api,
}

/// The default classification: `/health` and `/health/auth` are exempt, `/api` and
/// everything under `/api/` is the API, the rest (`/docs`, `/openapi.json`, unknown paths)
/// is public.
pub fn classify(path: &str) -> RouteClass {
    match path {
        "/health" | "/health/auth" => RouteClass::Exempt,
        "/api" => RouteClass::Api,
        p if p.starts_with("/api/") => RouteClass::Api,
        _ => RouteClass::Public,
    }
}

/// The resolved client IP of a request (an extractor, see [`crate::auth`]): from the
/// [`GateOutcome`] on an `/api` route, from this extension on a public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// What the gate found out about an `/api` request, in its extensions. Cheap to clone.
#[derive(Clone)]
pub struct GateOutcome {
    inner: Arc<OutcomeInner>,
}

struct OutcomeInner {
    ip: IpAddr,
    caller: Result<Option<Caller>, Error>,
    limits: RateLimitOutcome,
}

impl GateOutcome {
    /// The resolved client IP.
    pub fn ip(&self) -> IpAddr {
        self.inner.ip
    }

    /// The caller: `Ok(None)` without `Authorization`, `Err` when the credentials failed.
    pub fn caller(&self) -> Result<Option<&Caller>, &Error> {
        self.inner.caller.as_ref().map(Option::as_ref)
    }

    /// The rate-limit outcome the headers were written from.
    pub fn limits(&self) -> &RateLimitOutcome {
        &self.inner.limits
    }
}

impl fmt::Debug for GateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateOutcome")
            .field("ip", &self.inner.ip)
            .field("caller", &self.inner.caller)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

/// Writes `X-RateLimit-Limit`, `-Remaining` and `-Reset` for `outcome`.
pub fn write_rate_limit_headers(headers: &mut HeaderMap, outcome: &RateLimitOutcome) {
    let d = &outcome.decision;
    // The three numbers side by side in one buffer and each value a slice of it: one
    // allocation per answer instead of two per value (`HeaderValue::from(u32)`).
    let mut digits = Digits::default();
    let values = [
        (RATE_LIMIT_LIMIT, digits.push(u64::from(d.limit()))),
        (RATE_LIMIT_REMAINING, digits.push(u64::from(d.remaining()))),
        (RATE_LIMIT_RESET, digits.push(d.reset())),
    ];
    let shared = Bytes::from_owner(digits);
    for (name, range) in values {
        // Decimal digits are always a valid header value.
        if let Ok(value) = HeaderValue::from_maybe_shared(shared.slice(range)) {
            headers.insert(name, value);
        }
    }
}

/// Up to three `u64`s in decimal, written one after the other.
struct Digits {
    buf: [u8; 3 * 20],
    len: usize,
}

impl Default for Digits {
    fn default() -> Self {
        Self {
            buf: [0; 3 * 20],
            len: 0,
        }
    }
}

impl Digits {
    /// Appends `n` in decimal and answers where it went (empty when full, which three
    /// pushes never are: a `u64` has at most 20 digits).
    fn push(&mut self, mut n: u64) -> std::ops::Range<usize> {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            // `n % 10 < 10`: the cast cannot truncate.
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = &tmp[i..];
        let start = self.len;
        let Some(dst) = self.buf.get_mut(start..start + digits.len()) else {
            return start..start;
        };
        dst.copy_from_slice(digits);
        self.len += digits.len();
        start..self.len
    }
}

impl AsRef<[u8]> for Digits {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The forwarding headers of a request, each the last field line when repeated.
pub fn forwarded_headers(headers: &HeaderMap) -> ForwardedHeaders<'_> {
    // Names as constants: a `&str` name would be parsed and validated on every look-up.
    const CF_CONNECTING_IP: HeaderName = HeaderName::from_static("cf-connecting-ip");
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
    let last = |name: HeaderName| {
        headers
            .get_all(name)
            .iter()
            .next_back()
            .map(HeaderValue::as_bytes)
    };
    ForwardedHeaders {
        cf_connecting_ip: last(CF_CONNECTING_IP),
        x_forwarded_for: last(X_FORWARDED_FOR),
        x_real_ip: last(X_REAL_IP),
    }
}

/// [`forwarded_headers`] if `peer` is a trusted proxy, else none: the resolver ignores
/// them from any other peer, so they are not even looked up.
fn forwarded_headers_from<'h>(
    cutty: &Cutty,
    peer: IpAddr,
    headers: &'h HeaderMap,
) -> ForwardedHeaders<'h> {
    if cutty.is_trusted_proxy(peer) {
        forwarded_headers(headers)
    } else {
        ForwardedHeaders::default()
    }
}

static MISSING_PEER_WARNED: AtomicBool = AtomicBool::new(false);

/// The socket peer from `ConnectInfo<SocketAddr>`, or `0.0.0.0` (warned once).
pub fn peer_ip<B>(req: &Request<B>) -> IpAddr {
    peer_ip_from_extensions(req.extensions())
}

pub(crate) fn peer_ip_from_extensions(ext: &axum::http::Extensions) -> IpAddr {
    match ext.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => addr.ip(),
        None => {
            if !MISSING_PEER_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "no ConnectInfo<SocketAddr> on the request: serve with \
                     into_make_service_with_connect_info::<SocketAddr>(); using 0.0.0.0"
                );
            }
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    }
}

/// Renders `error` for the current request (its id from the task-local, else a new one).
fn render(error: &Error) -> Response<Body> {
    let id = request_id::current().unwrap_or_else(RequestId::generate);
    error_response(error, &id)
}

/// The gate as a tower layer (see the [module docs](self)).
#[derive(Clone)]
pub struct GateLayer {
    state: CuttyState,
    classify: fn(&str) -> RouteClass,
}

impl GateLayer {
    /// A gate over `state`'s facade with the default [`classify`].
    pub fn new(state: CuttyState) -> Self {
        Self { state, classify }
    }

    /// Replaces the path classification (e.g. when the API lives under another prefix in a
    /// stack that does not strip it).
    pub fn with_classifier(mut self, classify: fn(&str) -> RouteClass) -> Self {
        self.classify = classify;
        self
    }
}

impl fmt::Debug for GateLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateLayer")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate {
            inner,
            state: self.state.clone(),
            classify: self.classify,
        }
    }
}

/// The service of [`GateLayer`].
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    state: CuttyState,
    classify: fn(&str) -> RouteClass,
}

impl<S> Gate<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for Gate<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("inner", &self.inner)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for Gate<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let class = (self.classify)(req.uri().path());
        // The ready service answers this request; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            let cutty: &Cutty = state.cutty();
            match class {
                RouteClass::Exempt => Ok(inner.call(req).await?.map(Body::new)),
                RouteClass::Public => {
                    let peer = peer_ip(&req);
                    let forwarded = forwarded_headers_from(cutty, peer, req.headers());
                    let ip = cutty.client_ip(peer, &forwarded);
                    if let Err(e) = cutty.check_blocked(ip).await {
                        return Ok(render(&e));
                    }
                    req.extensions_mut().insert(ClientIp(ip));
                    Ok(inner.call(req).await?.map(Body::new))
                }
                RouteClass::Api => {
                    let peer = peer_ip(&req);
                    let gate = {
                        let headers = req.headers();
                        let authorization = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
                        cutty
                            .gate(
                                peer,
                                &forwarded_headers_from(cutty, peer, headers),
                                authorization,
                            )
                            .await
                    };
                    let gate = match gate {
                        Ok(g) => g,
                        Err(e) => return Ok(render(&e)),
                    };
                    let limits = gate.limits;
                    if let Some(e) = gate.refusal() {
                        let mut response = render(&e);
                        write_rate_limit_headers(response.headers_mut(), &limits);
                        return Ok(response);
                    }
                    if let Err(e) = &gate.caller
                        && e.http_status() >= 500
                    {
                        tracing::warn!(error = %e, "authentication failed on a store error");
                    }
                    // One extension: the outcome carries the IP too (see ClientIp's extractor).
                    req.extensions_mut().insert(GateOutcome {
                        inner: Arc::new(OutcomeInner {
                            ip: gate.ip,
                            caller: gate.caller,
                            limits,
                        }),
                    });
                    let mut response = inner.call(req).await?.map(Body::new);
                    write_rate_limit_headers(response.headers_mut(), &limits);
                    Ok(response)
                }
            }
        })
    }
}

/// The block-list reload timer of [`spawn_block_list_refresh`]: aborted when dropped, which
/// hands the reloads back to the requests.
#[derive(Debug)]
#[must_use = "dropping the task stops the timer"]
pub struct BlockListRefreshTask {
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for BlockListRefreshTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Reloads `cutty`'s cached block list on a tokio timer instead of inside requests (see
/// [`BlockListRefresher`](cutty_core::app::BlockListRefresher)): with the database down,
/// a request then waits for the store's timeout once, for its own work, not twice. The
/// first reload runs at once; keep the returned task alive as long as the server runs.
/// Must be called inside a tokio runtime.
pub fn spawn_block_list_refresh(cutty: &Cutty) -> BlockListRefreshTask {
    let mut refresher = cutty.block_list_refresher();
    let mut failing = false;
    let handle = tokio::spawn(async move {
        loop {
            let delay = refresher.refresh().await;
            match refresher.failures() {
                0 if failing => tracing::info!("block list reloads again"),
                0 => {}
                1 => tracing::warn!(
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "block list reload failed; the last loaded list stays in force"
                ),
                n => tracing::debug!(failures = n, "block list reload failed again"),
            }
            failing = refresher.failures() > 0;
            tokio::time::sleep(delay).await;
        }
    });
    BlockListRefreshTask { handle }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutty_core::error::LimitScope;
    use cutty_core::rate_limit::Decision;

    #[test]
    fn digits_are_decimal_side_by_side() {
        let mut d = Digits::default();
        assert_eq!(d.push(0), 0..1);
        assert_eq!(d.push(u64::MAX), 1..21);
        assert_eq!(d.push(42), 21..23);
        assert_eq!(d.as_ref(), format!("0{}42", u64::MAX).as_bytes());
        // Full: nothing more is written, and nothing panics.
        let mut full = Digits::default();
        for _ in 0..3 {
            full.push(u64::MAX);
        }
        assert_eq!(full.push(7), 60..60);
        assert_eq!(full.as_ref().len(), 60);
    }

    #[test]
    fn rate_limit_headers_carry_the_decision() {
        for (limit, remaining, reset) in
            [(1, 0, 0), (u32::MAX, u32::MAX - 1, u64::MAX), (60, 59, 60)]
        {
            let outcome = RateLimitOutcome::new(
                LimitScope::User,
                Decision::Allowed {
                    limit,
                    remaining,
                    reset,
                },
            );
            let mut headers = HeaderMap::new();
            headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from_static("stale"));
            write_rate_limit_headers(&mut headers, &outcome);
            assert_eq!(headers[RATE_LIMIT_LIMIT], limit.to_string());
            assert_eq!(headers[RATE_LIMIT_REMAINING], remaining.to_string());
            assert_eq!(headers[RATE_LIMIT_RESET], reset.to_string());
            assert_eq!(headers.len(), 3);
        }
    }
}
