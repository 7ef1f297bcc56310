//! `ApiKey::parse` on hostile strings, plus generated keys: every generated key parses,
//! and every single-character substitution of one is refused (CRC32 catches them all).
#![no_main]

use cutty_core::Error;
use cutty_core::api_key::{ApiKey, DISPLAY_PREFIX_LEN, KEY_LEN, KEY_PREFIX, looks_like_api_key};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;

const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match ApiKey::parse(&text) {
        Ok(key) => {
            let s = key.expose_secret();
            assert_eq!(s, text);
            assert_eq!(s.len(), KEY_LEN);
            assert!(s.starts_with(KEY_PREFIX) && looks_like_api_key(s));
            assert!(
                s[KEY_PREFIX.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
            );
            assert_eq!(key.display_prefix(), &s[..DISPLAY_PREFIX_LEN]);
            assert_eq!(ApiKey::parse(s).expect("re-parse"), key);
            assert!(
                !format!("{key:?}").contains(&s[DISPLAY_PREFIX_LEN..]),
                "Debug leaks the key"
            );
        }
        Err(e) => assert!(matches!(e, Error::ApiKeyMalformed), "{e:?}"),
    }

    // A key generated from the input, then one character substituted.
    if data.len() >= 10 {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&data[..8]);
        let key = ApiKey::generate(&mut StdRng::from_seed(seed));
        let s = key.expose_secret();
        assert_eq!(ApiKey::parse(s).expect("generated key parses"), key);
        let mut bytes = s.as_bytes().to_vec();
        let i = KEY_PREFIX.len() + usize::from(data[8]) % (KEY_LEN - KEY_PREFIX.len());
        let c = ALNUM[usize::from(data[9]) % ALNUM.len()];
        if bytes[i] != c {
            bytes[i] = c;
            let changed = String::from_utf8(bytes).expect("ASCII");
            assert!(
                ApiKey::parse(&changed).is_err(),
                "substitution not detected: {changed}"
            );
        }
    }
});
