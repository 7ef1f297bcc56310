//! The conformance suite every [`TokenStore`] must pass (feature `testing`).
//!
//! Each function takes the store under test and a [`FakeClock`] whose time it reads and
//! advances (only ever by minutes, so a backend that also sets physical TTLs from
//! `expires_at_ms - now_ms` is not disturbed). Ids are random, so the functions may share
//! one store. [`run_all`] runs them all; a backend's test calls it from its own runtime:
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use cutty_core::clock::FakeClock;
//! use cutty_core::token::{conformance, testing::{block_on, FakeTokenStore}};
//!
//! let store = FakeTokenStore::new();
//! block_on(conformance::run_all(&store, &FakeClock::at_unix_ms(1_800_000_000_000)));
//! # }
//! ```

use std::time::Duration;

use uuid::Uuid;

use super::testing::join_all;
use super::{AccessState, FamilyId, FamilyState, Rotation, TokenStore};
use crate::clock::{Clock, FakeClock};

const MINUTE: i64 = 60_000;

fn jti() -> Uuid {
    super::codec::new_uuid()
}

fn user() -> String {
    format!("conformance-user-{}", jti().simple())
}

/// Runs every check below.
pub async fn run_all<S: TokenStore>(store: &S, clock: &FakeClock) {
    revocation_lasts_until_expiry(store, clock).await;
    unrevoke_lifts_a_revocation(store, clock).await;
    user_not_before_only_rises_and_expires(store, clock).await;
    family_rotates_with_current_jti(store, clock).await;
    family_reuse_revokes_the_family(store, clock).await;
    family_revoke_and_unknown(store, clock).await;
    family_expires(store, clock).await;
    duplicate_family_is_a_constraint_error(store, clock).await;
    concurrent_rotation_has_one_winner(store, clock).await;
    access_state_matches_single_reads(store, clock).await;
}

/// A revoked jti reads as revoked until its expiry, then as absent (it may be dropped).
/// Revoking is idempotent; other jtis are unaffected.
pub async fn revocation_lasts_until_expiry<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let (a, b) = (jti(), jti());
    let exp = now + 15 * MINUTE;
    assert!(!store.is_token_revoked(a, now).await.expect("read"));
    store.revoke_token(a, exp, now).await.expect("revoke");
    store.revoke_token(a, exp, now).await.expect("revoke twice");
    assert!(store.is_token_revoked(a, now).await.expect("read"));
    assert!(store.is_token_revoked(a, exp - 1).await.expect("read"));
    assert!(!store.is_token_revoked(b, now).await.expect("read"));
    assert!(
        !store.is_token_revoked(a, exp).await.expect("read"),
        "a revocation lasts until the token's own expiry, not longer"
    );
    clock.advance(Duration::from_secs(1));
}

/// `unrevoke_token` removes a revocation and says whether there was one.
pub async fn unrevoke_lifts_a_revocation<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let a = jti();
    assert!(!store.unrevoke_token(a).await.expect("unrevoke absent"));
    store
        .revoke_token(a, now + MINUTE, now)
        .await
        .expect("revoke");
    assert!(store.unrevoke_token(a).await.expect("unrevoke"));
    assert!(!store.is_token_revoked(a, now).await.expect("read"));
}

/// One mark per user: it only rises, other users are unaffected, and it reads as absent
/// once past its keep-until.
pub async fn user_not_before_only_rises_and_expires<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let (u, v) = (user(), user());
    assert_eq!(store.user_not_before(&u, now).await.expect("read"), None);
    let keep = now + 10 * MINUTE;
    store
        .raise_user_not_before(&u, now, keep, now)
        .await
        .expect("raise");
    assert_eq!(
        store.user_not_before(&u, now).await.expect("read"),
        Some(now)
    );
    // Millisecond precision is kept.
    store
        .raise_user_not_before(&u, now + 7, keep, now)
        .await
        .expect("raise");
    assert_eq!(
        store.user_not_before(&u, now).await.expect("read"),
        Some(now + 7)
    );
    // Never lowered.
    store
        .raise_user_not_before(&u, now - 5_000, keep, now)
        .await
        .expect("lower attempt");
    assert_eq!(
        store.user_not_before(&u, now).await.expect("read"),
        Some(now + 7)
    );
    assert_eq!(store.user_not_before(&v, now).await.expect("read"), None);
    // Gone after keep-until.
    assert_eq!(store.user_not_before(&u, keep).await.expect("read"), None);
    // A later raise with a later keep-until extends it.
    store
        .raise_user_not_before(&u, now + 9, keep + MINUTE, now)
        .await
        .expect("raise");
    assert_eq!(
        store.user_not_before(&u, keep).await.expect("read"),
        Some(now + 9)
    );
}

/// Rotation with the current jti succeeds and moves the family to the new jti.
pub async fn family_rotates_with_current_jti<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let fam = FamilyId::random();
    let (r1, r2, r3) = (jti(), jti(), jti());
    let exp = now + 60 * MINUTE;
    store
        .create_family(fam, &user(), r1, exp, now)
        .await
        .expect("create");
    assert_eq!(
        store.family_state(fam, now).await.expect("state"),
        FamilyState::Active
    );
    assert_eq!(
        store
            .rotate_family(fam, r1, r2, exp, now)
            .await
            .expect("rotate"),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_family(fam, r2, r3, exp, now)
            .await
            .expect("rotate"),
        Rotation::Rotated
    );
    assert_eq!(
        store.family_state(fam, now).await.expect("state"),
        FamilyState::Active
    );
}

/// Presenting an older jti revokes the family and reports reuse; afterwards even the
/// current jti is refused as revoked.
pub async fn family_reuse_revokes_the_family<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let fam = FamilyId::random();
    let (r1, r2, r3, r4) = (jti(), jti(), jti(), jti());
    let exp = now + 60 * MINUTE;
    store
        .create_family(fam, &user(), r1, exp, now)
        .await
        .expect("create");
    assert_eq!(
        store
            .rotate_family(fam, r1, r2, exp, now)
            .await
            .expect("rotate"),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_family(fam, r1, r3, exp, now)
            .await
            .expect("reuse"),
        Rotation::Reused
    );
    assert_eq!(
        store.family_state(fam, now).await.expect("state"),
        FamilyState::Revoked
    );
    assert_eq!(
        store
            .rotate_family(fam, r2, r4, exp, now)
            .await
            .expect("after reuse"),
        Rotation::Revoked
    );
}

/// Revoking a family is visible at once and idempotent; unknown families stay unknown.
pub async fn family_revoke_and_unknown<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let fam = FamilyId::random();
    let other = FamilyId::random();
    let r1 = jti();
    store
        .create_family(fam, &user(), r1, now + MINUTE, now)
        .await
        .expect("create");
    store.revoke_family(fam, now).await.expect("revoke");
    store.revoke_family(fam, now).await.expect("revoke twice");
    store
        .revoke_family(other, now)
        .await
        .expect("revoke unknown");
    assert_eq!(
        store.family_state(fam, now).await.expect("state"),
        FamilyState::Revoked
    );
    assert_eq!(
        store
            .rotate_family(fam, r1, jti(), now + MINUTE, now)
            .await
            .expect("rotate"),
        Rotation::Revoked
    );
    assert_eq!(
        store.family_state(other, now).await.expect("state"),
        FamilyState::Unknown
    );
    assert_eq!(
        store
            .rotate_family(other, r1, jti(), now + MINUTE, now)
            .await
            .expect("rotate"),
        Rotation::Unknown
    );
}

/// A family expires at its expiry; rotation extends it.
pub async fn family_expires<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let fam = FamilyId::random();
    let (r1, r2) = (jti(), jti());
    store
        .create_family(fam, &user(), r1, now + MINUTE, now)
        .await
        .expect("create");
    clock.advance(Duration::from_secs(30));
    let later = clock.now_unix_ms();
    assert_eq!(
        store
            .rotate_family(fam, r1, r2, later + 2 * MINUTE, later)
            .await
            .expect("rotate"),
        Rotation::Rotated
    );
    // Past the first expiry, alive thanks to the rotation.
    assert_eq!(
        store
            .family_state(fam, now + MINUTE + 1)
            .await
            .expect("state"),
        FamilyState::Active
    );
    let end = later + 2 * MINUTE;
    assert_eq!(
        store.family_state(fam, end).await.expect("state"),
        FamilyState::Unknown
    );
    assert_eq!(
        store
            .rotate_family(fam, r2, jti(), end + MINUTE, end)
            .await
            .expect("rotate"),
        Rotation::Unknown
    );
}

/// Creating a family whose id is live is a `Constraint` error.
pub async fn duplicate_family_is_a_constraint_error<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let fam = FamilyId::random();
    store
        .create_family(fam, &user(), jti(), now + MINUTE, now)
        .await
        .expect("create");
    let err = store
        .create_family(fam, &user(), jti(), now + MINUTE, now)
        .await
        .expect_err("duplicate family must fail");
    assert_eq!(err.kind(), crate::error::StoreErrorKind::Constraint);
}

/// Eight concurrent rotations presenting the same current jti: exactly one wins; every
/// other one is a reuse (or sees the family already revoked by one), and the family ends
/// revoked.
pub async fn concurrent_rotation_has_one_winner<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let fam = FamilyId::random();
    let r1 = jti();
    let exp = now + 60 * MINUTE;
    store
        .create_family(fam, &user(), r1, exp, now)
        .await
        .expect("create");
    let racers: Vec<_> = (0..8)
        .map(|_| store.rotate_family(fam, r1, jti(), exp, now))
        .collect();
    let outcomes: Vec<Rotation> = join_all(racers)
        .await
        .into_iter()
        .map(|r| r.expect("rotate"))
        .collect();
    let winners = outcomes.iter().filter(|o| **o == Rotation::Rotated).count();
    assert_eq!(
        winners, 1,
        "exactly one concurrent rotation wins: {outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Rotation::Rotated | Rotation::Reused | Rotation::Revoked)),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&Rotation::Reused), "{outcomes:?}");
    assert_eq!(
        store.family_state(fam, now).await.expect("state"),
        FamilyState::Revoked
    );
}

/// `access_state` answers exactly what the three single reads answer.
pub async fn access_state_matches_single_reads<S: TokenStore>(store: &S, clock: &FakeClock) {
    let now = clock.now_unix_ms();
    let u = user();
    let fam = FamilyId::random();
    let a = jti();
    let fresh = store.access_state(a, &u, fam, now).await.expect("state");
    assert_eq!(
        fresh,
        AccessState {
            token_revoked: false,
            user_not_before_ms: None,
            family: FamilyState::Unknown,
        }
    );
    store
        .create_family(fam, &u, jti(), now + MINUTE, now)
        .await
        .expect("create");
    store
        .revoke_token(a, now + MINUTE, now)
        .await
        .expect("revoke");
    store
        .raise_user_not_before(&u, now + 3, now + MINUTE, now)
        .await
        .expect("raise");
    let st = store.access_state(a, &u, fam, now).await.expect("state");
    assert_eq!(
        st,
        AccessState {
            token_revoked: true,
            user_not_before_ms: Some(now + 3),
            family: FamilyState::Active,
        }
    );
    store.revoke_family(fam, now).await.expect("revoke family");
    assert_eq!(
        store
            .access_state(a, &u, fam, now)
            .await
            .expect("state")
            .family,
        FamilyState::Revoked
    );
}
