//! Parsing the `Authorization` request header: `Bearer <jwt>` or `Bearer cutty_<32>`.
//!
//! The contract accepts two credentials, both as bearer tokens (RFC 6750): a JWT access
//! token or an API key. [`parse_authorization`] takes the header's raw bytes (untrusted, as
//! the host received them) and answers a [`Credential`] borrowing the token, or
//! [`Error::InvalidToken`]`(`[`InvalidTokenReason::Malformed`]`)` — `AUTH_001` — for
//! anything else, decided in one bounded pass without allocating.
//!
//! ```
//! use cutty_core::auth_header::{parse_authorization, Credential};
//!
//! let jwt = parse_authorization(b"Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln").unwrap();
//! assert_eq!(jwt, Credential::Jwt("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"));
//!
//! let key = parse_authorization(b"bearer cutty_0123456789abcdefghijklmnopqrstuv").unwrap();
//! assert!(key.is_api_key());
//! assert_eq!(key.as_str(), "cutty_0123456789abcdefghijklmnopqrstuv");
//!
//! for bad in [&b"Basic dXNlcjpwYXNz"[..], b"Bearer", b"Bearer ", b"eyJ.e30.x", b"Bearer a b"] {
//!     assert_eq!(parse_authorization(bad).unwrap_err().code().as_str(), "AUTH_001");
//! }
//! ```
//!
//! # The rules, and why
//! The grammar is RFC 7235's `credentials = auth-scheme 1*SP token68` with RFC 6750's
//! `b64token` for the token — exactly what a standards-following client sends, and nothing
//! looser:
//!
//! - **At most [`MAX_AUTHORIZATION_LEN`] bytes** (8 KiB), checked before anything else. A JWT
//!   Cutty issues is a few hundred bytes and [`TokenCodec::verify`] refuses tokens over
//!   8 KiB anyway ([`MAX_TOKEN_LEN`]); a header this long is an attack or a mistake.
//! - **Surrounding whitespace** (SP and HTAB) is ignored: RFC 9110 §5.5 excludes it from the
//!   field value, and HTTP parsers strip it, so tolerating it changes nothing for a
//!   compliant host.
//! - **The scheme is `Bearer`, compared case-insensitively** (`bearer`, `BEARER`): RFC 7235
//!   §2.1 says schemes are case-insensitive. `Basic`, `Token`, a bare token without a
//!   scheme, or a missing header ([`parse_authorization_header`] with `None`) are
//!   `AUTH_001` — the contract's "a missing `Bearer ` prefix is `AUTH_001`".
//! - **One or more spaces** (SP only, no tab) separate scheme and token: RFC 7235's `1*SP`.
//!   Refusing `Bearer  x` would break clients that follow the RFC; accepting tabs or other
//!   whitespace would go beyond it.
//! - **The token is a `b64token`**: one or more of `A–Z a–z 0–9 - . _ ~ + /`, then any number
//!   of `=`. This covers every JWT (base64url segments joined by `.`) and every API key
//!   (`cutty_` + base62). It refuses empty tokens, inner whitespace (`Bearer a b`),
//!   `auth-param` lists (`Bearer realm="x"`), quotes, commas, control bytes and every
//!   non-ASCII byte — so the token handed on is always plain ASCII.
//!
//! Which credential it is: a token that starts with `cutty_`
//! ([`looks_like_api_key`]) is an [`Credential::ApiKey`], anything else a [`Credential::Jwt`].
//! Neither is validated further here: pass an API key to
//! [`ApiKey::parse`](crate::api_key::ApiKey::parse) (`API_001` if its format or checksum is
//! wrong — never retried as a JWT) and a JWT to [`TokenCodec::verify`].
//!
//! [`TokenCodec::verify`]: crate::token::TokenCodec::verify
//! [`MAX_TOKEN_LEN`]: crate::token::MAX_TOKEN_LEN

use std::fmt;

use crate::api_key::looks_like_api_key;
use crate::error::{Error, InvalidTokenReason};

/// Longest `Authorization` value accepted, in bytes (surrounding whitespace included): 8 KiB,
/// the same bound as [`MAX_TOKEN_LEN`](crate::token::MAX_TOKEN_LEN) for a token.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

/// The only accepted authentication scheme (compared case-insensitively).
pub const BEARER_SCHEME: &str = "Bearer";

/// The bearer credential carried by an `Authorization` header, borrowed from it.
///
/// Both variants hold a secret: the `Debug` output shows only the kind and the length.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A token that is not API-key shaped: verify it as a JWT.
    Jwt(&'a str),
    /// A token starting with `cutty_`: parse it with
    /// [`ApiKey::parse`](crate::api_key::ApiKey::parse).
    ApiKey(&'a str),
}

impl<'a> Credential<'a> {
    /// The token itself (plain ASCII, never empty).
    pub fn as_str(&self) -> &'a str {
        match *self {
            Credential::Jwt(t) | Credential::ApiKey(t) => t,
        }
    }

    /// Whether this is an API key (the token starts with `cutty_`).
    pub fn is_api_key(&self) -> bool {
        matches!(self, Credential::ApiKey(_))
    }

    /// Classifies a token that is already known to be a well-formed `b64token`.
    fn classify(token: &'a str) -> Self {
        if looks_like_api_key(token) {
            Credential::ApiKey(token)
        } else {
            Credential::Jwt(token)
        }
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Credential::Jwt(_) => "Jwt",
            Credential::ApiKey(_) => "ApiKey",
        };
        f.debug_struct(kind)
            .field("len", &self.as_str().len())
            .finish_non_exhaustive()
    }
}

fn malformed() -> Error {
    Error::InvalidToken(InvalidTokenReason::Malformed)
}

/// The bytes of a `b64token` body, as a table (this runs on every request's token).
/// A `b64token` character, branch-free so that the check over a whole token vectorises
/// (`c | 0x20` folds `A-Z` onto `a-z` and sends no other byte into that range).
#[inline]
fn is_b64token_byte(c: u8) -> bool {
    ((c | 0x20).wrapping_sub(b'a') < 26)
        | (c.wrapping_sub(b'0') < 10)
        | (c == b'-')
        | (c == b'.')
        | (c == b'_')
        | (c == b'~')
        | (c == b'+')
        | (c == b'/')
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..body_len];
    // A fold, not `all`: no early exit, so the loop vectorises (the length is bounded).
    !body.is_empty() && body.iter().fold(true, |ok, &b| ok & is_b64token_byte(b))
}

/// Parses an `Authorization` header value: `Bearer <token>` (see the [module docs](self) for
/// the exact rules). Every refusal is [`Error::InvalidToken`]`(`[`InvalidTokenReason::Malformed`]`)`
/// (`AUTH_001`). Runs in time linear in the input, at most [`MAX_AUTHORIZATION_LEN`] bytes
/// looked at; never allocates, never panics.
pub fn parse_authorization(value: &[u8]) -> Result<Credential<'_>, Error> {
    let token = bearer_token(value)?;
    if !is_b64token(token) {
        // A credential that announces itself as an API key is judged as one: the contract
        // answers a key that is not `cutty_` + 32 base62 characters with API_001.
        if token.starts_with(crate::api_key::KEY_PREFIX.as_bytes()) {
            return Err(Error::ApiKeyMalformed);
        }
        return Err(malformed());
    }
    // A b64token is ASCII, hence UTF-8: this conversion cannot fail.
    let token = std::str::from_utf8(token).map_err(|_| malformed())?;
    Ok(Credential::classify(token))
}

/// The token bytes of `Bearer <token>`: the first step of [`parse_authorization`] (length
/// bound, surrounding whitespace, the scheme, the spaces after it), without the check of
/// the token's characters. For a host that looks a token up among the already verified
/// ones before parsing it (see
/// [`TokenService::verify_access_seen`](crate::token::TokenService::verify_access_seen));
/// anything not found there must go through `parse_authorization`.
pub fn bearer_token(value: &[u8]) -> Result<&[u8], Error> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(malformed());
    }
    let value = trim_ows(value);
    let scheme_len = value
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(malformed)?;
    let (scheme, rest) = value.split_at(scheme_len);
    if !scheme.eq_ignore_ascii_case(BEARER_SCHEME.as_bytes()) {
        return Err(malformed());
    }
    let token_start = rest.iter().position(|&b| b != b' ').ok_or_else(malformed)?;
    Ok(&rest[token_start..])
}

/// [`parse_authorization`] for an optional header: a missing `Authorization` header is
/// `AUTH_001` too. Use it on routes that require authentication.
pub fn parse_authorization_header(value: Option<&[u8]>) -> Result<Credential<'_>, Error> {
    value.map_or_else(|| Err(malformed()), parse_authorization)
}

/// Strips leading and trailing SP / HTAB (RFC 9110 `OWS`).
fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "cutty_0123456789abcdefghijklmnopqrstuv";
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn is_malformed(r: Result<Credential<'_>, Error>) -> bool {
        matches!(r, Err(Error::InvalidToken(InvalidTokenReason::Malformed)))
    }

    #[test]
    fn b64token_bytes_are_exactly_the_rfc_6750_alphabet() {
        for c in 0..=255u8 {
            let rfc =
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(is_b64token_byte(c), rfc, "byte {c:#04x}");
        }
    }

    #[test]
    fn malformed_api_keys_are_api_001_not_auth_001() {
        let r =
            parse_authorization("Bearer cutty_0123456789abcdefghijklmnopqrstu\u{e9}".as_bytes());
        assert!(matches!(r, Err(Error::ApiKeyMalformed)), "{r:?}");
        assert!(is_malformed(parse_authorization(b"Bearer not a token")));
    }

    #[test]
    fn bearer_jwt_and_api_key() {
        let h = format!("Bearer {JWT}");
        assert_eq!(
            parse_authorization(h.as_bytes()).unwrap(),
            Credential::Jwt(JWT)
        );
        let h = format!("Bearer {KEY}");
        let c = parse_authorization(h.as_bytes()).unwrap();
        assert_eq!(c, Credential::ApiKey(KEY));
        assert!(c.is_api_key());
        assert_eq!(c.as_str(), KEY);
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for scheme in ["bearer", "BEARER", "bEaReR", "Bearer"] {
            let h = format!("{scheme} {JWT}");
            assert_eq!(
                parse_authorization(h.as_bytes()).unwrap(),
                Credential::Jwt(JWT)
            );
        }
    }

    #[test]
    fn one_or_more_spaces_and_surrounding_whitespace() {
        for h in [
            format!("Bearer  {JWT}"),
            format!("Bearer     {KEY}"),
            format!("  Bearer {JWT}"),
            format!("\tBearer {JWT}\t "),
        ] {
            assert!(parse_authorization(h.as_bytes()).is_ok(), "{h:?}");
        }
    }

    #[test]
    fn refusals_are_auth_001_malformed() {
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"   ".to_vec(),
            b"Bearer".to_vec(),
            b"Bearer ".to_vec(),
            b"Bearer    ".to_vec(),
            JWT.as_bytes().to_vec(),
            KEY.as_bytes().to_vec(),
            format!("Basic {JWT}").into_bytes(),
            format!("Token {KEY}").into_bytes(),
            format!("Bearer\t{JWT}").into_bytes(),
            format!("Bearer{JWT}").into_bytes(),
            format!("Bearerx {JWT}").into_bytes(),
            format!("Bear {JWT}").into_bytes(),
            format!("Bearer {JWT} extra").into_bytes(),
            format!("Bearer {JWT}\r\n").into_bytes(),
            format!("Bearer {JWT},").into_bytes(),
            b"Bearer realm=\"x\"".to_vec(),
            b"Bearer ===".to_vec(),
            b"Bearer a=b".to_vec(),
            b"Bearer \"abc\"".to_vec(),
            b"Bearer ab\0c".to_vec(),
            "Bearer abc\u{e9}".as_bytes().to_vec(),
            b"Bearer \xff\xfe".to_vec(),
            "B\u{e9}arer abc".as_bytes().to_vec(),
        ];
        for c in &cases {
            let r = parse_authorization(c);
            assert!(is_malformed(r), "{:?}", String::from_utf8_lossy(c));
            let err = parse_authorization(c).unwrap_err();
            assert_eq!(err.code().as_str(), "AUTH_001");
        }
    }

    #[test]
    fn missing_header_is_auth_001() {
        assert!(is_malformed(parse_authorization_header(None)));
        let h = format!("Bearer {KEY}");
        assert_eq!(
            parse_authorization_header(Some(h.as_bytes())).unwrap(),
            Credential::ApiKey(KEY)
        );
    }

    #[test]
    fn padding_only_at_the_end() {
        assert_eq!(
            parse_authorization(b"Bearer abc==").unwrap().as_str(),
            "abc=="
        );
        assert!(is_malformed(parse_authorization(b"Bearer ab=c")));
    }

    #[test]
    fn length_cap() {
        let max_token = "a".repeat(MAX_AUTHORIZATION_LEN - "Bearer ".len());
        let h = format!("Bearer {max_token}");
        assert_eq!(h.len(), MAX_AUTHORIZATION_LEN);
        assert_eq!(
            parse_authorization(h.as_bytes()).unwrap().as_str(),
            max_token
        );
        let h = format!("Bearer {max_token}a");
        assert!(is_malformed(parse_authorization(h.as_bytes())));
        // Whitespace counts towards the cap too.
        let h = format!("Bearer {max_token} ");
        assert!(is_malformed(parse_authorization(h.as_bytes())));
    }

    #[test]
    fn malformed_api_key_is_still_an_api_key() {
        // Classification only; ApiKey::parse refuses it with API_001 later.
        let c = parse_authorization(b"Bearer cutty_short").unwrap();
        assert_eq!(c, Credential::ApiKey("cutty_short"));
        assert!(crate::api_key::ApiKey::parse(c.as_str()).is_err());
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let jwt = format!("{:?}", Credential::Jwt(JWT));
        let key = format!("{:?}", Credential::ApiKey(KEY));
        assert!(!jwt.contains("eyJ") && jwt.starts_with("Jwt"), "{jwt}");
        assert!(
            !key.contains("cutty_0") && key.starts_with("ApiKey"),
            "{key}"
        );
    }

    fn b64token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._~+/-]{1,200}={0,3}"
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_authorization(&bytes);
        }

        /// `bearer_token` is exactly the first step of `parse_authorization`: whatever the
        /// latter accepts, the former found the same bytes; whatever the former refuses,
        /// the latter refuses too.
        #[test]
        fn bearer_token_is_the_first_step(prefix in "[ \t]{0,2}[bB][eE][aA][rR][eE][rR]?[ \t]{0,3}", tail in any::<Vec<u8>>()) {
            let mut h = prefix.into_bytes();
            h.extend_from_slice(&tail);
            match (bearer_token(&h), parse_authorization(&h)) {
                (Ok(t), Ok(c)) => prop_assert_eq!(t, c.as_str().as_bytes()),
                (Err(a), Err(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
                (Ok(_), Err(_)) => {} // refused by the character check
                (Err(e), Ok(c)) => prop_assert!(false, "bearer_token refused {e:?}, parse accepted {c:?}"),
            }
        }

        #[test]
        fn never_panics_near_valid(prefix in "[bB][eE][aA][rR][eE][rR][ \t]{0,3}", tail in any::<Vec<u8>>()) {
            let mut h = prefix.into_bytes();
            h.extend_from_slice(&tail);
            if let Ok(c) = parse_authorization(&h) {
                prop_assert!(c.as_str().is_ascii() && !c.as_str().is_empty());
            }
        }

        #[test]
        fn round_trip(
            token in b64token(),
            scheme_upper in proptest::collection::vec(any::<bool>(), 6),
            spaces in 1usize..5,
            lead in "[ \t]{0,2}",
            trail in "[ \t]{0,2}",
        ) {
            let scheme: String = BEARER_SCHEME
                .chars()
                .zip(&scheme_upper)
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let h = format!("{lead}{scheme}{}{token}{trail}", " ".repeat(spaces));
            let c = parse_authorization(h.as_bytes()).unwrap();
            prop_assert_eq!(c.as_str(), token.as_str());
            prop_assert_eq!(c.is_api_key(), token.starts_with("cutty_"));
        }

        #[test]
        fn key_shaped_is_api_key(rest in "[A-Za-z0-9]{0,40}") {
            let token = format!("cutty_{rest}");
            let h = format!("Bearer {token}");
            prop_assert_eq!(parse_authorization(h.as_bytes()).unwrap(), Credential::ApiKey(&token));
        }

        #[test]
        fn non_ascii_is_refused(token in b64token(), at in any::<prop::sample::Index>(), byte in 0x80u8..) {
            let mut h = format!("Bearer {token}").into_bytes();
            let i = at.index(h.len());
            h.insert(i, byte);
            prop_assert!(is_malformed(parse_authorization(&h)));
        }

        #[test]
        fn inner_whitespace_or_comma_is_refused(a in b64token(), b in b64token(), sep in "[ \t,;]") {
            let h = format!("Bearer {a}{sep}{b}");
            prop_assert!(is_malformed(parse_authorization(h.as_bytes())));
        }
    }
}
