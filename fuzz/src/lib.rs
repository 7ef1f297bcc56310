//! Shared set-up for the fuzz targets: token codecs over the committed test keys, an HS256
//! signer for arbitrary headers and payloads, and the password cost gate.
//!
//! Everything here is test scaffolding; none of it is used outside `fuzz/`.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cutty_core::token::{
    Algorithm, FamilyId, Keyring, SigningKey, TokenCodec, TokenConfig, TokenType, VerificationKey,
};
use hmac::{Hmac, Mac};

/// The HS256 secret of `cutty-core/tests/vectors/pyjwt_tokens.json`, so its tokens verify.
pub const HS_SECRET: &[u8] = b"cutty-pyjwt-TEST-ONLY-secret-not-for-production";

/// "Now" for the fuzz targets: the time the PyJWT vectors were made for.
pub const NOW_MS: i64 = 1_800_000_000_000;

const EC_PRIVATE: &str =
    include_str!("../../cutty-core/tests/vectors/keys/test_ec_p256_private.pem");
const EC_PUBLIC: &str = include_str!("../../cutty-core/tests/vectors/keys/test_ec_p256_public.pem");
const ED_PRIVATE: &str =
    include_str!("../../cutty-core/tests/vectors/keys/test_ed25519_private.pem");
const ED_PUBLIC: &str = include_str!("../../cutty-core/tests/vectors/keys/test_ed25519_public.pem");
const RSA_PRIVATE: &str = include_str!("../../cutty-core/tests/vectors/keys/test_rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../../cutty-core/tests/vectors/keys/test_rsa_public.pem");

/// One configured codec and a valid access and refresh token it issued at [`NOW_MS`].
#[derive(Debug)]
pub struct Fixture {
    /// The codec.
    pub codec: TokenCodec,
    /// A valid access token.
    pub access: String,
    /// A valid refresh token.
    pub refresh: String,
}

fn asym(alg: Algorithm, private: &str, public: &str, kid: &str) -> TokenCodec {
    let keys = Keyring::new(
        SigningKey::from_pem(alg, private.as_bytes())
            .expect("signing key")
            .with_kid(kid)
            .expect("kid"),
    )
    .with_verification_key(
        VerificationKey::from_pem(alg, public.as_bytes())
            .expect("verification key")
            .with_kid(kid)
            .expect("kid"),
    )
    .expect("keyring");
    let config = TokenConfig {
        algorithms: vec![alg],
        ..TokenConfig::default()
    };
    TokenCodec::new(config, keys).expect("codec")
}

fn fixture(codec: TokenCodec) -> Fixture {
    let family = FamilyId::random();
    let access = codec
        .issue(TokenType::Access, "42", family, NOW_MS)
        .expect("issue")
        .into_string();
    let refresh = codec
        .issue(TokenType::Refresh, "42", family, NOW_MS)
        .expect("issue")
        .into_string();
    Fixture {
        codec,
        access,
        refresh,
    }
}

/// HS256 (the default), ES256 (kid `test-ec`), EdDSA (kid `test-ed`) and RS256 (kid
/// `test-rsa`) codecs — the kids of the PyJWT vectors — built once.
pub fn fixtures() -> &'static [Fixture; 4] {
    static F: OnceLock<[Fixture; 4]> = OnceLock::new();
    F.get_or_init(|| {
        [
            fixture(TokenCodec::hs256(HS_SECRET).expect("hs256")),
            fixture(asym(Algorithm::ES256, EC_PRIVATE, EC_PUBLIC, "test-ec")),
            fixture(asym(Algorithm::EdDSA, ED_PRIVATE, ED_PUBLIC, "test-ed")),
            fixture(asym(Algorithm::RS256, RSA_PRIVATE, RSA_PUBLIC, "test-rsa")),
        ]
    })
}

/// `base64url(header).base64url(payload).HS256 signature` with [`HS_SECRET`]: lets the
/// fuzzer reach header and claims validation behind a valid signature.
pub fn hs256_sign(header: &[u8], payload: &[u8]) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HS_SECRET).expect("any key length");
    mac.update(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
    token
}

/// Largest PBKDF2 iteration count the `password_verify` target runs (about 3 ms).
pub const MAX_FUZZ_PBKDF2_ITERATIONS: u64 = 10_000;
/// Largest argon2 `m × t` (KiB × passes) the target runs.
pub const MAX_FUZZ_ARGON2_WORK: u64 = 8 * 1024;
/// Largest scrypt `N × r × p` the target runs.
pub const MAX_FUZZ_SCRYPT_WORK: u64 = 1 << 12;
/// Largest bcrypt cost the target runs (cost 6 ≈ 4 ms).
pub const MAX_FUZZ_BCRYPT_COST: u64 = 6;

/// A decimal field as the core could read it: all ASCII digits, saturating; anything else
/// is 0 (the core's strict decimal parser refuses it before doing any work).
fn num(field: &str) -> u64 {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    field.parse().unwrap_or(u64::MAX)
}

/// Whether verifying `encoded` is cheap enough for one fuzz execution.
///
/// The core refuses *absurd* parameters (`MAX_PBKDF2_ITERATIONS` = 10 million, about a
/// second; argon2 up to 1 GiB; scrypt up to 256 MiB; bcrypt cost 16), but what is legitimate
/// for a stored hash is far too slow for a fuzzer: a fuzzed `pbkdf2_sha256$9999999$…` would
/// take a second per run and hide everything else. This gate reads the cost fields the
/// same way the core's parser locates them and skips inputs above the `MAX_FUZZ_*` bounds.
/// Fields the core would refuse as malformed read as 0 (cheap), so malformed inputs still
/// reach the parser. The caps themselves are unit-tested in the core.
pub fn password_work_is_small(encoded: &str) -> bool {
    let Some((name, _)) = encoded.split_once('$') else {
        return true; // unusable `!…`, unsalted md5, or unknown: no configurable work
    };
    match name {
        "pbkdf2_sha256" | "pbkdf2_sha1" => {
            num(encoded.split('$').nth(1).unwrap_or("")) <= MAX_FUZZ_PBKDF2_ITERATIONS
        }
        "argon2" => {
            let fields: Vec<&str> = encoded.split('$').collect();
            let params = match fields.len() {
                6 => fields[3],
                5 => fields[2],
                _ => return true,
            };
            let (mut m, mut t, mut p) = (0u64, 0u64, 0u64);
            for item in params.split(',') {
                if let Some(v) = item.strip_prefix("m=") {
                    m = m.max(num(v));
                } else if let Some(v) = item.strip_prefix("t=") {
                    t = t.max(num(v));
                } else if let Some(v) = item.strip_prefix("p=") {
                    p = p.max(num(v));
                }
            }
            m.saturating_mul(t) <= MAX_FUZZ_ARGON2_WORK && p <= 16
        }
        "scrypt" => {
            let fields: Vec<&str> = encoded.split('$').collect();
            if fields.len() != 6 {
                return true;
            }
            let (n, r, p) = (num(fields[1]), num(fields[3]), num(fields[4]));
            n.saturating_mul(r).saturating_mul(p) <= MAX_FUZZ_SCRYPT_WORK
        }
        "bcrypt" | "bcrypt_sha256" => {
            num(encoded.split('$').nth(3).unwrap_or("")) <= MAX_FUZZ_BCRYPT_COST
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_gate() {
        let h = "A".repeat(44);
        assert!(password_work_is_small(&format!(
            "pbkdf2_sha256$10000$salt${h}"
        )));
        assert!(!password_work_is_small(&format!(
            "pbkdf2_sha256$10001$salt${h}"
        )));
        assert!(!password_work_is_small(&format!(
            "pbkdf2_sha1$10000000$salt${h}"
        )));
        assert!(!password_work_is_small(
            "pbkdf2_sha256$99999999999999999999999$s$h"
        ));
        assert!(password_work_is_small("pbkdf2_sha256$+1000000$s$h")); // core refuses it
        assert!(password_work_is_small(
            "argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"
        ));
        assert!(!password_work_is_small(
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"
        ));
        assert!(!password_work_is_small(
            "argon2$argon2i$m=1048576,t=1,p=1$c2FsdA$aGFzaA"
        ));
        assert!(password_work_is_small(&format!(
            "scrypt$16$salt$1$1${}",
            "A".repeat(88)
        )));
        assert!(!password_work_is_small(&format!(
            "scrypt$16384$salt$8$5${}",
            "A".repeat(88)
        )));
        assert!(password_work_is_small(&format!(
            "bcrypt$$2b$06${}",
            "a".repeat(53)
        )));
        assert!(!password_work_is_small(&format!(
            "bcrypt_sha256$$2b$12${}",
            "a".repeat(53)
        )));
        assert!(password_work_is_small("!unusable"));
        assert!(password_work_is_small(&"0".repeat(32)));
    }
}
