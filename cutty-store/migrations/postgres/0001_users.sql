-- Users. `username_key` and `email_key` hold cutty_core::user::fold_case of the typed values,
-- so every backend agrees on Unicode case folding.
CREATE TABLE users (
    id                      BIGSERIAL PRIMARY KEY,
    username                TEXT    NOT NULL,
    username_key            TEXT    NOT NULL,
    email                   TEXT    NOT NULL,
    email_key               TEXT    NOT NULL,
    password_hash           TEXT    NOT NULL,
    is_active               BOOLEAN NOT NULL DEFAULT TRUE,
    is_admin                BOOLEAN NOT NULL DEFAULT FALSE,
    password_reset_required BOOLEAN NOT NULL DEFAULT FALSE,
    created_at              BIGINT  NOT NULL
);
CREATE UNIQUE INDEX idx_users_username ON users (username_key);
CREATE UNIQUE INDEX idx_users_email ON users (email_key);
