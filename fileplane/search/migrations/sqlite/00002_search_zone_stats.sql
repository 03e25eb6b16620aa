-- +goose Up
-- Ranking statistics per zone (see bm25.go): each document's length in
-- tokens, each zone's document count and total length, and the index's
-- vocabulary, where a query's words give each document's frequency of
-- them. FTS5's bm25() took them from every zone's documents together.
ALTER TABLE search_docs ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;

CREATE VIRTUAL TABLE search_terms USING fts5vocab(search_fts, 'instance');

UPDATE search_docs SET tokens = t.n
    FROM (SELECT doc, count(*) AS n FROM search_terms GROUP BY doc) AS t
    WHERE t.doc = search_docs.id;

CREATE TABLE search_zones (
    zone_id TEXT PRIMARY KEY,
    docs    INTEGER NOT NULL,  -- documents of the zone in the index
    tokens  INTEGER NOT NULL   -- their total length
);
INSERT INTO search_zones (zone_id, docs, tokens)
    SELECT zone_id, count(*), sum(tokens) FROM search_docs GROUP BY zone_id;

-- +goose Down
DROP TABLE search_zones;
DROP TABLE search_terms;
ALTER TABLE search_docs DROP COLUMN tokens;
