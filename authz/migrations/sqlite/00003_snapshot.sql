-- +goose Up
-- The snapshot of the datastore the engine wrote at its last clean close
-- (SQLLog.Snapshot), if no write of the log came after it: its size, its
-- checksum and the schema it was written under. Every transaction that
-- writes the log deletes the row.
CREATE TABLE authz_snapshot (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    mark TEXT NOT NULL
);

-- +goose Down
DROP TABLE authz_snapshot;
