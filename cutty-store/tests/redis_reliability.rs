//! Redis under the conditions of issue 4: two processes sharing a key, reconnects, and a
//! server that is not there.

mod redis_support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use cutty_core::clock::FakeClock;
use cutty_core::error::StoreErrorKind;
use cutty_core::lockout::{Lockout, LockoutConfig, LockoutDecision};
use cutty_core::rate_limit::{RateLimitConfig, RateLimitKey, RateLimiter};
use cutty_core::token::{FamilyId, FamilyState, TokenStore};
use cutty_store::redis::{RedisOptions, RedisStore};
use redis_support::{connect, fresh_prefix};

/// Two independent connection managers (two "processes") hammer one key at once: together
/// they admit exactly the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_admit_more_than_the_limit() {
    let prefix = fresh_prefix();
    let (a, b) = (connect(&prefix).await, connect(&prefix).await);
    let clock = FakeClock::at_unix_ms(1_700_000_000_000);
    let limit = NonZeroU32::new(50).unwrap();
    let key = RateLimitKey::ApiKey(Arc::from("shared"));
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone()] {
        let limiter = Arc::new(RateLimiter::new(
            RateLimitConfig::default(),
            store,
            clock.clone(),
        ));
        for _ in 0..80 {
            let (limiter, key) = (Arc::clone(&limiter), key.clone());
            tasks.push(tokio::spawn(
                async move { limiter.check_key(&key, limit).await },
            ));
        }
    }
    let mut admitted = 0;
    for t in tasks {
        if t.await.expect("task").expect("store").is_allowed() {
            admitted += 1;
        }
    }
    a.purge_prefix().await.expect("clean up");
    assert_eq!(
        admitted, 50,
        "160 concurrent checks from two managers, limit 50"
    );
}

/// Revocations, families and lockouts written through one connection are read by a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_and_lockouts_survive_a_reconnect() {
    let prefix = fresh_prefix();
    let clock = FakeClock::at_unix_ms(1_700_000_000_000);
    let now = 1_700_000_000_000;
    let jti = uuid::Uuid::new_v4();
    let family = FamilyId::random();
    let ip = "198.51.100.77".parse().unwrap();
    {
        let first = connect(&prefix).await;
        first
            .revoke_token(jti, now + 600_000, now)
            .await
            .expect("revoke");
        first
            .create_family(family, "42", uuid::Uuid::new_v4(), now + 600_000, now)
            .await
            .expect("family");
        first
            .revoke_family(family, now)
            .await
            .expect("revoke family");
        let lockout = Lockout::new(&first, clock.clone(), LockoutConfig::default());
        for _ in 0..5 {
            lockout
                .record_failure("mallory", ip)
                .await
                .expect("failure");
        }
    }
    let second = connect(&prefix).await;
    let revoked = second.is_token_revoked(jti, now + 1).await;
    let fam = second.family_state(family, now + 1).await;
    let lockout = Lockout::new(&second, clock.clone(), LockoutConfig::default());
    let decision = lockout.check("mallory", ip).await;
    second.purge_prefix().await.expect("clean up");
    assert!(revoked.expect("read"));
    assert_eq!(fam.expect("read"), FamilyState::Revoked);
    assert!(
        matches!(decision.expect("check"), LockoutDecision::Refused { .. }),
        "the lock must survive the reconnect"
    );
}

/// Nothing listens: connecting fails with `Unavailable` (`DB_001`), within the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_is_unavailable_within_the_timeout() {
    // A port that was just free: connections to it are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let timeout = Duration::from_millis(1500);
    let options = RedisOptions {
        operation_timeout: timeout,
        ..RedisOptions::default()
    };
    let url = format!("redis://127.0.0.1:{port}");
    // The outer bound only guards the test against hanging; the store bounds itself.
    let result = tokio::time::timeout(timeout * 4, RedisStore::connect(&url, options))
        .await
        .expect("connect must give up on its own");
    let err = result.expect_err("nothing listens there");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert_eq!(err.code().as_str(), "DB_001");
}

/// A malformed URL is refused without echoing it (it may contain a password).
#[tokio::test]
async fn a_bad_url_is_refused_without_leaking_it() {
    let err = RedisStore::connect("redis://:s3cret@[::1", RedisOptions::default())
        .await
        .expect_err("bad URL");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert!(!format!("{err} {err:?}").contains("s3cret"));
}

/// The `/health/auth` probe of the cache is a `PING`.
#[tokio::test]
async fn the_health_probe_pings() {
    let store = connect(&fresh_prefix()).await;
    cutty_core::app::HealthCheck::ping(&store)
        .await
        .expect("redis is up");
}
