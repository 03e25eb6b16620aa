package search

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/storage"
)

// Doc is one indexed file.
type Doc struct {
	Entry string // the file's entry id
	Zone  string
	Hash  string // content hash it was indexed at
	Body  string // its text
}

// Hit is a document that matched a query.
type Hit struct {
	Entry   string
	Score   float64 // higher is better; comparable within one query
	Snippet Snippet
}

// Pending is an entry waiting in the queue.
type Pending struct {
	Seq   int64
	Entry string
}

// Store is the full-text index and its durable queue. Methods run on the
// DBTX given, so a change and its queue row commit together. Implementations:
// SQLStore (SQLite FTS5, BM25 with each zone's statistics); PGStore (PostgreSQL tsvector, ts_rank); both run the
// same suite, searchtest.Run.
type Store interface {
	// Upsert makes d the document of d.Entry, replacing any older one.
	Upsert(ctx context.Context, q storage.DBTX, d Doc) error
	// Delete removes the document of entry; a missing one is no error.
	Delete(ctx context.Context, q storage.DBTX, entry string) error
	// IndexedHash returns the content hash entry was indexed at, or
	// errs.NotFound.
	IndexedHash(ctx context.Context, q storage.DBTX, entry string) (string, error)
	// Query returns zone's documents matching any of terms (stemmed), best
	// first, ties broken by insertion order; offset and limit page through
	// them. The ranking depends on zone's documents only, never on another
	// zone's. Snippets mark matched words with MarkOpen/MarkClose.
	Query(ctx context.Context, q storage.DBTX, zone string, terms []string, offset, limit int) ([]Hit, error)

	// Enqueue records that entries changed.
	Enqueue(ctx context.Context, q storage.DBTX, entries []string) error
	// Pending returns up to limit queued entries, oldest first.
	Pending(ctx context.Context, q storage.DBTX, limit int) ([]Pending, error)
	// Done removes queued items (by Seq): an entry queued again meanwhile
	// stays queued.
	Done(ctx context.Context, q storage.DBTX, items []Pending) error
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the index's and the queue's migrations.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

// SQLStore is the Store on SQLite FTS5.
type SQLStore struct{}

var _ Store = SQLStore{}

func (SQLStore) Upsert(ctx context.Context, q storage.DBTX, d Doc) error {
	var id, tokens int64
	var zone string
	err := q.QueryRowContext(ctx, `SELECT id, zone_id, tokens FROM search_docs WHERE entry_id = ?`, d.Entry).Scan(&id, &zone, &tokens)
	switch {
	case err == nil:
		if err := unindex(ctx, q, id, zone, tokens); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `UPDATE search_docs SET zone_id = ?, content_hash = ?, indexed_at = ? WHERE id = ?`,
			d.Zone, d.Hash, storage.FormatTime(time.Now()), id); err != nil {
			return err
		}
	case err == sql.ErrNoRows:
		res, err := q.ExecContext(ctx, `INSERT INTO search_docs (entry_id, zone_id, content_hash, indexed_at) VALUES (?, ?, ?, ?)`,
			d.Entry, d.Zone, d.Hash, storage.FormatTime(time.Now()))
		if err != nil {
			return storage.Translate(err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
	default:
		return err
	}
	if _, err = q.ExecContext(ctx, `INSERT INTO search_fts (rowid, body) VALUES (?, ?)`, id, clean(d.Body)); err != nil {
		return err
	}
	if tokens, err = FTS5Tokens(ctx, q, "search_fts", id); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `UPDATE search_docs SET tokens = ? WHERE id = ?`, tokens, id); err != nil {
		return err
	}
	return ZoneStats(ctx, q, "search_zones", d.Zone, 1, tokens)
}

// unindex takes document id (of zone, tokens long) out of the text index
// and its zone's statistics.
func unindex(ctx context.Context, q storage.DBTX, id int64, zone string, tokens int64) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM search_fts WHERE rowid = ?`, id); err != nil {
		return err
	}
	return ZoneStats(ctx, q, "search_zones", zone, -1, -tokens)
}

// clean drops the snippet markers from indexed text.
func clean(s string) string {
	if !strings.ContainsAny(s, MarkOpen+MarkClose) {
		return s
	}
	return strings.NewReplacer(MarkOpen, " ", MarkClose, " ").Replace(s)
}

func (SQLStore) Delete(ctx context.Context, q storage.DBTX, entry string) error {
	var id, tokens int64
	var zone string
	err := q.QueryRowContext(ctx, `SELECT id, zone_id, tokens FROM search_docs WHERE entry_id = ?`, entry).Scan(&id, &zone, &tokens)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	if err := unindex(ctx, q, id, zone, tokens); err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `DELETE FROM search_docs WHERE id = ?`, id)
	return err
}

func (SQLStore) IndexedHash(ctx context.Context, q storage.DBTX, entry string) (string, error) {
	var h string
	err := q.QueryRowContext(ctx, `SELECT content_hash FROM search_docs WHERE entry_id = ?`, entry).Scan(&h)
	return h, storage.Translate(err)
}

// snippetTokens is how many tokens a snippet holds.
const snippetTokens = 24

func (SQLStore) Query(ctx context.Context, q storage.DBTX, zone string, terms []string, offset, limit int) ([]Hit, error) {
	// BM25 with the zone's statistics (bm25.go): hits is each of the zone's
	// documents' frequency of each word, from one pass over the words'
	// postings; df counts the zone's documents per word. The page is chosen
	// before snippets are made, so they are made for the rows returned only.
	in, args := VocabTerms(terms)
	args = append(args, zone, zone, limit, offset, MarkOpen, MarkClose, snippetTokens, FTS5Match(terms))
	return storage.QueryAll(ctx, q, func(s storage.Scanner) (Hit, error) {
		var h Hit
		var snip string
		if err := s.Scan(&h.Entry, &h.Score, &snip); err != nil {
			return Hit{}, err
		}
		h.Snippet = ParseMarked(snip)
		return h, nil
	}, `WITH freq AS (SELECT doc, term, count(*) AS n FROM search_terms WHERE term IN `+in+` GROUP BY doc, term),
		hits AS (SELECT freq.doc, freq.term, freq.n, d.tokens FROM freq JOIN search_docs d ON d.id = freq.doc WHERE d.zone_id = ?),
		df AS (SELECT term, count(*) AS n FROM hits GROUP BY term),
		z AS (SELECT docs, tokens FROM search_zones WHERE zone_id = ?),
		page AS (
			SELECT hits.doc, sum(`+BM25Expr("hits.n", "hits.tokens", "df.n", "z.docs", "z.tokens")+`) AS score
			FROM hits JOIN df ON df.term = hits.term, z
			GROUP BY hits.doc ORDER BY score DESC, hits.doc LIMIT ? OFFSET ?)
		SELECT d.entry_id, page.score,
			coalesce((SELECT snippet(search_fts, 0, ?, ?, '…', ?) FROM search_fts
				WHERE search_fts MATCH ? AND search_fts.rowid = page.doc), '')
		FROM page JOIN search_docs d ON d.id = page.doc
		ORDER BY page.score DESC, page.doc`, args...)
}

func (SQLStore) Enqueue(ctx context.Context, q storage.DBTX, entries []string) error {
	now := storage.FormatTime(time.Now())
	for _, e := range entries {
		if _, err := q.ExecContext(ctx, `INSERT INTO search_queue (entry_id, enqueued_at) VALUES (?, ?)`, e, now); err != nil {
			return err
		}
	}
	return nil
}

func (SQLStore) Pending(ctx context.Context, q storage.DBTX, limit int) ([]Pending, error) {
	return storage.QueryAll(ctx, q, func(s storage.Scanner) (Pending, error) {
		var p Pending
		return p, s.Scan(&p.Seq, &p.Entry)
	}, `SELECT seq, entry_id FROM search_queue ORDER BY seq LIMIT ?`, limit)
}

func (SQLStore) Done(ctx context.Context, q storage.DBTX, items []Pending) error {
	for _, p := range items {
		if _, err := q.ExecContext(ctx, `DELETE FROM search_queue WHERE seq = ?`, p.Seq); err != nil {
			return err
		}
	}
	return nil
}
