package authz

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// SpiceDB's patterns, which the hand-written checks must agree with.
var (
	typeRE     = regexp.MustCompile(`^([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$`)
	idRE       = regexp.MustCompile(`^([a-zA-Z0-9/_|\-=+]+|\*)$`)
	relationRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}[a-z0-9]$`)
)

func TestNamesMatchSpiceDBsPatterns(t *testing.T) {
	t.Parallel()
	agree := func(s string) {
		t.Helper()
		if got, want := validType(s), typeRE.MatchString(s); got != want {
			t.Fatalf("validType(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := validRelation(s), relationRE.MatchString(s); got != want {
			t.Fatalf("validRelation(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := validID(s), len(s) <= 1024 && idRE.MatchString(s); got != want {
			t.Fatalf("validID(%q) = %v, the pattern says %v", s, got, want)
		}
	}
	for _, s := range []string{"", "*", "**", "a*", "abc", "ab", "a_c", "ab_", "_bc", "1bc", "Abc", "a-c",
		"billing/invoice", "billing/", "/invoice", "ab/invoice", "abc/def/ghi", "abc//def", "abc/de_",
		"x\n", "abc\n", "é", "abé", "a|b", "a=b", "a+b", "a b",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65),
		strings.Repeat("a", 63) + "/abc", strings.Repeat("a", 64) + "/abc", "abc/" + strings.Repeat("a", 64), "abc/" + strings.Repeat("a", 65),
		strings.Repeat("a", 1024), strings.Repeat("a", 1025)} {
		agree(s)
	}
	const alphabet = "az09_/AZ-*|=+ é\n"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		b := make([]byte, rng.IntN(70))
		for i := range b {
			// Mostly letters, so that long valid names come up too.
			if rng.IntN(4) > 0 {
				b[i] = 'a' + byte(rng.IntN(26))
			} else {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		agree(string(b))
	}
}
