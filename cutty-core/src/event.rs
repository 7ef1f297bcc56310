//! Security events: the audit record, its query, metrics and retention.
//!
//! * [`SecurityEvent`] serialises exactly as the contract's
//!   `{id, timestamp, event_type, user_id, ip_address, success, details}`; `id` is a UUID
//!   string, `timestamp` Unix ms, `ip_address` a canonical IP string or `null`.
//! * [`EventType`] — the contract's types, parsed strictly (exact lower-case names).
//! * [`EventQuery`] — the filters of `GET /api/analytics/security/events`, parsed from
//!   decoded query-string pairs by [`EventQuery::from_pairs`]; every bad value is a
//!   `400 REQ_001` naming its field.
//! * [`EventSink`] (write) and [`EventStore`] (query, per-type counts, retention delete).
//! * [`security_metrics`] builds the metrics response; [`apply_retention`] the clean-up.
//!
//! # Order and cursors
//! Events are returned **newest first**, ordered by `(timestamp, id)` descending, where ids
//! compare by their 16 bytes (equivalently by the lower-case hyphenated string). That order
//! is total, so paging is stable even when many events share a millisecond. A cursor names
//! the last event of a page: it is the URL-safe, unpadded base64 of 24 bytes — the
//! timestamp as a big-endian `i64` followed by the id's 16 bytes — 32 characters in all. The
//! next page holds the events strictly after it in that order. `next_cursor` is `null` when
//! no event follows. A cursor is not tied to the filters; reusing one with other filters
//! simply continues from its position.
//!
//! # Query parameter rules
//! `event_type` (a known type), `user_id` (integer), `ip_address` (IP address; IPv4-mapped
//! IPv6 matches IPv4), `success` (`true` or `false`), `since`/`until` (integer ms, both
//! inclusive, `since <= until`), `limit` (1–500, default 50), `cursor`. An empty value, a
//! repeated parameter and every malformed value are refused; unknown parameters are ignored
//! (hosts may add their own). Pairs are taken already percent-decoded.
//!
//! ```
//! use cutty_core::event::{EventQuery, EventType, SecurityEvent};
//! use cutty_core::clock::FakeClock;
//!
//! let q = EventQuery::from_pairs([("event_type", "login"), ("success", "false"), ("limit", "10")]).unwrap();
//! assert_eq!((q.event_type, q.success, q.limit), (Some(EventType::Login), Some(false), 10));
//! assert!(EventQuery::from_pairs([("event_type", "LOGIN")]).is_err()); // REQ_001
//!
//! let clock = FakeClock::at_unix_ms(1_700_000_000_000);
//! let e = SecurityEvent::new(&clock, EventType::Login, false)
//!     .with_ip("::ffff:192.0.2.1".parse().unwrap())
//!     .with_details(serde_json::json!({"username": "alice"}));
//! let json = serde_json::to_value(&e).unwrap();
//! assert_eq!(json["ip_address"], "192.0.2.1");
//! assert_eq!(json["user_id"], serde_json::Value::Null);
//! assert!(q.matches(&e));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::{Error, FieldViolation, StoreError};

/// Default page size of the events query.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of the events query.
pub const MAX_LIMIT: u32 = 500;
/// Default retention, days (`CUTTY_EVENT_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The kind of a security event. Serialised as its snake_case name.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A registration (success) or refused registration.
    Registration,
    /// A login; failed logins are `login` with `success=false`.
    Login,
    /// A logout.
    Logout,
    /// A refresh-token rotation.
    TokenRefresh,
    /// A used refresh token presented again (its family is revoked).
    RefreshReuse,
    /// A token refused as invalid.
    TokenInvalid,
    /// A request refused by a rate limit.
    RateLimit,
    /// A username or IP locked after failed logins.
    Lockout,
    /// An IP or range blocked by an admin.
    IpBlocked,
    /// An IP or range unblocked by an admin.
    IpUnblocked,
    /// An API key created.
    ApiKeyCreated,
    /// An API key revoked.
    ApiKeyRevoked,
    /// All tokens of a user invalidated.
    TokensInvalidated,
    /// A password changed.
    PasswordChanged,
}

impl EventType {
    /// Every type, in declaration order.
    pub const ALL: &'static [EventType] = &[
        Self::Registration,
        Self::Login,
        Self::Logout,
        Self::TokenRefresh,
        Self::RefreshReuse,
        Self::TokenInvalid,
        Self::RateLimit,
        Self::Lockout,
        Self::IpBlocked,
        Self::IpUnblocked,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::TokensInvalidated,
        Self::PasswordChanged,
    ];

    /// The wire name, e.g. `"token_refresh"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Login => "login",
            Self::Logout => "logout",
            Self::TokenRefresh => "token_refresh",
            Self::RefreshReuse => "refresh_reuse",
            Self::TokenInvalid => "token_invalid",
            Self::RateLimit => "rate_limit",
            Self::Lockout => "lockout",
            Self::IpBlocked => "ip_blocked",
            Self::IpUnblocked => "ip_unblocked",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::TokensInvalidated => "tokens_invalidated",
            Self::PasswordChanged => "password_changed",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown event-type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type")]
pub struct UnknownEventType;

impl FromStr for EventType {
    type Err = UnknownEventType;
    /// Exact, case-sensitive match of a wire name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownEventType)
    }
}

/// One audited decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityEvent {
    /// Unique id (UUID v4).
    pub id: Uuid,
    /// When it happened, Unix ms.
    pub timestamp: i64,
    /// What happened.
    pub event_type: EventType,
    /// The user concerned, if known.
    pub user_id: Option<i64>,
    /// The client IP, canonical (IPv4-mapped IPv6 as IPv4), if known.
    pub ip_address: Option<IpAddr>,
    /// Whether the action succeeded.
    pub success: bool,
    /// Free-form detail (an object; never secrets, passwords or tokens).
    pub details: serde_json::Value,
}

impl SecurityEvent {
    /// A new event stamped with `clock`'s wall time and a fresh id; `details` is `{}`.
    pub fn new(clock: &impl Clock, event_type: EventType, success: bool) -> Self {
        Self {
            id: Uuid::new_v4(),
            timestamp: clock.now_unix_ms(),
            event_type,
            user_id: None,
            ip_address: None,
            success,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the user.
    pub fn with_user(mut self, user_id: i64) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// Sets the client IP (canonicalised).
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip_address = Some(ip.to_canonical());
        self
    }

    /// Sets the details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// This event's position in the newest-first order.
    pub fn cursor(&self) -> EventCursor {
        EventCursor {
            timestamp: self.timestamp,
            id: self.id,
        }
    }
}

/// A position in the newest-first order: the last event of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventCursor {
    /// The event's timestamp.
    pub timestamp: i64,
    /// The event's id.
    pub id: Uuid,
}

impl EventCursor {
    /// The opaque string form (32 URL-safe base64 characters).
    pub fn encode(&self) -> String {
        let mut raw = [0u8; 24];
        raw[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        raw[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses [`encode`](Self::encode)'s output; anything else is `None`.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() != 32 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
        let ts: [u8; 8] = raw.get(..8)?.try_into().ok()?;
        let id: [u8; 16] = raw.get(8..)?.try_into().ok()?;
        Some(Self {
            timestamp: i64::from_be_bytes(ts),
            id: Uuid::from_bytes(id),
        })
    }

    /// Whether `event` comes after this cursor in newest-first order (strictly older).
    pub fn precedes(&self, event: &SecurityEvent) -> bool {
        event.cursor() < *self
    }
}

/// The filters of `GET /api/analytics/security/events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Only this type.
    pub event_type: Option<EventType>,
    /// Only this user.
    pub user_id: Option<i64>,
    /// Only this client IP (canonical).
    pub ip_address: Option<IpAddr>,
    /// Only successes or only failures.
    pub success: Option<bool>,
    /// Only events at or after this time, Unix ms (inclusive).
    pub since: Option<i64>,
    /// Only events at or before this time, Unix ms (inclusive).
    pub until: Option<i64>,
    /// Page size, 1–500.
    pub limit: u32,
    /// Continue after this position.
    pub cursor: Option<EventCursor>,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            event_type: None,
            user_id: None,
            ip_address: None,
            success: None,
            since: None,
            until: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

const QUERY_FIELDS: [&str; 8] = [
    "event_type",
    "user_id",
    "ip_address",
    "success",
    "since",
    "until",
    "limit",
    "cursor",
];

impl EventQuery {
    /// Parses decoded query-string pairs; see the module docs for the rules. All problems
    /// are reported at once as `REQ_001` with one violation per field.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut q = Self::default();
        let mut seen = [false; QUERY_FIELDS.len()];
        let mut errors: Vec<FieldViolation> = Vec::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            let Some(slot) = QUERY_FIELDS.iter().position(|f| *f == k) else {
                continue;
            };
            let field = QUERY_FIELDS[slot];
            if std::mem::replace(&mut seen[slot], true) {
                errors.push(FieldViolation::new(field, "given more than once"));
                continue;
            }
            if v.is_empty() {
                errors.push(FieldViolation::new(field, "must not be empty"));
                continue;
            }
            let bad = |msg: &'static str| FieldViolation::new(field, msg);
            let result = match field {
                "event_type" => v
                    .parse()
                    .map(|t| q.event_type = Some(t))
                    .map_err(|_| bad("unknown event type")),
                "user_id" => parse_int(v)
                    .map(|n| q.user_id = Some(n))
                    .ok_or_else(|| bad("must be an integer")),
                "ip_address" => IpAddr::from_str(v)
                    .map(|ip| q.ip_address = Some(ip.to_canonical()))
                    .map_err(|_| bad("must be an IP address")),
                "success" => match v {
                    "true" => Ok(Some(true)),
                    "false" => Ok(Some(false)),
                    _ => Err(bad("must be true or false")),
                }
                .map(|b| q.success = b),
                "since" => parse_int(v)
                    .map(|n| q.since = Some(n))
                    .ok_or_else(|| bad("must be an integer (Unix milliseconds)")),
                "until" => parse_int(v)
                    .map(|n| q.until = Some(n))
                    .ok_or_else(|| bad("must be an integer (Unix milliseconds)")),
                "limit" => parse_int(v)
                    .filter(|n| (1..=i64::from(MAX_LIMIT)).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .map(|n| q.limit = n)
                    .ok_or_else(|| bad("must be an integer from 1 to 500")),
                _ => EventCursor::decode(v)
                    .map(|c| q.cursor = Some(c))
                    .ok_or_else(|| bad("malformed cursor")),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if let (Some(s), Some(u)) = (q.since, q.until)
            && s > u
        {
            errors.push(FieldViolation::new("since", "must not be after until"));
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(Error::InvalidRequest(errors))
        }
    }

    /// Whether `event` passes every filter and lies after the cursor.
    pub fn matches(&self, event: &SecurityEvent) -> bool {
        self.event_type.is_none_or(|t| t == event.event_type)
            && self.user_id.is_none_or(|u| event.user_id == Some(u))
            && self
                .ip_address
                .is_none_or(|ip| event.ip_address.map(|e| e.to_canonical()) == Some(ip))
            && self.success.is_none_or(|s| s == event.success)
            && self.since.is_none_or(|s| event.timestamp >= s)
            && self.until.is_none_or(|u| event.timestamp <= u)
            && self.cursor.is_none_or(|c| c.precedes(event))
    }

    /// The page size as `usize`.
    pub fn limit_usize(&self) -> usize {
        usize::try_from(self.limit.clamp(1, MAX_LIMIT)).unwrap_or(50)
    }
}

/// Strict decimal integer: optional `-`, digits only, no `+`, no spaces, at most 19 digits.
fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// One page of events, serialised as `{"events":[…],"next_cursor":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// Newest first.
    pub events: Vec<SecurityEvent>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl EventPage {
    /// Builds a page from matching events (any order). Give it at least `limit + 1` of the
    /// newest matches (or all of them) so it can tell whether another page follows.
    pub fn from_candidates(mut candidates: Vec<SecurityEvent>, limit: usize) -> Self {
        candidates.sort_unstable_by_key(|e| std::cmp::Reverse(e.cursor()));
        let more = candidates.len() > limit;
        candidates.truncate(limit);
        let next_cursor = if more {
            candidates.last().map(|e| e.cursor().encode())
        } else {
            None
        };
        Self {
            events: candidates,
            next_cursor,
        }
    }
}

/// Success and failure counts of one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// Events with `success = true`.
    pub success: u64,
    /// Events with `success = false`.
    pub failure: u64,
}

/// Counts per type from [`EventStore::counts_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCount {
    /// The type.
    pub event_type: EventType,
    /// Its counts.
    pub counts: OutcomeCounts,
}

/// The body of `GET /api/analytics/security/metrics`.
///
/// Every known type appears in both maps, with zeros when it had no events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityMetrics {
    /// Events with `timestamp >= now - 1 h`.
    pub last_hour: BTreeMap<EventType, OutcomeCounts>,
    /// Events with `timestamp >= now - 24 h`.
    pub last_day: BTreeMap<EventType, OutcomeCounts>,
    /// Block-list entries in force (from [`crate::ip_block::BlockList::active_count`]).
    pub blocked_ips: u64,
}

/// Where events are written. Recording must not fail the request it audits; hosts log a
/// store error and carry on.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait EventSink: Send + Sync {
    /// Stores one event.
    async fn record(&self, event: &SecurityEvent) -> Result<(), StoreError>;
}

/// A queryable event store.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait EventStore: EventSink {
    /// One page of events matching `query`, newest first (see the module docs for order
    /// and cursors). [`EventQuery::matches`] and [`EventPage::from_candidates`] implement
    /// the semantics for simple backends.
    async fn query(&self, query: &EventQuery) -> Result<EventPage, StoreError>;

    /// Success/failure counts per type of events with `timestamp >= since_ms`. Types with no
    /// events may be omitted.
    async fn counts_since(&self, since_ms: i64) -> Result<Vec<EventCount>, StoreError>;

    /// Deletes events with `timestamp < cutoff_ms`; returns how many.
    async fn delete_older_than(&self, cutoff_ms: i64) -> Result<u64, StoreError>;
}

fn fold_counts(counts: Vec<EventCount>) -> BTreeMap<EventType, OutcomeCounts> {
    let mut map: BTreeMap<EventType, OutcomeCounts> = EventType::ALL
        .iter()
        .map(|t| (*t, OutcomeCounts::default()))
        .collect();
    for c in counts {
        let slot = map.entry(c.event_type).or_default();
        slot.success = slot.success.saturating_add(c.counts.success);
        slot.failure = slot.failure.saturating_add(c.counts.failure);
    }
    map
}

/// Builds the metrics response at `now_ms`; `blocked_ips` comes from the block list.
pub async fn security_metrics<S: EventStore + ?Sized>(
    store: &S,
    now_ms: i64,
    blocked_ips: u64,
) -> Result<SecurityMetrics, StoreError> {
    let last_hour = fold_counts(store.counts_since(now_ms.saturating_sub(HOUR_MS)).await?);
    let last_day = fold_counts(store.counts_since(now_ms.saturating_sub(DAY_MS)).await?);
    Ok(SecurityMetrics {
        last_hour,
        last_day,
        blocked_ips,
    })
}

/// The oldest timestamp kept by a retention of `days` at `now_ms`.
pub fn retention_cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS))
}

/// Deletes events older than `days` (the maintenance task); returns how many.
pub async fn apply_retention<S: EventStore + ?Sized>(
    store: &S,
    now_ms: i64,
    days: u32,
) -> Result<u64, StoreError> {
    store
        .delete_older_than(retention_cutoff(now_ms, days))
        .await
}

/// The conformance suite every [`EventStore`] must pass.
///
/// Call [`run_all`](conformance::run_all) with an empty store: it records [`fixture`](conformance::fixture)
/// and then runs the checks in order (the later ones delete events).
#[cfg(any(test, feature = "testing"))]
pub mod conformance {
    use super::*;
    use crate::clock::FakeClock;

    const T0: i64 = 1_700_000_000_000;

    fn ev(
        n: u8,
        ts: i64,
        t: EventType,
        user: Option<i64>,
        ip: Option<&str>,
        ok: bool,
    ) -> SecurityEvent {
        SecurityEvent {
            id: Uuid::from_bytes([n; 16]),
            timestamp: ts,
            event_type: t,
            user_id: user,
            ip_address: ip.map(|s| s.parse().expect("test ip")),
            success: ok,
            details: serde_json::json!({"n": n, "nested": {"list": [1, "two", null]}}),
        }
    }

    /// A fixed set of events: several share a timestamp so that order falls to the id.
    pub fn fixture() -> Vec<SecurityEvent> {
        use EventType::*;
        vec![
            ev(1, T0, Login, Some(1), Some("192.0.2.1"), true),
            ev(2, T0 + 10, Login, Some(1), Some("192.0.2.1"), false),
            ev(3, T0 + 10, Login, None, Some("2001:db8::1"), false),
            ev(4, T0 + 10, Lockout, None, Some("192.0.2.1"), true),
            ev(5, T0 + 20, Registration, Some(2), None, true),
            ev(6, T0 + 30, TokenRefresh, Some(2), Some("192.0.2.2"), true),
            ev(7, T0 + 30, RefreshReuse, Some(2), Some("192.0.2.2"), false),
            ev(8, T0 + 40, IpBlocked, None, None, true),
            ev(9, T0 + 50, Login, Some(3), Some("192.0.2.1"), true),
        ]
    }

    /// Runs every check against an empty `store`.
    pub async fn run_all<S: EventStore>(store: &S) {
        for e in fixture() {
            store.record(&e).await.expect("record");
        }
        round_trip_and_order(store).await;
        paging(store).await;
        filters(store).await;
        counts(store).await;
        retention(store).await;
    }

    fn ids(page: &EventPage) -> Vec<u8> {
        page.events.iter().map(|e| e.id.as_bytes()[0]).collect()
    }

    async fn q<S: EventStore>(store: &S, pairs: &[(&str, &str)]) -> EventPage {
        let query = EventQuery::from_pairs(pairs.iter().copied()).expect("valid test query");
        store.query(&query).await.expect("query")
    }

    /// Events come back whole, newest first, ties by id descending.
    pub async fn round_trip_and_order<S: EventStore>(store: &S) {
        let page = q(store, &[]).await;
        assert_eq!(ids(&page), vec![9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(page.next_cursor, None);
        let mut want = fixture();
        want.reverse();
        assert_eq!(
            page.events.iter().find(|e| e.id.as_bytes()[0] == 3),
            want.iter().find(|e| e.id.as_bytes()[0] == 3)
        );
        assert_eq!(page.events[8], fixture()[0]);
    }

    /// Walking pages of every size visits every event once, in order; the last page has no
    /// cursor, including when it is exactly full.
    pub async fn paging<S: EventStore>(store: &S) {
        for limit in [1usize, 2, 3, 4, 9, 10] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let l = limit.to_string();
                let mut pairs = vec![("limit", l.as_str())];
                if let Some(c) = &cursor {
                    pairs.push(("cursor", c.as_str()));
                }
                let page = q(store, &pairs).await;
                pages += 1;
                assert!(page.events.len() <= limit);
                seen.extend(ids(&page));
                match page.next_cursor {
                    Some(c) => {
                        assert_eq!(page.events.len(), limit);
                        cursor = Some(c);
                    }
                    None => break,
                }
                assert!(pages <= 10, "paging does not terminate");
            }
            assert_eq!(seen, vec![9, 8, 7, 6, 5, 4, 3, 2, 1], "limit {limit}");
            assert_eq!(pages, 9usize.div_ceil(limit));
        }
        // Paging with a filter.
        let p1 = q(store, &[("event_type", "login"), ("limit", "2")]).await;
        assert_eq!(ids(&p1), vec![9, 3]);
        let c = p1.next_cursor.expect("more logins");
        let p2 = q(
            store,
            &[("event_type", "login"), ("limit", "2"), ("cursor", &c)],
        )
        .await;
        assert_eq!(ids(&p2), vec![2, 1]);
        assert_eq!(p2.next_cursor, None);
    }

    /// Each filter alone and combined; `since` and `until` are inclusive.
    pub async fn filters<S: EventStore>(store: &S) {
        let t = |d: i64| (T0 + d).to_string();
        assert_eq!(
            ids(&q(store, &[("event_type", "login")]).await),
            vec![9, 3, 2, 1]
        );
        assert_eq!(ids(&q(store, &[("user_id", "2")]).await), vec![7, 6, 5]);
        assert_eq!(
            ids(&q(store, &[("ip_address", "192.0.2.1")]).await),
            vec![9, 4, 2, 1]
        );
        assert_eq!(
            ids(&q(store, &[("ip_address", "::ffff:192.0.2.1")]).await),
            vec![9, 4, 2, 1]
        );
        assert_eq!(
            ids(&q(store, &[("ip_address", "2001:db8:0::1")]).await),
            vec![3]
        );
        assert_eq!(ids(&q(store, &[("success", "false")]).await), vec![7, 3, 2]);
        assert_eq!(ids(&q(store, &[("since", &t(30))]).await), vec![9, 8, 7, 6]);
        assert_eq!(ids(&q(store, &[("until", &t(10))]).await), vec![4, 3, 2, 1]);
        assert_eq!(
            ids(&q(store, &[("since", &t(10)), ("until", &t(10))]).await),
            vec![4, 3, 2]
        );
        assert_eq!(
            ids(&q(
                store,
                &[
                    ("event_type", "login"),
                    ("success", "false"),
                    ("ip_address", "192.0.2.1")
                ]
            )
            .await),
            vec![2]
        );
        assert_eq!(ids(&q(store, &[("user_id", "99")]).await), Vec::<u8>::new());
        assert_eq!(
            ids(&q(store, &[("event_type", "logout")]).await),
            Vec::<u8>::new()
        );
    }

    /// `counts_since` counts per type and outcome, from `since` inclusive.
    pub async fn counts<S: EventStore>(store: &S) {
        let m = security_metrics(store, T0 + 10 + HOUR_MS, 3)
            .await
            .expect("metrics");
        assert_eq!(m.blocked_ips, 3);
        let login = m.last_hour[&EventType::Login];
        assert_eq!((login.success, login.failure), (1, 2));
        let day = m.last_day[&EventType::Login];
        assert_eq!((day.success, day.failure), (2, 2));
        assert_eq!(m.last_hour[&EventType::Lockout].success, 1);
        assert_eq!(m.last_hour[&EventType::Logout], OutcomeCounts::default());
        assert_eq!(m.last_hour.len(), EventType::ALL.len());
    }

    /// Retention deletes strictly older events only.
    pub async fn retention<S: EventStore>(store: &S) {
        assert_eq!(store.delete_older_than(T0 + 10).await.expect("delete"), 1);
        assert_eq!(store.delete_older_than(T0 + 10).await.expect("delete"), 0);
        assert_eq!(ids(&q(store, &[]).await), vec![9, 8, 7, 6, 5, 4, 3, 2]);
        let clock = FakeClock::at_unix_ms(T0 + 30 + 30 * DAY_MS);
        let n = apply_retention(
            store,
            crate::clock::Clock::now_unix_ms(&clock),
            DEFAULT_RETENTION_DAYS,
        )
        .await
        .expect("retention");
        assert_eq!(n, 4); // ids 2, 3, 4 (T0+10) and 5 (T0+20)
        assert_eq!(ids(&q(store, &[]).await), vec![9, 8, 7, 6]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use futures::executor::block_on;
    use proptest::prelude::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemStore(Mutex<Vec<SecurityEvent>>);

    #[async_trait::async_trait]
    impl EventSink for MemStore {
        async fn record(&self, event: &SecurityEvent) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(event.clone());
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl EventStore for MemStore {
        async fn query(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
            let all: Vec<_> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|e| query.matches(e))
                .cloned()
                .collect();
            Ok(EventPage::from_candidates(all, query.limit_usize()))
        }
        async fn counts_since(&self, since_ms: i64) -> Result<Vec<EventCount>, StoreError> {
            let mut m: BTreeMap<EventType, OutcomeCounts> = BTreeMap::new();
            for e in self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.timestamp >= since_ms)
            {
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
            let mut g = self.0.lock().unwrap();
            let before = g.len();
            g.retain(|e| e.timestamp >= cutoff_ms);
            Ok((before - g.len()) as u64)
        }
    }

    #[test]
    fn conformance_on_reference_store() {
        block_on(conformance::run_all(&MemStore::default()));
    }

    #[test]
    fn event_types_round_trip_strictly() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(*t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(
                serde_json::from_value::<EventType>(serde_json::json!(t.as_str())).unwrap(),
                *t
            );
        }
        for bad in [
            "",
            "Login",
            "LOGIN",
            " login",
            "login ",
            "log_in",
            "tokenrefresh",
        ] {
            assert!(bad.parse::<EventType>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<EventType>("\"Login\"").is_err());
        assert_eq!(EventType::ALL.len(), 14);
    }

    #[test]
    fn event_serialises_as_contract() {
        let clock = FakeClock::at_unix_ms(1_234);
        let mut e = SecurityEvent::new(&clock, EventType::ApiKeyCreated, true)
            .with_user(7)
            .with_ip("2001:db8::1".parse().unwrap());
        e.id = Uuid::from_bytes([0xab; 16]);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"id":"abababab-abab-abab-abab-abababababab","timestamp":1234,"event_type":"api_key_created","user_id":7,"ip_address":"2001:db8::1","success":true,"details":{}}"#
        );
        assert_eq!(serde_json::from_str::<SecurityEvent>(&json).unwrap(), e);
        let page = EventPage {
            events: vec![],
            next_cursor: None,
        };
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"events":[],"next_cursor":null}"#
        );
    }

    #[test]
    fn metrics_serialise_as_contract() {
        let m = SecurityMetrics {
            last_hour: fold_counts(vec![EventCount {
                event_type: EventType::Login,
                counts: OutcomeCounts {
                    success: 2,
                    failure: 1,
                },
            }]),
            last_day: BTreeMap::new(),
            blocked_ips: 4,
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v["last_hour"]["login"],
            serde_json::json!({"success": 2, "failure": 1})
        );
        assert_eq!(v["last_hour"]["password_changed"]["failure"], 0);
        assert_eq!(v["blocked_ips"], 4);
    }

    fn violations(e: Error) -> Vec<(String, String)> {
        match e {
            Error::InvalidRequest(v) => v
                .into_iter()
                .map(|f| (f.field.into_owned(), f.message.into_owned()))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    fn refused_field(pairs: &[(&str, &str)]) -> Vec<String> {
        let e = EventQuery::from_pairs(pairs.iter().copied()).unwrap_err();
        assert_eq!(e.code().as_str(), "REQ_001");
        violations(e).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn query_parses_every_field() {
        let c = EventCursor {
            timestamp: 42,
            id: Uuid::from_bytes([7; 16]),
        };
        let enc = c.encode();
        assert_eq!(enc.len(), 32);
        let q = EventQuery::from_pairs([
            ("event_type", "refresh_reuse"),
            ("user_id", "-3"),
            ("ip_address", "::ffff:10.0.0.1"),
            ("success", "true"),
            ("since", "0"),
            ("until", "0"),
            ("limit", "500"),
            ("cursor", enc.as_str()),
            ("unknown", "ignored"),
        ])
        .unwrap();
        assert_eq!(
            q,
            EventQuery {
                event_type: Some(EventType::RefreshReuse),
                user_id: Some(-3),
                ip_address: Some("10.0.0.1".parse().unwrap()),
                success: Some(true),
                since: Some(0),
                until: Some(0),
                limit: 500,
                cursor: Some(c),
            }
        );
        assert_eq!(
            EventQuery::from_pairs(Vec::<(&str, &str)>::new()).unwrap(),
            EventQuery::default()
        );
        assert_eq!(EventQuery::default().limit, 50);
    }

    #[test]
    fn query_refuses_bad_values_naming_the_field() {
        let cases: &[(&str, &str)] = &[
            ("event_type", "LOGIN"),
            ("event_type", "nope"),
            ("user_id", "1.5"),
            ("user_id", "abc"),
            ("user_id", " 1"),
            ("user_id", "+1"),
            ("user_id", "99999999999999999999"),
            ("ip_address", "1.2.3"),
            ("ip_address", "10.0.0.0/8"),
            ("ip_address", "example.com"),
            ("success", "yes"),
            ("success", "True"),
            ("success", "1"),
            ("since", "soon"),
            ("until", "1e3"),
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "-1"),
            ("limit", "ten"),
            ("cursor", "abc"),
            ("cursor", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"),
            ("cursor", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ("event_type", ""),
        ];
        for (k, v) in cases {
            assert_eq!(refused_field(&[(k, v)]), vec![k.to_string()], "{k}={v}");
        }
        assert_eq!(
            refused_field(&[("since", "5"), ("until", "4")]),
            vec!["since"]
        );
        assert_eq!(
            refused_field(&[("limit", "5"), ("limit", "6")]),
            vec!["limit"]
        );
        assert_eq!(
            refused_field(&[("user_id", "x"), ("success", "x"), ("limit", "x")]),
            vec!["user_id", "success", "limit"]
        );
    }

    #[test]
    fn retention_cutoff_is_exact() {
        assert_eq!(retention_cutoff(100 * DAY_MS, 30), 70 * DAY_MS);
        assert_eq!(retention_cutoff(i64::MIN + 5, 30), i64::MIN);
    }

    proptest! {
        #[test]
        fn cursor_round_trips(ts in any::<i64>(), id in any::<[u8; 16]>()) {
            let c = EventCursor { timestamp: ts, id: Uuid::from_bytes(id) };
            let s = c.encode();
            prop_assert_eq!(s.len(), 32);
            prop_assert_eq!(EventCursor::decode(&s), Some(c));
        }

        #[test]
        fn query_parser_never_panics(pairs in proptest::collection::vec(
            (prop_oneof![
                Just("event_type".to_string()), Just("user_id".to_string()),
                Just("ip_address".to_string()), Just("success".to_string()),
                Just("since".to_string()), Just("until".to_string()),
                Just("limit".to_string()), Just("cursor".to_string()), "\\PC{0,8}"
            ], "\\PC{0,40}"), 0..10)) {
            if let Err(e) = EventQuery::from_pairs(pairs) {
                prop_assert_eq!(e.code().as_str(), "REQ_001");
                prop_assert!(!violations(e).is_empty());
            }
        }

        #[test]
        fn integer_fields_accept_every_i64(n in any::<i64>()) {
            let s = n.to_string();
            let q = EventQuery::from_pairs([("user_id", s.as_str()), ("since", s.as_str())]).unwrap();
            prop_assert_eq!((q.user_id, q.since), (Some(n), Some(n)));
        }

        #[test]
        fn pages_partition_the_matches(
            events in proptest::collection::vec((0i64..20, any::<[u8; 16]>(), any::<bool>()), 0..40),
            limit in 1usize..7,
        ) {
            let clock = FakeClock::at_unix_ms(0);
            let all: Vec<SecurityEvent> = events.iter().map(|(ts, id, ok)| {
                let mut e = SecurityEvent::new(&clock, EventType::Login, *ok);
                e.timestamp = *ts;
                e.id = Uuid::from_bytes(*id);
                e
            }).collect();
            let mut want: Vec<_> = all.iter().map(|e| e.cursor()).collect();
            want.sort_unstable_by(|a, b| b.cmp(a));
            want.dedup();
            let mut got = Vec::new();
            let mut q = EventQuery { limit: u32::try_from(limit).unwrap(), ..EventQuery::default() };
            for _ in 0..=all.len() + 1 {
                let cands: Vec<_> = all.iter().filter(|e| q.matches(e)).cloned().collect();
                let page = EventPage::from_candidates(cands, limit);
                got.extend(page.events.iter().map(|e| e.cursor()));
                match page.next_cursor {
                    Some(c) => q.cursor = Some(EventCursor::decode(&c).unwrap()),
                    None => break,
                }
            }
            got.dedup();
            prop_assert_eq!(got, want);
        }
    }
}
