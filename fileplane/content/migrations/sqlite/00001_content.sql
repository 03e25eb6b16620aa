-- +goose Up
-- Content objects (manifests): one row per distinct content, keyed by the
-- BLAKE3-256 hash of the whole content. The bytes live in a ChunkStore.
CREATE TABLE content_objects (
    hash        BLOB    NOT NULL PRIMARY KEY,
    size        INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    created_at  TEXT    NOT NULL
) WITHOUT ROWID;

-- The chunk list of each object, in order. chunk_hash is indexed so GC can
-- ask whether any object still lists a chunk without loading every list.
CREATE TABLE content_object_chunks (
    object_hash BLOB    NOT NULL REFERENCES content_objects (hash) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    chunk_hash  BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (object_hash, seq)
) WITHOUT ROWID;

CREATE INDEX content_object_chunks_by_chunk ON content_object_chunks (chunk_hash);

-- +goose Down
DROP TABLE content_object_chunks;
DROP TABLE content_objects;
