//! Injected time.
//!
//! Cutty never reads the system clock ad hoc: every component that needs the time takes a
//! [`Clock`]. Two readings are offered because they answer different questions:
//!
//! * [`Clock::now_unix_ms`] — wall-clock time as integer Unix milliseconds (the unit of the
//!   contract's `created_at`, `expires_at` and `timestamp`). Token `iat`/`exp`, API-key
//!   expiry, lockout windows persisted in a store and security events use it.
//! * [`Clock::monotonic_ns`] — a monotonic reading for in-process limiters, immune to the
//!   wall clock being stepped.
//!
//! [`SystemClock`] reads the operating system; [`FakeClock`] is shared, atomic and moved
//! only by the test that owns it, so expiry, windows and lockouts are tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A source of time. Implementations must be cheap: the rate limiter reads the clock on every
/// request.
pub trait Clock: Send + Sync {
    /// Wall-clock time as Unix milliseconds.
    fn now_unix_ms(&self) -> i64;

    /// Monotonic time in nanoseconds since an arbitrary, fixed origin.
    fn monotonic_ns(&self) -> u64;

    /// Wall-clock time as whole Unix seconds (the unit of JWT `iat`, `nbf` and `exp`).
    fn now_unix_secs(&self) -> i64 {
        self.now_unix_ms().div_euclid(1000)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_unix_ms(&self) -> i64 {
        (**self).now_unix_ms()
    }
    fn monotonic_ns(&self) -> u64 {
        (**self).monotonic_ns()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_unix_ms(&self) -> i64 {
        (**self).now_unix_ms()
    }
    fn monotonic_ns(&self) -> u64 {
        (**self).monotonic_ns()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now_unix_ms(&self) -> i64 {
        (**self).now_unix_ms()
    }
    fn monotonic_ns(&self) -> u64 {
        (**self).monotonic_ns()
    }
}

/// The operating system's clocks: [`std::time::SystemTime`] and [`std::time::Instant`].
///
/// Not available on `wasm32-unknown-unknown`, where `std` has no clock; the Worker host
/// provides its own [`Clock`] there.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl SystemClock {
    fn origin() -> std::time::Instant {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(std::time::Instant::now)
    }
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl Clock for SystemClock {
    fn now_unix_ms(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn monotonic_ns(&self) -> u64 {
        u64::try_from(Self::origin().elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// ```
/// use cutty_core::clock::{Clock, FakeClock};
/// use std::time::Duration;
///
/// let clock = FakeClock::at_unix_ms(1_700_000_000_000);
/// let seen_by_component = clock.clone();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(seen_by_component.now_unix_ms(), 1_700_000_090_000);
/// assert_eq!(seen_by_component.monotonic_ns(), 90_000_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    inner: Arc<FakeClockState>,
}

#[derive(Debug, Default)]
struct FakeClockState {
    wall_ms: AtomicI64,
    mono_ns: AtomicU64,
}

impl FakeClock {
    /// A fake clock whose wall time starts at `unix_ms` and whose monotonic time starts at 0.
    pub fn at_unix_ms(unix_ms: i64) -> Self {
        let clock = Self::default();
        clock.inner.wall_ms.store(unix_ms, Ordering::SeqCst);
        clock
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.wall_ms.fetch_add(ms, Ordering::SeqCst);
        self.inner.mono_ns.fetch_add(ns, Ordering::SeqCst);
    }

    /// Steps only the wall clock (as NTP might), leaving monotonic time alone. Negative
    /// values step it backwards.
    pub fn step_wall_ms(&self, by_ms: i64) {
        self.inner.wall_ms.fetch_add(by_ms, Ordering::SeqCst);
    }

    /// Sets the wall clock to `unix_ms`, leaving monotonic time alone.
    pub fn set_unix_ms(&self, unix_ms: i64) {
        self.inner.wall_ms.store(unix_ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_unix_ms(&self) -> i64 {
        self.inner.wall_ms.load(Ordering::SeqCst)
    }

    fn monotonic_ns(&self) -> u64 {
        self.inner.mono_ns.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020_and_monotonic() {
        let c = SystemClock;
        assert!(c.now_unix_ms() > 1_577_836_800_000);
        let a = c.monotonic_ns();
        let b = c.monotonic_ns();
        assert!(b >= a);
    }

    #[test]
    fn fake_clock_steps_wall_without_monotonic() {
        let c = FakeClock::at_unix_ms(10_000);
        c.step_wall_ms(-5_000);
        assert_eq!(c.now_unix_ms(), 5_000);
        assert_eq!(c.monotonic_ns(), 0);
        assert_eq!(c.now_unix_secs(), 5);
        c.set_unix_ms(-1);
        assert_eq!(c.now_unix_secs(), -1);
    }
}
