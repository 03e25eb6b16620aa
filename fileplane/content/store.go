package content

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the migrations of the content tables
// (content_objects, content_object_chunks).
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the content tables (with the chunks themselves)' migrations on PostgreSQL.
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// Object is one piece of content: the BLAKE3 hash of its whole content, its
// size, and the chunks that hold its bytes, in order. ChunkSizes[i] is the
// length of Chunks[i]; the sizes add up to Size. An empty content has no
// chunks (nil slices).
//
// The same content may be recorded with different chunk lists (Write splits
// at ChunkSize, Concat keeps its parts' boundaries); the first one saved is
// the one kept.
type Object struct {
	Hash       Hash
	Size       int64
	Chunks     []Hash
	ChunkSizes []int64
}

// check reports an Object whose fields do not agree with each other.
func (o Object) check() error {
	if len(o.Chunks) != len(o.ChunkSizes) {
		return errs.Invalid("content object", "%d chunks but %d chunk sizes", len(o.Chunks), len(o.ChunkSizes))
	}
	var total int64
	for i, n := range o.ChunkSizes {
		if n <= 0 || n > ChunkSize {
			return errs.Invalid("content object", "chunk %d has size %d, want 1 to %d", i, n, ChunkSize)
		}
		total += n
	}
	if total != o.Size {
		return errs.Invalid("content object", "chunk sizes add up to %d, not the size %d", total, o.Size)
	}
	return nil
}

// Store keeps Objects (manifests) in SQL and their chunks in a ChunkStore.
// Its tables come from SQLiteMigrations.
type Store struct {
	db     storage.DB
	chunks ChunkStore
	gcMu   sync.Mutex // one GC at a time
	gcLock GCLock     // nil where the database serializes writers
	now    func() time.Time
}

// NewStore returns a Store recording objects in db and chunks in chunks.
// GC needs chunks to implement Sweeper (DiskChunks does).
func NewStore(db storage.DB, chunks ChunkStore) *Store {
	return &Store{db: db, chunks: chunks, now: time.Now}
}

// WithGCLock makes s take l in every Save and GC (PostgresGCLock on
// PostgreSQL) and returns s.
func (s *Store) WithGCLock(l GCLock) *Store {
	s.gcLock = l
	return s
}

// Chunks returns the ChunkStore s keeps chunks in.
func (s *Store) Chunks() ChunkStore { return s.chunks }

// Write reads r to EOF, splitting it into chunks of ChunkSize and putting
// each as it goes, so memory is bounded by ChunkSize, not by the content. It
// refuses content over maxSize bytes with errs.ResourceExhausted naming the
// limit (a negative maxSize is no limit). It returns the Object and does not
// record it: the caller records it with Save in the transaction that
// references it, and must do so within the grace period it gives GC.
func (s *Store) Write(ctx context.Context, r io.Reader, maxSize int64) (Object, error) {
	var obj Object
	whole := blake3.New()
	buf := make([]byte, chunkBuffer(r))
	for {
		if err := ctx.Err(); err != nil {
			return Object{}, err
		}
		n, err := io.ReadFull(r, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return Object{}, fmt.Errorf("reading content: %w", err)
		}
		if n > 0 {
			if maxSize >= 0 && obj.Size+int64(n) > maxSize {
				return Object{}, errs.E(errs.ResourceExhausted, "content is larger than the limit of %d bytes", maxSize)
			}
			chunk := buf[:n]
			h := Sum(chunk)
			if err := s.chunks.Put(ctx, h, chunk); err != nil {
				return Object{}, err
			}
			whole.Write(chunk)
			obj.Size += int64(n)
			obj.Chunks = append(obj.Chunks, h)
			obj.ChunkSizes = append(obj.ChunkSizes, int64(n))
		}
		if err != nil { // EOF or ErrUnexpectedEOF: the end of r
			break
		}
	}
	copy(obj.Hash[:], whole.Sum(nil))
	return obj, nil
}

// chunkBuffer is the size of Write's buffer for r: ChunkSize, or less when
// r says how much it holds (a bytes.Reader, a strings.Reader), so that a
// small file does not cost a zeroed megabyte. One byte more than r holds
// lets the first read see the end, making it the only chunk, as ChunkSize
// would.
func chunkBuffer(r io.Reader) int {
	if l, ok := r.(interface{ Len() int }); ok && l.Len() < ChunkSize {
		return l.Len() + 1
	}
	return ChunkSize
}

// Concat builds the object whose content is parts' contents in order, for a
// chunked upload whose parts were each written with Write. It reuses the
// parts' chunks rather than copying them, and re-hashes the whole content by
// streaming them (each chunk verified, one in memory at a time). It refreshes
// every chunk as Write would, so the result may be Saved within GC's grace
// period even if the parts were never saved. The result is not recorded.
func (s *Store) Concat(ctx context.Context, parts []Object) (Object, error) {
	var obj Object
	whole := blake3.New()
	for i, p := range parts {
		if err := p.check(); err != nil {
			return Object{}, fmt.Errorf("part %d: %w", i, err)
		}
		for j, h := range p.Chunks {
			data, err := s.chunks.Get(ctx, h)
			if err != nil {
				return Object{}, fmt.Errorf("part %d: %w", i, err)
			}
			if int64(len(data)) != p.ChunkSizes[j] {
				return Object{}, errs.E(errs.DataLoss, "part %d: chunk %s has %d bytes, its object says %d", i, h, len(data), p.ChunkSizes[j])
			}
			// Put of a stored chunk only refreshes it, so GC keeps it
			// until the caller saves the result.
			if err := s.chunks.Put(ctx, h, data); err != nil {
				return Object{}, fmt.Errorf("part %d: %w", i, err)
			}
			whole.Write(data)
		}
		obj.Size += p.Size
		obj.Chunks = append(obj.Chunks, p.Chunks...)
		obj.ChunkSizes = append(obj.ChunkSizes, p.ChunkSizes...)
	}
	copy(obj.Hash[:], whole.Sum(nil))
	return obj, nil
}

// chunkInsertBatch is how many chunk rows one INSERT carries.
const chunkInsertBatch = 200

// Save records obj on q (a *sql.Tx or *sql.DB). Saving an object whose hash
// is recorded already is a no-op, whatever its chunk list. Save it in the
// transaction that records the reference to it, so content and reference
// commit together and GC never sees one without the other.
func (s *Store) Save(ctx context.Context, q storage.DBTX, obj Object) error {
	if err := obj.check(); err != nil {
		return err
	}
	if s.gcLock != nil {
		if err := s.gcLock.Shared(ctx, q); err != nil {
			return fmt.Errorf("saving content object %s: %w", obj.Hash, storage.Translate(err))
		}
	}
	res, err := q.ExecContext(ctx, `INSERT INTO content_objects (hash, size, chunk_count, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		obj.Hash, obj.Size, len(obj.Chunks), storage.FormatTime(s.now()))
	if err != nil {
		return fmt.Errorf("saving content object %s: %w", obj.Hash, storage.Translate(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("saving content object %s: %w", obj.Hash, err)
	} else if n == 0 {
		return nil
	}
	for start := 0; start < len(obj.Chunks); start += chunkInsertBatch {
		end := min(start+chunkInsertBatch, len(obj.Chunks))
		var b strings.Builder
		b.WriteString(`INSERT INTO content_object_chunks (object_hash, seq, chunk_hash, size) VALUES `)
		args := make([]any, 0, 4*(end-start))
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?)")
			args = append(args, obj.Hash, i, obj.Chunks[i], obj.ChunkSizes[i])
		}
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("saving content object %s: %w", obj.Hash, storage.Translate(err))
		}
	}
	return nil
}

// Object loads a recorded object; errs.NotFound if unknown.
func (s *Store) Object(ctx context.Context, q storage.DBTX, h Hash) (Object, error) {
	obj := Object{Hash: h}
	var count int
	err := q.QueryRowContext(ctx, `SELECT size, chunk_count FROM content_objects WHERE hash = ?`, h).Scan(&obj.Size, &count)
	if err != nil {
		err = storage.Translate(err)
		if errors.Is(err, errs.NotFound) {
			return Object{}, err
		}
		return Object{}, fmt.Errorf("loading content object %s: %w", h, err)
	}
	if count == 0 {
		return obj, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT seq, chunk_hash, size FROM content_object_chunks
		WHERE object_hash = ? ORDER BY seq`, h)
	if err != nil {
		return Object{}, fmt.Errorf("loading content object %s: %w", h, err)
	}
	defer rows.Close()
	obj.Chunks = make([]Hash, 0, count)
	obj.ChunkSizes = make([]int64, 0, count)
	for rows.Next() {
		var seq int
		var c Hash
		var n int64
		if err := rows.Scan(&seq, &c, &n); err != nil {
			return Object{}, fmt.Errorf("loading content object %s: %w", h, err)
		}
		if seq != len(obj.Chunks) {
			return Object{}, errs.E(errs.DataLoss, "content object %s: chunk %d missing from its list", h, len(obj.Chunks))
		}
		obj.Chunks = append(obj.Chunks, c)
		obj.ChunkSizes = append(obj.ChunkSizes, n)
	}
	if err := rows.Err(); err != nil {
		return Object{}, fmt.Errorf("loading content object %s: %w", h, err)
	}
	if err := obj.check(); err != nil || len(obj.Chunks) != count {
		return Object{}, errs.Wrap(errs.DataLoss, err, "content object %s: its chunk list does not match its size", h)
	}
	return obj, nil
}
