-- +goose Up
-- Chunked upload sessions and their parts; a part's content is recorded in
-- content_objects, and parts keep it from being collected until commit.
CREATE TABLE files_uploads (
    id               TEXT PRIMARY KEY,
    zone_id          TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    path             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    expected_version INTEGER NOT NULL,
    create_parents   INTEGER NOT NULL,
    media_type       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL
);

CREATE TABLE files_upload_parts (
    upload_id    TEXT NOT NULL REFERENCES files_uploads (id) ON DELETE CASCADE,
    offset       INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (upload_id, offset)
) WITHOUT ROWID;

-- Secrets of this data dir (the page-token MAC key).
CREATE TABLE files_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- +goose Down
DROP TABLE files_upload_parts;
DROP TABLE files_uploads;
DROP TABLE files_meta;
