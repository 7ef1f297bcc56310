//! The per-request gate: client IP, block list, authentication, rate limits.

use std::net::IpAddr;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::{Caller, Counters, Cutty, KeyCaller, MAX_BLOCK_LIST_REFRESH, UserCaller};
use crate::api_key::{PermissionSet, UsageOutcome};
use crate::auth_header::{Credential, bearer_token, parse_authorization};
use crate::client_ip::ForwardedHeaders;
use crate::error::{Error, ErrorCode, InvalidTokenReason, LimitScope};
use crate::event::EventType;
use crate::rate_limit::{RateLimitKey, RateLimitOutcome, RequestIdentity, applicable_limits};
use crate::token::VerifiedAccess;
use crate::user::User;

/// The contract's name of a limit, for event details.
pub(super) fn scope_name(scope: LimitScope) -> &'static str {
    match scope {
        LimitScope::Ip => "ip",
        LimitScope::User => "user",
        LimitScope::ApiKey => "api_key",
        _ => "global",
    }
}

/// What [`Cutty::gate`] found out about a request that is not blocked.
#[derive(Debug)]
pub struct Gate {
    /// The resolved client IP.
    pub ip: IpAddr,
    /// The caller: `Ok(None)` without `Authorization`, `Err` when the credentials failed
    /// (the request was then counted against the IP limit).
    pub caller: Result<Option<Caller>, Error>,
    /// The rate-limit outcome for the `X-RateLimit-*` headers (write them on every answer,
    /// `Retry-After` too when refused). May be a refusal.
    pub limits: RateLimitOutcome,
    /// The client IP is on the block list (`403 SEC_001`). A blocked request is counted
    /// against its IP limit like any anonymous one, so its answer carries the headers too.
    pub blocked: bool,
}

impl Gate {
    /// Why the request must be refused before any handler runs: a blocked IP (`SEC_001`)
    /// first, then a rate-limit refusal (`RATE_00x`). `None` lets it through.
    pub fn refusal(&self) -> Option<Error> {
        if self.blocked {
            return Some(Error::IpBlocked);
        }
        self.limits.into_result().err()
    }

    /// The request's fate: [`Gate::refusal`] first, then a credential failure, else the
    /// caller to run the handler with.
    pub fn into_caller(self) -> Result<Option<Caller>, Error> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        self.caller
    }
}

/// Reloads the cached block list off the request path, for a host with a timer.
///
/// Without one, the request that finds the cached list due reloads it, and waits for the
/// store meanwhile: with the database down, that request pays the store's timeout once for
/// the reload and once more for its own work. While a refresher is alive
/// ([`Cutty::block_list_refresher`]), requests only read the cached list and the host calls
/// [`refresh`](BlockListRefresher::refresh) in a loop, sleeping for the delay it answers:
/// the refresh interval, or after failures a doubling back-off of at most
/// [`MAX_BLOCK_LIST_REFRESH`](super::MAX_BLOCK_LIST_REFRESH) — so a block made by another
/// process still reaches the server within 5 s of the store answering again. Until a first
/// load succeeds, requests keep trying to load the list themselves (a list that never
/// loaded fails closed). Dropping the refresher hands the reloads back to the requests, so
/// a host timer that stops never leaves a list stale for good.
///
/// ```
/// # use cutty_core::app::Cutty;
/// # async fn timer(cutty: Cutty, sleep: impl Fn(std::time::Duration) -> std::future::Ready<()>) {
/// let mut refresher = cutty.block_list_refresher();
/// loop {
///     let delay = refresher.refresh().await;
///     sleep(delay).await; // e.g. tokio::time::sleep
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct BlockListRefresher {
    cutty: Cutty,
    failures: u32,
}

impl BlockListRefresher {
    /// Reloads the block list now and answers how long to wait before the next call.
    pub async fn refresh(&mut self) -> Duration {
        let now = self.cutty.inner.clock.monotonic_ns();
        let interval = Duration::from_nanos(self.cutty.inner.block_list_refresh_ns);
        match self.cutty.reload_block_list(now).await {
            Ok(()) => {
                self.failures = 0;
                interval
            }
            Err(_) => {
                self.failures = self.failures.saturating_add(1);
                let cap = interval.max(MAX_BLOCK_LIST_REFRESH);
                let factor = 1u32 << self.failures.min(16);
                interval.saturating_mul(factor).min(cap)
            }
        }
    }

    /// Consecutive failed reloads so far (0 after a success).
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

impl Drop for BlockListRefresher {
    fn drop(&mut self) {
        self.cutty
            .inner
            .block_list_refreshers
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl Cutty {
    /// The client IP of a request from `peer` (see [`crate::client_ip`]).
    pub fn client_ip(&self, peer: IpAddr, headers: &ForwardedHeaders<'_>) -> IpAddr {
        self.inner.client_ip.resolve(peer, headers)
    }

    /// Whether `peer` is a trusted proxy, i.e. whether [`client_ip`](Cutty::client_ip)
    /// reads the forwarding headers of its requests at all. A host may skip looking those
    /// headers up for any other peer and pass [`ForwardedHeaders::default`].
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.inner.client_ip.is_trusted(peer)
    }

    /// `SEC_001` if `ip` is blocked. The block list is cached. Without a
    /// [`BlockListRefresher`] it is reloaded from the store inside the request that finds
    /// the cached copy older than [`Settings::block_list_refresh`](super::Settings::block_list_refresh)
    /// (one `version()` call; a full reload only when it moved); while a refresher is alive
    /// requests only read the cached copy. A failing reload keeps the last loaded list
    /// (counted in [`Diagnostics`](super::Diagnostics)); if no list was ever loaded, the
    /// request tries to load it and the store error is returned (fail closed).
    pub async fn check_blocked(&self, ip: IpAddr) -> Result<(), Error> {
        let inner = &self.inner;
        let refreshed_elsewhere = inner.block_list_refreshers.load(Ordering::Acquire) > 0
            && inner.block_list_loaded.load(Ordering::Acquire);
        if !refreshed_elsewhere {
            self.refresh_block_list(false).await?;
        }
        if inner.block_list.is_blocked(ip, self.now_ms()) {
            Err(Error::IpBlocked)
        } else {
            Ok(())
        }
    }

    /// Hands the block-list reloads to a host timer: see [`BlockListRefresher`].
    pub fn block_list_refresher(&self) -> BlockListRefresher {
        self.inner
            .block_list_refreshers
            .fetch_add(1, Ordering::AcqRel);
        BlockListRefresher {
            cutty: self.clone(),
            failures: 0,
        }
    }

    /// Reloads the cached block list if it is due (or `force`). Only one caller per
    /// interval does the reload; the others use the cached list meanwhile. A failure is an
    /// error only while no list was ever loaded.
    pub(super) async fn refresh_block_list(&self, force: bool) -> Result<(), Error> {
        let inner = &self.inner;
        let now = inner.clock.monotonic_ns();
        let loaded = inner.block_list_loaded.load(Ordering::Acquire);
        if !force && loaded {
            let next = inner.block_list_next_ns.load(Ordering::Acquire);
            if now < next {
                return Ok(());
            }
            let claim = now.saturating_add(inner.block_list_refresh_ns);
            if inner
                .block_list_next_ns
                .compare_exchange(next, claim, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Another request is reloading right now.
                return Ok(());
            }
        }
        match self.reload_block_list(now).await {
            Err(_) if loaded => Ok(()),
            result => result,
        }
    }

    /// One reload from the store, started at `now` (monotonic ns); a failure is counted.
    async fn reload_block_list(&self, now: u64) -> Result<(), Error> {
        let inner = &self.inner;
        match inner.block_list.refresh(&*inner.block_store).await {
            Ok(_) => {
                inner.block_list_loaded.store(true, Ordering::Release);
                inner.block_list_next_ns.store(
                    now.saturating_add(inner.block_list_refresh_ns),
                    Ordering::Release,
                );
                Ok(())
            }
            Err(e) => {
                Counters::bump(&inner.counters.block_list_refresh_failures);
                Err(Error::Store(e))
            }
        }
    }

    /// Parses and verifies an `Authorization` value (`None`: absent → `Ok(None)`).
    ///
    /// * JWT: signature, claims, revocation; the user must exist (`AUTH_001` otherwise) and
    ///   be active (`AUTH_003` otherwise).
    /// * API key: format and checksum (`API_001`), look-up, state and expiry; its owner must
    ///   exist and be active (`API_004` otherwise). Its permissions are limited to the
    ///   owner's.
    ///
    /// [`Cutty::gate`] also records a `token_invalid` event for a refused credential
    /// (except a merely expired one), at most one per client IP and code per rate-limit
    /// window.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
    ) -> Result<Option<Caller>, Error> {
        let Some(value) = authorization else {
            return Ok(None);
        };
        // A token verified before is found by its bytes, before any parsing: a hit is a
        // well-formed JWT, so parsing it again could only say so.
        if let Ok(token) = bearer_token(value)
            && let Some(access) = self.inner.tokens.verify_access_seen(token).await
        {
            return self.user_caller(access?).await.map(Some);
        }
        match parse_authorization(value)? {
            Credential::Jwt(token) => self.authenticate_jwt(token).await.map(Some),
            Credential::ApiKey(key) => self.authenticate_key(key).await.map(Some),
        }
    }

    async fn authenticate_jwt(&self, token: &str) -> Result<Caller, Error> {
        let access = self.inner.tokens.verify_access(token).await?;
        self.user_caller(access).await
    }

    /// The caller a verified access token stands for.
    async fn user_caller(&self, access: VerifiedAccess) -> Result<Caller, Error> {
        let user = self.shared_user_of_token(access.user_id()).await?;
        Ok(Caller::User(UserCaller::new(user, access)))
    }

    /// The existing, active user a verified token names: a missing user is `AUTH_001`, a
    /// disabled one `AUTH_003` (disabling revoked the token; this is the second line).
    pub(super) async fn user_of_token(&self, sub: &str) -> Result<User, Error> {
        let user = self.shared_user_of_token(sub).await?;
        Ok(Arc::unwrap_or_clone(user))
    }

    /// [`user_of_token`](Cutty::user_of_token), shared (no copy of the store's user).
    async fn shared_user_of_token(&self, sub: &str) -> Result<Arc<User>, Error> {
        let unknown = || Error::InvalidToken(InvalidTokenReason::UnknownUser);
        let id: i64 = sub.parse().map_err(|_| unknown())?;
        let user = self
            .inner
            .users
            .find_shared_by_id(id)
            .await?
            .ok_or_else(unknown)?;
        if !user.is_active {
            return Err(Error::TokenRevoked);
        }
        Ok(user)
    }

    async fn authenticate_key(&self, key: &str) -> Result<Caller, Error> {
        let inner = &self.inner;
        let principal = inner
            .api_keys
            .authenticate(&*inner.api_key_store, key)
            .await?;
        let owner = inner
            .users
            .find_by_id(principal.user_id())
            .await?
            .filter(|u| u.is_active)
            .ok_or(Error::ApiKeyRevoked)?;
        // An active user holds every permission on its own resources.
        let principal = principal.limited_to_owner(PermissionSet::ALL);
        Ok(Caller::ApiKey(KeyCaller::new(principal, owner)))
    }

    /// Records a refused credential (throttled), for [`Cutty::gate`].
    async fn audit_refused_credential(&self, ip: IpAddr, error: &Error) {
        let code = error.code();
        let auditable = matches!(
            code,
            ErrorCode::InvalidToken
                | ErrorCode::TokenRevoked
                | ErrorCode::ApiKeyMalformed
                | ErrorCode::ApiKeyNotFound
                | ErrorCode::ApiKeyExpired
                | ErrorCode::ApiKeyRevoked
        );
        if !auditable {
            return;
        }
        let now = self.now_ms();
        let key = format!("token_invalid {} {code}", ip.to_canonical());
        if self.inner.throttle.admit(key, now) {
            let event = self
                .event(EventType::TokenInvalid, false)
                .with_ip(ip)
                .with_details(json!({ "code": code.as_str() }));
            self.audit(event).await;
        }
    }

    /// Counts the request against the limits that apply (the IP when `caller` is `None`,
    /// the user for a JWT, the key for an API key, plus the global limit) and records the
    /// key's usage. `Err(RateLimited)` when refused (render 429 with
    /// [`Cutty::limits`]' outcome for the headers), `Err(Store)` when the counter store
    /// fails under fail-closed.
    pub async fn admit(
        &self,
        ip: IpAddr,
        caller: Option<&Caller>,
    ) -> Result<RateLimitOutcome, Error> {
        self.limits(ip, caller).await?.into_result()
    }

    /// [`Cutty::admit`], returning a refusal as an outcome (for its headers) instead of an
    /// error. `Err` only when the counter store fails under fail-closed.
    pub async fn limits(
        &self,
        ip: IpAddr,
        caller: Option<&Caller>,
    ) -> Result<RateLimitOutcome, Error> {
        let identity = match caller {
            None => RequestIdentity::anonymous(ip),
            Some(c) => RequestIdentity::new(ip, c.rate_limit_principal()),
        };
        let outcome = self.inner.limiter.check_or_policy(&identity).await?;
        if let Some(Caller::ApiKey(k)) = caller {
            let usage = if outcome.is_allowed() {
                UsageOutcome::Admitted
            } else {
                UsageOutcome::RateLimited
            };
            if self
                .inner
                .api_key_store
                .record_usage(k.principal().key_id(), usage)
                .await
                .is_err()
            {
                Counters::bump(&self.inner.counters.usage_write_failures);
            }
        }
        if !outcome.is_allowed() {
            let (key, _) = applicable_limits(self.inner.limiter.config(), &identity).principal;
            let key = match outcome.scope {
                LimitScope::Global => RateLimitKey::Global,
                _ => key,
            };
            let now = self.now_ms();
            if self.inner.throttle.admit(format!("rate_limit {key}"), now) {
                let mut event = self
                    .event(EventType::RateLimit, false)
                    .with_ip(ip)
                    .with_details(json!({
                        "scope": scope_name(outcome.scope),
                        "limit": outcome.decision.limit(),
                    }));
                if let Some(c) = caller {
                    event = event.with_user(c.user().id);
                }
                self.audit(event).await;
            }
        }
        Ok(outcome)
    }

    /// The whole gate in one call: [`client_ip`](Cutty::client_ip),
    /// [`check_blocked`](Cutty::check_blocked) (its error is returned: `SEC_001`, no rate
    /// limit headers), [`authenticate`](Cutty::authenticate) and [`limits`](Cutty::limits).
    pub async fn gate(
        &self,
        peer: IpAddr,
        headers: &ForwardedHeaders<'_>,
        authorization: Option<&[u8]>,
    ) -> Result<Gate, Error> {
        let ip = self.client_ip(peer, headers);
        if let Err(e) = self.check_blocked(ip).await {
            if !matches!(e, Error::IpBlocked) {
                return Err(e);
            }
            // Blocked: credentials are not even looked at; counted as anonymous.
            let limits = self.limits(ip, None).await?;
            return Ok(Gate {
                ip,
                caller: Ok(None),
                limits,
                blocked: true,
            });
        }
        let caller = self.authenticate(authorization).await;
        if let Err(e) = &caller {
            self.audit_refused_credential(ip, e).await;
        }
        let limits = self
            .limits(ip, caller.as_ref().ok().and_then(Option::as_ref))
            .await?;
        Ok(Gate {
            ip,
            caller,
            limits,
            blocked: false,
        })
    }
}
