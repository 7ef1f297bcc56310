//! API-key management endpoints (JWT callers only).

use std::net::IpAddr;

use serde_json::json;
use uuid::Uuid;

use super::{ApiKeyList, ApiKeyUsageList, Caller, CreateApiKeyRequest, CreatedApiKey, Cutty};
use crate::api_key::{ApiKeyRecord, ApiKeyUsageItem, PermissionSet, Revoker};
use crate::error::{Error, ErrorCode};
use crate::event::EventType;
use crate::user::User;

fn not_found() -> Error {
    Error::Code(ErrorCode::ResourceNotFound)
}

impl Cutty {
    /// `POST /api/api-keys` (201). `REQ_001` for bad values (an `expires_at` not in the
    /// future, unknown permissions, permissions the owner lacks); records `api_key_created`.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        req: CreateApiKeyRequest,
        ip: IpAddr,
    ) -> Result<CreatedApiKey, Error> {
        let u = caller.require_jwt()?;
        self.create_key_for(u.user(), &req, Some(ip), "api").await
    }

    /// Creates a key for `owner` (who holds every permission on its own resources) and
    /// records `api_key_created`.
    pub(super) async fn create_key_for(
        &self,
        owner: &User,
        req: &CreateApiKeyRequest,
        ip: Option<IpAddr>,
        via: &'static str,
    ) -> Result<CreatedApiKey, Error> {
        let keys = &self.inner.api_keys;
        // The thread-local RNG is not `Send`: draw the key before any `await`.
        let new_key = keys.prepare(&mut rand::rng(), owner.id, PermissionSet::ALL, req)?;
        let created = keys.create(&*self.inner.api_key_store, new_key).await?;
        let mut event = self
            .event(EventType::ApiKeyCreated, true)
            .with_user(owner.id)
            .with_details(json!({
                "key_id": created.key_id.to_string(),
                "key_prefix": created.key_prefix,
                "via": via,
            }));
        if let Some(ip) = ip {
            event = event.with_ip(ip);
        }
        self.audit(event).await;
        Ok(created)
    }

    /// `GET /api/api-keys` (200): the caller's keys, revoked ones included.
    pub async fn list_api_keys(&self, caller: &Caller) -> Result<ApiKeyList, Error> {
        let u = caller.require_jwt()?;
        let records = self.inner.api_key_store.list_for_user(u.user().id).await?;
        Ok(ApiKeyList::from_records(&records))
    }

    /// `DELETE /api/api-keys/{key_id}` (204): the owner's own key, or any key for an admin.
    /// Another user's, an unknown, a malformed or an already revoked id is `404 REQ_004`.
    pub async fn revoke_api_key(
        &self,
        caller: &Caller,
        key_id: &str,
        ip: IpAddr,
    ) -> Result<(), Error> {
        let u = caller.require_jwt()?;
        let by = if u.user().is_admin {
            Revoker::Admin
        } else {
            Revoker::Owner(u.user().id)
        };
        self.revoke_key(key_id, by, Some(u.user().id), Some(ip), "api")
            .await
    }

    /// Revokes `key_id` for `by` and records `api_key_revoked`.
    pub(super) async fn revoke_key(
        &self,
        key_id: &str,
        by: Revoker,
        actor: Option<i64>,
        ip: Option<IpAddr>,
        via: &'static str,
    ) -> Result<(), Error> {
        let id = Uuid::parse_str(key_id.trim()).map_err(|_| not_found())?;
        self.inner
            .api_keys
            .revoke(&*self.inner.api_key_store, id, by)
            .await?;
        let mut event = self
            .event(EventType::ApiKeyRevoked, true)
            .with_details(json!({ "key_id": id.to_string(), "via": via }));
        if let Some(actor) = actor {
            event = event.with_user(actor);
        }
        if let Some(ip) = ip {
            event = event.with_ip(ip);
        }
        self.audit(event).await;
        Ok(())
    }

    /// `GET /api/api-keys/usage` (200): the caller's keys; every key for an admin.
    pub async fn api_key_usage(&self, caller: &Caller) -> Result<ApiKeyUsageList, Error> {
        let u = caller.require_jwt()?;
        let store = &self.inner.api_key_store;
        let records = if u.user().is_admin {
            store.list_all().await?
        } else {
            store.list_for_user(u.user().id).await?
        };
        self.usage_of(&records).await
    }

    async fn usage_of(&self, records: &[ApiKeyRecord]) -> Result<ApiKeyUsageList, Error> {
        let store = &self.inner.api_key_store;
        let mut usage = Vec::with_capacity(records.len());
        for record in records {
            let counts = store.usage(record.key_id).await?;
            usage.push(ApiKeyUsageItem::new(record, counts));
        }
        Ok(ApiKeyUsageList { usage })
    }
}
