package main

import (
	"math"
	"math/rand/v2"
	"strings"
)

// vocabulary is a deterministic list of made-up words; words are drawn with
// a Zipf-like skew, as in natural text, so some queries match many documents
// and others few.
type vocabulary struct {
	words []string
	cdf   []float64
}

func newVocabulary(n int, seed uint64) *vocabulary {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "di", "fe", "go", "hu", "ja", "bri", "cla", "dro", "ste"}
	v := &vocabulary{}
	seen := map[string]bool{}
	for len(v.words) < n {
		var b strings.Builder
		for k := 2 + rng.IntN(3); k > 0; k-- {
			b.WriteString(syll[rng.IntN(len(syll))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			v.words = append(v.words, w)
		}
	}
	sum := 0.0
	for i := range v.words {
		sum += 1 / math.Pow(float64(i+1), 0.9)
		v.cdf = append(v.cdf, sum)
	}
	for i := range v.cdf {
		v.cdf[i] /= sum
	}
	return v
}

func (v *vocabulary) word(rng *rand.Rand) string {
	x := rng.Float64()
	lo, hi := 0, len(v.cdf)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if v.cdf[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return v.words[lo]
}

// text returns n words drawn from v, in lines of 12.
func (v *vocabulary) text(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(v.word(rng))
		if (i+1)%12 == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// queries returns n queries of 1-3 words drawn from the middle of the
// vocabulary (neither the commonest words nor the rarest).
func (v *vocabulary) queries(rng *rand.Rand, n int) []string {
	out := make([]string, n)
	for i := range out {
		k := 1 + rng.IntN(3)
		ws := make([]string, k)
		for j := range ws {
			ws[j] = v.words[10+rng.IntN(len(v.words)/4)]
		}
		out[i] = strings.Join(ws, " ")
	}
	return out
}
