//! `parse_trusted_proxies` (`CUTTY_TRUSTED_PROXIES`) on hostile text; every accepted range
//! is canonical and trusted by a resolver built from it.
#![no_main]

use cutty_core::client_ip::{ClientIpResolver, MAX_TRUSTED_PROXIES, parse_trusted_proxies};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(nets) = parse_trusted_proxies(&text) {
        assert!(nets.len() <= MAX_TRUSTED_PROXIES);
        let resolver = ClientIpResolver::new(nets.iter().copied(), false);
        for net in &nets {
            assert_eq!(*net, net.trunc(), "host bits set in {net}");
            assert!(resolver.is_trusted(net.network()), "{net} network not trusted");
            assert!(resolver.is_trusted(net.broadcast()), "{net} last address not trusted");
        }
        let round: String = nets.iter().map(|n| format!("{n},")).collect();
        assert_eq!(parse_trusted_proxies(&round).expect("canonical list"), nets);
    }
});
