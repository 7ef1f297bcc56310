//! Service tests over a small in-memory store, and the conformance suite run against it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use uuid::Uuid;

use super::*;
use crate::clock::FakeClock;
use crate::error::{Error, ErrorCode, StoreError, StoreErrorKind};

use futures::executor::block_on;

#[derive(Default)]
struct MemoryStore {
    inner: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    records: Vec<ApiKeyRecord>,
    usage: HashMap<Uuid, UsageCounts>,
    finds: usize,
}

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.inner.lock().unwrap()
    }
}

#[async_trait::async_trait]
impl ApiKeyStore for MemoryStore {
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.records.iter().any(|r| {
            r.key_id == record.key_id
                || (r.salt_id == record.salt_id && r.key_hash == record.key_hash)
        }) {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                "api_keys unique",
            ));
        }
        s.records.push(record.clone());
        Ok(())
    }

    async fn find_by_hash(
        &self,
        salt_id: &SaltId,
        key_hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let mut s = self.state();
        s.finds += 1;
        Ok(s.records
            .iter()
            .find(|r| &r.salt_id == salt_id && &r.key_hash == key_hash)
            .cloned())
    }

    async fn get(&self, key_id: Uuid) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .state()
            .records
            .iter()
            .find(|r| r.key_id == key_id)
            .cloned())
    }

    async fn list_for_user(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut v: Vec<_> = self
            .state()
            .records
            .iter()
            .filter(|r| r.user_id == user_id)
            .cloned()
            .collect();
        v.sort_by_key(|r| (r.created_at, r.key_id));
        Ok(v)
    }

    async fn list_all(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut v = self.state().records.clone();
        v.sort_by_key(|r| (r.created_at, r.key_id));
        Ok(v)
    }

    async fn revoke(&self, key_id: Uuid, by: Revoker) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(r) = s.records.iter_mut().find(|r| r.key_id == key_id) else {
            return Ok(false);
        };
        let allowed = match by {
            Revoker::Admin => true,
            Revoker::Owner(u) => r.user_id == u,
        };
        if !allowed || !r.is_active {
            return Ok(false);
        }
        r.is_active = false;
        Ok(true)
    }

    async fn record_last_used(&self, key_id: Uuid, at_unix_ms: i64) -> Result<(), StoreError> {
        if let Some(r) = self.state().records.iter_mut().find(|r| r.key_id == key_id) {
            r.last_used = Some(r.last_used.map_or(at_unix_ms, |t| t.max(at_unix_ms)));
        }
        Ok(())
    }

    async fn record_usage(&self, key_id: Uuid, outcome: UsageOutcome) -> Result<(), StoreError> {
        let mut s = self.state();
        if !s.records.iter().any(|r| r.key_id == key_id) {
            return Ok(());
        }
        let c = s.usage.entry(key_id).or_default();
        match outcome {
            UsageOutcome::Admitted => c.requests += 1,
            UsageOutcome::RateLimited => c.rate_limited += 1,
        }
        Ok(())
    }

    async fn usage(&self, key_id: Uuid) -> Result<UsageCounts, StoreError> {
        Ok(self.state().usage.get(&key_id).copied().unwrap_or_default())
    }

    async fn rehash(
        &self,
        key_id: Uuid,
        old_salt_id: &SaltId,
        new_salt_id: &SaltId,
        new_hash: &KeyHash,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s
            .records
            .iter_mut()
            .find(|r| r.key_id == key_id && &r.salt_id == old_salt_id)
        {
            Some(r) => {
                r.salt_id = new_salt_id.clone();
                r.key_hash = *new_hash;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[test]
fn memory_store_passes_the_conformance_suite() {
    block_on(conformance::run_all(&MemoryStore::default()));
}

const T0: i64 = 1_750_000_000_000;

fn salt(id: &str, secret: &str) -> ApiKeySalt {
    ApiKeySalt::new(SaltId::new(id).unwrap(), secret).unwrap()
}

fn service(clock: &FakeClock) -> ApiKeyService<FakeClock> {
    ApiKeyService::new(
        ApiKeyHasher::new(salt("s1", "first-salt-0123456789")),
        clock.clone(),
    )
}

fn request(json: &str) -> CreateApiKeyRequest {
    serde_json::from_str(json).unwrap()
}

fn create(
    svc: &ApiKeyService<FakeClock>,
    store: &MemoryStore,
    user_id: i64,
    json: &str,
) -> CreatedApiKey {
    let mut rng = StdRng::seed_from_u64(user_id as u64 ^ 0x5eed);
    let new_key = svc
        .prepare(&mut rng, user_id, PermissionSet::ALL, &request(json))
        .unwrap();
    block_on(svc.create(store, new_key)).unwrap()
}

fn fields(err: Error) -> Vec<String> {
    match err {
        Error::InvalidRequest(v) => v.into_iter().map(|f| f.field.into_owned()).collect(),
        other => panic!("expected REQ_001, got {other:?}"),
    }
}

#[test]
fn create_response_and_listing_match_the_contract() {
    let clock = FakeClock::at_unix_ms(T0);
    let svc = service(&clock);
    let store = MemoryStore::default();
    let created = create(
        &svc,
        &store,
        7,
        r#"{"name":"ci","permissions":["files:read","list:process"],"expires_at":1760000000000,"rate_limit_override":5}"#,
    );
    let json = serde_json::to_value(&created).unwrap();
    let obj = json.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "expires_at",
            "key",
            "key_id",
            "key_prefix",
            "name",
            "permissions",
            "rate_limit_override"
        ]
    );
    let key = obj["key"].as_str().unwrap();
    assert!(ApiKey::parse(key).is_ok());
    assert_eq!(obj["key_prefix"], key[..10]);
    assert_eq!(
        obj["permissions"],
        serde_json::json!(["files:read", "list:process"])
    );
    assert_eq!(obj["created_at"], T0);
    assert_eq!(obj["rate_limit_override"], 5);
    assert!(
        !format!("{created:?}").contains(&key[10..]),
        "Debug leaks the key"
    );

    let records = block_on(store.list_for_user(7)).unwrap();
    assert_eq!(records.len(), 1);
    assert!(!format!("{:?}", records[0]).contains(&key[10..]));
    let list = serde_json::to_value(ApiKeyList::from_records(&records)).unwrap();
    let item = list["api_keys"][0].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "expires_at",
            "is_active",
            "key_id",
            "key_prefix",
            "last_used",
            "name",
            "permissions",
            "rate_limit_override"
        ]
    );
    assert_eq!(item["last_used"], serde_json::Value::Null);
    assert_eq!(item["is_active"], true);
    let text = list.to_string();
    assert!(!text.contains(key) && !text.contains(&records[0].key_hash.to_hex()));

    let usage = ApiKeyUsageList {
        usage: vec![ApiKeyUsageItem::new(&records[0], UsageCounts::default())],
    };
    assert_eq!(
        serde_json::to_value(usage).unwrap()["usage"][0],
        serde_json::json!({"key_id": created.key_id, "name": "ci", "requests": 0, "rate_limited": 0, "last_used": null})
    );
}

#[test]
fn creation_validates_every_field() {
    let clock = FakeClock::at_unix_ms(T0);
    let svc = service(&clock);
    let mut rng = StdRng::seed_from_u64(1);
    let bad = |json: &str| {
        fields(
            svc.prepare(
                &mut StdRng::seed_from_u64(1),
                1,
                PermissionSet::ALL,
                &request(json),
            )
            .unwrap_err(),
        )
    };
    assert_eq!(
        bad(r#"{"name":"  ","permissions":["files:read"]}"#),
        ["name"]
    );
    let long = format!(
        r#"{{"name":"{}","permissions":["files:read"]}}"#,
        "é".repeat(101)
    );
    assert_eq!(bad(&long), ["name"]);
    assert_eq!(
        bad(r#"{"name":"a\u0007b","permissions":["files:read"]}"#),
        ["name"]
    );
    assert_eq!(bad(r#"{"name":"x","permissions":[]}"#), ["permissions"]);
    assert_eq!(
        bad(r#"{"name":"x","permissions":["admin"]}"#),
        ["permissions"]
    );
    assert_eq!(
        bad(&format!(
            r#"{{"name":"x","permissions":["files:read"],"expires_at":{T0}}}"#
        )),
        ["expires_at"]
    );
    assert_eq!(
        bad(r#"{"name":"x","permissions":["files:read"],"rate_limit_override":0}"#),
        ["rate_limit_override"]
    );
    assert_eq!(
        bad(r#"{"name":"x","permissions":["files:read"],"rate_limit_override":4294967296}"#),
        ["rate_limit_override"]
    );
    assert_eq!(
        bad(r#"{"name":"","permissions":["nope"],"expires_at":1,"rate_limit_override":-1}"#),
        ["name", "permissions", "expires_at", "rate_limit_override"]
    );
    // A key never holds more than its owner.
    let owner = PermissionSet::EMPTY.with(Permission::FilesRead);
    let err = svc
        .prepare(
            &mut rng,
            1,
            owner,
            &request(r#"{"name":"x","permissions":["files:write"]}"#),
        )
        .unwrap_err();
    assert_eq!(fields(err), ["permissions"]);
    let ok = svc
        .prepare(
            &mut rng,
            1,
            PermissionSet::ALL,
            &request(&format!(
                r#"{{"name":"{}","permissions":["files:read"],"expires_at":{}}}"#,
                "é".repeat(100),
                T0 + 1
            )),
        )
        .unwrap();
    assert_eq!(ok.record().expires_at, Some(T0 + 1));
}

#[test]
fn authenticate_success_records_last_used() {
    let clock = FakeClock::at_unix_ms(T0);
    let svc = service(&clock);
    let store = MemoryStore::default();
    let created = create(
        &svc,
        &store,
        3,
        r#"{"name":"a","permissions":["files:read"],"rate_limit_override":9}"#,
    );
    clock.advance(Duration::from_secs(5));
    let p = block_on(svc.authenticate(&store, created.key.expose_secret())).unwrap();
    assert_eq!(p.key_id(), created.key_id);
    assert_eq!(p.user_id(), 3);
    assert_eq!(p.rate_limit_override().map(|n| n.get()), Some(9));
    assert!(!p.is_admin() && !p.was_rehashed());
    assert!(p.require(Permission::FilesRead).is_ok());
    assert!(matches!(
        p.require(Permission::FilesWrite),
        Err(Error::ApiKeyPermissionDenied)
    ));
    let p = p.limited_to_owner(PermissionSet::EMPTY.with(Permission::FilesWrite));
    assert!(p.permissions().is_empty());
    let rec = block_on(store.get(created.key_id)).unwrap().unwrap();
    assert_eq!(rec.last_used, Some(T0 + 5_000));
}

#[test]
fn authenticate_error_paths_map_to_contract_codes() {
    let clock = FakeClock::at_unix_ms(T0);
    let svc = service(&clock);
    let store = MemoryStore::default();
    let code = |r: Result<ApiKeyPrincipal, Error>| r.unwrap_err().code();

    // Malformed: refused before any store access.
    assert_eq!(
        code(block_on(svc.authenticate(&store, "cutty_nope"))),
        ErrorCode::ApiKeyMalformed
    );
    assert_eq!(
        code(block_on(svc.authenticate(&store, "eyJ.x.y"))),
        ErrorCode::ApiKeyMalformed
    );
    assert_eq!(store.state().finds, 0);

    // Well-formed but unknown.
    let stranger = ApiKey::generate(&mut StdRng::seed_from_u64(77));
    assert_eq!(
        code(block_on(svc.authenticate(&store, stranger.expose_secret()))),
        ErrorCode::ApiKeyNotFound
    );

    // Expired exactly at expires_at.
    let exp = create(
        &svc,
        &store,
        4,
        &format!(
            r#"{{"name":"e","permissions":["files:read"],"expires_at":{}}}"#,
            T0 + 60_000
        ),
    );
    clock.advance(Duration::from_millis(59_999));
    assert!(block_on(svc.authenticate(&store, exp.key.expose_secret())).is_ok());
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        code(block_on(svc.authenticate(&store, exp.key.expose_secret()))),
        ErrorCode::ApiKeyExpired
    );

    // Revoked (wins over expired), and 404 semantics of revoke.
    let rev = create(
        &svc,
        &store,
        5,
        r#"{"name":"r","permissions":["files:read"]}"#,
    );
    let not_found = |r: Result<(), Error>| r.unwrap_err().code() == ErrorCode::ResourceNotFound;
    assert!(not_found(block_on(svc.revoke(
        &store,
        rev.key_id,
        Revoker::Owner(6)
    ))));
    assert!(not_found(block_on(svc.revoke(
        &store,
        Uuid::new_v4(),
        Revoker::Owner(5)
    ))));
    block_on(svc.revoke(&store, rev.key_id, Revoker::Owner(5))).unwrap();
    assert!(not_found(block_on(svc.revoke(
        &store,
        rev.key_id,
        Revoker::Owner(5)
    ))));
    assert_eq!(
        code(block_on(svc.authenticate(&store, rev.key.expose_secret()))),
        ErrorCode::ApiKeyRevoked
    );
    block_on(svc.revoke(&store, exp.key_id, Revoker::Admin)).unwrap();
    assert_eq!(
        code(block_on(svc.authenticate(&store, exp.key.expose_secret()))),
        ErrorCode::ApiKeyRevoked
    );
}

#[test]
fn salt_rotation_migrates_on_use_and_retired_salts_stop_working() {
    let clock = FakeClock::at_unix_ms(T0);
    let store = MemoryStore::default();
    let old = service(&clock);
    let created = create(
        &old,
        &store,
        8,
        r#"{"name":"a","permissions":["files:read"]}"#,
    );
    let untouched = create(
        &old,
        &store,
        9,
        r#"{"name":"b","permissions":["files:read"]}"#,
    );

    let rotated = ApiKeyService::new(
        ApiKeyHasher::new(salt("s2", "second-salt-0123456789"))
            .with_previous(salt("s1", "first-salt-0123456789"))
            .unwrap(),
        clock.clone(),
    );
    let p = block_on(rotated.authenticate(&store, created.key.expose_secret())).unwrap();
    assert!(p.was_rehashed());
    let rec = block_on(store.get(created.key_id)).unwrap().unwrap();
    assert_eq!(rec.salt_id.as_str(), "s2");
    assert_eq!(
        rotated
            .hasher()
            .verify(&created.key, &rec.salt_id, &rec.key_hash),
        HashCheck::Match {
            needs_rehash: false
        }
    );
    let p = block_on(rotated.authenticate(&store, created.key.expose_secret())).unwrap();
    assert!(!p.was_rehashed());

    // Once s1 is retired, a key never used since the rotation is no longer found.
    let retired = ApiKeyService::new(
        ApiKeyHasher::new(salt("s2", "second-salt-0123456789")),
        clock.clone(),
    );
    assert!(block_on(retired.authenticate(&store, created.key.expose_secret())).is_ok());
    assert_eq!(
        block_on(retired.authenticate(&store, untouched.key.expose_secret()))
            .unwrap_err()
            .code(),
        ErrorCode::ApiKeyNotFound
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn authenticate_never_panics_and_never_hits_the_store_for_non_keys(s in any::<String>()) {
        let clock = FakeClock::at_unix_ms(T0);
        let svc = service(&clock);
        let store = MemoryStore::default();
        let r = block_on(svc.authenticate(&store, &s));
        if ApiKey::parse(&s).is_err() {
            prop_assert!(matches!(r, Err(Error::ApiKeyMalformed)));
            prop_assert_eq!(store.state().finds, 0);
        }
    }

    #[test]
    fn expiry_boundary(offset in -10_000i64..10_000) {
        let clock = FakeClock::at_unix_ms(T0);
        let svc = service(&clock);
        let store = MemoryStore::default();
        let k = create(&svc, &store, 1, &format!(
            r#"{{"name":"p","permissions":["files:read"],"expires_at":{}}}"#, T0 + 20_000));
        clock.set_unix_ms(T0 + 20_000 + offset);
        let r = block_on(svc.authenticate(&store, k.key.expose_secret()));
        if offset >= 0 {
            prop_assert!(matches!(r, Err(Error::ApiKeyExpired)));
        } else {
            prop_assert!(r.is_ok());
        }
    }
}
