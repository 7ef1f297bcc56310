//! Creating, authenticating and revoking keys: the logic over an [`ApiKeyStore`].

use std::fmt;
use std::num::NonZeroU32;

use rand::CryptoRng;
use uuid::Uuid;

use super::hash::ApiKeyHasher;
use super::key::ApiKey;
use super::permission::{Permission, PermissionSet};
use super::record::{ApiKeyRecord, CreateApiKeyRequest, CreatedApiKey};
use super::store::{ApiKeyStore, Revoker};
use crate::clock::Clock;
use crate::error::{Error, ErrorCode};

/// Proof that a request presented a valid, active, unexpired API key. Only
/// [`ApiKeyService::authenticate`] builds one.
///
/// It carries the key's permissions and never the admin role: API keys cannot call admin
/// endpoints, whoever owns them. Hosts should also pass the owner's rights through
/// [`ApiKeyPrincipal::limited_to_owner`] once they have loaded the owner (a JWT user holds
/// [`PermissionSet::ALL`] on its own resources, so today that changes nothing for an active
/// owner; it keeps "never more than its owner" true if owners ever lose rights).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyPrincipal {
    key_id: Uuid,
    user_id: i64,
    permissions: PermissionSet,
    rate_limit_override: Option<NonZeroU32>,
    rehashed: bool,
}

impl ApiKeyPrincipal {
    /// The key's id (the rate-limit and usage key).
    pub fn key_id(&self) -> Uuid {
        self.key_id
    }

    /// The owner.
    pub fn user_id(&self) -> i64 {
        self.user_id
    }

    /// The effective permissions.
    pub fn permissions(&self) -> PermissionSet {
        self.permissions
    }

    /// The key's own rate limit, replacing the default API-key limit.
    pub fn rate_limit_override(&self) -> Option<NonZeroU32> {
        self.rate_limit_override
    }

    /// Always `false`: an API key never carries the admin role.
    pub const fn is_admin(&self) -> bool {
        false
    }

    /// Whether this authentication migrated the stored hash to the current salt.
    pub fn was_rehashed(&self) -> bool {
        self.rehashed
    }

    /// `Ok` if the key holds `required`, else `API_005`.
    pub fn require(&self, required: Permission) -> Result<(), Error> {
        self.permissions.require(required)
    }

    /// The principal with its permissions intersected with what its owner holds.
    #[must_use]
    pub fn limited_to_owner(mut self, owner: PermissionSet) -> Self {
        self.permissions = self.permissions.intersection(owner);
        self
    }
}

impl fmt::Debug for ApiKeyPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyPrincipal")
            .field("key_id", &self.key_id)
            .field("user_id", &self.user_id)
            .field("permissions", &self.permissions)
            .field("rate_limit_override", &self.rate_limit_override)
            .finish()
    }
}

/// A key that has been generated, hashed and described but not yet stored. Built by
/// [`ApiKeyService::prepare`] (synchronously, so the RNG is never held across an `await`).
#[derive(Debug)]
pub struct NewApiKey {
    key: ApiKey,
    record: ApiKeyRecord,
}

impl NewApiKey {
    /// The record that will be stored (hash only).
    pub fn record(&self) -> &ApiKeyRecord {
        &self.record
    }
}

/// API-key operations over any [`ApiKeyStore`], with the salts and the clock.
#[derive(Debug)]
pub struct ApiKeyService<C> {
    hasher: ApiKeyHasher,
    clock: C,
}

impl<C: Clock> ApiKeyService<C> {
    /// A service hashing with `hasher` and reading time from `clock`.
    pub fn new(hasher: ApiKeyHasher, clock: C) -> Self {
        Self { hasher, clock }
    }

    /// The salts.
    pub fn hasher(&self) -> &ApiKeyHasher {
        &self.hasher
    }

    /// Validates `request` for `user_id` (whose rights are `owner_permissions`; a regular
    /// user holds [`PermissionSet::ALL`]), generates the key from `rng` (the OS CSPRNG in
    /// production), and builds its record under the current salt. `REQ_001` for bad values.
    pub fn prepare<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        user_id: i64,
        owner_permissions: PermissionSet,
        request: &CreateApiKeyRequest,
    ) -> Result<NewApiKey, Error> {
        let now = self.clock.now_unix_ms();
        let valid = request.validate(owner_permissions, now)?;
        let key = ApiKey::generate(rng);
        let mut id_bytes = [0u8; 16];
        rng.fill_bytes(&mut id_bytes);
        let key_id = uuid::Builder::from_random_bytes(id_bytes).into_uuid();
        let (salt_id, key_hash) = self.hasher.hash(&key);
        let record = ApiKeyRecord {
            key_id,
            user_id,
            name: valid.name,
            key_prefix: key.display_prefix().to_owned(),
            key_hash,
            salt_id,
            permissions: valid.permissions,
            created_at: now,
            expires_at: valid.expires_at,
            last_used: None,
            is_active: true,
            rate_limit_override: valid.rate_limit_override,
        };
        Ok(NewApiKey { key, record })
    }

    /// Stores a prepared key and returns the create response (the only time the key is
    /// shown).
    pub async fn create<S: ApiKeyStore + ?Sized>(
        &self,
        store: &S,
        new_key: NewApiKey,
    ) -> Result<CreatedApiKey, Error> {
        store.insert(&new_key.record).await?;
        Ok(CreatedApiKey::new(new_key.key, &new_key.record))
    }

    /// Authenticates a presented key (the value after `Bearer `):
    ///
    /// 1. [`ApiKey::parse`] — `API_001` before any store access;
    /// 2. HMAC under each known salt, current first, and a store look-up per salt until one
    ///    hits — none: `API_002`;
    /// 3. the stored hash is compared again in constant time (a store returning a wrong
    ///    record is treated as not found);
    /// 4. revoked/inactive: `API_004`; expired at the clock's now: `API_003`;
    /// 5. a hit under an older salt is migrated to the current salt
    ///    ([`ApiKeyStore::rehash`]);
    /// 6. `last_used` is recorded.
    pub async fn authenticate<S: ApiKeyStore + ?Sized>(
        &self,
        store: &S,
        presented: &str,
    ) -> Result<ApiKeyPrincipal, Error> {
        let key = ApiKey::parse(presented)?;
        let mut found = None;
        for (salt_id, hash) in self.hasher.candidates(&key) {
            if let Some(record) = store.find_by_hash(salt_id, &hash).await? {
                if record.key_hash.ct_eq(&hash) && &record.salt_id == salt_id {
                    found = Some(record);
                }
                break;
            }
        }
        let record = found.ok_or(Error::ApiKeyNotFound)?;
        if !record.is_active {
            return Err(Error::ApiKeyRevoked);
        }
        let now = self.clock.now_unix_ms();
        if record.is_expired_at(now) {
            return Err(Error::ApiKeyExpired);
        }
        let mut rehashed = false;
        if self.hasher.is_outdated(&record.salt_id) {
            let (new_salt, new_hash) = self.hasher.hash(&key);
            rehashed = store
                .rehash(record.key_id, &record.salt_id, &new_salt, &new_hash)
                .await?;
        }
        store.record_last_used(record.key_id, now).await?;
        Ok(ApiKeyPrincipal {
            key_id: record.key_id,
            user_id: record.user_id,
            permissions: record.permissions,
            rate_limit_override: record.rate_limit_override,
            rehashed,
        })
    }

    /// Revokes `key_id` on behalf of `by`. An unknown key, another user's key (for an
    /// owner) or an already revoked one is `404 REQ_004`.
    pub async fn revoke<S: ApiKeyStore + ?Sized>(
        &self,
        store: &S,
        key_id: Uuid,
        by: Revoker,
    ) -> Result<(), Error> {
        if store.revoke(key_id, by).await? {
            Ok(())
        } else {
            Err(Error::Code(ErrorCode::ResourceNotFound))
        }
    }
}
