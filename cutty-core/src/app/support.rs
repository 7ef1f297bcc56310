//! Internal helpers: audit writes that never fail a request, and an event throttle.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Counters, Cutty};
use crate::event::SecurityEvent;
use crate::user::USERNAME_MAX_CHARS;

/// Bounded memory of when an event was last written for a key, so a flood of refused
/// requests (rate-limited, bad tokens) writes one event per key per window instead of one
/// per request.
#[derive(Debug)]
pub(super) struct EventThrottle {
    window_ms: i64,
    last: Mutex<HashMap<String, i64>>,
}

/// Keys remembered by the throttle before it forgets them all.
const THROTTLE_CAPACITY: usize = 10_000;

impl EventThrottle {
    pub(super) fn new(window_ms: i64) -> Self {
        Self {
            window_ms: window_ms.max(1),
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether an event for `key` should be written at `now_ms` (and remember it if so).
    pub(super) fn admit(&self, key: String, now_ms: i64) -> bool {
        let mut map = match self.last.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(&at) = map.get(&key)
            && now_ms >= at
            && now_ms - at < self.window_ms
        {
            return false;
        }
        if map.len() >= THROTTLE_CAPACITY {
            let window = self.window_ms;
            map.retain(|_, at| now_ms.saturating_sub(*at) < window);
            if map.len() >= THROTTLE_CAPACITY {
                map.clear();
            }
        }
        map.insert(key, now_ms);
        true
    }
}

/// A login name as recorded in event details: at most [`USERNAME_MAX_CHARS`] characters
/// (longer input, which no account can have, is cut and marked with `…`), so a huge request
/// body cannot bloat the event store.
pub(super) fn shown_name(login: &str) -> String {
    match login.char_indices().nth(USERNAME_MAX_CHARS) {
        None => login.to_owned(),
        Some((cut, _)) => format!("{}…", &login[..cut]),
    }
}

impl Cutty {
    /// Writes `event`; a failure is counted, never returned.
    pub(super) async fn audit(&self, event: SecurityEvent) {
        if self.inner.events.record(&event).await.is_err() {
            Counters::bump(&self.inner.counters.event_write_failures);
        }
    }

    /// A new event stamped with the facade's clock.
    pub(super) fn event(
        &self,
        event_type: crate::event::EventType,
        success: bool,
    ) -> SecurityEvent {
        SecurityEvent::new(&self.inner.clock, event_type, success)
    }

    pub(super) fn now_ms(&self) -> i64 {
        self.inner.clock.now_unix_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_in_events() {
        assert_eq!(shown_name("alice"), "alice");
        let exact = "é".repeat(USERNAME_MAX_CHARS);
        assert_eq!(shown_name(&exact), exact);
        let long = shown_name(&"é".repeat(10_000));
        assert_eq!(long.chars().count(), USERNAME_MAX_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn throttle_admits_once_per_window_per_key() {
        let t = EventThrottle::new(1_000);
        assert!(t.admit("a".into(), 0));
        assert!(!t.admit("a".into(), 999));
        assert!(t.admit("b".into(), 999));
        assert!(t.admit("a".into(), 1_000));
        // A clock stepped back does not silence a key forever.
        assert!(t.admit("a".into(), 10));
    }
}
