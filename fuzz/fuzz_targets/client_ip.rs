//! `ClientIpResolver::resolve` with hostile forwarding headers from trusted and untrusted
//! peers. Property: a peer that is not a trusted proxy always resolves to itself, whatever
//! the headers say (no spoofing); a resolver trusting nothing never reads a header.
//!
//! Input: flags byte, 4 or 16 peer address bytes, then `CF-Connecting-IP`, `X-Forwarded-For`
//! and `X-Real-IP` values separated by `\n`.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use cutty_core::client_ip::{ClientIpResolver, ForwardedHeaders};
use libfuzzer_sys::fuzz_target;

fn resolvers() -> &'static [ClientIpResolver; 4] {
    static R: OnceLock<[ClientIpResolver; 4]> = OnceLock::new();
    R.get_or_init(|| {
        let some = "10.0.0.0/8, 192.168.0.0/16, 127.0.0.1, ::1, fd00::/8, ::ffff:172.16.0.0/108";
        [
            ClientIpResolver::from_config(some, false).expect("valid list"),
            ClientIpResolver::from_config(some, true).expect("valid list"),
            ClientIpResolver::from_config("0.0.0.0/0, ::/0", true).expect("valid list"),
            ClientIpResolver::default(),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (peer, rest): (IpAddr, &[u8]) = if flags & 1 == 0 {
        let Some((a, rest)) = rest.split_first_chunk::<4>() else {
            return;
        };
        (Ipv4Addr::from(*a).into(), rest)
    } else {
        let Some((a, rest)) = rest.split_first_chunk::<16>() else {
            return;
        };
        (Ipv6Addr::from(*a).into(), rest)
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let mut next = |bit: u8| parts.next().filter(|_| flags & bit != 0);
    let headers = ForwardedHeaders {
        cf_connecting_ip: next(2),
        x_forwarded_for: next(4),
        x_real_ip: next(8),
    };
    let canonical_peer = peer.to_canonical();
    for r in resolvers() {
        let ip = r.resolve(peer, &headers);
        assert_eq!(ip, ip.to_canonical(), "result not canonical");
        assert_eq!(ip, r.resolve(peer, &headers), "not deterministic");
        if !r.is_trusted(peer) {
            assert_eq!(ip, canonical_peer, "untrusted peer {peer} spoofed {ip}");
        }
        let none = ForwardedHeaders::default();
        assert_eq!(r.resolve(peer, &none), canonical_peer);
    }
    // Trusting nothing: the peer, always.
    assert!(!resolvers()[3].is_trusted(peer));
    // Trusting everything: a trusted peer.
    assert!(resolvers()[2].is_trusted(peer));
});
