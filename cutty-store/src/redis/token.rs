//! [`TokenStore`] on Redis: revocations and not-before marks with TTLs, refresh families
//! rotated atomically by a Lua script, and [`access_state`](TokenStore::access_state) in
//! one `MGET`.

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::token::{AccessState, FamilyId, FamilyState, Rotation, TokenStore};
use uuid::Uuid;

use super::{RedisStore, as_int, clamp_ms, malformed};

/// A revocation record (`expires_at_ms`) read at `now_ms`.
fn revoked_at(raw: Option<&str>, now_ms: i64) -> Result<bool, StoreError> {
    match raw {
        None => Ok(false),
        Some(s) => {
            let exp: i64 = s.parse().map_err(|_| malformed("redis: revocation"))?;
            Ok(exp > clamp_ms(now_ms))
        }
    }
}

/// A not-before mark (`"<not_before_ms>:<keep_until_ms>"`) read at `now_ms`.
fn mark_at(raw: Option<&str>, now_ms: i64) -> Result<Option<i64>, StoreError> {
    let Some(s) = raw else { return Ok(None) };
    let bad = || malformed("redis: not-before mark");
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    let nbf: i64 = a.parse().map_err(|_| bad())?;
    let keep: i64 = b.parse().map_err(|_| bad())?;
    Ok((keep > clamp_ms(now_ms)).then_some(nbf))
}

/// A family (`"<a|r>:<expires_at_ms>:<jti>:<user>"`) read at `now_ms`.
fn family_at(raw: Option<&str>, now_ms: i64) -> Result<FamilyState, StoreError> {
    let Some(s) = raw else {
        return Ok(FamilyState::Unknown);
    };
    let bad = || malformed("redis: refresh family");
    let mut parts = s.splitn(3, ':');
    let state = parts.next().ok_or_else(bad)?;
    let exp: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    if exp <= clamp_ms(now_ms) {
        return Ok(FamilyState::Unknown);
    }
    match state {
        "a" => Ok(FamilyState::Active),
        "r" => Ok(FamilyState::Revoked),
        _ => Err(bad()),
    }
}

impl RedisStore {
    fn revoked_key(&self, jti: Uuid) -> String {
        self.key("rev", jti.hyphenated())
    }

    fn mark_key(&self, user_id: &str) -> String {
        self.key("nbf", user_id)
    }

    fn family_key(&self, family: FamilyId) -> String {
        self.key("fam", family)
    }

    async fn get(&self, context: &'static str, key: String) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        self.bounded(context, ::redis::cmd("GET").arg(key).query_async(&mut conn))
            .await
    }
}

#[async_trait::async_trait]
impl TokenStore for RedisStore {
    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (exp, now) = (clamp_ms(expires_at_ms), clamp_ms(now_ms));
        self.run(
            "redis: revoke token",
            &self.scripts.revoke,
            &[&self.revoked_key(jti)],
            &[&exp.to_string(), &self.ttl_ms(exp, now)],
        )
        .await
        .map(drop)
    }

    async fn unrevoke_token(&self, jti: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let n: i64 = self
            .bounded(
                "redis: unrevoke token",
                ::redis::cmd("DEL")
                    .arg(self.revoked_key(jti))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(n > 0)
    }

    async fn is_token_revoked(&self, jti: Uuid, now_ms: i64) -> Result<bool, StoreError> {
        let raw = self
            .get("redis: revocation check", self.revoked_key(jti))
            .await?;
        revoked_at(raw.as_deref(), now_ms)
    }

    async fn raise_user_not_before(
        &self,
        user_id: &str,
        not_before_ms: i64,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.run(
            "redis: raise not-before",
            &self.scripts.not_before,
            &[&self.mark_key(user_id)],
            &[
                &clamp_ms(not_before_ms).to_string(),
                &clamp_ms(keep_until_ms).to_string(),
                &clamp_ms(now_ms).to_string(),
                &self.grace_ms.to_string(),
            ],
        )
        .await
        .map(drop)
    }

    async fn user_not_before(&self, user_id: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let raw = self
            .get("redis: not-before read", self.mark_key(user_id))
            .await?;
        mark_at(raw.as_deref(), now_ms)
    }

    async fn create_family(
        &self,
        family: FamilyId,
        user_id: &str,
        refresh_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (exp, now) = (clamp_ms(expires_at_ms), clamp_ms(now_ms));
        let value = format!("a:{exp}:{}:{user_id}", refresh_jti.hyphenated());
        let reply = self
            .run(
                "redis: create refresh family",
                &self.scripts.family_create,
                &[&self.family_key(family)],
                &[&value, &now.to_string(), &self.ttl_ms(exp, now)],
            )
            .await?;
        match as_int(&reply) {
            Some(1) => Ok(()),
            Some(0) => Err(StoreError::new(
                StoreErrorKind::Constraint,
                "redis: refresh family exists",
            )),
            _ => Err(malformed("redis: create refresh family reply")),
        }
    }

    async fn rotate_family(
        &self,
        family: FamilyId,
        presented_jti: Uuid,
        next_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<Rotation, StoreError> {
        let reply = self
            .run(
                "redis: rotate refresh family",
                &self.scripts.family_rotate,
                &[&self.family_key(family)],
                &[
                    &presented_jti.hyphenated().to_string(),
                    &next_jti.hyphenated().to_string(),
                    &clamp_ms(expires_at_ms).to_string(),
                    &clamp_ms(now_ms).to_string(),
                    &self.grace_ms.to_string(),
                ],
            )
            .await?;
        match as_int(&reply) {
            Some(0) => Ok(Rotation::Unknown),
            Some(1) => Ok(Rotation::Revoked),
            Some(2) => Ok(Rotation::Rotated),
            Some(3) => Ok(Rotation::Reused),
            _ => Err(malformed("redis: rotate refresh family reply")),
        }
    }

    async fn revoke_family(&self, family: FamilyId, now_ms: i64) -> Result<(), StoreError> {
        self.run(
            "redis: revoke refresh family",
            &self.scripts.family_revoke,
            &[&self.family_key(family)],
            &[&clamp_ms(now_ms).to_string()],
        )
        .await
        .map(drop)
    }

    async fn family_state(&self, family: FamilyId, now_ms: i64) -> Result<FamilyState, StoreError> {
        let raw = self
            .get("redis: refresh family read", self.family_key(family))
            .await?;
        family_at(raw.as_deref(), now_ms)
    }

    /// One `MGET` of the revocation, the user's mark and the family.
    async fn access_state(
        &self,
        jti: Uuid,
        user_id: &str,
        family: FamilyId,
        now_ms: i64,
    ) -> Result<AccessState, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Vec<Option<String>> = self
            .bounded(
                "redis: access state",
                ::redis::cmd("MGET")
                    .arg(self.revoked_key(jti))
                    .arg(self.mark_key(user_id))
                    .arg(self.family_key(family))
                    .query_async(&mut conn),
            )
            .await?;
        let [rev, mark, fam] = raw.as_slice() else {
            return Err(malformed("redis: access state reply"));
        };
        Ok(AccessState {
            token_revoked: revoked_at(rev.as_deref(), now_ms)?,
            user_not_before_ms: mark_at(mark.as_deref(), now_ms)?,
            family: family_at(fam.as_deref(), now_ms)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_expire_by_the_callers_clock() {
        assert!(revoked_at(Some("1000"), 999).unwrap());
        assert!(!revoked_at(Some("1000"), 1000).unwrap());
        assert!(revoked_at(Some("x"), 0).is_err());
        assert_eq!(mark_at(Some("-5:10"), 9).unwrap(), Some(-5));
        assert_eq!(mark_at(Some("-5:10"), 10).unwrap(), None);
        assert!(mark_at(Some("5"), 0).is_err());
        let fam = format!("r:10:{}:user:with:colons", Uuid::nil());
        assert_eq!(family_at(Some(&fam), 9).unwrap(), FamilyState::Revoked);
        assert_eq!(family_at(Some(&fam), 10).unwrap(), FamilyState::Unknown);
        assert!(family_at(Some("x:10:j:u"), 0).is_err());
    }
}
