//! The server of the HTTP benchmarks (`benches/http/run.sh`, `benches/http/callgrind.sh`):
//! the same trivial handler (`GET /api/hello`) served in several ways, chosen by a mode.
//! Two binaries run it: `http-bench` with mimalloc as the global allocator, and
//! `http-bench-system` with the system's (glibc) allocator; every mode of one binary
//! shares its allocator, so a ratio is always taken between servers that allocate alike.
//!
//! - `bare`: axum, nothing in front.
//! - `cutty_mem`: behind Cutty's full stack (request ids, gate: JWT authentication with
//!   revocation check and user look-up, sliding-window rate limit), in-memory stores. As by
//!   default, verified tokens are cached: the one token wrk sends has its signature checked
//!   on its first request; the store checks run on every one.
//! - `cutty_redis`: the same, with rate-limit counters, token revocations and lockouts in
//!   Redis on 127.0.0.1:6379 (or `CUTTY_TEST_REDIS_URL`), under a fresh key prefix.
//! - `governor`: behind `tower_governor` alone (per-IP GCRA), as a peer.
//! - `governor_headers`: the same with tower_governor's `use_headers()`, which answers
//!   `x-ratelimit-limit` and `x-ratelimit-remaining` as Cutty's contract does (its
//!   `X-RateLimit-Reset` and `X-Request-Id` have no counterpart there).
//! - `bare_wire`: a floor, not a peer: the bare handler answering the four headers Cutty's
//!   contract adds (`X-RateLimit-Limit/Remaining/Reset`, `X-Request-Id`, as constants). What is left between this and
//!   `cutty_mem` is the checking itself; between `bare` and this, only bytes on the wire.
//! - `jwt_floor`: a floor for any JWT-authenticated server: `bare_wire` behind a middleware
//!   that does nothing but verify the bearer token's signature and claims (Cutty's own
//!   `TokenCodec`, the fastest verifier measured in `benches/token.rs`) and answer 401 when
//!   it fails, on every request (no cache) — no revocation check, user look-up, rate
//!   limit or request id.
//!
//! It binds 127.0.0.1:0 and prints `listening on http://ADDR` and `token: JWT` (an access
//! token for a registered user) to stdout. Every mode is sent the same request, that token
//! included, so the modes differ only in what the server does with it. Limits are set so
//! high that no request is refused: the run measures the cost of checking, not of refusing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use axum::routing::get;
use cutty_axum::auth::AuthUser;
use cutty_axum::gate::{RATE_LIMIT_LIMIT, RATE_LIMIT_REMAINING, RATE_LIMIT_RESET};
use cutty_axum::request_id::REQUEST_ID_HEADER;
use cutty_axum::{
    BlockListRefreshTask, CuttyState, GateLayer, RequestIdLayer, TokioPasswordWork,
    spawn_block_list_refresh,
};
use cutty_core::api_key::{ApiKeyHasher, ApiKeySalt, SaltId};
use cutty_core::app::{Cutty, RegisterRequest, Settings};
use cutty_core::clock::SystemClock;
use cutty_core::password::PasswordHasher;
use cutty_core::token::{Algorithm, Keyring, TokenCodec, TokenType};
use cutty_store::redis::{RedisOptions, RedisStore};

/// Every quota of the benchmark: never reached within a run.
const HUGE: u32 = 1_000_000_000;

async fn hello() -> &'static str {
    "hello"
}

/// The same answer as [`hello`] with the headers a Cutty-gated answer carries, as
/// constants of the same length (the floor `bare_wire`).
async fn hello_wire() -> ([(HeaderName, HeaderValue); 4], &'static str) {
    const ID: HeaderValue = HeaderValue::from_static("5f0c1a2e-9b7d-4c3e-8a61-2d4f6b8c0e1a");
    (
        [
            (RATE_LIMIT_LIMIT, HeaderValue::from_static("1000000000")),
            (RATE_LIMIT_REMAINING, HeaderValue::from_static("999999999")),
            (RATE_LIMIT_RESET, HeaderValue::from_static("60")),
            (REQUEST_ID_HEADER, ID),
        ],
        "hello",
    )
}

/// The same answer as [`hello`], for an authenticated user only (the extractor is how a
/// handler states that it needs one).
async fn hello_user(_: AuthUser) -> &'static str {
    "hello"
}

/// The Cutty-gated router, an access token for it, and the server's block-list timer.
type Gated = (Router, String, BlockListRefreshTask);

/// The `jwt_floor` middleware: the bearer token verified as an access token, or 401.
async fn verify_only(
    codec: axum::extract::State<Arc<TokenCodec>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX);
    match token.map(|t| codec.verify(t, TokenType::Access, now_ms)) {
        Some(Ok(_)) => next.run(request).await,
        _ => axum::http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn cutty(redis: bool, secret: &[u8; 32]) -> Result<Gated, Box<dyn std::error::Error>> {
    let mut stores = cutty_store::memory::stores();
    if redis {
        let url = std::env::var("CUTTY_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let options = RedisOptions {
            prefix: format!("cutty-http-bench-{}:", uuid::Uuid::new_v4().simple()),
            ..RedisOptions::default()
        };
        let store = Arc::new(RedisStore::connect(&url, options).await?);
        stores.rate_limits = store.clone();
        stores.tokens = store.clone();
        stores.lockouts = store;
    }
    let salt: [u8; 32] = rand::random();
    let mut settings = Settings::new(
        Keyring::hmac(Algorithm::HS256, secret)?,
        ApiKeyHasher::new(ApiKeySalt::new(SaltId::new("bench")?, salt.to_vec())?),
    );
    // Registration hashes once; the measured path never hashes.
    settings.password_hasher = PasswordHasher::new().with_iterations(1000)?;
    let huge = NonZeroU32::new(HUGE).ok_or("zero")?;
    settings.rate_limit.ip = huge;
    settings.rate_limit.user = huge;
    settings.rate_limit.api_key = huge;
    let cutty = Cutty::new(
        stores,
        settings,
        Arc::new(SystemClock),
        Arc::new(TokioPasswordWork::new(
            TokioPasswordWork::default_concurrency(),
        )),
    )?;
    let registered = cutty
        .register(
            RegisterRequest {
                username: "bench-user".to_owned(),
                email: "bench@example.com".to_owned(),
                password: "correct horse battery".into(),
            },
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
        .await?;
    // As `cutty serve` does: the block list is reloaded on a timer, not inside requests.
    let refresh = spawn_block_list_refresh(&cutty);
    let state = CuttyState::new(cutty);
    let router = Router::new()
        .route("/api/hello", get(hello_user))
        .layer(
            tower::ServiceBuilder::new()
                .layer(RequestIdLayer::new())
                .layer(GateLayer::new(state.clone())),
        )
        .with_state(state);
    Ok((router, registered.tokens.access_token, refresh))
}

fn governor(headers: bool) -> Result<Router, Box<dyn std::error::Error>> {
    use tower_governor::GovernorLayer;
    use tower_governor::governor::GovernorConfigBuilder;
    let router = Router::new().route("/api/hello", get(hello));
    let mut builder = GovernorConfigBuilder::default();
    builder.per_nanosecond(1).burst_size(HUGE);
    Ok(if headers {
        // `x-ratelimit-limit` and `x-ratelimit-remaining` on every answer.
        let config = builder.use_headers().finish().ok_or("governor config")?;
        router.layer(GovernorLayer::new(Arc::new(config)))
    } else {
        let config = builder.finish().ok_or("governor config")?;
        router.layer(GovernorLayer::new(Arc::new(config)))
    })
}

/// Serves `mode` (see the [module docs](self)) on 127.0.0.1 until the process is killed.
pub async fn serve(mode: &str) -> Result<(), Box<dyn std::error::Error>> {
    let secret: [u8; 32] = rand::random();
    let (router, token, _refresh) = match mode {
        "bare" => {
            // Every mode is sent the same request, token included (ignored here).
            let (_, t, _) = cutty(false, &secret).await?;
            (Router::new().route("/api/hello", get(hello)), Some(t), None)
        }
        "cutty_mem" => {
            let (r, t, task) = cutty(false, &secret).await?;
            (r, Some(t), Some(task))
        }
        "cutty_redis" => {
            let (r, t, task) = cutty(true, &secret).await?;
            (r, Some(t), Some(task))
        }
        "governor" | "governor_headers" => {
            let (_, t, _) = cutty(false, &secret).await?;
            (governor(mode == "governor_headers")?, Some(t), None)
        }
        "bare_wire" => {
            // A real token of the real length for the client to send; the Cutty router that
            // issued it is dropped.
            let (_, t, _) = cutty(false, &secret).await?;
            (
                Router::new().route("/api/hello", get(hello_wire)),
                Some(t),
                None,
            )
        }
        "jwt_floor" => {
            let (_, t, _) = cutty(false, &secret).await?;
            let codec = Arc::new(TokenCodec::hs256(&secret)?);
            let router = Router::new()
                .route("/api/hello", get(hello_wire))
                .layer(axum::middleware::from_fn_with_state(codec, verify_only));
            (router, Some(t), None)
        }
        other => {
            return Err(format!(
                "unknown mode {other:?}: bare | bare_wire | jwt_floor | cutty_mem | cutty_redis | governor | governor_headers"
            )
            .into());
        }
    };
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    if let Some(token) = token {
        println!("token: {token}");
    }
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
