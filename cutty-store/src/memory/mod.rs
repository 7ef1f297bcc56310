//! In-process backends: everything in maps behind locks. For tests, examples and
//! single-node deployments that accept losing state on restart.

mod api_keys;
mod block_list;
mod events;
mod tokens;

pub use api_keys::MemoryApiKeyStore;
pub use block_list::MemoryBlockListStore;
pub use events::{DEFAULT_EVENT_CAPACITY, MemoryEventStore};
pub use tokens::MemoryTokenStore;

/// File metadata and contents in memory: cutty-core's stores (they pass the same
/// conformance suites here).
pub use cutty_core::file::{MemoryBlobStore, MemoryFileStore};
/// Lockout states in memory: cutty-core's bounded, sharded store (it passes the same
/// conformance suite here).
pub use cutty_core::lockout::MemoryLockoutStore;
/// Rate-limit counters in memory: cutty-core's bounded, sharded store (it passes the same
/// conformance suite here).
pub use cutty_core::rate_limit::{MemoryRateLimitStore, MemoryStoreConfig};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::user::{CreateUserError, NewUser, User, UserStore, fold_case};

/// Every store of a [`Cutty`](cutty_core::app::Cutty) in memory (users, tokens, API keys,
/// rate-limit counters with [`MemoryStoreConfig::default`], lockouts, block list, events),
/// each empty; no health probes. Replace fields to mix in other backends.
///
/// ```
/// let stores = cutty_store::memory::stores();
/// assert!(stores.health.is_empty());
/// ```
pub fn stores() -> cutty_core::app::Stores {
    cutty_core::app::Stores {
        users: Arc::new(MemoryUserStore::new()),
        tokens: Arc::new(MemoryTokenStore::new()),
        api_keys: Arc::new(MemoryApiKeyStore::new()),
        rate_limits: Arc::new(MemoryRateLimitStore::new(MemoryStoreConfig::default())),
        lockouts: Arc::new(MemoryLockoutStore::default()),
        block_list: Arc::new(MemoryBlockListStore::new()),
        events: Arc::new(MemoryEventStore::new()),
        health: Vec::new(),
    }
}

/// Users in memory, with case-folded unique indexes on username and email.
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    inner: RwLock<Users>,
}

#[derive(Debug, Default)]
struct Users {
    // Shared: an authenticated request takes its own reference, not a copy.
    by_id: HashMap<i64, Arc<User>>,
    by_username: HashMap<String, i64>,
    by_email: HashMap<String, i64>,
    last_id: i64,
}

fn poisoned() -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, "memory.users lock poisoned")
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn find_shared(&self, id: i64) -> Result<Option<Arc<User>>, StoreError> {
        Ok(self
            .inner
            .read()
            .map_err(|_| poisoned())?
            .by_id
            .get(&id)
            .cloned())
    }

    fn update(&self, id: i64, f: impl FnOnce(&mut User)) -> Result<bool, StoreError> {
        let mut users = self.inner.write().map_err(|_| poisoned())?;
        Ok(users
            .by_id
            .get_mut(&id)
            .map(|u| f(Arc::make_mut(u)))
            .is_some())
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, new: NewUser) -> Result<User, CreateUserError> {
        let mut users = self.inner.write().map_err(|_| poisoned())?;
        let (username_key, email_key) = (new.username_key(), new.email_key());
        if users.by_username.contains_key(&username_key) || users.by_email.contains_key(&email_key)
        {
            return Err(CreateUserError::AlreadyRegistered);
        }
        users.last_id += 1;
        let user = User {
            id: users.last_id,
            username: new.username,
            email: new.email,
            password_hash: new.password_hash,
            is_active: true,
            is_admin: new.is_admin,
            password_reset_required: false,
            created_at: new.created_at,
        };
        users.by_username.insert(username_key, user.id);
        users.by_email.insert(email_key, user.id);
        users.by_id.insert(user.id, Arc::new(user.clone()));
        Ok(user)
    }

    async fn find_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        Ok(self.find_shared(id)?.map(Arc::unwrap_or_clone))
    }

    async fn find_shared_by_id(&self, id: i64) -> Result<Option<Arc<User>>, StoreError> {
        self.find_shared(id)
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let key = fold_case(login);
        let users = self.inner.read().map_err(|_| poisoned())?;
        let id = users
            .by_username
            .get(&key)
            .or_else(|| users.by_email.get(&key));
        Ok(id
            .and_then(|id| users.by_id.get(id))
            .map(|u| User::clone(u)))
    }

    async fn update_password_hash(
        &self,
        id: i64,
        password_hash: &str,
        clear_reset_flag: bool,
    ) -> Result<bool, StoreError> {
        self.update(id, |u| {
            u.password_hash = password_hash.to_owned();
            if clear_reset_flag {
                u.password_reset_required = false;
            }
        })
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool, StoreError> {
        self.update(id, |u| u.is_active = active)
    }

    async fn set_password_reset_required(
        &self,
        id: i64,
        required: bool,
    ) -> Result<bool, StoreError> {
        self.update(id, |u| u.password_reset_required = required)
    }
}

/// The in-memory "database" is up whenever the process is.
#[async_trait]
impl cutty_core::app::HealthCheck for MemoryUserStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
