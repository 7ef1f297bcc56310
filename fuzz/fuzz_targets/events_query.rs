//! `EventQuery::from_pairs` on a hostile query string, split on `&` and the first `=`
//! (as a host would after percent-decoding).
#![no_main]

use cutty_core::Error;
use cutty_core::error::ErrorCode;
use cutty_core::event::{EventCursor, EventQuery, MAX_LIMIT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pairs: Vec<(&str, &str)> = text
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let result = EventQuery::from_pairs(pairs.iter().copied());
    match &result {
        Ok(q) => {
            assert!((1..=MAX_LIMIT).contains(&q.limit));
            assert_eq!(q.limit_usize(), q.limit as usize);
            if let (Some(s), Some(u)) = (q.since, q.until) {
                assert!(s <= u);
            }
            if let Some(ip) = q.ip_address {
                assert_eq!(ip, ip.to_canonical());
            }
            if let Some(c) = q.cursor {
                assert_eq!(EventCursor::decode(&c.encode()), Some(c));
            }
        }
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::InvalidRequest);
            let Error::InvalidRequest(v) = e else {
                panic!("not InvalidRequest: {e:?}");
            };
            assert!(!v.is_empty(), "REQ_001 without a field");
        }
    }
    // Deterministic.
    let again = EventQuery::from_pairs(pairs.iter().copied());
    assert_eq!(result.as_ref().ok(), again.as_ref().ok());
});
