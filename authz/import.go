package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/tuple"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Bulk import: SpiceDB's ImportBulkRelationships, for loading a service's
// relationships or restoring an export. As SpiceDB's, an import creates
// relationships (one that exists already fails it) and is atomic: if it
// fails, none of it stays.
//
// On the embedded default the import is one transaction of the log (one
// commit, one fsync, rows inserted a hundred at a time), and its
// relationships reach the datastore a thousand at a time, as they are
// recorded, so it streams: nothing holds the whole import. Readers may see
// an import's relationships before it ends; if it fails they are taken
// back, as a failed group commit's are. Other writes wait until it ends.
//
// On PostgreSQL (and without a log) SpiceDB imports them itself in one
// datastore transaction, under the outbox lock as a direct write is.

// ImportSource yields an import's relationships a batch at a time, and
// io.EOF after the last.
type ImportSource func() ([]Relationship, error)

// errExists is SpiceDB's answer to an import of a relationship that
// exists already, or that the import names twice.
func errExists(r Relationship) error {
	return newEngineError("import relationships", ErrInvalid, status.New(codes.AlreadyExists, fmt.Sprintf(
		"could not CREATE relationship `%s`, as it already existed. "+
			"If this is persistent, please switch to TOUCH operations or specify a precondition", r)))
}

// Import creates every relationship next yields, atomically, and returns
// how many and a token at which all of them are seen.
func (e *Engine) Import(ctx context.Context, next ImportSource) (int, Token, error) {
	start := time.Now()
	valid := func() ([]Relationship, error) {
		rels, err := next()
		if err != nil {
			return nil, err
		}
		for _, r := range rels {
			if err := validateUpdate(TouchRel(r)); err != nil {
				return nil, err
			}
		}
		return rels, nil
	}
	var n int
	var tok Token
	var err error
	switch {
	case e.log != nil && e.outbox == nil:
		n, tok, err = e.importLogged(ctx, valid)
	case e.outbox != nil:
		tok, err = e.outbox.underLock(ctx, nil, func(context.Context) (Token, error) {
			// The caller's context: if it goes, SpiceDB's import is
			// abandoned whole, and nothing needs to commit.
			var err error
			n, err = e.importSpiceDB(ctx, valid)
			if err != nil {
				return "", err
			}
			return e.headToken(ctx)
		})
		tok, err = e.stamp(ctx, tok, err)
	default:
		e.writeMu.Lock()
		defer e.writeMu.Unlock()
		if n, err = e.importSpiceDB(ctx, valid); err == nil {
			tok, err = e.headToken(ctx)
		}
	}
	if err != nil {
		n, tok = 0, ""
	} else if e.log == nil {
		e.wroteMany(tok)
	} // else applyImported has, after each part
	e.metrics.observe("import", start, n, err)
	return n, tok, err
}

// importLogged imports into the log and the datastore (the embedded
// default).
func (e *Engine) importLogged(ctx context.Context, next ImportSource) (int, Token, error) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	var applied [][]Update
	var n int
	var tok Token
	err := e.log.Import(ctx, next, func(rels []Relationship) error {
		for len(rels) > 0 {
			chunk := rels[:min(len(rels), maxUpdatesPerWrite)]
			rels = rels[len(chunk):]
			t, updates, err := e.applyImported(ctx, chunk)
			if err != nil {
				return err
			}
			applied = append(applied, updates)
			n, tok = n+len(chunk), t
		}
		return nil
	})
	if err != nil {
		e.undo(ctx, applied)
		return 0, "", err
	}
	if n == 0 {
		tok, err = e.headToken(ctx)
	}
	return n, tok, err
}

// applyImported writes relationships that Import has validated to the
// datastore, as applyUpdates would, without judging their form again, and
// empties the decision cache; it returns the updates it made.
func (e *Engine) applyImported(ctx context.Context, rels []Relationship) (Token, []Update, error) {
	updates := make([]Update, len(rels))
	muts := make([]tuple.RelationshipUpdate, len(rels))
	plain := true
	for i, r := range rels {
		updates[i] = TouchRel(r)
		muts[i] = tuple.Touch(tupleRel(r))
		// The one rule of a write's form that validateUpdate leaves out
		// (authzed-go's HandwrittenValidate).
		plain = plain && !(r.Subject.Object.ID == tuple.PublicWildcard && r.Subject.Relation != "")
	}
	if !plain {
		muts = nil // SpiceDB says what is wrong
	}
	tok, err := e.writeVia(ctx, updates, muts)
	if err != nil {
		return "", nil, err
	}
	// Emptying the cache costs less than working out what a thousand new
	// relationships affect (a fifth of an import's CPU at a million).
	e.wroteMany(tok)
	return tok, updates, nil
}

// undo takes back datastore writes whose log commit failed, newest first.
func (e *Engine) undo(ctx context.Context, applied [][]Update) {
	// On a context of its own: the writer's may be what ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	for i := len(applied) - 1; i >= 0; i-- {
		if _, err := e.applyUpdates(ctx, invert(applied[i])); err != nil {
			e.logger.Error("authz: cannot undo a write whose log commit failed; restart to rebuild from the log", "err", err)
		}
	}
}

// importSpiceDB streams the import through SpiceDB's own
// ImportBulkRelationships: one datastore transaction.
func (e *Engine) importSpiceDB(ctx context.Context, next ImportSource) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the import unless it was closed
	stream, err := e.perms.ImportBulkRelationships(ctx)
	if err != nil {
		return 0, wrapErr("import relationships", err)
	}
	for {
		rels, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		req := &v1.ImportBulkRelationshipsRequest{Relationships: make([]*v1.Relationship, len(rels))}
		for i, r := range rels {
			req.Relationships[i] = r.proto()
		}
		if err := stream.Send(req); err != nil {
			break // SpiceDB ended the stream: CloseAndRecv says why
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, wrapErr("import relationships", err)
	}
	return int(resp.GetNumLoaded()), nil
}
