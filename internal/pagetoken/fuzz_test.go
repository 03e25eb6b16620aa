package pagetoken

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// fuzzCursor has the shape of the file plane's cursors (files.cursor,
// globCursor): a few strings and a number.
type fuzzCursor struct {
	Folder string `json:"f"`
	After  string `json:"a"`
	N      int64  `json:"n,omitempty"`
}

// fuzzKey seals the seed tokens; the fuzzer mutates them.
var fuzzKey = []byte("nexus fuzz key")

// FuzzOpen feeds Open arbitrary text. It never panics, and it accepts a
// token only if it decrypts under the key to one of the cursors sealed
// for the seeds: a forgery that opens would be a broken AEAD or a bug in
// unpad, either of which this reports.
func FuzzOpen(f *testing.F) {
	s := New(fuzzKey)
	sealed := map[fuzzCursor]bool{}
	for _, c := range []fuzzCursor{
		{Folder: "fld_01JDX", After: "report.pdf"},
		{Folder: "fld_01JDX", After: "r\u00e9sum\u00e9 \U0001F600.pdf", N: 42},
		{After: "/secret/hidden-name.txt"},
		{},
		{Folder: "fld_x", After: string(bytes.Repeat([]byte("n"), 255))},
	} {
		sealed[c] = true
		f.Add(s.Seal(c))
	}
	f.Add("")
	f.Add("AAAA")
	f.Add(base64.RawURLEncoding.EncodeToString(make([]byte, 12+16+256)))
	f.Fuzz(func(t *testing.T, tok string) {
		var c fuzzCursor
		if !s.Open(tok, &c) {
			return
		}
		if !sealed[c] {
			t.Fatalf("Open(%q) accepted a token that was never sealed: %+v", tok, c)
		}
	})
}

// FuzzSealRoundTrip: whatever a cursor holds, Open(Seal(c)) is c, and a
// token's length depends only on how many 256-byte buckets the cursor
// fills, never on its exact size.
func FuzzSealRoundTrip(f *testing.F) {
	s := New(fuzzKey)
	f.Add("fld_01JDX", "report.pdf", int64(0))
	f.Add("", "\x00\xff not UTF-8", int64(-1))
	f.Add("fld_x", string(bytes.Repeat([]byte("\u00e9"), 300)), int64(1<<62))
	f.Fuzz(func(t *testing.T, folder, after string, n int64) {
		in := fuzzCursor{Folder: folder, After: after, N: n}
		tok := s.Seal(in)
		var out fuzzCursor
		if !s.Open(tok, &out) {
			t.Fatalf("Open(Seal(%+v)) failed", in)
		}
		// JSON turns invalid UTF-8 into U+FFFD: compare with what a
		// JSON round trip makes of the input.
		want := fuzzCursor{Folder: jsonString(folder), After: jsonString(after), N: n}
		if out != want {
			t.Fatalf("Open(Seal(%+v)) = %+v", in, out)
		}
		if New([]byte("another key")).Open(tok, &out) {
			t.Fatalf("another key opened %q", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		if body := len(raw) - s.aead.NonceSize() - s.aead.Overhead(); body <= 0 || body%bucket != 0 {
			t.Fatalf("a token of %d bytes holds %d bytes of plaintext, not a multiple of %d", len(raw), body, bucket)
		}
	})
}

// jsonString is s after a JSON round trip: each invalid byte becomes
// U+FFFD, as ranging over a string makes it.
func jsonString(s string) string { return string([]rune(s)) }

// FuzzUnpad: unpad never panics, never returns more than it was given,
// and undoes pad.
func FuzzUnpad(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add(pad([]byte(`{"f":"fld_1","a":"x"}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if out, ok := unpad(b); ok && len(out) > len(b)-4 {
			t.Fatalf("unpad(%x) = %x: longer than its input allows", b, out)
		}
		p := pad(b)
		if len(p)%bucket != 0 || len(p) < len(b)+4 {
			t.Fatalf("pad(%d bytes) is %d bytes", len(b), len(p))
		}
		out, ok := unpad(p)
		if !ok || !bytes.Equal(out, b) {
			t.Fatalf("unpad(pad(%x)) = %x, %v", b, out, ok)
		}
	})
}
