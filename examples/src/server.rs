//! `cutty serve`: the contract's HTTP API on axum, plus `/metrics`.
//!
//! Around [`cutty_axum::router`] this adds what a deployment needs and the adapter leaves to
//! the host:
//!
//! * **logs** on stderr through `tracing` (JSON with `CUTTY_ENV=production`, compact
//!   otherwise; the filter is `RUST_LOG`, default `info`, `debug` with `DEBUG_MODE`). One
//!   span and one access line per request with its id, method, path, route, status and
//!   latency. Headers (`Authorization` above all), bodies, passwords, tokens and keys are
//!   never logged.
//! * **`/metrics`** in the Prometheus text format ([`crate::metrics`]).
//! * **CORS** for `CUTTY_CORS_ORIGINS` (none by default).
//! * **slow clients**: the request head must arrive within `CUTTY_HEADER_TIMEOUT_SECONDS`
//!   (hyper's header read timeout) and the body within `CUTTY_BODY_TIMEOUT_SECONDS` of the
//!   request's start (a deadline for the whole body, not per chunk).
//! * **graceful shutdown** on SIGINT or SIGTERM: stop accepting, let requests in flight
//!   finish (at most 30 s), close the database.
//! * **maintenance** every `CUTTY_MAINTENANCE_INTERVAL_SECONDS` (default hourly).
//!
//! Once listening it prints exactly one line to stdout, `cutty listening on http://IP:PORT`,
//! which scripts and the test harness wait for.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cutty_axum::request_id::{REQUEST_ID_HEADER, RequestId};
use cutty_core::app::{Cutty, PasswordWork};
use cutty_core::error::{Error, ErrorCode};
use cutty_core::password::{PasswordHasher, Verification};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{Instrument as _, debug, error, info, info_span, warn};
use tracing_subscriber::EnvFilter;
use zeroize::Zeroizing;

use crate::config::{Config, ConfigError, Environment};
use crate::metrics::{Metrics, method_label};
use crate::wiring::{App, StartError};

/// How long requests in flight may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Runs `cutty serve`: sets up logging and the runtime, serves until SIGINT/SIGTERM.
pub fn main(config: Result<Config, ConfigError>, bind: Option<SocketAddr>) -> ExitCode {
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cutty-worker")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(config, bind, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "cutty cannot start");
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr: JSON in production, compact otherwise. `RUST_LOG` wins over the
/// defaults (`info`, or `debug` with `DEBUG_MODE`; SQL statement logs stay at `warn`).
pub fn init_tracing(config: &Config) {
    let default = if config.debug_mode {
        "debug,sqlx=warn,hyper=info,hyper_util=info,h2=info,tower=info"
    } else {
        "info,sqlx=warn"
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => EnvFilter::try_new(&s).unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG is not a valid filter ({e}); using {default:?}");
            EnvFilter::new(default)
        }),
        _ => EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match config.environment {
        Environment::Production => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        Environment::Development => builder.compact().try_init(),
    };
    if result.is_err() {
        eprintln!("warning: a tracing subscriber was already installed");
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT received, shutting down"),
        () = terminate => info!("SIGTERM received, shutting down"),
    }
}

/// [`PasswordWork`] that counts the work queued or running (`/metrics`).
#[derive(Debug)]
pub struct MeteredPasswordWork<W> {
    inner: W,
    metrics: Arc<Metrics>,
}

impl<W> MeteredPasswordWork<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait::async_trait]
impl<W: PasswordWork> PasswordWork for MeteredPasswordWork<W> {
    async fn hash(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
    ) -> Result<String, Error> {
        let _guard = self.metrics.password_work_started();
        self.inner.hash(hasher, password).await
    }

    async fn verify(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
        encoded: String,
    ) -> Result<Verification, Error> {
        let _guard = self.metrics.password_work_started();
        self.inner.verify(hasher, password, encoded).await
    }

    async fn dummy_verify(&self, hasher: &PasswordHasher, password: Zeroizing<String>) {
        let _guard = self.metrics.password_work_started();
        self.inner.dummy_verify(hasher, password).await;
    }
}

/// What the `/metrics` handler and the observing middleware share.
#[derive(Debug, Clone)]
struct Observed {
    metrics: Arc<Metrics>,
    cutty: Cutty,
}

/// The whole HTTP application: the adapter's router, `/metrics`, and the host's layers.
pub fn app(cutty: Cutty, metrics: Arc<Metrics>, config: &Config) -> Router {
    let observed = Observed {
        metrics,
        cutty: cutty.clone(),
    };
    let state = cutty_axum::CuttyState::new(Arc::new(cutty));
    let metrics_route = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(observed.clone());
    let body_timeout = config.body_timeout;
    let mut router =
        cutty_axum::router(state)
            .merge(metrics_route)
            .layer(axum::middleware::map_request(move |req: Request| {
                let deadline = body_timeout;
                async move { req.map(|body| Body::new(DeadlineBody::new(body, deadline))) }
            }));
    if let Some(cors) = cors_layer(&config.cors_origins) {
        router = router.layer(cors);
    }
    router.layer(axum::middleware::from_fn_with_state(observed, observe))
}

/// `CUTTY_CORS_ORIGINS` as a layer; `None` when empty (no CORS headers at all).
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                REQUEST_ID_HEADER,
            ])
            .expose_headers([
                REQUEST_ID_HEADER,
                header::RETRY_AFTER,
                axum::http::HeaderName::from_static("x-ratelimit-limit"),
                axum::http::HeaderName::from_static("x-ratelimit-remaining"),
                axum::http::HeaderName::from_static("x-ratelimit-reset"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

async fn metrics_handler(State(observed): State<Observed>) -> Response {
    let body = observed.metrics.render(&observed.cutty.diagnostics());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Per request: settles the request id (so the log, the header and the error body agree),
/// opens the request span, counts and times the request, writes one access log line.
async fn observe(State(observed): State<Observed>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let _in_flight = observed.metrics.request_started();
    // The contract's rule (echo a valid id, else a new UUID), applied once here; the
    // adapter's own layer then echoes the id it finds.
    let id = RequestId::for_headers(req.headers());
    req.headers_mut()
        .insert(REQUEST_ID_HEADER, id.header_value().clone());
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = info_span!(
        "request",
        request_id = id.as_str(),
        method,
        path = req.uri().path(),
        route = route.as_str(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let mut response = next.run(req).instrument(span.clone()).await;
    if !response.headers().contains_key(REQUEST_ID_HEADER) {
        // Answers made outside the adapter (CORS preflight, /metrics) get the id too.
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER, id.header_value().clone());
    }
    let latency = started.elapsed();
    let status = response.status().as_u16();
    let code = response.extensions().get::<ErrorCode>().copied();
    observed
        .metrics
        .record(method, &route, status, code, latency);
    let latency_ms = latency.as_micros() as f64 / 1000.0;
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    span.in_scope(|| match code {
        Some(code) if status >= 500 => warn!(code = code.as_str(), "request failed"),
        Some(code) => info!(code = code.as_str(), "request refused"),
        None => info!("request"),
    });
    response
}

/// A request body that must be read completely before a deadline.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Body, limit: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

/// The error of a body that was not read before its deadline.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within the body timeout")]
struct BodyTimedOut;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut)))),
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves until `shutdown` resolves: binds, prints the listening line, accepts
/// connections, runs maintenance, then shuts down gracefully.
pub async fn serve(
    config: Config,
    bind: Option<SocketAddr>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let work = MeteredPasswordWork::new(
        cutty_axum::TokioPasswordWork::with_priority(config.hash_workers, config.hash_priority),
        Arc::clone(&metrics),
    );
    let app = App::start(&config, Arc::new(work)).await?;
    let addr = bind.unwrap_or(config.bind);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let router = self::app(app.cutty.clone(), Arc::clone(&metrics), &config);

    // The block list is reloaded on a timer, not inside the request that finds it due.
    let block_list_refresh = cutty_axum::spawn_block_list_refresh(&app.cutty);
    let maintenance = tokio::spawn(maintenance_loop(
        app.clone(),
        Arc::clone(&metrics),
        config.maintenance_interval,
        config.event_retention_days,
    ));

    info!(
        address = %local,
        environment = config.environment.as_str(),
        database = app.backends.sql.kind(),
        redis = app.backends.redis.is_some(),
        version = app.cutty.version(),
        "cutty listening"
    );
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "cutty listening on http://{local}");
        let _ = stdout.flush();
    }

    accept_loop(listener, router, &config, shutdown).await;

    maintenance.abort();
    drop(block_list_refresh);
    app.backends.sql.close().await;
    info!("cutty stopped");
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.as_mut() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = match ServiceExt::<SocketAddr>::ready(&mut make_service).await {
            Ok(make) => match make.call(peer).await {
                Ok(service) => service,
                Err(never) => match never {},
            },
            Err(never) => match never {},
        };
        let service = TowerToHyperService::new(
            service
                .map_request(|req: axum::http::Request<hyper::body::Incoming>| req.map(Body::new)),
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    info!("no longer accepting connections; waiting for requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "requests still in flight after the grace period; closing them"
        );
    }
}

async fn maintenance_loop(app: App, metrics: Arc<Metrics>, every: Duration, retention_days: u32) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate: skip it
    loop {
        ticker.tick().await;
        match app.maintenance(retention_days).await {
            Ok(report) => {
                metrics.maintenance_ran(true);
                info!(
                    revoked_tokens = report.revoked_tokens,
                    user_marks = report.user_marks,
                    refresh_families = report.refresh_families,
                    lockouts = report.lockouts,
                    rate_limit_counters = report.rate_limit_counters,
                    blocked_ips = report.blocked_ips,
                    events = report.events,
                    "maintenance done"
                );
            }
            Err(e) => {
                metrics.maintenance_ran(false);
                warn!(error = %crate::wiring::describe_store_error(&e), "maintenance failed");
            }
        }
    }
}

/// Why `cutty serve` stopped before serving.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Configuration, stores or facade.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}
