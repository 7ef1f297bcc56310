//! Who is calling: a user with a verified access token, or an API key with its owner.

use std::sync::Arc;

use crate::api_key::{ApiKeyPrincipal, Permission};
use crate::error::Error;
use crate::rate_limit::Principal;
use crate::token::VerifiedAccess;
use crate::user::User;

/// An authenticated caller. Only [`Cutty::authenticate`](super::Cutty::authenticate) builds
/// one (its parts are proof types of this crate).
#[derive(Debug, Clone)]
pub enum Caller {
    /// A user presenting a valid access JWT.
    User(UserCaller),
    /// A valid API key, with its (existing, active) owner.
    ApiKey(KeyCaller),
}

/// A user authenticated by an access token. Cheap to clone (the user is shared, the
/// token's claims are a few words): extractors hand a copy to every handler that asks.
#[derive(Debug, Clone)]
pub struct UserCaller {
    user: Arc<User>,
    access: VerifiedAccess,
}

impl UserCaller {
    pub(super) fn new(user: Arc<User>, access: VerifiedAccess) -> Self {
        Self { user, access }
    }

    /// The user, as loaded for this request.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The verified access token.
    pub fn access(&self) -> &VerifiedAccess {
        &self.access
    }
}

/// A request authenticated by an API key. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct KeyCaller(Arc<(ApiKeyPrincipal, User)>);

impl KeyCaller {
    pub(super) fn new(principal: ApiKeyPrincipal, owner: User) -> Self {
        Self(Arc::new((principal, owner)))
    }

    /// The key (id, permissions limited to the owner's, rate-limit override).
    pub fn principal(&self) -> &ApiKeyPrincipal {
        &self.0.0
    }

    /// The key's owner.
    pub fn owner(&self) -> &User {
        &self.0.1
    }
}

impl Caller {
    /// The user the request acts for (the key's owner for an API key).
    pub fn user(&self) -> &User {
        match self {
            Self::User(u) => u.user(),
            Self::ApiKey(k) => k.owner(),
        }
    }

    /// `Ok` if the caller may use `permission` on its own resources: a JWT user holds every
    /// permission; an API key only those it was created with (`API_005` otherwise).
    pub fn require(&self, permission: Permission) -> Result<(), Error> {
        match self {
            Self::User(_) => Ok(()),
            Self::ApiKey(k) => k.principal().require(permission),
        }
    }

    /// The JWT caller, or `AUTH_010` for an API key (key management, password change,
    /// logout need a JWT).
    pub fn require_jwt(&self) -> Result<&UserCaller, Error> {
        match self {
            Self::User(u) => Ok(u),
            Self::ApiKey(_) => Err(Error::Forbidden),
        }
    }

    /// The JWT caller if it is an admin, else `AUTH_010` (an API key never carries the
    /// admin role).
    pub fn require_admin(&self) -> Result<&UserCaller, Error> {
        let u = self.require_jwt()?;
        if u.user().is_admin {
            Ok(u)
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Whether this is an admin with a JWT.
    pub fn is_admin(&self) -> bool {
        self.require_admin().is_ok()
    }

    /// The rate-limit principal: the user for a JWT, the key for an API key.
    pub(super) fn rate_limit_principal(&self) -> Principal {
        match self {
            Self::User(u) => Principal::User(u.user().id),
            Self::ApiKey(k) => Principal::ApiKey {
                id: k.principal().key_id().to_string().into(),
                rate_limit_override: k.principal().rate_limit_override(),
            },
        }
    }
}
