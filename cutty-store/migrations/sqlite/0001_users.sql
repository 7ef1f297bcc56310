-- Users. `username_key` and `email_key` hold cutty_core::user::fold_case of the typed values:
-- SQLite's lower() folds only ASCII, so case-insensitive uniqueness is computed in Rust.
CREATE TABLE users (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    username                TEXT    NOT NULL,
    username_key            TEXT    NOT NULL,
    email                   TEXT    NOT NULL,
    email_key               TEXT    NOT NULL,
    password_hash           TEXT    NOT NULL,
    is_active               INTEGER NOT NULL DEFAULT 1,
    is_admin                INTEGER NOT NULL DEFAULT 0,
    password_reset_required INTEGER NOT NULL DEFAULT 0,
    created_at              INTEGER NOT NULL
);
CREATE UNIQUE INDEX idx_users_username ON users (username_key);
CREATE UNIQUE INDEX idx_users_email ON users (email_key);
