//! JWT issue and verify + claims check: Cutty against `jsonwebtoken` called directly, HS256,
//! in one group so every figure is a ratio of the same run.
//!
//! * `cutty_issue_access` — `TokenCodec::issue`: claims (including a fresh v4 `jti`),
//!   base64, HMAC. `jsonwebtoken_encode` — `jsonwebtoken::encode` of the same claims shape
//!   (its `jti` prepared outside the loop, which favours the peer).
//! * `cutty_verify_claims` — `TokenCodec::verify`: header, allow-list, kid, signature, all
//!   claim checks against an injected time; no store. `jsonwebtoken_decode` —
//!   `jsonwebtoken::decode` with `Validation` (issuer, exp, required claims) of the same
//!   token into the same claims shape.
//! * `cutty_verify_access_fake_store` — the full `TokenService::verify_access` with the
//!   in-memory `FakeTokenStore` (one mutex, three hash look-ups), to show what the store
//!   path adds on top of the crypto + claims path. The token is sent again and again, as a
//!   client does, so after the first call its signature check comes from the
//!   `VerifiedTokenCache`; `cutty_verify_access_fake_store_uncached` is the same with the
//!   cache off (`verified_cache_entries = 0`): signature, claims and store every time.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cutty_core::clock::{Clock, SystemClock};
use cutty_core::token::testing::{FakeTokenStore, block_on};
use cutty_core::token::{
    Algorithm as CuttyAlgorithm, FamilyId, Keyring, TokenCodec, TokenConfig, TokenService,
    TokenType,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

const SECRET: &[u8] = b"benchmark secret, at least 32 bytes long";

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    jti: String,
    iat: i64,
    exp: i64,
    iss: String,
    #[serde(rename = "type")]
    kind: String,
    fam: String,
    iat_ms: i64,
}

fn bench(c: &mut Criterion) {
    let codec = TokenCodec::hs256(SECRET).expect("codec");
    // Wall time so `jsonwebtoken::decode`, which reads the system clock, accepts the token.
    let now_ms = SystemClock.now_unix_ms();
    let fam = FamilyId::random();
    let token = codec
        .issue(TokenType::Access, "42", fam, now_ms)
        .expect("issue")
        .into_string();

    let enc = EncodingKey::from_secret(SECRET).expect("key");
    let dec = DecodingKey::from_secret(SECRET).expect("key");
    let header = Header::new(Algorithm::HS256);
    let claims = Claims {
        sub: "42".into(),
        jti: uuid_like(),
        iat: now_ms / 1000,
        exp: now_ms / 1000 + 900,
        iss: "cutty".into(),
        kind: "access".into(),
        fam: fam.to_string(),
        iat_ms: now_ms,
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["cutty"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
    validation.leeway = 30;

    // Both sides decode the same token.
    jsonwebtoken::decode::<Claims>(&token, &dec, &validation).expect("peer accepts Cutty token");
    codec
        .verify(&token, TokenType::Access, now_ms)
        .expect("verify");

    let service = TokenService::new(
        TokenCodec::hs256(SECRET).expect("codec"),
        FakeTokenStore::new(),
        SystemClock,
    );
    let pair = block_on(service.issue_pair("42")).expect("pair");
    let uncached = TokenService::new(
        TokenCodec::new(
            TokenConfig {
                verified_cache_entries: 0,
                ..TokenConfig::default()
            },
            Keyring::hmac(CuttyAlgorithm::HS256, SECRET).expect("key"),
        )
        .expect("codec"),
        FakeTokenStore::new(),
        SystemClock,
    );
    let uncached_pair = block_on(uncached.issue_pair("42")).expect("pair");

    let mut g = c.benchmark_group("token/hs256");
    g.bench_function("cutty_issue_access", |b| {
        b.iter(|| {
            codec
                .issue(TokenType::Access, black_box("42"), fam, black_box(now_ms))
                .expect("issue")
        })
    });
    g.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &enc).expect("encode"))
    });
    g.bench_function("cutty_verify_claims", |b| {
        b.iter(|| {
            codec
                .verify(black_box(&token), TokenType::Access, black_box(now_ms))
                .expect("verify")
        })
    });
    g.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Claims>(black_box(&token), &dec, &validation).expect("decode")
        })
    });
    g.bench_function("cutty_verify_access_fake_store", |b| {
        b.iter(|| block_on(service.verify_access(black_box(&pair.pair.access_token))).expect("ok"))
    });
    g.bench_function("cutty_verify_access_fake_store_uncached", |b| {
        b.iter(|| {
            block_on(uncached.verify_access(black_box(&uncached_pair.pair.access_token)))
                .expect("ok")
        })
    });
    g.finish();
}

fn uuid_like() -> String {
    "6f1c2f86-2a5c-4b1e-9d55-0e0c8f1f3a11".to_owned()
}

criterion_group!(benches, bench);
criterion_main!(benches);
