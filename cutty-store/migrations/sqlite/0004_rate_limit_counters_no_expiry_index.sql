-- Every rate-limit check rewrites its counter's `expires_at_ms`, so this index cost a second
-- page (a second WAL frame, 4 KiB) on every request; it served only the hourly purge of idle
-- counters, which now scans the table instead.
DROP INDEX IF EXISTS idx_rate_limit_counters_expiry;
