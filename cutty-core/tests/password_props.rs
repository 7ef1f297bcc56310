//! Property tests for `cutty_core::password`: round trips, and untrusted hash strings that
//! never panic and never start expensive work.

use cutty_core::password::{Algorithm, PasswordError, PasswordHasher};
use proptest::prelude::*;

fn cheap() -> PasswordHasher {
    PasswordHasher::default().with_iterations(2).unwrap()
}

fn refused(e: &PasswordError) -> bool {
    matches!(
        e,
        PasswordError::Malformed(_)
            | PasswordError::ParameterOutOfRange(_)
            | PasswordError::UnknownAlgorithm
            | PasswordError::UnsupportedAlgorithm(_)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_passwords_round_trip(password in any::<String>()) {
        let h = cheap();
        let encoded = h.hash(&password);
        let v = h.verify(&password, &encoded).unwrap();
        prop_assert!(v.matches && !v.must_update);
        // Not `password + "\0"`: HMAC zero-pads short keys, so PBKDF2 (Django's too) cannot
        // tell a trailing NUL from none.
        let wrong = format!("{password}x");
        prop_assert!(!h.verify(&wrong, &encoded).unwrap().matches);
        prop_assert_eq!(Algorithm::identify(&encoded).unwrap(), Algorithm::Pbkdf2Sha256);
    }

    #[test]
    fn sha1_round_trip(password in ".{0,80}") {
        let h = cheap().with_algorithm(Algorithm::Pbkdf2Sha1).unwrap();
        let encoded = h.hash(&password);
        prop_assert!(h.verify(&password, &encoded).unwrap().matches);
        prop_assert!(PasswordHasher::default().must_update(&encoded).unwrap());
    }

    /// Arbitrary strings never panic; whatever they are, the answer is a verdict or an error.
    #[test]
    fn arbitrary_strings_never_panic(encoded in any::<String>(), password in ".{0,16}") {
        let h = cheap();
        match h.verify(&password, &encoded) {
            Ok(v) => prop_assert!(!v.matches || encoded.len() == 32 || encoded.starts_with("md5")),
            Err(e) => prop_assert!(refused(&e)),
        }
        let _ = h.must_update(&encoded);
        let _ = Algorithm::identify(&encoded);
    }

    /// Strings shaped like every Django encoding, with fuzzed fields.
    #[test]
    fn django_shaped_strings_never_panic(
        algorithm in prop::sample::select(vec![
            "pbkdf2_sha256", "pbkdf2_sha1", "argon2", "scrypt", "bcrypt", "bcrypt_sha256", "md5",
        ]),
        fields in prop::collection::vec("[0-9A-Za-z+/=,.$-]{0,50}", 0..7),
    ) {
        let encoded = format!("{algorithm}${}", fields.join("$"));
        if let Err(e) = cheap().verify("pw", &encoded) {
            prop_assert!(refused(&e));
        }
    }

    /// Iteration counts above the cap are refused before any PBKDF2 work, however valid the
    /// rest of the hash looks (otherwise this test would take hours).
    #[test]
    fn huge_iteration_counts_are_refused(
        iterations in 10_000_001u64..=999_999_999_999,
        salt in "[a-zA-Z0-9]{1,30}",
        sha1 in any::<bool>(),
    ) {
        let encoded = if sha1 {
            format!("pbkdf2_sha1${iterations}${salt}$AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        } else {
            format!("pbkdf2_sha256${iterations}${salt}$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        };
        prop_assert_eq!(
            cheap().verify("pw", &encoded),
            Err(PasswordError::ParameterOutOfRange("iterations"))
        );
    }

    /// Huge argon2 memory, scrypt N and bcrypt costs are refused before any work.
    #[test]
    fn huge_work_factors_are_refused(m in 1_048_577u64..=99_999_999_999, log_n in 21u32..=62, cost in 17u32..=99) {
        let h = cheap();
        let argon2 = format!(
            "argon2$argon2id$v=19$m={m},t=2,p=8$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        prop_assert!(matches!(h.verify("pw", &argon2), Err(PasswordError::ParameterOutOfRange(_))));
        let scrypt = format!("scrypt${}$salt$8$1${}==", 1u64 << log_n, "A".repeat(86));
        prop_assert!(matches!(
            h.verify("pw", &scrypt),
            Err(PasswordError::ParameterOutOfRange(_) | PasswordError::Malformed(_))
        ));
        let bcrypt = format!("bcrypt_sha256$$2b${cost}$abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyz01234");
        prop_assert!(matches!(h.verify("pw", &bcrypt), Err(PasswordError::ParameterOutOfRange(_))));
    }
}
