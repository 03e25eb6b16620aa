package authz

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	dscmd "github.com/authzed/spicedb/pkg/cmd/datastore"
	"github.com/authzed/spicedb/pkg/cmd/datastore/dsconfig"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nexus-authz/nexus/storage"
)

// While the PostgreSQL primary is down, SpiceDB's postgres datastore still
// reads relationships from its replicas (its strict read-replica proxy), but
// it asks the primary which revision to read at: OptimizedRevision for
// minimize_latency and at_least_as_fresh, CheckRevision for a token newer
// than that. Both are read-only queries (pg_current_snapshot and the
// transaction table), which a streaming replica answers as well, at the
// position it has replayed. revisionFallback asks a replica when the primary
// cannot be reached, so checks keep being answered, at the replica's
// revision: a minimize_latency check may be as stale as the replica, and a
// token the replica has not replayed is refused (CheckRevision fails),
// never answered from older data. HeadRevision (fully_consistent) is never
// answered by a replica: with the primary down, fully consistent reads fail.
type revisionFallback struct {
	datastore.Datastore
	replicas []datastore.Datastore
	logger   *slog.Logger
}

// primaryTimeout bounds how long a revision waits for the primary before a
// replica answers.
const primaryTimeout = time.Second

func (d *revisionFallback) OptimizedRevision(ctx context.Context) (datastore.RevisionWithSchemaHash, error) {
	pctx, cancel := context.WithTimeout(ctx, primaryTimeout)
	rev, err := d.Datastore.OptimizedRevision(pctx)
	cancel()
	if err == nil || !unreachable(ctx, err) {
		return rev, err
	}
	for _, r := range d.replicas {
		if rrev, rerr := r.OptimizedRevision(ctx); rerr == nil {
			return rrev, nil
		}
	}
	return rev, err
}

func (d *revisionFallback) CheckRevision(ctx context.Context, rev datastore.Revision) error {
	pctx, cancel := context.WithTimeout(ctx, primaryTimeout)
	err := d.Datastore.CheckRevision(pctx, rev)
	cancel()
	if err == nil || !unreachable(ctx, err) {
		return err
	}
	for _, r := range d.replicas {
		if rerr := r.CheckRevision(ctx, rev); rerr == nil {
			return nil
		}
	}
	return err
}

func (d *revisionFallback) Close() error {
	for _, r := range d.replicas {
		_ = r.Close()
	}
	return d.Datastore.Close()
}

// unreachable reports whether err says the primary could not be reached
// (rather than that it refused the revision), while ctx is still live.
func unreachable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || storage.IsUnavailable(err) ||
		errors.Is(err, context.DeadlineExceeded)
}

// replicaRevisionSources opens, on each replica, a SpiceDB postgres
// datastore used only for OptimizedRevision and CheckRevision: read-only,
// with no garbage collection, heartbeat or watch, and no connection held
// while unused. A replica that cannot be opened now (down at start) is
// left out, with a warning.
func replicaRevisionSources(ctx context.Context, urls []string, quantization time.Duration, logger *slog.Logger) []datastore.Datastore {
	var out []datastore.Datastore
	for _, u := range urls {
		pool := *dsconfig.DefaultReadConnPool()
		pool.MaxOpenConns, pool.MinOpenConns = 2, 0
		ds, err := dscmd.NewDatastore(ctx,
			dsconfig.WithEngine(dsconfig.PostgresEngine),
			dsconfig.WithURI(u),
			dsconfig.WithRevisionQuantization(quantization),
			dsconfig.WithReadConnPool(pool),
			dsconfig.WithWriteConnPool(pool),
			dsconfig.WithReadOnly(true),
			dsconfig.WithGCInterval(0),
			dsconfig.WithEnableRevisionHeartbeat(false),
			dsconfig.WithDisableWatchSupport(true),
			dsconfig.WithEnableDatastoreMetrics(false),
			dsconfig.WithDisableStats(true),
		)
		if err != nil {
			logger.Warn("authz: a replica cannot answer revisions while the primary is down (it could not be opened at start)", "err", err)
			continue
		}
		out = append(out, ds)
	}
	return out
}
