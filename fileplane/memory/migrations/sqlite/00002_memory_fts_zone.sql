-- +goose Up
-- The text index gets the memory's zone as a second column, so that the
-- window of newest matches Recall ranks is taken within the zone (a zone's
-- phrase in the MATCH expression) rather than across every zone. The zone
-- column weighs nothing in the ranking (Match asks for bm25(1, 0)).
CREATE VIRTUAL TABLE memory_fts_new USING fts5(text, zone, tokenize = 'porter unicode61');
INSERT INTO memory_fts_new (rowid, text, zone)
    SELECT m.rid, f.text, m.zone_id FROM memory_fts f JOIN memory_items m ON m.rid = f.rowid;
DROP TABLE memory_fts;
ALTER TABLE memory_fts_new RENAME TO memory_fts;

-- +goose Down
CREATE VIRTUAL TABLE memory_fts_old USING fts5(text, tokenize = 'porter unicode61');
INSERT INTO memory_fts_old (rowid, text) SELECT rowid, text FROM memory_fts;
DROP TABLE memory_fts;
ALTER TABLE memory_fts_old RENAME TO memory_fts;
