//! `ApiKeyStore` on SQL. The key itself is never stored: its HMAC (hex) and the salt id.
//! Same statement text on SQLite and PostgreSQL.

use std::num::NonZeroU32;

use cutty_core::api_key::{ApiKeyRecord, KeyHash, PermissionSet, SaltId};
use cutty_core::error::{StoreError, StoreErrorKind};

const COLUMNS: &str = "key_id, user_id, name, key_prefix, key_hash, salt_id, permissions, \
     created_at, expires_at, last_used, is_active, rate_limit_override";

pub(crate) const INSERT: &str = "INSERT INTO api_keys (key_id, user_id, name, key_prefix, key_hash, salt_id, \
     permissions, created_at, expires_at, last_used, is_active, rate_limit_override) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
pub(crate) fn q_by_hash() -> String {
    format!("SELECT {COLUMNS} FROM api_keys WHERE salt_id = $1 AND key_hash = $2")
}
pub(crate) fn q_by_id() -> String {
    format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1")
}
pub(crate) fn q_for_user() -> String {
    format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, key_id")
}
pub(crate) fn q_all() -> String {
    format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, key_id")
}
pub(crate) const REVOKE_BY_OWNER: &str =
    "UPDATE api_keys SET is_active = FALSE WHERE key_id = $1 AND user_id = $2 AND is_active";
pub(crate) const REVOKE_BY_ADMIN: &str =
    "UPDATE api_keys SET is_active = FALSE WHERE key_id = $1 AND is_active";
pub(crate) const TOUCH: &str = "UPDATE api_keys SET last_used = $2 \
     WHERE key_id = $1 AND (last_used IS NULL OR last_used < $2)";
pub(crate) const COUNT_ADMITTED: &str =
    "UPDATE api_keys SET requests = requests + 1 WHERE key_id = $1";
pub(crate) const COUNT_LIMITED: &str =
    "UPDATE api_keys SET rate_limited = rate_limited + 1 WHERE key_id = $1";
pub(crate) const USAGE: &str = "SELECT requests, rate_limited FROM api_keys WHERE key_id = $1";
pub(crate) const REHASH: &str =
    "UPDATE api_keys SET salt_id = $3, key_hash = $4 WHERE key_id = $1 AND salt_id = $2";

/// Permissions as stored: their contract strings joined by `,` (e.g. `files:read,list:process`).
pub(crate) fn permissions_text(p: PermissionSet) -> String {
    p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")
}

fn bad(what: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::SchemaMismatch, what)
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    key_id: String,
    user_id: i64,
    name: String,
    key_prefix: String,
    key_hash: String,
    salt_id: String,
    permissions: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used: Option<i64>,
    is_active: bool,
    rate_limit_override: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKeyRecord {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<Self, StoreError> {
        let permissions =
            PermissionSet::parse_list(r.permissions.split(',').filter(|s| !s.is_empty()))
                .map_err(|_| bad("api_keys.permissions holds an unknown permission"))?;
        let rate_limit_override = match r.rate_limit_override {
            None => None,
            Some(n) => Some(
                u32::try_from(n)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| bad("api_keys.rate_limit_override out of range"))?,
            ),
        };
        Ok(Self {
            key_id: r
                .key_id
                .parse()
                .map_err(|_| bad("api_keys.key_id is not a uuid"))?,
            user_id: r.user_id,
            name: r.name,
            key_prefix: r.key_prefix,
            key_hash: KeyHash::from_hex(&r.key_hash)
                .ok_or_else(|| bad("api_keys.key_hash is not 64 hex digits"))?,
            salt_id: SaltId::new(r.salt_id).map_err(|_| bad("api_keys.salt_id is invalid"))?,
            permissions,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used: r.last_used,
            is_active: r.is_active,
            rate_limit_override,
        })
    }
}

pub(crate) fn records(rows: Vec<ApiKeyRow>) -> Result<Vec<ApiKeyRecord>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Implements `ApiKeyStore` for a SQL store type with fields `pool` and `options`.
macro_rules! impl_api_key_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::api_key::ApiKeyStore for $store {
            async fn insert(
                &self,
                r: &cutty_core::api_key::ApiKeyRecord,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::api_keys::INSERT)
                    .bind(r.key_id.to_string())
                    .bind(r.user_id)
                    .bind(&r.name)
                    .bind(&r.key_prefix)
                    .bind(r.key_hash.to_hex())
                    .bind(r.salt_id.as_str())
                    .bind(crate::sql::api_keys::permissions_text(r.permissions))
                    .bind(r.created_at)
                    .bind(r.expires_at)
                    .bind(r.last_used)
                    .bind(r.is_active)
                    .bind(r.rate_limit_override.map(|n| i64::from(n.get())))
                    .execute(&self.pool);
                crate::sql::bounded("api_keys.insert", self.options.operation_timeout, fut).await?;
                Ok(())
            }

            async fn find_by_hash(
                &self,
                salt_id: &cutty_core::api_key::SaltId,
                key_hash: &cutty_core::api_key::KeyHash,
            ) -> Result<Option<cutty_core::api_key::ApiKeyRecord>, cutty_core::error::StoreError>
            {
                let q = crate::sql::api_keys::q_by_hash();
                let fut = sqlx::query_as::<_, crate::sql::api_keys::ApiKeyRow>(&q)
                    .bind(salt_id.as_str())
                    .bind(key_hash.to_hex())
                    .fetch_optional(&self.pool);
                crate::sql::bounded("api_keys.find_by_hash", self.options.operation_timeout, fut)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn get(
                &self,
                key_id: uuid::Uuid,
            ) -> Result<Option<cutty_core::api_key::ApiKeyRecord>, cutty_core::error::StoreError>
            {
                let q = crate::sql::api_keys::q_by_id();
                let fut = sqlx::query_as::<_, crate::sql::api_keys::ApiKeyRow>(&q)
                    .bind(key_id.to_string())
                    .fetch_optional(&self.pool);
                crate::sql::bounded("api_keys.get", self.options.operation_timeout, fut)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn list_for_user(
                &self,
                user_id: i64,
            ) -> Result<Vec<cutty_core::api_key::ApiKeyRecord>, cutty_core::error::StoreError> {
                let q = crate::sql::api_keys::q_for_user();
                let fut = sqlx::query_as::<_, crate::sql::api_keys::ApiKeyRow>(&q)
                    .bind(user_id)
                    .fetch_all(&self.pool);
                crate::sql::api_keys::records(
                    crate::sql::bounded(
                        "api_keys.list_for_user",
                        self.options.operation_timeout,
                        fut,
                    )
                    .await?,
                )
            }

            async fn list_all(
                &self,
            ) -> Result<Vec<cutty_core::api_key::ApiKeyRecord>, cutty_core::error::StoreError> {
                let q = crate::sql::api_keys::q_all();
                let fut =
                    sqlx::query_as::<_, crate::sql::api_keys::ApiKeyRow>(&q).fetch_all(&self.pool);
                crate::sql::api_keys::records(
                    crate::sql::bounded("api_keys.list_all", self.options.operation_timeout, fut)
                        .await?,
                )
            }

            async fn revoke(
                &self,
                key_id: uuid::Uuid,
                by: cutty_core::api_key::Revoker,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = match by {
                    cutty_core::api_key::Revoker::Owner(user_id) => {
                        sqlx::query(crate::sql::api_keys::REVOKE_BY_OWNER)
                            .bind(key_id.to_string())
                            .bind(user_id)
                            .execute(&self.pool)
                    }
                    cutty_core::api_key::Revoker::Admin => {
                        sqlx::query(crate::sql::api_keys::REVOKE_BY_ADMIN)
                            .bind(key_id.to_string())
                            .execute(&self.pool)
                    }
                };
                let done =
                    crate::sql::bounded("api_keys.revoke", self.options.operation_timeout, fut)
                        .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_last_used(
                &self,
                key_id: uuid::Uuid,
                at_unix_ms: i64,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::api_keys::TOUCH)
                    .bind(key_id.to_string())
                    .bind(at_unix_ms)
                    .execute(&self.pool);
                crate::sql::bounded(
                    "api_keys.record_last_used",
                    self.options.operation_timeout,
                    fut,
                )
                .await?;
                Ok(())
            }

            async fn record_usage(
                &self,
                key_id: uuid::Uuid,
                outcome: cutty_core::api_key::UsageOutcome,
            ) -> Result<(), cutty_core::error::StoreError> {
                let q = match outcome {
                    cutty_core::api_key::UsageOutcome::Admitted => {
                        crate::sql::api_keys::COUNT_ADMITTED
                    }
                    cutty_core::api_key::UsageOutcome::RateLimited => {
                        crate::sql::api_keys::COUNT_LIMITED
                    }
                };
                let fut = sqlx::query(q).bind(key_id.to_string()).execute(&self.pool);
                crate::sql::bounded("api_keys.record_usage", self.options.operation_timeout, fut)
                    .await?;
                Ok(())
            }

            async fn usage(
                &self,
                key_id: uuid::Uuid,
            ) -> Result<cutty_core::api_key::UsageCounts, cutty_core::error::StoreError> {
                let fut = sqlx::query_as::<_, (i64, i64)>(crate::sql::api_keys::USAGE)
                    .bind(key_id.to_string())
                    .fetch_optional(&self.pool);
                let (requests, rate_limited) =
                    crate::sql::bounded("api_keys.usage", self.options.operation_timeout, fut)
                        .await?
                        .unwrap_or((0, 0));
                Ok(cutty_core::api_key::UsageCounts {
                    requests: u64::try_from(requests).unwrap_or(0),
                    rate_limited: u64::try_from(rate_limited).unwrap_or(0),
                })
            }

            async fn rehash(
                &self,
                key_id: uuid::Uuid,
                old_salt_id: &cutty_core::api_key::SaltId,
                new_salt_id: &cutty_core::api_key::SaltId,
                new_hash: &cutty_core::api_key::KeyHash,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::api_keys::REHASH)
                    .bind(key_id.to_string())
                    .bind(old_salt_id.as_str())
                    .bind(new_salt_id.as_str())
                    .bind(new_hash.to_hex())
                    .execute(&self.pool);
                let done =
                    crate::sql::bounded("api_keys.rehash", self.options.operation_timeout, fut)
                        .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_api_key_store;
