-- +goose Up
-- The durable relationship log of the embedded default: the current set of
-- relationships, from which SpiceDB's in-memory datastore is rebuilt at start.
CREATE TABLE authz_relationships (
    resource_type    TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    relation         TEXT NOT NULL,
    subject_type     TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    subject_relation TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE authz_relationships;
