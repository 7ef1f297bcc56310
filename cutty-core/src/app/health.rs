//! `/health/auth`: database, cache and JWT self-check.

use serde::{Deserialize, Serialize};

use super::Cutty;
use crate::token::{FamilyId, TokenType};

/// Which service a [`HealthCheck`](super::HealthCheck) probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthService {
    /// The SQL store (or whatever holds the users).
    Database,
    /// Redis (counters, revocations, lockouts), when configured.
    Cache,
}

/// One service's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// Answered quickly.
    Ok,
    /// Answered, but slower than [`DEGRADED_AFTER_MS`].
    Degraded,
    /// Did not answer.
    Down,
    /// Not part of this deployment (no Redis).
    NotConfigured,
}

/// A probe slower than this (ms) reports `degraded`.
pub const DEGRADED_AFTER_MS: u64 = 1_000;

/// `{"status":…,"latency_ms":…}`; `latency_ms` is absent for `not_configured`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceHealth {
    /// The state.
    pub status: ServiceStatus,
    /// How long the probe took, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

impl ServiceStatus {
    /// Badness, for picking the worst of several probes.
    fn rank(self) -> u8 {
        match self {
            Self::NotConfigured => 0,
            Self::Ok => 1,
            Self::Degraded => 2,
            Self::Down => 3,
        }
    }
}

impl ServiceHealth {
    /// A service with no probe.
    pub const NOT_CONFIGURED: Self = Self {
        status: ServiceStatus::NotConfigured,
        latency_ms: None,
    };

    fn measured(up: bool, elapsed_ns: u64) -> Self {
        let latency_ms = elapsed_ns / 1_000_000;
        let status = if !up {
            ServiceStatus::Down
        } else if latency_ms > DEGRADED_AFTER_MS {
            ServiceStatus::Degraded
        } else {
            ServiceStatus::Ok
        };
        Self {
            status,
            latency_ms: Some(latency_ms),
        }
    }
}

/// The three services of `/health/auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthServices {
    /// The database.
    pub database: ServiceHealth,
    /// The cache.
    pub cache: ServiceHealth,
    /// Token signing and verification.
    pub jwt: ServiceHealth,
}

/// `"ok"` when every configured service is `ok`, else `"degraded"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverallStatus {
    /// All good.
    Ok,
    /// Something is slow or down.
    Degraded,
}

/// The body of `GET /health/auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Overall state.
    pub status: OverallStatus,
    /// Per service.
    pub services: HealthServices,
}

impl HealthReport {
    /// 503 when the database is down, else 200.
    pub fn http_status(&self) -> u16 {
        if self.services.database.status == ServiceStatus::Down {
            503
        } else {
            200
        }
    }
}

impl Cutty {
    /// Probes every configured service and signs and verifies a token.
    ///
    /// Each probe's latency comes from the clock's monotonic reading. Several probes for one
    /// service: the worst answer wins. A service with no probe is `not_configured`. The JWT
    /// check signs a throw-away access token and verifies it (no store involved).
    pub async fn health(&self) -> HealthReport {
        let clock = &self.inner.clock;
        let mut database: Option<ServiceHealth> = None;
        let mut cache: Option<ServiceHealth> = None;
        for (service, check) in &self.inner.health {
            let start = clock.monotonic_ns();
            let up = check.ping().await.is_ok();
            let probe = ServiceHealth::measured(up, clock.monotonic_ns().saturating_sub(start));
            let slot = match service {
                HealthService::Database => &mut database,
                HealthService::Cache => &mut cache,
            };
            *slot = Some(match *slot {
                Some(seen) if seen.status.rank() >= probe.status.rank() => seen,
                _ => probe,
            });
        }
        let start = clock.monotonic_ns();
        let jwt_ok = self.jwt_self_check();
        let jwt = ServiceHealth::measured(jwt_ok, clock.monotonic_ns().saturating_sub(start));
        let services = HealthServices {
            database: database.unwrap_or(ServiceHealth::NOT_CONFIGURED),
            cache: cache.unwrap_or(ServiceHealth::NOT_CONFIGURED),
            jwt,
        };
        let all_ok = [services.database, services.cache, services.jwt]
            .iter()
            .all(|s| matches!(s.status, ServiceStatus::Ok | ServiceStatus::NotConfigured));
        HealthReport {
            status: if all_ok {
                OverallStatus::Ok
            } else {
                OverallStatus::Degraded
            },
            services,
        }
    }

    fn jwt_self_check(&self) -> bool {
        let codec = self.inner.tokens.codec();
        let now = self.now_ms();
        codec
            .issue(TokenType::Access, "health", FamilyId::random(), now)
            .and_then(|t| codec.verify(t.as_str(), TokenType::Access, now))
            .is_ok_and(|claims| claims.user_id() == "health")
    }
}
