//! The stored record and the JSON views of the contract's `/api/api-keys` endpoints.

use std::num::NonZeroU32;

use uuid::Uuid;

use super::hash::{KeyHash, SaltId};
use super::key::ApiKey;
use super::permission::PermissionSet;
use crate::error::{Error, FieldViolation};

/// Longest accepted key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// One API key as the store keeps it. Holds the hash, never the key.
///
/// This is a storage type: never send it to a client. The contract's views are
/// [`ApiKeyListItem`] (listings) and [`CreatedApiKey`] (the create response). Its serde
/// form (hash as hex) is for key-value backends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyRecord {
    /// Public id of the key (the `{key_id}` of `DELETE /api/api-keys/{key_id}`).
    pub key_id: Uuid,
    /// The owner.
    pub user_id: i64,
    /// The owner's label for the key.
    pub name: String,
    /// Display prefix, `cutty_` + the first 4 random characters.
    pub key_prefix: String,
    /// HMAC-SHA256 of the key under the salt `salt_id`.
    pub key_hash: KeyHash,
    /// The salt that made `key_hash`.
    pub salt_id: SaltId,
    /// What the key may do (before intersecting with its owner's rights).
    pub permissions: PermissionSet,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// The instant the key stops working, Unix ms; `None` never expires.
    pub expires_at: Option<i64>,
    /// Last successful authentication, Unix ms; `None` if never used.
    pub last_used: Option<i64>,
    /// `false` once revoked; revocation is permanent.
    pub is_active: bool,
    /// Requests per window replacing the default API-key limit.
    pub rate_limit_override: Option<NonZeroU32>,
}

impl ApiKeyRecord {
    /// Whether the key has expired at `now_unix_ms`: `expires_at` is the first instant at
    /// which it no longer works.
    pub fn is_expired_at(&self, now_unix_ms: i64) -> bool {
        self.expires_at.is_some_and(|exp| now_unix_ms >= exp)
    }
}

/// The body of `POST /api/api-keys`: `{name, permissions, expires_at?, rate_limit_override?}`.
///
/// Wrong JSON types are the host's `REQ_001`; [`CreateApiKeyRequest::validate`] checks the
/// values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct CreateApiKeyRequest {
    /// Label, 1–[`MAX_NAME_CHARS`] characters, not blank, no control characters.
    pub name: String,
    /// Exact permission strings; at least one.
    pub permissions: Vec<String>,
    /// Expiry, Unix ms; must lie in the future.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Requests per window; 1 … 4294967295.
    #[serde(default)]
    pub rate_limit_override: Option<i64>,
}

/// A create request whose values passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCreateRequest {
    /// The label, as typed.
    pub name: String,
    /// The requested permissions (non-empty).
    pub permissions: PermissionSet,
    /// Expiry, Unix ms, in the future at validation time.
    pub expires_at: Option<i64>,
    /// Positive rate-limit override.
    pub rate_limit_override: Option<NonZeroU32>,
}

impl CreateApiKeyRequest {
    /// Checks every field and reports every violation at once (`REQ_001`, one
    /// [`FieldViolation`] per bad field):
    /// `name` blank, longer than [`MAX_NAME_CHARS`] or with control characters;
    /// `permissions` empty, with an unknown string, or exceeding `owner_permissions`
    /// (a key never holds more than its owner); `expires_at` not after `now_unix_ms`;
    /// `rate_limit_override` below 1 or above `u32::MAX`.
    pub fn validate(
        &self,
        owner_permissions: PermissionSet,
        now_unix_ms: i64,
    ) -> Result<ValidCreateRequest, Error> {
        let mut violations = Vec::new();
        let name_chars = self.name.chars().count();
        if self.name.trim().is_empty() {
            violations.push(FieldViolation::new("name", "must not be blank"));
        } else if name_chars > MAX_NAME_CHARS {
            violations.push(FieldViolation::new(
                "name",
                "must be at most 100 characters",
            ));
        } else if self.name.chars().any(char::is_control) {
            violations.push(FieldViolation::new(
                "name",
                "must not contain control characters",
            ));
        }
        let permissions = match PermissionSet::parse_list(&self.permissions) {
            Ok(set) if set.is_empty() => {
                violations.push(FieldViolation::new(
                    "permissions",
                    "at least one permission is required",
                ));
                set
            }
            Ok(set) if !set.is_subset_of(owner_permissions) => {
                violations.push(FieldViolation::new(
                    "permissions",
                    "a key cannot hold a permission its owner lacks",
                ));
                set
            }
            Ok(set) => set,
            Err(Error::InvalidRequest(mut v)) => {
                violations.append(&mut v);
                PermissionSet::EMPTY
            }
            Err(other) => return Err(other),
        };
        if self.expires_at.is_some_and(|exp| exp <= now_unix_ms) {
            violations.push(FieldViolation::new("expires_at", "must be in the future"));
        }
        let rate_limit_override = match self.rate_limit_override {
            None => None,
            Some(n) => match u32::try_from(n).ok().and_then(NonZeroU32::new) {
                Some(n) => Some(n),
                None => {
                    violations.push(FieldViolation::new(
                        "rate_limit_override",
                        "must be between 1 and 4294967295",
                    ));
                    None
                }
            },
        };
        if !violations.is_empty() {
            return Err(Error::InvalidRequest(violations));
        }
        Ok(ValidCreateRequest {
            name: self.name.clone(),
            permissions,
            expires_at: self.expires_at,
            rate_limit_override,
        })
    }
}

/// The `201` body of `POST /api/api-keys`:
/// `{key_id,key,name,key_prefix,permissions,created_at,expires_at,rate_limit_override}`.
/// The only place the key is ever shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedApiKey {
    /// Public id.
    pub key_id: Uuid,
    /// The key itself, shown once.
    #[serde(serialize_with = "serialize_key")]
    pub key: ApiKey,
    /// Label.
    pub name: String,
    /// Display prefix.
    pub key_prefix: String,
    /// Permissions.
    pub permissions: PermissionSet,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms or `null`.
    pub expires_at: Option<i64>,
    /// Override or `null`.
    pub rate_limit_override: Option<NonZeroU32>,
}

fn serialize_key<S: serde::Serializer>(key: &ApiKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(key.expose_secret())
}

impl CreatedApiKey {
    /// The create response for a freshly stored `record` and its `key`.
    pub fn new(key: ApiKey, record: &ApiKeyRecord) -> Self {
        Self {
            key_id: record.key_id,
            key,
            name: record.name.clone(),
            key_prefix: record.key_prefix.clone(),
            permissions: record.permissions,
            created_at: record.created_at,
            expires_at: record.expires_at,
            rate_limit_override: record.rate_limit_override,
        }
    }
}

/// One entry of `GET /api/api-keys`: the create response's fields without `key`, plus
/// `is_active` and `last_used`. Never the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyListItem {
    /// Public id.
    pub key_id: Uuid,
    /// Label.
    pub name: String,
    /// Display prefix.
    pub key_prefix: String,
    /// Permissions.
    pub permissions: PermissionSet,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms or `null`.
    pub expires_at: Option<i64>,
    /// Override or `null`.
    pub rate_limit_override: Option<NonZeroU32>,
    /// `false` once revoked.
    pub is_active: bool,
    /// Unix ms, `null` if never used.
    pub last_used: Option<i64>,
}

impl From<&ApiKeyRecord> for ApiKeyListItem {
    fn from(r: &ApiKeyRecord) -> Self {
        Self {
            key_id: r.key_id,
            name: r.name.clone(),
            key_prefix: r.key_prefix.clone(),
            permissions: r.permissions,
            created_at: r.created_at,
            expires_at: r.expires_at,
            rate_limit_override: r.rate_limit_override,
            is_active: r.is_active,
            last_used: r.last_used,
        }
    }
}

/// The `200` body of `GET /api/api-keys`: `{"api_keys":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyList {
    /// The keys.
    pub api_keys: Vec<ApiKeyListItem>,
}

impl ApiKeyList {
    /// The listing of `records`, in the order given.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a ApiKeyRecord>) -> Self {
        Self {
            api_keys: records.into_iter().map(ApiKeyListItem::from).collect(),
        }
    }
}

/// A key's usage counters: admitted and refused (rate-limited) requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct UsageCounts {
    /// Requests admitted by the key's rate limit.
    pub requests: u64,
    /// Requests refused by it (`RATE_003`).
    pub rate_limited: u64,
}

/// Which usage counter a request increments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageOutcome {
    /// Admitted: `requests` += 1.
    Admitted,
    /// Refused by the rate limit: `rate_limited` += 1.
    RateLimited,
}

/// One entry of `GET /api/api-keys/usage`: `{key_id,name,requests,rate_limited,last_used}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyUsageItem {
    /// Public id.
    pub key_id: Uuid,
    /// Label.
    pub name: String,
    /// Admitted requests.
    pub requests: u64,
    /// Refused requests.
    pub rate_limited: u64,
    /// Unix ms or `null`.
    pub last_used: Option<i64>,
}

impl ApiKeyUsageItem {
    /// The usage entry of `record` with its `counts`.
    pub fn new(record: &ApiKeyRecord, counts: UsageCounts) -> Self {
        Self {
            key_id: record.key_id,
            name: record.name.clone(),
            requests: counts.requests,
            rate_limited: counts.rate_limited,
            last_used: record.last_used,
        }
    }
}

/// The `200` body of `GET /api/api-keys/usage`: `{"usage":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyUsageList {
    /// One entry per key.
    pub usage: Vec<ApiKeyUsageItem>,
}
