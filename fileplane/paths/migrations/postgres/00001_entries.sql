-- +goose Up
-- The namespace tree of every zone (see the SQLite migration). Names sort
-- bytewise: the C collation, as SQLite's default BINARY.
CREATE TABLE paths_entries (
    id           TEXT COLLATE "C" PRIMARY KEY,
    zone_id      TEXT COLLATE "C" NOT NULL,
    parent_id    TEXT COLLATE "C" REFERENCES paths_entries (id),
    name         TEXT COLLATE "C" NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL CHECK (kind IN ('file', 'folder')),
    size         BIGINT NOT NULL DEFAULT 0,
    content_hash TEXT COLLATE "C" NOT NULL DEFAULT '',
    version      BIGINT NOT NULL DEFAULT 0,
    media_type   TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_by   TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    modified_by  TEXT COLLATE "C" NOT NULL,
    modified_at  TEXT COLLATE "C" NOT NULL,
    perm_token   TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX paths_entries_child ON paths_entries (parent_id, name) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX paths_entries_root ON paths_entries (zone_id) WHERE parent_id IS NULL;
CREATE INDEX paths_entries_kind ON paths_entries (kind);

-- +goose Down
DROP TABLE paths_entries;
