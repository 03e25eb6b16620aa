package search

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nexus-authz/nexus/storage"
)

// Ranking on SQLite, per zone.
//
// FTS5's own bm25() takes its statistics — how many documents hold each
// word, how many documents there are, their average length — from the
// whole table, every zone's documents together. Ranked by it, the order of
// a zone's results would change with the words of other zones, and a
// member could learn how common a word is elsewhere. So the SQLite stores
// rank with BM25 themselves, with the zone's statistics only:
//
//   - each document's length (tokens) is kept on its row, and the zone's
//     document count and total length in a row per zone, updated with the
//     document (ZoneStats);
//   - a query's words are looked up in the index's vocabulary (an fts5vocab
//     'instance' table) by the terms FTS5 made of them (IndexTerm): one pass
//     over the postings of those words gives each document's frequency of
//     each word, and, for the zone's documents, how many of them hold it.
//
// That is the same work FTS5's bm25() does (it, too, reads every posting of
// each word to count the documents holding it), plus one lookup of the
// zone's row. The formula and its constants are FTS5's (k1 = 1.2, b = 0.75,
// an idf of at least 1e-6), so a zone alone ranks as FTS5 would rank it.
//
// PostgreSQL's ts_rank uses no statistics across documents (a word's
// frequency in the document and the document's length only), so the
// PostgreSQL stores need none of this.

// BM25 constants, FTS5's.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// BM25Expr is the SQL expression of one word's BM25 contribution to a
// document's score, from the expressions tf (the word's frequency in the
// document), dl (the document's length), df (the zone's documents holding
// the word), n (the zone's documents) and total (their total length).
func BM25Expr(tf, dl, df, n, total string) string {
	idf := fmt.Sprintf("max(ln((%[2]s - %[1]s + 0.5) / (%[1]s + 0.5)), 1e-6)", df, n)
	avgdl := fmt.Sprintf("(max(%s, 1) * 1.0 / max(%s, 1))", total, n)
	return fmt.Sprintf("(%s * %s * %g / (%s + %g * (%g + %g * %s / %s)))",
		idf, tf, bm25K1+1, tf, bm25K1, 1-bm25B, bm25B, dl, avgdl)
}

// VocabTerms returns the SQL list of placeholders for terms' IndexTerms
// (distinct, for "term IN (...)") and its arguments.
func VocabTerms(terms []string) (string, []any) {
	seen := map[string]bool{}
	var marks []string
	var args []any
	for _, t := range terms {
		it := IndexTerm(t)
		if seen[it] {
			continue
		}
		seen[it] = true
		marks = append(marks, "?")
		args = append(args, it)
	}
	return "(" + strings.Join(marks, ", ") + ")", args
}

// ZoneStats adds docs documents of tokens tokens (negative to take them
// away) to zone's row in table (zone_id, docs, tokens).
func ZoneStats(ctx context.Context, q storage.DBTX, table, zone string, docs, tokens int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO `+table+` (zone_id, docs, tokens) VALUES (?, ?, ?)
		ON CONFLICT (zone_id) DO UPDATE SET docs = docs + excluded.docs, tokens = tokens + excluded.tokens`,
		zone, docs, tokens)
	return err
}

// FTS5Tokens returns how many tokens the first column of row rowid of the
// FTS5 table fts holds: FTS5 keeps it in the table's docsize shadow table,
// a varint per column.
func FTS5Tokens(ctx context.Context, q storage.DBTX, fts string, rowid int64) (int64, error) {
	var sz []byte
	if err := q.QueryRowContext(ctx, `SELECT sz FROM `+fts+`_docsize WHERE id = ?`, rowid).Scan(&sz); err != nil {
		return 0, storage.Translate(err)
	}
	n, ok := sqliteVarint(sz)
	if !ok {
		return 0, errors.New("search: unreadable FTS5 document size")
	}
	return n, nil
}

// sqliteVarint decodes the SQLite varint at the start of b: big-endian, 7
// bits a byte while the high bit is set, all 8 bits of a ninth byte.
func sqliteVarint(b []byte) (int64, bool) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		if i == 8 {
			return int64(v<<8 | uint64(b[i])), true
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return int64(v), true
		}
	}
	return 0, false
}
