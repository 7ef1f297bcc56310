-- Tokens, API keys, block list, security events, lockouts and rate-limit counters.
-- Times are Unix milliseconds (INTEGER). Rows with an expiry column are dead from that
-- instant on; `maintenance` deletes them. Uuids are lowercase hyphenated text, which SQLite
-- compares byte-wise: the same order as the memory backend's.

-- Revoked access/refresh tokens, kept until the token's own expiry.
CREATE TABLE revoked_tokens (
    jti           TEXT   PRIMARY KEY,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX idx_revoked_tokens_expiry ON revoked_tokens (expires_at_ms);

-- One "not valid before" mark per user (logout everywhere, password change).
CREATE TABLE user_token_marks (
    user_id       TEXT   PRIMARY KEY,
    not_before_ms INTEGER NOT NULL,
    keep_until_ms INTEGER NOT NULL
);
CREATE INDEX idx_user_token_marks_expiry ON user_token_marks (keep_until_ms);

-- Refresh-token families: the current refresh jti, rotated atomically.
CREATE TABLE refresh_families (
    family_id     TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL,
    current_jti   TEXT    NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0,
    expires_at_ms INTEGER  NOT NULL
);
CREATE INDEX idx_refresh_families_expiry ON refresh_families (expires_at_ms);

-- API keys: the HMAC of the key (hex), never the key.
CREATE TABLE api_keys (
    key_id              TEXT    PRIMARY KEY,
    user_id             INTEGER  NOT NULL,
    name                TEXT    NOT NULL,
    key_prefix          TEXT    NOT NULL,
    key_hash            TEXT    NOT NULL,
    salt_id             TEXT    NOT NULL,
    permissions         TEXT    NOT NULL,
    created_at          INTEGER  NOT NULL,
    expires_at          INTEGER,
    last_used           INTEGER,
    is_active           INTEGER NOT NULL DEFAULT 1,
    rate_limit_override INTEGER,
    requests            INTEGER  NOT NULL DEFAULT 0,
    rate_limited        INTEGER  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX idx_api_keys_salt_hash ON api_keys (salt_id, key_hash);
CREATE INDEX idx_api_keys_user ON api_keys (user_id);
CREATE INDEX idx_api_keys_user_hash ON api_keys (user_id, key_hash);
CREATE INDEX idx_api_keys_created ON api_keys (created_at, key_id);

-- Blocked networks, keyed by canonical CIDR text, and the version running servers poll.
CREATE TABLE blocked_ips (
    network    TEXT   PRIMARY KEY,
    reason     TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE TABLE blocked_ips_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER  NOT NULL
);
INSERT INTO blocked_ips_version (id, version) VALUES (1, 0);

-- Security events; `id` is the uuid's 16 bytes so (timestamp, id) orders like the cursor.
CREATE TABLE security_events (
    id         BLOB    PRIMARY KEY,
    timestamp  INTEGER  NOT NULL,
    event_type TEXT    NOT NULL,
    user_id    INTEGER,
    ip_address TEXT,
    success    INTEGER NOT NULL,
    details    TEXT    NOT NULL
);
CREATE INDEX idx_security_events_timestamp ON security_events (timestamp);
CREATE INDEX idx_security_events_timestamp_type ON security_events (timestamp, event_type);

-- Login lockout state per username / IP: an opaque JSON state and a CAS version.
CREATE TABLE lockout_state (
    key           TEXT   PRIMARY KEY,
    state         TEXT   NOT NULL,
    version       INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX idx_lockout_state_expiry ON lockout_state (expires_at_ms);

-- Sliding-window rate-limit counters (compare-and-swap on window/prev/curr).
CREATE TABLE rate_limit_counters (
    key           TEXT   PRIMARY KEY,
    win           INTEGER NOT NULL,
    prev          INTEGER NOT NULL,
    curr          INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX idx_rate_limit_counters_expiry ON rate_limit_counters (expires_at_ms);
