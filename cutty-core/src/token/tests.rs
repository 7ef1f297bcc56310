//! Unit and property tests for tokens. PyJWT interop lives in `tests/pyjwt.rs`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::testing::{FakeTokenStore, block_on};
use super::*;
use crate::clock::{Clock, FakeClock};
use crate::error::{Error, ErrorCode, InvalidTokenReason as R, StoreErrorKind};

const SECRET: &[u8] = b"unit-test secret, 32 bytes or more.";
const T0: i64 = 1_800_000_000_123;

const RSA_PRIV: &str = include_str!("../../tests/vectors/keys/test_rsa_private.pem");
const RSA_PUB: &str = include_str!("../../tests/vectors/keys/test_rsa_public.pem");
const EC_PRIV: &str = include_str!("../../tests/vectors/keys/test_ec_p256_private.pem");
const EC_PUB: &str = include_str!("../../tests/vectors/keys/test_ec_p256_public.pem");
const ED_PRIV: &str = include_str!("../../tests/vectors/keys/test_ed25519_private.pem");
const ED_PUB: &str = include_str!("../../tests/vectors/keys/test_ed25519_public.pem");

fn codec() -> TokenCodec {
    TokenCodec::hs256(SECRET).expect("codec")
}

fn service() -> (TokenService<FakeTokenStore, FakeClock>, FakeClock) {
    let clock = FakeClock::at_unix_ms(T0);
    (
        TokenService::new(codec(), FakeTokenStore::new(), clock.clone()),
        clock,
    )
}

fn reason(e: Error) -> R {
    match e {
        Error::InvalidToken(r) => r,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

/// Signs arbitrary header/claims JSON with HMAC-SHA256 (to craft hostile tokens).
fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("json"));
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("json"));
    let msg = format!("{h}.{p}");
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("key");
    mac.update(msg.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{msg}.{sig}")
}

fn good_claims(kind: &str) -> Value {
    let iat = T0 / 1000;
    json!({
        "sub": "7", "jti": "6f1c2f86-2a5c-4b1e-9d55-0e0c8f1f3a11", "iat": iat, "exp": iat + 900,
        "iss": "cutty", "type": kind, "fam": "0b7e7e55-3a4d-4c4b-8f7e-3f0e5c1d2b3a",
    })
}

fn hs_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

// ---------- config and keys ----------

#[test]
fn defaults_are_the_contract() {
    let c = TokenConfig::default();
    assert_eq!(c.issuer, "cutty");
    assert_eq!(c.leeway, Duration::from_secs(30));
    assert_eq!(c.access_ttl, Duration::from_secs(900));
    assert_eq!(c.refresh_ttl, Duration::from_secs(604_800));
    assert_eq!(c.algorithms, vec![Algorithm::HS256]);
    c.validate().expect("defaults are valid");
}

#[test]
fn allow_list_spanning_families_is_refused() {
    for algs in [
        vec![Algorithm::HS256, Algorithm::RS256],
        vec![Algorithm::RS256, Algorithm::HS256],
        vec![Algorithm::ES256, Algorithm::EdDSA],
        vec![Algorithm::HS512, Algorithm::HS256, Algorithm::PS256],
    ] {
        let c = TokenConfig {
            algorithms: algs,
            ..TokenConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::MixedFamilies(..))));
        let keys = Keyring::hmac(Algorithm::HS256, SECRET).expect("keys");
        assert!(matches!(
            TokenCodec::new(c, keys),
            Err(ConfigError::MixedFamilies(..))
        ));
    }
    let empty = TokenConfig {
        algorithms: vec![],
        ..TokenConfig::default()
    };
    assert_eq!(empty.validate(), Err(ConfigError::NoAlgorithm));
}

#[test]
fn bad_settings_are_refused() {
    let bad = [
        TokenConfig {
            issuer: String::new(),
            ..TokenConfig::default()
        },
        TokenConfig {
            access_ttl: Duration::ZERO,
            ..TokenConfig::default()
        },
        TokenConfig {
            refresh_ttl: Duration::from_millis(1500),
            ..TokenConfig::default()
        },
        TokenConfig {
            leeway: Duration::from_secs(301),
            ..TokenConfig::default()
        },
    ];
    for c in bad {
        assert!(c.validate().is_err(), "{c:?}");
    }
}

#[test]
fn keys_must_be_allowed_and_strong() {
    assert_eq!(
        SigningKey::hs256(&[7; 31]).unwrap_err(),
        KeyError::WeakSecret { len: 31, min: 32 }
    );
    assert!(matches!(
        SigningKey::hmac(Algorithm::HS512, &[7; 63]),
        Err(KeyError::WeakSecret { min: 64, .. })
    ));
    assert_eq!(
        SigningKey::from_pem(Algorithm::HS256, RSA_PRIV.as_bytes()).unwrap_err(),
        KeyError::WrongFamily(Algorithm::HS256)
    );
    assert_eq!(
        SigningKey::from_pem(Algorithm::ES256, RSA_PRIV.as_bytes()).unwrap_err(),
        KeyError::InvalidKey(Algorithm::ES256)
    );
    assert_eq!(
        VerificationKey::from_pem(Algorithm::RS256, b"not a pem").unwrap_err(),
        KeyError::InvalidKey(Algorithm::RS256)
    );
    // A signing key outside the allow-list.
    let keys = Keyring::hmac(Algorithm::HS384, &[1; 48]).expect("keys");
    assert_eq!(
        TokenCodec::new(TokenConfig::default(), keys).unwrap_err(),
        ConfigError::KeyNotAllowed(Algorithm::HS384)
    );
    // No verification key.
    let keys = Keyring::new(SigningKey::hs256(SECRET).expect("key"));
    assert_eq!(
        TokenCodec::new(TokenConfig::default(), keys).unwrap_err(),
        ConfigError::NoVerificationKey
    );
    // Duplicate kid.
    let dup = Keyring::hmac(Algorithm::HS256, SECRET)
        .expect("keys")
        .with_verification_key(VerificationKey::hs256(&[9; 32]).expect("key"));
    assert_eq!(dup.unwrap_err(), KeyError::DuplicateKid(None));
    assert_eq!(
        SigningKey::hs256(SECRET)
            .expect("k")
            .with_kid("")
            .unwrap_err(),
        KeyError::BadKid
    );
}

#[test]
fn debug_output_never_shows_secrets_or_tokens() {
    let secret = b"DEBUG-CANARY-DEBUG-CANARY-DEBUG-CANARY";
    let keys = Keyring::hmac(Algorithm::HS256, secret).expect("keys");
    let codec = TokenCodec::new(TokenConfig::default(), keys).expect("codec");
    let printed = format!("{codec:?}");
    assert!(!printed.contains("CANARY"), "{printed}");
    assert!(!printed.contains("68, 69, 66"), "{printed}"); // "DEB" as bytes
    let (svc, _) = service();
    let pair = block_on(svc.issue_pair("1")).expect("pair");
    let printed = format!("{pair:?}");
    assert!(!printed.contains(&pair.pair.access_token), "{printed}");
    assert!(!printed.contains(&pair.pair.refresh_token), "{printed}");
    let t = codec
        .issue(TokenType::Access, "1", FamilyId::random(), T0)
        .expect("t");
    assert!(!format!("{t:?}").contains(t.as_str()));
}

// ---------- codec ----------

#[test]
fn issued_token_has_the_contract_claims() {
    let c = codec();
    let fam = FamilyId::random();
    let t = c.issue(TokenType::Access, "42", fam, T0).expect("issue");
    let parts: Vec<&str> = t.as_str().split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(claims["sub"], "42");
    assert_eq!(claims["iss"], "cutty");
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["iat"], T0 / 1000);
    assert_eq!(claims["exp"], T0 / 1000 + 900);
    assert_eq!(claims["iat_ms"], T0);
    assert_eq!(claims["fam"], fam.to_string());
    let jti = uuid::Uuid::parse_str(claims["jti"].as_str().expect("str")).expect("uuid");
    assert_eq!(jti.get_version_num(), 4);
    assert_eq!(jti, t.jti());

    let v = c.verify(t.as_str(), TokenType::Access, T0).expect("verify");
    assert_eq!(v.user_id(), "42");
    assert_eq!(v.family(), fam);
    assert_eq!(v.jti(), t.jti());
    assert_eq!(v.issued_at_ms(), T0);
    assert_eq!(v.expires_at(), T0 / 1000 + 900);

    let r = c.issue(TokenType::Refresh, "42", fam, T0).expect("issue");
    assert_eq!(r.expires_at(), T0 / 1000 + 604_800);
}

#[test]
fn type_confusion_is_wrong_type() {
    let c = codec();
    let fam = FamilyId::random();
    let a = c.issue(TokenType::Access, "1", fam, T0).expect("a");
    let r = c.issue(TokenType::Refresh, "1", fam, T0).expect("r");
    assert_eq!(
        reason(c.verify(a.as_str(), TokenType::Refresh, T0).unwrap_err()),
        R::WrongType
    );
    assert_eq!(
        reason(c.verify(r.as_str(), TokenType::Access, T0).unwrap_err()),
        R::WrongType
    );
    let mut no_type = good_claims("access");
    no_type.as_object_mut().expect("obj").remove("type");
    let t = forge(&hs_header(), &no_type, SECRET);
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::WrongType
    );
}

#[test]
fn issuer_is_required_and_checked() {
    let c = codec();
    let mut wrong = good_claims("access");
    wrong["iss"] = json!("someone-else");
    let mut missing = good_claims("access");
    missing.as_object_mut().expect("obj").remove("iss");
    for claims in [wrong, missing] {
        let t = forge(&hs_header(), &claims, SECRET);
        assert_eq!(
            reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
            R::WrongIssuer
        );
    }
    let ok = forge(&hs_header(), &good_claims("access"), SECRET);
    c.verify(&ok, TokenType::Access, T0)
        .expect("forged-but-valid verifies");
}

#[test]
fn missing_or_mistyped_claims() {
    let c = codec();
    for (field, value) in [
        ("sub", Value::Null),
        ("sub", json!("")),
        ("jti", json!("not-a-uuid")),
        ("fam", Value::Null),
        ("exp", json!("soon")),
        ("iat", json!(1.5)),
        ("iat_ms", json!(1)),
    ] {
        let mut claims = good_claims("access");
        claims[field] = value;
        let t = forge(&hs_header(), &claims, SECRET);
        assert_eq!(
            reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
            R::MissingClaim,
            "{field}"
        );
    }
    let mut no_exp = good_claims("access");
    no_exp.as_object_mut().expect("obj").remove("exp");
    let t = forge(&hs_header(), &no_exp, SECRET);
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::MissingClaim
    );
    // Payload that is not JSON at all.
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let p = URL_SAFE_NO_PAD.encode(b"not json");
    let msg = format!("{h}.{p}");
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).expect("key");
    mac.update(msg.as_bytes());
    let t = format!(
        "{msg}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::Malformed
    );
}

#[test]
fn times_are_checked_against_the_given_clock_with_leeway() {
    let c = codec();
    let t = c
        .issue(TokenType::Access, "1", FamilyId::random(), T0)
        .expect("t");
    let exp_ms = t.expires_at_ms();
    // Valid until exp + 30 s (exclusive).
    c.verify(t.as_str(), TokenType::Access, exp_ms + 29_999)
        .expect("within leeway");
    assert!(matches!(
        c.verify(t.as_str(), TokenType::Access, exp_ms + 30_000),
        Err(Error::TokenExpired)
    ));
    // Issued in the future: fine within the leeway, refused beyond it.
    let iat_ms = (T0 / 1000) * 1000;
    c.verify(t.as_str(), TokenType::Access, iat_ms - 30_000)
        .expect("iat within leeway");
    assert_eq!(
        reason(
            c.verify(t.as_str(), TokenType::Access, iat_ms - 30_001)
                .unwrap_err()
        ),
        R::NotYetValid
    );
    // nbf.
    let mut claims = good_claims("access");
    claims["nbf"] = json!(T0 / 1000 + 120);
    let t = forge(&hs_header(), &claims, SECRET);
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::NotYetValid
    );
    c.verify(&t, TokenType::Access, T0 + 120_000 - 30_000)
        .expect("nbf reached within leeway");
    // Expired errors map to AUTH_002.
    assert_eq!(
        c.verify(&t, TokenType::Access, T0 + 10_000_000)
            .unwrap_err()
            .code(),
        ErrorCode::TokenExpired
    );
}

#[test]
fn hostile_headers() {
    let c = codec();
    let claims = good_claims("access");
    // alg none, with and without a signature.
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
    for t in [format!("{h}.{p}."), format!("{h}.{p}.c2ln")] {
        assert_eq!(
            reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
            R::AlgorithmNotAllowed
        );
    }
    for alg in ["None", "NONE", "hs256", "HS384", "RS256", ""] {
        let t = forge(&json!({"alg": alg}), &claims, SECRET);
        assert_eq!(
            reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
            R::AlgorithmNotAllowed,
            "{alg}"
        );
    }
    let t = forge(&json!({"typ": "JWT"}), &claims, SECRET);
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::Malformed
    );
    let t = forge(&json!({"alg": "HS256", "crit": ["exp"]}), &claims, SECRET);
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::Malformed
    );
    let t = forge(&json!({"alg": "HS256", "kid": "nope"}), &claims, SECRET);
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::UnknownKey
    );
    let t = forge(&hs_header(), &claims, b"another secret, also 32 bytes long");
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::BadSignature
    );
    for t in ["", ".", "..", "a.b", "a.b.c.d", "e30.e30.", "!!.e30.e30"] {
        assert_eq!(
            reason(c.verify(t, TokenType::Access, T0).unwrap_err()),
            R::Malformed,
            "{t:?}"
        );
    }
    let huge = format!("{}.e30.e30", "A".repeat(MAX_TOKEN_LEN));
    assert_eq!(
        reason(c.verify(&huge, TokenType::Access, T0).unwrap_err()),
        R::Malformed
    );
}

#[test]
fn kid_rotation_keeps_old_tokens_valid() {
    let old_secret = [1u8; 32];
    let new_secret = [2u8; 32];
    let old = TokenCodec::new(
        TokenConfig::default(),
        Keyring::new(
            SigningKey::hs256(&old_secret)
                .expect("k")
                .with_kid("old")
                .expect("kid"),
        )
        .with_verification_key(
            VerificationKey::hs256(&old_secret)
                .expect("k")
                .with_kid("old")
                .expect("kid"),
        )
        .expect("ring"),
    )
    .expect("codec");
    let rotated = TokenCodec::new(
        TokenConfig::default(),
        Keyring::new(
            SigningKey::hs256(&new_secret)
                .expect("k")
                .with_kid("new")
                .expect("kid"),
        )
        .with_verification_key(
            VerificationKey::hs256(&new_secret)
                .expect("k")
                .with_kid("new")
                .expect("kid"),
        )
        .expect("ring")
        .with_verification_key(
            VerificationKey::hs256(&old_secret)
                .expect("k")
                .with_kid("old")
                .expect("kid"),
        )
        .expect("ring"),
    )
    .expect("codec");
    let fam = FamilyId::random();
    let before = old.issue(TokenType::Access, "1", fam, T0).expect("t");
    let after = rotated.issue(TokenType::Access, "1", fam, T0).expect("t");
    rotated
        .verify(before.as_str(), TokenType::Access, T0)
        .expect("old kid still verifies");
    rotated
        .verify(after.as_str(), TokenType::Access, T0)
        .expect("new kid verifies");
    assert_eq!(
        reason(
            old.verify(after.as_str(), TokenType::Access, T0)
                .unwrap_err()
        ),
        R::UnknownKey
    );
    // Same kid, wrong key: a bad signature, not a key fallback.
    let h: Value = json!({"alg": "HS256", "kid": "old"});
    let t = forge(&h, &good_claims("access"), &new_secret);
    assert_eq!(
        reason(rotated.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::BadSignature
    );
}

fn asymmetric(alg: Algorithm, private: &str, public: &str) -> TokenCodec {
    let keys = Keyring::new(
        SigningKey::from_pem(alg, private.as_bytes())
            .expect("signing")
            .with_kid("k1")
            .expect("kid"),
    )
    .with_verification_key(
        VerificationKey::from_pem(alg, public.as_bytes())
            .expect("verification")
            .with_kid("k1")
            .expect("kid"),
    )
    .expect("ring");
    TokenCodec::new(
        TokenConfig {
            algorithms: vec![alg],
            ..TokenConfig::default()
        },
        keys,
    )
    .expect("codec")
}

#[test]
fn asymmetric_algorithms_round_trip() {
    for (alg, private, public) in [
        (Algorithm::RS256, RSA_PRIV, RSA_PUB),
        (Algorithm::PS256, RSA_PRIV, RSA_PUB),
        (Algorithm::ES256, EC_PRIV, EC_PUB),
        (Algorithm::EdDSA, ED_PRIV, ED_PUB),
    ] {
        let c = asymmetric(alg, private, public);
        let t = c
            .issue(TokenType::Access, "9", FamilyId::random(), T0)
            .expect("issue");
        let v = c.verify(t.as_str(), TokenType::Access, T0).expect("verify");
        assert_eq!(v.user_id(), "9");
        // Tampered payload fails.
        let mut parts: Vec<String> = t.as_str().split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("j");
        claims["sub"] = json!("1");
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        assert_eq!(
            reason(
                c.verify(&parts.join("."), TokenType::Access, T0)
                    .unwrap_err()
            ),
            R::BadSignature,
            "{alg:?}"
        );
    }
}

#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    let c = asymmetric(Algorithm::RS256, RSA_PRIV, RSA_PUB);
    let t = forge(
        &json!({"alg": "HS256", "kid": "k1"}),
        &good_claims("access"),
        RSA_PUB.as_bytes(),
    );
    assert_eq!(
        reason(c.verify(&t, TokenType::Access, T0).unwrap_err()),
        R::AlgorithmNotAllowed
    );
}

// ---------- service ----------

#[test]
fn pair_verify_refresh_and_reuse() {
    let (svc, clock) = service();
    block_on(async {
        let login = svc.issue_pair("5").await.expect("pair");
        let json = serde_json::to_value(&login.pair).expect("json");
        let keys: Vec<&String> = json.as_object().expect("obj").keys().collect();
        assert_eq!(
            keys,
            ["access_token", "expires_in", "refresh_token", "token_type"]
        );
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["expires_in"], 900);

        let me = svc
            .verify_access(&login.pair.access_token)
            .await
            .expect("ok");
        assert_eq!(me.user_id(), "5");
        assert_eq!(me.family(), login.family);
        assert_eq!(
            reason(
                svc.verify_access(&login.pair.refresh_token)
                    .await
                    .unwrap_err()
            ),
            R::WrongType
        );
        assert_eq!(
            reason(svc.refresh(&login.pair.access_token).await.unwrap_err()),
            R::WrongType
        );

        clock.advance(Duration::from_secs(10));
        let second = svc
            .refresh(&login.pair.refresh_token)
            .await
            .expect("rotate");
        assert_eq!(second.family, login.family);
        assert_ne!(second.refresh_jti, login.refresh_jti);
        // The old access token stays valid until its expiry.
        svc.verify_access(&login.pair.access_token)
            .await
            .expect("old access");
        let third = svc
            .refresh(&second.pair.refresh_token)
            .await
            .expect("rotate");

        // Reuse of the first refresh token: reported, family revoked.
        match svc
            .refresh_outcome(&login.pair.refresh_token)
            .await
            .expect("outcome")
        {
            RefreshOutcome::ReuseDetected { user_id, family } => {
                assert_eq!((user_id.as_str(), family), ("5", login.family));
            }
            other => panic!("expected reuse, got {other:?}"),
        }
        for t in [&login.pair.access_token, &third.pair.access_token] {
            assert_eq!(
                svc.verify_access(t).await.unwrap_err().code(),
                ErrorCode::TokenRevoked
            );
        }
        assert_eq!(
            svc.refresh(&third.pair.refresh_token)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::TokenRevoked
        );
        // Another login is unaffected.
        let other = svc.issue_pair("5").await.expect("pair");
        svc.verify_access(&other.pair.access_token)
            .await
            .expect("other session");
    });
}

#[test]
fn expiry_through_the_service() {
    let (svc, clock) = service();
    block_on(async {
        let login = svc.issue_pair("5").await.expect("pair");
        clock.advance(Duration::from_secs(900 + 30));
        assert_eq!(
            svc.verify_access(&login.pair.access_token)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::TokenExpired
        );
        svc.refresh(&login.pair.refresh_token)
            .await
            .expect("refresh still valid");
    });
}

#[test]
fn logout_revokes_the_session_only() {
    let (svc, _clock) = service();
    block_on(async {
        let a = svc.issue_pair("5").await.expect("pair");
        let b = svc.issue_pair("5").await.expect("pair");
        let c = svc.issue_pair("5").await.expect("pair");
        let me = svc.verify_access(&a.pair.access_token).await.expect("ok");
        svc.logout(&me, Some(&b.pair.refresh_token))
            .await
            .expect("logout");
        assert_eq!(
            svc.verify_access(&a.pair.access_token)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::TokenRevoked
        );
        assert_eq!(
            svc.refresh(&a.pair.refresh_token).await.unwrap_err().code(),
            ErrorCode::TokenRevoked
        );
        assert_eq!(
            svc.verify_access(&b.pair.access_token)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::TokenRevoked
        );
        svc.verify_access(&c.pair.access_token)
            .await
            .expect("untouched session");

        // Another user's refresh token: refused, nothing revoked.
        let mine = svc.verify_access(&c.pair.access_token).await.expect("ok");
        let other = svc.issue_pair("6").await.expect("pair");
        assert!(matches!(
            svc.logout(&mine, Some(&other.pair.refresh_token)).await,
            Err(Error::Forbidden)
        ));
        svc.verify_access(&c.pair.access_token)
            .await
            .expect("still valid");
        assert_eq!(
            reason(svc.logout(&mine, Some("garbage")).await.unwrap_err()),
            R::Malformed
        );
        svc.verify_access(&c.pair.access_token)
            .await
            .expect("still valid");
    });
}

#[test]
fn invalidation_is_millisecond_precise() {
    let (svc, clock) = service();
    block_on(async {
        let before = svc.issue_pair("5").await.expect("pair");
        let bystander = svc.issue_pair("6").await.expect("pair");
        clock.advance(Duration::from_millis(1));
        svc.invalidate_user("5").await.expect("invalidate");
        // Same millisecond as the invalidation (and same second as `before`): valid.
        let after = svc.issue_pair("5").await.expect("pair");
        assert_eq!(clock.now_unix_secs(), T0 / 1000);
        svc.verify_access(&after.pair.access_token)
            .await
            .expect("issued after");
        svc.refresh(&after.pair.refresh_token)
            .await
            .expect("issued after");
        for e in [
            svc.verify_access(&before.pair.access_token)
                .await
                .unwrap_err(),
            svc.refresh(&before.pair.refresh_token).await.unwrap_err(),
        ] {
            assert_eq!(e.code(), ErrorCode::TokenRevoked);
        }
        svc.verify_access(&bystander.pair.access_token)
            .await
            .expect("other user");
        // One record for the user, however many tokens.
        let records = svc.store().record_count();
        svc.invalidate_user("5").await.expect("again");
        assert_eq!(svc.store().record_count(), records);
    });
}

#[test]
fn a_token_without_iat_ms_loses_to_a_mark_in_its_second() {
    let (svc, clock) = service();
    block_on(async {
        let fam = FamilyId::random();
        svc.store()
            .create_family(fam, "7", uuid::Uuid::nil(), T0 + 1_000_000, T0)
            .await
            .expect("family");
        let mut claims = good_claims("access");
        claims["fam"] = json!(fam.to_string());
        let t = forge(&hs_header(), &claims, SECRET);
        svc.verify_access(&t).await.expect("valid before any mark");
        clock.advance(Duration::from_millis(1)); // still the same second as iat
        svc.invalidate_user("7").await.expect("invalidate");
        assert_eq!(
            svc.verify_access(&t).await.unwrap_err().code(),
            ErrorCode::TokenRevoked
        );
    });
}

#[test]
fn revoke_and_unrevoke_by_jti() {
    let (svc, _) = service();
    block_on(async {
        let p = svc.issue_pair("5").await.expect("pair");
        svc.revoke_jti(p.access_jti).await.expect("revoke");
        assert_eq!(
            svc.verify_access(&p.pair.access_token)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::TokenRevoked
        );
        assert!(svc.unrevoke_jti(p.access_jti).await.expect("unrevoke"));
        svc.verify_access(&p.pair.access_token)
            .await
            .expect("valid again");
        svc.revoke_jti(p.refresh_jti).await.expect("revoke refresh");
        assert_eq!(
            svc.refresh(&p.pair.refresh_token).await.unwrap_err().code(),
            ErrorCode::TokenRevoked
        );
        svc.revoke_family(p.family).await.expect("revoke family");
        assert_eq!(
            svc.verify_access(&p.pair.access_token)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::TokenRevoked
        );
    });
}

#[test]
fn store_failures_fail_closed() {
    let (svc, _) = service();
    block_on(async {
        let p = svc.issue_pair("5").await.expect("pair");
        svc.store().set_failing(true);
        for e in [
            svc.verify_access(&p.pair.access_token).await.unwrap_err(),
            svc.refresh(&p.pair.refresh_token).await.unwrap_err(),
            svc.issue_pair("5").await.unwrap_err(),
            svc.invalidate_user("5").await.unwrap_err(),
        ] {
            assert!(
                matches!(&e, Error::Store(s) if s.kind() == StoreErrorKind::Unavailable),
                "{e:?}"
            );
        }
        svc.store().set_failing(false);
        svc.verify_access(&p.pair.access_token).await.expect("back");
    });
}

#[test]
fn unknown_family_is_revoked() {
    let (svc, _) = service();
    let t = svc
        .codec()
        .issue(TokenType::Access, "5", FamilyId::random(), T0)
        .expect("t");
    assert_eq!(
        block_on(svc.verify_access(t.as_str())).unwrap_err().code(),
        ErrorCode::TokenRevoked
    );
}

#[test]
fn revocation_records_expire_with_the_tokens() {
    let (svc, clock) = service();
    block_on(async {
        let p = svc.issue_pair("5").await.expect("pair");
        let me = svc.verify_access(&p.pair.access_token).await.expect("ok");
        svc.logout(&me, None).await.expect("logout");
        svc.invalidate_user("5").await.expect("invalidate");
        assert!(svc.store().record_count() >= 3);
        let end = clock.now_unix_ms() + svc.codec().max_lifetime_ms() + 1;
        svc.store().purge_expired(end);
        assert_eq!(svc.store().record_count(), 0);
    });
}

#[test]
fn fake_store_passes_the_conformance_suite() {
    let store = FakeTokenStore::new();
    let clock = FakeClock::at_unix_ms(T0);
    block_on(conformance::run_all(&store, &clock));
    // And through an Arc.
    let shared = std::sync::Arc::new(FakeTokenStore::new());
    block_on(conformance::run_all(&shared, &clock));
}

// ---------- properties ----------

fn one_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        codec()
            .issue(TokenType::Access, "1", FamilyId::random(), T0)
            .expect("issue")
            .into_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tampering_any_byte_never_verifies(pos in any::<prop::sample::Index>(), byte in 0u8..128) {
        // Tokens are ASCII; any ASCII replacement keeps the input a valid &str.
        let token = one_token();
        let mut bytes = token.as_bytes().to_vec();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let s = String::from_utf8(bytes).expect("ASCII");
        prop_assert!(codec().verify(&s, TokenType::Access, T0).is_err());
    }

    #[test]
    fn truncating_never_verifies(len in 0usize..400) {
        let token = one_token();
        prop_assume!(len < token.len());
        prop_assert!(codec().verify(&token[..len], TokenType::Access, T0).is_err());
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,600}") {
        let _ = codec().verify(&s, TokenType::Access, T0);
    }

    #[test]
    fn arbitrary_jwt_shaped_input_never_panics(
        h in prop::collection::vec(any::<u8>(), 0..80),
        p in prop::collection::vec(any::<u8>(), 0..200),
        s in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let t = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(h),
            URL_SAFE_NO_PAD.encode(p),
            URL_SAFE_NO_PAD.encode(s)
        );
        prop_assert!(codec().verify(&t, TokenType::Access, T0).is_err());
    }

    #[test]
    fn signed_arbitrary_claims_never_panic(
        iat in any::<i64>(), exp in any::<i64>(), nbf in any::<i64>(), iat_ms in any::<i64>(),
        now in any::<i64>(),
    ) {
        let mut claims = good_claims("access");
        claims["iat"] = json!(iat);
        claims["exp"] = json!(exp);
        claims["nbf"] = json!(nbf);
        claims["iat_ms"] = json!(iat_ms);
        let t = forge(&hs_header(), &claims, SECRET);
        let _ = codec().verify(&t, TokenType::Access, now);
    }

    #[test]
    fn issue_then_verify_round_trips(user in "[0-9]{1,20}", now in 0i64..4_000_000_000_000) {
        let c = codec();
        let t = c.issue(TokenType::Refresh, &user, FamilyId::random(), now).expect("issue");
        let v = c.verify(t.as_str(), TokenType::Refresh, now).expect("verify");
        prop_assert_eq!(v.user_id(), user.as_str());
        prop_assert_eq!(v.issued_at_ms(), now);
    }
}

// ---------- the verified-token cache ----------

fn service_with_cache(entries: usize) -> (TokenService<FakeTokenStore, FakeClock>, FakeClock) {
    let clock = FakeClock::at_unix_ms(T0);
    let config = TokenConfig {
        verified_cache_entries: entries,
        ..TokenConfig::default()
    };
    let codec = TokenCodec::new(
        config,
        Keyring::hmac(Algorithm::HS256, SECRET).expect("key"),
    )
    .expect("codec");
    (
        TokenService::new(codec, FakeTokenStore::new(), clock.clone()),
        clock,
    )
}

#[test]
fn the_cache_skips_only_the_signature_check() {
    let (svc, clock) = service();
    assert!(svc.verified_cache().is_enabled());
    block_on(async {
        let a = svc.issue_pair("5").await.expect("pair");
        let b = svc.issue_pair("5").await.expect("pair");
        let token = &a.pair.access_token;
        assert!(svc.verified_cache().is_empty());
        assert!(svc.verify_access_seen(token.as_bytes()).await.is_none());
        let first = svc.verify_access(token).await.expect("ok");
        assert_eq!(svc.verified_cache().len(), 1);
        let seen = svc.verify_access_seen(token.as_bytes()).await;
        assert_eq!(seen.expect("a hit").expect("ok"), first);
        let again = svc.verify_access(token).await.expect("ok, from the cache");
        assert_eq!(first, again);
        assert_eq!(svc.verified_cache().len(), 1);

        // A token differing in one byte of its signature is verified, not looked up.
        let mut bad = token.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).expect("ASCII");
        assert_eq!(
            reason(svc.verify_access(&bad).await.unwrap_err()),
            R::BadSignature
        );

        // Revocation, invalidation and expiry still apply to a cached token.
        svc.verify_access(&b.pair.access_token).await.expect("ok");
        svc.revoke_jti(b.access_jti).await.expect("revoke");
        let revoked = svc.verify_access(&b.pair.access_token).await.unwrap_err();
        assert_eq!(revoked.code(), ErrorCode::TokenRevoked);
        clock.advance(Duration::from_millis(1));
        svc.invalidate_user("5").await.expect("invalidate");
        let invalidated = svc.verify_access(token).await.unwrap_err();
        assert_eq!(invalidated.code(), ErrorCode::TokenRevoked);

        let c = svc.issue_pair("6").await.expect("pair");
        svc.verify_access(&c.pair.access_token).await.expect("ok");
        clock.advance(Duration::from_secs(900 + 30));
        let expired = svc.verify_access(&c.pair.access_token).await.unwrap_err();
        assert_eq!(expired.code(), ErrorCode::TokenExpired);
        // A clock set back before the token's issue time (less the leeway): not yet valid,
        // as a verification would say.
        clock.set_unix_ms(T0 - 31_000);
        assert_eq!(
            reason(svc.verify_access(&c.pair.access_token).await.unwrap_err()),
            R::NotYetValid
        );
    });
}

#[test]
fn the_cache_is_bounded_and_can_be_turned_off() {
    let (svc, _clock) = service_with_cache(16);
    block_on(async {
        for user in 0..200 {
            let pair = svc.issue_pair(&user.to_string()).await.expect("pair");
            svc.verify_access(&pair.pair.access_token)
                .await
                .expect("ok");
            assert!(svc.verified_cache().len() <= 16);
        }
    });
    let (off, _clock) = service_with_cache(0);
    assert!(!off.verified_cache().is_enabled());
    block_on(async {
        let pair = off.issue_pair("1").await.expect("pair");
        off.verify_access(&pair.pair.access_token)
            .await
            .expect("ok");
        off.verify_access(&pair.pair.access_token)
            .await
            .expect("ok");
        assert!(off.verified_cache().is_empty());
    });
    assert!(!format!("{:?}", off.verified_cache()).contains("eyJ"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the token's times and whatever the clock does between requests, a service
    /// with the cache answers exactly what one without it answers.
    #[test]
    fn the_cache_never_changes_an_answer(
        iat in -2_000i64..2_000, exp in -2_000i64..2_000, nbf in prop::option::of(-2_000i64..2_000),
        times in prop::collection::vec(-2_000i64..2_000, 1..12),
        tamper in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let base = T0 / 1000;
        let mut claims = good_claims("access");
        claims["iat"] = json!(base + iat);
        claims["exp"] = json!(base + exp);
        claims.as_object_mut().expect("object").remove("iat_ms");
        if let Some(nbf) = nbf {
            claims["nbf"] = json!(base + nbf);
        }
        let mut token = forge(&hs_header(), &claims, SECRET);
        let (cached, clock_a) = service_with_cache(64);
        let (plain, clock_b) = service_with_cache(0);
        block_on(async {
            for (i, t) in times.iter().enumerate() {
                if i == times.len() / 2
                    && let Some(pos) = &tamper
                {
                    let mut bytes = token.clone().into_bytes();
                    let j = pos.index(bytes.len());
                    bytes[j] = if bytes[j] == b'x' { b'y' } else { b'x' };
                    token = String::from_utf8(bytes).expect("ASCII");
                }
                clock_a.set_unix_ms(T0 + t * 1000);
                clock_b.set_unix_ms(T0 + t * 1000);
                // A look-up by bytes, when it answers, answers what a verification would.
                let seen = cached.verify_access_seen(token.as_bytes()).await;
                let a = cached.verify_access(&token).await;
                let b = plain.verify_access(&token).await;
                prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                if let Some(seen) = seen {
                    prop_assert_eq!(format!("{seen:?}"), format!("{b:?}"));
                }
                prop_assert!(plain.verify_access_seen(token.as_bytes()).await.is_none());
            }
            Ok(())
        })?;
    }
}
