package paths_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// rules are the phrases Parse's errors use, one per rule (path_test.go).
var rules = []string{ruleEmpty, ruleUTF8, ruleAbsolute, ruleControl, ruleEmptySegment, ruleDots, ruleSegmentLen, rulePathLen}

// FuzzParse feeds Parse arbitrary strings. A rejected input is
// InvalidArgument naming the field and the rule broken; an accepted one is
// canonical (absolute, NFC, no empty, . or .. segments, no control
// characters, within MaxPathBytes and MaxSegmentBytes), parses to itself,
// and splits and joins back to itself. make fuzz runs it for longer.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/", "/a", "/a/b/c", "/a/b/", "/docs/report.pdf", "/my docs/r\u00e9sum\u00e9 \U0001F600.pdf", `/a\b`,
		"/.a/a./..b/.../a.b", "/caf" + eDecomposed, "/" + qa, "/" + segDecomposed382, path4096, path4096 + "/",
		"", "a/b", "./a", " /a", "/a/\xff", "/caf\xc3", "/\xed\xa0\x80", "/a\x00b", "/a\tb", "/a\u0085b",
		"/a//b", "//", "/./a", "/a/..", "/a/../", "/x/" + seg(256), path4097, "/" + strings.Repeat(qa, 85),
		strings.Repeat("/d", paths.MaxDepth+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, slash, err := paths.Parse(s)
		if err != nil {
			if !errors.Is(err, errs.InvalidArgument) {
				t.Fatalf("Parse(%q): %v is not InvalidArgument", s, err)
			}
			if p != "" || slash {
				t.Fatalf("Parse(%q) failed but returned %q, %v", s, p, slash)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid path: ") {
				t.Fatalf("Parse(%q): %q does not name the field", s, msg)
			}
			named := false
			for _, r := range rules {
				named = named || strings.Contains(msg, r)
			}
			if !named {
				t.Fatalf("Parse(%q): %q names no rule", s, msg)
			}
			return
		}
		checkCanonical(t, s, p)
		if slash != (s != "/" && strings.HasSuffix(norm.NFC.String(s), "/")) {
			t.Fatalf("Parse(%q): trailing slash reported as %v", s, slash)
		}
	})
}

// checkCanonical asserts everything an accepted path promises.
func checkCanonical(t *testing.T, in string, p paths.Path) {
	t.Helper()
	s := string(p)
	switch {
	case !strings.HasPrefix(s, "/"):
		t.Fatalf("Parse(%q) = %q: not absolute", in, p)
	case !utf8.ValidString(s):
		t.Fatalf("Parse(%q) = %q: not UTF-8", in, p)
	case !norm.NFC.IsNormalString(s):
		t.Fatalf("Parse(%q) = %q: not NFC", in, p)
	case len(s) > paths.MaxPathBytes:
		t.Fatalf("Parse(%q) = %d bytes, over %d", in, len(s), paths.MaxPathBytes)
	case p != paths.Root && strings.HasSuffix(s, "/"):
		t.Fatalf("Parse(%q) = %q: trailing slash", in, p)
	}
	for _, r := range s {
		if r == 0 || unicode.IsControl(r) {
			t.Fatalf("Parse(%q) = %q: control character %U", in, p, r)
		}
	}
	for _, seg := range p.Segments() {
		if seg == "" || seg == "." || seg == ".." || len(seg) > paths.MaxSegmentBytes || strings.Contains(seg, "/") {
			t.Fatalf("Parse(%q) = %q: bad segment %q", in, p, seg)
		}
		if err := paths.ValidateName(seg); err != nil {
			t.Fatalf("Parse(%q) = %q: segment %q is not a valid name: %v", in, p, seg, err)
		}
	}
	again, slash, err := paths.Parse(s)
	if err != nil || again != p || slash {
		t.Fatalf("Parse(%q) = %q, which parses to %q, %v, %v", in, p, again, slash, err)
	}
	if d := p.Depth(); d != len(p.Segments()) {
		t.Fatalf("%q: Depth %d, %d segments", p, d, len(p.Segments()))
	} else if err := paths.CheckDepth("path", p); (err != nil) != (d > paths.MaxDepth) {
		t.Fatalf("%q: depth %d, CheckDepth: %v", p, d, err)
	} else if err != nil && !strings.Contains(err.Error(), "at most 32 levels") {
		t.Fatalf("%q: CheckDepth's error %q does not name the limit", p, err)
	}
	if p == paths.Root {
		return
	}
	parent, name := p.Split()
	if parent.Join(name) != p || !p.IsWithin(parent) || parent.IsWithin(p) || !p.IsWithin(paths.Root) {
		t.Fatalf("%q splits into %q and %q", p, parent, name)
	}
	rebuilt := paths.Root
	for _, seg := range p.Segments() {
		rebuilt = rebuilt.Join(seg)
	}
	if rebuilt != p {
		t.Fatalf("%q rebuilt from its segments is %q", p, rebuilt)
	}
}

// FuzzValidateName: a name is accepted iff it is one segment that Parse
// accepts, and a rejection is InvalidArgument naming the field.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "report.pdf", "r\u00e9sum\u00e9", "", ".", "..", "a/b", "/", "a\x00", seg(256), qa} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := paths.ValidateName(name)
		p, _, perr := paths.Parse("/" + name)
		ok := name != "" && perr == nil && !strings.Contains(name, "/")
		if (err == nil) != ok {
			t.Fatalf("ValidateName(%q) = %v, but Parse(/%q) = %q, %v", name, err, name, p, perr)
		}
		if err != nil && (!errors.Is(err, errs.InvalidArgument) || !strings.HasPrefix(err.Error(), "invalid ")) {
			t.Fatalf("ValidateName(%q): %v does not say what is wrong", name, err)
		}
		if err == nil && p.Depth() != 1 {
			t.Fatalf("ValidateName(%q) accepted a name that is %d segments", name, p.Depth())
		}
	})
}
