package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// IndexTerm is the term SQLite's FTS5 tokenizer 'porter unicode61' makes
// of a query word from Terms: its letters without diacritics (Latin
// letters with one diacritic lose it, as unicode61's remove_diacritics=1
// does), then the Porter stemmer exactly as FTS5 runs it. The SQLite stores
// look words up in the index's vocabulary by it, to rank with per-zone
// statistics (see bm25.go); TestIndexTermMatchesFTS5 holds it to FTS5's
// own answer.
func IndexTerm(word string) string {
	return porter(foldDiacritics(word))
}

// foldDiacritics removes the diacritic of each Latin letter that has one
// (é → e), leaving other letters as they are.
func foldDiacritics(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune is r's base letter when r is a Latin letter (U+00C0–U+024F,
// U+1E00–U+1EFF) made of an ASCII letter and one combining mark; the long
// s (ſ, and ẛ) is s.
func foldRune(r rune) rune {
	if !(r >= 0xC0 && r <= 0x24F || r >= 0x1E00 && r <= 0x1EFF) {
		return r
	}
	d := []rune(norm.NFD.String(string(r)))
	if d[0] == 'ſ' {
		d[0] = 's'
	}
	switch {
	case len(d) == 1:
		return d[0]
	case len(d) == 2 && d[0] < utf8.RuneSelf && unicode.IsLetter(d[0]) && unicode.Is(unicode.Mn, d[1]):
		return d[0]
	}
	return r
}

// porterMaxToken is the longest token (in bytes) FTS5's porter stems;
// longer ones, and ones shorter than 3 bytes, are indexed as they are.
const porterMaxToken = 64

// stemmer is a word being stemmed (bytes, as FTS5 treats it).
type stemmer []byte

// at is the byte at i, or 0 before the start (FTS5 reads the byte before
// its buffer there, a zero).
func (w stemmer) at(i int) byte {
	if i < 0 {
		return 0
	}
	return w[i]
}

func isVowel(c byte, yIsVowel bool) bool {
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || yIsVowel && c == 'y'
}

// gobbleVC returns the length of the shortest prefix of w that holds a
// vowel followed by a consonant, or 0 if there is none.
func gobbleVC(w []byte, prevCons bool) int {
	cons := prevCons
	i := 0
	for ; i < len(w); i++ {
		if cons = !isVowel(w[i], cons); !cons {
			break
		}
	}
	for i++; i < len(w); i++ {
		if cons = !isVowel(w[i], cons); cons {
			return i + 1
		}
	}
	return 0
}

// The conditions of Porter's rules on a stem: its measure m (the number of
// vowel-consonant sequences), *o, *v*.
func mGt0(w []byte) bool { return gobbleVC(w, false) > 0 }

func mGt1(w []byte) bool {
	n := gobbleVC(w, false)
	return n > 0 && gobbleVC(w[n:], true) > 0
}

func mEq1(w []byte) bool {
	n := gobbleVC(w, false)
	return n > 0 && gobbleVC(w[n:], true) == 0
}

func oStar(w []byte) bool {
	if c := w[len(w)-1]; c == 'w' || c == 'x' || c == 'y' {
		return false
	}
	mask, cons := 0, false
	for _, c := range w {
		cons = !isVowel(c, cons)
		mask <<= 1
		if cons {
			mask++
		}
	}
	return mask&7 == 5
}

func mGt1AndSOrT(w []byte) bool {
	c := w[len(w)-1]
	return (c == 's' || c == 't') && mGt1(w)
}

func hasVowel(w []byte) bool {
	for i, c := range w {
		if isVowel(c, i > 0) {
			return true
		}
	}
	return false
}

// rule replaces suffix by to when the stem before it meets cond (nil:
// always).
type rule struct {
	suffix, to string
	cond       func([]byte) bool
}

// apply applies the first of rules whose suffix w ends with (leaving a
// stem of at least one byte), if its condition holds. It reports whether
// that rule was applied.
func (w *stemmer) apply(rules []rule) bool {
	for _, r := range rules {
		n := len(*w) - len(r.suffix)
		if n <= 0 || string((*w)[n:]) != r.suffix {
			continue
		}
		if r.cond != nil && !r.cond((*w)[:n]) {
			return false
		}
		*w = append((*w)[:n], r.to...)
		return true
	}
	return false
}

var (
	step1b2 = []rule{{"at", "ate", nil}, {"bl", "ble", nil}, {"iz", "ize", nil}}
	step2   = []rule{
		{"ational", "ate", mGt0}, {"tional", "tion", mGt0},
		{"enci", "ence", mGt0}, {"anci", "ance", mGt0},
		{"izer", "ize", mGt0},
		{"logi", "log", mGt0},
		{"bli", "ble", mGt0}, {"alli", "al", mGt0}, {"entli", "ent", mGt0}, {"eli", "e", mGt0}, {"ousli", "ous", mGt0},
		{"ization", "ize", mGt0}, {"ation", "ate", mGt0}, {"ator", "ate", mGt0},
		{"alism", "al", mGt0}, {"iveness", "ive", mGt0}, {"fulness", "ful", mGt0}, {"ousness", "ous", mGt0},
		{"aliti", "al", mGt0}, {"iviti", "ive", mGt0}, {"biliti", "ble", mGt0},
	}
	step3 = []rule{
		{"ical", "ic", mGt0},
		{"ness", "", mGt0},
		{"icate", "ic", mGt0}, {"iciti", "ic", mGt0},
		{"ful", "", mGt0},
		{"ative", "", mGt0},
		{"alize", "al", mGt0},
	}
	step4 = []rule{
		{"al", "", mGt1},
		{"ance", "", mGt1}, {"ence", "", mGt1},
		{"er", "", mGt1},
		{"ic", "", mGt1},
		{"able", "", mGt1}, {"ible", "", mGt1},
		{"ant", "", mGt1}, {"ement", "", mGt1}, {"ment", "", mGt1}, {"ent", "", mGt1},
		{"ion", "", mGt1AndSOrT}, {"ou", "", mGt1},
		{"ism", "", mGt1},
		{"ate", "", mGt1}, {"iti", "", mGt1},
		{"ous", "", mGt1},
		{"ive", "", mGt1},
		{"ize", "", mGt1},
	}
)

// tidy1b ends step 1b after "ed" or "ing" went: at → ate, bl → ble,
// iz → ize, a double consonant (but l, s, z) loses one, and a short stem
// (m = 1, *o) gets an e.
func (w *stemmer) tidy1b() {
	if w.apply(step1b2) {
		return
	}
	n := len(*w)
	c := (*w).at(n - 1)
	switch {
	case !isVowel(c, false) && c != 'l' && c != 's' && c != 'z' && c == (*w).at(n-2):
		*w = (*w)[:n-1]
	case mEq1(*w) && oStar(*w):
		*w = append(*w, 'e')
	}
}

// porter is FTS5's Porter stemmer. FTS5 picks a step's rule by the
// word's next-to-last byte; every suffix in one step's list differs from
// the others there or is checked longest first, so trying them in order
// picks the same one.
func porter(word string) string {
	if len(word) < 3 || len(word) > porterMaxToken {
		return word
	}
	w := stemmer(word)
	// Step 1a.
	if w.at(len(w)-1) == 's' {
		n := len(w)
		switch {
		case w.at(n-2) == 'e' && (n > 4 && w[n-4] == 's' && w[n-3] == 's' || n > 3 && w[n-3] == 'i'):
			w = w[:n-2]
		case w.at(n-2) != 's':
			w = w[:n-1]
		}
	}
	// Step 1b: "eed" loses its d when m > 0; "ed" and "ing" go when a
	// vowel is left, and then the stem is tidied.
	n := len(w)
	switch {
	case n > 3 && string(w[n-3:]) == "eed":
		if mGt0(w[:n-3]) {
			w = w[:n-1]
		}
	case n > 2 && string(w[n-2:]) == "ed" && hasVowel(w[:n-2]):
		w = w[:n-2]
		w.tidy1b()
	case n > 3 && string(w[n-3:]) == "ing" && hasVowel(w[:n-3]):
		w = w[:n-3]
		w.tidy1b()
	}
	// Step 1c.
	if n := len(w); w[n-1] == 'y' && hasVowel(w[:n-1]) {
		w[n-1] = 'i'
	}
	w.apply(step2)
	w.apply(step3)
	w.apply(step4)
	// Step 5a.
	if n := len(w); w[n-1] == 'e' && (mGt1(w[:n-1]) || mEq1(w[:n-1]) && !oStar(w[:n-1])) {
		w = w[:n-1]
	}
	// Step 5b.
	if n := len(w); n > 1 && w[n-1] == 'l' && w[n-2] == 'l' && mGt1(w[:n-1]) {
		w = w[:n-1]
	}
	return string(w)
}
