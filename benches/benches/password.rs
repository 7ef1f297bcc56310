//! Password hashing at 600 000 PBKDF2-HMAC-SHA256 iterations: Cutty's hash and verify next to
//! ring, aws-lc-rs, the `pbkdf2` crate at 0.12 and 0.13, and the practical floor — a minimal
//! loop over `sha2`'s compression function (SHA-NI where the CPU has it) with the HMAC pad
//! states computed once.
//!
//! `cargo bench -p cutty-benches --bench password`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use cutty_core::password::PasswordHasher;
use sha2::digest::generic_array::GenericArray;

const ITERATIONS: u32 = 600_000;
const PASSWORD: &[u8] = b"correct horse battery staple";
const SALT: &[u8] = b"abcdefghijklmnopqrstuv";

/// The floor: PBKDF2-HMAC-SHA256 for a 32-byte key written as tightly as possible on top of
/// `sha2::compress256`; no allocation, no abstraction, two compressions per iteration.
fn floor_pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    // Key shorter than a block (asserted by the caller's constant).
    let mut ipad = GenericArray::from([0x36u8; 64]);
    let mut opad = GenericArray::from([0x5cu8; 64]);
    for (i, b) in password.iter().enumerate() {
        ipad[i] ^= b;
        opad[i] ^= b;
    }
    let mut istate = IV;
    sha2::compress256(&mut istate, &[ipad]);
    let mut ostate = IV;
    sha2::compress256(&mut ostate, &[opad]);

    // U1 = HMAC(P, S || 1): salt + counter fit one padded block here.
    let mut block = GenericArray::from([0u8; 64]);
    block[..salt.len()].copy_from_slice(salt);
    block[salt.len()..salt.len() + 4].copy_from_slice(&1u32.to_be_bytes());
    block[salt.len() + 4] = 0x80;
    block[56..].copy_from_slice(&(((64 + salt.len() + 4) as u64) * 8).to_be_bytes());
    let mut inner = istate;
    sha2::compress256(&mut inner, &[block]);

    let mut fixed = GenericArray::from([0u8; 64]);
    fixed[32] = 0x80;
    fixed[56..].copy_from_slice(&(96u64 * 8).to_be_bytes());
    let mut blocks = [fixed];
    let put = |state: &[u32; 8], blocks: &mut [GenericArray<u8, _>; 1]| {
        for (c, w) in blocks[0][..32].chunks_exact_mut(4).zip(state) {
            c.copy_from_slice(&w.to_be_bytes());
        }
    };
    put(&inner, &mut blocks);
    let mut u = ostate;
    sha2::compress256(&mut u, &blocks);
    let mut acc = u;
    for _ in 1..iterations {
        put(&u, &mut blocks);
        let mut inner = istate;
        sha2::compress256(&mut inner, &blocks);
        put(&inner, &mut blocks);
        u = ostate;
        sha2::compress256(&mut u, &blocks);
        for (a, w) in acc.iter_mut().zip(u) {
            *a ^= w;
        }
    }
    let mut out = [0u8; 32];
    for (c, w) in out.chunks_exact_mut(4).zip(acc) {
        c.copy_from_slice(&w.to_be_bytes());
    }
    out
}

fn bench_password(c: &mut Criterion) {
    let hasher = PasswordHasher::default();
    assert_eq!(hasher.iterations(), ITERATIONS);
    let password = std::str::from_utf8(PASSWORD).unwrap();
    let encoded = hasher.hash(password);

    // Every contestant computes the same key.
    let floor = floor_pbkdf2_sha256(PASSWORD, SALT, 1000);
    let mut ring_out = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(1000).unwrap(),
        SALT,
        PASSWORD,
        &mut ring_out,
    );
    assert_eq!(floor, ring_out);
    let mut crate_out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(PASSWORD, SALT, 1000, &mut crate_out);
    assert_eq!(floor, crate_out);

    let mut g = c.benchmark_group("password_pbkdf2_sha256_600k");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));

    g.bench_function("cutty_hash", |b| {
        b.iter(|| black_box(hasher.hash(black_box(password))))
    });
    g.bench_function("cutty_verify", |b| {
        b.iter(|| {
            let v = hasher
                .verify(black_box(password), black_box(&encoded))
                .unwrap();
            assert!(v.matches);
            v
        })
    });
    g.bench_function("floor_sha2_compress256", |b| {
        b.iter(|| black_box(floor_pbkdf2_sha256(black_box(PASSWORD), SALT, ITERATIONS)))
    });
    g.bench_function("ring", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                NonZeroU32::new(ITERATIONS).unwrap(),
                SALT,
                black_box(PASSWORD),
                &mut out,
            );
            out
        })
    });
    g.bench_function("aws_lc_rs", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            aws_lc_rs::pbkdf2::derive(
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                NonZeroU32::new(ITERATIONS).unwrap(),
                SALT,
                black_box(PASSWORD),
                &mut out,
            );
            out
        })
    });
    g.bench_function("pbkdf2_0_12", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(black_box(PASSWORD), SALT, ITERATIONS, &mut out);
            out
        })
    });
    g.bench_function("pbkdf2_0_13", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2_013::pbkdf2_hmac::<sha2_011::Sha256>(
                black_box(PASSWORD),
                SALT,
                ITERATIONS,
                &mut out,
            );
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench_password);
criterion_main!(benches);
