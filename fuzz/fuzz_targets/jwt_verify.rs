//! `TokenCodec::verify` on hostile tokens, under HS256, ES256, EdDSA and RS256 keyrings.
//!
//! The first byte picks a mode:
//! - 0: the rest, as text, verified by every codec as access and as refresh token;
//! - 1: a valid token edited by the rest (replace / insert / delete bytes): any edit must
//!   make it fail — a changed token that still verifies is a forgery;
//! - 2: the rest split at the first NUL into a header and a payload, HS256-signed with the
//!   codec's own secret, so header and claims validation run behind a good signature;
//! - 3: a valid token verified at an arbitrary "now" (extreme times, saturating arithmetic).
#![no_main]

use cutty_core::Error;
use cutty_core::error::ErrorCode;
use cutty_core::token::{TokenCodec, TokenType, VerifiedClaims};
use cutty_fuzz::{NOW_MS, fixtures, hs256_sign};
use libfuzzer_sys::fuzz_target;

const LEEWAY_MS: i64 = 30_000;

fn check(codec: &TokenCodec, token: &str, kind: TokenType, now_ms: i64) -> Option<VerifiedClaims> {
    match codec.verify(token, kind, now_ms) {
        Ok(c) => {
            assert_eq!(c.kind(), kind);
            assert!(!c.user_id().is_empty() && c.user_id().len() <= 256);
            assert!(
                now_ms
                    < c.expires_at()
                        .saturating_mul(1000)
                        .saturating_add(LEEWAY_MS)
            );
            assert_eq!(c.issued_at_ms().div_euclid(1000), c.issued_at());
            Some(c)
        }
        Err(e) => {
            assert!(
                matches!(e, Error::InvalidToken(_) | Error::TokenExpired),
                "unexpected error {e:?}"
            );
            assert!(matches!(
                e.code(),
                ErrorCode::InvalidToken | ErrorCode::TokenExpired
            ));
            None
        }
    }
}

fn both_kinds(codec: &TokenCodec, token: &str, now_ms: i64) -> bool {
    let a = check(codec, token, TokenType::Access, now_ms).is_some();
    let r = check(codec, token, TokenType::Refresh, now_ms).is_some();
    assert!(!(a && r), "a token verified as both access and refresh");
    a || r
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fx = fixtures();
    match mode % 4 {
        0 => {
            let token = String::from_utf8_lossy(rest);
            for f in fx {
                both_kinds(&f.codec, &token, NOW_MS);
            }
        }
        1 => {
            let Some((&pick, edits)) = rest.split_first() else {
                return;
            };
            let f = &fx[usize::from(pick) % fx.len()];
            let original = if pick & 0x80 == 0 {
                &f.access
            } else {
                &f.refresh
            };
            let mut token = original.clone().into_bytes();
            for op in edits.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([op[0], op[1]]));
                match op[2] >> 6 {
                    0 | 1 if !token.is_empty() => {
                        let i = at % token.len();
                        token[i] = op[2] & 0x7f;
                    }
                    2 => token.insert(at % (token.len() + 1), op[2] & 0x7f),
                    _ if !token.is_empty() => {
                        token.remove(at % token.len());
                    }
                    _ => {}
                }
            }
            let token = String::from_utf8(token).expect("ASCII edits");
            let ok = both_kinds(&f.codec, &token, NOW_MS);
            if token == *original {
                assert!(ok, "an unedited valid token was refused");
            } else {
                assert!(!ok, "an edited token still verifies: {token}");
            }
            // No other keyring accepts it.
            for other in fx.iter().filter(|o| !std::ptr::eq(*o, f)) {
                assert!(!both_kinds(&other.codec, &token, NOW_MS));
            }
        }
        2 => {
            let (header, payload) = match rest.iter().position(|&b| b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest),
            };
            let token = hs256_sign(header, payload);
            both_kinds(&fx[0].codec, &token, NOW_MS);
            for other in &fx[1..] {
                assert!(
                    !both_kinds(&other.codec, &token, NOW_MS),
                    "HS256 token accepted by an asymmetric keyring"
                );
            }
        }
        _ => {
            let Some((&pick, rest)) = rest.split_first() else {
                return;
            };
            let mut now = [0u8; 8];
            let n = rest.len().min(8);
            now[..n].copy_from_slice(&rest[..n]);
            let now_ms = i64::from_le_bytes(now);
            let f = &fx[usize::from(pick) % fx.len()];
            let access = check(&f.codec, &f.access, TokenType::Access, now_ms);
            // Valid exactly from iat - leeway to exp + leeway (exclusive), Cutty's rule.
            let iat_ms = NOW_MS.div_euclid(1000) * 1000;
            let exp_ms = iat_ms + 900_000;
            let expect = now_ms >= iat_ms - LEEWAY_MS && now_ms < exp_ms + LEEWAY_MS;
            assert_eq!(access.is_some(), expect, "access token at now_ms={now_ms}");
            check(&f.codec, &f.refresh, TokenType::Refresh, now_ms);
        }
    }
});
