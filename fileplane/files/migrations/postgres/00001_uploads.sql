-- +goose Up
-- Chunked upload sessions and their parts (see the SQLite migration).
CREATE TABLE files_uploads (
    id               TEXT COLLATE "C" PRIMARY KEY,
    zone_id          TEXT COLLATE "C" NOT NULL,
    user_id          TEXT COLLATE "C" NOT NULL,
    path             TEXT COLLATE "C" NOT NULL,
    size             BIGINT NOT NULL,
    expected_version BIGINT NOT NULL,
    create_parents   BOOLEAN NOT NULL,
    media_type       TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    expires_at       TEXT COLLATE "C" NOT NULL
);

CREATE TABLE files_upload_parts (
    upload_id    TEXT COLLATE "C" NOT NULL REFERENCES files_uploads (id) ON DELETE CASCADE,
    "offset"     BIGINT NOT NULL,
    size         BIGINT NOT NULL,
    content_hash TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (upload_id, "offset")
);

-- Secrets of this deployment (the page-token MAC key), shared by all nodes.
CREATE TABLE files_meta (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

-- +goose Down
DROP TABLE files_upload_parts;
DROP TABLE files_uploads;
DROP TABLE files_meta;
