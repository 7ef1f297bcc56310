//! Request and response bodies of the facade, with the contract's exact JSON.
//!
//! Adapters deserialize JSON into the request types (a serde error is `REQ_001` naming the
//! field) and serialize the response types as they are.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ip_block::BlockEntry;
use crate::token::TokenPair;
use crate::user::User;

/// A secret string from a request body (a password): wiped from memory when dropped, never
/// shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A wiped-on-drop copy, for [`PasswordWork`](super::PasswordWork).
    pub fn to_zeroizing(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.as_str().to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// `POST /api/accounts/register`: `{username, email, password}`.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisterRequest {
    /// 3–150 characters of letters, digits and `@.+-_`.
    pub username: String,
    /// A valid email address.
    pub email: String,
    /// 8–4096 characters, not all digits, not the username.
    pub password: SecretString,
}

/// `POST /api/accounts/login`: `{username, password}`; `username` may be the email.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginRequest {
    /// Username or email, matched case-insensitively.
    pub username: String,
    /// The password.
    pub password: SecretString,
}

/// `POST /api/accounts/token/refresh`: `{refresh_token}`.
#[derive(Clone, Deserialize)]
pub struct RefreshRequest {
    /// The refresh JWT.
    pub refresh_token: String,
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

/// `POST /api/accounts/logout`: optional `{refresh_token}` (an empty body is `Default`).
#[derive(Clone, Default, Deserialize)]
pub struct LogoutRequest {
    /// The session's refresh token (or another session's of the same user) to revoke too.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutRequest")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// `POST /api/accounts/password`: `{old_password, new_password}`, plus `username` when the
/// caller has no JWT because a reset is required.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub old_password: SecretString,
    /// The new password (the registration rules apply).
    pub new_password: SecretString,
    /// The account, only without a JWT (password reset required).
    #[serde(default)]
    pub username: Option<String>,
}

/// `POST /api/analytics/security/block-ip`: `{ip_address, reason, duration_seconds?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockIpRequest {
    /// An IP address or a CIDR range (host bits clear).
    pub ip_address: String,
    /// Why (required, at most 500 characters).
    pub reason: String,
    /// How long, in seconds (positive); absent: until unblocked.
    #[serde(default)]
    pub duration_seconds: Option<u64>,
}

/// `POST /api/analytics/security/unblock-ip`: `{ip_address}`.
#[derive(Debug, Clone, Deserialize)]
pub struct UnblockIpRequest {
    /// Exactly the address or range that was blocked.
    pub ip_address: String,
}

/// `POST /api/admin/invalidate-user-tokens`: `{user_id}`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct InvalidateUserTokensRequest {
    /// The user whose tokens are all revoked.
    pub user_id: i64,
}

/// The `201`/`200` body of register and login: the token pair's fields and `user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthResponse {
    /// `access_token`, `refresh_token`, `token_type`, `expires_in`, flattened.
    #[serde(flatten)]
    pub tokens: TokenPair,
    /// The contract's `user` object (`User::view`).
    #[serde(serialize_with = "serialize_user")]
    pub user: User,
}

fn serialize_user<S: serde::Serializer>(user: &User, s: S) -> Result<S::Ok, S::Error> {
    user.view().serialize(s)
}

/// `GET /api/analytics/security/blocked-ips`: `{"blocked_ips":[…]}`, entries in force,
/// ordered by network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedIps {
    /// The entries.
    pub blocked_ips: Vec<BlockEntry>,
}
