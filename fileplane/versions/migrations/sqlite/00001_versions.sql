-- +goose Up
-- Every write of a file makes a version; a version names its content by hash.
CREATE TABLE versions_versions (
    entry_id     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    size         INTEGER NOT NULL,
    media_type   TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
) WITHOUT ROWID;
CREATE INDEX versions_versions_content ON versions_versions (content_hash);

-- +goose Down
DROP TABLE versions_versions;
