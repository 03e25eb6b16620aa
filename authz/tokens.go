package authz

import (
	"context"
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/zedtoken"

	"github.com/nexus-authz/nexus/storage/postgres"
)

type revisionHolder interface {
	UniqueID(context.Context) (string, error)
	RevisionFromString(string) (datastore.Revision, error)
	HeadRevision(context.Context) (datastore.RevisionWithSchemaHash, error)
}

// ValidateToken checks a consistency token a client sent: its WAL position
// suffix (ParseToken), that its ZedToken part decodes, and that it is not
// newer than the engine's data (SpiceDB would answer such a read with an
// error that names neither the token nor the cause). A token from another
// datastore (from before a restart of the embedded default) is valid: the
// engine's start-up floor is newer than it, and Newest ignores it. Errors
// wrap ErrBadToken and say what is wrong.
func (e *Engine) ValidateToken(ctx context.Context, t Token) error {
	if _, err := ParseToken(string(t)); err != nil {
		return err
	}
	z := t.Zed()
	if z == "" {
		return nil
	}
	d, err := zedtoken.DecodeRevision(&v1.ZedToken{Token: string(z)}, e.revs)
	if err != nil {
		return fmt.Errorf("%w: %q is not a token this server issued", ErrBadToken, z)
	}
	if d.Status != zedtoken.StatusValid {
		return nil
	}
	head, err := e.revs.HeadRevision(ctx)
	if err != nil {
		return err
	}
	if d.Revision.GreaterThan(head.Revision) {
		return fmt.Errorf("%w: %q is newer than any write this server has seen (a token from another installation?)", ErrBadToken, z)
	}
	return nil
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
