-- +goose Up
CREATE TABLE identity_zones (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE identity_users (
    id         TEXT PRIMARY KEY,
    zone_id    TEXT NOT NULL REFERENCES identity_zones (id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (zone_id, name)
);

CREATE TABLE identity_groups (
    id         TEXT PRIMARY KEY,
    zone_id    TEXT NOT NULL REFERENCES identity_zones (id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (zone_id, name)
);

CREATE TABLE identity_api_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES identity_users (id),
    description TEXT NOT NULL DEFAULT '',
    hash        BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE INDEX identity_api_keys_user ON identity_api_keys (user_id);

-- +goose Down
DROP TABLE identity_api_keys;
DROP TABLE identity_groups;
DROP TABLE identity_users;
DROP TABLE identity_zones;
