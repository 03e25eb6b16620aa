package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/cmd/server"
	"github.com/authzed/spicedb/pkg/cmd/util"
	"github.com/authzed/spicedb/pkg/datastore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nexus-authz/nexus"
)

// newSpiceDBServer configures an in-process SpiceDB over ds, reached through
// a buffered in-memory network with key. dispatchCache sizes its dispatch
// cache.
func newSpiceDBServer(ctx context.Context, ds datastore.Datastore, key string, postgres bool, dispatchCache string) (server.RunnableServer, error) {
	var extra []server.ConfigOption
	if postgres {
		// SpiceDB's postgres Watch polls for new transactions once per
		// heartbeat (default 1 s): that poll bounds how soon another node's
		// revoke evicts this node's cache.
		extra = append(extra, server.WithWatchHeartbeat(PostgresWatchInterval))
	}
	srv, err := server.NewConfigWithOptionsAndDefaults(append([]server.ConfigOption{
		server.WithDatastore(ds),
		server.WithGRPCServer(util.GRPCServerConfig{Network: util.BufferedNetwork, Enabled: true, MaxConnAge: 365 * 24 * time.Hour}),
		server.WithPresharedSecureKey(key),
		server.WithHTTPGateway(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithMetricsAPI(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithDispatchServer(util.GRPCServerConfig{Enabled: false}),
		server.WithSilentlyDisableTelemetry(true),
		server.WithTelemetryEndpoint(""),
		server.WithDisableVersionResponse(true),
		server.WithEnableMemoryProtectionMiddleware(false),
		server.WithNamespaceCacheConfig(server.CacheConfig{Name: "namespace", Enabled: true, MaxCost: "32MiB"}),
		server.WithDispatchCacheConfig(server.CacheConfig{Name: "dispatch", Enabled: true, MaxCost: dispatchCache}),
		server.WithClusterDispatchCacheConfig(server.CacheConfig{Name: "cluster_dispatch", Enabled: false}),
		server.WithMaximumUpdatesPerWrite(maxUpdatesPerWrite),
		server.WithMaxLookupResourcesLimit(lookupPageSize),
	}, extra...)...).Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: configuring SpiceDB: %w", err)
	}
	return srv, nil
}

// sideClients are the clients the decision cache reads through.
type sideClients struct {
	perms  v1.PermissionsServiceClient
	schema v1.SchemaServiceClient
	watch  v1.WatchServiceClient

	// On PostgreSQL, the side SpiceDB they reach.
	conn *grpc.ClientConn
	ds   datastore.Datastore
	done chan error
}

// sideConns is the side datastore's pool: the watch's poll, the probe's
// head reads and one eviction's reads at a time, never queued behind the
// engine's misses.
const sideConns = 4

// openSide starts the side SpiceDB on PostgreSQL: the same database
// through a pool of its own, so the cache's watch and probe keep up however
// many misses hold the engine's pool.
func (e *Engine) openSide(ctx, runCtx context.Context, cfg Config, key string) error {
	ds, err := newPostgresDatastore(ctx, &PostgresConfig{URL: cfg.Postgres.URL, MaxConns: sideConns, GCWindow: cfg.Postgres.GCWindow}, cfg.RevisionQuantization)
	if err != nil {
		return err
	}
	srv, err := newSpiceDBServer(ctx, ds, key, true, "8MiB")
	if err != nil {
		_ = ds.Close()
		return err
	}
	e.side.ds, e.side.done = ds, make(chan error, 1)
	go func() { e.side.done <- srv.Run(runCtx) }()
	conn, err := srv.NewClient(grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer(key)))
	if err != nil {
		return fmt.Errorf("authz: connecting to the cache's SpiceDB: %w", err)
	}
	e.side.conn = conn
	e.side.perms = v1.NewPermissionsServiceClient(conn)
	e.side.schema = v1.NewSchemaServiceClient(conn)
	e.side.watch = v1.NewWatchServiceClient(conn)
	return nil
}

func (e *Engine) closeSide() {
	if e.side.ds == nil {
		return
	}
	if e.side.conn != nil {
		_ = e.side.conn.Close()
	}
	select {
	case <-e.side.done:
	case <-time.After(10 * time.Second):
	}
	_ = e.side.ds.Close()
}

// sideHeadToken returns a token for the newest revision, read through the
// side clients.
func (e *Engine) sideHeadToken(ctx context.Context) (Token, error) {
	return headTokenVia(ctx, e.side.perms)
}

// headTokenVia returns a token for the newest revision, read through perms.
func headTokenVia(ctx context.Context, perms v1.PermissionsServiceClient) (Token, error) {
	resp, err := perms.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
		Consistency:        FullyConsistent().proto(),
		RelationshipFilter: &v1.RelationshipFilter{ResourceType: nexus.TypeUser},
		OptionalLimit:      1,
	})
	if err != nil {
		return "", wrapErr("head revision", err)
	}
	defer func() {
		for {
			if _, err := resp.Recv(); err != nil {
				return
			}
		}
	}()
	r, err := resp.Recv()
	if err == nil {
		return Token(r.GetReadAt().GetToken()), nil
	}
	if errors.Is(err, io.EOF) {
		// No user relationships: ask a check, which always carries a token.
		c, err := perms.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: FullyConsistent().proto(),
			Resource:    &v1.ObjectReference{ObjectType: nexus.TypeZone, ObjectId: "none"},
			Permission:  nexus.PermAccess,
			Subject:     &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: nexus.TypeUser, ObjectId: "none"}},
		})
		if err != nil {
			return "", wrapErr("head revision", err)
		}
		return Token(c.GetCheckedAt().GetToken()), nil
	}
	return "", wrapErr("head revision", err)
}
