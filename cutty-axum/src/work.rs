//! [`TokioPasswordWork`]: password hashing on a small pool of dedicated, low-priority
//! threads, behind a semaphore.
//!
//! A PBKDF2 verification at Django's 600 000 iterations takes a few hundred milliseconds
//! of one core. Run on the async executor it would freeze every other request scheduled on
//! that worker thread; run on an unbounded blocking pool, a login flood would start hundreds
//! of hashing threads and starve everything else of CPU. This runs each hash on one of
//! `max_concurrent` threads of its own (`cutty-hash-N`), at most `max_concurrent` at once;
//! further requests wait (asynchronously, holding no thread) for a permit, so a flood of
//! logins queues behind itself.
//!
//! # Priority
//! Bounding the pool is not enough on a machine with few cores: the hashing threads and the
//! executor's threads share the CPU, and the scheduler gives each runnable thread its turn,
//! so while a flood keeps every hashing thread busy, every other request could wait behind a
//! time slice of hashing. On Linux the hashing threads therefore lower their own priority
//! ([`HashingPriority`], see [`TokioPasswordWork::with_priority`]). The default is nice
//! [`DEFAULT_NICENESS`]: the executor's threads run first whenever they have work, hashing
//! takes the CPU time that is left, and still gets about a tenth of a core that other work
//! keeps busy, so logins slow down under load but never stall.
//!
//! [`HashingPriority::Idle`] (the `SCHED_IDLE` policy) goes further: any other thread that
//! wakes up takes the CPU from a hash at once, where under Linux's EEVDF scheduler a woken
//! thread may otherwise wait out part of the running hash's time slice (about 3 ms). The
//! price: a hash then runs only when no ordinary thread wants the CPU (an idle-policy thread
//! gets about 0.3 % of a busy core), so on a host kept busy by other work logins nearly
//! stop. In the login-flood benchmark (BENCHMARKS.md) the two were within the noise of each
//! other, the tail there being the disk, so the default stays the one that cannot starve.
//! [`HashingPriority::Normal`] leaves the threads alone. Elsewhere than Linux the setting is
//! ignored.
//!
//! The default bound is the number of cores ([`std::thread::available_parallelism`]): hashing
//! is CPU-bound, so more threads would not finish more hashes per second, only interleave
//! them. Choose fewer to keep cores free for other work.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cutty_core::app::PasswordWork;
use cutty_core::error::{Error, ErrorCode};
use cutty_core::password::{PasswordHasher, Verification};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// The nice value hashing threads take by default on Linux (0 is the default of any thread,
/// 19 the lowest priority).
pub const DEFAULT_NICENESS: i32 = 10;

/// How the hashing threads give way to the rest of the process (Linux; see the
/// [module docs](self#priority)). The default is `Nice(DEFAULT_NICENESS)`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashingPriority {
    /// The normal policy at this nice value (clamped to 1..=19): about 10 % of a busy core
    /// at nice 10, but a woken request may wait for part of a hash's time slice.
    Nice(i32),
    /// The `SCHED_IDLE` policy: any other thread preempts a hash as soon as it wakes up;
    /// hashing uses only the CPU time no one else wants.
    Idle,
    /// The threads keep the priority they were started with.
    Normal,
}

type Job = Box<dyn FnOnce() + Send>;

/// [`PasswordWork`] on dedicated low-priority threads, at most `max_concurrent` at once
/// (see the [module docs](self)). Cheap to clone: clones share the pool, whose threads end
/// when the last clone is dropped. `hash`/`verify` must be awaited inside a tokio runtime.
#[derive(Debug, Clone)]
pub struct TokioPasswordWork {
    pool: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    priority: HashingPriority,
    jobs: Sender<Job>,
}

impl TokioPasswordWork {
    /// At most `max_concurrent` hashes at once (`0` is taken as `1`), on threads at the
    /// default [`HashingPriority`].
    pub fn new(max_concurrent: usize) -> Self {
        Self::with_priority(max_concurrent, HashingPriority::default())
    }

    /// At most `max_concurrent` hashes at once, on threads at `priority` (a nice value is
    /// clamped to 1..=19: a thread may lower its priority, not raise it). Linux only;
    /// elsewhere `priority` is ignored.
    ///
    /// A thread that cannot be started is logged and left out; if none can be, every hash
    /// answers `503 DB_001`. A thread whose priority cannot be lowered logs a warning and
    /// hashes at its default priority.
    pub fn with_priority(max_concurrent: usize, priority: HashingPriority) -> Self {
        let max_concurrent = max_concurrent.max(1);
        let priority = match priority {
            HashingPriority::Nice(n) => HashingPriority::Nice(n.clamp(1, 19)),
            other => other,
        };
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..max_concurrent {
            let queue = Arc::clone(&queue);
            let started = std::thread::Builder::new()
                .name(format!("cutty-hash-{i}"))
                .spawn(move || worker(&queue, priority));
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            pool: Arc::new(Pool {
                permits: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                priority,
                jobs,
            }),
        }
    }

    /// The default bound: the number of cores (1 if unknown).
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
    }

    /// The bound.
    pub fn max_concurrent(&self) -> usize {
        self.pool.max_concurrent
    }

    /// The priority of the hashing threads (applied on Linux only).
    pub fn priority(&self) -> HashingPriority {
        self.pool.priority
    }

    /// Hashes waiting for or holding a permit right now are not counted; this is the number
    /// of permits free at this instant (for metrics).
    pub fn available_permits(&self) -> usize {
        self.pool.permits.available_permits()
    }

    /// Runs `f` on a hashing thread once a permit is free. The work could not be done when
    /// no thread is left or `f` panicked: `503 DB_001` (the service cannot do this now;
    /// nothing was changed).
    async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let unavailable = || Error::Code(ErrorCode::StoreUnavailable);
        let permit = Arc::clone(&self.pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| unavailable())?;
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = catch_unwind(AssertUnwindSafe(f));
            // The permit is free again before the waiter hears the answer.
            drop(permit);
            let _ = done.send(out.ok());
        });
        self.pool.jobs.send(job).map_err(|_| {
            tracing::error!("password work failed: no hashing thread is running");
            unavailable()
        })?;
        match answer.await {
            Ok(Some(out)) => Ok(out),
            _ => {
                tracing::error!("password work failed: the hashing job panicked");
                Err(unavailable())
            }
        }
    }
}

impl Default for HashingPriority {
    fn default() -> Self {
        Self::Nice(DEFAULT_NICENESS)
    }
}

/// A hashing thread: lowers its priority, then runs jobs until every sender is gone.
fn worker(queue: &Mutex<Receiver<Job>>, priority: HashingPriority) {
    lower_priority(priority);
    loop {
        // The lock is held only while waiting for the next job, never while running it.
        let next = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Applies `priority` to the calling thread (on Linux both the policy and the nice value
/// belong to the thread, not the process).
#[cfg(target_os = "linux")]
fn lower_priority(priority: HashingPriority) {
    use thread_priority::ThreadPriority;
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let result = match priority {
        HashingPriority::Normal => return,
        HashingPriority::Idle => set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        )
        .map_err(|e| format!("{e:?}")),
        HashingPriority::Nice(n) => {
            let tid = rustix::thread::gettid();
            rustix::process::setpriority_process(Some(tid), n).map_err(|e| e.to_string())
        }
    };
    if let Err(error) = result {
        tracing::warn!(%error, ?priority, "cannot lower the priority of a hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_priority: HashingPriority) {}

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

    /// With every hashing thread busy and more work queued, the executor stays free: a task
    /// on the same single-threaded runtime runs to completion while the hashing threads are
    /// held (no clock involved).
    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_pool_does_not_stall_the_executor() {
        let work = TokioPasswordWork::new(1);
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = {
            let w = work.clone();
            tokio::spawn(async move { w.run(move || held.recv().is_ok()).await })
        };
        let queued = {
            let w = work.clone();
            tokio::spawn(async move { w.run(|| 7).await })
        };
        while work.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        // The pool is saturated; this task must still run.
        let other = tokio::spawn(async { 40 + 2 });
        assert_eq!(other.await.unwrap(), 42);
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        assert_eq!(work.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_is_unavailable_and_the_pool_goes_on() {
        let work = TokioPasswordWork::new(1);
        let r = work.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(Error::Code(ErrorCode::StoreUnavailable))));
        assert_eq!(work.run(|| 5).await.unwrap(), 5);
        assert_eq!(work.available_permits(), 1);
    }

    /// The calling thread's scheduling policy and nice value.
    #[cfg(target_os = "linux")]
    fn current_priority() -> (thread_priority::unix::ThreadSchedulePolicy, i32) {
        let policy = thread_priority::unix::thread_schedule_policy().unwrap();
        let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        (policy, nice)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_chosen_priority() {
        use thread_priority::unix::{NormalThreadSchedulePolicy as P, ThreadSchedulePolicy as S};
        let mine = current_priority();
        assert_ne!(mine.0, S::Normal(P::Idle));

        let default = TokioPasswordWork::new(1);
        assert_eq!(default.priority(), HashingPriority::Nice(DEFAULT_NICENESS));
        assert_eq!(
            default.run(current_priority).await.unwrap(),
            (mine.0, DEFAULT_NICENESS)
        );

        let idle = TokioPasswordWork::with_priority(1, HashingPriority::Idle);
        assert_eq!(
            idle.run(current_priority).await.unwrap().0,
            S::Normal(P::Idle)
        );

        let nice = TokioPasswordWork::with_priority(1, HashingPriority::Nice(7));
        assert_eq!(nice.run(current_priority).await.unwrap(), (mine.0, 7));

        let normal = TokioPasswordWork::with_priority(1, HashingPriority::Normal);
        assert_eq!(normal.run(current_priority).await.unwrap(), mine);

        // The caller's own thread is untouched.
        assert_eq!(current_priority(), mine);
        let clamp = |n| TokioPasswordWork::with_priority(1, HashingPriority::Nice(n)).priority();
        assert_eq!(clamp(99), HashingPriority::Nice(19));
        assert_eq!(clamp(-5), HashingPriority::Nice(1));
    }
}
