//! Registration, login, refresh, logout, the current user and password changes.

use std::net::IpAddr;

use serde_json::json;

use super::support::shown_name;
use super::{
    AuthResponse, Caller, ChangePasswordRequest, Counters, Cutty, LoginRequest, LogoutRequest,
    RefreshRequest, RegisterRequest, SecretString,
};
use crate::error::{Error, ErrorCode, FieldViolation, InvalidTokenReason};
use crate::event::EventType;
use crate::lockout::LockoutDecision;
use crate::password::{Algorithm, PasswordHasher, Verification};
use crate::token::{RefreshOutcome, TokenPair, TokenType};
use crate::user::{NewUser, Registration, User, fold_case, validate_new_password};

/// Whether `encoded` is a hash the hasher can verify at all, decided without any expensive
/// work: a known, enabled algorithm with sane parameters. Anything else (malformed, Django's
/// unusable `!…`, a disabled algorithm) is answered like a wrong password after a dummy
/// verification, so its timing matches.
fn is_usable_hash(hasher: &PasswordHasher, encoded: &str) -> bool {
    Algorithm::identify(encoded).is_ok_and(Algorithm::can_verify)
        && hasher.must_update(encoded).is_ok()
}

/// `REQ_001` naming `new_password` if it breaks the registration rules.
fn check_new_password(password: &SecretString, username: &str) -> Result<(), Error> {
    validate_new_password(password.expose(), Some(username))
        .map_err(|v| Error::InvalidRequest(vec![FieldViolation::new("new_password", v.message)]))
}

impl Cutty {
    /// `POST /api/accounts/register` (201): validates every field (`REQ_001` naming them),
    /// hashes the password, creates the user (`AUTH_009` if the username or email is taken,
    /// case-insensitively), issues a pair and records a `registration` event.
    pub async fn register(&self, req: RegisterRequest, ip: IpAddr) -> Result<AuthResponse, Error> {
        let user = self
            .create_user(
                &req.username,
                &req.email,
                &req.password,
                false,
                Some(ip),
                "api",
            )
            .await?;
        let issued = self.inner.tokens.issue_pair(&user.id.to_string()).await?;
        Ok(AuthResponse {
            tokens: issued.pair,
            user,
        })
    }

    /// Validates, hashes, stores and records a user (registration and `cutty user create`).
    pub(super) async fn create_user(
        &self,
        username: &str,
        email: &str,
        password: &SecretString,
        is_admin: bool,
        ip: Option<IpAddr>,
        via: &'static str,
    ) -> Result<User, Error> {
        let valid = Registration::new(username, email, password.expose()).validate()?;
        let inner = &self.inner;
        let hash = inner
            .work
            .hash(&inner.password_hasher, password.to_zeroizing())
            .await?;
        let mut new_user = NewUser::from_registration(&valid, hash, self.now_ms());
        new_user.is_admin = is_admin;
        let created = inner.users.create(new_user).await;
        let mut event = match &created {
            Ok(user) => self
                .event(EventType::Registration, true)
                .with_user(user.id)
                .with_details(json!({ "via": via })),
            Err(_) => self
                .event(EventType::Registration, false)
                .with_details(json!({ "username": shown_name(username), "via": via })),
        };
        if let Some(ip) = ip {
            event = event.with_ip(ip);
        }
        match created {
            Ok(user) => {
                self.audit(event).await;
                Ok(user)
            }
            Err(crate::user::CreateUserError::AlreadyRegistered) => {
                self.audit(event).await;
                Err(Error::AlreadyRegistered)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /api/accounts/login` (200), by username or email, case-insensitively.
    ///
    /// Lockout is checked first (`AUTH_006` with `Retry-After`). An unknown user and an
    /// unusable stored hash pay a dummy verification; a wrong password counts a failure for
    /// the login name and the IP and answers `AUTH_004`. Only after a correct password:
    /// disabled → `AUTH_008`, reset required → `AUTH_007`. A success resets the lockout,
    /// re-hashes an outdated hash and issues a pair. Every outcome is a `login` event.
    pub async fn login(&self, req: LoginRequest, ip: IpAddr) -> Result<AuthResponse, Error> {
        let login = req.username.as_str();
        let (user, verification) = self
            .verify_credentials(login, None, &req.password, ip, EventType::Login)
            .await?;
        let refusal = if !user.is_active {
            Some((Error::AccountDisabled, "account_disabled"))
        } else if user.password_reset_required {
            Some((Error::PasswordResetRequired, "password_reset_required"))
        } else {
            None
        };
        if let Some((error, reason)) = refusal {
            let event = self
                .event(EventType::Login, false)
                .with_user(user.id)
                .with_ip(ip)
                .with_details(json!({ "username": shown_name(login), "reason": reason }));
            self.audit(event).await;
            return Err(error);
        }
        self.reset_lockout(login, &user, ip).await?;
        if verification.should_rehash() {
            self.rehash(&user, &req.password).await;
        }
        let issued = self.inner.tokens.issue_pair(&user.id.to_string()).await?;
        let event = self
            .event(EventType::Login, true)
            .with_user(user.id)
            .with_ip(ip);
        self.audit(event).await;
        Ok(AuthResponse {
            tokens: issued.pair,
            user,
        })
    }

    /// Checks a password the way a login does, for `login` as typed (username or email):
    ///
    /// 1. lockout for the login name and the IP (`AUTH_006`, not counted as a failure);
    /// 2. the account: `known`, or looked up by `login`;
    /// 3. unknown account or unusable hash: dummy verification; else a real one;
    /// 4. no match: a failure is counted for the login name and the IP, `event_type` is
    ///    recorded with `success=false` (and a `lockout` event if this failure locked
    ///    something), `AUTH_004`.
    ///
    /// Returns the account whose password matched. Nothing about `is_active` or the reset
    /// flag is checked here.
    pub(super) async fn verify_credentials(
        &self,
        login: &str,
        known: Option<User>,
        password: &SecretString,
        ip: IpAddr,
        event_type: EventType,
    ) -> Result<(User, Verification), Error> {
        let inner = &self.inner;
        let decision = inner.lockout.check(login, ip).await?;
        if let LockoutDecision::Refused {
            retry_after_secs, ..
        } = decision
        {
            let event = self
                .event(event_type, false)
                .with_ip(ip)
                .with_details(json!({ "username": shown_name(login), "reason": "locked_out" }));
            self.audit(event).await;
            return Err(Error::LockedOut { retry_after_secs });
        }
        let user = match known {
            Some(user) => Some(user),
            None => inner.users.find_by_login(login).await?,
        };
        let hasher = &inner.password_hasher;
        let (matched, reason) = match user {
            Some(user) if is_usable_hash(hasher, &user.password_hash) => {
                let verification = inner
                    .work
                    .verify(hasher, password.to_zeroizing(), user.password_hash.clone())
                    .await?;
                if verification.matches {
                    return Ok((user, verification));
                }
                (Some(user), "invalid_password")
            }
            Some(user) => {
                inner
                    .work
                    .dummy_verify(hasher, password.to_zeroizing())
                    .await;
                (Some(user), "unusable_password_hash")
            }
            None => {
                inner
                    .work
                    .dummy_verify(hasher, password.to_zeroizing())
                    .await;
                (None, "unknown_user")
            }
        };
        let outcome = inner.lockout.record_failure(login, ip).await?;
        let user_id = matched.as_ref().map(|u| u.id);
        let mut event = self
            .event(event_type, false)
            .with_ip(ip)
            .with_details(json!({ "username": shown_name(login), "reason": reason }));
        if let Some(id) = user_id {
            event = event.with_user(id);
        }
        self.audit(event).await;
        if outcome.locked_anything() {
            let mut event = self
                .event(EventType::Lockout, true)
                .with_ip(ip)
                .with_details(json!({
                    "username": shown_name(login),
                    "username_locked": outcome.username_locked,
                    "ip_locked": outcome.ip_locked,
                }));
            if let Some(id) = user_id {
                event = event.with_user(id);
            }
            self.audit(event).await;
        }
        Err(Error::InvalidCredentials)
    }

    /// A success: resets the lockout of the name typed, of the account's username and
    /// email (so failures typed one way are not left behind by a login typed another way),
    /// and of the IP.
    async fn reset_lockout(&self, login: &str, user: &User, ip: IpAddr) -> Result<(), Error> {
        let lockout = &self.inner.lockout;
        lockout.record_success(login, ip).await?;
        let typed = fold_case(login);
        for other in [&user.username, &user.email] {
            if fold_case(other) != typed {
                lockout.record_success(other, ip).await?;
            }
        }
        Ok(())
    }

    /// Stores a fresh hash of a password that just matched an outdated one. A failure is
    /// counted, never returned: the login itself succeeded.
    async fn rehash(&self, user: &User, password: &SecretString) {
        let inner = &self.inner;
        let stored = match inner
            .work
            .hash(&inner.password_hasher, password.to_zeroizing())
            .await
        {
            Ok(hash) => inner
                .users
                .update_password_hash(user.id, &hash, false)
                .await
                .is_ok(),
            Err(_) => false,
        };
        if !stored {
            Counters::bump(&inner.counters.rehash_failures);
        }
    }

    /// `POST /api/accounts/token/refresh` (200): rotation in the same family. A reused
    /// refresh token revokes its family (`AUTH_003`, `refresh_reuse` event); the user must
    /// still exist (`AUTH_001`) and be active (`AUTH_003`, and the family is revoked).
    pub async fn refresh(&self, req: RefreshRequest, ip: IpAddr) -> Result<TokenPair, Error> {
        let tokens = &self.inner.tokens;
        let claims =
            match tokens
                .codec()
                .verify(&req.refresh_token, TokenType::Refresh, self.now_ms())
            {
                Ok(claims) => claims,
                Err(e) => return Err(self.refresh_failed(e, None, ip).await),
            };
        if let Err(e) = self.user_of_token(claims.user_id()).await {
            if e.code() == ErrorCode::TokenRevoked {
                tokens.revoke_family(claims.family()).await?;
            }
            return Err(self.refresh_failed(e, None, ip).await);
        }
        let user_id: Option<i64> = claims.user_id().parse().ok();
        match tokens.refresh_outcome(&req.refresh_token).await {
            Ok(RefreshOutcome::Rotated(issued)) => {
                let mut event = self.event(EventType::TokenRefresh, true).with_ip(ip);
                if let Some(id) = user_id {
                    event = event.with_user(id);
                }
                self.audit(event).await;
                Ok(issued.pair)
            }
            Ok(RefreshOutcome::ReuseDetected { family, .. }) => {
                let mut event = self
                    .event(EventType::RefreshReuse, false)
                    .with_ip(ip)
                    .with_details(json!({ "family": family.to_string() }));
                if let Some(id) = user_id {
                    event = event.with_user(id);
                }
                self.audit(event).await;
                Err(Error::TokenRevoked)
            }
            Err(e) => Err(self.refresh_failed(e, user_id, ip).await),
        }
    }

    /// Records a refused refresh (not store failures) and hands the error back.
    async fn refresh_failed(&self, error: Error, user_id: Option<i64>, ip: IpAddr) -> Error {
        if !matches!(error, Error::Store(_)) {
            let mut event = self
                .event(EventType::TokenRefresh, false)
                .with_ip(ip)
                .with_details(json!({ "code": error.code().as_str() }));
            if let Some(id) = user_id {
                event = event.with_user(id);
            }
            self.audit(event).await;
        }
        error
    }

    /// `POST /api/accounts/logout` (204): revokes the access token and its session; a given
    /// refresh token of another session of the same user is revoked too (another user's is
    /// `AUTH_010`, an invalid one `AUTH_001`; either way nothing is revoked). JWT only
    /// (`AUTH_010` for an API key).
    pub async fn logout(
        &self,
        caller: &Caller,
        req: LogoutRequest,
        ip: IpAddr,
    ) -> Result<(), Error> {
        let u = caller.require_jwt()?;
        self.inner
            .tokens
            .logout(u.access(), req.refresh_token.as_deref())
            .await?;
        let event = self
            .event(EventType::Logout, true)
            .with_user(u.user().id)
            .with_ip(ip);
        self.audit(event).await;
        Ok(())
    }

    /// `GET /api/accounts/user` (200): the caller's user (render `User::view`).
    pub async fn current_user(&self, caller: &Caller) -> Result<User, Error> {
        Ok(caller.user().clone())
    }

    /// `POST /api/accounts/password` (200): with a JWT (`AUTH_010` for an API key), or
    /// without any credentials but with `username` when that account must reset its
    /// password. The old password is checked like a login (lockout, `AUTH_004` counted as a
    /// failure); the new one obeys the registration rules (`REQ_001` on `new_password`).
    /// Every token issued before is revoked, the reset flag is cleared, and a new pair is
    /// returned. API keys are not touched.
    ///
    /// Without a JWT: no `username` is `AUTH_001` (authentication required); after a
    /// correct old password, a disabled account is `AUTH_008` and an account that does not
    /// require a reset is `AUTH_001` (it must use its JWT). With a JWT, a `username` naming
    /// another account is `REQ_001`.
    pub async fn change_password(
        &self,
        caller: Option<&Caller>,
        req: ChangePasswordRequest,
        ip: IpAddr,
    ) -> Result<TokenPair, Error> {
        let (login, known) = match caller {
            Some(c) => {
                let u = c.require_jwt()?;
                if let Some(name) = &req.username {
                    let key = fold_case(name);
                    if key != fold_case(&u.user().username) && key != fold_case(&u.user().email) {
                        return Err(Error::invalid_field(
                            "username",
                            "must be the authenticated user's",
                        ));
                    }
                }
                (u.user().username.clone(), Some(u.user().clone()))
            }
            None => match &req.username {
                Some(name) => (name.clone(), None),
                None => return Err(Error::InvalidToken(InvalidTokenReason::Malformed)),
            },
        };
        check_new_password(&req.new_password, &login)?;
        let (user, _) = self
            .verify_credentials(
                &login,
                known,
                &req.old_password,
                ip,
                EventType::PasswordChanged,
            )
            .await?;
        if caller.is_none() {
            if !user.is_active {
                return Err(Error::AccountDisabled);
            }
            if !user.password_reset_required {
                return Err(Error::InvalidToken(InvalidTokenReason::Malformed));
            }
        }
        check_new_password(&req.new_password, &user.username)?;
        let inner = &self.inner;
        let hash = inner
            .work
            .hash(&inner.password_hasher, req.new_password.to_zeroizing())
            .await?;
        if !inner
            .users
            .update_password_hash(user.id, &hash, true)
            .await?
        {
            return Err(Error::InvalidCredentials);
        }
        let sub = user.id.to_string();
        inner.tokens.invalidate_user(&sub).await?;
        self.reset_lockout(&login, &user, ip).await?;
        let issued = inner.tokens.issue_pair(&sub).await?;
        let event = self
            .event(EventType::PasswordChanged, true)
            .with_user(user.id)
            .with_ip(ip)
            .with_details(json!({ "via": if caller.is_some() { "jwt" } else { "reset" } }));
        self.audit(event).await;
        Ok(issued.pair)
    }
}
