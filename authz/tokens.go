package authz

import (
	"context"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/zedtoken"

	"github.com/nexus-authz/nexus/internal/storage/postgres"
)

type revisionHolder interface {
	UniqueID(context.Context) (string, error)
	RevisionFromString(string) (datastore.Revision, error)
}

// Newest returns the freshest of tokens: a read at least as fresh as it is
// at least as fresh as each of them. Tokens this engine cannot decode (from
// before a restart of the embedded default, whose start-up floor is newer
// than all of them) are ignored; "" if none is left. On PostgreSQL the
// result carries the furthest WAL position of the tokens (lsn_token.go).
func (e *Engine) Newest(tokens ...Token) Token {
	var best Token
	var bestRev datastore.Revision
	var lsn postgres.LSN
	for _, t := range tokens {
		lsn = max(lsn, t.LSN())
		t = t.Zed()
		if t == "" || t == best {
			continue
		}
		rev, ok := e.revision(t)
		if !ok {
			continue
		}
		if bestRev == nil || rev.GreaterThan(bestRev) {
			best, bestRev = t, rev
		}
	}
	return best.WithLSN(lsn)
}

// revision decodes t; ok is false for a token this engine cannot decode.
func (e *Engine) revision(t Token) (datastore.Revision, bool) {
	t = t.Zed()
	if t == "" {
		return nil, false
	}
	d, err := zedtoken.DecodeRevision(&v1.ZedToken{Token: string(t)}, e.revs)
	if err != nil || d.Status != zedtoken.StatusValid {
		return nil, false
	}
	return d.Revision, true
}

// atLeast reports whether revision a includes everything b does.
func atLeast(a, b datastore.Revision) bool { return a.Equal(b) || a.GreaterThan(b) }
