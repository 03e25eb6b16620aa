-- +goose Up
-- One row per memory. id is its object id in the authorization engine
-- (memory:<id>); rid is its row in memory_fts.
CREATE TABLE memory_items (
    rid        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    zone_id    TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    author_id  TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('user', 'agent', 'zone')),
    text       TEXT NOT NULL,
    tags       TEXT NOT NULL,  -- JSON array
    metadata   TEXT NOT NULL,  -- JSON object
    importance REAL NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,           -- NULL: never
    perm_token TEXT NOT NULL DEFAULT ''
);
CREATE INDEX memory_items_zone_created ON memory_items (zone_id, created_at, id);
CREATE INDEX memory_items_expires ON memory_items (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE memory_tags (
    tag       TEXT NOT NULL,
    memory_id TEXT NOT NULL REFERENCES memory_items (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, memory_id)
);
CREATE INDEX memory_tags_memory ON memory_tags (memory_id);

CREATE VIRTUAL TABLE memory_fts USING fts5(text, tokenize = 'porter unicode61');

-- +goose Down
DROP TABLE memory_fts;
DROP TABLE memory_tags;
DROP TABLE memory_items;
