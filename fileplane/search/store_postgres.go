package search

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/storage"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the index's and the queue's migrations on
// PostgreSQL (with the text search configuration TSConfig).
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// TSConfig is the PostgreSQL text search configuration of the index: the
// English Snowball stemmer without stopwords (the PostgreSQL migrations
// create it), matching SQLite's 'porter unicode61'.
const TSConfig = "nexus_english"

// TSQuery is terms as the text of a PostgreSQL to_tsquery: any of the
// words, the counterpart of FTS5Match. Terms hold only letters and digits,
// so none of them is an operator.
func TSQuery(terms []string) string {
	return strings.Join(terms, " | ")
}

// HeadlineOptions are ts_headline's options for a snippet like the one
// SQLite's snippet() makes: about snippetTokens words, one fragment, the
// matched words between MarkOpen and MarkClose.
var HeadlineOptions = "StartSel=" + MarkOpen + ", StopSel=" + MarkClose +
	", MaxWords=24, MinWords=12, ShortWord=0, MaxFragments=1, FragmentDelimiter=…"

// ErrQueueTaken is a Store's answer to Done when another indexer (another
// node's) took some of the items meanwhile: the caller rolls back and reads
// the queue again.
var ErrQueueTaken = errors.New("search: queued items were indexed concurrently by another indexer")

// PGStore is the Store on PostgreSQL: a tsvector column with a GIN index,
// ranked with ts_rank (normalized by document length, as BM25 is), snippets
// from ts_headline.
type PGStore struct{}

var _ Store = PGStore{}

func (PGStore) Upsert(ctx context.Context, q storage.DBTX, d Doc) error {
	// The id (the insertion order ties are broken by) stays on update, as
	// the rowid does on SQLite.
	_, err := q.ExecContext(ctx, `INSERT INTO search_docs (entry_id, zone_id, content_hash, indexed_at, body)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (entry_id) DO UPDATE SET zone_id = excluded.zone_id, content_hash = excluded.content_hash,
			indexed_at = excluded.indexed_at, body = excluded.body`,
		d.Entry, d.Zone, d.Hash, storage.FormatTime(time.Now()), pgText(d.Body))
	return storage.Translate(err)
}

// pgText is s without the snippet markers and NUL bytes (which a TEXT
// column refuses).
func pgText(s string) string {
	if !strings.ContainsAny(s, MarkOpen+MarkClose+"\x00") {
		return s
	}
	return strings.NewReplacer(MarkOpen, " ", MarkClose, " ", "\x00", " ").Replace(s)
}

func (PGStore) Delete(ctx context.Context, q storage.DBTX, entry string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM search_docs WHERE entry_id = ?`, entry)
	return err
}

func (PGStore) IndexedHash(ctx context.Context, q storage.DBTX, entry string) (string, error) {
	var h string
	err := q.QueryRowContext(ctx, `SELECT content_hash FROM search_docs WHERE entry_id = ?`, entry).Scan(&h)
	return h, storage.Translate(err)
}

// rankNormalization is ts_rank's normalization: 1 divides by 1 + the log
// of the document's length, so a long document that mentions a word once
// ranks below a short one about it (BM25's length normalization, roughly).
const rankNormalization = "1"

func (PGStore) Query(ctx context.Context, q storage.DBTX, zone string, terms []string, offset, limit int) ([]Hit, error) {
	// The page is chosen first, so headlines (which reparse the text) are
	// made for the rows returned only.
	return storage.QueryAll(ctx, q, func(s storage.Scanner) (Hit, error) {
		var h Hit
		var snip string
		if err := s.Scan(&h.Entry, &h.Score, &snip); err != nil {
			return Hit{}, err
		}
		h.Snippet = ParseMarked(snip)
		return h, nil
	}, `WITH qq AS (SELECT to_tsquery('`+TSConfig+`', ?) AS q),
		page AS (
			SELECT d.id, d.entry_id, d.body, ts_rank(d.tsv, qq.q, `+rankNormalization+`) AS rank
			FROM search_docs d, qq
			WHERE d.tsv @@ qq.q AND d.zone_id = ?
			ORDER BY rank DESC, d.id LIMIT ? OFFSET ?)
		SELECT page.entry_id, page.rank, ts_headline('`+TSConfig+`', page.body, qq.q, ?)
		FROM page, qq ORDER BY page.rank DESC, page.id`,
		TSQuery(terms), zone, limit, offset, HeadlineOptions)
}

func (PGStore) Enqueue(ctx context.Context, q storage.DBTX, entries []string) error {
	return SQLStore{}.Enqueue(ctx, q, entries)
}

func (PGStore) Pending(ctx context.Context, q storage.DBTX, limit int) ([]Pending, error) {
	return SQLStore{}.Pending(ctx, q, limit)
}

// Done fails with ErrQueueTaken, so that the transaction rolls back, when
// some of items are gone: another node's indexer took them concurrently,
// and what this one read of their content may be older than what that one
// committed. (Whichever commits first wins; a change after its read was
// queued again, with a later Seq, and is indexed again.)
func (PGStore) Done(ctx context.Context, q storage.DBTX, items []Pending) error {
	if len(items) == 0 {
		return nil
	}
	seen := map[int64]bool{}
	var seqs []int64
	for _, p := range items {
		if !seen[p.Seq] {
			seen[p.Seq] = true
			seqs = append(seqs, p.Seq)
		}
	}
	res, err := q.ExecContext(ctx, `DELETE FROM search_queue WHERE seq = ANY(?)`, seqs)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != int64(len(seqs)) {
		return fmt.Errorf("%w: %d of %d", ErrQueueTaken, int64(len(seqs))-n, len(seqs))
	}
	return nil
}
