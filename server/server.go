// Package server wires Nexus together: the data dir and its lock, the
// SQLite store, the embedded authz engine, the capabilities, and one HTTP
// port serving Connect, gRPC and gRPC-web (HTTP/1.1 and h2c), CORS, health
// and metrics. It decides nothing itself.
package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server/mcp"
	"github.com/nexus-authz/nexus/server/rpc"
	"github.com/nexus-authz/nexus/server/spiceapi"
	"github.com/nexus-authz/nexus/server/web"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// Config configures a Server.
type Config struct {
	// DataDir holds the SQLite file, the lock and admin.key; with Postgres,
	// only the lock and admin.key.
	DataDir string
	// Postgres, if set, is production mode: the URL of the PostgreSQL
	// primary, migrated by `nexus migrate`. PostgresReplicas are read
	// replicas, given to SpiceDB's datastore.
	Postgres         string
	PostgresReplicas []string
	// MaxReplicaLag: a replica further behind serves none of our reads
	// (zero: postgres.DefaultMaxReplicaLag).
	MaxReplicaLag time.Duration
	// SpiceDBPostgres is the URL SpiceDB's datastore uses; empty derives it
	// from Postgres with search_path=spicedb. Through PgBouncer 1.18, which
	// refuses a search_path startup parameter, point it at a PgBouncer
	// database whose connect_query sets the search path (deploy/pgbouncer.ini).
	SpiceDBPostgres string
	// Addr is the host:port to listen on.
	Addr string
	// AllowedOrigins are the browser origins allowed by CORS ("*" for any);
	// none (the default) means no CORS: browsers on other origins are refused.
	AllowedOrigins []string
	// MaxRequestBytes bounds a request message. Zero means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxUnaryBytes bounds one Write, Read or upload chunk; MaxFileBytes one
	// file. Zero means the file plane's defaults (16 MiB, 5 GiB).
	MaxUnaryBytes, MaxFileBytes int64
	// RevisionQuantization is passed to authz (zero: its default).
	RevisionQuantization time.Duration
	// Cache configures authz's decision cache (zero: its defaults, on).
	Cache authz.CacheConfig
	// Admission bounds the engine work in flight (zero: its defaults).
	Admission authz.AdmissionConfig
	// WriteGroup is how many concurrent relationship writes share one
	// commit of the embedded default's log (zero: authz.DefaultWriteGroup;
	// 1: each on its own).
	WriteGroup int
	// LinkLimits bound failed attempts on share links (zero: sharing's
	// defaults, 5 per minute per link and per address).
	LinkLimits sharing.Limits
	// TrustedProxies are the load balancers whose X-Forwarded-For names a
	// share link's client (see rpc.ParseTrustedProxies).
	TrustedProxies []netip.Prefix
	// Logger receives the server's logs.
	Logger *slog.Logger
}

// DefaultMaxRequestBytes is the default bound on one request message.
const DefaultMaxRequestBytes = 16 << 20

// AdminKeyFile is the file, in the data dir, the first start writes the
// admin's API key to.
const AdminKeyFile = "admin.key"

// Server is a running Nexus.
type Server struct {
	cfg    Config
	log    *slog.Logger
	unlock func()
	db     *sql.DB
	// reads is db, or on PostgreSQL the router over the primary and its
	// replicas: what the services read and write through.
	reads    storage.DB
	router   *postgres.Router
	engine   *authz.Engine
	identity *identity.Service
	content  *content.Store
	tree     *paths.Tree
	files    *files.Service
	sharing  *sharing.Service
	indexer  *search.Indexer
	search   *search.Service
	memory   *memory.Service
	registry *prometheus.Registry
	// production mode: the replicas' pools and the router probing them
	replicas   []*sql.DB
	stopRouter context.CancelFunc
	handler    http.Handler
	mcp        *mcp.HTTPHandler
}

// Open prepares everything but the listener: the data dir and its lock, the
// database and its migrations, the engine rebuilt from its log, and the
// first start's zone, admin and key.
func Open(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBytes == 0 {
		// A full unary write plus its envelope.
		cfg.MaxRequestBytes = max(DefaultMaxRequestBytes, cfg.MaxUnaryBytes) + 1<<20
	}
	s := &Server{cfg: cfg, log: cfg.Logger, registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())

	if s.unlock, err = prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	var chunks content.ChunkStore
	if cfg.Postgres != "" {
		chunks, err = s.openPostgres(ctx)
	} else {
		chunks, err = s.openSQLite(ctx)
	}
	if err != nil {
		return nil, err
	}
	if s.reads == nil {
		s.reads = s.db
	}
	s.identity = identity.NewService(s.reads, identity.SQLStore{}, s.engine, s.log)
	if cfg.Postgres != "" {
		s.identity.SharedStore() // other nodes may revoke keys
	}

	s.content = content.NewStore(s.reads, chunks)
	if cfg.Postgres != "" {
		s.content.WithGCLock(content.PostgresGCLock)
	}
	s.tree = paths.NewTree(s.reads, paths.SQLStore{}, s.engine, s.log)
	limits := files.DefaultLimits
	if cfg.MaxUnaryBytes > 0 {
		limits.MaxUnaryBytes = cfg.MaxUnaryBytes
	}
	if cfg.MaxFileBytes > 0 {
		limits.MaxFileBytes = cfg.MaxFileBytes
	}
	// Search and memory: FTS5 on SQLite, tsvector on PostgreSQL.
	var searchStore search.Store = search.SQLStore{}
	var memoryStore memory.Store = memory.SQLStore{}
	if cfg.Postgres != "" {
		searchStore, memoryStore = search.PGStore{}, memory.PGStore{}
	}
	s.indexer = search.NewIndexer(s.db, searchStore, paths.SQLStore{}, s.content, 0, s.log)
	if s.files, err = files.New(ctx, files.Config{
		DB: s.reads, Tree: s.tree, Versions: versions.SQLStore{}, Content: s.content, Engine: s.engine,
		Fresh: s.identity.MembershipToken, Limits: limits, Log: s.log, OnChange: s.indexer.Enqueue,
	}); err != nil {
		return nil, err
	}
	s.search = search.NewService(s.reads, searchStore, s.indexer, s.tree, s.engine, s.identity.MembershipToken)
	s.memory = memory.NewService(s.reads, memoryStore, s.engine, s.identity.MembershipToken)

	s.sharing = sharing.New(sharing.Config{
		DB: s.reads, Store: sharing.SQLStore{}, Tree: s.tree, Files: s.files, Engine: s.engine,
		Directory: s.identity, Fresh: s.identity.MembershipToken, Limits: cfg.LinkLimits, Log: s.log,
	})

	keyPath := filepath.Join(cfg.DataDir, AdminKeyFile)
	if abs, err := filepath.Abs(keyPath); err == nil {
		keyPath = abs
	}
	wrote := false
	created, err := s.identity.Bootstrap(ctx, func(secret string) error {
		wrote = true
		return writeFileAtomic(keyPath, []byte(secret+"\n"), 0o600)
	})
	if wrote && !created {
		// Another node on the same database bootstrapped first (production
		// mode): the key written here was never stored.
		_ = os.Remove(keyPath)
	}
	if err != nil {
		return nil, err
	}
	if created {
		s.log.Info("first start: created zone \"default\" and its admin; the admin's API key is in "+keyPath,
			"admin_key_file", keyPath)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler is the whole HTTP surface, for in-memory tests.
func (s *Server) Handler() http.Handler { return s.handler }

// Engine is the authz engine.
func (s *Server) Engine() *authz.Engine { return s.engine }

// Identity is the identity service.
func (s *Server) Identity() *identity.Service { return s.identity }

// routing is the interceptor that routes each call's reads (see
// rpc.NewRoutingInterceptor); on the embedded default it does nothing.
func (s *Server) routing() connect.Interceptor {
	if s.router == nil {
		return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc { return next })
	}
	return rpc.NewRoutingInterceptor(func(ctx context.Context) (postgres.LSN, error) {
		return authz.CurrentLSN(ctx, s.db)
	}, s.log)
}

// Router is the PostgreSQL read router (nil on the embedded default).
func (s *Server) Router() *postgres.Router { return s.router }

func (s *Server) routes() http.Handler {
	metrics := rpc.NewMetrics(s.registry)
	opts := []connect.HandlerOption{
		connect.WithInterceptors(
			rpc.NewObserveInterceptor(metrics, s.log),
			rpc.NewRequestInterceptor(),
			s.routing(),
			rpc.NewAuthInterceptor(s.identity, s.log, rpc.AnonymousSharingProcedures...),
			rpc.NewConsistencyInterceptor(s.engine.ValidateToken, s.log),
			rpc.NewErrorInterceptor(s.log),
		),
		connect.WithReadMaxBytes(int(s.cfg.MaxRequestBytes)),
		rpc.WithBoundedGzip(s.cfg.MaxRequestBytes),
	}
	mux := http.NewServeMux()
	mux.Handle(nexusv1connect.NewIdentityServiceHandler(rpc.NewIdentityHandler(s.identity, s.files), opts...))
	fh := rpc.NewFilesHandler(s.files, s.identity)
	mux.Handle(nexusv1connect.NewFileServiceHandler(fh, opts...))
	mux.Handle(nexusv1connect.NewShareServiceHandler(rpc.NewSharingHandler(s.sharing, s.identity, fh, s.cfg.TrustedProxies), opts...))
	mux.Handle(nexusv1connect.NewSearchServiceHandler(rpc.NewSearchHandler(s.search, fh), opts...))
	mux.Handle(nexusv1connect.NewMemoryServiceHandler(rpc.NewMemoryHandler(s.memory, s.identity), opts...))
	// The SpiceDB API, for other services: service keys only (spiceapi
	// authenticates them itself, streams included).
	spiceapi.New(s.engine, s.identity, s.log).Mount(mux,
		connect.WithInterceptors(rpc.NewObserveInterceptor(metrics, s.log), rpc.NewRequestInterceptor()),
		connect.WithReadMaxBytes(int(s.cfg.MaxRequestBytes)),
		rpc.WithBoundedGzip(s.cfg.MaxRequestBytes),
		// Decisions are a few bytes: compressing them costs more than it saves.
		connect.WithCompressMinBytes(1024),
	)
	// MCP for agents: tools that call the handlers above in process, with
	// the caller's key.
	s.mcp = mcp.NewHTTPHandler(mcp.HTTPConfig{API: mux, Auth: s.identity, MaxRequestBytes: s.cfg.MaxRequestBytes})
	mux.Handle("/mcp", s.mcp)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	// The console, at / (whatever no other route takes; it answers GET and
	// HEAD only).
	mux.Handle("/", web.Handler())

	return withCORS(mux, s.cfg.AllowedOrigins)
}

// withCORS lets the browser origins in allowed (or any, for "*") call the
// API. With none configured there is no CORS at all: rs/cors reads an empty
// list as "every origin". The operators' endpoints (metrics, health) never
// answer other origins.
func withCORS(h http.Handler, allowed []string) http.Handler {
	if len(allowed) == 0 {
		return h
	}
	api := cors.New(cors.Options{
		AllowedOrigins: allowed,
		AllowedMethods: append(connectcors.AllowedMethods(), http.MethodDelete), // DELETE ends an MCP session
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-Id"),
		ExposedHeaders: append(connectcors.ExposedHeaders(), "Mcp-Session-Id"),
		MaxAge:         7200,
	}).Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics", "/healthz", "/readyz":
			h.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// ready answers 200 when the database and the engine answer.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if _, err := s.engine.Check(ctx, authz.CheckItem{
		Resource: authz.Obj(nexus.TypeZone, "readyz"), Permission: nexus.PermAccess, Subject: authz.Subject(nexus.TypeUser, "readyz"),
	}, authz.MinimizeLatency()); err != nil {
		http.Error(w, "authz engine: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// Listen opens the listener, saying clearly when the port is taken.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("cannot listen on %s: the address is already in use (another nexus?); pass another --addr", addr)
		}
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is done, then shuts down gracefully:
// in-flight requests finish (up to 30 s) and the store closes cleanly.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.mcp.Close) // MCP event streams would hold Shutdown open
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	maintCtx, stopMaint := context.WithCancel(ctx)
	defer stopMaint()
	go s.maintain(maintCtx)
	swept := make(chan struct{})
	go func() { defer close(swept); s.sweepOrphans(maintCtx) }()
	defer func() { stopMaint(); <-swept }()
	// The search index catches up with changes queued before a crash, then
	// follows every change.
	go s.indexer.Run(maintCtx, time.Second)
	s.log.Info("nexus serving", "version", Version(), "addr", "http://"+ln.Addr().String(), "data_dir", s.cfg.DataDir,
		"allowed_origins", strings.Join(s.cfg.AllowedOrigins, ","))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases everything Open took. It is safe to call more than once.
func (s *Server) Close() error {
	if s.stopRouter != nil {
		s.stopRouter()
		s.stopRouter = nil
	}
	for _, r := range s.replicas {
		r.Close()
	}
	s.replicas = nil
	if s.engine != nil {
		s.engine.Close()
		s.engine = nil
	}
	var err error
	if s.db != nil {
		err = s.db.Close()
		s.db = nil
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
	return err
}

// sweepOrphans removes, once the server serves, the relationships of
// entries a crash left deleted in the middle of a recursive delete (on
// PostgreSQL the outbox applies a recursive delete's relationships with
// it, so there is nothing to sweep). Serving meanwhile is safe: an entry's
// id is 128 random bits, never given again, so such relationships name
// nothing anyone can reach; and the sweep reads the tree and the
// relationships of a whole restart's data (half a second at 100,000
// entries), which a start need not wait for.
func (s *Server) sweepOrphans(ctx context.Context) {
	if s.cfg.Postgres != "" {
		return
	}
	n, err := s.tree.SweepOrphans(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("could not sweep the relationships of entries deleted before a crash; the next start tries again", "err", err)
	case n > 0:
		s.log.Info("removed relationships of entries deleted before a crash", "entries", n)
	}
}

// ContentGCGrace is how long fresh content is safe from the collector: a
// writer must record the content it wrote within it.
const ContentGCGrace = time.Hour

// maintain expires upload sessions and memories and collects unreferenced
// content, every hour, until ctx is done.
func (s *Server) maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.files.ExpireUploads(ctx); err != nil {
			s.log.Warn("expiring uploads", "err", err)
		} else if n > 0 {
			s.log.Info("expired upload sessions", "count", n)
		}
		if n, err := s.memory.Sweep(ctx); err != nil {
			s.log.Warn("sweeping expired memories", "err", err)
		} else if n > 0 {
			s.log.Info("deleted expired memories", "count", n)
		}
		st, err := s.content.GC(ctx, ContentGCGrace, s.files.Referencers()...)
		if err != nil {
			s.log.Warn("content gc", "err", err)
			continue
		}
		s.log.Info("content gc", "stats", fmt.Sprintf("%+v", st))
	}
}

// Files is the file plane.
func (s *Server) Files() *files.Service { return s.files }

// Search is full-text search.
func (s *Server) Search() *search.Service { return s.search }

// Indexer keeps the search index up to date.
func (s *Server) Indexer() *search.Indexer { return s.indexer }

// SQLiteDomains are the domains with tables of their own in the embedded
// default's SQLite file, in the order they are migrated.
func SQLiteDomains() []sqlite.Domain {
	return []sqlite.Domain{
		{Name: "authz", Migrations: authz.SQLiteMigrations()},
		{Name: "identity", Migrations: identity.SQLiteMigrations()},
		{Name: "content", Migrations: content.SQLiteMigrations()},
		{Name: "paths", Migrations: paths.SQLiteMigrations()},
		{Name: "versions", Migrations: versions.SQLiteMigrations()},
		{Name: "files", Migrations: files.SQLiteMigrations()},
		{Name: "sharing", Migrations: sharing.SQLiteMigrations()},
		{Name: "search", Migrations: search.SQLiteMigrations()},
		{Name: "memory", Migrations: memory.SQLiteMigrations()},
	}
}

// SQLiteFile is the name of the embedded default's database in the data dir.
const SQLiteFile = "nexus.db"

// SnapshotFile is the name, in the data dir, of the datastore's snapshot
// a clean close writes, so that the next start need not read the
// relationship log (authz.SQLLog.Snapshot).
const SnapshotFile = "relationships.snapshot"

// BlobsDir is the directory, in the data dir, of the embedded default's
// file content.
const BlobsDir = "blobs"

// openSQLite opens the embedded default: the SQLite file in the data dir
// (migrated here), the engine rebuilt from its relationship log, and chunks
// on local disk.
func (s *Server) openSQLite(ctx context.Context) (content.ChunkStore, error) {
	cfg := s.cfg
	var err error
	dbPath := filepath.Join(cfg.DataDir, SQLiteFile)
	if s.db, err = sqlite.Open(ctx, dbPath); err != nil {
		return nil, err
	}
	if err := sqlite.MigrateAll(ctx, s.db, SQLiteDomains()...); err != nil {
		return nil, err
	}
	if s.engine, err = authz.New(ctx, authz.Config{
		Schema:               nexus.Schema,
		Log:                  &authz.SQLLog{DB: s.db, Snapshot: filepath.Join(cfg.DataDir, SnapshotFile)},
		RevisionQuantization: cfg.RevisionQuantization,
		Cache:                cfg.Cache,
		Admission:            cfg.Admission,
		WriteGroup:           cfg.WriteGroup,
		Logger:               s.log,
		Registerer:           s.registry,
	}); err != nil {
		return nil, err
	}
	chunks, err := content.NewDiskChunks(filepath.Join(cfg.DataDir, BlobsDir))
	if err != nil {
		return nil, fmt.Errorf("data dir %s: blob store: %w", cfg.DataDir, err)
	}
	return chunks, nil
}
