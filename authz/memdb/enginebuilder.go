package memdb

import (
	"context"
	"errors"

	datastorecfg "github.com/authzed/spicedb/pkg/cmd/datastore/dsconfig"
	"github.com/authzed/spicedb/pkg/datastore"
	log "github.com/nexus-authz/nexus/authz/memdb/internal/logging"
)

// nexus: registered under its own name (upstream: Engine, "memory") so that
// linking this fork does not replace SpiceDB's own in-memory engine.
const NexusEngine = "nexus-memory"

func init() {
	datastorecfg.RegisterEngine(NexusEngine, newDatastoreFromConfig) // nexus: was Engine
}

func newDatastoreFromConfig(_ context.Context, opts datastorecfg.Config) (datastore.Datastore, error) {
	if len(opts.ReadReplicaURIs) > 0 {
		return nil, errors.New("read replicas are not supported for the in-memory datastore engine")
	}

	log.Warn().Msg("in-memory datastore is not persistent and not feasible to run in a high availability fashion")
	return NewMemdbDatastore(opts.WatchBufferLength, opts.RevisionQuantization, opts.GCWindow)
}
