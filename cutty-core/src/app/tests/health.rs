//! `/health/auth`.

use super::*;

#[test]
fn health_reports_each_service() {
    let h = H::new();
    let report = block_on(h.cutty.health());
    assert_eq!(report.http_status(), 200);
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "status": "ok",
            "services": {
                "database": {"status": "ok", "latency_ms": 0},
                "cache": {"status": "not_configured"},
                "jwt": {"status": "ok", "latency_ms": 0},
            }
        })
    );
    h.db.down.set(true);
    let report = block_on(h.cutty.health());
    assert_eq!(report.http_status(), 503);
    assert_eq!(report.status, OverallStatus::Degraded);
    assert_eq!(report.services.database.status, ServiceStatus::Down);
}

#[test]
fn a_cache_that_is_down_degrades_but_does_not_fail() {
    let clock = crate::clock::FakeClock::at_unix_ms(START_MS);
    let cache = Arc::new(fakes::FakeProbe::default());
    cache.down.set(true);
    let h = H::new();
    let stores = Stores {
        users: h.users.clone(),
        tokens: h.tokens.clone(),
        api_keys: h.keys.clone(),
        rate_limits: Arc::new(MemoryRateLimitStore::new(MemoryStoreConfig::default())),
        lockouts: Arc::new(MemoryLockoutStore::new()),
        block_list: h.blocks.clone(),
        events: h.events.clone(),
        health: vec![
            (
                HealthService::Database,
                h.db.clone() as Arc<dyn HealthCheck>,
            ),
            (HealthService::Cache, cache.clone() as Arc<dyn HealthCheck>),
        ],
    };
    let c = Cutty::new(
        stores,
        settings(),
        Arc::new(clock),
        Arc::new(InlinePasswordWork),
    )
    .unwrap();
    let report = block_on(c.health());
    assert_eq!(report.http_status(), 200);
    assert_eq!(report.status, OverallStatus::Degraded);
    assert_eq!(report.services.cache.status, ServiceStatus::Down);
    assert_eq!(report.services.database.status, ServiceStatus::Ok);
    assert_eq!(c.version(), env!("CARGO_PKG_VERSION"));
}
