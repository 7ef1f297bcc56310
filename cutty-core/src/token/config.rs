//! [`TokenConfig`], the algorithm allow-list and their validation.

use std::time::Duration;

/// A JWS algorithm Cutty can sign or verify with. `none` is deliberately absent.
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256 (the default).
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// The kind of key an [`Algorithm`] takes. An allow-list never spans two families: that is
/// how algorithm-confusion attacks (an RSA public key used as an HMAC secret) are ruled out.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlgorithmFamily {
    /// Shared secret (`HS*`).
    Hmac,
    /// RSA (`RS*`, `PS*`).
    Rsa,
    /// Elliptic curve (`ES*`).
    Ec,
    /// Edwards curve (`EdDSA`).
    Ed,
}

impl Algorithm {
    /// Every algorithm, for parsing.
    pub const ALL: &'static [Algorithm] = &[
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The header name (`"HS256"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a header `alg` exactly (case-sensitive, as RFC 7515 requires). `none` and
    /// anything unknown give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// The key family.
    pub const fn family(self) -> AlgorithmFamily {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => AlgorithmFamily::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                AlgorithmFamily::Rsa
            }
            Self::ES256 | Self::ES384 => AlgorithmFamily::Ec,
            Self::EdDSA => AlgorithmFamily::Ed,
        }
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Self::HS256 => J::HS256,
            Self::HS384 => J::HS384,
            Self::HS512 => J::HS512,
            Self::RS256 => J::RS256,
            Self::RS384 => J::RS384,
            Self::RS512 => J::RS512,
            Self::PS256 => J::PS256,
            Self::PS384 => J::PS384,
            Self::PS512 => J::PS512,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::EdDSA => J::EdDSA,
        }
    }
}

/// Token settings. Every field has the contract's default ([`TokenConfig::default`]);
/// [`TokenCodec::new`](super::TokenCodec::new) validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `iss` written into every token and required on every token verified.
    /// Default `"cutty"` (`CUTTY_JWT_ISSUER`).
    pub issuer: String,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat`. Default 30 s
    /// (`CUTTY_JWT_LEEWAY_SECONDS`); at most 300 s, since a larger leeway quietly extends
    /// every token's life.
    pub leeway: Duration,
    /// Access-token lifetime. Default 900 s = 15 min (`CUTTY_ACCESS_TTL_SECONDS`): short,
    /// because an access token is checked against the store but travels on every request.
    pub access_ttl: Duration,
    /// Refresh-token lifetime. Default 604 800 s = 7 days (`CUTTY_REFRESH_TTL_SECONDS`).
    /// Each rotation issues a fresh refresh token with a full lifetime.
    pub refresh_ttl: Duration,
    /// The algorithms a token header may name. Default `[HS256]`. Must be non-empty, must not
    /// mix key families (HMAC with RSA, …), and must contain the signing key's algorithm.
    pub algorithms: Vec<Algorithm>,
    /// How many verified access tokens [`TokenService`](super::TokenService) remembers, so
    /// a token sent again skips its signature check and claim decoding (the store checks —
    /// revocation, invalidation, family — still run on every request; see
    /// [`VerifiedTokenCache`](super::VerifiedTokenCache)). Default
    /// [`DEFAULT_VERIFIED_CACHE_ENTRIES`](super::DEFAULT_VERIFIED_CACHE_ENTRIES) (16 384,
    /// about 6 MiB when full); `0` turns the cache off.
    pub verified_cache_entries: usize,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            issuer: "cutty".to_owned(),
            leeway: Duration::from_secs(30),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(604_800),
            algorithms: vec![Algorithm::HS256],
            verified_cache_entries: super::DEFAULT_VERIFIED_CACHE_ENTRIES,
        }
    }
}

/// Why a [`TokenConfig`] (with its keyring) was refused. A start-up error.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The allow-list is empty.
    #[error("no algorithm allowed")]
    NoAlgorithm,
    /// The allow-list spans key families (algorithm confusion).
    #[error("allowed algorithms mix key families: {0:?} and {1:?}")]
    MixedFamilies(Algorithm, Algorithm),
    /// A key's algorithm is not on the allow-list.
    #[error("key algorithm {0:?} is not allowed")]
    KeyNotAllowed(Algorithm),
    /// The keyring has no verification key.
    #[error("no verification key")]
    NoVerificationKey,
    /// Empty or over-long (> 256 bytes) issuer.
    #[error("issuer must be 1 to 256 bytes long")]
    BadIssuer,
    /// A TTL of zero, not whole seconds, or over ten years; or a leeway over 300 s or not
    /// whole seconds.
    #[error("{0} out of range")]
    BadDuration(&'static str),
}

const MAX_TTL_SECS: u64 = 10 * 366 * 86_400;
/// Largest accepted leeway.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

impl TokenConfig {
    /// Checks the settings on their own (the codec also checks them against its keys).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let first = *self.algorithms.first().ok_or(ConfigError::NoAlgorithm)?;
        if let Some(other) = self
            .algorithms
            .iter()
            .find(|a| a.family() != first.family())
        {
            return Err(ConfigError::MixedFamilies(first, *other));
        }
        if self.issuer.is_empty() || self.issuer.len() > 256 {
            return Err(ConfigError::BadIssuer);
        }
        for (name, d) in [
            ("access_ttl", self.access_ttl),
            ("refresh_ttl", self.refresh_ttl),
        ] {
            if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > MAX_TTL_SECS {
                return Err(ConfigError::BadDuration(name));
            }
        }
        if self.leeway.subsec_nanos() != 0 || self.leeway > MAX_LEEWAY {
            return Err(ConfigError::BadDuration("leeway"));
        }
        Ok(())
    }

    /// Whether `alg` is on the allow-list.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }
}
