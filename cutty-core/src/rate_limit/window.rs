//! The two-window sliding-window algorithm, computed in this one place for every store.

use std::num::{NonZeroU32, NonZeroU64};

use super::Decision;

/// The counters a store keeps for one key: the index of the fixed window they belong to,
/// the count admitted in that window and the count admitted in the window before it.
///
/// 16 bytes. Stores persist it verbatim and compare it for equality in
/// [`compare_and_swap`](super::RateLimitStore::compare_and_swap); they never interpret it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowState {
    /// `floor(time_ms / window_ms)` of the window `curr` counts.
    pub window: u64,
    /// Requests admitted in window `window - 1`.
    pub prev: u32,
    /// Requests admitted in window `window`.
    pub curr: u32,
}

/// The outcome of evaluating one request against a stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// What to answer.
    pub decision: Decision,
    /// The state to store when the request is admitted (`None` when it is refused: a
    /// refusal changes nothing, so a store needs no write for it).
    pub next: Option<WindowState>,
}

/// The sliding-window limit over windows of a fixed length: the algorithm of this module.
///
/// ```
/// use cutty_core::rate_limit::{Decision, SlidingWindow};
/// use std::num::NonZeroU32;
///
/// let window = SlidingWindow::from_secs(NonZeroU32::new(60).unwrap());
/// let limit = NonZeroU32::new(2).unwrap();
/// let first = window.evaluate(None, 1_000, limit);
/// assert_eq!(first.decision, Decision::Allowed { limit: 2, remaining: 1, reset: 60 });
/// let second = window.evaluate(first.next, 2_000, limit);
/// let third = window.evaluate(second.next, 3_000, limit);
/// assert!(!third.decision.is_allowed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlidingWindow {
    window_ms: NonZeroU64,
}

impl SlidingWindow {
    /// Windows of `secs` seconds.
    pub fn from_secs(secs: NonZeroU32) -> Self {
        let ms = u64::from(secs.get()) * 1000;
        Self {
            window_ms: NonZeroU64::new(ms).unwrap_or(NonZeroU64::MIN),
        }
    }

    /// The window length in milliseconds.
    pub fn window_ms(&self) -> u64 {
        self.window_ms.get()
    }

    /// The window length in whole seconds (the upper bound of every `reset`).
    pub fn window_secs(&self) -> u64 {
        self.window_ms.get().div_ceil(1000)
    }

    /// The index of the fixed window `now_ms` falls in.
    pub fn window_index(&self, now_ms: u64) -> u64 {
        now_ms / self.window_ms.get()
    }

    /// How long a stored state can matter: until the end of the window after `state.window`.
    /// Stores may drop the key once this has elapsed (a TTL); a state older than that is
    /// equivalent to no state.
    pub fn ttl_ms(&self, state: &WindowState, now_ms: u64) -> u64 {
        let w = self.window_ms.get();
        state
            .window
            .saturating_add(2)
            .saturating_mul(w)
            .saturating_sub(now_ms)
            .min(2 * w)
    }

    /// Whether `state` no longer affects any decision at `now_ms` (its windows have both
    /// slid out).
    pub fn is_idle(&self, state: &WindowState, now_ms: u64) -> bool {
        state.window.saturating_add(1) < self.window_index(now_ms)
    }

    /// Evaluates one request at `now_ms` against `stored`, for a limit of `limit` requests
    /// per window.
    ///
    /// The weighted count is `prev × (W − e) / W + curr` where `e` is the time elapsed in the
    /// current window; the request is admitted when that count plus one is at most `limit`.
    /// All arithmetic is exact integer arithmetic (scaled by `W`), so every backend that
    /// stores the same [`WindowState`] reaches the same decision.
    ///
    /// A clock that went backwards (a stored window later than `now_ms`'s) is treated as the
    /// very start of the stored window — the most conservative reading.
    pub fn evaluate(
        &self,
        stored: Option<WindowState>,
        now_ms: u64,
        limit: NonZeroU32,
    ) -> Evaluation {
        let w = self.window_ms.get();
        let k = now_ms / w;
        let mut e = now_ms % w;
        let (window, prev, curr) = match stored {
            None => (k, 0, 0),
            Some(s) if s.window == k => (k, s.prev, s.curr),
            Some(s) if s.window < k && s.window + 1 == k => (k, s.curr, 0),
            Some(s) if s.window < k => (k, 0, 0),
            Some(s) => {
                e = 0;
                (s.window, s.prev, s.curr)
            }
        };
        let wide_w = u128::from(w);
        let cap = u128::from(limit.get()) * wide_w;
        let used = u128::from(prev) * (wide_w - u128::from(e)) + u128::from(curr) * wide_w;
        let window_secs = self.window_secs();
        if used + wide_w <= cap {
            let after = used + wide_w;
            // `after >= W`, so `remaining <= limit - 1`.
            let remaining = (cap - after) / wide_w;
            let target = cap - (remaining + 1) * wide_w;
            let new_curr = curr.saturating_add(1);
            let wait = ms_until_at_most(prev, new_curr, e, w, target);
            Evaluation {
                decision: Decision::Allowed {
                    limit: limit.get(),
                    remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                    reset: ceil_secs(wait).min(window_secs),
                },
                next: Some(WindowState {
                    window,
                    prev,
                    curr: new_curr,
                }),
            }
        } else {
            let target = cap - wide_w;
            let wait = ms_until_at_most(prev, curr, e, w, target);
            let reset = ceil_secs(wait).clamp(1, window_secs.max(1));
            Evaluation {
                decision: Decision::Denied {
                    limit: limit.get(),
                    reset,
                    retry_after: reset,
                },
                next: None,
            }
        }
    }
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// The number of milliseconds from offset `e` until the scaled weighted count
/// `S(u) = prev·(W−u) + curr·W` (for `u < W`), `curr·(2W−u)` (for `W ≤ u < 2W`), `0` after,
/// drops to at most `target`, assuming no further admissions.
fn ms_until_at_most(prev: u32, curr: u32, e: u64, w: u64, target: u128) -> u64 {
    let (p, c, wide_w, e_w) = (
        u128::from(prev),
        u128::from(curr),
        u128::from(w),
        u128::from(e),
    );
    let now = p * (wide_w - e_w) + c * wide_w;
    if now <= target {
        return 0;
    }
    let u = if target >= c * wide_w {
        // Reached inside the current window; `now > target >= c·W` implies `p > 0`.
        wide_w - (target - c * wide_w) / p.max(1)
    } else {
        // `target < c·W` implies `c > 0`.
        2 * wide_w - target / c.max(1)
    };
    u64::try_from(u.saturating_sub(e_w)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn admits_limit_then_refuses_within_one_window() {
        let win = SlidingWindow::from_secs(nz(60));
        let mut state = None;
        for i in 0..5u32 {
            let ev = win.evaluate(state, 1_000 + u64::from(i), nz(5));
            assert_eq!(ev.decision.remaining(), 4 - i);
            state = ev.next;
        }
        let ev = win.evaluate(state, 2_000, nz(5));
        // Nothing in the previous window: the current count decays only after the window
        // ends and then needs W/L more, which is capped at the window.
        assert_eq!(
            ev.decision,
            Decision::Denied {
                limit: 5,
                reset: 60,
                retry_after: 60
            }
        );
        assert_eq!(ev.next, None);
    }

    #[test]
    fn previous_window_decays_linearly() {
        let win = SlidingWindow::from_secs(nz(60));
        let full = Some(WindowState {
            window: 0,
            prev: 0,
            curr: 10,
        });
        // Half-way through window 1 the 10 count as 5: five more are admitted.
        let mut state = full;
        let mut admitted = 0;
        for _ in 0..10 {
            let ev = win.evaluate(state, 90_000, nz(10));
            if let Some(n) = ev.next {
                state = Some(n);
                admitted += 1;
            }
        }
        assert_eq!(admitted, 5);
        // Refused: one slot frees when prev's weight drops by one request, 6 s later.
        let ev = win.evaluate(state, 90_000, nz(10));
        assert_eq!(ev.decision.reset(), 6);
        let later = win.evaluate(state, 96_000, nz(10));
        assert!(later.decision.is_allowed());
        let earlier = win.evaluate(state, 95_999, nz(10));
        assert!(!earlier.decision.is_allowed());
    }

    #[test]
    fn stale_state_is_empty_and_backward_clock_is_conservative() {
        let win = SlidingWindow::from_secs(nz(1));
        let s = WindowState {
            window: 5,
            prev: 3,
            curr: 3,
        };
        let ev = win.evaluate(Some(s), 7_000, nz(3));
        assert_eq!(ev.decision.remaining(), 2);
        assert!(win.is_idle(&s, 7_000));
        assert!(!win.is_idle(&s, 6_999));
        // Clock behind the stored window: evaluated at the stored window's start.
        let back = win.evaluate(Some(s), 1_000, nz(3));
        assert!(!back.decision.is_allowed());
        assert_eq!(win.ttl_ms(&s, 5_500), 1_500);
        assert_eq!(win.ttl_ms(&s, 0), 2_000);
    }

    #[test]
    fn the_worst_case_2l_minus_1_is_reachable() {
        // L at the very end of window 0, then L−1 at the very end of window 1: 2L−1 within
        // one window's length. This is the documented bound, and it is tight.
        let win = SlidingWindow::from_secs(nz(60));
        let l = 10;
        let mut state = None;
        let mut times = Vec::new();
        for t in [59_999u64; 10].into_iter().chain([119_998u64; 10]) {
            let ev = win.evaluate(state, t, nz(l));
            if let Some(n) = ev.next {
                state = Some(n);
                times.push(t);
            }
        }
        assert_eq!(times.len(), 2 * l as usize - 1);
        assert!(times.last().unwrap() - times.first().unwrap() < 60_000);
    }

    #[test]
    fn huge_limits_do_not_overflow() {
        let win = SlidingWindow::from_secs(nz(u32::MAX));
        let s = WindowState {
            window: 0,
            prev: u32::MAX - 1,
            curr: u32::MAX - 1,
        };
        let ev = win.evaluate(Some(s), u64::MAX, nz(u32::MAX));
        assert!(ev.decision.reset() <= win.window_secs());
        let ev = win.evaluate(Some(s), 1, nz(u32::MAX));
        assert!(ev.decision.reset() <= win.window_secs());
    }
}
