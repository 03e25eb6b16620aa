package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/server/rpc"
	pgstore "github.com/nexus-authz/nexus/storage/postgres"
)

func newServeCmd(stderr io.Writer) *cobra.Command {
	var (
		dataDir, addr, origins, logFormat, logLevel, postgres, trusted string
		spicedbPostgres                                                string
		replicas                                                       []string
		maxRequest, maxUnary, maxFile, cacheMiB                        int64
		engineConc, engineQueue                                        int64
		quantization, staleness, maxLag, engineWait                    time.Duration
		noCache                                                        bool
		maxLagEnvErr                                                   error
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Nexus server",
		Long: `Run the Nexus server on one port: Connect, gRPC and gRPC-web over HTTP/1.1
and h2c, plus /healthz, /readyz and /metrics.

The first start of an empty data dir creates zone "default", its admin user
"admin", and writes the admin's API key to DATA_DIR/admin.key (mode 0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if postgres == "" && (len(replicas) > 0 || spicedbPostgres != "") {
				return errors.New("--postgres-replica and --spicedb-postgres need --postgres (the primary's URL)")
			}
			if !cmd.Flags().Changed("max-replica-lag") && maxLagEnvErr != nil {
				return maxLagEnvErr
			}
			if maxLag <= 0 {
				return fmt.Errorf("--max-replica-lag %s: give a positive duration such as 500ms (how far behind the primary a replica may be and still serve reads)", maxLag)
			}
			proxies, err := rpc.ParseTrustedProxies(trusted)
			if err != nil {
				return fmt.Errorf("--trusted-proxies: %w", err)
			}
			if cacheMiB < 0 || cacheMiB > 1<<20 {
				return fmt.Errorf("--cache-size-mib %d: give a size in MiB from 1 to 1048576, or 0 for the default of %d", cacheMiB, authz.DefaultCacheSizeMiB)
			}
			if staleness < 0 {
				return fmt.Errorf("--cache-staleness %s: give a positive duration such as 1s, or 0 for the default of %s", staleness, authz.DefaultCacheStaleness)
			}
			if engineConc < 0 || engineQueue < 0 || engineWait < 0 {
				return fmt.Errorf("--engine-concurrency %d, --engine-queue %d, --engine-queue-wait %s: give positive numbers, or 0 for the defaults (%d per CPU, %d on PostgreSQL; %d per CPU; %s)",
					engineConc, engineQueue, engineWait, authz.DefaultMaxInFlightPerCPU, authz.DefaultMaxInFlightPerCPUPostgres, authz.DefaultMaxQueuePerCPU, authz.DefaultMaxWait)
			}
			log, err := newLogger(stderr, logFormat, logLevel)
			if err != nil {
				return err
			}
			ln, err := server.Listen(addr)
			if err != nil {
				return err
			}
			defer ln.Close()
			srv, err := server.Open(cmd.Context(), server.Config{
				DataDir:              dataDir,
				Postgres:             postgres,
				PostgresReplicas:     replicas,
				MaxReplicaLag:        maxLag,
				SpiceDBPostgres:      spicedbPostgres,
				Addr:                 addr,
				AllowedOrigins:       splitList(origins),
				MaxRequestBytes:      maxRequest,
				MaxUnaryBytes:        maxUnary,
				MaxFileBytes:         maxFile,
				RevisionQuantization: quantization,
				Cache:                authz.CacheConfig{Disabled: noCache, SizeMiB: int(cacheMiB), Staleness: staleness},
				Admission:            authz.AdmissionConfig{MaxInFlight: int(engineConc), MaxQueue: int(engineQueue), MaxWait: engineWait},
				TrustedProxies:       proxies,
				Logger:               log,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			if err := srv.Serve(cmd.Context(), ln); err != nil {
				return err
			}
			log.Info("stopped cleanly")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", envOr("NEXUS_DATA_DIR", "./nexus-data"), "data directory (env NEXUS_DATA_DIR)")
	f.StringVar(&addr, "addr", envOr("NEXUS_ADDR", "127.0.0.1:8080"), "listen address (env NEXUS_ADDR)")
	f.StringVar(&origins, "allowed-origins", envOr("NEXUS_ALLOWED_ORIGINS", ""), "comma-separated browser origins allowed by CORS, or * (env NEXUS_ALLOWED_ORIGINS)")
	f.StringVar(&logFormat, "log-format", envOr("NEXUS_LOG_FORMAT", "text"), "log format: text or json (env NEXUS_LOG_FORMAT)")
	f.StringVar(&logLevel, "log-level", envOr("NEXUS_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env NEXUS_LOG_LEVEL)")
	f.Int64Var(&maxRequest, "max-request-bytes", envInt("NEXUS_MAX_REQUEST_BYTES", 0), "largest request message in bytes; 0 is the unary limit + 1 MiB (env NEXUS_MAX_REQUEST_BYTES)")
	f.Int64Var(&maxUnary, "max-unary-bytes", envInt("NEXUS_MAX_UNARY_BYTES", 0), "largest Write, Read response or upload chunk; 0 is 16 MiB (env NEXUS_MAX_UNARY_BYTES)")
	f.Int64Var(&maxFile, "max-file-bytes", envInt("NEXUS_MAX_FILE_BYTES", 0), "largest file; 0 is 5 GiB (env NEXUS_MAX_FILE_BYTES)")
	f.DurationVar(&quantization, "revision-quantization", envDuration("NEXUS_REVISION_QUANTIZATION", 0), "window in which minimize_latency reads may share a revision; 0 is the default of 100ms (env NEXUS_REVISION_QUANTIZATION)")
	f.StringVar(&trusted, "trusted-proxies", envOr("NEXUS_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of load balancers whose X-Forwarded-For names the client of a share link (env NEXUS_TRUSTED_PROXIES)")
	f.Int64Var(&cacheMiB, "cache-size-mib", envInt("NEXUS_CACHE_SIZE_MIB", 0), "memory for cached permission decisions, in MiB; 0 is 64 (env NEXUS_CACHE_SIZE_MIB)")
	f.DurationVar(&staleness, "cache-staleness", envDuration("NEXUS_CACHE_STALENESS", 0), "how far behind the newest revision a cached answer without a token may be before the cache stops answering; 0 is 1s (env NEXUS_CACHE_STALENESS)")
	f.Int64Var(&engineConc, "engine-concurrency", envInt("NEXUS_ENGINE_CONCURRENCY", 0), "permission evaluations the engine runs at once (cache misses, bulk checks, lookups); 0 is 2 per CPU, 8 per CPU on PostgreSQL (env NEXUS_ENGINE_CONCURRENCY)")
	f.Int64Var(&engineQueue, "engine-queue", envInt("NEXUS_ENGINE_QUEUE", 0), "evaluations that may wait for the engine; beyond it a call gets resource_exhausted at once; 0 is 256 per CPU (env NEXUS_ENGINE_QUEUE)")
	f.DurationVar(&engineWait, "engine-queue-wait", envDuration("NEXUS_ENGINE_QUEUE_WAIT", 0), "how long an evaluation may wait for the engine before it gets resource_exhausted; 0 is 100ms (env NEXUS_ENGINE_QUEUE_WAIT)")
	f.BoolVar(&noCache, "no-cache", envOr("NEXUS_NO_CACHE", "") == "1" || envOr("NEXUS_NO_CACHE", "") == "true", "turn the permission decision cache off (env NEXUS_NO_CACHE=1)")
	f.StringVar(&postgres, "postgres", envOr("NEXUS_POSTGRES", ""), "PostgreSQL primary URL: production mode, after nexus migrate (env NEXUS_POSTGRES)")
	f.StringVar(&spicedbPostgres, "spicedb-postgres", envOr("NEXUS_SPICEDB_POSTGRES", ""), "URL for SpiceDB's tables; default: --postgres with search_path=spicedb (through PgBouncer, a database whose connect_query sets it; env NEXUS_SPICEDB_POSTGRES)")
	var defLag time.Duration
	defLag, maxLagEnvErr = envDurationStrict("NEXUS_MAX_REPLICA_LAG", pgstore.DefaultMaxReplicaLag)
	f.DurationVar(&maxLag, "max-replica-lag", defLag, "a replica further behind the primary than this serves no reads of our own tables (env NEXUS_MAX_REPLICA_LAG)")
	f.StringArrayVar(&replicas, "postgres-replica", splitList(envOr("NEXUS_POSTGRES_REPLICAS", "")), "PostgreSQL read replica URL, repeatable; SpiceDB reads from it (env NEXUS_POSTGRES_REPLICAS, comma-separated)")
	return cmd
}

func newMigrateCmd() *cobra.Command {
	var postgres string
	cmd := &cobra.Command{
		Use:   "migrate --postgres URL",
		Short: "Migrate a PostgreSQL database (production mode)",
		Args:  cobra.NoArgs,
		Long: `Create or upgrade the tables of production mode in the PostgreSQL database at
URL: Nexus's own (one goose version table per domain, goose_<domain>) and
SpiceDB's (in schema "spicedb"). Run it against the primary directly, not
through PgBouncer, before starting or upgrading the nodes; it is safe to run
again, and concurrent runs wait for each other.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if postgres == "" {
				return errors.New("--postgres URL is required (e.g. postgres://nexus:PASSWORD@db:5432/nexus); the embedded default migrates itself at start")
			}
			if err := server.MigratePostgres(cmd.Context(), postgres); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrated")
			return nil
		},
	}
	cmd.Flags().StringVar(&postgres, "postgres", envOr("NEXUS_POSTGRES", ""), "PostgreSQL URL (env NEXUS_POSTGRES)")
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envInt(key string, def int64) int64 {
	if v := envOr(key, ""); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

// envDurationStrict is envDuration that reports a value that does not
// parse, for the caller to refuse.
func envDurationStrict(key string, def time.Duration) (time.Duration, error) {
	v := envOr(key, "")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q: not a duration; give one such as 500ms", key, v)
	}
	return d, nil
}

func envDuration(key string, def time.Duration) time.Duration {
	if v := envOr(key, ""); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}
