//! API-key verification without the store, next to its floor: one HMAC-SHA256 of the
//! 38-byte key with the key schedule (padded salt) already absorbed.
//!
//! `cargo bench -p cutty-benches --bench api_key`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cutty_core::api_key::{ApiKey, ApiKeyHasher, ApiKeySalt, HashCheck, SaltId};
use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::Sha256;

const SALT: &[u8] = b"bench-API_KEY_SALT-0123456789abcdef";

fn salt(id: &str, secret: &[u8]) -> ApiKeySalt {
    ApiKeySalt::new(SaltId::new(id).unwrap(), secret.to_vec()).unwrap()
}

fn api_key(c: &mut Criterion) {
    let key = ApiKey::generate(&mut StdRng::seed_from_u64(42));
    let text = key.expose_secret().to_owned();
    let hasher = ApiKeyHasher::new(salt("current", SALT))
        .with_previous(salt("previous", b"older-API_KEY_SALT-0123456789"))
        .unwrap();
    let (salt_id, hash) = hasher.hash(&key);
    let old_only = ApiKeyHasher::new(salt("previous", b"older-API_KEY_SALT-0123456789"));
    let (old_id, old_hash) = old_only.hash(&key);

    let prepared = Hmac::<Sha256>::new_from_slice(SALT).unwrap();
    let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SALT);

    let mut g = c.benchmark_group("api_key_verify");
    g.bench_function("floor: hmac 0.12 HMAC-SHA256(38 B), prepared state", |b| {
        b.iter(|| {
            let mut m = prepared.clone();
            m.update(black_box(text.as_bytes()));
            black_box(m.finalize().into_bytes())
        })
    });
    g.bench_function("peer: ring HMAC-SHA256(38 B), prepared key", |b| {
        b.iter(|| black_box(ring::hmac::sign(&ring_key, black_box(text.as_bytes()))))
    });
    g.bench_function("cutty: parse + checksum", |b| {
        b.iter(|| black_box(ApiKey::parse(black_box(&text)).unwrap()))
    });
    g.bench_function("cutty: HMAC only (key already parsed)", |b| {
        b.iter(|| black_box(hasher.hash_with(black_box(&salt_id), black_box(&key))))
    });
    g.bench_function(
        "cutty: verify without store (parse + HMAC + ct compare)",
        |b| {
            b.iter(|| {
                let k = ApiKey::parse(black_box(&text)).unwrap();
                let r = hasher.verify(&k, black_box(&salt_id), black_box(&hash));
                assert_eq!(
                    r,
                    HashCheck::Match {
                        needs_rehash: false
                    }
                );
            })
        },
    );
    g.bench_function(
        "cutty: verify without store, hash under previous salt",
        |b| {
            b.iter(|| {
                let k = ApiKey::parse(black_box(&text)).unwrap();
                let r = hasher.verify(&k, black_box(&old_id), black_box(&old_hash));
                assert_eq!(r, HashCheck::Match { needs_rehash: true });
            })
        },
    );
    g.bench_function("cutty: reject malformed (bad checksum)", |b| {
        let mut bad = text.clone().into_bytes();
        bad[37] = if bad[37] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        b.iter(|| black_box(ApiKey::parse(black_box(&bad)).is_err()))
    });
    g.finish();

    let mut g = c.benchmark_group("api_key_generate");
    let mut rng = StdRng::seed_from_u64(7);
    g.bench_function("cutty: generate (StdRng) + hash", |b| {
        b.iter(|| {
            let k = ApiKey::generate(&mut rng);
            black_box(hasher.hash(&k))
        })
    });
    g.finish();
}

criterion_group!(benches, api_key);
criterion_main!(benches);
