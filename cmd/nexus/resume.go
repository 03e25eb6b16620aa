package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// An interrupted chunked upload resumes where it stopped: after each chunk
// the server has acknowledged, put records the upload's id and the offset
// reached in the user's cache directory, keyed by the server, the
// destination and the local file as it was (absolute path, size and
// modification time). A later put of the same file to the same place
// carries on from there while the server keeps the upload (files' upload
// TTL, a day by default); a chunk sent again is stored over itself. The
// record goes when the upload commits, or when the server no longer knows
// the upload (put then starts over, saying so).

// resumable is what is recorded of an upload under way.
type resumable struct {
	UploadID string `json:"upload_id"`
	Offset   int64  `json:"offset"`
	Chunk    int64  `json:"chunk"`
	path     string // where the record lives; "" when none can be kept
}

// resumeRecord returns the record for uploading local (an open regular
// file's name, size and modification time) to dest on server: the one an
// earlier put left, or an empty one to fill.
func resumeRecord(server, dest, local string, fi os.FileInfo) resumable {
	dir, err := os.UserCacheDir()
	if err != nil {
		return resumable{}
	}
	abs, err := filepath.Abs(local)
	if err != nil {
		return resumable{}
	}
	h := sha256.New()
	for _, s := range []string{server, dest, abs, strconv.FormatInt(fi.Size(), 10), strconv.FormatInt(fi.ModTime().UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	r := resumable{path: filepath.Join(dir, "nexus", "uploads", hex.EncodeToString(h.Sum(nil)[:16])+".json")}
	if b, err := os.ReadFile(r.path); err == nil {
		var saved resumable
		if json.Unmarshal(b, &saved) == nil && saved.UploadID != "" && saved.Offset > 0 && saved.Chunk > 0 && saved.Offset <= fi.Size() {
			saved.path = r.path
			return saved
		}
	}
	return r
}

// save records how far the upload got; a failure to record only costs the
// ability to resume, so it is reported, not fatal.
func (r *resumable) save() error {
	if r.path == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return fmt.Errorf("recording the upload for a resume: %w", err)
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("recording the upload for a resume: %w", err)
	}
	return os.Rename(tmp, r.path)
}

// forget removes the record.
func (r *resumable) forget() {
	if r.path != "" {
		_ = os.Remove(r.path)
	}
	r.UploadID, r.Offset = "", 0
}
