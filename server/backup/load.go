package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/storage"
)

// Rows are inserted a batch at a time: up to batchRows rows or batchBytes
// bytes of values in one INSERT.
const (
	batchRows  = 200
	batchBytes = 4 << 20
)

// loader inserts one table's rows into the import's transaction.
type loader struct {
	im    *importer
	t     table
	cols  []column
	rows  [][]any
	bytes int
}

func newLoader(im *importer, t table, names []string) (*loader, error) {
	cols, err := t.columnsOf(names)
	if err != nil {
		return nil, err
	}
	if t.load == loadChunks || t.load == loadMemories {
		// Read by name, so every column must be there.
		if len(cols) != len(t.cols) {
			return nil, fmt.Errorf("table %s must have the columns %s", t.name, strings.Join(columnNames(t.cols), ", "))
		}
	}
	return &loader{im: im, t: t, cols: cols}, nil
}

func columnNames(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// add takes one row of the dump.
func (l *loader) add(ctx context.Context, raw []json.RawMessage) error {
	if len(raw) != len(l.cols) {
		return fmt.Errorf("a row of %s has %d values; its header names %d columns", l.t.name, len(raw), len(l.cols))
	}
	row := make([]any, len(raw))
	for i, c := range l.cols {
		v, n, err := l.value(c, raw[i])
		if err != nil {
			return fmt.Errorf("a row of %s, column %s: %w", l.t.name, c.name, err)
		}
		row[i] = v
		l.bytes += n
	}
	switch l.t.load {
	case loadMemories:
		return l.memory(ctx, row)
	case loadChunks:
		h, err := hashOf(row[l.index("hash")])
		if err != nil {
			return err
		}
		data, _ := row[l.index("data")].([]byte)
		if err := l.im.putChunk(ctx, h, data); err != nil {
			return err
		}
		if l.im.tgt.chunks != nil {
			l.bytes = 0
			return nil // a file of the staging dir
		}
		row = []any{h[:], data, storage.FormatTime(timeNow())}
	}
	l.rows = append(l.rows, row)
	if len(l.rows) >= batchRows || l.bytes >= batchBytes {
		return l.flush(ctx)
	}
	return nil
}

func (l *loader) index(name string) int {
	for i, c := range l.cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

func hashOf(v any) (content.Hash, error) {
	var h content.Hash
	b, _ := v.([]byte)
	if len(b) != len(h) {
		return h, fmt.Errorf("a chunk's hash has %d bytes, not %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// value converts a dump's value for column c into what the target's
// driver takes, and says about how many bytes it is.
func (l *loader) value(c column, raw json.RawMessage) (any, int, error) {
	if string(raw) == "null" {
		return nil, 0, nil
	}
	var err error
	switch c.kind {
	case kindText:
		var s string
		err = json.Unmarshal(raw, &s)
		return s, len(s), err
	case kindInt:
		var n int64
		err = json.Unmarshal(raw, &n)
		return n, 8, err
	case kindReal:
		var f float64
		err = json.Unmarshal(raw, &f)
		return f, 8, err
	case kindBool:
		var b bool
		if err = json.Unmarshal(raw, &b); err != nil || l.im.tgt.kind == "postgres" {
			return b, 1, err
		}
		if b {
			return int64(1), 1, nil
		}
		return int64(0), 1, nil
	case kindBlob:
		var b []byte
		err = json.Unmarshal(raw, &b)
		if err == nil && b == nil {
			b = []byte{}
		}
		return b, len(b), err
	}
	return nil, 0, fmt.Errorf("column kind %d", c.kind)
}

// flush inserts the rows taken so far.
func (l *loader) flush(ctx context.Context) error {
	if len(l.rows) == 0 {
		return nil
	}
	cols := l.cols
	if l.t.load == loadChunks {
		cols = append(l.cols[:0:0], l.cols...)
		cols = append(cols, column{name: "mod_time"})
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = `"` + c.name + `"`
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var q strings.Builder
	q.WriteString("INSERT INTO " + l.t.name + " (" + strings.Join(names, ", ") + ") VALUES ")
	args := make([]any, 0, len(cols)*len(l.rows))
	for i, r := range l.rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(one)
		args = append(args, r...)
	}
	if _, err := l.im.tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("inserting rows of %s: %w", l.t.name, err)
	}
	l.rows, l.bytes = l.rows[:0], 0
	return nil
}

// memory inserts one memory through the target's memory store.
func (l *loader) memory(ctx context.Context, row []any) error {
	str := func(name string) string {
		s, _ := row[l.index(name)].(string)
		return s
	}
	m := memory.Memory{
		ID: memory.ID(str("id")), Zone: str("zone_id"), Owner: str("owner_id"), Author: str("author_id"),
		Scope: memory.Scope(str("scope")), Text: str("text"),
	}
	m.Importance, _ = row[l.index("importance")].(float64)
	if err := json.Unmarshal([]byte(str("tags")), &m.Tags); err != nil {
		return fmt.Errorf("memory %s: tags: %w", m.ID, err)
	}
	if err := json.Unmarshal([]byte(str("metadata")), &m.Metadata); err != nil {
		return fmt.Errorf("memory %s: metadata: %w", m.ID, err)
	}
	var err error
	if m.CreatedAt, err = parseTime(str("created_at")); err != nil {
		return fmt.Errorf("memory %s: created_at: %w", m.ID, err)
	}
	if m.ExpiresAt, err = parseTime(str("expires_at")); err != nil {
		return fmt.Errorf("memory %s: expires_at: %w", m.ID, err)
	}
	if err := l.im.memoryStore().Insert(ctx, l.im.tx, m); err != nil {
		return fmt.Errorf("memory %s: %w", m.ID, err)
	}
	l.bytes = 0
	return nil
}

var timeNow = time.Now

func parseTime(s string) (time.Time, error) {
	return storage.ParseTime(sql.NullString{String: s, Valid: s != ""})
}
