//! Admin endpoints (JWT admins only) and the operator's [`Admin`] interface (the CLI).

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    ApiKeyList, BlockEntry, BlockIpRequest, BlockedIps, Caller, CreateApiKeyRequest, CreatedApiKey,
    Cutty, EventPage, InvalidateUserTokensRequest, SecretString, SecurityMetrics, UnblockIpRequest,
    User,
};
use crate::api_key::Revoker;
use crate::error::{Error, ErrorCode, InvalidTokenReason};
use crate::event::{EventQuery, EventType, apply_retention, security_metrics};
use crate::ip_block::{format_network, parse_ip_or_cidr, validate_reason};
use crate::password::{PasswordError, Verification};
use crate::token::{MAX_TOKEN_LEN, TokenType, VerifiedClaims};

/// Who did an admin action, for its event.
#[derive(Debug, Clone, Copy)]
struct Actor {
    user_id: Option<i64>,
    ip: Option<IpAddr>,
    via: &'static str,
}

impl Actor {
    fn api(caller: &Caller, ip: IpAddr) -> Self {
        Self {
            user_id: Some(caller.user().id),
            ip: Some(ip),
            via: "api",
        }
    }

    const CLI: Self = Self {
        user_id: None,
        ip: None,
        via: "cli",
    };

    fn stamp(self, mut event: crate::event::SecurityEvent) -> crate::event::SecurityEvent {
        if let Some(id) = self.user_id {
            event = event.with_user(id);
        }
        if let Some(ip) = self.ip {
            event = event.with_ip(ip);
        }
        event
    }
}

impl Cutty {
    /// `GET /api/analytics/security/events` (admin): decoded query pairs, parsed by
    /// [`EventQuery::from_pairs`] (`REQ_001` for bad values).
    pub async fn query_events(
        &self,
        caller: &Caller,
        pairs: &[(String, String)],
    ) -> Result<EventPage, Error> {
        caller.require_admin()?;
        let query = EventQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(self.inner.events.query(&query).await?)
    }

    /// `GET /api/analytics/security/metrics` (admin).
    pub async fn security_metrics(&self, caller: &Caller) -> Result<SecurityMetrics, Error> {
        caller.require_admin()?;
        self.metrics().await
    }

    async fn metrics(&self) -> Result<SecurityMetrics, Error> {
        let now = self.now_ms();
        let blocked = self.active_blocks().await?.len();
        Ok(security_metrics(
            &*self.inner.events,
            now,
            u64::try_from(blocked).unwrap_or(u64::MAX),
        )
        .await?)
    }

    /// `POST /api/analytics/security/block-ip` (admin, 201): the entry as stored.
    pub async fn block_ip(
        &self,
        caller: &Caller,
        req: BlockIpRequest,
        ip: IpAddr,
    ) -> Result<BlockEntry, Error> {
        caller.require_admin()?;
        self.block(
            &req.ip_address,
            &req.reason,
            req.duration_seconds,
            Actor::api(caller, ip),
        )
        .await
    }

    async fn block(
        &self,
        ip_address: &str,
        reason: &str,
        duration_seconds: Option<u64>,
        actor: Actor,
    ) -> Result<BlockEntry, Error> {
        let mut violations = Vec::new();
        let network = parse_ip_or_cidr(ip_address);
        for r in [
            network.as_ref().map(|_| ()),
            validate_reason(reason).as_ref().map(|_| ()),
        ] {
            if let Err(Error::InvalidRequest(v)) = r {
                violations.extend(v.iter().cloned());
            }
        }
        let network = match network {
            Ok(n) if violations.is_empty() => n,
            _ => return Err(Error::InvalidRequest(violations)),
        };
        let entry = BlockEntry::for_duration(network, reason, self.now_ms(), duration_seconds)?;
        self.inner.block_store.add(&entry).await?;
        // The store has it; a failing reload only delays this process seeing it.
        let _ = self.refresh_block_list(true).await;
        let event = actor.stamp(self.event(EventType::IpBlocked, true).with_details(json!({
            "ip_address": format_network(&entry.network),
            "reason": entry.reason,
            "expires_at": entry.expires_at,
            "via": actor.via,
        })));
        self.audit(event).await;
        Ok(entry)
    }

    /// `POST /api/analytics/security/unblock-ip` (admin, 200). Not blocked: `404 REQ_004`.
    pub async fn unblock_ip(
        &self,
        caller: &Caller,
        req: UnblockIpRequest,
        ip: IpAddr,
    ) -> Result<(), Error> {
        caller.require_admin()?;
        self.unblock(&req.ip_address, Actor::api(caller, ip)).await
    }

    async fn unblock(&self, ip_address: &str, actor: Actor) -> Result<(), Error> {
        let network = parse_ip_or_cidr(ip_address)?;
        let entry = BlockEntry::new(network, "", 0, None);
        if !self.inner.block_store.remove(&entry.network).await? {
            return Err(Error::Code(ErrorCode::ResourceNotFound));
        }
        let _ = self.refresh_block_list(true).await;
        let event = actor.stamp(
            self.event(EventType::IpUnblocked, true)
                .with_details(json!({
                    "ip_address": format_network(&entry.network),
                    "via": actor.via,
                })),
        );
        self.audit(event).await;
        Ok(())
    }

    /// `GET /api/analytics/security/blocked-ips` (admin): entries in force.
    pub async fn blocked_ips(&self, caller: &Caller) -> Result<BlockedIps, Error> {
        caller.require_admin()?;
        Ok(BlockedIps {
            blocked_ips: self.active_blocks().await?,
        })
    }

    /// The entries in force, read from the store, ordered by network.
    async fn active_blocks(&self) -> Result<Vec<BlockEntry>, Error> {
        let now = self.now_ms();
        let mut entries: Vec<BlockEntry> = self
            .inner
            .block_store
            .list()
            .await?
            .into_iter()
            .filter(|e| e.is_active(now))
            .collect();
        entries.sort_by_key(|e| e.network);
        Ok(entries)
    }

    /// `POST /api/admin/invalidate-user-tokens` (admin, 200). Unknown user: `404 AUTH_005`.
    pub async fn invalidate_user_tokens(
        &self,
        caller: &Caller,
        req: InvalidateUserTokensRequest,
        ip: IpAddr,
    ) -> Result<(), Error> {
        caller.require_admin()?;
        let user = self
            .inner
            .users
            .find_by_id(req.user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.invalidate(&user, "admin", Actor::api(caller, ip))
            .await
    }

    /// Revokes every token of `user` issued so far and records `tokens_invalidated` (the
    /// event's `user_id` is the user concerned; the actor is in the details).
    async fn invalidate(&self, user: &User, reason: &str, actor: Actor) -> Result<(), Error> {
        self.inner
            .tokens
            .invalidate_user(&user.id.to_string())
            .await?;
        let mut event = self
            .event(EventType::TokensInvalidated, true)
            .with_user(user.id)
            .with_details(json!({
                "reason": reason,
                "by": actor.user_id,
                "via": actor.via,
            }));
        if let Some(ip) = actor.ip {
            event = event.with_ip(ip);
        }
        self.audit(event).await;
        Ok(())
    }
}

/// Splits and decodes a compact JWS without checking anything but its shape.
fn decode_unverified(token: &str) -> Result<DecodedToken, Error> {
    let malformed = || Error::InvalidToken(InvalidTokenReason::Malformed);
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed());
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let json = |segment: &str| -> Result<serde_json::Value, Error> {
        let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| malformed())?;
        serde_json::from_slice(&bytes).map_err(|_| malformed())
    };
    Ok(DecodedToken {
        header: json(header)?,
        claims: json(claims)?,
    })
}

fn token_check(claims: &VerifiedClaims, revocation_checked: bool) -> TokenCheck {
    TokenCheck {
        token_type: match claims.kind() {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        },
        user_id: claims.user_id().to_owned(),
        jti: claims.jti(),
        family: claims.family().0,
        issued_at: claims.issued_at(),
        expires_at: claims.expires_at(),
        revocation_checked,
    }
}

fn parse_jti(jti: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(jti.trim()).map_err(|_| Error::invalid_field("jti", "must be a UUID"))
}

/// A token decoded **without any verification** (`cutty token decode`): never trust it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecodedToken {
    /// The JOSE header.
    pub header: serde_json::Value,
    /// The claims.
    pub claims: serde_json::Value,
}

/// A token that passed verification (`cutty token verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenCheck {
    /// `"access"` or `"refresh"`.
    pub token_type: &'static str,
    /// `sub`.
    pub user_id: String,
    /// `jti`.
    pub jti: uuid::Uuid,
    /// The refresh family.
    pub family: uuid::Uuid,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// Whether revocation was checked in the store: always for an access token; never for
    /// a refresh token (checking it would rotate it).
    pub revocation_checked: bool,
}

/// What [`Admin::maintenance`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MaintenanceReport {
    /// Security events older than the retention.
    pub events_deleted: u64,
    /// Expired block-list entries.
    pub blocks_purged: u64,
}

/// The operator's interface (`cutty …` admin commands): trusted, no caller, no rate limit.
/// Changes are recorded as security events like their HTTP counterparts, with
/// `details.via = "cli"`.
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    cutty: &'a Cutty,
}

impl<'a> Admin<'a> {
    pub(super) fn new(cutty: &'a Cutty) -> Self {
        Self { cutty }
    }

    /// `cutty user create`: validates like registration (`REQ_001`), hashes and stores
    /// (`AUTH_009` if taken).
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<User, Error> {
        self.cutty
            .create_user(
                username,
                email,
                &SecretString::new(password),
                is_admin,
                None,
                "cli",
            )
            .await
    }

    /// The user with this username or email, case-insensitively (`AUTH_005` if none).
    pub async fn find_user(&self, username: &str) -> Result<User, Error> {
        self.cutty
            .inner
            .users
            .find_by_login(username)
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// `cutty user disable|enable` (`AUTH_005` if unknown). Disabling revokes every token
    /// issued so far (`AUTH_003`, `tokens_invalidated` event); enabling again does not bring
    /// them back. API keys stop working while the owner is disabled (`API_004`) and work
    /// again once enabled.
    pub async fn set_active(&self, username: &str, active: bool) -> Result<User, Error> {
        let mut user = self.find_user(username).await?;
        if !self.cutty.inner.users.set_active(user.id, active).await? {
            return Err(Error::UserNotFound);
        }
        user.is_active = active;
        if !active {
            self.cutty.invalidate(&user, "disabled", Actor::CLI).await?;
        }
        Ok(user)
    }

    /// `cutty user require-reset` (`AUTH_005` if unknown): logins answer `AUTH_007` until
    /// the password is changed. Existing tokens are left alone.
    pub async fn require_reset(&self, username: &str) -> Result<User, Error> {
        let mut user = self.find_user(username).await?;
        if !self
            .cutty
            .inner
            .users
            .set_password_reset_required(user.id, true)
            .await?
        {
            return Err(Error::UserNotFound);
        }
        user.password_reset_required = true;
        Ok(user)
    }

    /// `cutty api-key create` (`AUTH_005` if the user is unknown, `REQ_001` for bad values).
    pub async fn create_api_key_for(
        &self,
        username: &str,
        req: &CreateApiKeyRequest,
    ) -> Result<CreatedApiKey, Error> {
        let user = self.find_user(username).await?;
        self.cutty.create_key_for(&user, req, None, "cli").await
    }

    /// `cutty api-key list [--username U]`: one user's keys, or everyone's.
    pub async fn list_api_keys(&self, username: Option<&str>) -> Result<ApiKeyList, Error> {
        let store = &self.cutty.inner.api_key_store;
        let records = match username {
            Some(name) => store.list_for_user(self.find_user(name).await?.id).await?,
            None => store.list_all().await?,
        };
        Ok(ApiKeyList::from_records(&records))
    }

    /// `cutty api-key revoke KEY_ID` (`404 REQ_004` if unknown or already revoked).
    pub async fn revoke_api_key(&self, key_id: &str) -> Result<(), Error> {
        self.cutty
            .revoke_key(key_id, Revoker::Admin, None, None, "cli")
            .await
    }

    /// `cutty token revoke JTI` (`REQ_001` if not a UUID): revoked for the longest token
    /// lifetime.
    pub async fn revoke_jti(&self, jti: &str) -> Result<(), Error> {
        self.cutty.inner.tokens.revoke_jti(parse_jti(jti)?).await
    }

    /// `cutty token unrevoke JTI`: whether a revocation was lifted. A user-wide
    /// invalidation or a revoked session is not undone by this.
    pub async fn unrevoke_jti(&self, jti: &str) -> Result<bool, Error> {
        self.cutty.inner.tokens.unrevoke_jti(parse_jti(jti)?).await
    }

    /// `cutty ip block` (`REQ_001` for a bad address, a missing reason or a zero duration).
    /// A running server sees it within [`Settings::block_list_refresh`](super::Settings::block_list_refresh).
    pub async fn block(
        &self,
        ip_address: &str,
        reason: &str,
        duration_seconds: Option<u64>,
    ) -> Result<BlockEntry, Error> {
        self.cutty
            .block(ip_address, reason, duration_seconds, Actor::CLI)
            .await
    }

    /// `cutty ip unblock` (`404 REQ_004` if not blocked).
    pub async fn unblock(&self, ip_address: &str) -> Result<(), Error> {
        self.cutty.unblock(ip_address, Actor::CLI).await
    }

    /// `cutty ip list`: entries in force.
    pub async fn blocked(&self) -> Result<BlockedIps, Error> {
        Ok(BlockedIps {
            blocked_ips: self.cutty.active_blocks().await?,
        })
    }

    /// `cutty events`.
    pub async fn events(&self, query: &EventQuery) -> Result<EventPage, Error> {
        Ok(self.cutty.inner.events.query(query).await?)
    }

    /// The metrics of `GET /api/analytics/security/metrics`.
    pub async fn metrics(&self) -> Result<SecurityMetrics, Error> {
        self.cutty.metrics().await
    }

    /// `cutty invalidate-user-tokens` (`404 AUTH_005` if unknown).
    pub async fn invalidate_user_tokens(&self, user_id: i64) -> Result<(), Error> {
        let user = self
            .cutty
            .inner
            .users
            .find_by_id(user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.cutty.invalidate(&user, "admin", Actor::CLI).await
    }

    /// `cutty token decode`: header and claims, **unverified** (`AUTH_001` if it is not a
    /// compact JWS with JSON header and claims).
    pub fn decode_token(&self, token: &str) -> Result<DecodedToken, Error> {
        decode_unverified(token)
    }

    /// `cutty token verify`: an access token fully (signature, claims, revocation, user
    /// exists and is active); a refresh token by signature and claims and its user, without
    /// revocation (see [`TokenCheck::revocation_checked`]).
    pub async fn verify_token(&self, token: &str) -> Result<TokenCheck, Error> {
        let token = token.trim();
        let tokens = &self.cutty.inner.tokens;
        match tokens.verify_access(token).await {
            Ok(access) => {
                self.cutty.user_of_token(access.user_id()).await?;
                Ok(token_check(access.claims(), true))
            }
            Err(Error::InvalidToken(InvalidTokenReason::WrongType)) => {
                let claims =
                    tokens
                        .codec()
                        .verify(token, TokenType::Refresh, self.cutty.now_ms())?;
                self.cutty.user_of_token(claims.user_id()).await?;
                Ok(token_check(&claims, false))
            }
            Err(e) => Err(e),
        }
    }

    /// `cutty password hash`: the configured algorithm and cost.
    pub async fn hash_password(&self, password: &str) -> Result<String, Error> {
        let inner = &self.cutty.inner;
        inner
            .work
            .hash(&inner.password_hasher, Zeroizing::new(password.to_owned()))
            .await
    }

    /// `cutty password verify`: `Err` for a malformed or unsupported hash.
    pub fn verify_password(
        &self,
        password: &str,
        encoded: &str,
    ) -> Result<Verification, PasswordError> {
        self.cutty.inner.password_hasher.verify(password, encoded)
    }

    /// `cutty maintenance`: deletes security events older than the retention and purges
    /// expired block-list entries.
    pub async fn maintenance(&self) -> Result<MaintenanceReport, Error> {
        let inner = &self.cutty.inner;
        let now = self.cutty.now_ms();
        let events_deleted =
            apply_retention(&*inner.events, now, inner.event_retention_days).await?;
        let blocks_purged = inner.block_store.purge_expired(now).await?;
        Ok(MaintenanceReport {
            events_deleted,
            blocks_purged,
        })
    }
}
