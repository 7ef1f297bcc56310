//! `parse_ip_or_cidr` (the block list's `ip_address`) on hostile text: accepted ranges are
//! truncated, canonical (no IPv4-mapped IPv6) and round-trip through their display form.
#![no_main]

use cutty_core::error::ErrorCode;
use cutty_core::ip_block::parse_ip_or_cidr;
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_ip_or_cidr(&text) {
        Ok(net) => {
            assert_eq!(net, net.trunc());
            if let IpNet::V6(n) = net {
                assert!(
                    n.prefix_len() < 96 || n.network().to_ipv4_mapped().is_none(),
                    "IPv4-mapped range {n} not canonicalised"
                );
            }
            assert_eq!(
                parse_ip_or_cidr(&net.to_string()).expect("display re-parses"),
                net
            );
        }
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidRequest),
    }
});
