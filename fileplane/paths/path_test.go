package paths_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// The rules, as the error names them. A case that breaks one rule must
// report that rule and no other.
const (
	ruleEmpty        = "must not be empty"
	ruleUTF8         = "is not valid UTF-8"
	ruleAbsolute     = "must be absolute"
	ruleControl      = "must not contain NUL or control characters"
	ruleEmptySegment = "must not contain empty segments"
	ruleDots         = "must not contain . or .. segments"
	ruleSegmentLen   = "bytes; at most 255"
	rulePathLen      = "bytes; at most 4096"
)

func seg(n int) string { return strings.Repeat("a", n) }

// Decomposed and precomposed e-acute: 3 bytes and 2 bytes.
const (
	eDecomposed  = "e\u0301"
	ePrecomposed = "\u00e9"
	// U+0958 DEVANAGARI LETTER QA is excluded from composition: NFC turns
	// its 3 bytes into 6 (U+0915 U+093C).
	qa, qaNFC = "\u0958", "\u0915\u093c"
)

var (
	// 16 segments of 255 bytes: exactly MaxPathBytes.
	path4096 = strings.Repeat("/"+seg(255), 16)
	// 15 such segments, then one of 254 bytes and one of 1: one byte over.
	path4097 = strings.Repeat("/"+seg(255), 15) + "/" + seg(254) + "/a"
	// A 255-byte segment once normalised (127 e-acutes and an a), 382
	// bytes decomposed; 16 of them are 4096 bytes normalised, 6128 not.
	segNFC255        = strings.Repeat(ePrecomposed, 127) + "a"
	segDecomposed382 = strings.Repeat(eDecomposed, 127) + "a"
)

func TestParse(t *testing.T) {
	t.Parallel()
	require.Len(t, path4096, paths.MaxPathBytes)
	require.Len(t, path4097, paths.MaxPathBytes+1)
	require.Len(t, segNFC255, paths.MaxSegmentBytes)
	require.Len(t, segDecomposed382, 382)

	for _, tc := range []struct {
		name  string
		in    string
		want  paths.Path // when rule is ""
		slash bool
		rule  string // the rule broken; "" when valid
	}{
		// Valid paths.
		{name: "root", in: "/", want: paths.Root},
		{name: "one segment", in: "/a", want: "/a"},
		{name: "nested", in: "/a/b/c", want: "/a/b/c"},
		{name: "trailing slash is accepted and reported", in: "/a/b/", want: "/a/b", slash: true},
		{name: "trailing slash on one segment", in: "/a/", want: "/a", slash: true},
		{name: "dots inside names are names", in: "/.a/a./..b/.../a.b", want: "/.a/a./..b/.../a.b"},
		{name: "spaces and non-ASCII", in: "/my docs/r\u00e9sum\u00e9 \U0001F600.pdf", want: "/my docs/r\u00e9sum\u00e9 \U0001F600.pdf"},
		{name: "backslash is an ordinary byte", in: `/a\b`, want: `/a\b`},
		{name: "segment of 255 bytes", in: "/x/" + seg(255), want: paths.Path("/x/" + seg(255))},
		{name: "path of exactly 4096 bytes", in: path4096, want: paths.Path(path4096)},
		{name: "path of 4096 bytes with a trailing slash", in: path4096 + "/", want: paths.Path(path4096), slash: true},
		{name: "NFC: decomposed becomes precomposed", in: "/caf" + eDecomposed, want: "/caf" + ePrecomposed},
		{name: "NFC: segment limit counts the normalised form", in: "/" + segDecomposed382, want: paths.Path("/" + segNFC255)},
		{
			name: "NFC: path limit counts the normalised form",
			in:   strings.Repeat("/"+segDecomposed382, 16),
			want: paths.Path(strings.Repeat("/"+segNFC255, 16)),
		},
		{name: "NFC: composition exclusions stay decomposed", in: "/" + qa, want: paths.Path("/" + qaNFC)},

		// One rule broken each.
		{name: "empty", in: "", rule: ruleEmpty},
		{name: "not absolute", in: "a/b", rule: ruleAbsolute},
		{name: "not absolute: dot first", in: "./a", rule: ruleAbsolute},
		{name: "not absolute: space first", in: " /a", rule: ruleAbsolute},
		{name: "invalid UTF-8: stray byte", in: "/a/\xff", rule: ruleUTF8},
		{name: "invalid UTF-8: truncated rune", in: "/caf\xc3", rule: ruleUTF8},
		{name: "invalid UTF-8: encoded surrogate", in: "/\xed\xa0\x80", rule: ruleUTF8},
		{name: "NUL", in: "/a\x00b", rule: ruleControl},
		{name: "control: U+0001", in: "/a\x01", rule: ruleControl},
		{name: "control: tab", in: "/a\tb", rule: ruleControl},
		{name: "control: newline", in: "/a\nb", rule: ruleControl},
		{name: "control: DEL U+007F", in: "/a\x7fb", rule: ruleControl},
		{name: "control: NEL U+0085", in: "/a\u0085b", rule: ruleControl},
		{name: "empty segment: middle", in: "/a//b", rule: ruleEmptySegment},
		{name: "empty segment: leading", in: "//a", rule: ruleEmptySegment},
		{name: "empty segment: two slashes alone", in: "//", rule: ruleEmptySegment},
		{name: "empty segment: two trailing slashes", in: "/a//", rule: ruleEmptySegment},
		{name: "dot: leading", in: "/./a", rule: ruleDots},
		{name: "dot: middle", in: "/a/./b", rule: ruleDots},
		{name: "dot: trailing", in: "/a/.", rule: ruleDots},
		{name: "dot: alone", in: "/.", rule: ruleDots},
		{name: "dot-dot: leading", in: "/../a", rule: ruleDots},
		{name: "dot-dot: middle", in: "/a/../b", rule: ruleDots},
		{name: "dot-dot: trailing", in: "/a/..", rule: ruleDots},
		{name: "dot-dot: before a trailing slash", in: "/a/../", rule: ruleDots},
		{name: "segment of 256 bytes", in: "/x/" + seg(256), rule: ruleSegmentLen},
		{name: "segment of 256 bytes in the middle", in: "/x/" + seg(256) + "/y", rule: ruleSegmentLen},
		{name: "path of 4097 bytes", in: path4097, rule: rulePathLen},
		{name: "NFC: segment expanding past 255 bytes", in: "/" + strings.Repeat(qa, 85), rule: ruleSegmentLen},
		{name: "NFC: path expanding past 4096 bytes", in: strings.Repeat("/"+strings.Repeat(qa, 42), 17), rule: rulePathLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, slash, err := paths.Parse(tc.in)
			if tc.rule != "" {
				require.ErrorIs(t, err, errs.InvalidArgument)
				require.ErrorContains(t, err, tc.rule)
				require.Equal(t, paths.Path(""), p)
				require.False(t, slash)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, p)
			require.Equal(t, tc.slash, slash)
			require.LessOrEqual(t, len(p), paths.MaxPathBytes)
			again, slash, err := paths.Parse(string(p))
			require.NoError(t, err, "a parsed path parses again")
			require.Equal(t, p, again, "parsing is idempotent")
			require.False(t, slash, "a parsed path has no trailing slash")
		})
	}
}

func TestParseNFCEquality(t *testing.T) {
	t.Parallel()
	decomposed, _, err := paths.Parse("/caf" + eDecomposed + "/r" + eDecomposed + "sum" + eDecomposed)
	require.NoError(t, err)
	precomposed, _, err := paths.Parse("/caf" + ePrecomposed + "/r" + ePrecomposed + "sum" + ePrecomposed)
	require.NoError(t, err)
	require.Equal(t, precomposed, decomposed)
	require.Equal(t, paths.MustParse("/caf"+eDecomposed), paths.MustParse("/caf"+ePrecomposed))
	require.Panics(t, func() { paths.MustParse("relative") })
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		rule string // "" when valid
	}{
		{name: "plain", in: "report.pdf"},
		{name: "hidden", in: ".profile"},
		{name: "three dots", in: "..."},
		{name: "non-ASCII", in: "r\u00e9sum\u00e9"},
		{name: "255 bytes", in: seg(255)},
		{name: "255 bytes once normalised", in: segDecomposed382},
		{name: "empty", in: "", rule: "must not be empty"},
		{name: "dot", in: ".", rule: ruleDots},
		{name: "dot-dot", in: "..", rule: ruleDots},
		{name: "slash inside", in: "a/b", rule: "must not contain /"},
		{name: "trailing slash", in: "a/", rule: "must not contain /"},
		{name: "slash alone", in: "/", rule: "must not contain"},
		{name: "256 bytes", in: seg(256), rule: ruleSegmentLen},
		{name: "NUL", in: "a\x00", rule: ruleControl},
		{name: "control", in: "a\x01", rule: ruleControl},
		{name: "invalid UTF-8", in: "\xff", rule: ruleUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := paths.ValidateName(tc.in)
			if tc.rule == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, errs.InvalidArgument)
			require.ErrorContains(t, err, tc.rule)
		})
	}
}

func TestSegments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    paths.Path
		want []string
	}{
		{paths.Root, nil},
		{"/a", []string{"a"}},
		{"/a/b/c", []string{"a", "b", "c"}},
		{"/.a/r\u00e9sum\u00e9", []string{".a", "r\u00e9sum\u00e9"}},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.p.Segments())
			p := paths.Root
			for _, s := range tc.p.Segments() {
				p = p.Join(s)
			}
			require.Equal(t, tc.p, p, "joining the segments onto the root gives the path back")
		})
	}
}

func TestSplitJoin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p      paths.Path
		parent paths.Path
		name   string
	}{
		{paths.Root, paths.Root, ""},
		{"/a", paths.Root, "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c.txt", "/a/b", "c.txt"},
		{"/.a/..b", "/.a", "..b"},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			t.Parallel()
			parent, name := tc.p.Split()
			require.Equal(t, tc.parent, parent)
			require.Equal(t, tc.name, name)
			if tc.p != paths.Root {
				require.Equal(t, tc.p, parent.Join(name), "Join undoes Split")
			}
		})
	}
	require.Equal(t, paths.Path("/a"), paths.Root.Join("a"))
	require.Equal(t, paths.Path("/a/b"), paths.Path("/a").Join("b"))
	require.Equal(t, "/a/b", paths.Path("/a/b").String())
}

func TestIsWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p, q paths.Path
		want bool
	}{
		{"root within root", paths.Root, paths.Root, true},
		{"anything within root", "/a/b", paths.Root, true},
		{"itself", "/a", "/a", true},
		{"child", "/a/b", "/a", true},
		{"grandchild", "/a/b/c", "/a", true},
		{"sibling sharing a prefix", "/ab", "/a", false},
		{"nephew sharing a prefix", "/ab/c", "/a", false},
		{"parent within child", "/a", "/a/b", false},
		{"root within a folder", paths.Root, "/a", false},
		{"sibling", "/b", "/a", false},
		{"same name elsewhere", "/x/a", "/a", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.p.IsWithin(tc.q), "%q within %q", tc.p, tc.q)
		})
	}
}
