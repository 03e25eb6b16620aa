-- +goose Up
-- Every write of a file makes a version; a version names its content by hash.
CREATE TABLE versions_versions (
    entry_id     TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    content_hash TEXT COLLATE "C" NOT NULL,
    size         BIGINT NOT NULL,
    media_type   TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_by   TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (entry_id, version)
);
CREATE INDEX versions_versions_content ON versions_versions (content_hash);

-- +goose Down
DROP TABLE versions_versions;
