//! [`TokioPasswordWork`]: password hashing on tokio's blocking pool, behind a semaphore.
//!
//! A PBKDF2 verification at Django's 600 000 iterations takes a few hundred milliseconds
//! of one core. Run on the async executor it would freeze every other request scheduled on
//! that worker thread; run on an unbounded blocking pool, a login flood would start hundreds
//! of hashing threads and starve everything else of CPU. This runs each hash on
//! [`tokio::task::spawn_blocking`] with at most `max_concurrent` at once; further requests
//! wait (asynchronously, holding no thread) for a permit, so a flood of logins queues behind
//! itself while health checks, token refreshes and API-key requests go on.
//!
//! The default bound is the number of cores ([`std::thread::available_parallelism`]): hashing
//! is CPU-bound, so more threads would not finish more hashes per second, only interleave
//! them. Choose fewer to keep cores free for other work.

use std::num::NonZeroUsize;
use std::sync::Arc;

use async_trait::async_trait;
use cutty_core::app::PasswordWork;
use cutty_core::error::{Error, ErrorCode};
use cutty_core::password::{PasswordHasher, Verification};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// [`PasswordWork`] on tokio's blocking pool, at most `max_concurrent` at once (see the
/// [module docs](self)). Must be used inside a tokio runtime.
#[derive(Debug, Clone)]
pub struct TokioPasswordWork {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
}

impl TokioPasswordWork {
    /// At most `max_concurrent` hashes at once (`0` is taken as `1`).
    pub fn new(max_concurrent: usize) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
        }
    }

    /// The default bound: the number of cores (1 if unknown).
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
    }

    /// The bound.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Hashes waiting for or holding a permit right now are not counted; this is the number
    /// of permits free at this instant (for metrics).
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `f` on the blocking pool once a permit is free. The work could not be done when
    /// the semaphore is closed or `f` panicked: `503 DB_001` (the service cannot do this
    /// now; nothing was changed).
    async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let unavailable = || Error::Code(ErrorCode::StoreUnavailable);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| unavailable())?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password work failed");
            unavailable()
        })
    }
}

impl Default for TokioPasswordWork {
    /// [`TokioPasswordWork::default_concurrency`] permits.
    fn default() -> Self {
        Self::new(Self::default_concurrency())
    }
}

#[async_trait]
impl PasswordWork for TokioPasswordWork {
    async fn hash(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
    ) -> Result<String, Error> {
        let hasher = hasher.clone();
        self.run(move || hasher.hash(&password)).await
    }

    async fn verify(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
        encoded: String,
    ) -> Result<Verification, Error> {
        let hasher = hasher.clone();
        self.run(move || hasher.verify(&password, &encoded))
            .await?
            .map_err(|_| Error::InvalidCredentials)
    }

    async fn dummy_verify(&self, hasher: &PasswordHasher, password: Zeroizing<String>) {
        let hasher = hasher.clone();
        // Nothing to report: the answer is "no match" whatever happens.
        let _ = self.run(move || hasher.dummy_verify(&password)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn hasher() -> PasswordHasher {
        PasswordHasher::new().with_iterations(1000).unwrap()
    }

    #[tokio::test]
    async fn hashes_and_verifies_like_the_hasher() {
        let work = TokioPasswordWork::new(2);
        let h = hasher();
        let encoded = work
            .hash(&h, Zeroizing::new("correct horse".into()))
            .await
            .unwrap();
        assert!(encoded.starts_with("pbkdf2_sha256$1000$"));
        let ok = work
            .verify(&h, Zeroizing::new("correct horse".into()), encoded.clone())
            .await
            .unwrap();
        assert!(ok.matches && !ok.must_update);
        let bad = work
            .verify(&h, Zeroizing::new("wrong".into()), encoded)
            .await
            .unwrap();
        assert!(!bad.matches);
        let malformed = work
            .verify(&h, Zeroizing::new("x".into()), "pbkdf2_sha256$x".into())
            .await;
        assert!(matches!(malformed, Err(Error::InvalidCredentials)));
        work.dummy_verify(&h, Zeroizing::new("x".into())).await;
        assert_eq!(work.available_permits(), 2);
    }

    #[test]
    fn zero_is_one_and_default_is_the_core_count() {
        assert_eq!(TokioPasswordWork::new(0).max_concurrent(), 1);
        assert_eq!(
            TokioPasswordWork::default().max_concurrent(),
            TokioPasswordWork::default_concurrency()
        );
    }

    /// With one permit and a flood of slow hashes queued, the executor stays free: a timer
    /// on the same (single-threaded) runtime fires long before one hash could finish, which
    /// an inline hash on the executor would not allow.
    #[tokio::test(flavor = "current_thread")]
    async fn a_flood_does_not_stall_the_executor() {
        let work = TokioPasswordWork::new(1);
        let slow = PasswordHasher::new().with_iterations(300_000).unwrap();
        let encoded = slow.hash("pw");
        let start = Instant::now();
        assert!(slow.verify("pw", &encoded).unwrap().matches);
        let one_hash = start.elapsed();
        let mut flood = Vec::new();
        for _ in 0..4 {
            let (w, h, e) = (work.clone(), slow.clone(), encoded.clone());
            flood.push(tokio::spawn(async move {
                w.verify(&h, Zeroizing::new("pw".into()), e).await
            }));
        }
        // Let every flood task start and queue on the semaphore.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        assert_eq!(work.available_permits(), 0, "one hash at a time");
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let waited = start.elapsed();
        assert!(
            waited < one_hash,
            "executor stalled {waited:?} (one hash: {one_hash:?})"
        );
        for f in flood {
            assert!(f.await.unwrap().unwrap().matches);
        }
        assert_eq!(work.available_permits(), 1);
    }
}
