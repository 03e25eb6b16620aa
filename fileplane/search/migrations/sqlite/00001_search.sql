-- +goose Up
-- One document per indexed file: its zone and the content it was indexed at.
-- The text lives in search_fts under the same rowid. Paths are not stored:
-- they are resolved when a hit is shown, so a move needs no reindexing.
CREATE TABLE search_docs (
    id           INTEGER PRIMARY KEY,
    entry_id     TEXT NOT NULL UNIQUE,
    zone_id      TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    indexed_at   TEXT NOT NULL
);
CREATE INDEX search_docs_zone ON search_docs (zone_id);

-- The file's text, stemmed (Porter) for BM25 ranking. Names are found with
-- Glob; a rename changes nothing here.
CREATE VIRTUAL TABLE search_fts USING fts5(body, tokenize = 'porter unicode61');

-- Entries whose content, name or existence changed, recorded in the same
-- transaction as the change; the indexer drains it (after a crash too).
CREATE TABLE search_queue (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id    TEXT NOT NULL,
    enqueued_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE search_queue;
DROP TABLE search_fts;
DROP TABLE search_docs;
