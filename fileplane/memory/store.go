package memory

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage"
)

// Candidate is a memory that matched a recall query, with its text
// relevance (higher is better) and snippet.
type Candidate struct {
	Memory    Memory
	Relevance float64
	Snippet   search.Snippet
}

// Store keeps memories and their text index. Methods run on the DBTX given,
// so a memory's row and its relationships commit together. Expired
// memories (ExpiresAt <= now) are never returned. A missing memory is
// errs.NotFound. Implementations run memorytest.Run.
type Store interface {
	Insert(ctx context.Context, q storage.DBTX, m Memory) error
	// SetPermToken sets only the memory's PermToken (its relationships'
	// write token, recorded once the write is applied).
	SetPermToken(ctx context.Context, q storage.DBTX, id ID, token authz.Token) error
	Get(ctx context.Context, q storage.DBTX, id ID, now time.Time) (Memory, error)
	Delete(ctx context.Context, q storage.DBTX, id ID) error
	// Match returns up to limit of zone's memories that have every tag in
	// tags and any of terms (stemmed), most relevant first. To bound the
	// work of one call, only the newest MatchWindow memories of the zone
	// whose text matches are ranked (other zones' matches do not count),
	// and the ranking's statistics are the zone's own.
	Match(ctx context.Context, q storage.DBTX, zone string, terms, tags []string, now time.Time, limit int) ([]Candidate, error)
	// List returns up to limit of zone's memories with every tag in tags,
	// newest first, created before (beforeAt, beforeID) when beforeID is set.
	List(ctx context.Context, q storage.DBTX, zone string, tags []string, now time.Time, beforeAt time.Time, beforeID ID, limit int) ([]Memory, error)
	// Expired returns up to limit ids of memories expired at now.
	Expired(ctx context.Context, q storage.DBTX, now time.Time, limit int) ([]ID, error)
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the memory tables' migrations.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

// MatchWindow is how many of the newest text matches of a zone one Match
// ranks: BM25 costs about a microsecond per match here, and a common word
// can match most memories.
const MatchWindow = 4096

// SQLStore is the Store on SQLite (FTS5 for text).
type SQLStore struct {
	// Window is how many of a zone's newest text matches Match ranks; 0
	// means MatchWindow.
	Window int
}

func (s SQLStore) window() int {
	if s.Window > 0 {
		return s.Window
	}
	return MatchWindow
}

var _ Store = SQLStore{}

const memCols = `m.id, m.zone_id, m.owner_id, m.author_id, m.scope, m.text, m.tags, m.metadata, m.importance,
	m.created_at, m.expires_at, m.perm_token`

func scanMemory(s storage.Scanner, extra ...any) (Memory, error) {
	var m Memory
	var tags, meta string
	var created, expires sql.NullString
	dest := append([]any{&m.ID, &m.Zone, &m.Owner, &m.Author, &m.Scope, &m.Text, &tags, &meta, &m.Importance,
		&created, &expires, &m.PermToken}, extra...)
	if err := s.Scan(dest...); err != nil {
		return Memory{}, storage.Translate(err)
	}
	if err := json.Unmarshal([]byte(tags), &m.Tags); err != nil {
		return Memory{}, err
	}
	if err := json.Unmarshal([]byte(meta), &m.Metadata); err != nil {
		return Memory{}, err
	}
	var err error
	if m.CreatedAt, err = storage.ParseTime(created); err != nil {
		return Memory{}, err
	}
	m.ExpiresAt, err = storage.ParseTime(expires)
	return m, err
}

func (SQLStore) Insert(ctx context.Context, q storage.DBTX, m Memory) error {
	tags, _ := json.Marshal(nonNil(m.Tags))
	meta, _ := json.Marshal(m.Metadata)
	if m.Metadata == nil {
		meta = []byte("{}")
	}
	res, err := q.ExecContext(ctx, `INSERT INTO memory_items (id, zone_id, owner_id, author_id, scope, text, tags, metadata,
		importance, created_at, expires_at, perm_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Zone, m.Owner, m.Author, m.Scope, m.Text, string(tags), string(meta), m.Importance,
		storage.FormatTime(m.CreatedAt), storage.NullTime(m.ExpiresAt), m.PermToken)
	if err != nil {
		return storage.Translate(err)
	}
	rid, err := res.LastInsertId()
	if err != nil {
		return err
	}
	for _, t := range m.Tags {
		if _, err := q.ExecContext(ctx, `INSERT INTO memory_tags (tag, memory_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, t, m.ID); err != nil {
			return err
		}
	}
	if _, err = q.ExecContext(ctx, `INSERT INTO memory_fts (rowid, text, zone) VALUES (?, ?, ?)`, rid,
		strings.NewReplacer(search.MarkOpen, " ", search.MarkClose, " ").Replace(m.Text), m.Zone); err != nil {
		return err
	}
	tokens, err := search.FTS5Tokens(ctx, q, "memory_fts", rid)
	if err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `UPDATE memory_items SET tokens = ? WHERE rid = ?`, tokens, rid); err != nil {
		return err
	}
	return search.ZoneStats(ctx, q, "memory_zones", m.Zone, 1, tokens)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// live is the condition on m that leaves out expired memories.
const live = `(m.expires_at IS NULL OR m.expires_at > ?)`

func (SQLStore) SetPermToken(ctx context.Context, q storage.DBTX, id ID, token authz.Token) error {
	return setPermToken(ctx, q, id, token)
}

// setPermToken is SetPermToken on both backends.
func setPermToken(ctx context.Context, q storage.DBTX, id ID, token authz.Token) error {
	res, err := q.ExecContext(ctx, `UPDATE memory_items SET perm_token = ? WHERE id = ?`, token, id)
	if err != nil {
		return storage.Translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.NotFound
	}
	return nil
}

func (SQLStore) Get(ctx context.Context, q storage.DBTX, id ID, now time.Time) (Memory, error) {
	return scanMemory(q.QueryRowContext(ctx, `SELECT `+memCols+` FROM memory_items m WHERE m.id = ? AND `+live, id, storage.FormatTime(now)))
}

func (SQLStore) Delete(ctx context.Context, q storage.DBTX, id ID) error {
	var rid, tokens int64
	var zone string
	err := q.QueryRowContext(ctx, `SELECT rid, zone_id, tokens FROM memory_items WHERE id = ?`, id).Scan(&rid, &zone, &tokens)
	if err != nil {
		return storage.Translate(err)
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM memory_fts WHERE rowid = ?`, rid); err != nil {
		return err
	}
	if err := search.ZoneStats(ctx, q, "memory_zones", zone, -1, -tokens); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM memory_tags WHERE memory_id = ?`, id); err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `DELETE FROM memory_items WHERE rid = ?`, rid)
	return err
}

// tagFilter is the condition that m has every tag, and its arguments.
func tagFilter(tags []string) (string, []any) {
	if len(tags) == 0 {
		return "", nil
	}
	args := make([]any, 0, len(tags)+1)
	marks := make([]string, len(tags))
	for i, t := range tags {
		marks[i] = "?"
		args = append(args, t)
	}
	args = append(args, len(tags))
	return ` AND m.id IN (SELECT memory_id FROM memory_tags WHERE tag IN (` + strings.Join(marks, ",") + `)
		GROUP BY memory_id HAVING count(*) = ?)`, args
}

// zoneMatch is the FTS5 expression for zone's documents that hold any of
// terms.
func zoneMatch(zone string, terms []string) string {
	return `text : (` + search.FTS5Match(terms) + `) AND zone : "` + strings.ReplaceAll(zone, `"`, `""`) + `"`
}

func (st SQLStore) Match(ctx context.Context, q storage.DBTX, zone string, terms, tags []string, now time.Time, limit int) ([]Candidate, error) {
	tf, targs := tagFilter(tags)
	match := zoneMatch(zone, terms)
	// The rowid of the window-th newest match in the zone (0 if there are
	// fewer): finding it takes no ranking, and other zones' matches do not
	// count.
	var floor int64
	err := q.QueryRowContext(ctx, `SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?`,
		match, st.window()-1).Scan(&floor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	// BM25 with the zone's statistics (search's bm25.go): hits is each of
	// the zone's memories' frequency of each word, from one pass over the
	// words' postings; df counts the zone's memories per word. Only the
	// window is ranked, and the page is chosen before snippets are made.
	in, args := search.VocabTerms(terms)
	args = append(args, zone, zone, floor, storage.FormatTime(now))
	args = append(append(args, targs...), limit, search.MarkOpen, search.MarkClose, match)
	return storage.QueryAll(ctx, q, func(s storage.Scanner) (Candidate, error) {
		var c Candidate
		var snip string
		m, err := scanMemory(s, &c.Relevance, &snip)
		if err != nil {
			return Candidate{}, err
		}
		c.Memory, c.Snippet = m, search.ParseMarked(snip)
		return c, nil
	}, `WITH freq AS (SELECT doc, term, count(*) AS n FROM memory_terms WHERE term IN `+in+` AND col = 'text' GROUP BY doc, term),
		hits AS (SELECT freq.doc, freq.term, freq.n, m.tokens FROM freq JOIN memory_items m ON m.rid = freq.doc WHERE m.zone_id = ?),
		df AS (SELECT term, count(*) AS n FROM hits GROUP BY term),
		z AS (SELECT docs, tokens FROM memory_zones WHERE zone_id = ?),
		scored AS (
			SELECT hits.doc, sum(`+search.BM25Expr("hits.n", "hits.tokens", "df.n", "z.docs", "z.tokens")+`) AS score
			FROM hits JOIN df ON df.term = hits.term, z
			WHERE hits.doc >= ? GROUP BY hits.doc),
		page AS (
			SELECT m.*, scored.score FROM scored JOIN memory_items m ON m.rid = scored.doc
			WHERE `+live+tf+`
			ORDER BY scored.score DESC, m.rid DESC LIMIT ?)
		SELECT `+memCols+`, m.score, coalesce((SELECT snippet(memory_fts, 0, ?, ?, '…', 24) FROM memory_fts
			WHERE memory_fts MATCH ? AND memory_fts.rowid = m.rid), '')
		FROM page m ORDER BY m.score DESC, m.rid DESC`, args...)
}

func (SQLStore) List(ctx context.Context, q storage.DBTX, zone string, tags []string, now time.Time, beforeAt time.Time, beforeID ID, limit int) ([]Memory, error) {
	tf, targs := tagFilter(tags)
	cond, args := "", []any{zone, storage.FormatTime(now)}
	if beforeID != "" {
		cond = ` AND (m.created_at < ? OR (m.created_at = ? AND m.id < ?))`
		args = append(args, storage.FormatTime(beforeAt), storage.FormatTime(beforeAt), beforeID)
	}
	args = append(append(args, targs...), limit)
	return storage.QueryAll(ctx, q, func(s storage.Scanner) (Memory, error) { return scanMemory(s) },
		`SELECT `+memCols+` FROM memory_items m WHERE m.zone_id = ? AND `+live+cond+tf+`
		ORDER BY m.created_at DESC, m.id DESC LIMIT ?`, args...)
}

func (SQLStore) Expired(ctx context.Context, q storage.DBTX, now time.Time, limit int) ([]ID, error) {
	return storage.QueryAll(ctx, q, func(s storage.Scanner) (ID, error) {
		var id ID
		return id, s.Scan(&id)
	}, `SELECT id FROM memory_items WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?`, storage.FormatTime(now), limit)
}

// object is m's authz object.
func object(id ID) authz.ObjectRef { return authz.Obj(nexus.TypeMemory, string(id)) }
