package authz

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the migrations of the relationship log's table.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

// SQLLog is the relationship log in the embedded default's SQLite file. Its
// table comes from SQLiteMigrations.
type SQLLog struct {
	DB *sql.DB
	// Snapshot, if set, is the path of a file beside the log where the
	// engine writes the datastore's relationships at a clean close, and
	// which the next start loads instead of reading the log, if no write
	// of the log came between (snapshot.go).
	Snapshot string
}

var _ Log = (*SQLLog)(nil)

const loadBatch = 5000

// Load implements Log. The log is read in a goroutine of its own, a
// batch ahead of fn, so that reading it and loading it take both cores.
func (l *SQLLog) Load(ctx context.Context, fn func([]Relationship) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []Relationship, 1)
	read := make(chan error, 1)
	go func() {
		defer close(batches)
		read <- l.read(ctx, func(b []Relationship) bool {
			select {
			case batches <- b:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	for b := range batches {
		if err := fn(b); err != nil {
			cancel()
			for range batches {
			}
			return err
		}
	}
	return <-read
}

// read sends every relationship of the log to send, in batches, in the
// order of its primary key, until send returns false.
//
// Each row comes as one column, its six fields joined by spaces (which no
// type, relation or id may hold): the SQLite driver takes a lock for each
// column it reads, and at a million relationships reading six columns a
// row was half of a restart's time.
func (l *SQLLog) read(ctx context.Context, send func([]Relationship) bool) error {
	rows, err := l.DB.QueryContext(ctx, `SELECT resource_type || ' ' || resource_id || ' ' || relation || ' ' ||
		subject_type || ' ' || subject_id || ' ' || subject_relation
		FROM authz_relationships
		ORDER BY resource_type, resource_id, relation, subject_type, subject_id, subject_relation`)
	if err != nil {
		return fmt.Errorf("reading the relationship log: %w", err)
	}
	defer rows.Close()
	batch := make([]Relationship, 0, loadBatch)
	var fields [6]string
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			return fmt.Errorf("reading the relationship log: %w", err)
		}
		rest := row
		for i := range 5 {
			var ok bool
			if fields[i], rest, ok = strings.Cut(rest, " "); !ok {
				return fmt.Errorf("reading the relationship log: row %q does not have six fields", row)
			}
		}
		if strings.Contains(rest, " ") {
			return fmt.Errorf("reading the relationship log: row %q has a field with a space", row)
		}
		fields[5] = rest
		r := Rel(Obj(fields[0], fields[1]), fields[2], SubjectSet(fields[3], fields[4], fields[5]))
		batch = append(batch, r)
		if len(batch) == loadBatch {
			if !send(batch) {
				return ctx.Err()
			}
			batch = make([]Relationship, 0, loadBatch)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the relationship log: %w", err)
	}
	if len(batch) > 0 && !send(batch) {
		return ctx.Err()
	}
	return nil
}

// Commit implements Log.
func (l *SQLLog) Commit(ctx context.Context, writes []*LogWrite, finish func(tx *sql.Tx) error) error {
	return l.inTx(ctx, func(tx *sql.Tx) error {
		for _, w := range writes {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT nexus_write`); err != nil {
				return fmt.Errorf("relationship log: %w", err)
			}
			if w.Err = l.commitOne(tx, w); w.Err != nil {
				// SQLite may have rolled the whole transaction back on its own
				// (a full disk, an I/O error): then there is no savepoint left
				// to return to, and nothing of the group is recorded.
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO nexus_write`); err != nil {
					return fmt.Errorf("relationship log: after %w: %w", w.Err, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE nexus_write`); err != nil {
				return fmt.Errorf("relationship log: %w", err)
			}
		}
		if finish != nil {
			return finish(tx)
		}
		return nil
	})
}

// inTx runs fn in a transaction of the log and commits it; an error of fn
// rolls it back, and a failed commit wraps ErrCommitFailed.
func (l *SQLLog) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := l.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("relationship log: %w", err)
	}
	// Whatever fn writes, a snapshot from before it is stale.
	if _, err := tx.ExecContext(ctx, `DELETE FROM authz_snapshot`); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("relationship log: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: %w", ErrCommitFailed, err)
	}
	return nil
}

// commitOne records one write of a group in tx, runs its hook and applies it.
func (l *SQLLog) commitOne(tx *sql.Tx, w *LogWrite) error {
	ctx := w.Ctx
	effective := make([]Update, 0, len(w.Updates))
	for _, u := range w.Updates {
		r := u.Rel
		args := []any{r.Resource.Type, r.Resource.ID, r.Relation, r.Subject.Object.Type, r.Subject.Object.ID, r.Subject.Relation}
		var res sql.Result
		var err error
		if u.Op == Touch {
			res, err = tx.ExecContext(ctx, `INSERT INTO authz_relationships
				(resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, args...)
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM authz_relationships
				WHERE resource_type = ? AND resource_id = ? AND relation = ?
				AND subject_type = ? AND subject_id = ? AND subject_relation = ?`, args...)
		}
		if err != nil {
			return fmt.Errorf("relationship log: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			effective = append(effective, u)
		}
	}
	if w.Hook != nil {
		if err := w.Hook(ctx, tx); err != nil {
			return err
		}
	}
	return w.Apply(tx, effective)
}

var _ SchemaLog = (*SQLLog)(nil)

// LoadSchema implements SchemaLog.
func (l *SQLLog) LoadSchema(ctx context.Context) (string, error) {
	var text string
	err := l.DB.QueryRowContext(ctx, `SELECT schema_text FROM authz_schema WHERE id = 1`).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the stored schema: %w", err)
	}
	return text, nil
}

// SaveSchema implements SchemaLog.
func (l *SQLLog) SaveSchema(ctx context.Context, text string) error {
	_, err := l.DB.ExecContext(ctx, `INSERT INTO authz_schema (id, schema_text, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET schema_text = excluded.schema_text, updated_at = excluded.updated_at`,
		text, storage.FormatTime(time.Now()))
	if err != nil {
		return fmt.Errorf("recording the schema: %w", err)
	}
	return nil
}

// importRows is how many relationships one INSERT of an import takes.
const importRows = 100

// Import implements Log.
func (l *SQLLog) Import(ctx context.Context, next ImportSource, apply func([]Relationship) error) error {
	return l.inTx(ctx, func(tx *sql.Tx) error {
		full, err := tx.PrepareContext(ctx, insertRows(importRows))
		if err != nil {
			return fmt.Errorf("relationship log: %w", err)
		}
		defer full.Close()
		args := make([]any, 0, 6*importRows)
		for {
			batch, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			for rest := batch; len(rest) > 0; {
				rows := rest[:min(len(rest), importRows)]
				rest = rest[len(rows):]
				args = args[:0]
				for _, r := range rows {
					args = append(args, r.Resource.Type, r.Resource.ID, r.Relation, r.Subject.Object.Type, r.Subject.Object.ID, r.Subject.Relation)
				}
				if len(rows) == importRows {
					_, err = full.ExecContext(ctx, args...)
				} else {
					_, err = tx.ExecContext(ctx, insertRows(len(rows)), args...)
				}
				if err != nil {
					if errors.Is(storage.Translate(err), errs.AlreadyExists) {
						return existing(ctx, tx, rows)
					}
					return fmt.Errorf("relationship log: %w", err)
				}
			}
			if err := apply(batch); err != nil {
				return err
			}
		}
	})
}

// insertRows is an INSERT of n relationships.
func insertRows(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO authz_relationships
		(resource_type, resource_id, relation, subject_type, subject_id, subject_relation) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

// existing names the relationship of rows, whose INSERT failed on the
// primary key, that was in the log already or is twice in rows.
func existing(ctx context.Context, tx *sql.Tx, rows []Relationship) error {
	seen := make(map[Relationship]bool, len(rows))
	for _, r := range rows {
		var found int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM authz_relationships
			WHERE resource_type = ? AND resource_id = ? AND relation = ?
			AND subject_type = ? AND subject_id = ? AND subject_relation = ?`,
			r.Resource.Type, r.Resource.ID, r.Relation, r.Subject.Object.Type, r.Subject.Object.ID, r.Subject.Relation).Scan(&found)
		switch {
		case err == nil || seen[r]:
			return errExists(r)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("relationship log: %w", err)
		}
		seen[r] = true
	}
	return fmt.Errorf("relationship log: an import's insert failed on the primary key, and no relationship of it exists")
}

// objectIDs calls fn with the id of every object of type typ that is the
// resource of a relationship in the log, in order, each once.
func (l *SQLLog) objectIDs(ctx context.Context, typ string, fn func(id string) error) error {
	rows, err := l.DB.QueryContext(ctx, `SELECT DISTINCT resource_id FROM authz_relationships
		WHERE resource_type = ? ORDER BY resource_id`, typ)
	if err != nil {
		return fmt.Errorf("reading the relationship log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("reading the relationship log: %w", err)
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the relationship log: %w", err)
	}
	return nil
}
