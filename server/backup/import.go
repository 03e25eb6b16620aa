package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/tuple"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage"
)

// Import reads a dump from r into st, which must be empty: a data dir that
// does not exist or is empty, or a database with none of Nexus's rows, no
// relationships and no definitions but Nexus's (ErrNotEmpty otherwise).
//
// It is all or nothing. Into a data dir, everything is made in a staging
// dir beside it, moved into place once the dump's end line has been read
// and checked; a failed import removes it. On PostgreSQL the tables are
// inserted in one transaction, committed only after the relationships are
// imported (one SpiceDB transaction, which takes the end line's check as
// its last step); if that commit fails, the relationships and the schema
// are taken back. Either way the target is empty again after a failure, or
// the error says what is left.
func Import(ctx context.Context, st Store, r io.Reader, opts Options) (Progress, error) {
	rd, err := newReader(r)
	if err != nil {
		return Progress{}, err
	}
	// The header first: a file that is no dump is refused before the
	// target is touched.
	if _, err := rd.readHeader(); err != nil {
		return Progress{}, err
	}
	tgt, commit, err := openTarget(ctx, st)
	if err != nil {
		return Progress{}, err
	}
	defer tgt.close()
	im := &importer{tgt: tgt, rd: rd, pr: &progress{fn: opts.Progress}, counts: map[string]int64{}}
	if err := im.run(ctx); err != nil {
		return im.pr.p, err
	}
	if err := commit(); err != nil {
		return im.pr.p, err
	}
	im.pr.p.Phase = "done"
	im.pr.tick(rd.n, true)
	return im.pr.p, nil
}

type importer struct {
	tgt    *opened
	rd     *reader
	pr     *progress
	counts map[string]int64
	tx     *sql.Tx
	schema string
}

func (im *importer) run(ctx context.Context) (err error) {
	b, err := im.rd.next()
	if err != nil {
		return err
	}
	var s section
	if json.Unmarshal(b, &s) != nil || s.Schema == nil {
		return im.rd.errorf("the schema line is missing after the header")
	}
	im.rd.hashLine(b)
	im.schema = *s.Schema

	if im.tx, err = im.tgt.db.BeginTx(ctx, nil); err != nil {
		return err
	}
	defer func() {
		if im.tx != nil {
			_ = im.tx.Rollback()
		}
	}()
	if err := im.tables(ctx); err != nil {
		return err
	}
	if im.tgt.kind == "sqlite" {
		// SQLite has one writer, and the relationship log is in the same
		// file: the staging dir makes the whole import atomic.
		if err := im.commitTx(); err != nil {
			return err
		}
	}
	schemaWritten, err := im.writeSchema(ctx)
	if err != nil {
		return err
	}
	im.pr.p.Phase = "relationships"
	n, _, err := im.tgt.engine.Import(ctx, im.relationships)
	im.pr.p.Relationships = int64(n)
	if err != nil {
		if schemaWritten {
			err = errors.Join(err, im.undoSchema(ctx))
		}
		return fmt.Errorf("importing relationships: %w", err)
	}
	if im.tx != nil {
		if err := im.commitTx(); err != nil {
			return errors.Join(fmt.Errorf("committing the tables: %w", err), im.undoRelationships(ctx))
		}
	}
	return nil
}

func (im *importer) commitTx() error {
	tx := im.tx
	im.tx = nil
	return tx.Commit()
}

// tables inserts every table's rows, until the relationships start.
func (im *importer) tables(ctx context.Context) error {
	var cur *loader
	seen := map[string]bool{}
	for {
		b, err := im.rd.next()
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return im.rd.errorf("an empty line")
		}
		im.rd.hashLine(b)
		if b[0] == '[' {
			if cur == nil {
				return im.rd.errorf("a row before any table's header")
			}
			var vals []json.RawMessage
			if err := json.Unmarshal(b, &vals); err != nil {
				return im.rd.errorf("a row of %s that is not a JSON array: %v", cur.t.name, err)
			}
			if err := cur.add(ctx, vals); err != nil {
				return im.rd.errorf("%v", err)
			}
			im.counts[cur.t.name]++
			im.pr.p.Rows++
			im.pr.tick(im.rd.n, false)
			continue
		}
		var s section
		if b[0] != '{' || json.Unmarshal(b, &s) != nil {
			return im.rd.errorf("%q is neither a row nor a section of the dump", abbrev(b))
		}
		if cur != nil {
			if err := cur.flush(ctx); err != nil {
				return im.rd.errorf("%v", err)
			}
			im.pr.p.Tables++
		}
		switch {
		case s.Relationships:
			return im.afterTables(ctx)
		case s.Table == "":
			return im.rd.errorf("%q: the relationships must follow the tables", abbrev(b))
		case seen[s.Table]:
			return im.rd.errorf("table %s comes twice", s.Table)
		}
		t, ok := tableNamed(s.Table)
		if !ok {
			return im.rd.errorf("table %q is not one this nexus knows (a dump of a newer nexus? import it with that version)", s.Table)
		}
		seen[t.name] = true
		im.pr.p.Phase = t.name
		if cur, err = newLoader(im, t, s.Columns); err != nil {
			return im.rd.errorf("%v", err)
		}
		im.counts[t.name] = 0 // counted, rows or none
	}
}

// afterTables queues every file for the search indexer, which rebuilds the
// index when the server starts, and moves PostgreSQL's identity sequences
// past the ids imported.
func (im *importer) afterTables(ctx context.Context) error {
	ids, err := storage.QueryAll(ctx, im.tx, func(s storage.Scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	}, `SELECT id FROM paths_entries WHERE kind = 'file' ORDER BY created_at, id`)
	if err != nil {
		return err
	}
	var idx search.Store = search.SQLStore{}
	if im.tgt.kind == "postgres" {
		idx = search.PGStore{}
		for t, col := range identityColumns {
			if _, err := im.tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', '`+col+`'), max(`+col+`)) FROM `+t+` HAVING count(*) > 0`); err != nil {
				return fmt.Errorf("moving the identity of %s past the rows imported: %w", t, err)
			}
		}
	}
	if err := idx.Enqueue(ctx, im.tx, ids); err != nil {
		return fmt.Errorf("queueing the files for the search index: %w", err)
	}
	return nil
}

var definitionRE = regexp.MustCompile(`(?m)^\s*(?:definition|caveat)\s+([A-Za-z0-9_/]+)`)

// otherDefinitions returns the names schema defines that are not Nexus's.
func otherDefinitions(e *authz.Engine, schema string) []string {
	var out []string
	for _, m := range definitionRE.FindAllStringSubmatch(schema, -1) {
		if !e.IsOwnDefinition(m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// writeSchema writes the dump's schema if it adds definitions to Nexus's.
func (im *importer) writeSchema(ctx context.Context) (bool, error) {
	if len(otherDefinitions(im.tgt.engine, im.schema)) == 0 {
		return false, nil
	}
	if _, err := im.tgt.engine.WriteSchema(ctx, im.schema); err != nil {
		return false, fmt.Errorf("writing the dump's schema: %w", err)
	}
	return true, nil
}

// undoSchema puts back Nexus's own schema alone.
func (im *importer) undoSchema(ctx context.Context) error {
	if _, err := im.tgt.engine.WriteSchema(context.WithoutCancel(ctx), nexus.Schema); err != nil {
		return fmt.Errorf("the dump's schema stays in the target; create the database anew before importing again: %w", err)
	}
	return nil
}

// undoRelationships deletes every relationship imported, and the schema.
func (im *importer) undoRelationships(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	resp, err := v1.NewSchemaServiceClient(im.tgt.engine.Conn()).ReadSchema(ctx, &v1.ReadSchemaRequest{})
	if err == nil {
		for _, m := range definitionRE.FindAllStringSubmatch(resp.GetSchemaText(), -1) {
			if _, err = im.tgt.engine.DeleteMatching(ctx, authz.Filter{Resource: authz.ObjectRef{Type: m[1]}}); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("the relationships imported stay in the target; create the database anew before importing again: %w", err)
	}
	return im.undoSchema(ctx)
}

// emptyEngine returns ErrNotEmpty if e holds a relationship, or a
// definition that is not Nexus's.
func emptyEngine(ctx context.Context, e *authz.Engine) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := v1.NewPermissionsServiceClient(e.Conn()).ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{
		Consistency:   &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		OptionalLimit: 1,
	})
	if err != nil {
		return fmt.Errorf("reading the target's relationships: %w", err)
	}
	msg, err := stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the target's relationships: %w", err)
	}
	if rels := msg.GetRelationships(); len(rels) > 0 {
		s, _ := tuple.V1StringRelationship(rels[0])
		return fmt.Errorf("%w: the database holds relationships (%s, ...); import --all needs a new database", ErrNotEmpty, s)
	}
	resp, err := v1.NewSchemaServiceClient(e.Conn()).ReadSchema(ctx, &v1.ReadSchemaRequest{})
	if err != nil {
		return fmt.Errorf("reading the target's schema: %w", err)
	}
	if others := otherDefinitions(e, resp.GetSchemaText()); len(others) > 0 {
		return fmt.Errorf("%w: the database's schema defines %s besides Nexus's definitions; import --all needs a new database (an import interrupted by a crash leaves its schema: drop the database and create it again)", ErrNotEmpty, strings.Join(others, ", "))
	}
	return nil
}

// relationshipBatch is how many relationships one batch of the import
// takes.
const relationshipBatch = 1000

// relationships is the ImportSource of the dump's relationships. It checks
// the end line before it says io.EOF, so that a dump cut short or altered
// fails the import.
func (im *importer) relationships() ([]authz.Relationship, error) {
	batch := make([]authz.Relationship, 0, relationshipBatch)
	for len(batch) < relationshipBatch {
		b, err := im.rd.next()
		if err != nil {
			return nil, err
		}
		if len(b) > 0 && b[0] == '{' {
			var s section
			if json.Unmarshal(b, &s) != nil || s.End == nil {
				return nil, im.rd.errorf("%q where a relationship or the end line was expected", abbrev(b))
			}
			if err := im.rd.checkEnd(s.End, im.counts, im.pr.p.Relationships+int64(len(batch))); err != nil {
				return nil, err
			}
			im.rd.unread(b) // the next call says io.EOF
			if len(batch) > 0 {
				break
			}
			return nil, io.EOF
		}
		im.rd.hashLine(b)
		var text string
		if err := json.Unmarshal(b, &text); err != nil {
			return nil, im.rd.errorf("%q is not a relationship (a JSON string)", abbrev(b))
		}
		rel, err := relationship(text)
		if err != nil {
			return nil, im.rd.errorf("%v", err)
		}
		batch = append(batch, rel)
	}
	im.pr.p.Relationships += int64(len(batch))
	im.pr.tick(im.rd.n, false)
	return batch, nil
}

// relationship parses a relationship as zed writes it.
func relationship(text string) (authz.Relationship, error) {
	r, err := tuple.ParseV1Rel(text)
	if err != nil {
		return authz.Relationship{}, fmt.Errorf("%q is not a relationship: %w", text, err)
	}
	if r.GetOptionalCaveat() != nil || r.GetOptionalExpiresAt() != nil {
		return authz.Relationship{}, fmt.Errorf("relationship %q has a caveat or an expiration, which this nexus cannot import", text)
	}
	return authz.Rel(authz.Obj(r.GetResource().GetObjectType(), r.GetResource().GetObjectId()), r.GetRelation(),
		authz.SubjectSet(r.GetSubject().GetObject().GetObjectType(), r.GetSubject().GetObject().GetObjectId(), r.GetSubject().GetOptionalRelation())), nil
}

// memoryStore is the target's memory store.
func (im *importer) memoryStore() memory.Store {
	if im.tgt.kind == "postgres" {
		return memory.PGStore{}
	}
	return memory.SQLStore{}
}

// putChunk stores a chunk in the target: a file of the staging dir, or a
// row of content_chunks in the import's transaction.
func (im *importer) putChunk(ctx context.Context, h content.Hash, data []byte) error {
	if got := content.Sum(data); got != h {
		return fmt.Errorf("chunk %s is damaged: its %d bytes hash to %s", h, len(data), got)
	}
	if im.tgt.chunks != nil {
		return im.tgt.chunks.Put(ctx, h, data)
	}
	return nil // a row of content_chunks, inserted as any other
}
