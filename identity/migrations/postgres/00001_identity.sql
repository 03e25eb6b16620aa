-- +goose Up
-- Timestamps are TEXT in storage.TimeFormat (UTC, fixed width, nanoseconds),
-- as on SQLite: one column convention for both, and sortable as text. Every
-- text column is COLLATE "C": bytewise, as SQLite compares.
CREATE TABLE identity_zones (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE identity_users (
    id         TEXT COLLATE "C" PRIMARY KEY,
    zone_id    TEXT COLLATE "C" NOT NULL REFERENCES identity_zones (id),
    name       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    UNIQUE (zone_id, name)
);

CREATE TABLE identity_groups (
    id         TEXT COLLATE "C" PRIMARY KEY,
    zone_id    TEXT COLLATE "C" NOT NULL REFERENCES identity_zones (id),
    name       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    UNIQUE (zone_id, name)
);

CREATE TABLE identity_api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES identity_users (id),
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    hash        BYTEA NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C",
    revoked_at  TEXT COLLATE "C"
);
CREATE INDEX identity_api_keys_user ON identity_api_keys (user_id);

-- +goose Down
DROP TABLE identity_api_keys;
DROP TABLE identity_groups;
DROP TABLE identity_users;
DROP TABLE identity_zones;
