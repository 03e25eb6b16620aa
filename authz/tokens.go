package authz

import (
	"context"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/zedtoken"
)

type revisionHolder interface {
	UniqueID(context.Context) (string, error)
	RevisionFromString(string) (datastore.Revision, error)
}

// Newest returns the freshest of tokens: a read at least as fresh as it is
// at least as fresh as each of them. Tokens this engine cannot decode (from
// before a restart of the embedded default, whose start-up floor is newer
// than all of them) are ignored; "" if none is left.
func (e *Engine) Newest(tokens ...Token) Token {
	var best Token
	var bestRev datastore.Revision
	for _, t := range tokens {
		if t == "" || t == best {
			continue
		}
		d, err := zedtoken.DecodeRevision(&v1.ZedToken{Token: string(t)}, e.revs)
		if err != nil || d.Status != zedtoken.StatusValid {
			continue
		}
		if bestRev == nil || d.Revision.GreaterThan(bestRev) {
			best, bestRev = t, d.Revision
		}
	}
	return best
}
