-- +goose Up
-- The schema last written through WriteSchema (Nexus's definitions and the
-- ones other services added), so the others survive a restart.
CREATE TABLE authz_schema (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    schema_text TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- +goose Down
DROP TABLE authz_schema;
