package server

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/storage/postgres"
)

// PostgresDomains are the domains with tables of their own on PostgreSQL.
// Relationships are SpiceDB's (in schema postgres.SpiceDBSchema); authz has
// only its outbox here.
func PostgresDomains() []postgres.Domain {
	return []postgres.Domain{
		{Name: "authz", Migrations: authz.PostgresMigrations()},
		{Name: "identity", Migrations: identity.PostgresMigrations()},
		{Name: "content", Migrations: content.PostgresMigrations()},
		{Name: "paths", Migrations: paths.PostgresMigrations()},
		{Name: "versions", Migrations: versions.PostgresMigrations()},
		{Name: "files", Migrations: files.PostgresMigrations()},
		{Name: "sharing", Migrations: sharing.PostgresMigrations()},
		{Name: "search", Migrations: search.PostgresMigrations()},
		{Name: "memory", Migrations: memory.PostgresMigrations()},
	}
}

// MigratePostgres brings the database at url up to this build's schema:
// our domains' tables, then SpiceDB's in their own schema. It is what
// `nexus migrate --postgres URL` runs; run it against the primary directly,
// not through PgBouncer (migrations take a session advisory lock).
func MigratePostgres(ctx context.Context, url string) error {
	db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+postgres.SpiceDBSchema); err != nil {
		return fmt.Errorf("creating schema %s for SpiceDB's tables: %w", postgres.SpiceDBSchema, err)
	}
	if err := postgres.Migrate(ctx, db, PostgresDomains()...); err != nil {
		return err
	}
	return authz.MigratePostgres(ctx, postgres.WithSearchPath(url, postgres.SpiceDBSchema))
}

// CheckPostgres returns nil if the database behind db has exactly this
// build's schema, ours and SpiceDB's (read through spicedbURL, which selects
// SpiceDB's schema); otherwise one line (wrapping postgres.ErrSchema) saying
// what to run.
func CheckPostgres(ctx context.Context, db *sql.DB, spicedbURL string) error {
	if err := postgres.Check(ctx, db, PostgresDomains()...); err != nil {
		return err
	}
	current, head, err := authz.PostgresVersion(ctx, spicedbURL)
	if err != nil {
		return fmt.Errorf("reading the version of SpiceDB's tables: %w", err)
	}
	switch {
	case current == head:
		return nil
	case current == "":
		return fmt.Errorf("%w: SpiceDB's tables are missing (schema %s); run: nexus migrate --postgres URL", postgres.ErrSchema, postgres.SpiceDBSchema)
	}
	names, err := authz.PostgresMigrationNames()
	if err != nil {
		return err
	}
	if slices.Contains(names, current) {
		return fmt.Errorf("%w: SpiceDB's tables are at revision %s, this nexus needs %s; run: nexus migrate --postgres URL", postgres.ErrSchema, current, head)
	}
	return fmt.Errorf("%w: SpiceDB's tables are at revision %s, which this nexus does not know (newer); run a newer nexus", postgres.ErrSchema, current)
}

// openPostgres opens production mode: pools on the primary, a schema check
// (refusing a database `nexus migrate` has not brought to this build's
// schema), the engine on SpiceDB's postgres datastore, and chunks in the
// database.
func (s *Server) openPostgres(ctx context.Context) (content.ChunkStore, error) {
	cfg := s.cfg
	var err error
	if s.db, err = postgres.Open(ctx, cfg.Postgres, postgres.Options{}); err != nil {
		return nil, err
	}
	spicedbURL := cfg.SpiceDBPostgres
	if spicedbURL == "" {
		spicedbURL = postgres.WithSearchPath(cfg.Postgres, postgres.SpiceDBSchema)
	} else if _, err := postgres.ParseURL(spicedbURL, postgres.Options{}); err != nil {
		return nil, fmt.Errorf("--spicedb-postgres: %w", err)
	}
	if err := CheckPostgres(ctx, s.db, spicedbURL); err != nil {
		return nil, err
	}
	cache := cfg.Cache
	var track string
	if err := s.db.QueryRowContext(ctx, `SHOW track_commit_timestamp`).Scan(&track); err != nil {
		return nil, fmt.Errorf("reading track_commit_timestamp: %w", err)
	}
	if track != "on" && !cache.Disabled {
		// Without it SpiceDB has no Watch, and a cache could not learn of
		// other nodes' revokes: turn it off rather than serve stale allows.
		s.log.Warn("PostgreSQL runs with track_commit_timestamp = off, so SpiceDB's Watch is off: the decision cache is off and every check goes to SpiceDB (set track_commit_timestamp = on and restart PostgreSQL)")
		cache.Disabled = true
	}
	replicas := make([]string, len(cfg.PostgresReplicas))
	var pools []postgres.Replica
	for i, r := range cfg.PostgresReplicas {
		pc, err := postgres.ParseURL(r, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("--postgres-replica %d: %w", i+1, err)
		}
		replicas[i] = postgres.WithSearchPath(r, postgres.SpiceDBSchema)
		// As many connections as the primary's pool: the replicas serve
		// most of our reads.
		db, err := postgres.Open(ctx, r, postgres.Options{Lazy: true})
		if err != nil {
			return nil, fmt.Errorf("--postgres-replica %d: %w", i+1, err)
		}
		s.replicas = append(s.replicas, db)
		pools = append(pools, postgres.Replica{Name: fmt.Sprintf("%s:%d", pc.Host, pc.Port), DB: db})
	}
	// The router sends our reads to replicas where the call allows it (see
	// rpc.NewRoutingInterceptor and postgres.Routed) and probes the replicas
	// for their lag and health (metrics nexus_pg_*).
	s.router = postgres.NewRouter(s.db, pools, postgres.RouterConfig{MaxLag: cfg.MaxReplicaLag, Registerer: s.registry})
	s.reads = postgres.NewRouted(s.router)
	if len(pools) > 0 {
		router := s.router
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		s.stopRouter = func() { cancel(); <-done }
		go func() { router.Run(rctx); close(done) }()
	}
	if s.engine, err = authz.New(ctx, authz.Config{
		Schema: nexus.Schema,
		Postgres: &authz.PostgresConfig{
			URL:         spicedbURL,
			ReplicaURLs: replicas,
			DB:          s.db,
		},
		RevisionQuantization: cfg.RevisionQuantization,
		Cache:                cache,
		Admission:            cfg.Admission,
		Logger:               s.log,
		Registerer:           s.registry,
	}); err != nil {
		return nil, err
	}
	return content.NewDBChunks(s.reads), nil
}
