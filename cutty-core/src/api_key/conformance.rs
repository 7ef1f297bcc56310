//! The conformance suite every [`ApiKeyStore`] backend must pass.
//!
//! Each function takes a store (which may already hold data: the checks use fresh random
//! key ids, user ids and hashes) and panics on the first violated expectation. Call
//! [`run_all`] from a backend's tests with any executor:
//!
//! ```ignore
//! #[tokio::test]
//! async fn api_key_store_conforms() {
//!     cutty_core::api_key::conformance::run_all(&MyStore::new().await).await;
//! }
//! ```

use std::num::NonZeroU32;

use uuid::Uuid;

use super::hash::{KeyHash, SaltId};
use super::permission::{Permission, PermissionSet};
use super::record::{ApiKeyRecord, UsageCounts, UsageOutcome};
use super::store::{ApiKeyStore, Revoker};
use crate::error::StoreErrorKind;

fn fresh_user_id() -> i64 {
    // Positive and effectively unique, so checks do not see each other's data.
    (Uuid::new_v4().as_u64_pair().0 >> 2) as i64 + 1
}

fn fresh_hash() -> KeyHash {
    let (a, b) = Uuid::new_v4().as_u64_pair();
    let (c, d) = Uuid::new_v4().as_u64_pair();
    let mut bytes = [0u8; 32];
    for (chunk, v) in bytes.chunks_exact_mut(8).zip([a, b, c, d]) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    KeyHash::from_bytes(bytes)
}

fn salt(id: &str) -> SaltId {
    SaltId::new(id).unwrap_or_else(|_| unreachable!("static salt ids are valid"))
}

/// A sample record of `user_id` created at `created_at`, hashed under salt `s1`.
pub fn sample_record(user_id: i64, created_at: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        key_id: Uuid::new_v4(),
        user_id,
        name: "conformance key ✓".to_owned(),
        key_prefix: "cutty_Ab12".to_owned(),
        key_hash: fresh_hash(),
        salt_id: salt("s1"),
        permissions: PermissionSet::EMPTY
            .with(Permission::FilesRead)
            .with(Permission::ListProcess),
        created_at,
        expires_at: Some(created_at + 86_400_000),
        last_used: None,
        is_active: true,
        rate_limit_override: NonZeroU32::new(250),
    }
}

/// Runs every check.
pub async fn run_all<S: ApiKeyStore + ?Sized>(store: &S) {
    insert_round_trips_every_field(store).await;
    insert_refuses_duplicates(store).await;
    find_by_hash_needs_salt_and_hash(store).await;
    list_for_user_is_own_keys_in_creation_order(store).await;
    revoke_owner_admin_and_repeat(store).await;
    last_used_is_recorded_and_never_moves_back(store).await;
    usage_counters_increment_and_read(store).await;
    rehash_replaces_hash_once(store).await;
}

/// A stored record reads back equal, by id and by hash, including unicode names and
/// `None`s.
pub async fn insert_round_trips_every_field<S: ApiKeyStore + ?Sized>(store: &S) {
    let full = sample_record(fresh_user_id(), 1_700_000_000_000);
    let mut bare = sample_record(fresh_user_id(), 1_700_000_000_001);
    bare.expires_at = None;
    bare.rate_limit_override = None;
    bare.permissions = PermissionSet::ALL;
    for r in [&full, &bare] {
        store.insert(r).await.expect("insert");
        assert_eq!(store.get(r.key_id).await.expect("get").as_ref(), Some(r));
        assert_eq!(
            store
                .find_by_hash(&r.salt_id, &r.key_hash)
                .await
                .expect("find")
                .as_ref(),
            Some(r)
        );
    }
    assert_eq!(store.get(Uuid::new_v4()).await.expect("get unknown"), None);
}

/// Same `key_id`, or same `(salt_id, key_hash)`: `Constraint`, nothing changed.
pub async fn insert_refuses_duplicates<S: ApiKeyStore + ?Sized>(store: &S) {
    let r = sample_record(fresh_user_id(), 1_700_000_000_000);
    store.insert(&r).await.expect("insert");

    let mut same_id = sample_record(r.user_id, 1_700_000_000_005);
    same_id.key_id = r.key_id;
    let err = store.insert(&same_id).await.expect_err("duplicate key_id");
    assert_eq!(err.kind(), StoreErrorKind::Constraint);

    let mut same_hash = sample_record(r.user_id, 1_700_000_000_006);
    same_hash.key_hash = r.key_hash;
    let err = store.insert(&same_hash).await.expect_err("duplicate hash");
    assert_eq!(err.kind(), StoreErrorKind::Constraint);

    assert_eq!(store.get(r.key_id).await.expect("get"), Some(r.clone()));
    assert_eq!(store.get(same_hash.key_id).await.expect("get"), None);
    assert_eq!(store.list_for_user(r.user_id).await.expect("list"), vec![r]);
}

/// The look-up matches both the salt id and the hash; inactive and expired keys are found.
pub async fn find_by_hash_needs_salt_and_hash<S: ApiKeyStore + ?Sized>(store: &S) {
    let mut r = sample_record(fresh_user_id(), 1_600_000_000_000);
    r.expires_at = Some(1_600_000_000_001);
    store.insert(&r).await.expect("insert");
    assert_eq!(
        store
            .find_by_hash(&salt("s2"), &r.key_hash)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        store
            .find_by_hash(&r.salt_id, &fresh_hash())
            .await
            .expect("find"),
        None
    );
    assert!(
        store
            .revoke(r.key_id, Revoker::Admin)
            .await
            .expect("revoke")
    );
    let found = store
        .find_by_hash(&r.salt_id, &r.key_hash)
        .await
        .expect("find")
        .expect("revoked keys are still found");
    assert!(!found.is_active);
}

/// Listing returns the user's keys only, oldest first, revoked ones included; `list_all`
/// holds them too.
pub async fn list_for_user_is_own_keys_in_creation_order<S: ApiKeyStore + ?Sized>(store: &S) {
    let user = fresh_user_id();
    let other = fresh_user_id();
    let newer = sample_record(user, 1_700_000_000_200);
    let older = sample_record(user, 1_700_000_000_100);
    let theirs = sample_record(other, 1_700_000_000_150);
    for r in [&newer, &older, &theirs] {
        store.insert(r).await.expect("insert");
    }
    assert!(
        store
            .revoke(older.key_id, Revoker::Owner(user))
            .await
            .expect("revoke")
    );
    let listed = store.list_for_user(user).await.expect("list");
    let ids: Vec<Uuid> = listed.iter().map(|r| r.key_id).collect();
    assert_eq!(ids, [older.key_id, newer.key_id]);
    assert!(!listed[0].is_active);
    assert!(
        store
            .list_for_user(fresh_user_id())
            .await
            .expect("list")
            .is_empty()
    );
    let all = store.list_all().await.expect("list all");
    for r in [&newer, &older, &theirs] {
        assert!(all.iter().any(|a| a.key_id == r.key_id));
    }
    let positions: Vec<usize> = [older.key_id, theirs.key_id, newer.key_id]
        .iter()
        .map(|id| all.iter().position(|a| a.key_id == *id).expect("listed"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "list_all order");
}

/// Owners revoke their own active keys once; another user's, unknown and already revoked
/// keys answer `false`; admins revoke anyone's.
pub async fn revoke_owner_admin_and_repeat<S: ApiKeyStore + ?Sized>(store: &S) {
    let owner = fresh_user_id();
    let mine = sample_record(owner, 1_700_000_000_000);
    let also_mine = sample_record(owner, 1_700_000_000_001);
    store.insert(&mine).await.expect("insert");
    store.insert(&also_mine).await.expect("insert");

    assert!(
        !store
            .revoke(mine.key_id, Revoker::Owner(owner + 1))
            .await
            .expect("revoke")
    );
    assert!(
        store
            .get(mine.key_id)
            .await
            .expect("get")
            .expect("exists")
            .is_active
    );
    assert!(
        !store
            .revoke(Uuid::new_v4(), Revoker::Owner(owner))
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke(Uuid::new_v4(), Revoker::Admin)
            .await
            .expect("revoke")
    );

    assert!(
        store
            .revoke(mine.key_id, Revoker::Owner(owner))
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .get(mine.key_id)
            .await
            .expect("get")
            .expect("exists")
            .is_active
    );
    assert!(
        !store
            .revoke(mine.key_id, Revoker::Owner(owner))
            .await
            .expect("again")
    );
    assert!(
        !store
            .revoke(mine.key_id, Revoker::Admin)
            .await
            .expect("again")
    );

    assert!(
        store
            .revoke(also_mine.key_id, Revoker::Admin)
            .await
            .expect("admin")
    );
    let after = store
        .get(also_mine.key_id)
        .await
        .expect("get")
        .expect("exists");
    assert!(!after.is_active);
    assert_eq!(
        after.key_hash, also_mine.key_hash,
        "revoking keeps the record"
    );
}

/// `last_used` starts `None`, is set, and never moves backwards; unknown ids are a no-op.
pub async fn last_used_is_recorded_and_never_moves_back<S: ApiKeyStore + ?Sized>(store: &S) {
    let r = sample_record(fresh_user_id(), 1_700_000_000_000);
    store.insert(&r).await.expect("insert");
    assert_eq!(last_used(store, r.key_id).await, None);
    store
        .record_last_used(r.key_id, 1_700_000_000_500)
        .await
        .expect("touch");
    assert_eq!(last_used(store, r.key_id).await, Some(1_700_000_000_500));
    store
        .record_last_used(r.key_id, 1_700_000_000_900)
        .await
        .expect("touch");
    assert_eq!(last_used(store, r.key_id).await, Some(1_700_000_000_900));
    store
        .record_last_used(r.key_id, 1_700_000_000_600)
        .await
        .expect("touch");
    assert_eq!(last_used(store, r.key_id).await, Some(1_700_000_000_900));
    store
        .record_last_used(Uuid::new_v4(), 1_700_000_000_000)
        .await
        .expect("unknown id is a no-op");
}

async fn last_used<S: ApiKeyStore + ?Sized>(store: &S, key_id: Uuid) -> Option<i64> {
    store
        .get(key_id)
        .await
        .expect("get")
        .expect("exists")
        .last_used
}

/// Counters start at zero, count each outcome separately, and are per key.
pub async fn usage_counters_increment_and_read<S: ApiKeyStore + ?Sized>(store: &S) {
    let a = sample_record(fresh_user_id(), 1_700_000_000_000);
    let b = sample_record(a.user_id, 1_700_000_000_001);
    store.insert(&a).await.expect("insert");
    store.insert(&b).await.expect("insert");
    assert_eq!(
        store.usage(a.key_id).await.expect("usage"),
        UsageCounts::default()
    );
    for _ in 0..3 {
        store
            .record_usage(a.key_id, UsageOutcome::Admitted)
            .await
            .expect("count");
    }
    store
        .record_usage(a.key_id, UsageOutcome::RateLimited)
        .await
        .expect("count");
    store
        .record_usage(b.key_id, UsageOutcome::RateLimited)
        .await
        .expect("count");
    assert_eq!(
        store.usage(a.key_id).await.expect("usage"),
        UsageCounts {
            requests: 3,
            rate_limited: 1
        }
    );
    assert_eq!(
        store.usage(b.key_id).await.expect("usage"),
        UsageCounts {
            requests: 0,
            rate_limited: 1
        }
    );
    store
        .record_usage(Uuid::new_v4(), UsageOutcome::Admitted)
        .await
        .expect("unknown id is a no-op");
    assert_eq!(
        store.usage(Uuid::new_v4()).await.expect("usage"),
        UsageCounts::default()
    );
}

/// `rehash` swaps `(salt_id, key_hash)` only while the old salt id still matches.
pub async fn rehash_replaces_hash_once<S: ApiKeyStore + ?Sized>(store: &S) {
    let r = sample_record(fresh_user_id(), 1_700_000_000_000);
    store.insert(&r).await.expect("insert");
    let new_salt = salt("s2");
    let new_hash = fresh_hash();
    assert!(
        store
            .rehash(r.key_id, &r.salt_id, &new_salt, &new_hash)
            .await
            .expect("rehash")
    );
    assert_eq!(
        store
            .find_by_hash(&r.salt_id, &r.key_hash)
            .await
            .expect("find"),
        None
    );
    let moved = store
        .find_by_hash(&new_salt, &new_hash)
        .await
        .expect("find")
        .expect("found under the new salt");
    assert_eq!(moved.key_id, r.key_id);
    assert_eq!(moved.salt_id, new_salt);
    assert_eq!(
        (moved.name.as_str(), moved.permissions, moved.created_at),
        (r.name.as_str(), r.permissions, r.created_at)
    );
    // A second (concurrent) migration from the old salt changes nothing.
    let other_hash = fresh_hash();
    assert!(
        !store
            .rehash(r.key_id, &r.salt_id, &salt("s3"), &other_hash)
            .await
            .expect("rehash")
    );
    assert_eq!(
        store
            .get(r.key_id)
            .await
            .expect("get")
            .expect("exists")
            .key_hash,
        new_hash
    );
    assert!(
        !store
            .rehash(Uuid::new_v4(), &r.salt_id, &new_salt, &fresh_hash())
            .await
            .expect("unknown")
    );
}
