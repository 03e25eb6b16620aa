-- +goose Up
-- The outbox of the engine on PostgreSQL: each relationship write is
-- recorded here in the transaction of the caller's own rows, then applied
-- to SpiceDB and deleted (authz/outbox.go). A row left here by a crash is
-- applied at the next start, by the next write of any node, or by the
-- background replay, in id order.
CREATE TABLE authz_outbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ops        TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Writes SpiceDB refused for good (a relationship the schema no longer
-- allows): kept for the operator, never retried.
CREATE TABLE authz_outbox_dead (
    id         BIGINT PRIMARY KEY,
    ops        TEXT NOT NULL,
    error      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    failed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE authz_outbox_dead;
DROP TABLE authz_outbox;
