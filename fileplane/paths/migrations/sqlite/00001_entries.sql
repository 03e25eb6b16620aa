-- +goose Up
-- The namespace tree of every zone. The id is the entry's object id in the
-- authorization engine (folder:<id> or file:<id>); a move changes parent_id
-- and one parent relationship, never the id.
CREATE TABLE paths_entries (
    id           TEXT PRIMARY KEY,
    zone_id      TEXT NOT NULL,
    parent_id    TEXT REFERENCES paths_entries (id),
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    size         INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL DEFAULT '',
    version      INTEGER NOT NULL DEFAULT 0,
    media_type   TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    modified_by  TEXT NOT NULL,
    modified_at  TEXT NOT NULL,
    -- consistency token of the last permission-relevant change
    perm_token   TEXT NOT NULL DEFAULT ''
);
-- one name per folder; names sort bytewise (keyset pagination by name)
CREATE UNIQUE INDEX paths_entries_child ON paths_entries (parent_id, name) WHERE parent_id IS NOT NULL;
-- one root per zone
CREATE UNIQUE INDEX paths_entries_root ON paths_entries (zone_id) WHERE parent_id IS NULL;

-- +goose Down
DROP TABLE paths_entries;
