// Package content stores file content by its hash: content is split into
// chunks of at most ChunkSize bytes, each chunk kept once in a ChunkStore
// under its BLAKE3-256 hash, and each distinct content recorded once as an
// Object (its hash, size and chunk list) in SQL.
//
// It knows nothing of paths, versions, users or permissions: a caller (the
// versions layer, an upload session) writes content with Store.Write, then
// records the Object with Store.Save in the same transaction as the row that
// references it. Store.GC deletes what no Referencer reports any more.
//
// Every byte read back is verified against its chunk hash: corruption is an
// errs.DataLoss error, never wrong bytes.
package content
