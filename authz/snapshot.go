package authz

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/authzed/spicedb/pkg/datastore"

	"github.com/nexus-authz/nexus/authz/memdb"
)

// A snapshot of the datastore spares a start reading the relationship
// log: at a clean close the engine writes the datastore's relationships to
// SQLLog.Snapshot (memdb.WriteSnapshot) with every write held off, then
// records in the log the snapshot's size, its checksum and the schema it
// was written under (a mark). Every transaction that writes the log
// deletes the mark (SQLLog.inTx), so a start loads the snapshot only if
// the log holds exactly what it does, and under the same schema (a new
// version's schema may refuse what the old one held: the log's rows are
// then judged again). Anything else (no mark, a crash since, a file
// that does not match or fails its checksum) reads the log as before.

// snapshotMark is the mark of a snapshot of size bytes with checksum sum,
// written under schema (the datastore's, Nexus's and others' definitions).
func snapshotMark(size int64, sum uint32, schema string) string {
	return fmt.Sprintf("%d %08x %x", size, sum, sha256.Sum256([]byte(schema)))
}

// loadSnapshot loads the log's snapshot, if it has a current one, into
// the datastore and returns how many relationships it held; false (the
// datastore as before) if there was none to load or it failed.
func (e *Engine) loadSnapshot(ctx context.Context, l *SQLLog) (int, bool) {
	var mark string
	err := l.DB.QueryRowContext(ctx, `SELECT mark FROM authz_snapshot WHERE id = 1`).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false
	}
	var snap []byte
	var schema string
	if err == nil {
		schema, err = e.currentSchema(ctx)
	}
	if err == nil {
		snap, err = os.ReadFile(l.Snapshot)
	}
	if err == nil && (len(snap) < 4 || snapshotMark(int64(len(snap)), binary.LittleEndian.Uint32(snap[len(snap)-4:]), schema) != mark) {
		err = errors.New("it is not the one the log records, or was written under another schema")
	}
	n := 0
	if err == nil {
		_, err = e.ds.ReadWriteTx(memdb.WithoutRelationshipChanges(ctx), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			loader, ok := rwt.(memdb.SnapshotLoader)
			if !ok {
				return fmt.Errorf("the datastore (%T) takes no snapshot", rwt)
			}
			n, err = loader.LoadSnapshot(ctx, snap)
			return err
		})
	}
	if err != nil {
		e.logger.Warn("authz: not loading the datastore's snapshot; reading the relationship log instead", "snapshot", l.Snapshot, "err", err)
		return 0, false
	}
	return n, true
}

// saveSnapshot writes the datastore's snapshot and marks it current in the
// log, every write held off meanwhile; a failure costs the next start
// only the time to read the log.
func (e *Engine) saveSnapshot(l *SQLLog) {
	held := make(chan struct{})
	go func() { e.writeMu.Lock(); close(held) }()
	select {
	case <-held:
		defer e.writeMu.Unlock()
	case <-time.After(10 * time.Second):
		go func() { <-held; e.writeMu.Unlock() }()
		e.logger.Warn("authz: a write did not end within 10 s of the close; no snapshot of the datastore")
		return
	}
	start := time.Now()
	n, err := e.writeSnapshot(l)
	if err != nil {
		e.logger.Warn("authz: no snapshot of the datastore; the next start reads the relationship log", "err", err)
		return
	}
	e.logger.Info("authz: wrote the datastore's snapshot", "relationships", n, "took", time.Since(start).Round(time.Millisecond))
}

func (e *Engine) writeSnapshot(l *SQLLog) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	schema, err := e.currentSchema(ctx)
	if err != nil {
		return 0, err
	}
	// The old mark goes first: a crash before the new one is recorded
	// leaves none.
	if _, err := l.DB.ExecContext(ctx, `DELETE FROM authz_snapshot`); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.Snapshot), filepath.Base(l.Snapshot)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, sum, err := memdb.WriteSnapshot(e.ds, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	var size int64
	if err == nil {
		size, err = tmp.Seek(0, 1)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), l.Snapshot)
	}
	if err == nil {
		err = syncDir(filepath.Dir(l.Snapshot))
	}
	if err != nil {
		return 0, err
	}
	_, err = l.DB.ExecContext(ctx, `INSERT INTO authz_snapshot (id, mark) VALUES (1, ?)`, snapshotMark(size, sum, schema))
	return n, err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
