-- Uploaded files' metadata. The bytes live in a BlobStore under `id` (FsBlobStore: one file
-- per id under CUTTY_FILES_DIR). `content_type` is the canonical media type, `sha256` 64
-- lower-case hex digits, times Unix milliseconds. No foreign key to users, like api_keys.
CREATE TABLE files (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
-- Every query filters on the owner; listings are ordered by (created_at, id).
CREATE INDEX idx_files_user ON files (user_id, created_at, id);
