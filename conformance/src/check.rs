//! Shape assertions, JWT inspection, forged tokens and API-key minting: the small tools the
//! rules are written with.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// How far a server timestamp may be from the test machine's clock (same machine for local
/// hosts; a remote host's clock is assumed synchronised).
pub const CLOCK_TOLERANCE_MS: i64 = 10 * 60 * 1000;

/// The test machine's clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The test machine's clock in Unix seconds.
pub fn now_s() -> i64 {
    now_ms() / 1000
}

/// The key set of an object.
#[track_caller]
pub fn keys(v: &Value, what: &str) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what}: not a JSON object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// Asserts that `v` is an object with exactly these fields.
#[track_caller]
pub fn assert_fields(v: &Value, expected: &[&str], what: &str) {
    let actual = keys(v, what);
    let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    let missing: Vec<_> = expected.difference(&actual).collect();
    let extra: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: fields differ from the contract; missing {missing:?}, unexpected {extra:?}: {v}"
    );
}

/// Asserts an integer (JSON number without fraction) and returns it.
#[track_caller]
pub fn int(v: &Value, what: &str) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("{what}: expected an integer, got {v}"))
}

/// Asserts a string and returns it.
#[track_caller]
pub fn string<'v>(v: &'v Value, what: &str) -> &'v str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v}"))
}

/// Asserts a boolean and returns it.
#[track_caller]
pub fn boolean(v: &Value, what: &str) -> bool {
    v.as_bool()
        .unwrap_or_else(|| panic!("{what}: expected a boolean, got {v}"))
}

/// Asserts an integer Unix-millisecond timestamp near the test machine's clock.
#[track_caller]
pub fn ms_near_now(v: &Value, what: &str) -> i64 {
    let t = int(v, what);
    let now = now_ms();
    assert!(
        (t - now).abs() <= CLOCK_TOLERANCE_MS,
        "{what}: {t} is not a Unix-millisecond timestamp near now ({now})"
    );
    t
}

/// An id used in a path: a string as is, an integer as its digits.
#[track_caller]
pub fn path_id(v: &Value, what: &str) -> String {
    match v {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        other => panic!("{what}: expected a string or integer id, got {other}"),
    }
}

/// Asserts the contract's `user` object and returns its id.
#[track_caller]
pub fn assert_user(v: &Value, what: &str) -> i64 {
    assert_fields(
        v,
        &[
            "id",
            "username",
            "email",
            "is_active",
            "is_admin",
            "created_at",
        ],
        what,
    );
    string(&v["username"], &format!("{what}.username"));
    string(&v["email"], &format!("{what}.email"));
    boolean(&v["is_active"], &format!("{what}.is_active"));
    boolean(&v["is_admin"], &format!("{what}.is_admin"));
    ms_near_now(&v["created_at"], &format!("{what}.created_at"));
    int(&v["id"], &format!("{what}.id"))
}

/// Asserts a token pair's four fields (others may be present when `exact` is false, e.g.
/// `user` on login) and returns `(access, refresh)`.
#[track_caller]
pub fn assert_token_pair(v: &Value, expires_in: i64, exact: bool, what: &str) -> (String, String) {
    if exact {
        assert_fields(
            v,
            &["access_token", "refresh_token", "token_type", "expires_in"],
            what,
        );
    }
    let access = string(&v["access_token"], &format!("{what}.access_token"));
    let refresh = string(&v["refresh_token"], &format!("{what}.refresh_token"));
    assert_eq!(
        v["token_type"],
        json!("Bearer"),
        "{what}: token_type must be \"Bearer\""
    );
    assert_eq!(
        int(&v["expires_in"], &format!("{what}.expires_in")),
        expires_in,
        "{what}: expires_in must be the access-token lifetime"
    );
    assert_ne!(
        access, refresh,
        "{what}: access and refresh tokens are equal"
    );
    (access.to_owned(), refresh.to_owned())
}

/// A decoded JWT (no signature check: the suite does not know the host's secret).
#[derive(Debug, Clone)]
pub struct Jwt {
    /// Header JSON.
    pub header: Value,
    /// Claims JSON.
    pub claims: Value,
    /// The three encoded segments.
    pub segments: [String; 3],
}

/// Base64url (no padding) of bytes.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a JWT's header and claims.
#[track_caller]
pub fn decode_jwt(token: &str) -> Jwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "a JWT has three dot-separated segments: {token:?}"
    );
    let seg = |s: &str, what: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .unwrap_or_else(|e| panic!("JWT {what} is not base64url: {e}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT {what} is not JSON: {e}"))
    };
    Jwt {
        header: seg(parts[0], "header"),
        claims: seg(parts[1], "claims"),
        segments: [
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        ],
    }
}

/// HMAC-SHA256 (RFC 2104), for tokens signed with a key the host does not use.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A JWT with the given header and claims, signed HS256 with `key`.
pub fn sign_hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = hmac_sha256(key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&sig))
}

/// Lower-case hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Random bytes from the OS (through UUID v4), enough for test data.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

/// `n` random characters of `[a-z0-9]`.
pub fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes(n)
        .into_iter()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// The API-key prefix of the contract.
pub const KEY_PREFIX: &str = "cutty_";
const BASE62_DIGITS_FIRST: &[u8] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE62_LOWER_FIRST: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Whether a string is `cutty_` + 32 base62 characters.
pub fn is_key_shaped(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// One reading of "the last 6 characters are a checksum over the rest, as in GitHub's token
/// format": CRC32 in base62, most significant digit first, zero-padded to 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumScheme {
    /// Whether the checksum covers the `cutty_` prefix too (GitHub's does), or only the
    /// random part.
    pub covers_prefix: bool,
    /// Whether the base62 alphabet is `0-9A-Za-z` (GitHub's) or `0-9a-zA-Z`.
    pub digits_upper_first: bool,
}

impl ChecksumScheme {
    fn alphabet(self) -> &'static [u8] {
        if self.digits_upper_first {
            BASE62_DIGITS_FIRST
        } else {
            BASE62_LOWER_FIRST
        }
    }

    fn checksum(self, key_without_checksum: &str) -> String {
        let covered = if self.covers_prefix {
            key_without_checksum
        } else {
            &key_without_checksum[KEY_PREFIX.len()..]
        };
        let mut value = crc32fast::hash(covered.as_bytes());
        let alphabet = self.alphabet();
        let mut out = [b'0'; 6];
        for slot in out.iter_mut().rev() {
            *slot = alphabet[(value % 62) as usize];
            value /= 62;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The readings of GitHub's format that fit a key the host issued.
    pub fn fitting(real_key: &str) -> Vec<ChecksumScheme> {
        if !is_key_shaped(real_key) {
            return Vec::new();
        }
        let (body, sum) = real_key.split_at(real_key.len() - 6);
        [(true, true), (false, true), (true, false), (false, false)]
            .into_iter()
            .map(|(covers_prefix, digits_upper_first)| ChecksumScheme {
                covers_prefix,
                digits_upper_first,
            })
            .filter(|s| s.checksum(body) == sum)
            .collect()
    }

    /// A new random key, valid in format and checksum under this scheme, that no host issued.
    pub fn mint(self) -> String {
        let random: String = random_bytes(26)
            .into_iter()
            .map(|b| BASE62_DIGITS_FIRST[usize::from(b) % 62] as char)
            .collect();
        let body = format!("{KEY_PREFIX}{random}");
        let sum = self.checksum(&body);
        format!("{body}{sum}")
    }
}

/// `key` with one character of its random part changed (the checksum then fails).
pub fn corrupt_key(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    let i = KEY_PREFIX.len() + 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn minted_keys_fit_their_own_scheme_only() {
        for covers_prefix in [true, false] {
            for digits_upper_first in [true, false] {
                let s = ChecksumScheme {
                    covers_prefix,
                    digits_upper_first,
                };
                let key = s.mint();
                assert!(is_key_shaped(&key), "{key}");
                assert!(ChecksumScheme::fitting(&key).contains(&s));
                assert!(!ChecksumScheme::fitting(&corrupt_key(&key)).contains(&s));
            }
        }
    }

    #[test]
    fn github_scheme_known_answer() {
        // CRC32("cutty_" + 26 × 'a') written in base62 0-9A-Za-z, computed independently.
        let body = format!("cutty_{}", "a".repeat(26));
        let crc = crc32fast::hash(body.as_bytes());
        let mut v = u64::from(crc);
        let mut digits = Vec::new();
        for _ in 0..6 {
            digits.push(BASE62_DIGITS_FIRST[(v % 62) as usize]);
            v /= 62;
        }
        digits.reverse();
        let key = format!("{body}{}", String::from_utf8_lossy(&digits));
        assert!(ChecksumScheme::fitting(&key).contains(&ChecksumScheme {
            covers_prefix: true,
            digits_upper_first: true
        }));
    }

    #[test]
    fn jwt_round_trip() {
        let t = sign_hs256(&json!({"alg":"HS256"}), &json!({"sub":"1"}), b"k");
        let j = decode_jwt(&t);
        assert_eq!(j.claims["sub"], "1");
        assert_eq!(j.header["alg"], "HS256");
    }
}
