//! `/metrics`: Prometheus text exposition, hand-rolled with atomics.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `cutty_http_requests_total` | counter | `method`, `route` (the route template, `unmatched` for 404s), `status` |
//! | `cutty_http_request_duration_seconds` | histogram | — |
//! | `cutty_http_requests_in_flight` | gauge | — |
//! | `cutty_password_work_in_flight` | gauge | — (hashes and verifications queued or running) |
//! | `cutty_rate_limit_refusals_total` | counter | `code` (`RATE_001`…`RATE_004`) |
//! | `cutty_lockout_refusals_total` | counter | — (`429 AUTH_006` answers) |
//! | `cutty_ip_blocked_refusals_total` | counter | — (`403 SEC_001` answers) |
//! | `cutty_errors_total` | counter | `code` (every contract error answered) |
//! | `cutty_event_write_failures_total` | counter | — (security events that could not be stored) |
//! | `cutty_usage_write_failures_total`, `cutty_rehash_failures_total`, `cutty_block_list_refresh_failures_total` | counter | — |
//! | `cutty_maintenance_runs_total`, `cutty_maintenance_failures_total` | counter | — |
//!
//! Nothing here carries a user, a key or an address: labels are bounded sets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cutty_core::app::Diagnostics;
use cutty_core::error::ErrorCode;

/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's counters. Share one behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    in_flight: AtomicU64,
    password_in_flight: AtomicU64,
    lockout_refusals: AtomicU64,
    ip_blocked_refusals: AtomicU64,
    rate_limit_refusals: [AtomicU64; 4],
    maintenance_runs: AtomicU64,
    maintenance_failures: AtomicU64,
}

/// The method label: the standard methods by name, anything else `OTHER` (bounded).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Decrements a gauge when dropped (also when the request's future is cancelled).
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a AtomicU64);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A request started; the guard ends it.
    pub fn request_started(&self) -> GaugeGuard<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.in_flight)
    }

    /// Password work queued; the guard ends it.
    pub fn password_work_started(&self) -> GaugeGuard<'_> {
        self.password_in_flight.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.password_in_flight)
    }

    /// Records one answered request. `route` must come from a bounded set (templates).
    pub fn record(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        code: Option<ErrorCode>,
        latency: Duration,
    ) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((method, route.to_owned(), status)).or_default() += 1;
        }
        let secs = latency.as_secs_f64();
        for (bucket, le) in self.buckets.iter().zip(BUCKETS) {
            if secs <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        if let Some(code) = code {
            if let Ok(mut map) = self.errors.lock() {
                *map.entry(code.as_str()).or_default() += 1;
            }
            let counter = match code {
                ErrorCode::LockedOut => Some(&self.lockout_refusals),
                ErrorCode::IpBlocked => Some(&self.ip_blocked_refusals),
                ErrorCode::IpRateLimited => self.rate_limit_refusals.first(),
                ErrorCode::UserRateLimited => self.rate_limit_refusals.get(1),
                ErrorCode::ApiKeyRateLimited => self.rate_limit_refusals.get(2),
                ErrorCode::GlobalRateLimited => self.rate_limit_refusals.get(3),
                _ => None,
            };
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One maintenance run, successful or not.
    pub fn maintenance_ran(&self, ok: bool) {
        self.maintenance_runs.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.maintenance_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition (format 0.0.4), with the facade's diagnostics.
    pub fn render(&self, diagnostics: &Diagnostics) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);

        header(
            &mut out,
            "cutty_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        if let Ok(map) = self.requests.lock() {
            for ((method, route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "cutty_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }

        header(
            &mut out,
            "cutty_http_request_duration_seconds",
            "histogram",
            "Time from request to response head.",
        );
        for (bucket, le) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "cutty_http_request_duration_seconds_bucket{{le=\"{le}\"}} {}",
                load(bucket)
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "cutty_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "cutty_http_request_duration_seconds_sum {}",
            load(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "cutty_http_request_duration_seconds_count {count}");

        gauge(
            &mut out,
            "cutty_http_requests_in_flight",
            "Requests being served.",
            load(&self.in_flight),
        );
        gauge(
            &mut out,
            "cutty_password_work_in_flight",
            "Password hashes and verifications queued or running on the hashing threads.",
            load(&self.password_in_flight),
        );

        header(
            &mut out,
            "cutty_rate_limit_refusals_total",
            "counter",
            "Requests refused by a rate limit, by error code.",
        );
        for (i, c) in self.rate_limit_refusals.iter().enumerate() {
            let _ = writeln!(
                out,
                "cutty_rate_limit_refusals_total{{code=\"RATE_00{}\"}} {}",
                i + 1,
                load(c)
            );
        }
        counter(
            &mut out,
            "cutty_lockout_refusals_total",
            "Login attempts refused by the brute-force lockout or delay (AUTH_006).",
            load(&self.lockout_refusals),
        );
        counter(
            &mut out,
            "cutty_ip_blocked_refusals_total",
            "Requests refused because the client IP is blocked (SEC_001).",
            load(&self.ip_blocked_refusals),
        );
        header(
            &mut out,
            "cutty_errors_total",
            "counter",
            "Contract errors answered, by code.",
        );
        if let Ok(map) = self.errors.lock() {
            for (code, n) in map.iter() {
                let _ = writeln!(out, "cutty_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        counter(
            &mut out,
            "cutty_event_write_failures_total",
            "Security events that could not be written (the request was answered anyway).",
            diagnostics.event_write_failures,
        );
        counter(
            &mut out,
            "cutty_usage_write_failures_total",
            "API-key usage counters that could not be incremented.",
            diagnostics.usage_write_failures,
        );
        counter(
            &mut out,
            "cutty_rehash_failures_total",
            "Password re-hashes after a login that could not be stored.",
            diagnostics.rehash_failures,
        );
        counter(
            &mut out,
            "cutty_block_list_refresh_failures_total",
            "Block-list reloads that failed (the previous list stayed in force).",
            diagnostics.block_list_refresh_failures,
        );
        counter(
            &mut out,
            "cutty_maintenance_runs_total",
            "Periodic maintenance runs.",
            load(&self.maintenance_runs),
        );
        counter(
            &mut out,
            "cutty_maintenance_failures_total",
            "Periodic maintenance runs that failed.",
            load(&self.maintenance_failures),
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_diagnostics() {
        let m = Metrics::default();
        m.record("GET", "/health", 200, None, Duration::from_millis(3));
        m.record("GET", "/health", 200, None, Duration::from_millis(30));
        m.record(
            "POST",
            "/api/accounts/login",
            429,
            Some(ErrorCode::LockedOut),
            Duration::from_millis(2),
        );
        m.record(
            "GET",
            "/api/accounts/user",
            429,
            Some(ErrorCode::UserRateLimited),
            Duration::from_secs(20),
        );
        let _guard = m.password_work_started();
        let text = m.render(&Diagnostics {
            event_write_failures: 7,
            ..Diagnostics::default()
        });
        assert!(text.contains(
            "cutty_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"
        ));
        assert!(text.contains("cutty_http_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("cutty_http_request_duration_seconds_bucket{le=\"0.05\"} 3"));
        assert!(text.contains("cutty_http_request_duration_seconds_bucket{le=\"+Inf\"} 4"));
        assert!(text.contains("cutty_http_request_duration_seconds_count 4"));
        assert!(text.contains("cutty_lockout_refusals_total 1"));
        assert!(text.contains("cutty_rate_limit_refusals_total{code=\"RATE_002\"} 1"));
        assert!(text.contains("cutty_rate_limit_refusals_total{code=\"RATE_001\"} 0"));
        assert!(text.contains("cutty_errors_total{code=\"AUTH_006\"} 1"));
        assert!(text.contains("cutty_password_work_in_flight 1"));
        assert!(text.contains("cutty_event_write_failures_total 7"));
        drop(_guard);
        assert!(
            m.render(&Diagnostics::default())
                .contains("cutty_password_work_in_flight 0")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
