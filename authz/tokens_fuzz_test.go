package authz_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/zedtoken"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage/postgres"
)

// Seeds: tokens of the shapes clients send back (tokens_test.go's).
var tokenSeeds = []string{
	"", "garbage", "Z2FyYmFnZQ==", ".16B374D848", ".1", "GhUKEzE3MzM0MTk0NDkwMDAwMDAwMDA=",
	"GhUKEzE3MzM0MTk0NDkwMDAwMDAwMDA=.16b374d848", "x.xyz", "x.1.2", "x.", "x.ffffffffffffffff", "x.10000000000000000",
}

// FuzzParseToken: ParseToken never panics; what it refuses is ErrBadToken
// with a message that says what is wrong; what it accepts keeps its ZedToken
// part and WAL position through a round trip (Zed, LSN, WithLSN); and any
// (ZedToken, position) pair formatted with WithLSN parses back to itself.
func FuzzParseToken(f *testing.F) {
	for _, s := range tokenSeeds {
		f.Add(s, uint64(0x16B374D848))
	}
	f.Fuzz(func(t *testing.T, s string, lsn uint64) {
		tok, err := authz.ParseToken(s)
		if err != nil {
			if !errors.Is(err, authz.ErrBadToken) {
				t.Fatalf("ParseToken(%q): %v is not ErrBadToken", s, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "WAL position") && !strings.Contains(msg, "more than one '.'") {
				t.Fatalf("ParseToken(%q): %q does not say what is wrong", s, msg)
			}
			if !strings.Contains(s, ".") {
				t.Fatalf("ParseToken(%q) refused a token without a WAL position", s)
			}
		} else {
			if string(tok) != s {
				t.Fatalf("ParseToken(%q) = %q", s, tok)
			}
			if strings.Contains(string(tok.Zed()), ".") {
				t.Fatalf("ParseToken(%q) accepted a ZedToken part with a '.': %q", s, tok.Zed())
			}
			again := tok.Zed().WithLSN(tok.LSN())
			if again.Zed() != tok.Zed() || again.LSN() != tok.LSN() {
				t.Fatalf("%q: Zed %q LSN %v, reformatted %q: Zed %q LSN %v", s, tok.Zed(), tok.LSN(), again, again.Zed(), again.LSN())
			}
			if _, err := authz.ParseToken(string(again)); err != nil {
				t.Fatalf("%q reformatted as %q does not parse: %v", s, again, err)
			}
		}
		// parse(format(x)) == x for a ZedToken (which has no '.') and a position.
		zed := authz.Token(strings.ReplaceAll(s, ".", ""))
		formatted := zed.WithLSN(postgres.LSN(lsn))
		back, err := authz.ParseToken(string(formatted))
		if err != nil {
			t.Fatalf("WithLSN(%q, %d) = %q does not parse: %v", zed, lsn, formatted, err)
		}
		if back.Zed() != zed || back.LSN() != postgres.LSN(lsn) {
			t.Fatalf("WithLSN(%q, %d) = %q parses as %q, %d", zed, lsn, formatted, back.Zed(), back.LSN())
		}
	})
}

// FuzzValidateToken gives an engine's ValidateToken arbitrary tokens,
// beside the tokens its own writes made: it never panics, refuses with
// ErrBadToken, and a token it accepts can be used: a check at least as
// fresh as it answers without an error (a token that passes and then
// fails every read was the finding this guards against).
func FuzzValidateToken(f *testing.F) {
	ctx := context.Background()
	// An hour's quantization: SpiceDB's own choice of revision predates
	// start-up for the whole run, as it does in the first moments after a
	// real start.
	e, err := authz.New(ctx, authz.Config{Schema: nexus.Schema})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	tok, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range append(tokenSeeds, string(tok), string(tok.WithLSN(0x16B374D848)), string(tok)+".xyz", farFuture(tok)) {
		f.Add(s)
	}
	item := authz.CheckItem{Resource: groupE, Permission: "member", Subject: bob}
	f.Fuzz(func(t *testing.T, s string) {
		err := e.ValidateToken(ctx, authz.Token(s))
		if err != nil {
			if !errors.Is(err, authz.ErrBadToken) {
				t.Fatalf("ValidateToken(%q): %v is not ErrBadToken", s, err)
			}
			if !strings.Contains(err.Error(), "invalid consistency token: ") {
				t.Fatalf("ValidateToken(%q): %q", s, err)
			}
			return
		}
		_ = e.Newest(authz.Token(s), tok)
		d, err := e.Check(ctx, item, authz.AtLeastAsFresh(authz.Token(s)))
		if err != nil {
			t.Fatalf("ValidateToken(%q) accepted it, but a check at it fails: %v", s, err)
		}
		if authz.Token(s).Zed() == tok.Zed() && !d.Allowed {
			t.Fatalf("a check at least as fresh as the write %q does not see it", s)
		}
	})
}

// farFuture is tok moved years ahead of any write.
func farFuture(tok authz.Token) string {
	d, err := zedtoken.Decode(&v1.ZedToken{Token: string(tok.Zed())})
	if err != nil || d.GetV1() == nil {
		return string(tok)
	}
	d.GetV1().Revision = "9" + d.GetV1().Revision
	enc, err := zedtoken.Encode(d)
	if err != nil {
		return string(tok)
	}
	return enc.Token
}
