//! The contract's routes: [`router`] (everything, layered) and [`routes`] (the bare routes,
//! to compose your own stack). Handlers only translate HTTP to facade calls and back.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use cutty_core::app::{
    AuthResponse, BlockIpRequest, Caller, ChangePasswordRequest, CreateApiKeyRequest,
    InvalidateUserTokensRequest, LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest,
    UnblockIpRequest,
};
use cutty_core::error::ErrorCode;
use serde::Serialize;

use crate::auth::{AdminUser, AuthUser, Authenticated, OptionalAuth};
use crate::extract::{ContractJson, ContractPath, ContractQuery, JSON_BODY_LIMIT, OptionalJson};
use crate::gate::{ClientIp, GateLayer};
use crate::request_id::{CatchPanicLayer, RequestIdLayer};
use crate::state::CuttyState;
use crate::{ApiError, docs, openapi};

type ApiResult<T> = Result<T, ApiError>;

/// The whole contract API as one router, ready to serve:
///
/// * every route of the contract (see [`routes`]; files and lists in [`files`](crate::files)), `/health`,
///   `/health/auth`, `/docs` and `/openapi.json`;
/// * unknown paths `404 REQ_003` (under `/api` too), a known path with another method
///   `405 REQ_005` (with `Allow`);
/// * JSON bodies limited to [`JSON_BODY_LIMIT`] (`413 REQ_002`);
/// * the stack, outermost first: [`RequestIdLayer`], [`CatchPanicLayer`], [`GateLayer`],
///   [`CatchPanicLayer`], the body limit, the routes.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` (the gate needs the
/// peer address). To mount it under a prefix, nest it: `Router::new().nest("/auth",
/// cutty_axum::router(state))` serves `/auth/api/accounts/login`, `/auth/health`, …; the
/// layers inside see the path without the prefix, so the gate classifies it the same way.
pub fn router(state: CuttyState) -> Router {
    // One `layer` call for the whole stack: axum wraps (and boxes) every route once per
    // call, and each wrapper costs allocations on every request.
    routes()
        .layer(
            tower::ServiceBuilder::new()
                .layer(RequestIdLayer::new())
                .layer(CatchPanicLayer::new())
                .layer(GateLayer::new(state.clone()))
                .layer(CatchPanicLayer::new())
                .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT)),
        )
        .with_state(state)
}

/// The contract's routes with their fallbacks, without layers: compose your own stack
/// (the extractors need [`GateLayer`] outside them, and [`RequestIdLayer`] outermost for
/// request ids in error bodies).
pub fn routes() -> Router<CuttyState> {
    let spec = Arc::new(openapi::openapi());
    let spec_json: Arc<str> = serde_json::to_string_pretty(&*spec)
        .unwrap_or_else(|_| "{}".to_owned())
        .into();
    let docs_html: Arc<str> = docs::render_html(&spec).into();
    Router::new()
        .route("/health", get(health))
        .route("/health/auth", get(health_auth))
        .route(
            "/openapi.json",
            get(move || {
                let json = Arc::clone(&spec_json);
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        json.to_string(),
                    )
                }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let html = Arc::clone(&docs_html);
                async move { Html(html.to_string()) }
            }),
        )
        .route("/api/accounts/register", post(register))
        .route("/api/accounts/login", post(login))
        .route("/api/accounts/token/refresh", post(refresh))
        .route("/api/accounts/logout", post(logout))
        .route("/api/accounts/user", get(current_user))
        .route("/api/accounts/password", post(change_password))
        .route("/api/api-keys", post(create_api_key).get(list_api_keys))
        .route("/api/api-keys/usage", get(api_key_usage))
        .route(
            "/api/api-keys/{key_id}",
            axum::routing::delete(revoke_api_key),
        )
        .route("/api/analytics/security/events", get(security_events))
        .route("/api/analytics/security/metrics", get(security_metrics))
        .route("/api/analytics/security/block-ip", post(block_ip))
        .route("/api/analytics/security/unblock-ip", post(unblock_ip))
        .route("/api/analytics/security/blocked-ips", get(blocked_ips))
        .route(
            "/api/admin/invalidate-user-tokens",
            post(invalidate_user_tokens),
        )
        // Files and lists (`POST/GET /api/files`, `GET/DELETE /api/files/{id}`,
        // `POST /api/lists/process`), merged before the fallbacks below so `405 REQ_005`
        // covers them.
        .merge(crate::files::file_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ErrorCode::RouteNotFound.into()
}

async fn method_not_allowed() -> ApiError {
    ErrorCode::MethodNotAllowed.into()
}

/// `200 {"status":"ok"}`: the body of the admin calls whose contract answer is a bare 200.
#[derive(Debug, Serialize)]
pub(crate) struct StatusOk {
    status: &'static str,
}

const STATUS_OK: StatusOk = StatusOk { status: "ok" };

/// Token-bearing answers must not be cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'a str,
}

async fn health(State(state): State<CuttyState>) -> Response {
    Json(Health {
        status: "ok",
        version: state.cutty().version(),
    })
    .into_response()
}

async fn health_auth(State(state): State<CuttyState>) -> Response {
    let report = state.cutty().health().await;
    let status = StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::OK);
    (status, Json(report)).into_response()
}

async fn register(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    ContractJson(req): ContractJson<RegisterRequest>,
) -> ApiResult<Response> {
    let body: AuthResponse = state.cutty().register(req, ip).await?;
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

async fn login(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    ContractJson(req): ContractJson<LoginRequest>,
) -> ApiResult<Response> {
    let body = state.cutty().login(req, ip).await?;
    Ok(no_store(Json(body).into_response()))
}

async fn refresh(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    ContractJson(req): ContractJson<RefreshRequest>,
) -> ApiResult<Response> {
    let pair = state.cutty().refresh(req, ip).await?;
    Ok(no_store(Json(pair).into_response()))
}

async fn logout(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    AuthUser(user): AuthUser,
    OptionalJson(req): OptionalJson<LogoutRequest>,
) -> ApiResult<StatusCode> {
    let caller = Caller::User(user);
    state
        .cutty()
        .logout(&caller, req.unwrap_or_default(), ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn current_user(
    State(state): State<CuttyState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Response> {
    let user = state.cutty().current_user(&caller).await?;
    Ok(Json(user.view()).into_response())
}

async fn change_password(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    OptionalAuth(caller): OptionalAuth,
    ContractJson(req): ContractJson<ChangePasswordRequest>,
) -> ApiResult<Response> {
    let pair = state
        .cutty()
        .change_password(caller.as_ref(), req, ip)
        .await?;
    Ok(no_store(Json(pair).into_response()))
}

async fn create_api_key(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    AuthUser(user): AuthUser,
    ContractJson(req): ContractJson<CreateApiKeyRequest>,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    let created = state.cutty().create_api_key(&caller, req, ip).await?;
    Ok(no_store(
        (StatusCode::CREATED, Json(created)).into_response(),
    ))
}

async fn list_api_keys(
    State(state): State<CuttyState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    Ok(Json(state.cutty().list_api_keys(&caller).await?).into_response())
}

async fn api_key_usage(
    State(state): State<CuttyState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    Ok(Json(state.cutty().api_key_usage(&caller).await?).into_response())
}

async fn revoke_api_key(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    AuthUser(user): AuthUser,
    ContractPath(key_id): ContractPath<String>,
) -> ApiResult<StatusCode> {
    let caller = Caller::User(user);
    state.cutty().revoke_api_key(&caller, &key_id, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn security_events(
    State(state): State<CuttyState>,
    AdminUser(user): AdminUser,
    ContractQuery(pairs): ContractQuery<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    Ok(Json(state.cutty().query_events(&caller, &pairs).await?).into_response())
}

async fn security_metrics(
    State(state): State<CuttyState>,
    AdminUser(user): AdminUser,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    Ok(Json(state.cutty().security_metrics(&caller).await?).into_response())
}

async fn block_ip(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    AdminUser(user): AdminUser,
    ContractJson(req): ContractJson<BlockIpRequest>,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    let entry = state.cutty().block_ip(&caller, req, ip).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

async fn unblock_ip(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    AdminUser(user): AdminUser,
    ContractJson(req): ContractJson<UnblockIpRequest>,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    state.cutty().unblock_ip(&caller, req, ip).await?;
    Ok(Json(STATUS_OK).into_response())
}

async fn blocked_ips(
    State(state): State<CuttyState>,
    AdminUser(user): AdminUser,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    Ok(Json(state.cutty().blocked_ips(&caller).await?).into_response())
}

async fn invalidate_user_tokens(
    State(state): State<CuttyState>,
    ClientIp(ip): ClientIp,
    AdminUser(user): AdminUser,
    ContractJson(req): ContractJson<InvalidateUserTokensRequest>,
) -> ApiResult<Response> {
    let caller = Caller::User(user);
    state
        .cutty()
        .invalidate_user_tokens(&caller, req, ip)
        .await?;
    Ok(Json(STATUS_OK).into_response())
}
