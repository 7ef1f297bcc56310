//! In-memory reference stores for the facade's tests, each with a "fail every call" switch,
//! and a counting [`PasswordWork`]. The conformance suites of their traits run against them
//! (below), so the facade is tested over stores that behave like the real ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ipnet::IpNet;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::api_key::{
    ApiKeyRecord, ApiKeyStore, KeyHash, Revoker, SaltId, UsageCounts, UsageOutcome,
};
use crate::app::{HealthCheck, InlinePasswordWork, PasswordWork};
use crate::error::{Error, StoreError, StoreErrorKind};
use crate::event::{
    EventCount, EventPage, EventQuery, EventSink, EventStore, EventType, OutcomeCounts,
    SecurityEvent,
};
use crate::ip_block::{BlockEntry, BlockListStore};
use crate::password::{PasswordHasher, Verification};
use crate::user::{CreateUserError, NewUser, User, UserStore, fold_case};

fn down() -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, "fake store set to fail")
}

/// A failure switch shared by the fakes.
#[derive(Debug, Default)]
pub(super) struct Switch(AtomicBool);

impl Switch {
    pub(super) fn set(&self, failing: bool) {
        self.0.store(failing, Ordering::SeqCst);
    }
    fn check(&self) -> Result<(), StoreError> {
        if self.0.load(Ordering::SeqCst) {
            Err(down())
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct MemUsers {
    users: Mutex<Vec<User>>,
    pub(super) failing: Switch,
}

impl MemUsers {
    fn with(&self, id: i64, f: impl FnOnce(&mut User)) -> bool {
        let mut users = self.users.lock().unwrap();
        users.iter_mut().find(|u| u.id == id).map(f).is_some()
    }

    pub(super) fn get(&self, id: i64) -> Option<User> {
        self.users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.id == id)
            .cloned()
    }

    /// Replaces the stored hash directly (to plant old-format or broken hashes).
    pub(super) fn set_hash(&self, id: i64, hash: &str) {
        self.with(id, |u| u.password_hash = hash.to_owned());
    }

    pub(super) fn delete(&self, id: i64) {
        self.users.lock().unwrap().retain(|u| u.id != id);
    }
}

#[async_trait::async_trait]
impl UserStore for MemUsers {
    async fn create(&self, u: NewUser) -> Result<User, CreateUserError> {
        self.failing.check()?;
        let mut users = self.users.lock().unwrap();
        let (uk, ek) = (u.username_key(), u.email_key());
        if users
            .iter()
            .any(|x| fold_case(&x.username) == uk || fold_case(&x.email) == ek)
        {
            return Err(CreateUserError::AlreadyRegistered);
        }
        let user = User {
            id: users.iter().map(|u| u.id).max().unwrap_or(0) + 1,
            username: u.username,
            email: u.email,
            password_hash: u.password_hash,
            is_active: true,
            is_admin: u.is_admin,
            password_reset_required: false,
            created_at: u.created_at,
        };
        users.push(user.clone());
        Ok(user)
    }
    async fn find_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        self.failing.check()?;
        Ok(self.get(id))
    }
    async fn find_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        self.failing.check()?;
        let key = fold_case(login);
        let users = self.users.lock().unwrap();
        Ok(users
            .iter()
            .find(|u| fold_case(&u.username) == key)
            .or_else(|| users.iter().find(|u| fold_case(&u.email) == key))
            .cloned())
    }
    async fn update_password_hash(
        &self,
        id: i64,
        h: &str,
        clear: bool,
    ) -> Result<bool, StoreError> {
        self.failing.check()?;
        Ok(self.with(id, |u| {
            u.password_hash = h.to_owned();
            if clear {
                u.password_reset_required = false;
            }
        }))
    }
    async fn set_active(&self, id: i64, active: bool) -> Result<bool, StoreError> {
        self.failing.check()?;
        Ok(self.with(id, |u| u.is_active = active))
    }
    async fn set_password_reset_required(&self, id: i64, r: bool) -> Result<bool, StoreError> {
        self.failing.check()?;
        Ok(self.with(id, |u| u.password_reset_required = r))
    }
}

#[derive(Debug, Default)]
pub(super) struct MemKeys {
    records: Mutex<Vec<ApiKeyRecord>>,
    usage: Mutex<HashMap<Uuid, UsageCounts>>,
    pub(super) failing_usage: Switch,
}

#[async_trait::async_trait]
impl ApiKeyStore for MemKeys {
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut s = self.records.lock().unwrap();
        if s.iter().any(|r| {
            r.key_id == record.key_id
                || (r.salt_id == record.salt_id && r.key_hash == record.key_hash)
        }) {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                "api_keys unique",
            ));
        }
        s.push(record.clone());
        Ok(())
    }
    async fn find_by_hash(
        &self,
        salt_id: &SaltId,
        key_hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .find(|r| &r.salt_id == salt_id && &r.key_hash == key_hash)
            .cloned())
    }
    async fn get(&self, key_id: Uuid) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.key_id == key_id)
            .cloned())
    }
    async fn list_for_user(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut v: Vec<_> = self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.user_id == user_id)
            .cloned()
            .collect();
        v.sort_by_key(|r| (r.created_at, r.key_id));
        Ok(v)
    }
    async fn list_all(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut v = self.records.lock().unwrap().clone();
        v.sort_by_key(|r| (r.created_at, r.key_id));
        Ok(v)
    }
    async fn revoke(&self, key_id: Uuid, by: Revoker) -> Result<bool, StoreError> {
        let mut s = self.records.lock().unwrap();
        let Some(r) = s.iter_mut().find(|r| r.key_id == key_id) else {
            return Ok(false);
        };
        let allowed = match by {
            Revoker::Admin => true,
            Revoker::Owner(u) => r.user_id == u,
        };
        if !allowed || !r.is_active {
            return Ok(false);
        }
        r.is_active = false;
        Ok(true)
    }
    async fn record_last_used(&self, key_id: Uuid, at: i64) -> Result<(), StoreError> {
        if let Some(r) = self
            .records
            .lock()
            .unwrap()
            .iter_mut()
            .find(|r| r.key_id == key_id)
        {
            r.last_used = Some(r.last_used.map_or(at, |t| t.max(at)));
        }
        Ok(())
    }
    async fn record_usage(&self, key_id: Uuid, outcome: UsageOutcome) -> Result<(), StoreError> {
        self.failing_usage.check()?;
        if !self
            .records
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.key_id == key_id)
        {
            return Ok(());
        }
        let mut u = self.usage.lock().unwrap();
        let c = u.entry(key_id).or_default();
        match outcome {
            UsageOutcome::Admitted => c.requests += 1,
            UsageOutcome::RateLimited => c.rate_limited += 1,
        }
        Ok(())
    }
    async fn usage(&self, key_id: Uuid) -> Result<UsageCounts, StoreError> {
        Ok(self
            .usage
            .lock()
            .unwrap()
            .get(&key_id)
            .copied()
            .unwrap_or_default())
    }
    async fn rehash(
        &self,
        key_id: Uuid,
        old: &SaltId,
        new_salt: &SaltId,
        new_hash: &KeyHash,
    ) -> Result<bool, StoreError> {
        let mut s = self.records.lock().unwrap();
        match s
            .iter_mut()
            .find(|r| r.key_id == key_id && &r.salt_id == old)
        {
            Some(r) => {
                r.salt_id = new_salt.clone();
                r.key_hash = *new_hash;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct MemBlocks {
    inner: Mutex<(u64, BTreeMap<IpNet, BlockEntry>)>,
    pub(super) failing: Switch,
    pub(super) version_calls: AtomicUsize,
}

#[async_trait::async_trait]
impl BlockListStore for MemBlocks {
    async fn add(&self, entry: &BlockEntry) -> Result<(), StoreError> {
        self.failing.check()?;
        let mut g = self.inner.lock().unwrap();
        g.0 += 1;
        g.1.insert(entry.network, entry.clone());
        Ok(())
    }
    async fn remove(&self, network: &IpNet) -> Result<bool, StoreError> {
        self.failing.check()?;
        let mut g = self.inner.lock().unwrap();
        let removed = g.1.remove(network).is_some();
        if removed {
            g.0 += 1;
        }
        Ok(removed)
    }
    async fn list(&self) -> Result<Vec<BlockEntry>, StoreError> {
        self.failing.check()?;
        Ok(self.inner.lock().unwrap().1.values().cloned().collect())
    }
    async fn version(&self) -> Result<u64, StoreError> {
        self.version_calls.fetch_add(1, Ordering::SeqCst);
        self.failing.check()?;
        Ok(self.inner.lock().unwrap().0)
    }
    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.failing.check()?;
        let mut g = self.inner.lock().unwrap();
        let before = g.1.len();
        g.1.retain(|_, e| e.is_active(now_ms));
        let n = (before - g.1.len()) as u64;
        if n > 0 {
            g.0 += 1;
        }
        Ok(n)
    }
}

#[derive(Debug, Default)]
pub(super) struct MemEvents {
    events: Mutex<Vec<SecurityEvent>>,
    pub(super) failing: Switch,
}

impl MemEvents {
    pub(super) fn all(&self) -> Vec<SecurityEvent> {
        self.events.lock().unwrap().clone()
    }

    pub(super) fn of(&self, t: EventType) -> Vec<SecurityEvent> {
        self.all()
            .into_iter()
            .filter(|e| e.event_type == t)
            .collect()
    }
}

#[async_trait::async_trait]
impl EventSink for MemEvents {
    async fn record(&self, event: &SecurityEvent) -> Result<(), StoreError> {
        self.failing.check()?;
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventStore for MemEvents {
    async fn query(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let all: Vec<_> = self
            .all()
            .into_iter()
            .filter(|e| query.matches(e))
            .collect();
        Ok(EventPage::from_candidates(all, query.limit_usize()))
    }
    async fn counts_since(&self, since_ms: i64) -> Result<Vec<EventCount>, StoreError> {
        let mut m: BTreeMap<EventType, OutcomeCounts> = BTreeMap::new();
        for e in self.all().iter().filter(|e| e.timestamp >= since_ms) {
            let c = m.entry(e.event_type).or_default();
            if e.success {
                c.success += 1;
            } else {
                c.failure += 1;
            }
        }
        Ok(m.into_iter()
            .map(|(event_type, counts)| EventCount { event_type, counts })
            .collect())
    }
    async fn delete_older_than(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut g = self.events.lock().unwrap();
        let before = g.len();
        g.retain(|e| e.timestamp >= cutoff_ms);
        Ok((before - g.len()) as u64)
    }
}

/// A health probe that is up or down on command.
#[derive(Debug, Default)]
pub(super) struct FakeProbe {
    pub(super) down: Switch,
}

#[async_trait::async_trait]
impl HealthCheck for FakeProbe {
    async fn ping(&self) -> Result<(), StoreError> {
        self.down.check()
    }
}

/// [`InlinePasswordWork`] that counts what it was asked to do.
#[derive(Debug, Default)]
pub(super) struct CountingWork {
    pub(super) hashes: AtomicUsize,
    pub(super) verifies: AtomicUsize,
    pub(super) dummies: AtomicUsize,
}

impl CountingWork {
    pub(super) fn counts(&self) -> (usize, usize, usize) {
        (
            self.hashes.load(Ordering::SeqCst),
            self.verifies.load(Ordering::SeqCst),
            self.dummies.load(Ordering::SeqCst),
        )
    }
}

#[async_trait::async_trait]
impl PasswordWork for CountingWork {
    async fn hash(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
    ) -> Result<String, Error> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        InlinePasswordWork.hash(hasher, password).await
    }
    async fn verify(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
        encoded: String,
    ) -> Result<Verification, Error> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        InlinePasswordWork.verify(hasher, password, encoded).await
    }
    async fn dummy_verify(&self, hasher: &PasswordHasher, password: Zeroizing<String>) {
        self.dummies.fetch_add(1, Ordering::SeqCst);
        InlinePasswordWork.dummy_verify(hasher, password).await
    }
}

#[cfg(test)]
mod conformance {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn the_fakes_pass_their_traits_conformance_suites() {
        block_on(crate::user::conformance::run_all(&MemUsers::default()));
        block_on(crate::api_key::conformance::run_all(&MemKeys::default()));
        block_on(crate::ip_block::conformance::run_all(&MemBlocks::default()));
        block_on(crate::event::conformance::run_all(&MemEvents::default()));
    }
}
