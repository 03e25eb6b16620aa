package memdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-memdb"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/options"
	corev1 "github.com/authzed/spicedb/pkg/proto/core/v1"
	"github.com/authzed/spicedb/pkg/spiceerrors"
	"github.com/authzed/spicedb/pkg/tuple"
	"github.com/nexus-authz/nexus/authz/memdb/internal/common"
	"github.com/nexus-authz/nexus/authz/memdb/internal/revisions"
)

const (
	Engine                   = "memory"
	defaultWatchBufferLength = 128
	maxRetries               = 10
)

var (
	ErrMemDBIsClosed = errors.New("datastore is closed")
	ErrSerialization = errors.New("serialization error")
)

// DisableGC is a convenient constant for setting the garbage collection
// interval high enough that it will never run.
const DisableGC = time.Duration(math.MaxInt64)

// NewMemdbDatastore creates a new Datastore compliant datastore backed by memdb.
//
// If the watchBufferLength value of 0 is set then a default value of 128 will be used.
func NewMemdbDatastore(
	watchBufferLength uint16,
	revisionQuantization,
	gcWindow time.Duration,
) (datastore.Datastore, error) {
	if revisionQuantization > gcWindow {
		return nil, errors.New("gc window must be larger than quantization interval")
	}

	if revisionQuantization <= 1 {
		revisionQuantization = 1
	}

	db, err := memdb.NewMemDB(schema)
	if err != nil {
		return nil, err
	}

	if watchBufferLength == 0 {
		watchBufferLength = defaultWatchBufferLength
	}

	uniqueID := uuid.NewString()
	mdb := &memdbDatastore{
		CommonDecoder: revisions.CommonDecoder{
			Kind: revisions.Timestamp,
		},
		db:   db,
		rels: newRelTrees(), // nexus: the head relationships (nexus_rels.go)
		revisions: []snapshot{
			{
				revision:   nowRevision(),
				schemaHash: "",
				rels:       newRelTrees(), // nexus: nexus_rels.go
				// A snapshot of the still-empty database rather than the
				// database itself, so that a read at the creation revision
				// above sees the datastore as it was created rather than as it
				// is now. Every later entry likewise holds a snapshot frozen
				// at its own revision.
				db: db.Snapshot(),
			},
		},

		negativeGCWindow:        gcWindow.Nanoseconds() * -1,
		quantizationPeriod:      revisionQuantization.Nanoseconds(),
		watchBufferLength:       watchBufferLength,
		watchBufferWriteTimeout: 100 * time.Millisecond,
		uniqueID:                uniqueID,
	}
	mdb.writeTxReady = sync.NewCond(&mdb.RWMutex)
	mdb.repackQuiet = max(repackQuietMin, gcWindow) // nexus: nexus_repack.go
	mdb.closed = make(chan struct{})
	return mdb, nil
}

type memdbDatastore struct {
	sync.RWMutex
	revisions.CommonDecoder

	// NOTE: call checkNotClosed before using
	db *memdb.MemDB // GUARDED_BY(RWMutex)
	// nexus: the relationships at the head revision (nexus_rels.go). No
	// reader sees this value: snapshots hold copies of it.
	rels *relTrees // GUARDED_BY(RWMutex)
	// revisions MUST be sorted in strictly increasing revision order.
	revisions      []snapshot // GUARDED_BY(RWMutex)
	activeWriteTxn *txn       // GUARDED_BY(RWMutex)
	writeTxReady   *sync.Cond // broadcast when activeWriteTxn becomes nil

	negativeGCWindow        int64
	quantizationPeriod      int64
	watchBufferLength       uint16
	watchBufferWriteTimeout time.Duration
	uniqueID                string

	// nexus: the newest changelog entry trimmed (nanos); a watch that has
	// not read past it has missed changes.
	changelogFloor int64 // GUARDED_BY(RWMutex)
	// nexus: the relationship changes the changelog holds.
	changelogRows int // GUARDED_BY(RWMutex)
	// nexus: the oldest revision a snapshot is kept for when the budget of
	// changed relationships, not the GC window, dropped the older ones
	// (nanos; nexus_history.go); reads before it are stale.
	historyFloor int64 // GUARDED_BY(RWMutex)
	// nexus: the timer that will trim the history (trimLaterLocked).
	trimTimer *time.Timer // GUARDED_BY(RWMutex)

	// nexus: when the last write committed, the relationships changed
	// since the trees were last repacked, whether a repack is on its way,
	// and how many there were (nexus_repack.go).
	lastWrite          time.Time // GUARDED_BY(RWMutex)
	changedSinceRepack int       // GUARDED_BY(RWMutex)
	repackDue          bool      // GUARDED_BY(RWMutex)
	commits            int       // GUARDED_BY(RWMutex)
	repacks            int       // GUARDED_BY(RWMutex)
	repackQuiet        time.Duration
	closed             chan struct{} // nexus: closed by Close, for a repack waiting

	// nexus: the newest revision past head a read was served at (nanos);
	// commits are given revisions after it (see servedAt).
	served atomic.Int64
}

type snapshot struct {
	revision   revisions.TimestampRevision
	schemaHash string
	db         *memdb.MemDB
	rels       *relTrees // nexus: never changed once published
	changed    int       // nexus: relationships its write changed (nexus_history.go)
}

// txn is a go-memdb transaction and the relationships it reads and, in a
// write transaction, writes (nexus: they are not a go-memdb table; see
// nexus_rels.go).
type txn struct {
	*memdb.Txn
	rels  *relTrees
	write bool
	// relChanges are a write transaction's relationship writes, in order.
	relChanges []relChange
	// bulk is set in a load of the whole datastore (nexus_bulk.go).
	bulk *bulkLoad
}

type relChange struct {
	rel     *relationship
	deleted bool
}

// readRels returns relationships to iterate: in a write transaction a copy
// of what it has written so far, which its later writes leave alone.
func (tx *txn) readRels() *relTrees {
	if tx.write {
		tx.finishBulk() // nexus: nexus_bulk.go
		return tx.rels.copy()
	}
	return tx.rels
}

func (mdb *memdbDatastore) MetricsID() (string, error) {
	return "memdb", nil
}

func (mdb *memdbDatastore) EngineName() string {
	return Engine
}

func (mdb *memdbDatastore) UniqueID(_ context.Context) (string, error) {
	return mdb.uniqueID, nil
}

// SnapshotReader returns a reader for the snapshot visible at the given
// revision: the most recent entry in mdb.revisions at or before it, located by
// binary search.
func (mdb *memdbDatastore) SnapshotReader(dr datastore.Revision) datastore.Reader {
	mdb.RLock()
	defer mdb.RUnlock()

	if err := mdb.checkNotClosed(); err != nil {
		return &memdbReader{nil, nil, err, time.Now()}
	}

	if len(mdb.revisions) == 0 {
		return &memdbReader{nil, nil, errors.New("memdb datastore is not ready"), time.Now()}
	}

	if err := mdb.checkRevisionLocalCallerMustLock(dr); err != nil {
		return &memdbReader{nil, nil, err, time.Now()}
	}

	// sort.Search finds the first snapshot newer than the requested revision,
	// so the one visible at it is the entry before that.
	revIndex := sort.Search(len(mdb.revisions), func(i int) bool {
		return mdb.revisions[i].revision.GreaterThan(dr)
	})

	// Handle the case where every snapshot is newer than the requested
	// revision, i.e. it predates the datastore itself: the oldest snapshot is
	// the closest thing to the state at that revision.
	if revIndex > 0 {
		revIndex--
	}

	mdb.servedAt(dr) // nexus: see servedAt (revisions.go)

	rev := mdb.revisions[revIndex]
	if rev.db == nil {
		return &memdbReader{nil, nil, errors.New("memdb datastore is already closed"), time.Now()}
	}

	roTxn := &txn{Txn: rev.db.Txn(false), rels: rev.rels} // nexus: and the snapshot's relationships
	txSrc := func() (*txn, error) {
		return roTxn, nil
	}

	return &memdbReader{noopTryLocker{}, txSrc, nil, time.Now()}
}

func (mdb *memdbDatastore) getCurrentSchemaHashNoLock() string {
	txn := mdb.db.Txn(false)
	defer txn.Abort()

	raw, err := txn.First(tableSchemaRevision, indexID, "current")
	if err != nil || raw == nil {
		return ""
	}

	srd, ok := raw.(*schemaRevisionData)
	if !ok {
		return ""
	}

	return string(srd.hash)
}

func (mdb *memdbDatastore) SupportsIntegrity() bool {
	return true
}

func (mdb *memdbDatastore) ReadWriteTx(
	ctx context.Context,
	f datastore.TxUserFunc,
	opts ...options.RWTOptionsOption,
) (datastore.Revision, error) {
	config := options.NewRWTOptionsWithOptions(opts...)
	txNumAttempts := maxRetries // TODO every other datastore has a configurable MaxRetries. why not this one?
	if config.DisableRetries {
		txNumAttempts = 1
	}

	for i := 0; i < txNumAttempts; i++ {
		var tx *txn
		var newRevision revisions.TimestampRevision
		rwt := &memdbReadWriteTx{}
		createTxOnce := sync.Once{}
		txSrc := func() (*txn, error) {
			var err error
			createTxOnce.Do(func() {
				mdb.Lock()
				defer mdb.Unlock()

				// Block until any active write transaction finishes rather than
				// returning ErrSerialization and busy-retrying with sleeps.
				for mdb.activeWriteTxn != nil {
					mdb.writeTxReady.Wait()
				}

				if err = mdb.checkNotClosed(); err != nil {
					return
				}

				tx = &txn{Txn: mdb.db.Txn(true), rels: mdb.rels.copy(), write: true}
				if ctx.Value(noRelationshipChanges{}) != nil {
					tx.bulk = &bulkLoad{} // nexus: nexus_bulk.go
				}
				tx.TrackChanges()
				mdb.activeWriteTxn = tx

				// nexus: a provisional revision, for the definitions the
				// transaction writes; the commit takes the real one (below)
				// and stamps them with it.
				rwt.newRevision = mdb.newRevisionIDNoLock()
			})

			return tx, err
		}
		rwt.memdbReader = memdbReader{&sync.Mutex{}, txSrc, nil, time.Now()}
		if config.SchemaHashPrecondition != "" {
			if err := assertSchemaHash(ctx, rwt, config.SchemaHashPrecondition); err != nil {
				mdb.Lock()
				if tx != nil {
					tx.Abort()
					mdb.activeWriteTxn = nil
					mdb.writeTxReady.Signal()
				}
				mdb.Unlock()
				return datastore.NoRevision, err
			}
		}
		if err := f(ctx, rwt); err != nil {
			mdb.Lock()
			if tx != nil {
				tx.Abort()
				mdb.activeWriteTxn = nil
				mdb.writeTxReady.Signal()
			}

			// If the error was a serialization error, retry the transaction.
			// We *must* return the inner error unmodified in case it's not an error type
			// that supports unwrapping (e.g. gRPC errors)
			if errors.Is(err, ErrSerialization) {
				mdb.Unlock()
				continue
			}
			defer mdb.Unlock()
			return datastore.NoRevision, err
		}

		if tx != nil {
			tx.finishBulk() // nexus: before anything reads what it wrote
		}

		mdb.Lock()
		defer mdb.Unlock() // TODO is this defer correct? it runs at the end of the function, not at the end of the for loop's iteration

		// The user function never used the transaction: nothing was written,
		// so no new revision is created and the head revision is returned.
		if tx == nil {
			if err := mdb.checkNotClosed(); err != nil {
				return datastore.NoRevision, err
			}
			return mdb.headRevisionNoLock(), nil
		}

		// nexus: the revision is taken at commit, under the lock that
		// publishes the snapshot, not when the transaction began (upstream).
		// A revision taken at the start let a read at a later revision (the
		// quantized minimize_latency one) run while the write was still in
		// flight and see the state before it; after the commit the same
		// revision showed the write. SpiceDB caches definitions and checks
		// by revision, so the old state stayed served at that revision, to
		// at_least_as_fresh reads of the write's own token too.
		newRevision = mdb.newRevisionIDNoLock()

		tracked := common.NewChanges(revisions.TimestampIDKeyFunc, datastore.WatchRelationships|datastore.WatchSchema, 0)
		if config.Metadata != nil && len(config.Metadata.GetFields()) > 0 {
			if err := tracked.AddRevisionMetadata(ctx, newRevision, config.Metadata.AsMap()); err != nil {
				return datastore.NoRevision, err
			}
		}

		// nexus: relationships are not a go-memdb table (nexus_rels.go);
		// the transaction recorded its writes in order.
		relChanges := tx.relChanges
		if ctx.Value(noRelationshipChanges{}) != nil {
			relChanges = nil
		}
		for _, change := range relChanges {
			rt, err := change.rel.Relationship()
			if err != nil {
				return datastore.NoRevision, err
			}
			op := tuple.UpdateOperationTouch
			if change.deleted {
				op = tuple.UpdateOperationDelete
			}
			if err := tracked.AddRelationshipChange(ctx, newRevision, rt, op); err != nil {
				return datastore.NoRevision, err
			}
		}

		for _, change := range tx.Changes() {
			switch change.Table {
			// nexus: no tableRelationship case: relationship changes come from
			// tx.relChanges, above.
			case tableNamespace:
				switch {
				case change.After != nil:
					change.After.(*namespace).updated = newRevision // nexus: see newRevision above
					loaded := &corev1.NamespaceDefinition{}
					if err := loaded.UnmarshalVT(change.After.(*namespace).configBytes); err != nil {
						return datastore.NoRevision, err
					}

					err := tracked.AddChangedDefinition(ctx, newRevision, loaded)
					if err != nil {
						return datastore.NoRevision, err
					}
				case change.After == nil && change.Before != nil:
					err := tracked.AddDeletedNamespace(ctx, newRevision, change.Before.(*namespace).name)
					if err != nil {
						return datastore.NoRevision, err
					}
				default:
					return datastore.NoRevision, spiceerrors.MustBugf("unexpected namespace change")
				}
			case tableCaveats:
				switch {
				case change.After != nil:
					change.After.(*caveat).revision = newRevision // nexus: see newRevision above
					loaded := &corev1.CaveatDefinition{}
					if err := loaded.UnmarshalVT(change.After.(*caveat).definition); err != nil {
						return datastore.NoRevision, err
					}

					err := tracked.AddChangedDefinition(ctx, newRevision, loaded)
					if err != nil {
						return datastore.NoRevision, err
					}
				case change.After == nil && change.Before != nil:
					err := tracked.AddDeletedCaveat(ctx, newRevision, change.Before.(*caveat).name)
					if err != nil {
						return datastore.NoRevision, err
					}
				default:
					return datastore.NoRevision, spiceerrors.MustBugf("unexpected namespace change")
				}
			}
		}

		changes := tracked.AsRevisionChanges(revisions.TimestampIDKeyLessThanFunc)
		wroteChangelog := false
		added := 0 // nexus: relationship changes the new entry holds
		for rc, err := range changes {
			if err != nil {
				return datastore.NoRevision, err
			}

			if wroteChangelog {
				return datastore.NoRevision, spiceerrors.MustBugf("unexpected MemDB transaction with multiple revision changes")
			}

			change := &changelog{
				revisionNanos: newRevision.TimestampNanoSec(),
				changes:       rc,
			}
			added += len(rc.RelationshipChanges) // nexus: nexus_history.go
			if err := tx.Insert(tableChangelog, change); err != nil {
				return datastore.NoRevision, fmt.Errorf("error writing changelog: %w", err)
			}

			wroteChangelog = true
		}

		// Always emit a changelog entry for the committed revision, even
		// when the transaction produced no observable changes (e.g., a
		// TOUCH that matched the existing relationship). The changes
		// payload is intentionally empty — the watch goroutine constructs the
		// checkpoint event itself based on each consumer's options.
		if !wroteChangelog {
			change := &changelog{
				revisionNanos: newRevision.TimestampNanoSec(),
				changes:       datastore.RevisionChanges{},
			}
			if err := tx.Insert(tableChangelog, change); err != nil {
				return datastore.NoRevision, fmt.Errorf("error writing changelog: %w", err)
			}
		}

		// nexus: keep history to the GC window. Upstream keeps every
		// changelog entry (and every snapshot, below) forever: about 17 KiB
		// a write that is never freed.
		// And to a budget of relationship changes (nexus_history.go).
		cutoff := newRevision.TimestampNanoSec() + mdb.negativeGCWindow
		rows := mdb.changelogRows + added
		trimmed, removed, err := trimChangelog(tx.Txn, cutoff, newRevision.TimestampNanoSec(), rows,
			max(changelogRowsMin, tx.rels.len()/changelogRowsPerLive))
		if err != nil {
			return datastore.NoRevision, err
		}
		if trimmed > mdb.changelogFloor {
			mdb.changelogFloor = trimmed
		}
		mdb.changelogRows = rows - removed

		tx.Commit()
		mdb.activeWriteTxn = nil
		mdb.writeTxReady.Signal()

		if err := mdb.checkNotClosed(); err != nil {
			return datastore.NoRevision, err
		}

		// Create a snapshot and add it to the revisions slice
		schemaHash := mdb.getCurrentSchemaHashNoLock()
		snap := mdb.db.Snapshot()
		mdb.rels = tx.rels
		mdb.revisions = append(mdb.revisions, snapshot{newRevision, schemaHash, snap, tx.rels.copy(), len(tx.relChanges)})
		mdb.trimRevisionsLocked(cutoff) // nexus: see trimChangelog above
		if tx.bulk == nil {
			mdb.committedLocked(len(tx.relChanges)) // nexus: nexus_repack.go
		}
		return newRevision, nil
	}

	return datastore.NoRevision, NewSerializationMaxRetriesReachedErr(errors.New("serialization max retries exceeded; please reduce your parallel writes"))
}

func (mdb *memdbDatastore) ReadyState(_ context.Context) (datastore.ReadyState, error) {
	mdb.RLock()
	defer mdb.RUnlock()

	return datastore.ReadyState{
		Message: "missing expected initial revision",
		IsReady: len(mdb.revisions) > 0,
	}, nil
}

func (mdb *memdbDatastore) OfflineFeatures() (*datastore.Features, error) {
	return &datastore.Features{
		Watch: datastore.Feature{
			Status: datastore.FeatureSupported,
		},
		IntegrityData: datastore.Feature{
			Status: datastore.FeatureSupported,
		},
		ContinuousCheckpointing: datastore.Feature{
			Status: datastore.FeatureUnsupported,
		},
		WatchEmitsImmediately: datastore.Feature{
			Status: datastore.FeatureUnsupported,
		},
	}, nil
}

func (mdb *memdbDatastore) Features(_ context.Context) (*datastore.Features, error) {
	return mdb.OfflineFeatures()
}

func (mdb *memdbDatastore) Close() error {
	mdb.Lock()
	defer mdb.Unlock()

	if db := mdb.db; db != nil {
		close(mdb.closed) // nexus: nexus_repack.go
		if mdb.trimTimer != nil {
			mdb.trimTimer.Stop() // nexus: nexus_history.go
		}
		mdb.revisions = []snapshot{
			{
				revision:   nowRevision(),
				schemaHash: "",
				db:         db,
				rels:       mdb.rels.copy(), // nexus: nexus_rels.go
			},
		}
	} else {
		mdb.revisions = []snapshot{}
	}

	mdb.db = nil

	return nil
}

// This code assumes that the RWMutex has been acquired.
func (mdb *memdbDatastore) checkNotClosed() error {
	if mdb.db == nil {
		return ErrMemDBIsClosed
	}
	return nil
}

var _ datastore.Datastore = &memdbDatastore{}
