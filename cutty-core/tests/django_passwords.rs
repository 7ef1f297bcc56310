//! Cutty against password hashes made and judged by real Django.
//!
//! `vectors/django_passwords.json` (Django 5.2) and `vectors/django42_passwords.json`
//! (Django 4.2, which still has `unsalted_md5`) were written by
//! `vectors/gen_django_passwords.py`; every vector records whether Django accepted the
//! password, whether it accepted a wrong one, and Django's `must_update` under several
//! preferred-hasher configurations. `vectors/cutty_made_hashes.json` holds hashes Cutty made
//! (see `write_cutty_made_hashes`) together with Django's verdict on them.

use cutty_core::password::{Algorithm, Argon2Params, PasswordError, PasswordHasher, ScryptParams};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

/// The Cutty configuration that corresponds to a preferred-hasher name of the generator, with
/// the defaults of the Django version that wrote the file. `None` when that algorithm's
/// feature is off.
fn config(name: &str, data: &Value) -> Option<PasswordHasher> {
    let d = &data["django_defaults"];
    let num = |v: &Value| v.as_u64().unwrap() as u32;
    let base = PasswordHasher::default()
        .with_argon2_params(Argon2Params {
            time_cost: num(&d["argon2"]["time_cost"]),
            memory_cost_kib: num(&d["argon2"]["memory_cost"]),
            parallelism: num(&d["argon2"]["parallelism"]),
        })
        .unwrap()
        .with_scrypt_params(ScryptParams {
            work_factor: d["scrypt"]["work_factor"].as_u64().unwrap(),
            block_size: num(&d["scrypt"]["block_size"]),
            parallelism: num(&d["scrypt"]["parallelism"]),
        })
        .unwrap()
        .with_bcrypt_cost(num(&d["bcrypt_rounds"]))
        .unwrap();
    let hasher = match name {
        "django_default" => base
            .with_iterations(num(&data["django_default_pbkdf2_iterations"]))
            .unwrap(),
        "argon2" => base.with_algorithm(Algorithm::Argon2).ok()?,
        "scrypt" => base.with_algorithm(Algorithm::Scrypt).ok()?,
        "bcrypt_sha256" => base.with_algorithm(Algorithm::BcryptSha256).ok()?,
        "bcrypt" => base.with_algorithm(Algorithm::Bcrypt).ok()?,
        other => {
            let n = other.strip_prefix("pbkdf2_sha256@").expect("known config");
            base.with_iterations(n.parse().unwrap()).unwrap()
        }
    };
    Some(hasher)
}

fn check_file(name: &str, filter: impl Fn(Algorithm) -> bool) -> usize {
    let data = load(name);
    // Verifying under a 1000-iteration configuration keeps Django's runtime hardening (extra
    // iterations after a failure) from turning the whole file into seconds of PBKDF2.
    let cheap = PasswordHasher::default().with_iterations(1000).unwrap();
    let mut checked = 0;
    for v in data["vectors"].as_array().unwrap() {
        let note = v["note"].as_str().unwrap();
        let password = v["password"].as_str().unwrap();
        let encoded = v["encoded"].as_str().unwrap();
        let algorithm = Algorithm::identify(encoded).unwrap();
        if !filter(algorithm) {
            continue;
        }
        checked += 1;
        if !algorithm.can_verify() {
            assert_eq!(
                cheap.verify(password, encoded),
                Err(PasswordError::UnsupportedAlgorithm(algorithm)),
                "{note}"
            );
            continue;
        }
        let ok = cheap
            .verify(password, encoded)
            .unwrap_or_else(|e| panic!("{note}: {e}"));
        assert!(ok.matches, "{name}: {note}: password should match");
        assert_eq!(
            ok.must_update,
            v["must_update"]["pbkdf2_sha256@1000"].as_bool().unwrap(),
            "{name}: {note}: must_update from verify"
        );
        // Wrong passwords only against the cheap vectors: the default-cost ones would double
        // the suite's time and exercise nothing the cheap ones do not.
        let expensive = note.contains("default") || note.contains("00000");
        if let Some(django_wrong) = v["wrong_password_matches"].as_bool().filter(|_| !expensive) {
            let wrong = cheap.verify(&format!("{password}x"), encoded).unwrap();
            assert_eq!(
                wrong.matches, django_wrong,
                "{name}: {note}: wrong password"
            );
        }
        for (config_name, expected) in v["must_update"].as_object().unwrap() {
            let Some(hasher) = config(config_name, &data) else {
                continue;
            };
            assert_eq!(
                hasher.must_update(encoded).unwrap(),
                expected.as_bool().unwrap(),
                "{name}: {note}: must_update under {config_name}"
            );
        }
    }
    checked
}

fn pbkdf2(a: Algorithm) -> bool {
    matches!(a, Algorithm::Pbkdf2Sha256 | Algorithm::Pbkdf2Sha1)
}
fn md5(a: Algorithm) -> bool {
    matches!(a, Algorithm::Md5 | Algorithm::UnsaltedMd5)
}
fn bcrypt(a: Algorithm) -> bool {
    matches!(a, Algorithm::Bcrypt | Algorithm::BcryptSha256)
}

#[test]
fn django52_pbkdf2() {
    assert!(check_file("django_passwords.json", pbkdf2) > 20);
}

#[test]
fn django42_pbkdf2() {
    assert!(check_file("django42_passwords.json", pbkdf2) > 20);
}

#[test]
fn django_md5_and_unsalted_md5() {
    assert!(check_file("django_passwords.json", md5) >= 10);
    // Only Django 4.2 still had UnsaltedMD5PasswordHasher.
    assert!(check_file("django42_passwords.json", |a| a == Algorithm::UnsaltedMd5) >= 20);
    assert!(check_file("django42_passwords.json", |a| a == Algorithm::Md5) >= 10);
}

#[test]
fn django_argon2() {
    assert!(check_file("django_passwords.json", |a| a == Algorithm::Argon2) >= 10);
    assert!(check_file("django42_passwords.json", |a| a == Algorithm::Argon2) >= 10);
}

#[test]
fn django_scrypt() {
    assert!(check_file("django_passwords.json", |a| a == Algorithm::Scrypt) >= 10);
    assert!(check_file("django42_passwords.json", |a| a == Algorithm::Scrypt) >= 10);
}

#[test]
fn django_bcrypt() {
    assert!(check_file("django_passwords.json", bcrypt) >= 15);
    assert!(check_file("django42_passwords.json", bcrypt) >= 15);
}

/// Hashes Cutty made were verified by Django (`gen_django_passwords.py --check-cutty`), and
/// still verify in Cutty.
#[test]
fn cutty_made_hashes_verify_in_django_and_cutty() {
    let data = load("cutty_made_hashes.json");
    assert_eq!(data["django_accepted_all"], Value::Bool(true));
    let hashes = data["hashes"].as_array().unwrap();
    assert!(hashes.len() >= 10);
    let cheap = PasswordHasher::default().with_iterations(1000).unwrap();
    let mut reverified = std::collections::HashSet::new();
    for v in hashes {
        let password = v["password"].as_str().unwrap();
        let encoded = v["encoded"].as_str().unwrap();
        assert_eq!(v["django_accepts"], Value::Bool(true), "{encoded}");
        assert_ne!(v["django_accepts_wrong_password"], Value::Bool(true));
        let algorithm = Algorithm::identify(encoded).unwrap();
        // Re-verify one hash per configuration in Cutty: the default-cost ones are slow.
        if algorithm.can_verify() && reverified.insert(v["config"].as_str().unwrap()) {
            assert!(
                cheap.verify(password, encoded).unwrap().matches,
                "{encoded}"
            );
        }
    }
}

/// Writes `vectors/cutty_made_hashes.json` for Django to check:
/// `cargo test -p cutty-core --all-features --test django_passwords -- --ignored`, then
/// `python gen_django_passwords.py --check-cutty cutty_made_hashes.json` in `tests/vectors`.
#[test]
#[ignore = "regenerates a committed vector file"]
fn write_cutty_made_hashes() {
    let passwords = [
        "password",
        "",
        "pässwörd 密码 🔑",
        "$dollar$signs$",
        &"L".repeat(4096),
    ];
    let mut configs = vec![
        ("pbkdf2_sha256 default", PasswordHasher::default()),
        (
            "pbkdf2_sha256 1000",
            PasswordHasher::default().with_iterations(1000).unwrap(),
        ),
        (
            "pbkdf2_sha1 1000",
            PasswordHasher::default()
                .with_algorithm(Algorithm::Pbkdf2Sha1)
                .unwrap()
                .with_iterations(1000)
                .unwrap(),
        ),
        (
            "pbkdf2_sha256 1000 256-bit salt",
            PasswordHasher::default()
                .with_iterations(1000)
                .unwrap()
                .with_salt_entropy(256)
                .unwrap(),
        ),
    ];
    for (name, algorithm) in [
        ("argon2", Algorithm::Argon2),
        ("scrypt", Algorithm::Scrypt),
        ("bcrypt_sha256", Algorithm::BcryptSha256),
        ("bcrypt", Algorithm::Bcrypt),
    ] {
        configs.push((
            name,
            PasswordHasher::default().with_algorithm(algorithm).unwrap(),
        ));
    }
    let mut hashes = Vec::new();
    for (name, hasher) in &configs {
        for (i, password) in passwords.iter().enumerate() {
            // Default-cost hashes for the first two passwords only, to keep the file quick.
            if name.ends_with("default") && i > 1 {
                continue;
            }
            if *name == "bcrypt" && password.len() > 72 {
                continue; // bcrypt >= 5 in Python refuses such passwords instead of truncating
            }
            hashes.push(serde_json::json!({
                "config": name,
                "password": password,
                "encoded": hasher.hash(password),
            }));
        }
    }
    let out = serde_json::json!({
        "generator": "cutty-core/tests/django_passwords.rs write_cutty_made_hashes",
        "hashes": hashes,
    });
    let path = format!(
        "{}/tests/vectors/cutty_made_hashes.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::write(path, serde_json::to_string_pretty(&out).unwrap() + "\n").unwrap();
}
