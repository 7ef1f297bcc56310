//! [`MemoryEventStore`]: the newest security events in a bounded ring.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::event::{
    EventCount, EventPage, EventQuery, EventSink, EventStore, EventType, OutcomeCounts,
    SecurityEvent,
};

/// Default bound of [`MemoryEventStore::new`]: 100,000 events (tens of MB at most with
/// small `details`).
pub const DEFAULT_EVENT_CAPACITY: usize = 100_000;

/// An in-process [`EventStore`] holding at most `capacity` events: recording one more
/// drops the oldest recorded. Queries scan every held event (fine for tests and small
/// single-node deployments; use SQL for an audit trail).
#[derive(Debug)]
pub struct MemoryEventStore {
    capacity: usize,
    events: RwLock<VecDeque<SecurityEvent>>,
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new()
    }
}

fn poisoned() -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, "memory.events lock poisoned")
}

impl MemoryEventStore {
    /// An empty store bounded to [`DEFAULT_EVENT_CAPACITY`] events.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_EVENT_CAPACITY)
    }

    /// An empty store bounded to `capacity` events (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            events: RwLock::new(VecDeque::new()),
        }
    }

    /// How many events are held.
    pub fn len(&self) -> Result<usize, StoreError> {
        Ok(self.read()?.len())
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.read()?.is_empty())
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, VecDeque<SecurityEvent>>, StoreError> {
        self.events.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, VecDeque<SecurityEvent>>, StoreError> {
        self.events.write().map_err(|_| poisoned())
    }
}

#[async_trait]
impl EventSink for MemoryEventStore {
    async fn record(&self, event: &SecurityEvent) -> Result<(), StoreError> {
        let mut events = self.write()?;
        while events.len() >= self.capacity {
            events.pop_front();
        }
        events.push_back(event.clone());
        Ok(())
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn query(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let matching: Vec<SecurityEvent> = self
            .read()?
            .iter()
            .filter(|e| query.matches(e))
            .cloned()
            .collect();
        Ok(EventPage::from_candidates(matching, query.limit_usize()))
    }

    async fn counts_since(&self, since_ms: i64) -> Result<Vec<EventCount>, StoreError> {
        let mut by_type: BTreeMap<EventType, OutcomeCounts> = BTreeMap::new();
        for e in self.read()?.iter().filter(|e| e.timestamp >= since_ms) {
            let c = by_type.entry(e.event_type).or_default();
            if e.success {
                c.success += 1;
            } else {
                c.failure += 1;
            }
        }
        Ok(by_type
            .into_iter()
            .map(|(event_type, counts)| EventCount { event_type, counts })
            .collect())
    }

    async fn delete_older_than(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut events = self.write()?;
        let before = events.len();
        events.retain(|e| e.timestamp >= cutoff_ms);
        Ok((before - events.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutty_core::clock::FakeClock;

    #[tokio::test]
    async fn the_oldest_event_makes_room() {
        let store = MemoryEventStore::with_capacity(3);
        let clock = FakeClock::at_unix_ms(1_000);
        let events: Vec<_> = (0..5)
            .map(|_| SecurityEvent::new(&clock, EventType::Login, true))
            .collect();
        for e in &events {
            store.record(e).await.expect("record");
        }
        assert_eq!(store.len().expect("len"), 3);
        let page = store.query(&EventQuery::default()).await.expect("query");
        let mut held: Vec<_> = page.events.iter().map(|e| e.id).collect();
        held.sort();
        let mut want: Vec<_> = events[2..].iter().map(|e| e.id).collect();
        want.sort();
        assert_eq!(held, want);
    }
}
