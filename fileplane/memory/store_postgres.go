package memory

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the memory tables' migrations on PostgreSQL (with
// the text search configuration search.TSConfig).
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// PGStore is the Store on PostgreSQL: the text's tsvector (GIN), ranked
// with ts_rank, snippets from ts_headline, as search.PGStore does.
type PGStore struct {
	// Window is how many of a zone's newest text matches Match ranks; 0
	// means MatchWindow.
	Window int
}

func (s PGStore) window() int {
	if s.Window > 0 {
		return s.Window
	}
	return MatchWindow
}

var _ Store = PGStore{}

func (PGStore) Insert(ctx context.Context, q storage.DBTX, m Memory) error {
	tags, _ := json.Marshal(nonNil(m.Tags))
	meta, _ := json.Marshal(m.Metadata)
	if m.Metadata == nil {
		meta = []byte("{}")
	}
	// The row keeps the text as given; Match takes the snippet markers out
	// of the text it makes headlines of, so a memory cannot forge one.
	_, err := q.ExecContext(ctx, `INSERT INTO memory_items (id, zone_id, owner_id, author_id, scope, text, tags, metadata,
		importance, created_at, expires_at, perm_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Zone, m.Owner, m.Author, m.Scope, m.Text, string(tags), string(meta), m.Importance,
		storage.FormatTime(m.CreatedAt), storage.NullTime(m.ExpiresAt), m.PermToken)
	if err != nil {
		return storage.Translate(err)
	}
	for _, t := range m.Tags {
		if _, err := q.ExecContext(ctx, `INSERT INTO memory_tags (tag, memory_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, t, m.ID); err != nil {
			return err
		}
	}
	return nil
}

func (PGStore) SetPermToken(ctx context.Context, q storage.DBTX, id ID, token authz.Token) error {
	return setPermToken(ctx, q, id, token)
}

func (PGStore) Get(ctx context.Context, q storage.DBTX, id ID, now time.Time) (Memory, error) {
	return SQLStore{}.Get(ctx, q, id, now)
}

func (PGStore) Delete(ctx context.Context, q storage.DBTX, id ID) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM memory_tags WHERE memory_id = ?`, id); err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, `DELETE FROM memory_items WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errs.NotFound
	}
	return nil
}

func (st PGStore) Match(ctx context.Context, q storage.DBTX, zone string, terms, tags []string, now time.Time, limit int) ([]Candidate, error) {
	tf, targs := tagFilter(tags)
	args := append([]any{search.TSQuery(terms), zone, st.window(), storage.FormatTime(now)}, targs...)
	args = append(args, limit, search.MarkOpen+search.MarkClose, search.HeadlineOptions)
	return storage.QueryAll(ctx, q, func(s storage.Scanner) (Candidate, error) {
		var c Candidate
		var snip string
		m, err := scanMemory(s, &c.Relevance, &snip)
		if err != nil {
			return Candidate{}, err
		}
		c.Memory, c.Snippet = m, search.ParseMarked(snip)
		return c, nil
		// win is the zone's newest text matches (expired or not, whatever
		// their tags, as on SQLite): only they are ranked. Headlines are
		// made for the rows returned only.
	}, `WITH qq AS (SELECT to_tsquery('`+search.TSConfig+`', ?) AS q),
		win AS (SELECT w.rid FROM memory_items w, qq WHERE w.zone_id = ? AND w.tsv @@ qq.q ORDER BY w.rid DESC LIMIT ?),
		page AS (
			SELECT m.*, ts_rank(m.tsv, qq.q, 1) AS rank
			FROM memory_items m JOIN win ON win.rid = m.rid, qq
			WHERE `+live+tf+`
			ORDER BY rank DESC, m.rid DESC LIMIT ?)
		SELECT `+memCols+`, m.rank, ts_headline('`+search.TSConfig+`', translate(m.text, ?, '  '), qq.q, ?)
		FROM page m, qq ORDER BY m.rank DESC, m.rid DESC`, args...)
}

func (PGStore) List(ctx context.Context, q storage.DBTX, zone string, tags []string, now time.Time, beforeAt time.Time, beforeID ID, limit int) ([]Memory, error) {
	return SQLStore{}.List(ctx, q, zone, tags, now, beforeAt, beforeID, limit)
}

func (PGStore) Expired(ctx context.Context, q storage.DBTX, now time.Time, limit int) ([]ID, error) {
	return SQLStore{}.Expired(ctx, q, now, limit)
}
