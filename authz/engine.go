package authz

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/cmd/server"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nexus-authz/nexus/authz/memdb"
)

// Config configures an Engine.
type Config struct {
	// Schema is the schema text applied at start (nexus.Schema).
	Schema string

	// Log makes relationships durable. Nil keeps them in memory only, which
	// is for tests.
	Log Log

	// Postgres, if set, puts the engine on SpiceDB's postgres datastore
	// instead of memdb; Log must then be nil.
	Postgres *PostgresConfig

	// RevisionQuantization is the window within which SpiceDB may answer a
	// minimize_latency read at one shared revision. Smaller makes changes
	// visible sooner to callers without a token; larger caches better.
	// Zero means DefaultRevisionQuantization.
	RevisionQuantization time.Duration

	// GCWindow is how long old revisions stay readable (SpiceDB reads at an
	// exact old revision only within one paged call; tokens older than the
	// window still work as at_least_as_fresh). The in-memory datastore keeps
	// a snapshot per write for this long, or until the writes since hold
	// its budget of changed relationships (authz/memdb/nexus_history.go),
	// whichever is sooner. Zero means DefaultGCWindow.
	GCWindow time.Duration

	// Logger receives the engine's own messages. Nil discards them.
	Logger *slog.Logger

	// Registerer receives the engine's metrics. Nil registers none.
	Registerer prometheus.Registerer

	// Cache configures the decision cache in front of the engine.
	Cache CacheConfig

	// Admission bounds the engine work in flight (admission.go).
	Admission AdmissionConfig

	// WriteGroup is how many concurrent writes one commit of the Log may
	// take together on the embedded default (write_group.go); 1 commits
	// each on its own. Zero means DefaultWriteGroup.
	WriteGroup int

	// testClients, in tests, wraps the engine's clients to inject faults.
	testClients func(v1.PermissionsServiceClient, v1.WatchServiceClient) (v1.PermissionsServiceClient, v1.WatchServiceClient)
	// testOtherNode, in tests: the cache treats every write as another
	// node's (none is evicted synchronously; only the watch sees them, and
	// the probe vouches for it), as on PostgreSQL with several nodes.
	testOtherNode bool
}

// DefaultGCWindow keeps a minute of revision history.
const DefaultGCWindow = time.Minute

// DefaultRevisionQuantization bounds how long a change can stay invisible to
// minimize_latency reads of the engine itself.
const DefaultRevisionQuantization = 100 * time.Millisecond

// Engine is an embedded SpiceDB with a durable relationship log. It is safe
// for concurrent use.
type Engine struct {
	log    Log
	logger *slog.Logger
	// outbox, on PostgreSQL, records each write with the caller's rows and
	// applies it to SpiceDB after (outbox.go).
	outbox *outbox

	srv    server.RunnableServer
	revs   revisionHolder // decodes tokens, to compare them
	ds     datastore.Datastore
	conn   *grpc.ClientConn
	perms  v1.PermissionsServiceClient
	schema v1.SchemaServiceClient
	watch  v1.WatchServiceClient

	// writeMu serializes writes so the log and the datastore see them in
	// the same order.
	writeMu sync.Mutex
	// loaded is set once the datastore holds the whole log: only then may
	// a close write its snapshot (snapshot.go).
	loaded bool
	// groups queues writes for group commits of the log (write_group.go).
	groups *writeGroups

	// side is what the decision cache reads through: its watch, its probe
	// and its eviction reads. On PostgreSQL it is a SpiceDB of its own
	// over a small pool of its own (side.go), so the cache never waits
	// behind the misses it exists to spare; otherwise the engine's.
	side sideClients

	metrics   *metrics
	cache     *cache // nil when disabled
	admission *admission

	// base is Config.Schema: Nexus's own definitions, named in own.
	base string
	own  map[string]bool

	// floor is the revision at which start-up finished (schema applied,
	// relationships rebuilt). minimize_latency reads are served at least
	// this fresh: the engine's quantized revision could otherwise predate
	// start-up and see an empty datastore.
	floor Token

	// lsnDB is the primary on PostgreSQL, whose WAL position after a write
	// the write's token carries (stamp); nil on the embedded default.
	lsnDB *sql.DB

	cancel context.CancelFunc
	done   chan error
	closed sync.Once
}

var quietOnce sync.Once

// quiet turns SpiceDB's info-level chatter off: it logs through zerolog,
// and its messages are not ours.
func quiet() {
	quietOnce.Do(func() { zerolog.SetGlobalLevel(zerolog.WarnLevel) })
}

// New starts an embedded SpiceDB, rebuilds its relationships from cfg.Log,
// and applies cfg.Schema. A schema the engine rejects fails New with the
// engine's message, which names the line.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	quiet()
	if cfg.RevisionQuantization == 0 {
		cfg.RevisionQuantization = DefaultRevisionQuantization
	}
	if cfg.GCWindow == 0 {
		cfg.GCWindow = DefaultGCWindow
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	var ds datastore.Datastore
	var err error
	if pc := cfg.Postgres; pc != nil {
		if cfg.Log != nil || pc.DB == nil {
			return nil, errors.New("authz: on PostgreSQL the engine takes Postgres.DB and no Log")
		}
		if ds, err = newPostgresDatastore(ctx, pc, cfg.RevisionQuantization); err != nil {
			return nil, err
		}
		if len(pc.ReplicaURLs) > 0 {
			// Checks keep being answered from the replicas while the
			// primary is down (replica_revisions.go).
			ds = &revisionFallback{Datastore: ds, replicas: replicaRevisionSources(ctx, pc.ReplicaURLs, cfg.RevisionQuantization, logger), logger: logger}
		}
	} else {
		// Our fork of SpiceDB's in-memory datastore (authz/memdb), which
		// looks relationships up by resource and subject id instead of
		// scanning.
		if ds, err = memdb.NewMemdbDatastore(1024, cfg.RevisionQuantization, cfg.GCWindow); err != nil {
			return nil, fmt.Errorf("authz: creating datastore: %w", err)
		}
	}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	presharedKey := hex.EncodeToString(key)

	srv, err := newSpiceDBServer(ctx, ds, presharedKey, cfg.Postgres != nil, "256MiB")
	if err != nil {
		_ = ds.Close()
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		log:     cfg.Log,
		logger:  logger,
		srv:     srv,
		metrics: newMetrics(cfg.Registerer),
		groups:  newWriteGroups(cfg.WriteGroup, cfg.Registerer),
		// Start-up's own engine calls (the schema, the log) run before
		// anyone else's, unbounded.
		revs:   ds,
		ds:     ds,
		cancel: cancel,
		done:   make(chan error, 1),
		base:   cfg.Schema,
	}
	if cfg.Postgres != nil {
		e.outbox = newOutbox(cfg.Postgres.DB, e, cfg.Registerer)
		e.lsnDB = cfg.Postgres.DB
	}
	go func() { e.done <- srv.Run(runCtx) }()

	conn, err := srv.NewClient(
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(presharedKey)),
	)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("authz: connecting to SpiceDB: %w", err)
	}
	e.conn = conn
	e.perms = v1.NewPermissionsServiceClient(conn)
	e.schema = v1.NewSchemaServiceClient(conn)
	e.watch = v1.NewWatchServiceClient(conn)
	if cfg.testClients != nil {
		e.perms, e.watch = cfg.testClients(e.perms, e.watch)
	}
	e.side = sideClients{perms: e.perms, schema: e.schema, watch: e.watch}
	if cfg.Postgres != nil {
		if err := e.openSide(ctx, runCtx, cfg, presharedKey); err != nil {
			e.Close()
			return nil, err
		}
		if cfg.testClients != nil {
			e.side.perms, e.side.watch = cfg.testClients(e.side.perms, e.side.watch)
		}
	}

	if err := e.applySchema(ctx, cfg.Schema); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.rebuild(ctx); err != nil {
		e.Close()
		return nil, err
	}
	if e.outbox != nil {
		// Writes a crash left half done, before anyone reads.
		if _, err := e.outbox.drain(ctx, 0, nil); err != nil {
			e.Close()
			return nil, fmt.Errorf("authz: applying the writes a crash left pending: %w", err)
		}
		if err := e.outbox.pruneNodes(ctx); err != nil {
			e.logger.Warn("authz: cannot prune the rows of nodes gone; the decision cache may wait for every change SpiceDB committed more often", "err", err)
		}
		go e.outbox.replay(runCtx)
	}
	if e.floor, err = e.headToken(ctx); err != nil {
		e.Close()
		return nil, err
	}
	e.admission = newAdmission(cfg.Admission, cfg.Postgres != nil, cfg.Registerer)
	if !cfg.Cache.Disabled {
		m := newCacheMetrics()
		if e.cache, err = newCache(e, cfg.Cache, m); err != nil {
			e.Close()
			return nil, err
		}
		if cfg.testOtherNode {
			e.cache.soleWriter, e.cache.othersOnly = false, true
		}
		m.register(cfg.Registerer, e.cache)
		e.cache.start(runCtx)
	}
	return e, nil
}

// Close stops the engine. It does not close the log.
func (e *Engine) Close() error {
	e.closed.Do(func() {
		if l, ok := e.log.(*SQLLog); ok && l.Snapshot != "" && e.loaded {
			e.saveSnapshot(l) // while SpiceDB still answers, for the schema
		}
		if e.outbox != nil {
			// A row left pending puts every other node's cache on the
			// slower probe, for every change SpiceDB committed, until it is
			// pruned (node_writes.go).
			// At most 5 s: the lock's transaction begins whatever its
			// context, and the database may be gone.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			settled := make(chan error, 1)
			go func() { settled <- e.outbox.settle(ctx, true) }()
			var err error
			select {
			case err = <-settled:
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				e.logger.Warn("authz: cannot settle this node's announced writes at close; other nodes' caches wait for every change SpiceDB committed until its row is pruned", "err", err)
			}
			cancel()
		}
		e.cancel()
		if e.cache != nil {
			e.cache.close()
		}
		if e.conn != nil {
			_ = e.conn.Close()
		}
		e.closeSide()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
		}

		// SpiceDB does not close a datastore it was handed.
		if e.ds != nil {
			_ = e.ds.Close()
		}
	})
	return nil
}

// Conn returns the in-process gRPC connection to SpiceDB, for serving the
// SpiceDB API to other services.
func (e *Engine) Conn() *grpc.ClientConn { return e.conn }

// ErrSchema wraps a schema the engine rejected.
var ErrSchema = errors.New("schema rejected")

// applySchema writes Nexus's definitions (schema) and keeps every other
// definition: those of the engine's current schema and, with a SchemaLog,
// those of the schema last written through WriteSchema.
func (e *Engine) applySchema(ctx context.Context, schema string) error {
	if schema == "" {
		return fmt.Errorf("authz: %w: the schema is empty", ErrSchema)
	}
	own, err := definitionNames(schema)
	if err != nil {
		return fmt.Errorf("authz: %w: %s%s", ErrSchema, err, schemaLine(schema, err.Error()))
	}
	e.own = own
	cur, err := e.currentSchema(ctx)
	if err != nil {
		return err
	}
	var stored string
	if sl, ok := e.log.(SchemaLog); ok {
		if stored, err = sl.LoadSchema(ctx); err != nil {
			return fmt.Errorf("authz: reading the stored schema: %w", err)
		}
	}
	merged, kept, err := mergedSchema(ctx, schema, cur, stored)
	if err != nil {
		return err
	}
	if cur == merged {
		return nil
	}
	if _, err := e.writeSchemaText(ctx, merged); err != nil {
		msg := grpcMessage(err)
		if len(kept) > 0 {
			return fmt.Errorf("authz: %w: Nexus's schema with the definitions others added (%s): %s%s",
				ErrSchema, strings.Join(kept, ", "), msg, schemaLine(merged, msg))
		}
		return fmt.Errorf("authz: %w: %s%s", ErrSchema, msg, schemaLine(schema, msg))
	}
	if len(kept) > 0 {
		e.logger.Info("authz: schema applied, keeping the definitions others added", "definitions", strings.Join(kept, ","))
	}
	return nil
}

var quotedRE = regexp.MustCompile("`([^`]+)`")

// schemaLine finds the schema line an engine message is about, when the
// message does not say: the first line that names the first quoted name.
func schemaLine(schema, msg string) string {
	if strings.Contains(msg, "line ") {
		return ""
	}
	for _, m := range quotedRE.FindAllStringSubmatch(msg, -1) {
		word := regexp.MustCompile(`(^|[^A-Za-z0-9_/])` + regexp.QuoteMeta(m[1]) + `($|[^A-Za-z0-9_])`)
		for i, line := range strings.Split(schema, "\n") {
			if word.MatchString(line) {
				return fmt.Sprintf(" (line %d: %s)", i+1, strings.TrimSpace(line))
			}
		}
	}
	return ""
}

// startGCPercent is GOGC while the log is loaded at start.
const startGCPercent = 400

// loadingGC counts the loads under way (several engines may start at once
// in one process, in tests), so that the last one to end puts back the
// GOGC the first one found.
var loadingGC struct {
	sync.Mutex
	loads, was int
}

// collectLessWhileLoading sets GOGC to startGCPercent until the returned
// function is called.
func collectLessWhileLoading() (done func()) {
	loadingGC.Lock()
	if loadingGC.loads == 0 {
		loadingGC.was = debug.SetGCPercent(startGCPercent)
	}
	loadingGC.loads++
	loadingGC.Unlock()
	return func() {
		loadingGC.Lock()
		defer loadingGC.Unlock()
		if loadingGC.loads--; loadingGC.loads == 0 {
			debug.SetGCPercent(loadingGC.was)
		}
	}
}

// rebuild loads the log into the datastore: all of it in one datastore
// transaction, so that no tree node is copied twice (a transaction per
// batch copied the nodes each batch touched again, most of a restart's time
// at a million relationships). If the schema refuses a row, the log is
// loaded again a batch at a time, for SpiceDB's own error.
func (e *Engine) rebuild(ctx context.Context) error {
	if e.log == nil {
		return nil
	}
	start := time.Now()
	// The load allocates the datastore's whole heap at once, and the
	// collector, run at every doubling of the heap on the way, took a
	// quarter of a start's CPU at a million relationships. Nothing else
	// runs yet: collect at every fifth-fold instead, then as before.
	defer collectLessWhileLoading()()
	if l, ok := e.log.(*SQLLog); ok && l.Snapshot != "" {
		if n, ok := e.loadSnapshot(ctx, l); ok {
			e.loaded = true
			e.logger.Info("authz: relationships loaded from the datastore's snapshot", "count", n, "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
	}
	n, err := e.loadLog(ctx)
	if errors.Is(err, errNotDirect) {
		n = 0
		err = e.log.Load(ctx, func(rels []Relationship) error {
			n += len(rels)
			return e.loadRelationships(ctx, rels)
		})
	}
	if err != nil {
		return fmt.Errorf("authz: rebuilding from the relationship log: %w", err)
	}
	e.loaded = true
	e.logger.Info("authz: relationships loaded from the log", "count", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// cons turns c into the engine's consistency, raising minimize_latency,
// and at_least_as_fresh with a token older than start-up, to the start-up
// floor. SpiceDB serves at_least_as_fresh at the newer of the token and its
// quantized revision, and for a token from before start-up (a file's stored
// token from before a restart of the embedded default, or one a client made
// up) that quantized revision can predate start-up too: an empty datastore
// without the schema, whose every check fails ("object definition not
// found"). Found by FuzzValidateToken.
func (e *Engine) cons(c Consistency) *v1.Consistency {
	switch {
	case e.floor == "":
	case c.kind == minimizeLatency:
		return AtLeastAsFresh(e.floor).proto()
	case c.kind == atLeastAsFresh:
		return AtLeastAsFresh(e.Newest(c.token, e.floor)).proto()
	}
	return c.proto()
}

// ProtoConsistency is c as the engine's API takes it, minimize_latency
// raised to the start-up floor: for calls made straight through Conn().
func (e *Engine) ProtoConsistency(c Consistency) *v1.Consistency { return e.cons(c) }

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
