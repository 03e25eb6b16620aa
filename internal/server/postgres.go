package server

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/internal/identity"
	"github.com/nexus-authz/nexus/internal/storage/postgres"
)

// PostgresDomains are the domains with tables of their own on PostgreSQL.
// Relationships are SpiceDB's (in schema postgres.SpiceDBSchema), so authz
// has none here.
func PostgresDomains() []postgres.Domain {
	return []postgres.Domain{
		{Name: "identity", Migrations: identity.PostgresMigrations()},
		{Name: "content", Migrations: content.PostgresMigrations()},
		{Name: "paths", Migrations: paths.PostgresMigrations()},
		{Name: "versions", Migrations: versions.PostgresMigrations()},
		{Name: "files", Migrations: files.PostgresMigrations()},
		{Name: "sharing", Migrations: sharing.PostgresMigrations()},
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

// CheckPostgres returns nil if the database behind db (at url) has exactly
// this build's schema, ours and SpiceDB's; otherwise one line (wrapping
// postgres.ErrSchema) saying what to run.
func CheckPostgres(ctx context.Context, db *sql.DB, url string) error {
	if err := postgres.Check(ctx, db, PostgresDomains()...); err != nil {
		return err
	}
	current, head, err := authz.PostgresVersion(ctx, postgres.WithSearchPath(url, postgres.SpiceDBSchema))
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
