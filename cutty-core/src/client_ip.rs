//! Trusted-proxy-aware client-IP resolution.
//!
//! The client address of a request is the **socket peer**, unless that peer is one of the
//! configured trusted proxies. Only then are forwarding headers believed, in this order
//! (the contract's "Rate limiting" section):
//!
//! 1. `CF-Connecting-IP`, when [`ClientIpResolver`] is configured as behind Cloudflare;
//! 2. `X-Forwarded-For`: walking the hops **right to left**, trusted proxies are skipped and
//!    the first untrusted hop is the client; if every hop is a trusted proxy the left-most one
//!    is taken;
//! 3. `X-Real-IP`;
//! 4. otherwise the peer itself.
//!
//! A header that is absent, unparsable or (for `X-Forwarded-For`) contains garbage before an
//! untrusted hop is found is skipped and the next source is tried. Headers from an untrusted
//! peer are never read, so a client cannot spoof its address by sending them.
//!
//! # Accepted address forms
//! Each header value (or `X-Forwarded-For` hop) may be surrounded by spaces or tabs and may be
//! written as `1.2.3.4`, `1.2.3.4:8080`, `2001:db8::1`, `[2001:db8::1]` or
//! `[2001:db8::1]:8080` (proxies such as Azure's append ports). Anything else — zone ids
//! (`fe80::1%eth0`), RFC 7239 obfuscated identifiers, `unknown`, quotes — is refused.
//! IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are normalised to IPv4, for the peer too.
//!
//! # Bounded work
//! At most [`MAX_FORWARDED_HOPS`] hops and [`MAX_HOP_LEN`] bytes per hop are examined, from
//! the right-hand end of the header, so a megabyte of `X-Forwarded-For` costs the same as a
//! short one. When the limit is reached before an untrusted hop is found the header is
//! treated as unusable. Only the value handed in is read: if a request carries several
//! `X-Forwarded-For` field lines, hosts pass the **last** one (proxies append to it).
//!
//! # Example
//! ```
//! use cutty_core::client_ip::{ClientIpResolver, ForwardedHeaders, parse_trusted_proxies};
//! use std::net::IpAddr;
//!
//! let proxies = parse_trusted_proxies("10.0.0.0/8, 192.168.1.1").unwrap();
//! let resolver = ClientIpResolver::new(proxies, false);
//!
//! let xff = ForwardedHeaders {
//!     x_forwarded_for: Some(b"203.0.113.9, 198.51.100.7, 10.0.0.2"),
//!     ..ForwardedHeaders::default()
//! };
//! // A trusted peer: the right-most untrusted hop is the client.
//! let peer: IpAddr = "10.1.2.3".parse().unwrap();
//! assert_eq!(resolver.resolve(peer, &xff), "198.51.100.7".parse::<IpAddr>().unwrap());
//! // An untrusted peer: its headers are ignored.
//! let peer: IpAddr = "198.51.100.50".parse().unwrap();
//! assert_eq!(resolver.resolve(peer, &xff), peer);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// The most `X-Forwarded-For` hops examined (from the right) before giving up on the header.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// The longest hop (after trimming spaces) that is parsed; `[v6]:port` fits in 56 bytes.
pub const MAX_HOP_LEN: usize = 64;

/// The most entries accepted in a trusted-proxy list.
pub const MAX_TRUSTED_PROXIES: usize = 1024;

/// Why a trusted-proxy list (`CUTTY_TRUSTED_PROXIES`) was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustedProxiesError {
    /// An entry is neither an IP address nor a CIDR range.
    #[error("trusted proxy entry {position} is not an IP address or CIDR range")]
    Invalid {
        /// 1-based position of the entry in the comma-separated list.
        position: usize,
    },
    /// A CIDR range has bits set below its prefix (`10.1.2.3/8`); write the network
    /// (`10.0.0.0/8`) or a single address.
    #[error("trusted proxy entry {position} has host bits set; did you mean {network}?")]
    HostBitsSet {
        /// 1-based position of the entry.
        position: usize,
        /// The network the entry probably meant.
        network: IpNet,
    },
    /// More than [`MAX_TRUSTED_PROXIES`] entries.
    #[error("more than {MAX_TRUSTED_PROXIES} trusted proxy entries")]
    TooMany,
}

/// Parses a comma-separated list of IP addresses and CIDR ranges, as in
/// `CUTTY_TRUSTED_PROXIES=10.0.0.0/8, 172.16.0.0/12, ::1`.
///
/// Spaces around entries and empty entries (a trailing comma, an empty variable) are
/// ignored. A bare address means a single host (`/32` or `/128`). IPv4-mapped IPv6 ranges
/// (`::ffff:10.0.0.0/104`) are stored as their IPv4 equivalent. Ranges with host bits set are
/// refused rather than silently widened or narrowed.
pub fn parse_trusted_proxies(list: &str) -> Result<Vec<IpNet>, TrustedProxiesError> {
    let mut out = Vec::new();
    for (i, raw) in list.split(',').enumerate() {
        let entry = raw.trim();
        if entry.is_empty() {
            continue;
        }
        if out.len() >= MAX_TRUSTED_PROXIES {
            return Err(TrustedProxiesError::TooMany);
        }
        let position = i + 1;
        let net = parse_net(entry).map_err(|e| match e {
            NetParseError::Invalid => TrustedProxiesError::Invalid { position },
            NetParseError::HostBitsSet(network) => {
                TrustedProxiesError::HostBitsSet { position, network }
            }
        })?;
        out.push(net);
    }
    Ok(out)
}

/// Why [`parse_net`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetParseError {
    /// Not an address or CIDR range.
    Invalid,
    /// A CIDR range with host bits set; carries the truncated network.
    HostBitsSet(IpNet),
}

/// Parses `ip` or `ip/prefix` (no surrounding spaces), canonicalising IPv4-mapped IPv6.
pub(crate) fn parse_net(s: &str) -> Result<IpNet, NetParseError> {
    if s.is_empty() || s.len() > 64 {
        return Err(NetParseError::Invalid);
    }
    let net = if s.contains('/') {
        let net = IpNet::from_str(s).map_err(|_| NetParseError::Invalid)?;
        let trunc = canonical_net(net.trunc());
        if net.trunc() != net {
            return Err(NetParseError::HostBitsSet(trunc));
        }
        net
    } else {
        let ip = IpAddr::from_str(s).map_err(|_| NetParseError::Invalid)?;
        IpNet::from(ip)
    };
    Ok(canonical_net(net))
}

/// Turns an IPv4-mapped IPv6 range (`::ffff:0:0/96` or narrower) into its IPv4 equivalent.
pub(crate) fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Ok(n) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(n);
    }
    net
}

/// The forwarding headers of a request, as raw bytes (framework-agnostic).
///
/// `None` means the header is absent. Hosts pass the last field line when a header repeats.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardedHeaders<'a> {
    /// `CF-Connecting-IP`.
    pub cf_connecting_ip: Option<&'a [u8]>,
    /// `X-Forwarded-For`.
    pub x_forwarded_for: Option<&'a [u8]>,
    /// `X-Real-IP`.
    pub x_real_ip: Option<&'a [u8]>,
}

/// A trusted range in a form that is cheap to test: `(network, mask)`.
#[derive(Debug, Clone, Copy)]
struct V4Range(u32, u32);
#[derive(Debug, Clone, Copy)]
struct V6Range(u128, u128);

/// Resolves the client IP of a request. Cheap to clone; build it once at start-up.
#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    v4: Vec<V4Range>,
    v6: Vec<V6Range>,
    behind_cloudflare: bool,
}

impl ClientIpResolver {
    /// A resolver trusting `trusted_proxies`; with `behind_cloudflare`, `CF-Connecting-IP`
    /// from a trusted peer wins over the other headers.
    ///
    /// Cloudflare's own ranges are **not** added implicitly: list them (or the address of
    /// your load balancer) in `trusted_proxies`.
    pub fn new(trusted_proxies: impl IntoIterator<Item = IpNet>, behind_cloudflare: bool) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in trusted_proxies {
            match canonical_net(net.trunc()) {
                IpNet::V4(n) => v4.push(V4Range(u32::from(n.network()), u32::from(n.netmask()))),
                IpNet::V6(n) => v6.push(V6Range(u128::from(n.network()), u128::from(n.netmask()))),
            }
        }
        Self {
            v4,
            v6,
            behind_cloudflare,
        }
    }

    /// A resolver from the configuration strings `CUTTY_TRUSTED_PROXIES` and
    /// `CUTTY_BEHIND_CLOUDFLARE` (already parsed as a boolean).
    pub fn from_config(
        trusted_proxies: &str,
        behind_cloudflare: bool,
    ) -> Result<Self, TrustedProxiesError> {
        Ok(Self::new(
            parse_trusted_proxies(trusted_proxies)?,
            behind_cloudflare,
        ))
    }

    /// Whether `CF-Connecting-IP` is consulted.
    pub fn behind_cloudflare(&self) -> bool {
        self.behind_cloudflare
    }

    /// Whether `ip` (canonicalised) is a configured trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|r| a & r.1 == r.0)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|r| a & r.1 == r.0)
            }
        }
    }

    /// The client IP for a request from `peer` carrying `headers`; always either the
    /// canonicalised peer or an address written in one of the headers.
    pub fn resolve(&self, peer: IpAddr, headers: &ForwardedHeaders<'_>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        if self.behind_cloudflare
            && let Some(ip) = headers.cf_connecting_ip.and_then(parse_hop)
        {
            return ip;
        }
        if let Some(ip) = headers.x_forwarded_for.and_then(|v| self.walk_xff(v)) {
            return ip;
        }
        if let Some(ip) = headers.x_real_ip.and_then(parse_hop) {
            return ip;
        }
        peer
    }

    /// Right-to-left walk over `X-Forwarded-For`, with bounded work.
    fn walk_xff(&self, value: &[u8]) -> Option<IpAddr> {
        let mut rest = value;
        for _ in 0..MAX_FORWARDED_HOPS {
            let (hop, more) = split_last_hop(rest)?;
            let ip = parse_hop(hop)?;
            if !self.is_trusted(ip) {
                return Some(ip);
            }
            match more {
                Some(r) => rest = r,
                // Every hop is a trusted proxy: the left-most one is the best we know.
                None => return Some(ip),
            }
        }
        None
    }
}

/// Splits off the last comma-separated hop, scanning at most `MAX_HOP_LEN` bytes plus
/// surrounding blanks. Returns the hop (untrimmed) and the remainder before its comma, or
/// `None` when the hop is too long.
fn split_last_hop(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    // Allow blanks around a hop on top of its own length.
    const SCAN: usize = MAX_HOP_LEN + 32;
    let start = value.len().saturating_sub(SCAN);
    let window = value.get(start..)?;
    match window.iter().rposition(|&b| b == b',') {
        Some(p) => {
            let comma = start + p;
            Some((value.get(comma + 1..)?, Some(value.get(..comma)?)))
        }
        None if start == 0 => Some((value, None)),
        None => None,
    }
}

/// Parses one address in any of the accepted forms, canonicalised.
///
/// IPv4 (by far the common case) goes through [`parse_v4`], a strict dotted-quad parser
/// with std's rules, without UTF-8 validation or the v4-then-v6 retry of
/// `IpAddr::from_str`; IPv6 goes to std's parser.
fn parse_hop(raw: &[u8]) -> Option<IpAddr> {
    let s = raw.trim_ascii();
    if s.is_empty() || s.len() > MAX_HOP_LEN {
        return None;
    }
    let ip = if let Some(rest) = s.strip_prefix(b"[") {
        let close = rest.iter().position(|&b| b == b']')?;
        let (inner, after) = rest.split_at(close);
        let after = after.get(1..)?;
        if !(after.is_empty() || after.strip_prefix(b":").is_some_and(is_port)) {
            return None;
        }
        IpAddr::V6(parse_v6(inner)?)
    } else {
        let mut colons = s.iter().enumerate().filter(|(_, b)| **b == b':');
        match (colons.next(), colons.next()) {
            (None, _) => IpAddr::V4(parse_v4(s)?),
            (Some((i, _)), None) => {
                let (host, port) = s.split_at(i);
                if !is_port(port.get(1..)?) {
                    return None;
                }
                IpAddr::V4(parse_v4(host)?)
            }
            (Some(_), Some(_)) => IpAddr::V6(parse_v6(s)?),
        }
    };
    Some(ip.to_canonical())
}

/// Strict dotted-quad IPv4, with std's rules: four decimal octets ≤ 255, no leading zeros.
fn parse_v4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut n = 0;
    for part in s.split(|&b| b == b'.') {
        let slot = octets.get_mut(n)?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.first() == Some(&b'0')) {
            return None;
        }
        let mut v: u16 = 0;
        for &b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u16::from(b - b'0');
        }
        *slot = u8::try_from(v).ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(octets))
}

fn parse_v6(s: &[u8]) -> Option<Ipv6Addr> {
    Ipv6Addr::from_str(std::str::from_utf8(s).ok()?).ok()
}

fn is_port(s: &[u8]) -> bool {
    (1..=5).contains(&s.len())
        && s.iter().all(u8::is_ascii_digit)
        && s.iter()
            .try_fold(0u32, |acc, &b| Some(acc * 10 + u32::from(b - b'0')))
            .is_some_and(|p| p <= 65_535)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolver(list: &str, cf: bool) -> ClientIpResolver {
        ClientIpResolver::from_config(list, cf).unwrap()
    }

    #[test]
    fn parses_proxy_lists() {
        let v = parse_trusted_proxies(" 10.0.0.0/8 ,, 192.168.1.1,::1, 2001:db8::/32 ,").unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[1].to_string(), "192.168.1.1/32");
        assert!(parse_trusted_proxies("").unwrap().is_empty());
        assert!(parse_trusted_proxies(" , ").unwrap().is_empty());
        assert_eq!(
            parse_trusted_proxies("::ffff:10.0.0.0/104").unwrap()[0].to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn refuses_bad_proxy_lists() {
        assert_eq!(
            parse_trusted_proxies("10.0.0.0/8, nope"),
            Err(TrustedProxiesError::Invalid { position: 2 })
        );
        assert_eq!(
            parse_trusted_proxies("10.0.0.0/33"),
            Err(TrustedProxiesError::Invalid { position: 1 })
        );
        match parse_trusted_proxies("10.1.2.3/8") {
            Err(TrustedProxiesError::HostBitsSet { position, network }) => {
                assert_eq!((position, network.to_string().as_str()), (1, "10.0.0.0/8"));
            }
            other => panic!("{other:?}"),
        }
        let many = vec!["10.0.0.1"; MAX_TRUSTED_PROXIES + 1].join(",");
        assert_eq!(
            parse_trusted_proxies(&many),
            Err(TrustedProxiesError::TooMany)
        );
        assert!(parse_trusted_proxies("fe80::1%eth0").is_err());
    }

    #[test]
    fn untrusted_peer_headers_ignored() {
        let r = resolver("10.0.0.0/8", true);
        let h = ForwardedHeaders {
            cf_connecting_ip: Some(b"1.1.1.1"),
            x_forwarded_for: Some(b"2.2.2.2"),
            x_real_ip: Some(b"3.3.3.3"),
        };
        assert_eq!(r.resolve(ip("8.8.8.8"), &h), ip("8.8.8.8"));
        assert_eq!(r.resolve(ip("::ffff:8.8.8.8"), &h), ip("8.8.8.8"));
    }

    #[test]
    fn precedence_for_trusted_peer() {
        let h = ForwardedHeaders {
            cf_connecting_ip: Some(b"1.1.1.1"),
            x_forwarded_for: Some(b"2.2.2.2"),
            x_real_ip: Some(b"3.3.3.3"),
        };
        let peer = ip("10.0.0.1");
        assert_eq!(
            resolver("10.0.0.0/8", true).resolve(peer, &h),
            ip("1.1.1.1")
        );
        // CF header ignored unless behind Cloudflare.
        assert_eq!(
            resolver("10.0.0.0/8", false).resolve(peer, &h),
            ip("2.2.2.2")
        );
        let h2 = ForwardedHeaders {
            x_forwarded_for: None,
            ..h
        };
        assert_eq!(
            resolver("10.0.0.0/8", false).resolve(peer, &h2),
            ip("3.3.3.3")
        );
        let none = ForwardedHeaders::default();
        assert_eq!(resolver("10.0.0.0/8", true).resolve(peer, &none), peer);
        // Garbage CF header falls through to XFF.
        let h3 = ForwardedHeaders {
            cf_connecting_ip: Some(b"garbage"),
            ..h
        };
        assert_eq!(
            resolver("10.0.0.0/8", true).resolve(peer, &h3),
            ip("2.2.2.2")
        );
    }

    #[test]
    fn xff_right_most_untrusted() {
        let r = resolver("10.0.0.0/8, 2001:db8::/32", false);
        let peer = ip("10.9.9.9");
        let cases: &[(&[u8], &str)] = &[
            (b"6.6.6.6, 7.7.7.7, 10.0.0.2", "7.7.7.7"),
            (b"6.6.6.6,7.7.7.7", "7.7.7.7"),
            (b"10.0.0.3, 10.0.0.2", "10.0.0.3"),
            (b" 10.0.0.3 ", "10.0.0.3"),
            (b"[2001:db9::1]:443, 2001:db8::5", "2001:db9::1"),
            (b"5.5.5.5:8080, 10.1.1.1:99", "5.5.5.5"),
            (b"::ffff:5.5.5.5", "5.5.5.5"),
            (b"[2001:db9::7]", "2001:db9::7"),
            (b"garbage, 5.5.5.5", "5.5.5.5"),
        ];
        for (xff, want) in cases {
            let h = ForwardedHeaders {
                x_forwarded_for: Some(xff),
                ..Default::default()
            };
            assert_eq!(
                r.resolve(peer, &h),
                ip(want),
                "{}",
                String::from_utf8_lossy(xff)
            );
        }
    }

    #[test]
    fn unusable_xff_falls_back() {
        let r = resolver("10.0.0.0/8", false);
        let peer = ip("10.9.9.9");
        for xff in [
            &b""[..],
            b",",
            b"5.5.5.5, garbage",
            b"10.0.0.2, nope, 10.0.0.3",
            b"fe80::1%eth0",
            b"5.5.5.5:99999",
            b"5.5.5.5:",
            b"[::1]x",
            b"\xff\xfe",
            b"unknown",
            b"\"1.2.3.4\"",
        ] {
            let h = ForwardedHeaders {
                x_forwarded_for: Some(xff),
                x_real_ip: Some(b"3.3.3.3"),
                ..Default::default()
            };
            assert_eq!(r.resolve(peer, &h), ip("3.3.3.3"), "{xff:?}");
        }
    }

    #[test]
    fn huge_headers_are_bounded() {
        let r = resolver("10.0.0.0/8", false);
        let peer = ip("10.9.9.9");
        // Many trusted hops: more than the cap, so the header is unusable.
        let many = vec!["10.0.0.1"; MAX_FORWARDED_HOPS + 5].join(",");
        let h = ForwardedHeaders {
            x_forwarded_for: Some(many.as_bytes()),
            ..Default::default()
        };
        assert_eq!(r.resolve(peer, &h), peer);
        // A huge prefix does not matter when the right end is usable.
        let mut big = vec![b'x'; 1 << 20];
        big.extend_from_slice(b", 5.5.5.5");
        let h = ForwardedHeaders {
            x_forwarded_for: Some(&big),
            ..Default::default()
        };
        assert_eq!(r.resolve(peer, &h), ip("5.5.5.5"));
        // One huge hop is refused without scanning it all.
        let huge = vec![b'1'; 1 << 20];
        let h = ForwardedHeaders {
            x_forwarded_for: Some(&huge),
            ..Default::default()
        };
        assert_eq!(r.resolve(peer, &h), peer);
    }

    #[derive(Debug, Clone)]
    enum Hop {
        Ip(IpAddr, u8),
        Garbage(String),
    }

    fn render(h: &Hop) -> String {
        match h {
            Hop::Ip(IpAddr::V4(a), form) => match form % 3 {
                0 => a.to_string(),
                1 => format!("{a}:{}", u16::from(*form) * 100 + 1),
                _ => format!("::ffff:{a}"),
            },
            Hop::Ip(IpAddr::V6(a), form) => match form % 3 {
                0 => a.to_string(),
                1 => format!("[{a}]:443"),
                _ => format!("[{a}]"),
            },
            Hop::Garbage(g) => g.clone(),
        }
    }

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            // A small pool so trusted and untrusted addresses both occur often.
            (0u8..4, 0u8..4).prop_map(|(a, b)| IpAddr::V4(Ipv4Addr::new(10, 0, a, b))),
            (0u8..4).prop_map(|b| IpAddr::V4(Ipv4Addr::new(203, 0, 113, b))),
            any::<u32>().prop_map(|x| IpAddr::V4(Ipv4Addr::from(x))),
            (0u16..4).prop_map(|x| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, x))),
            any::<u128>().prop_map(|x| IpAddr::V6(Ipv6Addr::from(x))),
        ]
    }

    fn arb_hop() -> impl Strategy<Value = Hop> {
        prop_oneof![
            4 => (arb_ip(), any::<u8>()).prop_map(|(i, f)| Hop::Ip(i, f)),
            1 => "[a-z :\\[\\]%.]{0,12}".prop_map(Hop::Garbage),
        ]
    }

    fn arb_header() -> impl Strategy<Value = Option<Vec<Hop>>> {
        proptest::option::of(proptest::collection::vec(arb_hop(), 0..6))
    }

    fn join(h: &Option<Vec<Hop>>) -> Option<Vec<u8>> {
        h.as_ref().map(|v| {
            v.iter()
                .map(render)
                .collect::<Vec<_>>()
                .join(", ")
                .into_bytes()
        })
    }

    fn ips_in(h: &Option<Vec<Hop>>) -> Vec<IpAddr> {
        h.iter()
            .flatten()
            .filter_map(|x| match x {
                Hop::Ip(i, _) => Some(i.to_canonical()),
                Hop::Garbage(g) => parse_hop(g.as_bytes()),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn never_trusts_headers_from_untrusted_peers(
            peer in arb_ip(), cf in arb_header(), xff in arb_header(), real in arb_header(),
            behind_cf in any::<bool>(),
        ) {
            let r = resolver("10.0.0.0/16, 2001:db8::/64", behind_cf);
            let (c, x, y) = (join(&cf), join(&xff), join(&real));
            let h = ForwardedHeaders {
                cf_connecting_ip: c.as_deref(),
                x_forwarded_for: x.as_deref(),
                x_real_ip: y.as_deref(),
            };
            let got = r.resolve(peer, &h);
            let peer_c = peer.to_canonical();
            if !r.is_trusted(peer) {
                prop_assert_eq!(got, peer_c);
            } else {
                let mut allowed = ips_in(&xff);
                allowed.extend(ips_in(&real));
                if behind_cf { allowed.extend(ips_in(&cf)); }
                prop_assert!(got == peer_c || allowed.contains(&got), "{got} not in {allowed:?}");
            }
        }

        #[test]
        fn xff_result_is_right_most_untrusted(hops in proptest::collection::vec(arb_ip(), 1..8)) {
            let r = resolver("10.0.0.0/16, 2001:db8::/64", false);
            let text = hops.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let h = ForwardedHeaders { x_forwarded_for: Some(text.as_bytes()), ..Default::default() };
            let want = hops.iter().rev().map(|i| i.to_canonical()).find(|i| !r.is_trusted(*i))
                .unwrap_or_else(|| hops[0].to_canonical());
            prop_assert_eq!(r.resolve("10.0.0.1".parse().unwrap(), &h), want);
        }

        #[test]
        fn v4_parser_agrees_with_std(s in "[0-9.]{0,18}") {
            prop_assert_eq!(parse_v4(s.as_bytes()), Ipv4Addr::from_str(&s).ok());
        }

        #[test]
        fn v4_parser_round_trips(a in any::<u32>()) {
            let ip = Ipv4Addr::from(a);
            prop_assert_eq!(parse_v4(ip.to_string().as_bytes()), Some(ip));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = resolver("0.0.0.0/0, ::/0", true);
            let h = ForwardedHeaders {
                cf_connecting_ip: Some(&bytes), x_forwarded_for: Some(&bytes), x_real_ip: Some(&bytes),
            };
            let _ = r.resolve("10.0.0.1".parse().unwrap(), &h);
            let _ = parse_trusted_proxies(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn proxy_list_round_trips(nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..10)) {
            let nets: Vec<IpNet> = nets.into_iter()
                .map(|(a, p)| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(a), p).unwrap().trunc()))
                .collect();
            let text = nets.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" , ");
            prop_assert_eq!(parse_trusted_proxies(&text).unwrap(), nets);
        }
    }
}
