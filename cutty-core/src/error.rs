//! The contract's error codes and the one error type every host renders.
//!
//! [`ErrorCode`] is the stable table of `../shared/CONTRACT.md` (`AUTH_001` … `SEC_001`): the
//! string a client sees, its HTTP status and a generic message that is safe to show. [`Error`]
//! is what Cutty's operations return; every variant maps to exactly one code through
//! [`Error::code`], so the axum, actix-web and Worker hosts render identical JSON.
//!
//! Messages are deliberately generic. Detail that helps an operator (which claim failed,
//! which backend timed out) is kept in typed fields and sources for logs, never in
//! [`ErrorCode::message`].

use std::borrow::Cow;
use std::fmt;

/// A stable, client-visible error code from the contract.
///
/// The variant names say what happened; [`ErrorCode::as_str`] gives the contract string.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// `AUTH_001` 401: invalid token format or signature, or a missing/malformed
    /// `Authorization` header.
    InvalidToken,
    /// `AUTH_002` 401: token expired.
    TokenExpired,
    /// `AUTH_003` 401: token revoked (logged out, invalidated, refresh reuse).
    TokenRevoked,
    /// `AUTH_004` 401: invalid credentials — the same answer for an unknown user and a
    /// wrong password.
    InvalidCredentials,
    /// `AUTH_005` 404: user not found (admin look-ups only, never on login).
    UserNotFound,
    /// `AUTH_006` 429: account or IP temporarily locked after failed logins.
    LockedOut,
    /// `AUTH_007` 403: password reset required.
    PasswordResetRequired,
    /// `AUTH_008` 403: account disabled (only revealed after a correct password).
    AccountDisabled,
    /// `AUTH_009` 409: username or email already registered.
    AlreadyRegistered,
    /// `AUTH_010` 403: authenticated but not allowed.
    Forbidden,
    /// `API_001` 401: API key malformed or its checksum fails.
    ApiKeyMalformed,
    /// `API_002` 401: API key not found.
    ApiKeyNotFound,
    /// `API_003` 401: API key expired.
    ApiKeyExpired,
    /// `API_004` 401: API key revoked or inactive.
    ApiKeyRevoked,
    /// `API_005` 403: API key lacks the permission the endpoint needs.
    ApiKeyPermissionDenied,
    /// `API_006` 429: the original system's alias of `RATE_003`. Never emitted; kept so the
    /// table is complete and the code is never reused.
    ApiKeyRateLimitedAlias,
    /// `DB_001` 503: storage unavailable.
    StoreUnavailable,
    /// `DB_002` 503: storage timeout.
    StoreTimeout,
    /// `DB_003` 409: storage constraint violation.
    StoreConstraint,
    /// `DB_004` 500: transaction rolled back.
    StoreRollback,
    /// `DB_005` 500: schema mismatch.
    StoreSchemaMismatch,
    /// `RATE_001` 429: IP rate limit exceeded.
    IpRateLimited,
    /// `RATE_002` 429: user rate limit exceeded.
    UserRateLimited,
    /// `RATE_003` 429: API key rate limit exceeded.
    ApiKeyRateLimited,
    /// `RATE_004` 429: global rate limit exceeded.
    GlobalRateLimited,
    /// `FILE_001` 400: malformed or interrupted upload.
    UploadMalformed,
    /// `FILE_001` 500: upload failed because storage failed.
    UploadStorageFailed,
    /// `FILE_002` 404: file not found (also another user's file).
    FileNotFound,
    /// `FILE_003` 403: file access denied.
    FileAccessDenied,
    /// `FILE_004` 413: file size limit exceeded.
    FileTooLarge,
    /// `FILE_005` 415: invalid file format.
    InvalidFileFormat,
    /// `REQ_001` 400: malformed JSON, wrong types, missing or invalid fields.
    InvalidRequest,
    /// `REQ_002` 413: request body too large.
    BodyTooLarge,
    /// `REQ_003` 404: no such route.
    RouteNotFound,
    /// `REQ_004` 404: no such resource.
    ResourceNotFound,
    /// `REQ_005` 405: method not allowed.
    MethodNotAllowed,
    /// `REQ_006` 415: unsupported `Content-Type` on a JSON endpoint.
    UnsupportedMediaType,
    /// `SEC_001` 403: client IP is blocked.
    IpBlocked,
}

impl ErrorCode {
    /// Every code, in contract order.
    pub const ALL: &'static [ErrorCode] = &[
        Self::InvalidToken,
        Self::TokenExpired,
        Self::TokenRevoked,
        Self::InvalidCredentials,
        Self::UserNotFound,
        Self::LockedOut,
        Self::PasswordResetRequired,
        Self::AccountDisabled,
        Self::AlreadyRegistered,
        Self::Forbidden,
        Self::ApiKeyMalformed,
        Self::ApiKeyNotFound,
        Self::ApiKeyExpired,
        Self::ApiKeyRevoked,
        Self::ApiKeyPermissionDenied,
        Self::ApiKeyRateLimitedAlias,
        Self::StoreUnavailable,
        Self::StoreTimeout,
        Self::StoreConstraint,
        Self::StoreRollback,
        Self::StoreSchemaMismatch,
        Self::IpRateLimited,
        Self::UserRateLimited,
        Self::ApiKeyRateLimited,
        Self::GlobalRateLimited,
        Self::UploadMalformed,
        Self::UploadStorageFailed,
        Self::FileNotFound,
        Self::FileAccessDenied,
        Self::FileTooLarge,
        Self::InvalidFileFormat,
        Self::InvalidRequest,
        Self::BodyTooLarge,
        Self::RouteNotFound,
        Self::ResourceNotFound,
        Self::MethodNotAllowed,
        Self::UnsupportedMediaType,
        Self::IpBlocked,
    ];

    /// The contract string, e.g. `"AUTH_004"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "AUTH_001",
            Self::TokenExpired => "AUTH_002",
            Self::TokenRevoked => "AUTH_003",
            Self::InvalidCredentials => "AUTH_004",
            Self::UserNotFound => "AUTH_005",
            Self::LockedOut => "AUTH_006",
            Self::PasswordResetRequired => "AUTH_007",
            Self::AccountDisabled => "AUTH_008",
            Self::AlreadyRegistered => "AUTH_009",
            Self::Forbidden => "AUTH_010",
            Self::ApiKeyMalformed => "API_001",
            Self::ApiKeyNotFound => "API_002",
            Self::ApiKeyExpired => "API_003",
            Self::ApiKeyRevoked => "API_004",
            Self::ApiKeyPermissionDenied => "API_005",
            Self::ApiKeyRateLimitedAlias => "API_006",
            Self::StoreUnavailable => "DB_001",
            Self::StoreTimeout => "DB_002",
            Self::StoreConstraint => "DB_003",
            Self::StoreRollback => "DB_004",
            Self::StoreSchemaMismatch => "DB_005",
            Self::IpRateLimited => "RATE_001",
            Self::UserRateLimited => "RATE_002",
            Self::ApiKeyRateLimited => "RATE_003",
            Self::GlobalRateLimited => "RATE_004",
            Self::UploadMalformed | Self::UploadStorageFailed => "FILE_001",
            Self::FileNotFound => "FILE_002",
            Self::FileAccessDenied => "FILE_003",
            Self::FileTooLarge => "FILE_004",
            Self::InvalidFileFormat => "FILE_005",
            Self::InvalidRequest => "REQ_001",
            Self::BodyTooLarge => "REQ_002",
            Self::RouteNotFound => "REQ_003",
            Self::ResourceNotFound => "REQ_004",
            Self::MethodNotAllowed => "REQ_005",
            Self::UnsupportedMediaType => "REQ_006",
            Self::IpBlocked => "SEC_001",
        }
    }

    /// The HTTP status the contract assigns to this code.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidToken
            | Self::TokenExpired
            | Self::TokenRevoked
            | Self::InvalidCredentials
            | Self::ApiKeyMalformed
            | Self::ApiKeyNotFound
            | Self::ApiKeyExpired
            | Self::ApiKeyRevoked => 401,
            Self::UserNotFound
            | Self::FileNotFound
            | Self::RouteNotFound
            | Self::ResourceNotFound => 404,
            Self::LockedOut
            | Self::ApiKeyRateLimitedAlias
            | Self::IpRateLimited
            | Self::UserRateLimited
            | Self::ApiKeyRateLimited
            | Self::GlobalRateLimited => 429,
            Self::PasswordResetRequired
            | Self::AccountDisabled
            | Self::Forbidden
            | Self::ApiKeyPermissionDenied
            | Self::FileAccessDenied
            | Self::IpBlocked => 403,
            Self::AlreadyRegistered | Self::StoreConstraint => 409,
            Self::StoreUnavailable | Self::StoreTimeout => 503,
            Self::StoreRollback | Self::StoreSchemaMismatch | Self::UploadStorageFailed => 500,
            Self::UploadMalformed | Self::InvalidRequest => 400,
            Self::FileTooLarge | Self::BodyTooLarge => 413,
            Self::InvalidFileFormat | Self::UnsupportedMediaType => 415,
            Self::MethodNotAllowed => 405,
        }
    }

    /// A generic message that is safe to send to any client: it names no user, key, secret,
    /// query or backend.
    pub const fn message(self) -> &'static str {
        match self {
            Self::InvalidToken => "Invalid or malformed authentication token",
            Self::TokenExpired => "Token has expired",
            Self::TokenRevoked => "Token has been revoked",
            Self::InvalidCredentials => "Invalid username or password",
            Self::UserNotFound => "User not found",
            Self::LockedOut => "Too many failed login attempts; try again later",
            Self::PasswordResetRequired => "Password reset required",
            Self::AccountDisabled => "Account is disabled",
            Self::AlreadyRegistered => "Username or email is already registered",
            Self::Forbidden => "You are not allowed to perform this action",
            Self::ApiKeyMalformed => "Malformed API key",
            Self::ApiKeyNotFound => "API key not found",
            Self::ApiKeyExpired => "API key has expired",
            Self::ApiKeyRevoked => "API key has been revoked",
            Self::ApiKeyPermissionDenied => "API key lacks the required permission",
            Self::ApiKeyRateLimitedAlias | Self::ApiKeyRateLimited => "API key rate limit exceeded",
            Self::StoreUnavailable => "Storage is unavailable",
            Self::StoreTimeout => "Storage timed out",
            Self::StoreConstraint => "Storage constraint violated",
            Self::StoreRollback => "Storage transaction failed",
            Self::StoreSchemaMismatch => "Storage schema does not match this version",
            Self::IpRateLimited => "Rate limit exceeded for this IP address",
            Self::UserRateLimited => "Rate limit exceeded for this user",
            Self::GlobalRateLimited => "Global rate limit exceeded",
            Self::UploadMalformed => "Upload is malformed or was interrupted",
            Self::UploadStorageFailed => "Upload failed",
            Self::FileNotFound => "File not found",
            Self::FileAccessDenied => "File access denied",
            Self::FileTooLarge => "File size limit exceeded",
            Self::InvalidFileFormat => "Invalid file format",
            Self::InvalidRequest => "Invalid request",
            Self::BodyTooLarge => "Request body too large",
            Self::RouteNotFound => "No such route",
            Self::ResourceNotFound => "No such resource",
            Self::MethodNotAllowed => "Method not allowed",
            Self::UnsupportedMediaType => "Unsupported Content-Type",
            Self::IpBlocked => "Access from this IP address is blocked",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Why a token was refused as invalid (`AUTH_001`). For logs and tests, never for clients.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidTokenReason {
    /// Not three base64url segments, bad JSON, or an `Authorization` header without
    /// `Bearer `.
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// The header's `alg` is not on the allow-list (including `none`).
    AlgorithmNotAllowed,
    /// No verification key matches the header's `kid`.
    UnknownKey,
    /// `type` is missing or is not the one expected here (refresh used as access, …).
    WrongType,
    /// `iss` is missing or wrong.
    WrongIssuer,
    /// A required claim is missing or has the wrong type.
    MissingClaim,
    /// `nbf` or `iat` lies in the future beyond the leeway.
    NotYetValid,
    /// The subject no longer exists.
    UnknownUser,
}

/// Which limit refused a request.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitScope {
    /// Per client IP (`RATE_001`).
    Ip,
    /// Per authenticated user (`RATE_002`).
    User,
    /// Per API key (`RATE_003`).
    ApiKey,
    /// Global (`RATE_004`).
    Global,
}

impl LimitScope {
    /// The error code a refusal by this limit carries.
    pub const fn error_code(self) -> ErrorCode {
        match self {
            Self::Ip => ErrorCode::IpRateLimited,
            Self::User => ErrorCode::UserRateLimited,
            Self::ApiKey => ErrorCode::ApiKeyRateLimited,
            Self::Global => ErrorCode::GlobalRateLimited,
        }
    }
}

/// One field-level problem in a request, rendered under `error.details`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldViolation {
    /// The request field, e.g. `"username"`.
    pub field: Cow<'static, str>,
    /// What is wrong with it, safe to show to the client.
    pub message: Cow<'static, str>,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A storage backend failure, classified structurally (never by matching message strings).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// The backend cannot be reached (`DB_001`).
    Unavailable,
    /// The backend did not answer within the configured timeout (`DB_002`).
    Timeout,
    /// A uniqueness or other constraint was violated (`DB_003`).
    Constraint,
    /// A transaction was rolled back (`DB_004`).
    Rollback,
    /// The schema version does not match this build (`DB_005`).
    SchemaMismatch,
}

/// An error from a store. Its source is kept for logs; clients only see the code.
#[derive(Debug, thiserror::Error)]
#[error("store error ({kind:?}): {context}")]
pub struct StoreError {
    kind: StoreErrorKind,
    context: Cow<'static, str>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// A store error of `kind` with a short context for operators (no secrets, no user data).
    pub fn new(kind: StoreErrorKind, context: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// Attaches the backend's own error as the source.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The contract code.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            StoreErrorKind::Unavailable => ErrorCode::StoreUnavailable,
            StoreErrorKind::Timeout => ErrorCode::StoreTimeout,
            StoreErrorKind::Constraint => ErrorCode::StoreConstraint,
            StoreErrorKind::Rollback => ErrorCode::StoreRollback,
            StoreErrorKind::SchemaMismatch => ErrorCode::StoreSchemaMismatch,
        }
    }
}

/// The error of every Cutty operation that can fail for a client-visible reason.
///
/// Each variant maps to one [`ErrorCode`]; hosts render `{"error":{"code","message",
/// "request_id"}}` from [`Error::code`] and add `Retry-After` from [`Error::retry_after_secs`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `AUTH_001`.
    #[error("invalid token ({0:?})")]
    InvalidToken(InvalidTokenReason),
    /// `AUTH_002`.
    #[error("token expired")]
    TokenExpired,
    /// `AUTH_003`.
    #[error("token revoked")]
    TokenRevoked,
    /// `AUTH_004`.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// `AUTH_005`.
    #[error("user not found")]
    UserNotFound,
    /// `AUTH_006`: refused by brute-force protection.
    #[error("locked out for {retry_after_secs} s")]
    LockedOut {
        /// Whole seconds until an attempt will be considered again.
        retry_after_secs: u64,
    },
    /// `AUTH_007`.
    #[error("password reset required")]
    PasswordResetRequired,
    /// `AUTH_008`.
    #[error("account disabled")]
    AccountDisabled,
    /// `AUTH_009`.
    #[error("username or email already registered")]
    AlreadyRegistered,
    /// `AUTH_010`.
    #[error("forbidden")]
    Forbidden,
    /// `API_001`.
    #[error("malformed API key")]
    ApiKeyMalformed,
    /// `API_002`.
    #[error("API key not found")]
    ApiKeyNotFound,
    /// `API_003`.
    #[error("API key expired")]
    ApiKeyExpired,
    /// `API_004`.
    #[error("API key revoked or inactive")]
    ApiKeyRevoked,
    /// `API_005`.
    #[error("API key lacks permission")]
    ApiKeyPermissionDenied,
    /// `RATE_001`…`RATE_004`.
    #[error("rate limited ({scope:?}) for {retry_after_secs} s")]
    RateLimited {
        /// Which limit refused the request.
        scope: LimitScope,
        /// Whole seconds until that limit admits another request.
        retry_after_secs: u64,
    },
    /// `SEC_001`.
    #[error("client IP is blocked")]
    IpBlocked,
    /// `REQ_001`, with field-level detail.
    #[error("invalid request")]
    InvalidRequest(Vec<FieldViolation>),
    /// `DB_001`…`DB_005`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `FILE_001` 500: an upload (or a processed list) could not be written to file storage.
    /// The store error is kept for logs; clients see only the code.
    #[error("file storage failed: {0}")]
    FileStorage(#[source] StoreError),
    /// Any other contract code with no extra data (routing, bodies, files).
    #[error("{0}")]
    Code(ErrorCode),
}

impl Error {
    /// The contract code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidToken(_) => ErrorCode::InvalidToken,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::TokenRevoked => ErrorCode::TokenRevoked,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::UserNotFound => ErrorCode::UserNotFound,
            Self::LockedOut { .. } => ErrorCode::LockedOut,
            Self::PasswordResetRequired => ErrorCode::PasswordResetRequired,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::AlreadyRegistered => ErrorCode::AlreadyRegistered,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::ApiKeyMalformed => ErrorCode::ApiKeyMalformed,
            Self::ApiKeyNotFound => ErrorCode::ApiKeyNotFound,
            Self::ApiKeyExpired => ErrorCode::ApiKeyExpired,
            Self::ApiKeyRevoked => ErrorCode::ApiKeyRevoked,
            Self::ApiKeyPermissionDenied => ErrorCode::ApiKeyPermissionDenied,
            Self::RateLimited { scope, .. } => scope.error_code(),
            Self::IpBlocked => ErrorCode::IpBlocked,
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::Store(e) => e.code(),
            Self::FileStorage(_) => ErrorCode::UploadStorageFailed,
            Self::Code(code) => *code,
        }
    }

    /// The HTTP status of this error.
    pub fn http_status(&self) -> u16 {
        self.code().http_status()
    }

    /// `Retry-After` in whole seconds, for refusals that have one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::LockedOut { retry_after_secs }
            | Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// A single-field `REQ_001`.
    pub fn invalid_field(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::InvalidRequest(vec![FieldViolation::new(field, message)])
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Self::Code(code)
    }
}

/// `Result` with Cutty's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's table, transcribed: code string, status.
    const CONTRACT: &[(&str, u16)] = &[
        ("AUTH_001", 401),
        ("AUTH_002", 401),
        ("AUTH_003", 401),
        ("AUTH_004", 401),
        ("AUTH_005", 404),
        ("AUTH_006", 429),
        ("AUTH_007", 403),
        ("AUTH_008", 403),
        ("AUTH_009", 409),
        ("AUTH_010", 403),
        ("API_001", 401),
        ("API_002", 401),
        ("API_003", 401),
        ("API_004", 401),
        ("API_005", 403),
        ("API_006", 429),
        ("DB_001", 503),
        ("DB_002", 503),
        ("DB_003", 409),
        ("DB_004", 500),
        ("DB_005", 500),
        ("RATE_001", 429),
        ("RATE_002", 429),
        ("RATE_003", 429),
        ("RATE_004", 429),
        ("FILE_001", 400),
        ("FILE_001", 500),
        ("FILE_002", 404),
        ("FILE_003", 403),
        ("FILE_004", 413),
        ("FILE_005", 415),
        ("REQ_001", 400),
        ("REQ_002", 413),
        ("REQ_003", 404),
        ("REQ_004", 404),
        ("REQ_005", 405),
        ("REQ_006", 415),
        ("SEC_001", 403),
    ];

    #[test]
    fn every_code_matches_the_contract_table_in_order() {
        let ours: Vec<(&str, u16)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str(), c.http_status()))
            .collect();
        assert_eq!(ours, CONTRACT);
    }

    #[test]
    fn messages_are_nonempty_and_generic() {
        for code in ErrorCode::ALL {
            let m = code.message();
            assert!(!m.is_empty());
            assert!(!m.contains('{'), "{code} message looks templated");
        }
    }

    #[test]
    fn errors_map_to_their_codes() {
        assert_eq!(
            Error::InvalidToken(InvalidTokenReason::BadSignature)
                .code()
                .as_str(),
            "AUTH_001"
        );
        assert_eq!(
            Error::LockedOut {
                retry_after_secs: 7
            }
            .retry_after_secs(),
            Some(7)
        );
        let e = Error::RateLimited {
            scope: LimitScope::ApiKey,
            retry_after_secs: 3,
        };
        assert_eq!((e.code().as_str(), e.http_status()), ("RATE_003", 429));
        let store: Error = StoreError::new(StoreErrorKind::Timeout, "users.find").into();
        assert_eq!(
            (store.code().as_str(), store.http_status()),
            ("DB_002", 503)
        );
        assert_eq!(Error::from(ErrorCode::BodyTooLarge).http_status(), 413);
        assert_eq!(
            Error::invalid_field("email", "invalid").code(),
            ErrorCode::InvalidRequest
        );
        for scope in [
            LimitScope::Ip,
            LimitScope::User,
            LimitScope::ApiKey,
            LimitScope::Global,
        ] {
            assert_eq!(scope.error_code().http_status(), 429);
        }
    }

    #[test]
    fn code_serializes_as_contract_string() {
        assert_eq!(
            serde_json::to_string(&ErrorCode::IpBlocked).unwrap(),
            "\"SEC_001\""
        );
    }
}
