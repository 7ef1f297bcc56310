//! Extractors for the caller the [gate](crate::gate) authenticated.
//!
//! | extractor | gives | refuses |
//! |---|---|---|
//! | [`Authenticated`] | any [`Caller`] (JWT or API key) | no credentials `401 AUTH_001`; failed credentials: their own error (`AUTH_00x`, `API_00x`, `DB_00x`) |
//! | [`OptionalAuth`] | `Option<Caller>`: `None` without `Authorization` | failed credentials, as above |
//! | [`AuthUser`] | a JWT [`UserCaller`] | as [`Authenticated`]; an API key `403 AUTH_010` |
//! | [`AdminUser`] | a JWT admin [`UserCaller`] | as [`AuthUser`]; a non-admin `403 AUTH_010` |
//! | [`ApiKeyCaller`] | an API-key [`KeyCaller`] (its principal and owner) | as [`Authenticated`]; a JWT `403 AUTH_010` |
//! | [`RequirePermission<P>`] | a [`Caller`] holding permission `P` | as [`Authenticated`]; a key without it `403 API_005` |
//! | [`ClientIp`] | the resolved client IP | never |
//!
//! They read the [`GateOutcome`] the gate put in the request's extensions. On a route the
//! gate did not cover (not under `/api`, or no [`GateLayer`](crate::GateLayer) installed)
//! there is none: the extractor logs "is the GateLayer installed?" and answers
//! [`ApiError::internal`] rather than treating the request as anonymous.
//!
//! The facade checks the same rules again where they matter (an API key on a JWT-only
//! operation is `AUTH_010` inside `cutty_core::app` too); these extractors are for routes
//! of your own and make the requirement visible in a handler's signature.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use cutty_core::app::{Caller, KeyCaller, Permission, UserCaller};
use cutty_core::error::{Error, ErrorCode, InvalidTokenReason, StoreError};

use crate::ApiError;
use crate::gate::{ClientIp, GateOutcome, forwarded_headers, peer_ip_from_extensions};
use crate::state::CuttyState;

/// A copy of `error` that renders identically (code, status, `Retry-After`, details). A
/// store error keeps its kind; its source was logged by the gate.
pub(crate) fn replicate(error: &Error) -> Error {
    match error {
        Error::InvalidToken(reason) => Error::InvalidToken(*reason),
        Error::LockedOut { retry_after_secs } => Error::LockedOut {
            retry_after_secs: *retry_after_secs,
        },
        Error::RateLimited {
            scope,
            retry_after_secs,
        } => Error::RateLimited {
            scope: *scope,
            retry_after_secs: *retry_after_secs,
        },
        Error::InvalidRequest(v) => Error::InvalidRequest(v.clone()),
        Error::Store(s) => Error::Store(StoreError::new(s.kind(), "authentication")),
        other => Error::Code(other.code()),
    }
}

fn gate_outcome(parts: &Parts) -> Result<&GateOutcome, ApiError> {
    parts.extensions.get::<GateOutcome>().ok_or_else(|| {
        tracing::error!(
            path = parts.uri.path(),
            "no gate outcome on the request: is the GateLayer installed, and is this an /api route?"
        );
        ApiError::internal()
    })
}

/// The caller, or the reason there is none (`AUTH_001` when no credentials were sent).
fn caller(parts: &Parts) -> Result<Caller, ApiError> {
    match gate_outcome(parts)?.caller() {
        Ok(Some(c)) => Ok(c.clone()),
        Ok(None) => Err(Error::InvalidToken(InvalidTokenReason::Malformed).into()),
        Err(e) => Err(replicate(e).into()),
    }
}

/// Any authenticated caller: a JWT user or an API key (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        caller(parts).map(Self)
    }
}

/// The caller if `Authorization` was sent, `None` if not; failed credentials are refused
/// (used by `POST /api/accounts/password`, which works without a JWT during a reset).
#[derive(Debug, Clone)]
pub struct OptionalAuth(pub Option<Caller>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match gate_outcome(parts)?.caller() {
            Ok(c) => Ok(Self(c.cloned())),
            Err(e) => Err(replicate(e).into()),
        }
    }
}

/// A user authenticated by a JWT; an API key is `403 AUTH_010`.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserCaller);

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let c = caller(parts)?;
        Ok(Self(c.require_jwt()?.clone()))
    }
}

/// An admin authenticated by a JWT; anyone else authenticated is `403 AUTH_010`.
#[derive(Debug, Clone)]
pub struct AdminUser(pub UserCaller);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let c = caller(parts)?;
        Ok(Self(c.require_admin()?.clone()))
    }
}

/// A request authenticated by an API key (the key's principal and its owner); a JWT is
/// `403 AUTH_010`.
#[derive(Debug, Clone)]
pub struct ApiKeyCaller(pub KeyCaller);

impl<S: Send + Sync> FromRequestParts<S> for ApiKeyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match caller(parts)? {
            Caller::ApiKey(k) => Ok(Self(k)),
            Caller::User(_) => Err(ErrorCode::Forbidden.into()),
        }
    }
}

/// A permission a route needs, as a type, for [`RequirePermission`].
pub trait RequiredPermission: Send + Sync + 'static {
    /// The permission.
    const PERMISSION: Permission;
}

/// `files:read`.
#[derive(Debug, Clone, Copy)]
pub struct FilesRead;
impl RequiredPermission for FilesRead {
    const PERMISSION: Permission = Permission::FilesRead;
}

/// `files:write`.
#[derive(Debug, Clone, Copy)]
pub struct FilesWrite;
impl RequiredPermission for FilesWrite {
    const PERMISSION: Permission = Permission::FilesWrite;
}

/// `list:process`.
#[derive(Debug, Clone, Copy)]
pub struct ListProcess;
impl RequiredPermission for ListProcess {
    const PERMISSION: Permission = Permission::ListProcess;
}

/// A caller holding permission `P`: a JWT user always does (on its own resources); an API
/// key only if it was created with `P` (else `403 API_005`).
///
/// ```
/// use cutty_axum::auth::{FilesRead, RequirePermission};
///
/// async fn list_files(caller: RequirePermission<FilesRead>) -> String {
///     format!("files of user {}", caller.caller().user().id)
/// }
/// # let _ = axum::Router::<()>::new().route("/api/files", axum::routing::get(list_files));
/// ```
pub struct RequirePermission<P: RequiredPermission> {
    caller: Caller,
    _permission: PhantomData<fn() -> P>,
}

impl<P: RequiredPermission> RequirePermission<P> {
    /// The caller.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller, by value.
    pub fn into_caller(self) -> Caller {
        self.caller
    }
}

impl<P: RequiredPermission> Clone for RequirePermission<P> {
    fn clone(&self) -> Self {
        Self {
            caller: self.caller.clone(),
            _permission: PhantomData,
        }
    }
}

impl<P: RequiredPermission> fmt::Debug for RequirePermission<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequirePermission")
            .field("permission", &P::PERMISSION)
            .field("caller", &self.caller)
            .finish()
    }
}

impl<P: RequiredPermission, S: Send + Sync> FromRequestParts<S> for RequirePermission<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let caller = caller(parts)?;
        caller.require(P::PERMISSION)?;
        Ok(Self {
            caller,
            _permission: PhantomData,
        })
    }
}

/// The client IP: the gate's, or (on a route it did not cover) resolved from the peer and
/// the forwarding headers by the facade.
impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    CuttyState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(gate) = parts.extensions.get::<GateOutcome>() {
            return Ok(ClientIp(gate.ip()));
        }
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        let state = CuttyState::from_ref(state);
        let peer = peer_ip_from_extensions(&parts.extensions);
        Ok(ClientIp(
            state
                .cutty()
                .client_ip(peer, &forwarded_headers(&parts.headers)),
        ))
    }
}
