//! Interoperability with PyJWT, both directions.
//!
//! * `vectors/pyjwt_tokens.json` holds tokens made by PyJWT (valid ones for HS256, RS256,
//!   PS256, ES256 and EdDSA, and attacks: `alg:none`, HS256 signed with the RSA public key,
//!   tampering, wrong `iss`/`type`, expiry, future `nbf`/`iat`, …), made by
//!   `vectors/gen_pyjwt.py generate`. Each must map to its expected contract code at the
//!   vector's time, read from a `FakeClock`.
//! * `vectors/cutty_tokens.json` holds tokens made by Cutty (rewrite it with
//!   `CUTTY_WRITE_VECTORS=1`); `gen_pyjwt.py check-cutty` verifies them with PyJWT and records
//!   the result in `vectors/cutty_tokens_pyjwt_check.txt`.

use std::path::PathBuf;

use cutty_core::Error;
use cutty_core::clock::{Clock, FakeClock};
use cutty_core::token::{
    Algorithm, FamilyId, Keyring, SigningKey, TokenCodec, TokenConfig, TokenType, VerificationKey,
};
use serde_json::{Value, json};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(name)).expect("vector file")
}

const HS_SECRET: &[u8] = b"cutty-pyjwt-TEST-ONLY-secret-not-for-production";

/// The codec for a keyring name used in the vectors.
fn codec(name: &str) -> TokenCodec {
    let asym = |alg: Algorithm, private: &str, public: &str, kid: &str| {
        let keys = Keyring::new(
            SigningKey::from_pem(alg, read(&format!("keys/{private}")).as_bytes())
                .expect("signing key")
                .with_kid(kid)
                .expect("kid"),
        )
        .with_verification_key(
            VerificationKey::from_pem(alg, read(&format!("keys/{public}")).as_bytes())
                .expect("verification key")
                .with_kid(kid)
                .expect("kid"),
        )
        .expect("keyring");
        TokenCodec::new(
            TokenConfig {
                algorithms: vec![alg],
                ..TokenConfig::default()
            },
            keys,
        )
        .expect("codec")
    };
    match name {
        "hs256" => TokenCodec::hs256(HS_SECRET).expect("codec"),
        "rs256" => asym(
            Algorithm::RS256,
            "test_rsa_private.pem",
            "test_rsa_public.pem",
            "test-rsa",
        ),
        "ps256" => asym(
            Algorithm::PS256,
            "test_rsa_private.pem",
            "test_rsa_public.pem",
            "test-rsa",
        ),
        "es256" => asym(
            Algorithm::ES256,
            "test_ec_p256_private.pem",
            "test_ec_p256_public.pem",
            "test-ec",
        ),
        "eddsa" => asym(
            Algorithm::EdDSA,
            "test_ed25519_private.pem",
            "test_ed25519_public.pem",
            "test-ed",
        ),
        other => panic!("unknown keyring {other}"),
    }
}

fn kind(s: &str) -> TokenType {
    match s {
        "access" => TokenType::Access,
        "refresh" => TokenType::Refresh,
        other => panic!("unknown type {other}"),
    }
}

/// `"ok"`, `"AUTH_002"` or `"AUTH_001/<InvalidTokenReason>"`.
fn outcome(r: &Result<cutty_core::token::VerifiedClaims, Error>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(Error::InvalidToken(reason)) => format!("AUTH_001/{reason:?}"),
        Err(e) => e.code().as_str().to_owned(),
    }
}

#[test]
fn pyjwt_tokens_map_to_their_codes() {
    let file: Value = serde_json::from_str(&read("pyjwt_tokens.json")).expect("json");
    let vectors = file["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 30, "the vector file looks truncated");
    let mut seen_ok = 0;
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let clock = FakeClock::at_unix_ms(v["now_ms"].as_i64().expect("now_ms"));
        let codec = codec(v["keyring"].as_str().expect("keyring"));
        let token = v["token"].as_str().expect("token");
        let result = codec.verify(
            token,
            kind(v["expect_type"].as_str().expect("type")),
            clock.now_unix_ms(),
        );
        assert_eq!(
            outcome(&result),
            v["expect"].as_str().expect("expect"),
            "vector {name}"
        );
        if let Ok(claims) = result {
            seen_ok += 1;
            assert_eq!(claims.user_id(), "42", "{name}");
            assert_eq!(
                claims.jti().to_string(),
                "7d3c8c2e-5a8e-4a43-9f57-2b7b1c1d6e01"
            );
        }
    }
    assert!(seen_ok >= 8, "valid PyJWT tokens for every algorithm");
}

/// Cutty-made tokens for PyJWT to check. The file is rewritten only when
/// `CUTTY_WRITE_VECTORS` is set; it is always re-verified by Cutty itself.
#[test]
fn cutty_tokens_for_pyjwt() {
    let path = vectors_dir().join("cutty_tokens.json");
    if std::env::var_os("CUTTY_WRITE_VECTORS").is_some() {
        let now_ms = 1_800_000_000_456;
        let kids = [
            ("hs256", None),
            ("rs256", Some("test-rsa")),
            ("ps256", Some("test-rsa")),
            ("es256", Some("test-ec")),
            ("eddsa", Some("test-ed")),
        ];
        let mut tokens = Vec::new();
        for (ring, kid) in kids {
            let c = codec(ring);
            for (i, t) in [TokenType::Access, TokenType::Refresh]
                .into_iter()
                .enumerate()
            {
                let sub = format!("{}", 100 + i);
                let issued = c.issue(t, &sub, FamilyId::random(), now_ms).expect("issue");
                tokens.push(json!({
                    "name": format!("{ring}_{}", t.as_str()),
                    "keyring": ring,
                    "kid": kid,
                    "type": t.as_str(),
                    "sub": sub,
                    "now_ms": now_ms,
                    "token": issued.as_str(),
                }));
            }
        }
        let out = json!({
            "generator": "CUTTY_WRITE_VECTORS=1 cargo test -p cutty-core --test pyjwt",
            "checked_by": "gen_pyjwt.py check-cutty",
            "tokens": tokens,
        });
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&out).expect("json") + "\n",
        )
        .expect("write");
    }
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let tokens = file["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 10);
    for t in tokens {
        let c = codec(t["keyring"].as_str().expect("keyring"));
        let v = c
            .verify(
                t["token"].as_str().expect("token"),
                kind(t["type"].as_str().expect("type")),
                t["now_ms"].as_i64().expect("now"),
            )
            .unwrap_or_else(|e| panic!("{}: {e:?}", t["name"]));
        assert_eq!(v.user_id(), t["sub"].as_str().expect("sub"));
    }
}
