-- +goose Up
-- Share links. The token is never stored: token_hash is its SHA-256 (the
-- token has 256 random bits, so a fast hash is enough); the password, if
-- any, is a bcrypt hash. The link is also the subject share_link:<id> of
-- one viewer or editor relationship on its entry.
CREATE TABLE sharing_links (
    id            TEXT PRIMARY KEY,
    zone_id       TEXT NOT NULL,
    entry_id      TEXT NOT NULL,
    entry_kind    TEXT NOT NULL CHECK (entry_kind IN ('file', 'folder')),
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
    token_hash    BLOB NOT NULL UNIQUE,
    password_hash TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    max_uses      INTEGER NOT NULL DEFAULT 0 CHECK (max_uses >= 0),
    uses          INTEGER NOT NULL DEFAULT 0,
    revoked_at    TEXT
);
CREATE INDEX sharing_links_entry ON sharing_links (entry_id, created_at);

-- Every attempt to use a link, with the real reason of a failure. link_id
-- is NULL for a token that matched no link.
CREATE TABLE sharing_link_access (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id     TEXT,
    at          TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX sharing_link_access_link ON sharing_link_access (link_id, at);
CREATE INDEX sharing_link_access_addr ON sharing_link_access (remote_addr, at);

-- +goose Down
DROP TABLE sharing_link_access;
DROP TABLE sharing_links;
