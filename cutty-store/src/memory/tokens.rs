//! [`MemoryTokenStore`]: revocations, marks and refresh families in maps under one mutex.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::token::{AccessState, FamilyId, FamilyState, Rotation, TokenStore};
use uuid::Uuid;

/// Records held before the first sweep of expired entries.
const MIN_SWEEP_AT: usize = 1024;

#[derive(Debug)]
struct Family {
    current: Uuid,
    revoked: bool,
    expires_at_ms: i64,
}

#[derive(Debug)]
struct State {
    revoked: HashMap<Uuid, i64>,
    /// user → (not_before_ms, keep_until_ms)
    marks: HashMap<String, (i64, i64)>,
    families: HashMap<FamilyId, Family>,
    /// Sweep expired records when the record count reaches this.
    sweep_at: usize,
}

impl Default for State {
    fn default() -> Self {
        Self {
            revoked: HashMap::new(),
            marks: HashMap::new(),
            families: HashMap::new(),
            sweep_at: MIN_SWEEP_AT,
        }
    }
}

impl State {
    fn len(&self) -> usize {
        self.revoked.len() + self.marks.len() + self.families.len()
    }

    fn purge(&mut self, now_ms: i64) {
        self.revoked.retain(|_, exp| *exp > now_ms);
        self.marks.retain(|_, (_, keep)| *keep > now_ms);
        self.families.retain(|_, f| f.expires_at_ms > now_ms);
    }

    /// Called after every insert: once the count doubles since the last sweep, drop what
    /// has expired at `now_ms`. Amortised O(1) per write; memory stays within twice the
    /// live records (plus [`MIN_SWEEP_AT`]).
    fn maybe_sweep(&mut self, now_ms: i64) {
        if self.len() >= self.sweep_at {
            self.purge(now_ms);
            self.sweep_at = (self.len() * 2).max(MIN_SWEEP_AT);
        }
    }

    fn is_token_revoked(&self, jti: Uuid, now_ms: i64) -> bool {
        self.revoked.get(&jti).is_some_and(|exp| *exp > now_ms)
    }

    fn user_not_before(&self, user_id: &str, now_ms: i64) -> Option<i64> {
        self.marks
            .get(user_id)
            .filter(|(_, keep)| *keep > now_ms)
            .map(|(nb, _)| *nb)
    }

    fn family_state(&mut self, family: FamilyId, now_ms: i64) -> FamilyState {
        match self.live_family(family, now_ms) {
            None => FamilyState::Unknown,
            Some(f) if f.revoked => FamilyState::Revoked,
            Some(_) => FamilyState::Active,
        }
    }

    fn live_family(&mut self, family: FamilyId, now_ms: i64) -> Option<&mut Family> {
        self.families
            .get_mut(&family)
            .filter(|f| f.expires_at_ms > now_ms)
    }
}

/// An in-process [`TokenStore`]. Every operation takes one mutex, which makes
/// `rotate_family` atomic. Expired records are swept as the store grows (and by
/// [`purge_expired`](Self::purge_expired)), so memory is bounded by the live records.
///
/// State is lost on restart: after a restart, revoked tokens that have not expired are
/// accepted again. Use SQLite, PostgreSQL or Redis where that matters.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    state: Mutex<State>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every record expired at `now_ms`; returns how many records remain.
    pub fn purge_expired(&self, now_ms: i64) -> Result<usize, StoreError> {
        let mut s = self.state()?;
        s.purge(now_ms);
        Ok(s.len())
    }

    /// How many records (revoked jtis, marks, families) are held, expired or not.
    pub fn record_count(&self) -> Result<usize, StoreError> {
        Ok(self.state()?.len())
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::new(StoreErrorKind::Unavailable, "memory.tokens poisoned"))
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let slot = s.revoked.entry(jti).or_insert(expires_at_ms);
        *slot = (*slot).max(expires_at_ms);
        s.maybe_sweep(now_ms);
        Ok(())
    }

    async fn unrevoke_token(&self, jti: Uuid) -> Result<bool, StoreError> {
        Ok(self.state()?.revoked.remove(&jti).is_some())
    }

    async fn is_token_revoked(&self, jti: Uuid, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self.state()?.is_token_revoked(jti, now_ms))
    }

    async fn raise_user_not_before(
        &self,
        user_id: &str,
        not_before_ms: i64,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        match s.marks.get_mut(user_id) {
            Some((nb, keep)) if *keep > now_ms => {
                *nb = (*nb).max(not_before_ms);
                *keep = (*keep).max(keep_until_ms);
            }
            _ => {
                s.marks
                    .insert(user_id.to_owned(), (not_before_ms, keep_until_ms));
            }
        }
        s.maybe_sweep(now_ms);
        Ok(())
    }

    async fn user_not_before(&self, user_id: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        Ok(self.state()?.user_not_before(user_id, now_ms))
    }

    async fn create_family(
        &self,
        family: FamilyId,
        _user_id: &str,
        refresh_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if s.live_family(family, now_ms).is_some() {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                "memory.tokens: family id exists",
            ));
        }
        s.families.insert(
            family,
            Family {
                current: refresh_jti,
                revoked: false,
                expires_at_ms,
            },
        );
        s.maybe_sweep(now_ms);
        Ok(())
    }

    async fn rotate_family(
        &self,
        family: FamilyId,
        presented_jti: Uuid,
        next_jti: Uuid,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<Rotation, StoreError> {
        let mut s = self.state()?;
        let Some(f) = s.live_family(family, now_ms) else {
            return Ok(Rotation::Unknown);
        };
        if f.revoked {
            return Ok(Rotation::Revoked);
        }
        if f.current == presented_jti {
            f.current = next_jti;
            f.expires_at_ms = expires_at_ms;
            Ok(Rotation::Rotated)
        } else {
            f.revoked = true;
            Ok(Rotation::Reused)
        }
    }

    async fn revoke_family(&self, family: FamilyId, _now_ms: i64) -> Result<(), StoreError> {
        if let Some(f) = self.state()?.families.get_mut(&family) {
            f.revoked = true;
        }
        Ok(())
    }

    async fn family_state(&self, family: FamilyId, now_ms: i64) -> Result<FamilyState, StoreError> {
        Ok(self.state()?.family_state(family, now_ms))
    }

    /// The three reads under one lock.
    async fn access_state(
        &self,
        jti: Uuid,
        user_id: &str,
        family: FamilyId,
        now_ms: i64,
    ) -> Result<AccessState, StoreError> {
        let mut state = self.state()?;
        Ok(AccessState {
            token_revoked: state.is_token_revoked(jti, now_ms),
            user_not_before_ms: state.user_not_before(user_id, now_ms),
            family: state.family_state(family, now_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_records_are_swept_as_the_store_grows() {
        let store = MemoryTokenStore::new();
        for i in 0..10_000i64 {
            // Each revocation expires 10 ms after it is made.
            store
                .revoke_token(Uuid::new_v4(), i + 10, i)
                .await
                .expect("revoke");
        }
        let held = store.record_count().expect("count");
        assert!(held <= 2 * MIN_SWEEP_AT, "held {held} records");
        assert_eq!(store.purge_expired(20_000).expect("purge"), 0);
    }
}
