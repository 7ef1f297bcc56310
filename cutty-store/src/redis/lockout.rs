//! [`LockoutStore`] on Redis: a versioned JSON blob, swapped by one Lua script.

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::lockout::{LockoutKey, LockoutState, LockoutStore, VersionedState};

use super::{RedisStore, as_int, clamp_ms, malformed};

/// Parses `"<version>:<expires_at_ms>:<json>"`.
fn decode(raw: &str) -> Result<VersionedState, StoreError> {
    let bad = || malformed("redis: lockout state");
    let mut parts = raw.splitn(3, ':');
    let version = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let _expires: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let state = serde_json::from_str(parts.next().ok_or_else(bad)?).map_err(|_| bad())?;
    Ok(VersionedState { state, version })
}

impl RedisStore {
    fn lockout_key(&self, key: &LockoutKey) -> String {
        self.key("lo", key.storage_key())
    }
}

#[async_trait::async_trait]
impl LockoutStore for RedisStore {
    async fn load(
        &self,
        key: &LockoutKey,
        now_ms: i64,
    ) -> Result<Option<VersionedState>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<String> = self
            .bounded(
                "redis: lockout load",
                ::redis::cmd("GET")
                    .arg(self.lockout_key(key))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(raw
            .as_deref()
            .map(decode)
            .transpose()?
            .filter(|v| v.state.is_live(now_ms)))
    }

    async fn compare_and_swap(
        &self,
        key: &LockoutKey,
        expected: Option<u64>,
        state: &LockoutState,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(state).map_err(|e| {
            StoreError::new(StoreErrorKind::SchemaMismatch, "redis: lockout encode").with_source(e)
        })?;
        let expires = clamp_ms(state.expires_at_ms);
        let now = clamp_ms(now_ms);
        let reply = self
            .run(
                "redis: lockout compare-and-swap",
                &self.scripts.lockout_cas,
                &[&self.lockout_key(key), &self.key("lo", "version")],
                &[
                    &expected.map(|v| v.to_string()).unwrap_or_default(),
                    &now.to_string(),
                    &json,
                    &expires.to_string(),
                    &self.ttl_ms(expires, now),
                ],
            )
            .await?;
        match as_int(&reply) {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(malformed("redis: lockout compare-and-swap reply")),
        }
    }

    async fn reset(&self, key: &LockoutKey) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.bounded::<i64>(
            "redis: lockout reset",
            ::redis::cmd("DEL")
                .arg(self.lockout_key(key))
                .query_async(&mut conn),
        )
        .await
        .map(drop)
    }
}
