//! The admin block list of IPs and CIDR ranges (`403 SEC_001`).
//!
//! * [`BlockEntry`] — one blocked network with its reason, `created_at` and optional
//!   `expires_at` (Unix ms), serialised as the contract's
//!   `{ip_address, reason, created_at, expires_at}`.
//! * [`parse_ip_or_cidr`] — the `ip_address` input of `block-ip`/`unblock-ip` and the CLI.
//! * [`BlockList`] — the in-memory index a server consults on every request. It is rebuilt on
//!   each change into per-family sorted, non-overlapping ranges, each carrying the latest
//!   expiry of the entries covering it, so [`BlockList::is_blocked`] is one binary search
//!   (≈ 14 comparisons for 10,000 entries), with no allocation and exact expiry handling.
//! * [`BlockListStore`] — persistence, with a cheap [`BlockListStore::version`] so a running
//!   server notices CLI changes; [`SharedBlockList`] is the reload hook.
//!
//! # Input rules
//! `ip_address` is an IPv4 or IPv6 address (a single host) or a CIDR range. A range with host
//! bits set (`10.1.2.3/8`) is **refused** naming the network it probably meant: on a security
//! list, silently widening `10.1.2.3/8` to `10.0.0.0/8` (or narrowing it to the host) is
//! worse than asking again. IPv4-mapped IPv6 input (`::ffff:1.2.3.4`, `::ffff:0:0/104`) is
//! stored as IPv4, and addresses looked up are canonicalised the same way, so a mapped
//! client address matches an IPv4 entry. Single hosts are listed without a prefix.
//!
//! # Reloading
//! The CLI writes to the store; each server keeps a [`SharedBlockList`] and calls
//! [`SharedBlockList::refresh`] at least every few seconds (the contract asks for 5 s). A
//! refresh costs one [`BlockListStore::version`] call, plus one [`BlockListStore::list`] and a
//! rebuild only when the version moved.
//!
//! ```
//! use cutty_core::ip_block::{BlockEntry, BlockList, parse_ip_or_cidr};
//!
//! let mut list = BlockList::new();
//! let now = 1_700_000_000_000;
//! list.block(BlockEntry::new(parse_ip_or_cidr("203.0.113.0/24").unwrap(), "scanner", now, None));
//! list.block(BlockEntry::new(parse_ip_or_cidr("2001:db8::1").unwrap(), "abuse", now, Some(now + 60_000)));
//!
//! assert!(list.is_blocked("203.0.113.77".parse().unwrap(), now));
//! assert!(list.is_blocked("::ffff:203.0.113.77".parse().unwrap(), now));
//! assert!(list.is_blocked("2001:db8::1".parse().unwrap(), now + 59_999));
//! assert!(!list.is_blocked("2001:db8::1".parse().unwrap(), now + 60_000)); // expired
//! assert!(parse_ip_or_cidr("10.1.2.3/8").is_err()); // host bits set
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::client_ip::{NetParseError, canonical_net, parse_net};
use crate::error::{Error, StoreError};

/// The longest accepted `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Parses the `ip_address` field: an IP address or a CIDR range, surrounding spaces allowed.
///
/// Errors are `REQ_001` naming `ip_address`; a range with host bits set is refused with the
/// network it probably meant.
pub fn parse_ip_or_cidr(input: &str) -> Result<IpNet, Error> {
    parse_net(input.trim()).map_err(|e| match e {
        NetParseError::Invalid => {
            Error::invalid_field("ip_address", "must be an IP address or a CIDR range")
        }
        NetParseError::HostBitsSet(net) => Error::invalid_field(
            "ip_address",
            format!("CIDR range has host bits set; did you mean {net}?"),
        ),
    })
}

/// Checks a block `reason`: required, non-blank, at most [`MAX_REASON_CHARS`] characters.
pub fn validate_reason(reason: &str) -> Result<(), Error> {
    if reason.trim().is_empty() {
        return Err(Error::invalid_field("reason", "is required"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::invalid_field("reason", "is too long"));
    }
    Ok(())
}

/// Formats a network as the contract lists it: a bare address for a single host, else CIDR.
pub fn format_network(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

mod net_as_text {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(net: &IpNet, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_network(net))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
        let s = String::deserialize(d)?;
        parse_net(s.trim()).map_err(|_| serde::de::Error::custom("invalid ip_address"))
    }
}

/// One blocked address or range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    /// The blocked network (canonical: IPv4-mapped ranges are IPv4, host bits clear).
    #[serde(rename = "ip_address", with = "net_as_text")]
    pub network: IpNet,
    /// Why it was blocked (shown to admins only).
    pub reason: String,
    /// When it was blocked, Unix ms.
    pub created_at: i64,
    /// When the block lapses, Unix ms (exclusive); `None` blocks until unblocked.
    pub expires_at: Option<i64>,
}

impl BlockEntry {
    /// An entry; `network` is canonicalised (host bits cleared, IPv4-mapped to IPv4).
    pub fn new(
        network: IpNet,
        reason: impl Into<String>,
        created_at: i64,
        expires_at: Option<i64>,
    ) -> Self {
        Self {
            network: canonical_net(network.trunc()),
            reason: reason.into(),
            created_at,
            expires_at,
        }
    }

    /// An entry lasting `duration_seconds` from `now_ms` (or forever), as the `block-ip`
    /// endpoint builds it. `duration_seconds` must be positive.
    pub fn for_duration(
        network: IpNet,
        reason: impl Into<String>,
        now_ms: i64,
        duration_seconds: Option<u64>,
    ) -> Result<Self, Error> {
        let expires_at = match duration_seconds {
            None => None,
            Some(0) => {
                return Err(Error::invalid_field(
                    "duration_seconds",
                    "must be a positive integer",
                ));
            }
            Some(s) => Some(
                i64::try_from(s)
                    .ok()
                    .and_then(|s| s.checked_mul(1000))
                    .and_then(|ms| now_ms.checked_add(ms))
                    .ok_or_else(|| Error::invalid_field("duration_seconds", "is too large"))?,
            ),
        };
        Ok(Self::new(network, reason, now_ms, expires_at))
    }

    /// Whether the entry is in force at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.expires_at.is_none_or(|e| now_ms < e)
    }
}

/// One elementary range of the index: addresses `start..=end` are blocked until `until`
/// (exclusive, Unix ms; `i64::MAX` for "forever").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment<T> {
    start: T,
    end: T,
    until: i64,
}

/// The block list: entries by network plus a look-up index rebuilt on every change.
///
/// Single-writer: mutate a private copy, then publish it (see [`SharedBlockList`]).
#[derive(Debug, Clone, Default)]
pub struct BlockList {
    entries: BTreeMap<IpNet, BlockEntry>,
    v4: Vec<Segment<u32>>,
    v6: Vec<Segment<u128>>,
}

impl BlockList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// A list holding `entries` (later duplicates of a network replace earlier ones).
    pub fn from_entries(entries: impl IntoIterator<Item = BlockEntry>) -> Self {
        let mut list = Self::new();
        list.replace_all(entries);
        list
    }

    /// Replaces every entry (the reload path) and rebuilds the index once.
    pub fn replace_all(&mut self, entries: impl IntoIterator<Item = BlockEntry>) {
        self.entries = entries
            .into_iter()
            .map(|e| {
                let e = BlockEntry::new(e.network, e.reason, e.created_at, e.expires_at);
                (e.network, e)
            })
            .collect();
        self.rebuild();
    }

    /// Adds or replaces the entry for its exact network; returns the one it replaced.
    pub fn block(&mut self, entry: BlockEntry) -> Option<BlockEntry> {
        let entry = BlockEntry::new(
            entry.network,
            entry.reason,
            entry.created_at,
            entry.expires_at,
        );
        let old = self.entries.insert(entry.network, entry);
        self.rebuild();
        old
    }

    /// Removes the entry for exactly `network` (a narrower or wider range is a different
    /// entry); returns it if there was one.
    pub fn unblock(&mut self, network: &IpNet) -> Option<BlockEntry> {
        let old = self.entries.remove(&canonical_net(network.trunc()));
        if old.is_some() {
            self.rebuild();
        }
        old
    }

    /// Drops entries expired at `now_ms`; returns how many.
    pub fn purge_expired(&mut self, now_ms: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.is_active(now_ms));
        let removed = before - self.entries.len();
        if removed > 0 {
            self.rebuild();
        }
        removed
    }

    /// Every entry, expired ones included, ordered by network.
    pub fn entries(&self) -> impl Iterator<Item = &BlockEntry> {
        self.entries.values()
    }

    /// Entries in force at `now_ms`, ordered by network (the `blocked-ips` listing).
    pub fn active(&self, now_ms: i64) -> impl Iterator<Item = &BlockEntry> {
        self.entries.values().filter(move |e| e.is_active(now_ms))
    }

    /// How many entries are in force at `now_ms` (the metrics' `blocked_ips`).
    pub fn active_count(&self, now_ms: i64) -> usize {
        self.active(now_ms).count()
    }

    /// Number of entries, expired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `ip` (canonicalised) is covered by an entry in force at `now_ms`.
    pub fn is_blocked(&self, ip: IpAddr, now_ms: i64) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => lookup(&self.v4, u32::from(a), now_ms),
            IpAddr::V6(a) => lookup(&self.v6, u128::from(a), now_ms),
        }
    }

    fn rebuild(&mut self) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for e in self.entries.values() {
            let until = e.expires_at.unwrap_or(i64::MAX);
            match e.network {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()), until)),
                IpNet::V6(n) => {
                    v6.push((u128::from(n.network()), u128::from(n.broadcast()), until))
                }
            }
        }
        self.v4 = sweep(v4);
        self.v6 = sweep(v6);
    }
}

fn lookup<T: Ord + Copy>(segs: &[Segment<T>], x: T, now_ms: i64) -> bool {
    let i = segs.partition_point(|s| s.start <= x);
    match i.checked_sub(1).and_then(|i| segs.get(i)) {
        Some(s) => x <= s.end && now_ms < s.until,
        None => false,
    }
}

/// An unsigned address type for the sweep.
trait Addr: Ord + Copy {
    const MAX: Self;
    fn succ(self) -> Option<Self>;
    fn pred(self) -> Self;
}
impl Addr for u32 {
    const MAX: Self = u32::MAX;
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Self {
        self.saturating_sub(1)
    }
}
impl Addr for u128 {
    const MAX: Self = u128::MAX;
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Self {
        self.saturating_sub(1)
    }
}

/// Turns possibly overlapping `(start, end, until)` ranges into sorted non-overlapping
/// segments, each holding the latest `until` of the ranges covering it; adjacent segments
/// with the same `until` are merged.
fn sweep<T: Addr>(ranges: Vec<(T, T, i64)>) -> Vec<Segment<T>> {
    // (position, +1 open / -1 close, until); closes sort before opens at the same position.
    let mut events: Vec<(T, i8, i64)> = Vec::with_capacity(ranges.len() * 2);
    for (start, end, until) in ranges {
        events.push((start, 1, until));
        if let Some(after) = end.succ() {
            events.push((after, -1, until));
        }
    }
    events.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut active: BTreeMap<i64, usize> = BTreeMap::new();
    let mut out: Vec<Segment<T>> = Vec::new();
    let mut open: Option<(T, i64)> = None;
    let mut i = 0;
    while let Some(&(pos, _, _)) = events.get(i) {
        while let Some(&(p, kind, until)) = events.get(i) {
            if p != pos {
                break;
            }
            if kind > 0 {
                *active.entry(until).or_insert(0) += 1;
            } else if let Some(c) = active.get_mut(&until) {
                *c -= 1;
                if *c == 0 {
                    active.remove(&until);
                }
            }
            i += 1;
        }
        let now_until = active.last_key_value().map(|(u, _)| *u);
        if open.map(|o| o.1) != now_until {
            if let Some((start, until)) = open.take() {
                push_merged(
                    &mut out,
                    Segment {
                        start,
                        end: pos.pred(),
                        until,
                    },
                );
            }
            open = now_until.map(|u| (pos, u));
        }
    }
    if let Some((start, until)) = open {
        // Only reachable when a range runs to the last address of the family.
        push_merged(
            &mut out,
            Segment {
                start,
                end: T::MAX,
                until,
            },
        );
    }
    out
}

fn push_merged<T: Addr>(out: &mut Vec<Segment<T>>, seg: Segment<T>) {
    if let Some(last) = out.last_mut()
        && last.until == seg.until
        && last.end.succ() == Some(seg.start)
    {
        last.end = seg.end;
        return;
    }
    out.push(seg);
}

/// Persistence for the block list.
///
/// Entries are keyed by their exact (canonical) network. [`version`](Self::version) must
/// change after every successful `add`, `remove` or `purge_expired` that changed something,
/// as seen by every process sharing the store (a counter row, a Redis key, a KV entry); it is
/// what makes a CLI change reach running servers.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait BlockListStore: Send + Sync {
    /// Inserts `entry`, replacing any entry for the same network.
    async fn add(&self, entry: &BlockEntry) -> Result<(), StoreError>;
    /// Removes the entry for exactly `network`; `true` if one existed.
    async fn remove(&self, network: &IpNet) -> Result<bool, StoreError>;
    /// Every stored entry, expired ones included (order unspecified).
    async fn list(&self) -> Result<Vec<BlockEntry>, StoreError>;
    /// A value that changes whenever the stored set changes. Must be cheap.
    async fn version(&self) -> Result<u64, StoreError>;
    /// Deletes entries whose `expires_at <= now_ms`; returns how many.
    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError>;
}

/// A [`BlockList`] shared by request handlers and refreshed from a [`BlockListStore`].
///
/// Readers take a read lock for the duration of one binary search; a refresh builds the new
/// list outside the lock and swaps an `Arc` in.
#[derive(Debug, Default)]
pub struct SharedBlockList {
    current: RwLock<(Option<u64>, Arc<BlockList>)>,
}

impl SharedBlockList {
    /// An empty list that has never been loaded.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current list.
    pub fn snapshot(&self) -> Arc<BlockList> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g.1),
            Err(p) => Arc::clone(&p.into_inner().1),
        }
    }

    /// Whether `ip` is blocked at `now_ms` according to the last loaded list.
    pub fn is_blocked(&self, ip: IpAddr, now_ms: i64) -> bool {
        match self.current.read() {
            Ok(g) => g.1.is_blocked(ip, now_ms),
            Err(p) => p.into_inner().1.is_blocked(ip, now_ms),
        }
    }

    /// Publishes `list` (e.g. right after this process changed the store) with the store
    /// version it reflects.
    pub fn publish(&self, list: BlockList, version: Option<u64>) {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = (version, Arc::new(list));
    }

    /// Reloads from `store` if its version changed since the last load; returns whether it
    /// reloaded. Call it every second or so from a background task or the request path.
    pub async fn refresh<S: BlockListStore + ?Sized>(&self, store: &S) -> Result<bool, StoreError> {
        let version = store.version().await?;
        let seen = match self.current.read() {
            Ok(g) => g.0,
            Err(p) => p.into_inner().0,
        };
        if seen == Some(version) {
            return Ok(false);
        }
        let entries = store.list().await?;
        self.publish(BlockList::from_entries(entries), Some(version));
        Ok(true)
    }
}

/// The conformance suite every [`BlockListStore`] must pass.
#[cfg(any(test, feature = "testing"))]
pub mod conformance {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_ip_or_cidr(s).expect("valid test network")
    }

    /// Runs every check against an empty `store`.
    pub async fn run_all<S: BlockListStore>(store: &S) {
        add_list_remove(store).await;
        version_moves(store).await;
        purge(store).await;
        shared_reload(store).await;
    }

    async fn clear<S: BlockListStore>(store: &S) {
        for e in store.list().await.expect("list") {
            store.remove(&e.network).await.expect("remove");
        }
    }

    /// Add, replace (same network), list and exact-network removal.
    pub async fn add_list_remove<S: BlockListStore>(store: &S) {
        clear(store).await;
        let a = BlockEntry::new(net("10.0.0.0/8"), "a", 1_000, None);
        let b = BlockEntry::new(net("2001:db8::/32"), "b", 2_000, Some(9_000));
        let c = BlockEntry::new(net("192.0.2.1"), "c", 3_000, None);
        for e in [&a, &b, &c] {
            store.add(e).await.expect("add");
        }
        let mut got = store.list().await.expect("list");
        got.sort_by_key(|e| e.created_at);
        assert_eq!(got, vec![a.clone(), b.clone(), c.clone()]);
        // Same network replaces.
        let a2 = BlockEntry::new(net("10.0.0.0/8"), "a2", 4_000, Some(5_000));
        store.add(&a2).await.expect("add");
        let got = store.list().await.expect("list");
        assert_eq!(got.len(), 3);
        assert!(got.contains(&a2));
        // Only the exact network is removed.
        assert!(!store.remove(&net("10.0.0.0/9")).await.expect("remove"));
        assert!(store.remove(&net("10.0.0.0/8")).await.expect("remove"));
        assert!(!store.remove(&net("10.0.0.0/8")).await.expect("remove"));
        assert!(store.remove(&net("192.0.2.1")).await.expect("remove"));
        assert_eq!(store.list().await.expect("list"), vec![b]);
        clear(store).await;
    }

    /// The version moves after every change and stays put otherwise.
    pub async fn version_moves<S: BlockListStore>(store: &S) {
        clear(store).await;
        let v0 = store.version().await.expect("version");
        assert_eq!(store.version().await.expect("version"), v0);
        store
            .add(&BlockEntry::new(net("198.51.100.0/24"), "x", 1, None))
            .await
            .expect("add");
        let v1 = store.version().await.expect("version");
        assert_ne!(v1, v0);
        assert!(store.remove(&net("198.51.100.0/24")).await.expect("remove"));
        let v2 = store.version().await.expect("version");
        assert_ne!(v2, v1);
        assert_ne!(v2, v0);
    }

    /// `purge_expired` deletes entries with `expires_at <= now` only.
    pub async fn purge<S: BlockListStore>(store: &S) {
        clear(store).await;
        store
            .add(&BlockEntry::new(net("192.0.2.0/24"), "x", 1, Some(100)))
            .await
            .expect("add");
        store
            .add(&BlockEntry::new(net("192.0.3.0/24"), "y", 1, Some(101)))
            .await
            .expect("add");
        store
            .add(&BlockEntry::new(net("192.0.4.0/24"), "z", 1, None))
            .await
            .expect("add");
        let v = store.version().await.expect("version");
        assert_eq!(store.purge_expired(100).await.expect("purge"), 1);
        assert_ne!(store.version().await.expect("version"), v);
        let mut left: Vec<_> = store
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|e| e.reason)
            .collect();
        left.sort();
        assert_eq!(left, vec!["y", "z"]);
        clear(store).await;
    }

    /// A [`SharedBlockList`] picks up changes through `refresh`, and only reloads on change.
    pub async fn shared_reload<S: BlockListStore>(store: &S) {
        clear(store).await;
        let shared = SharedBlockList::new();
        assert!(shared.refresh(store).await.expect("refresh"));
        assert!(!shared.refresh(store).await.expect("refresh"));
        let ip: IpAddr = "203.0.113.5".parse().expect("ip");
        assert!(!shared.is_blocked(ip, 0));
        store
            .add(&BlockEntry::new(net("203.0.113.0/24"), "cli", 0, None))
            .await
            .expect("add");
        assert!(shared.refresh(store).await.expect("refresh"));
        assert!(shared.is_blocked(ip, 0));
        store.remove(&net("203.0.113.0/24")).await.expect("remove");
        assert!(shared.refresh(store).await.expect("refresh"));
        assert!(!shared.is_blocked(ip, 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemStore {
        inner: Mutex<(u64, BTreeMap<IpNet, BlockEntry>)>,
    }

    #[async_trait::async_trait]
    impl BlockListStore for MemStore {
        async fn add(&self, entry: &BlockEntry) -> Result<(), StoreError> {
            let mut g = self.inner.lock().unwrap();
            g.0 += 1;
            g.1.insert(entry.network, entry.clone());
            Ok(())
        }
        async fn remove(&self, network: &IpNet) -> Result<bool, StoreError> {
            let mut g = self.inner.lock().unwrap();
            let removed = g.1.remove(network).is_some();
            if removed {
                g.0 += 1;
            }
            Ok(removed)
        }
        async fn list(&self) -> Result<Vec<BlockEntry>, StoreError> {
            Ok(self.inner.lock().unwrap().1.values().cloned().collect())
        }
        async fn version(&self) -> Result<u64, StoreError> {
            Ok(self.inner.lock().unwrap().0)
        }
        async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
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

    #[test]
    fn conformance_on_reference_store() {
        block_on(conformance::run_all(&MemStore::default()));
    }

    #[test]
    fn parses_input() {
        assert_eq!(
            parse_ip_or_cidr(" 1.2.3.4 ").unwrap().to_string(),
            "1.2.3.4/32"
        );
        assert_eq!(
            parse_ip_or_cidr("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_ip_or_cidr("::ffff:1.2.3.4").unwrap().to_string(),
            "1.2.3.4/32"
        );
        assert_eq!(
            parse_ip_or_cidr("::ffff:0:0/104").unwrap().to_string(),
            "0.0.0.0/8"
        );
        assert_eq!(
            parse_ip_or_cidr("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in [
            "",
            "x",
            "1.2.3.4/33",
            "1.2.3",
            "10.1.2.3/8",
            "1.2.3.4/",
            "::1/129",
            "1.2.3.4 /8",
        ] {
            let e = parse_ip_or_cidr(bad).unwrap_err();
            match e {
                Error::InvalidRequest(v) => assert_eq!(v[0].field, "ip_address"),
                other => panic!("{other:?}"),
            }
        }
        let long = "1".repeat(10_000);
        assert!(parse_ip_or_cidr(&long).is_err());
        match parse_ip_or_cidr("10.1.2.3/8").unwrap_err() {
            Error::InvalidRequest(v) => assert!(v[0].message.contains("10.0.0.0/8")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reasons_and_durations() {
        assert!(validate_reason("spam").is_ok());
        assert!(validate_reason("  ").is_err());
        assert!(validate_reason(&"x".repeat(MAX_REASON_CHARS + 1)).is_err());
        let n = parse_ip_or_cidr("1.2.3.4").unwrap();
        assert_eq!(
            BlockEntry::for_duration(n, "r", 1_000, Some(2))
                .unwrap()
                .expires_at,
            Some(3_000)
        );
        assert_eq!(
            BlockEntry::for_duration(n, "r", 1_000, None)
                .unwrap()
                .expires_at,
            None
        );
        assert!(BlockEntry::for_duration(n, "r", 1_000, Some(0)).is_err());
        assert!(BlockEntry::for_duration(n, "r", 1_000, Some(u64::MAX)).is_err());
    }

    #[test]
    fn serialises_as_contract() {
        let e = BlockEntry::new(parse_ip_or_cidr("1.2.3.4").unwrap(), "r", 5, Some(6));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"ip_address":"1.2.3.4","reason":"r","created_at":5,"expires_at":6}"#
        );
        let e = BlockEntry::new(parse_ip_or_cidr("10.0.0.0/8").unwrap(), "r", 5, None);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"ip_address":"10.0.0.0/8","reason":"r","created_at":5,"expires_at":null}"#
        );
        assert_eq!(serde_json::from_str::<BlockEntry>(&json).unwrap(), e);
    }

    #[test]
    fn edges_of_the_address_space() {
        let list = BlockList::from_entries([
            BlockEntry::new(parse_ip_or_cidr("255.255.255.0/24").unwrap(), "a", 0, None),
            BlockEntry::new(parse_ip_or_cidr("0.0.0.0/24").unwrap(), "b", 0, None),
            BlockEntry::new(parse_ip_or_cidr("ffff::/16").unwrap(), "c", 0, None),
        ]);
        assert!(list.is_blocked("255.255.255.255".parse().unwrap(), 0));
        assert!(list.is_blocked("0.0.0.0".parse().unwrap(), 0));
        assert!(!list.is_blocked("0.0.1.0".parse().unwrap(), 0));
        assert!(list.is_blocked(
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
            0
        ));
        let mut all = BlockList::new();
        all.block(BlockEntry::new(
            parse_ip_or_cidr("0.0.0.0/0").unwrap(),
            "all",
            0,
            Some(10),
        ));
        assert!(all.is_blocked("1.1.1.1".parse().unwrap(), 9));
        assert!(!all.is_blocked("1.1.1.1".parse().unwrap(), 10));
        assert!(!all.is_blocked("::1".parse().unwrap(), 0));
        assert_eq!(all.purge_expired(10), 1);
        assert!(all.is_empty());
    }

    #[test]
    fn overlapping_entries_keep_their_own_expiry() {
        let mut list = BlockList::new();
        list.block(BlockEntry::new(
            parse_ip_or_cidr("10.0.0.0/8").unwrap(),
            "wide",
            0,
            Some(100),
        ));
        list.block(BlockEntry::new(
            parse_ip_or_cidr("10.1.0.0/16").unwrap(),
            "narrow",
            0,
            None,
        ));
        let inner: IpAddr = "10.1.2.3".parse().unwrap();
        let outer: IpAddr = "10.2.0.0".parse().unwrap();
        assert!(list.is_blocked(inner, 50) && list.is_blocked(outer, 50));
        assert!(list.is_blocked(inner, 500) && !list.is_blocked(outer, 500));
        assert_eq!(list.active_count(500), 1);
        assert!(
            list.unblock(&parse_ip_or_cidr("10.1.0.0/16").unwrap())
                .is_some()
        );
        assert!(!list.is_blocked(inner, 500));
        assert!(
            list.unblock(&parse_ip_or_cidr("10.1.0.0/16").unwrap())
                .is_none()
        );
    }

    fn arb_entry() -> impl Strategy<Value = BlockEntry> {
        let v4 =
            (any::<u8>(), 0u8..=32, proptest::option::of(0i64..100)).prop_map(|(a, p, exp)| {
                // Cluster the addresses so ranges overlap.
                let net = ipnet::Ipv4Net::new(Ipv4Addr::new(10, a % 4, a, 0), p).unwrap();
                BlockEntry::new(IpNet::V4(net), "p", 0, exp)
            });
        let v6 =
            (any::<u16>(), 0u8..=128, proptest::option::of(0i64..100)).prop_map(|(a, p, exp)| {
                let net =
                    ipnet::Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, a % 4, a, 0, 0, 0, 0), p)
                        .unwrap();
                BlockEntry::new(IpNet::V6(net), "p", 0, exp)
            });
        prop_oneof![v4, v6]
    }

    fn arb_probe() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(a, b, c)| IpAddr::V4(Ipv4Addr::new(10, a % 4, b, c))),
            any::<u32>().prop_map(|x| IpAddr::V4(Ipv4Addr::from(x))),
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                a % 4,
                a,
                0,
                0,
                0,
                b
            ))),
            any::<u128>().prop_map(|x| IpAddr::V6(Ipv6Addr::from(x))),
        ]
    }

    proptest! {
        #[test]
        fn index_agrees_with_linear_scan(
            entries in proptest::collection::vec(arb_entry(), 0..40),
            probes in proptest::collection::vec((arb_probe(), 0i64..120), 1..40),
            remove in proptest::collection::vec(any::<usize>(), 0..5),
        ) {
            let mut list = BlockList::from_entries(entries.clone());
            let mut model: BTreeMap<IpNet, BlockEntry> =
                entries.into_iter().map(|e| (e.network, e)).collect();
            for r in remove {
                if model.is_empty() { break; }
                let key = *model.keys().nth(r % model.len()).unwrap();
                model.remove(&key);
                prop_assert!(list.unblock(&key).is_some());
            }
            for (ip, now) in probes {
                let want = model.values().any(|e| e.network.contains(&ip) && e.is_active(now));
                prop_assert_eq!(list.is_blocked(ip, now), want, "{} at {}", ip, now);
            }
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,80}") {
            let _ = parse_ip_or_cidr(&s);
        }

        #[test]
        fn parser_round_trips(a in any::<u128>(), p in 0u8..=128) {
            let net = IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(a), p).unwrap().trunc());
            let net = canonical_net(net);
            prop_assert_eq!(parse_ip_or_cidr(&format_network(&net)).unwrap(), net);
        }
    }
}
