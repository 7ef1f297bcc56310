//! [`RateLimitStore`] on Redis: one Lua script per check.

use std::num::NonZeroU32;
use std::time::Duration;

use ::redis::Value;
use cutty_core::error::StoreError;
use cutty_core::rate_limit::{
    CasOutcome, Decision, RateLimitKey, RateLimitStore, SlidingWindow, WindowState,
    check_and_count_with_cas,
};

use super::{RedisStore, as_int, as_opt_string, malformed};

/// Beyond this, the script cannot compute exactly and the Rust path runs instead.
const LUA_EXACT: u64 = 1 << 51;

fn encode(s: &WindowState) -> String {
    format!("{}:{}:{}", s.window, s.prev, s.curr)
}

fn decode(raw: &str) -> Result<WindowState, StoreError> {
    let mut parts = raw.splitn(3, ':');
    let mut next = || parts.next().ok_or(malformed("redis: rate-limit state"));
    let window = next()?
        .parse()
        .map_err(|_| malformed("redis: rate-limit state"))?;
    let prev = next()?
        .parse()
        .map_err(|_| malformed("redis: rate-limit state"))?;
    let curr = next()?
        .parse()
        .map_err(|_| malformed("redis: rate-limit state"))?;
    Ok(WindowState { window, prev, curr })
}

fn decode_opt(raw: Option<String>) -> Result<Option<WindowState>, StoreError> {
    raw.as_deref().map(decode).transpose()
}

impl RedisStore {
    fn rate_key(&self, key: &RateLimitKey) -> String {
        self.key("rl", key)
    }
}

#[async_trait::async_trait]
impl RateLimitStore for RedisStore {
    async fn load(&self, key: &RateLimitKey) -> Result<Option<WindowState>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<String> = self
            .bounded(
                "redis: rate-limit load",
                ::redis::cmd("GET")
                    .arg(self.rate_key(key))
                    .query_async(&mut conn),
            )
            .await?;
        decode_opt(raw)
    }

    async fn compare_and_swap(
        &self,
        key: &RateLimitKey,
        expected: Option<WindowState>,
        new: WindowState,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(self.grace_ms.unsigned_abs())
            .max(1);
        let expected = expected.as_ref().map(encode).unwrap_or_default();
        let reply = self
            .run(
                "redis: rate-limit compare-and-swap",
                &self.scripts.rate_cas,
                &[&self.rate_key(key)],
                &[&expected, &encode(&new), &ttl_ms.to_string()],
            )
            .await?;
        let Value::Array(items) = reply else {
            return Err(malformed("redis: rate-limit compare-and-swap reply"));
        };
        match (items.first().and_then(as_int), items.get(1)) {
            (Some(1), _) => Ok(CasOutcome::Swapped),
            (Some(0), current) => {
                let current = match current {
                    None => None,
                    Some(v) => as_opt_string(v)
                        .ok_or(malformed("redis: rate-limit compare-and-swap reply"))?,
                };
                Ok(CasOutcome::Conflict(decode_opt(current)?))
            }
            _ => Err(malformed("redis: rate-limit compare-and-swap reply")),
        }
    }

    /// One `EVALSHA`: the script admits or refuses with [`SlidingWindow::evaluate`]'s
    /// arithmetic, stores the next state and returns the previous one, from which the
    /// decision is computed here by `evaluate` itself. Values too large for exact Lua
    /// arithmetic take the load + compare-and-swap path instead (see the module docs).
    async fn check_and_count(
        &self,
        key: &RateLimitKey,
        window: &SlidingWindow,
        limit: NonZeroU32,
        now_ms: u64,
    ) -> Result<Decision, StoreError> {
        let w = window.window_ms();
        let fits = now_ms < LUA_EXACT
            && (u64::from(limit.get()) + 2)
                .checked_mul(w)
                .is_some_and(|p| p < LUA_EXACT);
        if !fits {
            return check_and_count_with_cas(self, key, window, limit, now_ms).await;
        }
        let reply = self
            .run(
                "redis: rate-limit check",
                &self.scripts.rate_check,
                &[&self.rate_key(key)],
                &[
                    &w.to_string(),
                    &now_ms.to_string(),
                    &limit.get().to_string(),
                    &self.grace_ms.to_string(),
                ],
            )
            .await?;
        let Value::Array(items) = reply else {
            return Err(malformed("redis: rate-limit check reply"));
        };
        let admitted = match items.first().and_then(as_int) {
            Some(1) => true,
            Some(0) => false,
            Some(-1) => return check_and_count_with_cas(self, key, window, limit, now_ms).await,
            _ => return Err(malformed("redis: rate-limit check reply")),
        };
        let previous = match items.get(1) {
            None => None,
            Some(v) => as_opt_string(v).ok_or(malformed("redis: rate-limit check reply"))?,
        };
        let ev = window.evaluate(decode_opt(previous)?, now_ms, limit);
        if ev.next.is_some() != admitted {
            // The script and the model disagree: never expected (the conformance suite
            // compares them state by state), reported rather than guessed.
            return Err(malformed(
                "redis: rate-limit script disagrees with the model",
            ));
        }
        Ok(ev.decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_garbage_is_refused() {
        let s = WindowState {
            window: u64::MAX,
            prev: u32::MAX,
            curr: 0,
        };
        assert_eq!(decode(&encode(&s)).unwrap(), s);
        for bad in [
            "",
            "1:2",
            "1:2:x",
            "a:b:c",
            "1:2:3:4",
            "-1:2:3",
            "1:99999999999:0",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
