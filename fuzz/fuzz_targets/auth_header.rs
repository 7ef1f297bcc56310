//! `parse_authorization` (and its first step, `bearer_token`) on hostile header bytes, then
//! the credential through the verifier a host would pick (API-key parser or HS256 JWT codec).
#![no_main]

use cutty_core::Error;
use cutty_core::api_key::{ApiKey, looks_like_api_key};
use cutty_core::auth_header::{
    Credential, MAX_AUTHORIZATION_LEN, bearer_token, parse_authorization,
};
use cutty_core::error::InvalidTokenReason;
use cutty_core::token::TokenType;
use cutty_fuzz::{NOW_MS, fixtures};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bearer = bearer_token(data);
    match parse_authorization(data) {
        Ok(cred) => {
            let t = cred.as_str();
            // `bearer_token` is parse_authorization's first step: it found the same bytes.
            assert_eq!(bearer.as_deref().ok(), Some(t.as_bytes()));
            assert!(data.len() <= MAX_AUTHORIZATION_LEN);
            assert!(!t.is_empty() && t.is_ascii());
            assert!(!t.bytes().any(|b| b.is_ascii_whitespace() || b == b','));
            assert_eq!(cred.is_api_key(), looks_like_api_key(t));
            // The token is the tail of the header, after the scheme.
            let trimmed = data.trim_ascii_end();
            assert!(trimmed.ends_with(t.as_bytes()));
            let start = data.trim_ascii_start();
            assert!(start.len() > 7 && start[..6].eq_ignore_ascii_case(b"bearer"));
            // Canonical form round-trips.
            let canonical = format!("Bearer {t}");
            assert_eq!(
                parse_authorization(canonical.as_bytes()).expect("canonical"),
                cred
            );
            match cred {
                Credential::ApiKey(k) => {
                    let _ = ApiKey::parse(k);
                }
                Credential::Jwt(j) => {
                    let _ = fixtures()[0].codec.verify(j, TokenType::Access, NOW_MS);
                }
            }
        }
        // A credential that announces itself as an API key (`cutty_…`) but is not a token
        // is API_001; everything else malformed is AUTH_001. What `bearer_token` refuses,
        // parse_authorization refuses.
        Err(e) => assert!(
            matches!(
                e,
                Error::InvalidToken(InvalidTokenReason::Malformed) | Error::ApiKeyMalformed
            ),
            "{e:?}"
        ),
    }
});
