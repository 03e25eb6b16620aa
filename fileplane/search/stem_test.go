package search_test

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

// stemWords are query words that exercise every rule of the Porter
// stemmer: English words, every suffix a rule knows on stems of every
// measure, random words, and Latin letters with diacritics.
func stemWords(t *testing.T) []string {
	seen := map[string]bool{}
	var words []string
	add := func(text string) {
		for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}) {
			if !seen[w] && len(w) <= 64 {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	names, err := filepath.Glob("testdata/corpus/*.txt")
	require.NoError(t, err)
	for _, n := range append(names, "stem.go", "text.go", "service.go", "indexer.go") {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		add(string(b))
	}
	add(`caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled sized
		hopping tanned falling hissing fizzed failing filing happy sky relational conditional rational valenci
		hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization predication operator
		feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti triplicate formative
		formalize electriciti electrical hopeful goodness revival allowance inference airliner gyroscopic adjustable
		defensible irritant replacement adjustment dependent adoption homologou communism activate angulariti
		homologous effective bowdlerize probate rate cease controll roll generalizations oscillators archaeology
		analogies eed seed feed ied ies sses bies aed oing ying eing yes`)
	suffixes := []string{"s", "es", "ies", "sses", "ss", "ed", "eed", "ing", "at", "bl", "iz", "y",
		"ational", "tional", "enci", "anci", "izer", "logi", "bli", "alli", "entli", "eli", "ousli", "ization",
		"ation", "ator", "alism", "iveness", "fulness", "ousness", "aliti", "iviti", "biliti", "icate", "ative",
		"alize", "iciti", "ical", "ful", "ness", "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement",
		"ment", "ent", "sion", "tion", "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize", "e", "ll", "le"}
	stems := []string{"", "b", "tr", "ab", "tre", "hop", "troub", "oat", "yell", "ray", "sky", "conflat", "generaliz",
		"feas", "strengt", "y", "ya", "bay", "cry", "syzyg", "rhythm", "ow", "box", "saw", "fil", "agr", "pl", "str", "contr"}
	for i, st := range stems {
		for j, s1 := range suffixes {
			add(st + s1)
			for k, s2 := range suffixes {
				if (i+j+k)%2 == 0 {
					add(st + s1 + s2)
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(1))
	const letters = "aaeeiioouuybcdfgllmnprsssttvwxz"
	for i := 0; i < 20000; i++ {
		b := make([]byte, 3+rng.Intn(12))
		for j := range b {
			b[j] = letters[rng.Intn(len(letters))]
		}
		add(string(b))
	}
	for r := rune(0xC0); r <= 0x24F; r++ {
		add("caf" + string(unicode.ToLower(r)) + " " + string(unicode.ToLower(r)) + "ting")
	}
	for r := rune(0x1E00); r <= 0x1EFF; r++ {
		add("x" + string(unicode.ToLower(r)) + "tion")
	}
	add("naïve café crème brûlée façade jalapeño straße ærøskøbing ﬁnal ǖber ελληνικά русский 日本語 123abc")
	return words
}

// IndexTerm is what FTS5's 'porter unicode61' indexes, for every word of
// stemWords: the SQLite stores find a query's words in FTS5's vocabulary
// with it.
func TestIndexTermMatchesFTS5(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()})
	words := stemWords(t)
	_, err := db.ExecContext(ctx, `CREATE VIRTUAL TABLE stem_fts USING fts5(w, tokenize = 'porter unicode61');
		CREATE VIRTUAL TABLE stem_vocab USING fts5vocab(stem_fts, 'instance')`)
	require.NoError(t, err)
	// Rows of 500 words: FTS5 gives each word's term at its offset.
	const perRow = 500
	for i := 0; i*perRow < len(words); i++ {
		row := words[i*perRow : min((i+1)*perRow, len(words))]
		_, err := db.ExecContext(ctx, `INSERT INTO stem_fts (rowid, w) VALUES (?, ?)`, i, strings.Join(row, " "))
		require.NoError(t, err)
	}
	got := make([][]string, len(words))
	rows, err := db.QueryContext(ctx, `SELECT doc, offset, term FROM stem_vocab`)
	require.NoError(t, err)
	for rows.Next() {
		var doc, offset int
		var term string
		require.NoError(t, rows.Scan(&doc, &offset, &term))
		i := doc*perRow + offset
		require.Less(t, offset, perRow, "a word of row %d was more than one token", doc)
		got[i] = append(got[i], term)
	}
	require.NoError(t, rows.Err())
	bad := 0
	for i, w := range words {
		if len(got[i]) != 1 || got[i][0] != search.IndexTerm(w) {
			bad++
			if bad <= 20 {
				t.Errorf("%q: FTS5 indexes %q, IndexTerm says %q", w, got[i], search.IndexTerm(w))
			}
		}
	}
	require.Zero(t, bad, "of %d words", len(words))
	t.Logf("%d words agree", len(words))
}
