//! Brute-force protection: progressive delay per username and per IP, lockout after the
//! 5th failure, refused attempts not counted, success resets, no server-side sleeping.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::fixtures::{Account, Ctx, login, unique};
use crate::host::{Config, Launch};

const WRONG: &str = "Wrong-password-0";

/// A failing attempt: `401 AUTH_004`. Returns when it was answered.
async fn fail(c: &Client, username: &str, what: &str) -> Instant {
    let r = login(c, username, WRONG).await;
    assert!(
        r.status == 401 && r.error_code().as_deref() == Some("AUTH_004"),
        "{what}: a failing attempt must be answered 401 AUTH_004, got {} {}",
        r.status,
        r.snippet()
    );
    Instant::now()
}

/// A refused attempt: `429 AUTH_006`, answered at once (no server-side sleeping), with
/// `Retry-After` in `min..=max`. Returns `Retry-After`.
async fn refused(
    c: &Client,
    username: &str,
    password: &str,
    min: u64,
    max: u64,
    what: &str,
) -> u64 {
    let start = Instant::now();
    let r = login(c, username, password).await;
    let took = start.elapsed();
    assert!(
        r.status == 429 && r.error_code().as_deref() == Some("AUTH_006"),
        "{what}: expected 429 AUTH_006, got {} {}",
        r.status,
        r.snippet()
    );
    let retry = r.header_u64("retry-after");
    assert!(
        (min..=max).contains(&retry),
        "{what}: Retry-After {retry} outside {min}..={max}"
    );
    assert!(
        took < Duration::from_millis(900),
        "{what}: a refused attempt took {took:?}; the server must not sleep"
    );
    retry
}

/// Sleeps until `secs` seconds (plus a margin) after `since`.
async fn wait_out(since: Instant, secs: u64) {
    let until = since + Duration::from_millis(secs * 1000 + 300);
    tokio::time::sleep_until(until.into()).await;
}

/// After the k-th consecutive failure the next attempt within min(k, 30) s is refused with
/// `429 AUTH_006` and `Retry-After` ≤ k, even with the right password; the 5th failure
/// (answered `401 AUTH_004`) locks that username and that IP for an hour: the right password
/// is refused from any IP, and another user is refused from that IP.
pub async fn failures_delay_then_the_fifth_locks_username_and_ip<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let u = ctx.register(&c.fresh()).await;
    let v = ctx.register(&c.fresh()).await;
    for k in 1..=4u64 {
        let t = fail(&c, &u.username, &format!("failure {k}")).await;
        refused(
            &c,
            &u.username,
            &u.password,
            1,
            k,
            &format!("right password right after failure {k}"),
        )
        .await;
        wait_out(t, k).await;
    }
    fail(&c, &u.username, "failure 5").await;
    refused(
        &c,
        &u.username,
        &u.password,
        31,
        3600,
        "locked username, same IP",
    )
    .await;
    refused(
        &c.fresh(),
        &u.username,
        &u.password,
        31,
        3600,
        "locked username, other IP",
    )
    .await;
    refused(
        &c,
        &v.username,
        &v.password,
        31,
        3600,
        "other user from the locked IP",
    )
    .await;
    login(&c.fresh(), &v.username, &v.password)
        .await
        .expect(200);
}

/// Failures count per username whatever the IP: right after a failure from one IP, the
/// same username is refused from another.
pub async fn failures_count_per_username_across_ips<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let u = ctx.register(&c.fresh()).await;
    fail(&c, &u.username, "failure").await;
    refused(
        &c.fresh(),
        &u.username,
        &u.password,
        1,
        1,
        "same username, other IP",
    )
    .await;
}

/// Failures count per IP whatever the username: right after a failure for one user, another
/// user is refused from the same IP.
pub async fn failures_count_per_ip_across_usernames<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let u = ctx.register(&c.fresh()).await;
    let v = ctx.register(&c.fresh()).await;
    fail(&c, &u.username, "failure").await;
    refused(
        &c,
        &v.username,
        &v.password,
        1,
        1,
        "other username, same IP",
    )
    .await;
}

/// Usernames are counted case-insensitively, existing or not.
pub async fn failures_count_case_insensitively_for_unknown_users_too<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let ghost = unique("Ghost");
    fail(&c.fresh(), &ghost, "unknown user").await;
    refused(
        &c.fresh(),
        &ghost.to_uppercase(),
        WRONG,
        1,
        1,
        "unknown user, other case, other IP",
    )
    .await;
    let u: Account = ctx.register(&c.fresh()).await;
    fail(
        &c.fresh(),
        &u.username.to_uppercase(),
        "upper-case username",
    )
    .await;
    refused(
        &c.fresh(),
        &u.username.to_lowercase(),
        &u.password,
        1,
        1,
        "lower-case username",
    )
    .await;
}

/// Refused attempts do not count as failures: five refused attempts after the first failure
/// leave the count at 1, so the next failure is the 2nd (`401`, then a delay ≤ 2 s), not a
/// lockout.
pub async fn refused_attempts_do_not_count<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let u = ctx.register(&c.fresh()).await;
    let t = fail(&c, &u.username, "failure 1").await;
    for i in 0..5 {
        refused(
            &c,
            &u.username,
            WRONG,
            1,
            1,
            &format!("refused attempt {i}"),
        )
        .await;
    }
    wait_out(t, 1).await;
    let t = fail(&c, &u.username, "failure 2 (after five refused attempts)").await;
    refused(&c, &u.username, &u.password, 1, 2, "after failure 2").await;
    wait_out(t, 2).await;
    login(&c, &u.username, &u.password).await.expect(200);
}

/// A success resets the username's and the IP's counts: after two failures and a success,
/// the next failure is answered `401` and delays by 1 s only.
pub async fn success_resets_the_counts<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let u = ctx.register(&c.fresh()).await;
    let t = fail(&c, &u.username, "failure 1").await;
    wait_out(t, 1).await;
    let t = fail(&c, &u.username, "failure 2").await;
    wait_out(t, 2).await;
    login(&c, &u.username, &u.password).await.expect(200);
    fail(&c, &u.username, "failure right after a success").await;
    refused(
        &c,
        &u.username,
        &u.password,
        1,
        1,
        "delay after a reset count",
    )
    .await;
}

/// The lockout threshold and duration are configurable (`CUTTY_LOCKOUT_THRESHOLD=2`,
/// `CUTTY_LOCKOUT_SECONDS=3`): the 2nd failure locks for at most 3 s, after which the right
/// password logs in.
pub async fn lock_lasts_the_configured_duration<L: Launch>(launch: &L) {
    let config = Config::standard()
        .set("CUTTY_LOCKOUT_THRESHOLD", 2)
        .set("CUTTY_LOCKOUT_SECONDS", 3);
    let ctx = Ctx::start(launch, config).await;
    let c = ctx.client();
    let u = ctx.register(&c.fresh()).await;
    let t = fail(&c, &u.username, "failure 1").await;
    wait_out(t, 1).await;
    let t = fail(&c, &u.username, "failure 2").await;
    refused(&c.fresh(), &u.username, &u.password, 1, 3, "locked").await;
    wait_out(t, 3).await;
    login(&c, &u.username, &u.password).await.expect(200);
}
