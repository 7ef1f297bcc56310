//! Issuing and verifying one JWT: header, signature and claims, without any store.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::keys::provider;
use super::{Algorithm, ConfigError, FamilyId, KeyError, Keyring, TokenConfig};
use crate::error::{Error, InvalidTokenReason, StoreError, StoreErrorKind};

/// Tokens longer than this are refused before any decoding (8 KiB; Cutty's own are
/// ~300–700 bytes).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The private claim carrying the issue time in Unix **milliseconds** (see the module docs,
/// "Same-second invalidation").
pub const ISSUED_AT_MS_CLAIM: &str = "iat_ms";
/// The claim carrying the refresh-family id (a UUID), in both access and refresh tokens.
pub const FAMILY_CLAIM: &str = "fam";

/// Which of the two tokens of a pair; the `type` claim.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `"access"`: sent on every request, 15 minutes by default.
    Access,
    /// `"refresh"`: exchanged once for a new pair, 7 days by default.
    Refresh,
}

impl TokenType {
    /// The `type` claim value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// A freshly signed token and the facts the caller may need to store or return.
pub struct IssuedToken {
    token: String,
    jti: Uuid,
    issued_at_ms: i64,
    expires_at: i64,
}

impl IssuedToken {
    /// The compact JWS.
    pub fn as_str(&self) -> &str {
        &self.token
    }
    /// The compact JWS, by value.
    pub fn into_string(self) -> String {
        self.token
    }
    /// Its `jti`.
    pub fn jti(&self) -> Uuid {
        self.jti
    }
    /// Its issue time in Unix milliseconds (the `iat_ms` claim).
    pub fn issued_at_ms(&self) -> i64 {
        self.issued_at_ms
    }
    /// Its `exp`, in Unix seconds.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
    /// Its `exp`, in Unix milliseconds.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at.saturating_mul(1000)
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("jti", &self.jti)
            .field("issued_at_ms", &self.issued_at_ms)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Claims whose signature, issuer, type and times were checked — but not revocation.
///
/// Only [`TokenCodec::verify`] builds one; [`super::VerifiedAccess`] (built by
/// [`super::TokenService::verify_access`]) adds the store checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    // Shared: the verified-token cache hands out a clone on every request.
    sub: std::sync::Arc<str>,
    jti: Uuid,
    family: FamilyId,
    kind: TokenType,
    issued_at: i64,
    issued_at_ms: i64,
    expires_at: i64,
}

impl VerifiedClaims {
    /// `sub`: the user id.
    pub fn user_id(&self) -> &str {
        &self.sub
    }
    /// `jti`.
    pub fn jti(&self) -> Uuid {
        self.jti
    }
    /// `fam`: the refresh family.
    pub fn family(&self) -> FamilyId {
        self.family
    }
    /// `type`.
    pub fn kind(&self) -> TokenType {
        self.kind
    }
    /// `iat` in Unix seconds.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }
    /// Issue time in Unix milliseconds: `iat_ms` when present, else `iat × 1000` (the start
    /// of the second, so a token without `iat_ms` loses to a mark in its second).
    pub fn issued_at_ms(&self) -> i64 {
        self.issued_at_ms
    }
    /// `exp` in Unix seconds.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
    /// `exp` in Unix milliseconds.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at.saturating_mul(1000)
    }
}

#[derive(serde::Serialize)]
struct OutClaims<'a> {
    sub: &'a str,
    jti: Uuid,
    iat: i64,
    exp: i64,
    iss: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    fam: Uuid,
    iat_ms: i64,
}

/// A JSON string, borrowed from the decoded payload unless it holds escapes. (serde's
/// `borrow` borrows a bare `Cow<str>` field but not one inside an `Option`: without this
/// newtype every claim would be copied into its own allocation.)
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(serde::Deserialize)]
struct InClaims<'a> {
    #[serde(borrow)]
    sub: Option<Text<'a>>,
    #[serde(borrow)]
    jti: Option<Text<'a>>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    #[serde(borrow)]
    iss: Option<Text<'a>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    fam: Option<Text<'a>>,
    iat_ms: Option<i64>,
}

#[derive(serde::Deserialize)]
struct InHeader<'a> {
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    crit: Option<serde::de::IgnoredAny>,
}

fn invalid(reason: InvalidTokenReason) -> Error {
    Error::InvalidToken(reason)
}

fn b64(part: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| invalid(InvalidTokenReason::Malformed))
}

fn json_reason(e: &serde_json::Error) -> InvalidTokenReason {
    match e.classify() {
        serde_json::error::Category::Data => InvalidTokenReason::MissingClaim,
        _ => InvalidTokenReason::Malformed,
    }
}

/// The configured token format: settings plus keys. Issues and verifies single tokens with
/// no store. Cheap to share (`Send + Sync`); build it once at start-up.
#[derive(Debug)]
pub struct TokenCodec {
    config: TokenConfig,
    keys: Keyring,
    leeway_ms: i64,
}

impl TokenCodec {
    /// Validates `config` against `keys`: the allow-list is non-empty and within one key
    /// family, and every key's algorithm is allowed.
    pub fn new(config: TokenConfig, keys: Keyring) -> Result<Self, ConfigError> {
        config.validate()?;
        let signing = keys.signing_key().algorithm();
        if !config.allows(signing) {
            return Err(ConfigError::KeyNotAllowed(signing));
        }
        if keys.verification_keys().is_empty() {
            return Err(ConfigError::NoVerificationKey);
        }
        if let Some(k) = keys
            .verification_keys()
            .iter()
            .find(|k| !config.allows(k.algorithm()))
        {
            return Err(ConfigError::KeyNotAllowed(k.algorithm()));
        }
        let leeway_ms = i64::try_from(config.leeway.as_millis()).unwrap_or(i64::MAX);
        Ok(Self {
            config,
            keys,
            leeway_ms,
        })
    }

    /// The common case: the default config with one HS256 secret (≥ 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, HsError> {
        let keys = Keyring::hmac(Algorithm::HS256, secret).map_err(HsError::Key)?;
        Self::new(TokenConfig::default(), keys).map_err(HsError::Config)
    }

    /// The settings.
    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// The keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    fn ttl_secs(&self, kind: TokenType) -> i64 {
        let d = match kind {
            TokenType::Access => self.config.access_ttl,
            TokenType::Refresh => self.config.refresh_ttl,
        };
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
    }

    /// The longest time a token may still be accepted after it was issued, in ms: the
    /// longer TTL plus the leeway. Revocation marks need to be kept no longer than this.
    pub fn max_lifetime_ms(&self) -> i64 {
        self.ttl_secs(TokenType::Access)
            .max(self.ttl_secs(TokenType::Refresh))
            .saturating_mul(1000)
            .saturating_add(self.leeway_ms)
    }

    /// Signs a token of `kind` for `user_id` in `family`, issued at `now_ms`.
    ///
    /// `user_id` must be 1–256 bytes (`REQ_001` otherwise). Signing itself only fails if the
    /// crypto provider does (e.g. no randomness for RSA blinding); that is reported as a
    /// `DB_001`-class [`Error::Store`] with the context `"token signing failed"`.
    pub fn issue(
        &self,
        kind: TokenType,
        user_id: &str,
        family: FamilyId,
        now_ms: i64,
    ) -> Result<IssuedToken, Error> {
        if user_id.is_empty() || user_id.len() > 256 {
            return Err(Error::invalid_field("user_id", "must be 1 to 256 bytes"));
        }
        let jti = new_uuid();
        let iat = now_ms.div_euclid(1000);
        let exp = iat.saturating_add(self.ttl_secs(kind));
        let claims = OutClaims {
            sub: user_id,
            jti,
            iat,
            exp,
            iss: &self.config.issuer,
            kind: kind.as_str(),
            fam: family.0,
            iat_ms: now_ms,
        };
        let signing = self.keys.signing_key();
        let json = serde_json::to_vec(&claims).map_err(|_| signing_failed())?;
        let mut token =
            String::with_capacity(signing.header_prefix.len() + json.len() * 4 / 3 + 100);
        token.push_str(&signing.header_prefix);
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        if let Some(mac) = &signing.mac {
            let mut sig = String::with_capacity(88);
            mac.sign_into(token.as_bytes(), &mut sig);
            token.push('.');
            token.push_str(&sig);
            return Ok(IssuedToken {
                token,
                jti,
                issued_at_ms: now_ms,
                expires_at: exp,
            });
        }
        let signer = (provider().map_err(|_| signing_failed())?.signer_factory)(
            &signing.algorithm().to_jwt(),
            signing.encoding_key(),
        )
        .map_err(|_| signing_failed())?;
        let sig = signer
            .try_sign(token.as_bytes())
            .map_err(|_| signing_failed())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut token);
        Ok(IssuedToken {
            token,
            jti,
            issued_at_ms: now_ms,
            expires_at: exp,
        })
    }

    /// Verifies `token` as a token of type `expected` at `now_ms`: format, header `alg`
    /// against the allow-list (before any key is chosen), `kid`, signature, then `iss`,
    /// `type`, required claims, `nbf`/`iat` not in the future beyond the leeway, and `exp`.
    ///
    /// Errors: [`Error::InvalidToken`] with the [`InvalidTokenReason`], or
    /// [`Error::TokenExpired`]. Never panics, whatever the input.
    pub fn verify(
        &self,
        token: &str,
        expected: TokenType,
        now_ms: i64,
    ) -> Result<VerifiedClaims, Error> {
        self.verify_window(token, expected, now_ms)
            .map(|(claims, _)| claims)
    }

    /// [`verify`](Self::verify), plus the times (Unix ms, `start..end`) at which the same
    /// token verifies to the same claims: from its `iat`/`nbf` less the leeway until its
    /// `exp` plus the leeway. Everything else `verify` checks does not depend on the time.
    pub(super) fn verify_window(
        &self,
        token: &str,
        expected: TokenType,
        now_ms: i64,
    ) -> Result<(VerifiedClaims, Range<i64>), Error> {
        use InvalidTokenReason as R;
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid(R::Malformed));
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(R::Malformed));
        };

        // Header: the algorithm is checked before any key is looked at. Fast path: the exact
        // header bytes Cutty writes for one of the verification keys (whose algorithm was
        // checked against the allow-list at construction) need no parsing.
        let key = match self.keys.find_by_header_segment(h64) {
            Some(key) => key,
            None => self.key_for_header(h64)?,
        };
        let alg = key.algorithm();

        // Signature over the header and payload exactly as received.
        let signed_len = h64.len() + 1 + p64.len();
        let message = token
            .as_bytes()
            .get(..signed_len)
            .ok_or(invalid(R::Malformed))?;
        if let Some(mac) = &key.mac {
            let mut tag = [0u8; 64];
            let n = URL_SAFE_NO_PAD
                .decode_slice(s64, &mut tag)
                .map_err(|_| invalid(R::Malformed))?;
            let tag = tag.get(..n).ok_or(invalid(R::Malformed))?;
            if !mac.verify(message, tag) {
                return Err(invalid(R::BadSignature));
            }
        } else {
            let sig = b64(s64)?;
            let verifier = (provider()
                .map_err(|_: KeyError| invalid(R::BadSignature))?
                .verifier_factory)(&alg.to_jwt(), key.decoding_key())
            .map_err(|_| invalid(R::BadSignature))?;
            verifier
                .verify(message, &sig)
                .map_err(|_| invalid(R::BadSignature))?;
        }

        // Claims.
        // Cutty's own payloads are ~250 bytes: decode them on the stack.
        let mut stack = [0u8; 768];
        let heap;
        let payload: &[u8] = if p64.len() / 4 * 3 + 3 <= stack.len() {
            let n = URL_SAFE_NO_PAD
                .decode_slice(p64, &mut stack)
                .map_err(|_| invalid(R::Malformed))?;
            stack.get(..n).ok_or(invalid(R::Malformed))?
        } else {
            heap = b64(p64)?;
            &heap
        };
        let c: InClaims<'_> =
            serde_json::from_slice(payload).map_err(|e| invalid(json_reason(&e)))?;
        if c.iss.as_deref() != Some(self.config.issuer.as_str()) {
            return Err(invalid(R::WrongIssuer));
        }
        if c.kind.as_deref() != Some(expected.as_str()) {
            return Err(invalid(R::WrongType));
        }
        let (Some(sub), Some(jti), Some(iat), Some(exp), Some(fam)) =
            (c.sub, c.jti, c.iat, c.exp, c.fam)
        else {
            return Err(invalid(R::MissingClaim));
        };
        if sub.is_empty() || sub.len() > 256 {
            return Err(invalid(R::MissingClaim));
        }
        let jti = Uuid::try_parse(&jti).map_err(|_| invalid(R::MissingClaim))?;
        let fam = Uuid::try_parse(&fam).map_err(|_| invalid(R::MissingClaim))?;
        let issued_at_ms = match c.iat_ms {
            Some(ms) if ms.div_euclid(1000) == iat => ms,
            Some(_) => return Err(invalid(R::MissingClaim)),
            None => iat.saturating_mul(1000),
        };

        let lw = self.leeway_ms;
        if c.nbf
            .is_some_and(|nbf| now_ms < nbf.saturating_mul(1000).saturating_sub(lw))
        {
            return Err(invalid(R::NotYetValid));
        }
        if iat.saturating_mul(1000) > now_ms.saturating_add(lw) {
            return Err(invalid(R::NotYetValid));
        }
        let valid_until = exp.saturating_mul(1000).saturating_add(lw);
        if now_ms >= valid_until {
            return Err(Error::TokenExpired);
        }
        // The two checks above, as the first instant at which both pass.
        let valid_from = c
            .nbf
            .unwrap_or(i64::MIN)
            .max(iat)
            .saturating_mul(1000)
            .saturating_sub(lw);
        let claims = VerifiedClaims {
            sub: std::sync::Arc::from(&*sub.0),
            jti,
            family: FamilyId(fam),
            kind: expected,
            issued_at: iat,
            issued_at_ms,
            expires_at: exp,
        };
        Ok((claims, valid_from..valid_until))
    }
}

impl TokenCodec {
    /// Parses a header Cutty did not write itself: `alg` against the allow-list first, then
    /// the key by `kid`, which must be bound to that same algorithm.
    fn key_for_header(&self, h64: &str) -> Result<&super::VerificationKey, Error> {
        use InvalidTokenReason as R;
        let header_json = b64(h64)?;
        let header: InHeader<'_> =
            serde_json::from_slice(&header_json).map_err(|_| invalid(R::Malformed))?;
        if header.crit.is_some() {
            return Err(invalid(R::Malformed));
        }
        let alg_name = header.alg.ok_or(invalid(R::Malformed))?;
        let alg = Algorithm::from_name(&alg_name)
            .filter(|a| self.config.allows(*a))
            .ok_or(invalid(R::AlgorithmNotAllowed))?;
        let key = self
            .keys
            .find(header.kid.as_deref())
            .ok_or(invalid(R::UnknownKey))?;
        if key.algorithm() != alg {
            return Err(invalid(R::AlgorithmNotAllowed));
        }
        Ok(key)
    }
}

/// Why [`TokenCodec::hs256`] failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HsError {
    /// The secret was refused.
    #[error(transparent)]
    Key(KeyError),
    /// The configuration was refused.
    #[error(transparent)]
    Config(ConfigError),
}

fn signing_failed() -> Error {
    Error::Store(StoreError::new(
        StoreErrorKind::Unavailable,
        "token signing failed",
    ))
}

/// A random (v4) UUID from the thread-local CSPRNG (no system call per token).
pub(crate) fn new_uuid() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}
