-- +goose Up
-- Each node's writes to SpiceDB, announced (authz/node_writes.go): a node
-- sets pending, and commits it, before it writes to SpiceDB under the
-- outbox lock, and clears it with the newest token it wrote in the lock's
-- transaction. Another node's decision cache reads this to know which
-- revision it must have seen to be fresh, without waiting on a read of
-- SpiceDB's newest revision.
CREATE TABLE authz_node_writes (
    node    TEXT PRIMARY KEY,
    token   TEXT NOT NULL DEFAULT '',
    pending BOOLEAN NOT NULL DEFAULT false,
    at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE authz_node_writes;
