-- +goose Up
-- Content objects (manifests) and their chunk lists (see the SQLite
-- migration), and the chunks themselves: on PostgreSQL every node reads
-- every file from the database, so the bytes live here, not on a disk.
CREATE TABLE content_objects (
    hash        BYTEA  NOT NULL PRIMARY KEY,
    size        BIGINT NOT NULL,
    chunk_count BIGINT NOT NULL,
    created_at  TEXT COLLATE "C"   NOT NULL
);

CREATE TABLE content_object_chunks (
    object_hash BYTEA  NOT NULL REFERENCES content_objects (hash) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    chunk_hash  BYTEA  NOT NULL,
    size        BIGINT NOT NULL,
    PRIMARY KEY (object_hash, seq)
);
CREATE INDEX content_object_chunks_by_chunk ON content_object_chunks (chunk_hash);

-- Chunks are at most 1 MiB (content.ChunkSize); TOAST stores them out of
-- line, already compressed content is left as is.
CREATE TABLE content_chunks (
    hash     BYTEA NOT NULL PRIMARY KEY,
    data     BYTEA NOT NULL,
    mod_time TEXT COLLATE "C"  NOT NULL
);
ALTER TABLE content_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE content_chunks;
DROP TABLE content_object_chunks;
DROP TABLE content_objects;
