//! Test helpers (feature `testing`): [`FakeTokenStore`], a short and complete in-memory
//! [`TokenStore`], and [`block_on`], a minimal executor for async tests without a runtime.
//!
//! The fake is also the reference for implementing the trait: every method is a few lines
//! over one mutex, which makes `rotate_family` trivially atomic.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use uuid::Uuid;

use super::{FamilyId, FamilyState, Rotation, TokenStore};
use crate::error::{StoreError, StoreErrorKind};

#[derive(Debug)]
struct Family {
    current: Uuid,
    revoked: bool,
    expires_at_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    revoked: HashMap<Uuid, i64>,
    marks: HashMap<String, (i64, i64)>,
    families: HashMap<FamilyId, Family>,
}

/// An in-memory [`TokenStore`] for tests, with a switch that makes every call fail (to test
/// that callers fail closed).
#[derive(Debug, Default)]
pub struct FakeTokenStore {
    state: Mutex<State>,
    failing: AtomicBool,
}

impl FakeTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every call fails with [`StoreErrorKind::Unavailable`] (or works again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many records (revoked jtis, marks, families) are held, expired or not.
    pub fn record_count(&self) -> usize {
        self.state
            .lock()
            .map(|s| s.revoked.len() + s.marks.len() + s.families.len())
            .unwrap_or(0)
    }

    /// Drops every record expired at `now_ms`, as a backend's TTL would.
    pub fn purge_expired(&self, now_ms: i64) {
        if let Ok(mut s) = self.state.lock() {
            s.revoked.retain(|_, exp| *exp > now_ms);
            s.marks.retain(|_, (_, keep)| *keep > now_ms);
            s.families.retain(|_, f| f.expires_at_ms > now_ms);
        }
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "fake store set to fail",
            ));
        }
        self.state
            .lock()
            .map_err(|_| StoreError::new(StoreErrorKind::Unavailable, "fake store poisoned"))
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl TokenStore for FakeTokenStore {
    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at_ms: i64,
        _now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let e = s.revoked.entry(jti).or_insert(expires_at_ms);
        *e = (*e).max(expires_at_ms);
        Ok(())
    }

    async fn unrevoke_token(&self, jti: Uuid) -> Result<bool, StoreError> {
        Ok(self.state()?.revoked.remove(&jti).is_some())
    }

    async fn is_token_revoked(&self, jti: Uuid, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self
            .state()?
            .revoked
            .get(&jti)
            .is_some_and(|exp| *exp > now_ms))
    }

    async fn raise_user_not_before(
        &self,
        user_id: &str,
        not_before_ms: i64,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let e = s
            .marks
            .entry(user_id.to_owned())
            .or_insert((not_before_ms, keep_until_ms));
        if e.1 <= now_ms {
            // An expired mark no longer counts: start afresh.
            *e = (not_before_ms, keep_until_ms);
        }
        *e = (e.0.max(not_before_ms), e.1.max(keep_until_ms));
        Ok(())
    }

    async fn user_not_before(&self, user_id: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        Ok(self
            .state()?
            .marks
            .get(user_id)
            .filter(|(_, keep)| *keep > now_ms)
            .map(|(mark, _)| *mark))
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
        if s.families
            .get(&family)
            .is_some_and(|f| f.expires_at_ms > now_ms)
        {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                "refresh family exists",
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
        let Some(f) = s
            .families
            .get_mut(&family)
            .filter(|f| f.expires_at_ms > now_ms)
        else {
            return Ok(Rotation::Unknown);
        };
        if f.revoked {
            return Ok(Rotation::Revoked);
        }
        if f.current == presented_jti {
            f.current = next_jti;
            f.expires_at_ms = f.expires_at_ms.max(expires_at_ms);
            Ok(Rotation::Rotated)
        } else {
            f.revoked = true;
            Ok(Rotation::Reused)
        }
    }

    async fn revoke_family(&self, family: FamilyId, now_ms: i64) -> Result<(), StoreError> {
        if let Some(f) = self
            .state()?
            .families
            .get_mut(&family)
            .filter(|f| f.expires_at_ms > now_ms)
        {
            f.revoked = true;
        }
        Ok(())
    }

    async fn family_state(&self, family: FamilyId, now_ms: i64) -> Result<FamilyState, StoreError> {
        Ok(
            match self
                .state()?
                .families
                .get(&family)
                .filter(|f| f.expires_at_ms > now_ms)
            {
                None => FamilyState::Unknown,
                Some(f) if f.revoked => FamilyState::Revoked,
                Some(_) => FamilyState::Active,
            },
        )
    }
}

/// Runs a future to completion on the current thread (a minimal executor for tests and
/// doc examples; Cutty itself never blocks).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Polls every future in `futures` concurrently on the current task, returning their outputs
/// in order (used by the conformance suite to race atomic operations).
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (fut, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
