package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// Store names a Nexus store as `nexus serve` picks it: the embedded
// default's data dir, or, with Postgres set, production mode's database.
type Store struct {
	DataDir string
	// Postgres is the primary's URL (not PgBouncer: an import migrates).
	Postgres string
	// SpiceDBPostgres is the URL of SpiceDB's tables; empty is Postgres
	// with search_path=spicedb, as for nexus serve.
	SpiceDBPostgres string
}

func (s Store) kind() string {
	if s.Postgres != "" {
		return "postgres"
	}
	return "sqlite"
}

func (s Store) spicedbURL() string {
	if s.SpiceDBPostgres != "" {
		return s.SpiceDBPostgres
	}
	return postgres.WithSearchPath(s.Postgres, postgres.SpiceDBSchema)
}

// opened is a store open for an export or an import.
type opened struct {
	kind   string
	db     *sql.DB
	engine *authz.Engine
	// chunks is the embedded default's chunk directory; nil on PostgreSQL,
	// whose chunks are rows.
	chunks *content.DiskChunks
	// cleanup releases everything; for an import into a data dir it also
	// removes the staging dir unless the import was moved into place.
	cleanup []func()
}

func (o *opened) close() {
	if o.engine != nil {
		o.engine.Close()
		o.engine = nil
	}
	if o.db != nil {
		o.db.Close()
		o.db = nil
	}
	for i := len(o.cleanup) - 1; i >= 0; i-- {
		o.cleanup[i]()
	}
	o.cleanup = nil
}

// newEngine opens the authz engine on db (the embedded default's log) or
// on SpiceDB's tables, without a decision cache: nothing here asks twice.
func newEngine(ctx context.Context, st Store, db *sql.DB) (*authz.Engine, error) {
	cfg := authz.Config{Schema: nexus.Schema, Cache: authz.CacheConfig{Disabled: true}}
	if st.Postgres != "" {
		cfg.Postgres = &authz.PostgresConfig{URL: st.spicedbURL(), DB: db}
	} else {
		cfg.Log = &authz.SQLLog{DB: db}
	}
	return authz.New(ctx, cfg)
}

// openSource opens st to be exported. A data dir is read from a snapshot
// of its database (VACUUM INTO, one read transaction: consistent even while
// a server runs on it), migrated to this build's tables, with the engine
// rebuilt from the snapshot's relationship log; its chunks are read from
// its blobs directory, where chunks are never changed, only added and
// collected when nothing refers to them.
func openSource(ctx context.Context, st Store) (_ *opened, err error) {
	o := &opened{kind: st.kind()}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	if st.Postgres != "" {
		if o.db, err = postgres.Open(ctx, st.Postgres, postgres.Options{MaxConns: 4}); err != nil {
			return nil, err
		}
		if err := server.CheckPostgres(ctx, o.db, st.spicedbURL()); err != nil {
			return nil, err
		}
		o.engine, err = newEngine(ctx, st, o.db)
		return o, err
	}
	dir := st.DataDir
	if err := isDataDir(dir); err != nil {
		return nil, err
	}
	snapDir, err := os.MkdirTemp(dir, ".export-")
	if err != nil {
		// A data dir we may only read: the snapshot goes to $TMPDIR.
		if snapDir, err = os.MkdirTemp("", "nexus-export-"); err != nil {
			return nil, fmt.Errorf("a directory for the database's snapshot: %w", err)
		}
	}
	o.cleanup = append(o.cleanup, func() { os.RemoveAll(snapDir) })
	snap := filepath.Join(snapDir, server.SQLiteFile)
	live, err := sqlite.Open(ctx, filepath.Join(dir, server.SQLiteFile))
	if err != nil {
		return nil, err
	}
	_, err = live.ExecContext(ctx, `VACUUM INTO '`+strings.ReplaceAll(snap, "'", "''")+`'`)
	live.Close()
	if err != nil {
		return nil, fmt.Errorf("taking a snapshot of %s: %w", filepath.Join(dir, server.SQLiteFile), err)
	}
	if o.db, err = sqlite.Open(ctx, snap); err != nil {
		return nil, err
	}
	if err := sqlite.MigrateAll(ctx, o.db, server.SQLiteDomains()...); err != nil {
		return nil, err
	}
	if o.engine, err = newEngine(ctx, st, o.db); err != nil {
		return nil, err
	}
	if o.chunks, err = content.NewDiskChunks(filepath.Join(dir, server.BlobsDir)); err != nil {
		return nil, err
	}
	return o, nil
}

// isDataDir returns nil if dir is a data dir of the embedded default.
func isDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data dir %s does not exist (pass the --data-dir nexus serve runs with, or --postgres URL)", dir)
	}
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, server.SQLiteFile)); err != nil {
		return fmt.Errorf("data dir %s holds no %s: it is not a Nexus data dir (or nexus serve never started on it)", dir, server.SQLiteFile)
	}
	return nil
}

// openTarget opens st to be imported into, after checking it is empty. A
// data dir is made in a staging dir beside it, moved into place by
// commit; PostgreSQL is migrated first.
func openTarget(ctx context.Context, st Store) (_ *opened, commit func() error, err error) {
	o := &opened{kind: st.kind()}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	if st.Postgres != "" {
		if err := server.MigratePostgres(ctx, st.Postgres); err != nil {
			return nil, nil, err
		}
		if o.db, err = postgres.Open(ctx, st.Postgres, postgres.Options{MaxConns: 4}); err != nil {
			return nil, nil, err
		}
		if err := emptyTables(ctx, o.db); err != nil {
			return nil, nil, err
		}
		if o.engine, err = newEngine(ctx, st, o.db); err != nil {
			return nil, nil, err
		}
		if err := emptyEngine(ctx, o.engine); err != nil {
			return nil, nil, err
		}
		return o, func() error { return nil }, nil
	}
	dir, err := filepath.Abs(st.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if names, err := dirNames(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("data dir %s: %w", dir, err)
	} else if len(names) > 0 {
		return nil, nil, fmt.Errorf("%w: data dir %s is not empty (it holds %s); import --all makes a new store: give a new or empty --data-dir",
			ErrNotEmpty, dir, strings.Join(names, ", "))
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	staging, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".import-")
	if err != nil {
		return nil, nil, fmt.Errorf("data dir %s: a staging dir beside it: %w", dir, err)
	}
	moved := false
	o.cleanup = append(o.cleanup, func() {
		if !moved {
			os.RemoveAll(staging)
		}
	})
	if o.db, err = sqlite.Open(ctx, filepath.Join(staging, server.SQLiteFile)); err != nil {
		return nil, nil, err
	}
	if err := sqlite.MigrateAll(ctx, o.db, server.SQLiteDomains()...); err != nil {
		return nil, nil, err
	}
	if o.engine, err = newEngine(ctx, st, o.db); err != nil {
		return nil, nil, err
	}
	if o.chunks, err = content.NewDiskChunks(filepath.Join(staging, server.BlobsDir)); err != nil {
		return nil, nil, err
	}
	commit = func() error {
		o.engine.Close()
		o.engine = nil
		if err := o.db.Close(); err != nil {
			return err
		}
		o.db = nil
		// An empty data dir gives way (Remove takes only an empty one); one
		// that gained files meanwhile makes the rename fail, and nothing
		// is lost.
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data dir %s: %w", dir, err)
		}
		if err := os.Rename(staging, dir); err != nil {
			return fmt.Errorf("moving the imported data dir into place at %s: %w", dir, err)
		}
		moved = true
		if d, err := os.Open(filepath.Dir(dir)); err == nil {
			_ = d.Sync()
			d.Close()
		}
		return nil
	}
	return o, commit, nil
}

// ErrNotEmpty is a target that holds data already.
var ErrNotEmpty = errors.New("not empty")

func dirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for i, e := range entries {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(entries)-3))
			break
		}
		names = append(names, e.Name())
	}
	return names, nil
}

// emptyTables returns ErrNotEmpty naming every table of Nexus's that holds
// rows.
func emptyTables(ctx context.Context, q storage.DBTX) error {
	names := make([]string, 0, len(tables)+len(derivedTables))
	for _, t := range tables {
		names = append(names, t.name)
	}
	names = append(names, derivedTables...)
	var full []string
	for _, name := range names {
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+name+` LIMIT 1000) t`).Scan(&n); err != nil {
			return fmt.Errorf("counting the rows of %s: %w", name, err)
		}
		if n > 0 {
			rows := fmt.Sprint(n)
			if n == 1000 {
				rows = "1000+"
			}
			full = append(full, name+" "+rows)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: the database holds rows (%s); import --all needs a new database: create one (createdb NAME) and import into it before any nexus serve starts on it",
			ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}
