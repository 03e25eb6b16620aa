package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The peer of api_check_vs_spicedb_server: a standalone SpiceDB server
// binary when one is found (SPICEDB_BIN, else bin/spicedb: built with
// `GOBIN=$(pwd)/bin go install github.com/authzed/spicedb/cmd/spicedb@v1.56.2`),
// as DESIGN.md asks, with its own memory datastore and its defaults; else
// a SpiceDB gRPC server in this process (startSpiceDBForBench).

// spiceDBBinary returns the standalone server's path, or "" if there is none.
func spiceDBBinary() string {
	if p := os.Getenv("SPICEDB_BIN"); p != "" {
		return p
	}
	if p, err := filepath.Abs(filepath.Join("bin", "spicedb")); err == nil {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// startSpiceDBBinary runs `spicedb serve` on a free loopback port with the
// memory datastore, and loads schema and rels through its API. datastore,
// if given, replaces the memory datastore's flags (--datastore-engine
// postgres --datastore-conn-uri ...).
func startSpiceDBBinary(ctx context.Context, bin, schema string, rels []*v1.Relationship, datastore ...string) (string, func(), error) {
	addr, _, stop, err := startSpiceDBProcess(bin, datastore...)
	if err != nil {
		return "", nil, err
	}
	if err := loadPeer(ctx, addr, schema, rels); err != nil {
		stop()
		return "", nil, err
	}
	if err := waitPeerSees(ctx, addr, rels); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// startSpiceDBProcess runs `spicedb serve` on a free loopback port (the
// memory datastore unless datastore gives other flags) and returns its
// address and process id; nothing is loaded.
func startSpiceDBProcess(bin string, datastore ...string) (addr string, pid int, stop func(), err error) {
	if len(datastore) == 0 {
		datastore = []string{"--datastore-engine", "memory"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr = ln.Addr().String()
	ln.Close()
	logf, err := os.CreateTemp("", "nexus-bench-spicedb-*.log")
	if err != nil {
		return "", 0, nil, err
	}
	args := append([]string{"serve", "--grpc-preshared-key", apiSecret}, datastore...)
	cmd := exec.Command(bin, append(args,
		"--telemetry-endpoint=",
		"--grpc-addr", addr,
		"--http-enabled=false",
		"--metrics-enabled=false",
		"--dispatch-cluster-enabled=false",
		"--log-level", "warn",
		"--skip-release-check",
	)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", 0, nil, fmt.Errorf("spicedb binary %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
		os.Remove(logf.Name())
	}
	select {
	case <-exited:
		out, _ := os.ReadFile(logf.Name())
		stop()
		return "", 0, nil, fmt.Errorf("spicedb binary %s exited at start: %s", bin, out)
	case <-time.After(200 * time.Millisecond):
	}
	return addr, cmd.Process.Pid, stop, nil
}

// waitPeerSees waits until a minimize_latency check sees the last direct
// relationship of rels: the server answers such checks at a revision
// quantized to 5 s by default, so right after loading it may still answer
// from before the last writes (mismatches that say nothing about it).
func waitPeerSees(ctx context.Context, addr string, rels []*v1.Relationship) error {
	var last *v1.Relationship
	for _, r := range rels {
		if r.Subject.OptionalRelation == "" {
			last = r
		}
	}
	if last == nil {
		return nil
	}
	c, err := authzed.NewClient(addr, grpcutil.WithInsecureBearerToken(apiSecret), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{Resource: last.Resource, Permission: last.Relation, Subject: last.Subject})
		// Until the quantized revision has the schema, the server answers
		// FailedPrecondition (definition not found).
		if err != nil && status.Code(err) != codes.FailedPrecondition {
			return fmt.Errorf("spicedb: checking the last relationship written: %w", err)
		}
		if err == nil && resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("spicedb: the last relationship written was not visible after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadPeer writes schema and rels to the SpiceDB server at addr, retrying
// the schema while the server comes up.
func loadPeer(ctx context.Context, addr, schema string, rels []*v1.Relationship) error {
	c, err := authzed.NewClient(addr, grpcutil.WithInsecureBearerToken(apiSecret), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; ; i++ {
		_, err = c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: schema})
		if err == nil || i == 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("spicedb: writing the schema: %w", err)
	}
	for off := 0; off < len(rels); off += 1000 {
		batch := rels[off:min(off+1000, len(rels))]
		updates := make([]*v1.RelationshipUpdate, len(batch))
		for i, r := range batch {
			updates[i] = &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r}
		}
		if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates}); err != nil {
			return fmt.Errorf("spicedb: writing relationships: %w", err)
		}
	}
	return nil
}
