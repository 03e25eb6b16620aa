-- +goose Up
-- Ranking statistics per zone (see search's bm25.go): each memory's text
-- length in tokens, each zone's memory count and total length, and the
-- text index's vocabulary, where a query's words give each memory's
-- frequency of them. FTS5's bm25() took them from every zone's memories
-- together.
ALTER TABLE memory_items ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;

CREATE VIRTUAL TABLE memory_terms USING fts5vocab(memory_fts, 'instance');

UPDATE memory_items SET tokens = t.n
    FROM (SELECT doc, count(*) AS n FROM memory_terms WHERE col = 'text' GROUP BY doc) AS t
    WHERE t.doc = memory_items.rid;

CREATE TABLE memory_zones (
    zone_id TEXT PRIMARY KEY,
    docs    INTEGER NOT NULL,  -- memories of the zone in the text index
    tokens  INTEGER NOT NULL   -- their texts' total length
);
INSERT INTO memory_zones (zone_id, docs, tokens)
    SELECT zone_id, count(*), sum(tokens) FROM memory_items GROUP BY zone_id;

-- +goose Down
DROP TABLE memory_zones;
DROP TABLE memory_terms;
ALTER TABLE memory_items DROP COLUMN tokens;
