//! `PasswordHasher::verify` / `must_update` / `Algorithm::identify` on hostile Django hash
//! strings. Input: `<password>\n<encoded>` (no newline: the password is `password`).
//!
//! Encodings whose work parameters exceed the `MAX_FUZZ_*` bounds of `cutty_fuzz` are only
//! parsed (`must_update`, `identify`), never verified: the core's own caps (10 million PBKDF2
//! iterations, …) still allow a second or more per hash, legitimately, which would drown the
//! fuzzer. The configured hashers use the lowest work factors, so neither Django's
//! `harden_runtime` (which runs the configured work minus the stored one after a failed
//! verification) nor `dummy_verify` (for `!` unusable passwords) costs anything.
#![no_main]

use std::sync::OnceLock;

use cutty_core::password::{Algorithm, Argon2Params, PasswordHasher, ScryptParams};
use cutty_fuzz::password_work_is_small;
use libfuzzer_sys::fuzz_target;

fn hashers() -> &'static [PasswordHasher; 5] {
    static H: OnceLock<[PasswordHasher; 5]> = OnceLock::new();
    H.get_or_init(|| {
        let base = PasswordHasher::default()
            .with_iterations(1_000)
            .and_then(|h| h.with_bcrypt_cost(4))
            .and_then(|h| {
                h.with_argon2_params(Argon2Params {
                    time_cost: 1,
                    memory_cost_kib: 64,
                    parallelism: 1,
                })
            })
            .and_then(|h| {
                h.with_scrypt_params(ScryptParams {
                    work_factor: 16,
                    block_size: 1,
                    parallelism: 1,
                })
            })
            .expect("low parameters are valid");
        let with = |a| base.clone().with_algorithm(a).expect("feature enabled");
        [
            with(Algorithm::Pbkdf2Sha256),
            with(Algorithm::Pbkdf2Sha1),
            with(Algorithm::Argon2),
            with(Algorithm::Scrypt),
            with(Algorithm::Bcrypt),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (password, encoded) = text.split_once('\n').unwrap_or(("password", &text));
    let hs = hashers();
    let hasher = &hs[data.len() % hs.len()];

    let identified = Algorithm::identify(encoded);
    let must_update = hasher.must_update(encoded);
    if must_update.is_ok() {
        // Whatever parses was identified.
        assert!(identified.is_ok(), "parsed but not identified");
    }
    if !password_work_is_small(encoded) {
        return;
    }
    match hasher.verify(password, encoded) {
        Ok(v) => {
            if encoded.starts_with('!') {
                assert!(!v.matches, "an unusable password matched");
            } else {
                assert_eq!(must_update.as_ref().ok(), Some(&v.must_update));
            }
            assert_eq!(v.should_rehash(), v.matches && v.must_update);
        }
        Err(e) => {
            assert!(!encoded.starts_with('!'));
            // Refused by verify but parsed by must_update only for a build without the
            // algorithm's feature — all are enabled here.
            assert!(
                must_update.is_err(),
                "verify refused what must_update parsed: {e:?}"
            );
        }
    }
    // Round trip with the configured hasher, now and then (it costs one hash).
    if data.len().is_multiple_of(16) && password.len() <= 128 {
        let made = hasher.hash(password);
        let v = hasher.verify(password, &made).expect("own hash parses");
        assert!(
            v.matches && !v.must_update,
            "own hash does not verify: {made}"
        );
    }
});
