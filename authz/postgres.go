package authz

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	// Registers SpiceDB's datastore engines, postgres among them, with its
	// migration package.
	dscmd "github.com/authzed/spicedb/pkg/cmd/datastore"
	"github.com/authzed/spicedb/pkg/cmd/datastore/dsconfig"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/migration"
)

// PostgresEngine is SpiceDB's datastore engine name for PostgreSQL.
const PostgresEngine = "postgres"

// MigratePostgres runs SpiceDB's own migrations of its postgres datastore
// to the newest revision this build carries. url must select SpiceDB's
// schema (postgres.WithSearchPath): SpiceDB's migrations create their
// tables in the current schema.
func MigratePostgres(ctx context.Context, url string) error {
	quiet()
	err := migration.Run(ctx, &migration.Config{
		DatastoreEngine: PostgresEngine,
		DatastoreURI:    url,
		Timeout:         time.Hour,
		BatchSize:       1000,
	}, "head")
	if err != nil {
		return fmt.Errorf("migrating SpiceDB's tables: %w", err)
	}
	return nil
}

// PostgresVersion returns the revision of SpiceDB's tables in the database
// ("" when not migrated) and the newest revision this build carries.
func PostgresVersion(ctx context.Context, url string) (current, head string, err error) {
	quiet()
	head, err = migration.HeadRevision(PostgresEngine)
	if err != nil {
		return "", "", err
	}
	current, err = migration.Version(ctx, &migration.Config{DatastoreEngine: PostgresEngine, DatastoreURI: url})
	if err != nil {
		return "", head, err
	}
	return current, head, nil
}

// PostgresMigrationNames are the revisions of SpiceDB's tables this build
// knows, oldest first.
func PostgresMigrationNames() ([]string, error) { return migration.MigrationNames(PostgresEngine) }

// PostgresWatchInterval is how often SpiceDB's Watch polls PostgreSQL for
// other nodes' writes (its minimum is 100 ms).
const PostgresWatchInterval = 100 * time.Millisecond

// PostgresConfig puts the engine on SpiceDB's postgres datastore, the
// production mode: relationships are durable in PostgreSQL, shared by every
// node, and no relationship log is kept.
type PostgresConfig struct {
	// URL selects SpiceDB's schema (postgres.WithSearchPath); ReplicaURLs
	// likewise, for SpiceDB's own read-replica support.
	URL         string
	ReplicaURLs []string
	// DB is the database of the caller's own rows and of the outbox
	// (outbox.go): write hooks (WithTx) commit with the write's outbox row,
	// before SpiceDB applies it.
	DB *sql.DB
	// MaxConns bounds SpiceDB's read pool (the write pool is half of it);
	// zero is 16.
	MaxConns int
	// GCWindow is how long SpiceDB keeps old revisions; zero is 24 h.
	GCWindow time.Duration
}

func newPostgresDatastore(ctx context.Context, pc *PostgresConfig, quantization time.Duration) (datastore.Datastore, error) {
	maxConns := pc.MaxConns
	if maxConns <= 0 {
		maxConns = 16
	}
	gc := pc.GCWindow
	if gc == 0 {
		gc = 24 * time.Hour
	}
	pool := func(n int) dsconfig.ConnPoolConfig {
		c := *dsconfig.DefaultReadConnPool()
		c.MaxOpenConns, c.MinOpenConns = max(n, 1), 1
		return c
	}
	opts := []dsconfig.ConfigOption{
		dsconfig.WithEngine(dsconfig.PostgresEngine),
		dsconfig.WithURI(pc.URL),
		dsconfig.WithRevisionQuantization(quantization),
		dsconfig.WithGCWindow(gc),
		dsconfig.WithReadConnPool(pool(maxConns)),
		dsconfig.WithWriteConnPool(pool(maxConns / 2)),
		dsconfig.WithReadReplicaConnPool(pool(maxConns)),
		dsconfig.WithEnableDatastoreMetrics(false),
	}
	for _, r := range pc.ReplicaURLs {
		opts = append(opts, dsconfig.WithReadReplicaURIs(r))
	}
	ds, err := dscmd.NewDatastore(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("authz: opening SpiceDB's postgres datastore: %w", err)
	}
	return ds, nil
}
