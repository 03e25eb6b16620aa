// Package backup copies a whole Nexus store to one stream and back: the
// schema, every relationship (Nexus's own and other services'), and
// Nexus's own tables (identity, the file plane, file content). A dump of
// either backend imports into either: it is the backup, and the move from
// the embedded default to PostgreSQL. It opens the store itself, as
// `nexus serve` does, rather than asking a server; it serves nothing.
package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/tuple"

	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage"
)

// Progress is what an export or import has done so far.
type Progress struct {
	// Phase is the table being copied, "relationships", or "done".
	Phase         string
	Tables        int
	Rows          int64
	Relationships int64
	// Bytes of the dump written or read.
	Bytes int64
}

// Options tune an export or an import.
type Options struct {
	// Progress, if set, is called now and then (at most ten times a
	// second) and once at the end.
	Progress func(Progress)
}

// progress calls Options.Progress, throttled.
type progress struct {
	fn   func(Progress)
	p    Progress
	last time.Time
}

func (p *progress) tick(bytes int64, final bool) {
	p.p.Bytes = bytes
	if p.fn == nil {
		return
	}
	if final || time.Since(p.last) >= 100*time.Millisecond {
		p.last = time.Now()
		p.fn(p.p)
	}
}

// Export writes a dump of st to w. On PostgreSQL, Nexus's tables are read
// in one REPEATABLE READ transaction and the relationships after them, at
// the newest revision; on the embedded default both come from one snapshot
// of the database. Either way the source is only read.
func Export(ctx context.Context, st Store, w io.Writer, opts Options) (Progress, error) {
	src, err := openSource(ctx, st)
	if err != nil {
		return Progress{}, err
	}
	defer src.close()
	var q storage.DBTX = src.db
	if src.kind == "postgres" {
		tx, err := src.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return Progress{}, fmt.Errorf("a snapshot of the database: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // read only
		q = tx
	}
	out := newWriter(w)
	pr := &progress{fn: opts.Progress}
	if err := out.line(header{Format: Format, Version: Version, Nexus: server.Version(), Source: src.kind,
		CreatedAt: storage.FormatTime(time.Now())}); err != nil {
		return pr.p, err
	}
	schema, err := v1.NewSchemaServiceClient(src.engine.Conn()).ReadSchema(ctx, &v1.ReadSchemaRequest{})
	if err != nil {
		return pr.p, fmt.Errorf("reading the schema: %w", err)
	}
	text := schema.GetSchemaText()
	if err := out.line(section{Schema: &text}); err != nil {
		return pr.p, err
	}
	counts := map[string]int64{}
	for _, t := range tables {
		pr.p.Phase = t.name
		counts[t.name] = 0
		if err := out.line(tableHeader(t)); err != nil {
			return pr.p, err
		}
		emit := func(row []any) error {
			counts[t.name]++
			pr.p.Rows++
			pr.tick(out.n, false)
			return out.line(row)
		}
		if err := exportTable(ctx, src, q, t, emit); err != nil {
			return pr.p, fmt.Errorf("exporting %s: %w", t.name, err)
		}
		pr.p.Tables++
	}
	pr.p.Phase = "relationships"
	if err := out.line(section{Relationships: true}); err != nil {
		return pr.p, err
	}
	if err := exportRelationships(ctx, src, func(s string) error {
		pr.p.Relationships++
		pr.tick(out.n, false)
		return out.line(s)
	}); err != nil {
		return pr.p, fmt.Errorf("exporting relationships: %w", err)
	}
	if err := out.end(endLine{Tables: counts, Relationships: pr.p.Relationships}); err != nil {
		return pr.p, err
	}
	pr.p.Phase = "done"
	pr.tick(out.n, true)
	return pr.p, nil
}

func tableHeader(t table) section {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	return section{Table: t.name, Columns: names}
}

// exportTable calls emit with every row of t.
func exportTable(ctx context.Context, src *opened, q storage.DBTX, t table, emit func([]any) error) error {
	if t.load == loadChunks {
		return exportChunks(ctx, src, q, emit)
	}
	rows, err := q.QueryContext(ctx, t.selectSQL())
	if err != nil {
		return err
	}
	defer rows.Close()
	dest, values := t.scanDest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := emit(values()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// exportChunks emits every chunk a content object lists, checked against
// its hash: from the blobs directory, or from content_chunks.
func exportChunks(ctx context.Context, src *opened, q storage.DBTX, emit func([]any) error) error {
	var want int64
	if err := q.QueryRowContext(ctx, `SELECT count(DISTINCT chunk_hash) FROM content_object_chunks`).Scan(&want); err != nil {
		return err
	}
	var rows *sql.Rows
	var err error
	if src.chunks != nil {
		rows, err = q.QueryContext(ctx, `SELECT DISTINCT chunk_hash FROM content_object_chunks ORDER BY chunk_hash`)
	} else {
		rows, err = q.QueryContext(ctx, `SELECT k.hash, k.data FROM content_chunks k
			WHERE EXISTS (SELECT 1 FROM content_object_chunks c WHERE c.chunk_hash = k.hash) ORDER BY k.hash`)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var h content.Hash
		var data []byte
		if src.chunks != nil {
			if err := rows.Scan(&h); err != nil {
				return err
			}
			if data, err = src.chunks.Get(ctx, h); err != nil {
				return fmt.Errorf("chunk %s of the blobs directory: %w (if a server runs on the data dir, it may have collected it meanwhile: export again)", h, err)
			}
		} else {
			if err := rows.Scan(&h, &data); err != nil {
				return err
			}
			if got := content.Sum(data); got != h {
				return fmt.Errorf("chunk %s is damaged: its %d bytes hash to %s", h, len(data), got)
			}
		}
		if err := emit([]any{h[:], data}); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("content objects list %d chunks, and only %d of them are stored: %d are missing", want, n, want-n)
	}
	return nil
}

// exportRelationships calls emit with every relationship, as zed writes
// them, at one revision.
func exportRelationships(ctx context.Context, src *opened, emit func(string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := v1.NewPermissionsServiceClient(src.engine.Conn()).ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
	})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, rel := range msg.GetRelationships() {
			s, err := tuple.V1StringRelationship(rel)
			if err != nil {
				return err
			}
			if err := emit(s); err != nil {
				return err
			}
		}
	}
}
