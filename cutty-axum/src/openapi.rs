//! The OpenAPI 3.1 description of the contract API, served at `/openapi.json` and rendered
//! as HTML at `/docs`.
//!
//! # How it is built, and why it stays truthful
//! * **Schemas** are derived with utoipa's `ToSchema` on adapter-side mirrors of the
//!   facade's JSON types (the facade's own types live in `cutty-core`, which does not depend
//!   on utoipa). Fields that are always present are `required`, including nullable ones
//!   (`expires_at: null`); fields the server may omit (`details`, a `not_configured`
//!   service's `latency_ms`) are not.
//! * **Operations** come from one table ([`OPERATIONS`]) listing, per route, its auth, body,
//!   parameters, success status and schema, and the error codes it can answer. The errors
//!   every `/api` route can give (blocked IP, rate limits, storage failures) and every JSON
//!   body route can give (`REQ_001`, `REQ_002`, `REQ_006`) are added from the route's kind,
//!   and every operation has a `default` response with the error schema, so no status the
//!   server sends is undocumented.
//! * The crate's tests send real requests through [`router`](crate::router) and check every
//!   JSON answer against the schema documented for its status, and check that every route
//!   of the router is in the spec.
//!
//! # Security schemes
//! Both credentials travel as `Authorization: Bearer …`: `bearer_jwt` (an access JWT) and
//! `api_key` (`cutty_` + 32 base62 characters). Routes that take either list both.

use std::collections::BTreeMap;

use cutty_core::error::ErrorCode;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::info::InfoBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required, Schema,
};

/// Adapter-side mirrors of the contract's JSON bodies, for documentation only: they are
/// described, never built.
#[allow(dead_code)]
mod schemas {
    use std::collections::BTreeMap;
    use utoipa::ToSchema;

    /// Every error: `{"error": {…}}`.
    #[derive(ToSchema)]
    #[schema(as = Error)]
    pub(super) struct Error {
        pub error: ErrorBody,
    }

    /// The error object.
    #[derive(ToSchema)]
    pub(super) struct ErrorBody {
        /// A contract code, e.g. `AUTH_004`.
        #[schema(pattern = "^[A-Z]+_[0-9]{3}$", example = "AUTH_004")]
        pub code: String,
        /// A generic, human-readable message.
        pub message: String,
        /// This request's `X-Request-Id`.
        pub request_id: String,
        /// `REQ_001` only: field name → what is wrong with it.
        #[schema(nullable = false)]
        pub details: Option<BTreeMap<String, String>>,
    }

    /// A user.
    #[derive(ToSchema)]
    pub(super) struct User {
        pub id: i64,
        pub username: String,
        pub email: String,
        pub is_active: bool,
        pub is_admin: bool,
        /// Unix ms.
        pub created_at: i64,
    }

    /// An access and refresh token pair.
    #[derive(ToSchema)]
    pub(super) struct TokenPair {
        pub access_token: String,
        pub refresh_token: String,
        /// Always `Bearer`.
        #[schema(example = "Bearer")]
        pub token_type: String,
        /// Seconds until the access token expires.
        pub expires_in: u64,
    }

    /// A token pair and the user it was issued to.
    #[derive(ToSchema)]
    pub(super) struct AuthResponse {
        pub access_token: String,
        pub refresh_token: String,
        #[schema(example = "Bearer")]
        pub token_type: String,
        pub expires_in: u64,
        pub user: User,
    }

    /// Registration. Username: 3–150 letters, digits and `@.+-_`; password: 8–4096
    /// characters, not all digits, not the username.
    #[derive(ToSchema)]
    pub(super) struct RegisterRequest {
        #[schema(min_length = 3, max_length = 150, example = "ada")]
        pub username: String,
        #[schema(max_length = 254, example = "ada@example.org")]
        pub email: String,
        #[schema(min_length = 8, max_length = 4096, example = "correct horse battery")]
        pub password: String,
    }

    /// Login by username or email.
    #[derive(ToSchema)]
    pub(super) struct LoginRequest {
        pub username: String,
        pub password: String,
    }

    /// A refresh token to rotate.
    #[derive(ToSchema)]
    pub(super) struct RefreshRequest {
        pub refresh_token: String,
    }

    /// Optional body of logout.
    #[derive(ToSchema)]
    pub(super) struct LogoutRequest {
        #[schema(nullable = false)]
        pub refresh_token: Option<String>,
    }

    /// A password change; `username` only without a JWT, when a reset is required.
    #[derive(ToSchema)]
    pub(super) struct ChangePasswordRequest {
        pub old_password: String,
        #[schema(min_length = 8, max_length = 4096)]
        pub new_password: String,
        #[schema(nullable = false)]
        pub username: Option<String>,
    }

    /// A permission an API key can hold.
    #[derive(ToSchema)]
    pub(super) enum Permission {
        #[schema(rename = "files:read")]
        FilesRead,
        #[schema(rename = "files:write")]
        FilesWrite,
        #[schema(rename = "list:process")]
        ListProcess,
    }

    /// A new API key.
    #[derive(ToSchema)]
    pub(super) struct CreateApiKeyRequest {
        #[schema(min_length = 1, max_length = 100)]
        pub name: String,
        #[schema(min_items = 1)]
        pub permissions: Vec<Permission>,
        /// Unix ms, in the future.
        pub expires_at: Option<i64>,
        /// Requests per window, replacing the default key limit.
        #[schema(minimum = 1, maximum = 4294967295_i64)]
        pub rate_limit_override: Option<i64>,
    }

    /// A created key: `key` is shown only here.
    #[derive(ToSchema)]
    pub(super) struct CreatedApiKey {
        #[schema(format = Uuid)]
        pub key_id: String,
        /// `cutty_` + 32 base62 characters.
        pub key: String,
        pub name: String,
        pub key_prefix: String,
        pub permissions: Vec<Permission>,
        pub created_at: i64,
        #[schema(required = true)]
        pub expires_at: Option<i64>,
        #[schema(required = true)]
        pub rate_limit_override: Option<u32>,
    }

    /// A key as listed: never the key itself.
    #[derive(ToSchema)]
    pub(super) struct ApiKeyListItem {
        #[schema(format = Uuid)]
        pub key_id: String,
        pub name: String,
        pub key_prefix: String,
        pub permissions: Vec<Permission>,
        pub created_at: i64,
        #[schema(required = true)]
        pub expires_at: Option<i64>,
        #[schema(required = true)]
        pub rate_limit_override: Option<u32>,
        pub is_active: bool,
        #[schema(required = true)]
        pub last_used: Option<i64>,
    }

    /// The caller's keys.
    #[derive(ToSchema)]
    pub(super) struct ApiKeyList {
        pub api_keys: Vec<ApiKeyListItem>,
    }

    /// One key's usage counters.
    #[derive(ToSchema)]
    pub(super) struct ApiKeyUsageItem {
        #[schema(format = Uuid)]
        pub key_id: String,
        pub name: String,
        pub requests: u64,
        pub rate_limited: u64,
        #[schema(required = true)]
        pub last_used: Option<i64>,
    }

    /// Usage of the caller's keys (an admin's: every key).
    #[derive(ToSchema)]
    pub(super) struct ApiKeyUsageList {
        pub usage: Vec<ApiKeyUsageItem>,
    }

    /// A security event type.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub(super) enum EventType {
        Registration,
        Login,
        Logout,
        TokenRefresh,
        RefreshReuse,
        TokenInvalid,
        RateLimit,
        Lockout,
        IpBlocked,
        IpUnblocked,
        ApiKeyCreated,
        ApiKeyRevoked,
        TokensInvalidated,
        PasswordChanged,
    }

    /// One audited decision.
    #[derive(ToSchema)]
    pub(super) struct SecurityEvent {
        #[schema(format = Uuid)]
        pub id: String,
        pub timestamp: i64,
        pub event_type: EventType,
        #[schema(required = true)]
        pub user_id: Option<i64>,
        #[schema(required = true)]
        pub ip_address: Option<String>,
        pub success: bool,
        #[schema(value_type = Object)]
        pub details: serde_json::Value,
    }

    /// A page of events, newest first.
    #[derive(ToSchema)]
    pub(super) struct EventPage {
        pub events: Vec<SecurityEvent>,
        /// `null` on the last page.
        #[schema(required = true)]
        pub next_cursor: Option<String>,
    }

    /// Success and failure counts.
    #[derive(ToSchema)]
    pub(super) struct OutcomeCounts {
        pub success: u64,
        pub failure: u64,
    }

    /// Counts per event type over the last hour and day.
    #[derive(ToSchema)]
    pub(super) struct SecurityMetrics {
        pub last_hour: BTreeMap<String, OutcomeCounts>,
        pub last_day: BTreeMap<String, OutcomeCounts>,
        pub blocked_ips: u64,
    }

    /// Block an IP or CIDR range.
    #[derive(ToSchema)]
    pub(super) struct BlockIpRequest {
        #[schema(example = "203.0.113.0/24")]
        pub ip_address: String,
        #[schema(min_length = 1, max_length = 500)]
        pub reason: String,
        #[schema(minimum = 1)]
        pub duration_seconds: Option<u64>,
    }

    /// Unblock exactly what was blocked.
    #[derive(ToSchema)]
    pub(super) struct UnblockIpRequest {
        pub ip_address: String,
    }

    /// One block-list entry.
    #[derive(ToSchema)]
    pub(super) struct BlockEntry {
        pub ip_address: String,
        pub reason: String,
        pub created_at: i64,
        #[schema(required = true)]
        pub expires_at: Option<i64>,
    }

    /// The entries in force.
    #[derive(ToSchema)]
    pub(super) struct BlockedIps {
        pub blocked_ips: Vec<BlockEntry>,
    }

    /// Invalidate every token of a user.
    #[derive(ToSchema)]
    pub(super) struct InvalidateUserTokensRequest {
        pub user_id: i64,
    }

    /// A stored file's metadata.
    #[derive(ToSchema)]
    pub(super) struct FileMeta {
        #[schema(format = Uuid)]
        pub id: String,
        /// As uploaded: 1–255 characters, no path separators or control characters.
        pub filename: String,
        /// `text/csv`, `text/plain`, `application/json`, `application/pdf`, `image/png` or
        /// `image/jpeg`.
        #[schema(example = "text/csv")]
        pub content_type: String,
        /// Bytes.
        pub size: u64,
        /// SHA-256 of the bytes, 64 lower-case hex digits.
        pub sha256: String,
        /// Unix ms.
        pub created_at: i64,
    }

    /// The caller's files, oldest first.
    #[derive(ToSchema)]
    pub(super) struct FileList {
        pub files: Vec<FileMeta>,
    }

    /// What to do with a CSV file (its first record is the header). Unknown fields are
    /// refused.
    #[derive(ToSchema)]
    pub(super) struct ProcessListRequest {
        /// One of the caller's `text/csv` or `text/plain` files.
        #[schema(format = Uuid)]
        pub file_id: String,
        /// Drop rows equal to an earlier output row (whole rows, after column selection).
        #[schema(nullable = false)]
        pub dedupe: Option<bool>,
        /// Keep these columns, by header name, in this order.
        #[schema(nullable = false, min_items = 1)]
        pub columns: Option<Vec<String>>,
        /// At most this many rows per output file; the header is repeated in each.
        #[schema(nullable = false, minimum = 1)]
        pub split_rows: Option<u64>,
    }

    /// The new CSV files and the row counts (rows after the header; malformed rows have the
    /// wrong number of fields or invalid UTF-8 and are skipped).
    #[derive(ToSchema)]
    pub(super) struct ProcessedList {
        pub files: Vec<FileMeta>,
        pub rows_in: u64,
        pub rows_out: u64,
        pub malformed_rows: u64,
    }

    /// `{"status":"ok"}`.
    #[derive(ToSchema)]
    pub(super) struct StatusOk {
        #[schema(example = "ok", pattern = "^ok$")]
        pub status: String,
    }

    /// Liveness.
    #[derive(ToSchema)]
    pub(super) struct Health {
        #[schema(pattern = "^ok$")]
        pub status: String,
        pub version: String,
    }

    /// A service's state.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub(super) enum ServiceStatus {
        Ok,
        Degraded,
        Down,
        NotConfigured,
    }

    /// Overall state.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub(super) enum OverallStatus {
        Ok,
        Degraded,
    }

    /// One service; `latency_ms` is absent when not configured.
    #[derive(ToSchema)]
    pub(super) struct ServiceHealth {
        pub status: ServiceStatus,
        #[schema(nullable = false)]
        pub latency_ms: Option<u64>,
    }

    /// The services of `/health/auth`.
    #[derive(ToSchema)]
    pub(super) struct HealthServices {
        pub database: ServiceHealth,
        pub cache: ServiceHealth,
        pub jwt: ServiceHealth,
    }

    /// `/health/auth`.
    #[derive(ToSchema)]
    pub(super) struct HealthReport {
        pub status: OverallStatus,
        pub services: HealthServices,
    }
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (not rate limited when outside `/api`).
    Public,
    /// A JWT (an API key is `AUTH_010`).
    Jwt,
    /// A JWT or an API key.
    JwtOrKey,
    /// A JWT, or none with `username` when a password reset is required.
    JwtOrReset,
    /// A JWT of an admin.
    Admin,
}

/// A query or path parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// In the path (else the query).
    pub in_path: bool,
    /// Its type.
    pub kind: ParamKind,
    /// What it means.
    pub description: &'static str,
}

/// The type of a [`Param`].
#[derive(Debug, Clone, Copy)]
pub enum ParamKind {
    /// Text.
    Text,
    /// A 64-bit integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// 1 to 500.
    Limit,
    /// An event type.
    EventType,
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path, with `{param}` segments.
    pub path: &'static str,
    /// `operationId`.
    pub id: &'static str,
    /// Tag (section of `/docs`).
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// More.
    pub description: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The JSON body schema, and whether the body is required.
    pub body: Option<(&'static str, bool)>,
    /// Parameters.
    pub params: &'static [Param],
    /// Success status.
    pub ok: u16,
    /// Success schema (`None`: no body).
    pub ok_schema: Option<&'static str>,
    /// The errors specific to this operation (the common ones are added).
    pub errors: &'static [ErrorCode],
}

use ErrorCode as E;

const AUTH_ERRORS: &[ErrorCode] = &[
    E::InvalidToken,
    E::TokenExpired,
    E::TokenRevoked,
    E::ApiKeyMalformed,
    E::ApiKeyNotFound,
    E::ApiKeyExpired,
    E::ApiKeyRevoked,
];

/// Every documented operation, in `/docs` order.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/health",
        id: "health",
        tag: "health",
        summary: "Liveness",
        description: "Always 200 while the process serves requests. Not rate limited, never blocked.",
        access: Access::Public,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("Health"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/health/auth",
        id: "health_auth",
        tag: "health",
        summary: "Health of the database, cache and JWT signing",
        description: "200, or 503 when the database is down. Each service is ok, degraded, down or not_configured. Not rate limited, never blocked.",
        access: Access::Public,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("HealthReport"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/openapi.json",
        id: "openapi",
        tag: "docs",
        summary: "This OpenAPI document",
        description: "Not rate limited.",
        access: Access::Public,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: None,
        errors: &[E::IpBlocked],
    },
    Operation {
        method: "get",
        path: "/docs",
        id: "docs",
        tag: "docs",
        summary: "This documentation as HTML",
        description: "Not rate limited.",
        access: Access::Public,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: None,
        errors: &[E::IpBlocked],
    },
    Operation {
        method: "post",
        path: "/api/accounts/register",
        id: "register",
        tag: "accounts",
        summary: "Register a user",
        description: "Creates the user and answers a token pair with the user. Username and email are unique case-insensitively.",
        access: Access::Public,
        body: Some(("RegisterRequest", true)),
        params: &[],
        ok: 201,
        ok_schema: Some("AuthResponse"),
        errors: &[E::AlreadyRegistered],
    },
    Operation {
        method: "post",
        path: "/api/accounts/login",
        id: "login",
        tag: "accounts",
        summary: "Log in with username (or email) and password",
        description: "Failed attempts are counted per username and per IP: after the k-th failure the next attempt within min(k, 30) s is refused (AUTH_006), the 5th failure in 15 minutes locks for an hour.",
        access: Access::Public,
        body: Some(("LoginRequest", true)),
        params: &[],
        ok: 200,
        ok_schema: Some("AuthResponse"),
        errors: &[
            E::InvalidCredentials,
            E::LockedOut,
            E::PasswordResetRequired,
            E::AccountDisabled,
        ],
    },
    Operation {
        method: "post",
        path: "/api/accounts/token/refresh",
        id: "refresh",
        tag: "accounts",
        summary: "Rotate a refresh token",
        description: "One-time use: the presented refresh token is revoked and a new pair issued. Presenting a used one revokes its whole family (AUTH_003).",
        access: Access::Public,
        body: Some(("RefreshRequest", true)),
        params: &[],
        ok: 200,
        ok_schema: Some("TokenPair"),
        errors: &[E::InvalidToken, E::TokenExpired, E::TokenRevoked],
    },
    Operation {
        method: "post",
        path: "/api/accounts/logout",
        id: "logout",
        tag: "accounts",
        summary: "Log out",
        description: "Revokes the access token and its session; the body (optional) may name a refresh token to revoke too.",
        access: Access::Jwt,
        body: Some(("LogoutRequest", false)),
        params: &[],
        ok: 204,
        ok_schema: None,
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/api/accounts/user",
        id: "current_user",
        tag: "accounts",
        summary: "The caller's user",
        description: "With an API key: the key's owner.",
        access: Access::JwtOrKey,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("User"),
        errors: &[],
    },
    Operation {
        method: "post",
        path: "/api/accounts/password",
        id: "change_password",
        tag: "accounts",
        summary: "Change the password",
        description: "With a JWT, or without credentials but with `username` when the account must reset its password. Every token issued before is revoked; API keys are not.",
        access: Access::JwtOrReset,
        body: Some(("ChangePasswordRequest", true)),
        params: &[],
        ok: 200,
        ok_schema: Some("TokenPair"),
        errors: &[E::InvalidCredentials, E::LockedOut, E::AccountDisabled],
    },
    Operation {
        method: "post",
        path: "/api/api-keys",
        id: "create_api_key",
        tag: "api-keys",
        summary: "Create an API key",
        description: "The key is shown once, in this answer.",
        access: Access::Jwt,
        body: Some(("CreateApiKeyRequest", true)),
        params: &[],
        ok: 201,
        ok_schema: Some("CreatedApiKey"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/api/api-keys",
        id: "list_api_keys",
        tag: "api-keys",
        summary: "The caller's API keys",
        description: "Revoked keys stay listed with is_active false.",
        access: Access::Jwt,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("ApiKeyList"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/api/api-keys/usage",
        id: "api_key_usage",
        tag: "api-keys",
        summary: "Usage of the caller's API keys (admin: every key)",
        description: "Admitted (`requests`) and refused (`rate_limited`) requests per key.",
        access: Access::Jwt,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("ApiKeyUsageList"),
        errors: &[],
    },
    Operation {
        method: "delete",
        path: "/api/api-keys/{key_id}",
        id: "revoke_api_key",
        tag: "api-keys",
        summary: "Revoke an API key",
        description: "The owner's key, or any key for an admin. Unknown, malformed, foreign or already revoked ids are 404 REQ_004.",
        access: Access::Jwt,
        body: None,
        params: &[Param {
            name: "key_id",
            in_path: true,
            kind: ParamKind::Text,
            description: "The key's id (a UUID).",
        }],
        ok: 204,
        ok_schema: None,
        errors: &[E::ResourceNotFound],
    },
    Operation {
        method: "get",
        path: "/api/analytics/security/events",
        id: "security_events",
        tag: "security",
        summary: "Security events, newest first",
        description: "Filters combine with AND. `next_cursor` is null on the last page.",
        access: Access::Admin,
        body: None,
        params: &[
            Param {
                name: "event_type",
                in_path: false,
                kind: ParamKind::EventType,
                description: "Only this type.",
            },
            Param {
                name: "user_id",
                in_path: false,
                kind: ParamKind::Int,
                description: "Only this user.",
            },
            Param {
                name: "ip_address",
                in_path: false,
                kind: ParamKind::Text,
                description: "Only this client IP (an IP address).",
            },
            Param {
                name: "success",
                in_path: false,
                kind: ParamKind::Bool,
                description: "Only successes or failures.",
            },
            Param {
                name: "since",
                in_path: false,
                kind: ParamKind::Int,
                description: "From this time, Unix ms, inclusive.",
            },
            Param {
                name: "until",
                in_path: false,
                kind: ParamKind::Int,
                description: "Until this time, Unix ms, inclusive.",
            },
            Param {
                name: "limit",
                in_path: false,
                kind: ParamKind::Limit,
                description: "Page size, 1–500, default 50.",
            },
            Param {
                name: "cursor",
                in_path: false,
                kind: ParamKind::Text,
                description: "The `next_cursor` of the previous page.",
            },
        ],
        ok: 200,
        ok_schema: Some("EventPage"),
        errors: &[E::InvalidRequest],
    },
    Operation {
        method: "get",
        path: "/api/analytics/security/metrics",
        id: "security_metrics",
        tag: "security",
        summary: "Event counts per type over the last hour and day",
        description: "Every event type appears in both maps.",
        access: Access::Admin,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("SecurityMetrics"),
        errors: &[],
    },
    Operation {
        method: "post",
        path: "/api/analytics/security/block-ip",
        id: "block_ip",
        tag: "security",
        summary: "Block an IP address or CIDR range",
        description: "Blocked clients get 403 SEC_001 on every route but /health and /health/auth.",
        access: Access::Admin,
        body: Some(("BlockIpRequest", true)),
        params: &[],
        ok: 201,
        ok_schema: Some("BlockEntry"),
        errors: &[],
    },
    Operation {
        method: "post",
        path: "/api/analytics/security/unblock-ip",
        id: "unblock_ip",
        tag: "security",
        summary: "Unblock an IP address or range",
        description: "Exactly as it was blocked; not blocked is 404 REQ_004.",
        access: Access::Admin,
        body: Some(("UnblockIpRequest", true)),
        params: &[],
        ok: 200,
        ok_schema: Some("StatusOk"),
        errors: &[E::ResourceNotFound],
    },
    Operation {
        method: "get",
        path: "/api/analytics/security/blocked-ips",
        id: "blocked_ips",
        tag: "security",
        summary: "The block list in force",
        description: "",
        access: Access::Admin,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("BlockedIps"),
        errors: &[],
    },
    Operation {
        method: "post",
        path: "/api/admin/invalidate-user-tokens",
        id: "invalidate_user_tokens",
        tag: "admin",
        summary: "Invalidate every token of a user",
        description: "Access and refresh tokens issued before now fail with AUTH_003; API keys are untouched.",
        access: Access::Admin,
        body: Some(("InvalidateUserTokensRequest", true)),
        params: &[],
        ok: 200,
        ok_schema: Some("StatusOk"),
        errors: &[E::UserNotFound],
    },
    Operation {
        method: "post",
        path: "/api/files",
        id: "upload_file",
        tag: "files",
        summary: "Upload a file",
        description: "Either the raw bytes with `?filename=` and the file's `Content-Type`, or `multipart/form-data` with the file in the field `file`. Accepted: text/csv, text/plain, application/json (UTF-8 text; JSON must parse), application/pdf, image/png, image/jpeg (by signature); the declared type (or, without one, the file name's extension) must match the content. Needs `files:write`. Limit 10 MiB by default (`CUTTY_MAX_UPLOAD_BYTES`).",
        access: Access::JwtOrKey,
        body: Some((FILE_UPLOAD, true)),
        params: &[Param {
            name: "filename",
            in_path: false,
            kind: ParamKind::Text,
            description: "The file name (raw uploads; for multipart, when the part has none).",
        }],
        ok: 201,
        ok_schema: Some("FileMeta"),
        errors: &[
            E::ApiKeyPermissionDenied,
            E::UploadMalformed,
            E::UploadStorageFailed,
            E::FileTooLarge,
            E::InvalidFileFormat,
        ],
    },
    Operation {
        method: "get",
        path: "/api/files",
        id: "list_files",
        tag: "files",
        summary: "The caller's files",
        description: "Oldest first. Needs `files:read`.",
        access: Access::JwtOrKey,
        body: None,
        params: &[],
        ok: 200,
        ok_schema: Some("FileList"),
        errors: &[E::ApiKeyPermissionDenied],
    },
    Operation {
        method: "get",
        path: "/api/files/{id}",
        id: "download_file",
        tag: "files",
        summary: "Download a file",
        description: "The bytes with the file's Content-Type and Content-Length, as an attachment. Another user's file, or an unknown or malformed id, is 404 FILE_002. Needs `files:read`.",
        access: Access::JwtOrKey,
        body: None,
        params: &[FILE_ID],
        ok: 200,
        ok_schema: None,
        errors: &[E::ApiKeyPermissionDenied, E::FileNotFound],
    },
    Operation {
        method: "delete",
        path: "/api/files/{id}",
        id: "delete_file",
        tag: "files",
        summary: "Delete a file",
        description: "Another user's file, or an unknown or malformed id, is 404 FILE_002. Needs `files:write`.",
        access: Access::JwtOrKey,
        body: None,
        params: &[FILE_ID],
        ok: 204,
        ok_schema: None,
        errors: &[E::ApiKeyPermissionDenied, E::FileNotFound],
    },
    Operation {
        method: "post",
        path: "/api/lists/process",
        id: "process_list",
        tag: "files",
        summary: "Process a CSV list into new files",
        description: "De-duplicates, selects columns and splits one of the caller's CSV files in one streaming pass; the results are stored as new text/csv files (`{name}-processed.csv`, or `{name}-part-N.csv` when split). An unknown or ambiguous column is 400 REQ_001; at most 100 output files. Needs `list:process`.",
        access: Access::JwtOrKey,
        body: Some(("ProcessListRequest", true)),
        params: &[],
        ok: 201,
        ok_schema: Some("ProcessedList"),
        errors: &[
            E::ApiKeyPermissionDenied,
            E::FileNotFound,
            E::FileTooLarge,
            E::InvalidFileFormat,
            E::UploadStorageFailed,
        ],
    },
];

/// The body marker of `POST /api/files`: raw bytes of an accepted type, or multipart.
const FILE_UPLOAD: &str = "FileUpload";

const FILE_ID: Param = Param {
    name: "id",
    in_path: true,
    kind: ParamKind::Text,
    description: "The file's id (a UUID).",
};

/// The error codes `op` can answer, by HTTP status.
pub fn error_codes(op: &Operation) -> BTreeMap<u16, Vec<ErrorCode>> {
    let mut codes: Vec<ErrorCode> = op.errors.to_vec();
    let api = op.path.starts_with("/api/");
    if api {
        codes.extend([
            E::IpBlocked,
            E::IpRateLimited,
            E::UserRateLimited,
            E::ApiKeyRateLimited,
            E::GlobalRateLimited,
            E::StoreUnavailable,
            E::StoreTimeout,
            E::StoreRollback,
            E::StoreSchemaMismatch,
        ]);
    }
    match op.body {
        // An upload's size and type have their own codes (FILE_004, FILE_005).
        Some((FILE_UPLOAD, _)) => codes.push(E::InvalidRequest),
        Some(_) => codes.extend([E::InvalidRequest, E::BodyTooLarge, E::UnsupportedMediaType]),
        None => {}
    }
    match op.access {
        Access::Public => {}
        Access::JwtOrKey => codes.extend(AUTH_ERRORS),
        Access::Jwt | Access::Admin | Access::JwtOrReset => {
            codes.extend(AUTH_ERRORS);
            codes.push(E::Forbidden);
        }
    }
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes {
        let list = by_status.entry(code.http_status()).or_default();
        if !list.contains(&code) {
            list.push(code);
        }
    }
    by_status
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn json_content(schema: &str) -> Content {
    Content::new(Some(schema_ref(schema)))
}

fn integer_schema(format: KnownFormat) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .build()
        .into()
}

fn header(description: &str, schema: Schema) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(schema)
        .description(Some(description))
        .build()
}

fn string_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .build()
        .into()
}

fn param_schema(kind: ParamKind) -> Schema {
    match kind {
        ParamKind::Text => string_schema(),
        ParamKind::Int => integer_schema(KnownFormat::Int64),
        ParamKind::Bool => ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .build()
            .into(),
        ParamKind::Limit => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(500))
            .build()
            .into(),
        ParamKind::EventType => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                cutty_core::event::EventType::ALL
                    .iter()
                    .filter_map(|t| serde_json::to_value(t).ok()),
            ))
            .build()
            .into(),
    }
}

fn error_description(codes: &[ErrorCode]) -> String {
    codes
        .iter()
        .map(|c| format!("{} ({})", c.as_str(), c.message()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Any JSON value (a stored JSON file, returned as uploaded).
fn any_json_content() -> Content {
    Content::new(Some(RefOr::T(
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
            .build()
            .into(),
    )))
}

/// A string of raw bytes of media type `mime`.
fn binary_content(mime: &str) -> Content {
    Content::new(Some(RefOr::T(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type(mime)
            .build()
            .into(),
    )))
}

/// The body of `POST /api/files`: the bytes under any accepted type (or
/// `application/octet-stream`, judged by the file name and the content), or multipart with
/// the field `file`.
fn upload_body() -> utoipa::openapi::request_body::RequestBody {
    let mut b = RequestBodyBuilder::new()
        .description(Some(
            "The file's bytes with its Content-Type, or multipart/form-data with the field `file`.",
        ))
        .required(Some(Required::True));
    for mime in cutty_core::file::FileFormat::ALL
        .into_iter()
        .map(|f| f.mime())
        .chain(["application/octet-stream"])
    {
        b = b.content(mime, binary_content(mime));
    }
    let multipart = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "file",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/octet-stream"),
        )
        .required("file")
        .build();
    b.content(
        "multipart/form-data",
        Content::new(Some(RefOr::T(multipart.into()))),
    )
    .build()
}

fn method(m: &str) -> HttpMethod {
    match m {
        "post" => HttpMethod::Post,
        "delete" => HttpMethod::Delete,
        "put" => HttpMethod::Put,
        "patch" => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

fn build_operation(op: &Operation) -> utoipa::openapi::path::Operation {
    let api = op.path.starts_with("/api/");
    let mut b = OperationBuilder::new()
        .operation_id(Some(op.id))
        .tag(op.tag)
        .summary(Some(op.summary))
        .description((!op.description.is_empty()).then_some(op.description));
    for p in op.params {
        b = b.parameter(
            ParameterBuilder::new()
                .name(p.name)
                .parameter_in(if p.in_path {
                    ParameterIn::Path
                } else {
                    ParameterIn::Query
                })
                .required(if p.in_path {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(p.description))
                .schema(Some(param_schema(p.kind))),
        );
    }
    if let Some((FILE_UPLOAD, _)) = op.body {
        b = b.request_body(Some(upload_body()));
    } else if let Some((schema, required)) = op.body {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json_content(schema))
                .required(Some(if required {
                    Required::True
                } else {
                    Required::False
                }))
                .build(),
        ));
    }
    let jwt = || SecurityRequirement::new("bearer_jwt", Vec::<String>::new());
    let key = || SecurityRequirement::new("api_key", Vec::<String>::new());
    b = match op.access {
        Access::Public => b,
        Access::Jwt | Access::Admin => b.security(jwt()),
        Access::JwtOrKey => b.security(jwt()).security(key()),
        Access::JwtOrReset => b.security(jwt()).security(SecurityRequirement::default()),
    };

    let request_id = || {
        header(
            "The request's id: the client's X-Request-Id if it was 1–128 of [A-Za-z0-9._-], else a new UUID.",
            string_schema(),
        )
    };
    let mut ok = ResponseBuilder::new()
        .description(match op.ok {
            201 => "Created",
            204 => "No content",
            _ => "OK",
        })
        .header("X-Request-Id", request_id());
    if api {
        ok = ok
            .header(
                "X-RateLimit-Limit",
                header(
                    "The applicable limit with the fewest remaining requests: its quota per window.",
                    integer_schema(KnownFormat::Int64),
                ),
            )
            .header(
                "X-RateLimit-Remaining",
                header(
                    "Requests that limit still admits now.",
                    integer_schema(KnownFormat::Int64),
                ),
            )
            .header(
                "X-RateLimit-Reset",
                header(
                    "Whole seconds until that limit's count next decays (0 ≤ Reset ≤ window).",
                    integer_schema(KnownFormat::Int64),
                ),
            );
    }
    ok = match (op.id, op.ok_schema) {
        ("docs", _) => ok.content("text/html", Content::new(Some(RefOr::T(string_schema())))),
        ("openapi", _) => ok.content(
            "application/json",
            Content::new(Some(RefOr::T(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .build()
                    .into(),
            ))),
        ),
        ("download_file", _) => cutty_core::file::FileFormat::ALL
            .into_iter()
            .fold(ok, |ok, f| {
                // A JSON upload comes back as the document it was: any JSON value.
                if f.mime() == "application/json" {
                    ok.content(f.mime(), any_json_content())
                } else {
                    ok.content(f.mime(), binary_content(f.mime()))
                }
            }),
        (_, Some(schema)) => ok.content("application/json", json_content(schema)),
        (_, None) => ok,
    };
    b = b.response(op.ok.to_string(), ok.build());
    if op.id == "health_auth" {
        b = b.response(
            "503",
            ResponseBuilder::new()
                .description("The database is down")
                .header("X-Request-Id", request_id())
                .content("application/json", json_content("HealthReport"))
                .build(),
        );
    }
    for (status, codes) in error_codes(op) {
        let mut r = ResponseBuilder::new()
            .description(error_description(&codes))
            .header("X-Request-Id", request_id())
            .content("application/json", json_content("Error"));
        if status == 429 {
            r = r.header(
                "Retry-After",
                header(
                    "Whole seconds until a retry can succeed.",
                    integer_schema(KnownFormat::Int64),
                ),
            );
        }
        b = b.response(status.to_string(), r.build());
    }
    b = b.response(
        "default",
        ResponseBuilder::new()
            .description("Any other contract error")
            .header("X-Request-Id", request_id())
            .content("application/json", json_content("Error"))
            .build(),
    );
    b.build()
}

fn components() -> utoipa::openapi::Components {
    use schemas::*;
    ComponentsBuilder::new()
        .schema_from::<Error>()
        .schema_from::<ErrorBody>()
        .schema_from::<User>()
        .schema_from::<TokenPair>()
        .schema_from::<AuthResponse>()
        .schema_from::<RegisterRequest>()
        .schema_from::<LoginRequest>()
        .schema_from::<RefreshRequest>()
        .schema_from::<LogoutRequest>()
        .schema_from::<ChangePasswordRequest>()
        .schema_from::<Permission>()
        .schema_from::<CreateApiKeyRequest>()
        .schema_from::<CreatedApiKey>()
        .schema_from::<ApiKeyListItem>()
        .schema_from::<ApiKeyList>()
        .schema_from::<ApiKeyUsageItem>()
        .schema_from::<ApiKeyUsageList>()
        .schema_from::<EventType>()
        .schema_from::<SecurityEvent>()
        .schema_from::<EventPage>()
        .schema_from::<OutcomeCounts>()
        .schema_from::<SecurityMetrics>()
        .schema_from::<BlockIpRequest>()
        .schema_from::<UnblockIpRequest>()
        .schema_from::<BlockEntry>()
        .schema_from::<BlockedIps>()
        .schema_from::<InvalidateUserTokensRequest>()
        .schema_from::<FileMeta>()
        .schema_from::<FileList>()
        .schema_from::<ProcessListRequest>()
        .schema_from::<ProcessedList>()
        .schema_from::<StatusOk>()
        .schema_from::<Health>()
        .schema_from::<ServiceStatus>()
        .schema_from::<OverallStatus>()
        .schema_from::<ServiceHealth>()
        .schema_from::<HealthServices>()
        .schema_from::<HealthReport>()
        .security_scheme(
            "bearer_jwt",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("`Authorization: Bearer <access JWT>`"))
                    .build(),
            ),
        )
        .security_scheme(
            "api_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cutty_<32 base62>")
                    .description(Some(
                        "`Authorization: Bearer cutty_<32 base62 characters>` (an API key)",
                    ))
                    .build(),
            ),
        )
        .build()
}

/// The OpenAPI 3.1 document of every route [`router`](crate::router) serves.
pub fn openapi() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for op in OPERATIONS {
        paths = paths.path(
            op.path,
            PathItem::new(method(op.method), build_operation(op)),
        );
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Cutty")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Authentication and rate limiting: accounts, JWTs, API keys, security \
                     events and the IP block list. Every error is \
                     `{\"error\":{\"code\",\"message\",\"request_id\"}}`; every response \
                     carries `X-Request-Id`; every `/api` response the `X-RateLimit-*` \
                     headers. Timestamps are Unix milliseconds.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components()))
        .build()
}
