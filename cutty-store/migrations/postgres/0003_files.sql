-- Uploaded files' metadata. The bytes live in a BlobStore under `id` (FsBlobStore: one file
-- per id under CUTTY_FILES_DIR). `content_type` is the canonical media type, `sha256` 64
-- lower-case hex digits, times Unix milliseconds. COLLATE "C" keeps uuid order byte-wise,
-- like the memory backend's. No foreign key to users, like api_keys.
CREATE TABLE files (
    id           TEXT COLLATE "C" PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    filename     TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    size         BIGINT NOT NULL CHECK (size >= 0),
    sha256       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
-- Every query filters on the owner; listings are ordered by (created_at, id).
CREATE INDEX idx_files_user ON files (user_id, created_at, id);
