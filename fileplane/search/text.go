package search

import (
	"strings"
	"unicode"

	"github.com/nexus-authz/nexus/errs"
)

// Query limits.
const (
	MaxQueryBytes = 1024
	MaxQueryTerms = 32
	maxTermBytes  = 64
)

// stopwords are words too common to search for.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be but by for from has have he her his i if in into is it
		its me my no not of on or our she so such than that the their them then there these they this to was we
		were what when where which who why will with you your`) {
		stopwords[w] = true
	}
}

// Terms splits a query into its searchable words: lower-case runs of
// letters and digits, without stopwords and duplicates. A query with none
// is InvalidArgument, saying why (field names the request field).
func Terms(field, query string) ([]string, error) {
	if len(query) > MaxQueryBytes {
		return nil, errs.Invalid(field, "is %d bytes; at most %d", len(query), MaxQueryBytes)
	}
	words := strings.FieldsFunc(strings.ToLower(query), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) == 0 {
		return nil, errs.Invalid(field, "has no words to search for; give one or more words")
	}
	var terms, dropped []string
	seen := map[string]bool{}
	for _, w := range words {
		if len(w) > maxTermBytes || seen[w] {
			continue
		}
		seen[w] = true
		if stopwords[w] {
			dropped = append(dropped, w)
			continue
		}
		terms = append(terms, w)
	}
	if len(terms) == 0 {
		return nil, errs.Invalid(field, "has only stopwords (%s), which are not indexed; add a more specific word", strings.Join(dropped, ", "))
	}
	if len(terms) > MaxQueryTerms {
		return nil, errs.Invalid(field, "has %d distinct words; at most %d", len(terms), MaxQueryTerms)
	}
	return terms, nil
}

// FTS5Match is terms as an SQLite FTS5 query: any of the words. Terms hold
// only letters and digits, so quoting them is enough.
func FTS5Match(terms []string) string {
	q := make([]string, len(terms))
	for i, t := range terms {
		q[i] = `"` + t + `"`
	}
	return strings.Join(q, " OR ")
}

// Range is a byte range [Start, End).
type Range struct{ Start, End int }

// Snippet is a fragment of a document with the matched words marked.
type Snippet struct {
	Text       string
	Highlights []Range
}

// Markers a store puts around matched words in the text it returns;
// ParseMarked turns them into a Snippet.
const (
	MarkOpen  = "\x02"
	MarkClose = "\x03"
)

// ParseMarked turns text with MarkOpen/MarkClose around matches into a
// Snippet.
func ParseMarked(s string) Snippet {
	var b strings.Builder
	var hs []Range
	start := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case MarkOpen[0]:
			start = b.Len()
		case MarkClose[0]:
			if start >= 0 && b.Len() > start {
				hs = append(hs, Range{Start: start, End: b.Len()})
			}
			start = -1
		default:
			b.WriteByte(s[i])
		}
	}
	return Snippet{Text: b.String(), Highlights: hs}
}

// Mark renders sn with open and close around each highlight (for terminals
// and tests).
func (sn Snippet) Mark(open, close string) string {
	var b strings.Builder
	prev := 0
	for _, h := range sn.Highlights {
		b.WriteString(sn.Text[prev:h.Start])
		b.WriteString(open)
		b.WriteString(sn.Text[h.Start:h.End])
		b.WriteString(close)
		prev = h.End
	}
	b.WriteString(sn.Text[prev:])
	return b.String()
}
