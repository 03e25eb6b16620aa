package paths

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/nexus-authz/nexus/errs"
)

// Path is a valid, normalised, absolute path: "/" or "/a/b" (no trailing
// slash). Only Parse makes one.
type Path string

// Limits of a path.
const (
	MaxPathBytes    = 4096
	MaxSegmentBytes = 255
)

// MaxDepth bounds how deep an entry may be: the number of names in its path
// (/a is 1 deep, /a/b 2; the root 0). Create, Move and Copy refuse to go
// deeper, with InvalidArgument.
//
// Why: a check on an entry follows one parent arrow per level of schema.zed
// (parent->read), and SpiceDB refuses to dispatch more than 50 steps deep.
// Measured on this schema (TestChecksAtMaxDepthFitTheEngine): a check on an
// entry d deep stays within that limit while d plus the depth of group
// nesting on the way (a zone admin or a grant through nested groups) is at
// most 47 (46 for share). 32 leaves room for 14 levels of nested groups.
// Deeper data made before this limit is denied item by item in bulk checks
// (authz.Decision.Err), never an error for everyone else.
const MaxDepth = 32

// Depth is the number of names in p: 0 for Root.
func (p Path) Depth() int {
	if p == Root {
		return 0
	}
	return strings.Count(string(p), "/")
}

// CheckDepth refuses a path deeper than MaxDepth, naming field.
func CheckDepth(field string, p Path) error {
	if d := p.Depth(); d > MaxDepth {
		return errs.Invalid(field, "is %d levels deep; entries may be at most %d levels below the root", d, MaxDepth)
	}
	return nil
}

// Root is the zone's root folder.
const Root Path = "/"

// Parse validates s and normalises it to NFC. A trailing slash is accepted
// (and reported, for callers that must refuse it on a file). Each rule
// broken is named in the error.
func Parse(s string) (p Path, trailingSlash bool, err error) { return ParseField("path", s) }

// ParseField is Parse for a request field of another name (source,
// destination): errors name field.
func ParseField(field, s string) (p Path, trailingSlash bool, err error) {
	bad := func(rule string, args ...any) (Path, bool, error) {
		return "", false, errs.Invalid(field, rule, args...)
	}
	switch {
	case s == "":
		return bad("must not be empty")
	case !utf8.ValidString(s):
		return bad("%q is not valid UTF-8", s)
	case !strings.HasPrefix(s, "/"):
		return bad("%q must be absolute (start with /)", s)
	}
	for _, r := range s {
		if r == 0 || unicode.IsControl(r) {
			return bad("%q must not contain NUL or control characters", s)
		}
	}
	s = norm.NFC.String(s)
	if s == "/" {
		return Root, false, nil
	}
	if strings.HasSuffix(s, "/") {
		trailingSlash = true
		s = strings.TrimSuffix(s, "/")
	}
	// The limit is on the path, not on the slash a caller may append.
	if len(s) > MaxPathBytes {
		return bad("is %d bytes; at most %d", len(s), MaxPathBytes)
	}
	for _, seg := range strings.Split(s[1:], "/") {
		switch {
		case seg == "":
			return bad("%q must not contain empty segments (//)", s)
		case seg == "." || seg == "..":
			return bad("%q must not contain . or .. segments", s)
		case len(seg) > MaxSegmentBytes:
			return bad("segment %.20q... is %d bytes; at most %d", seg, len(seg), MaxSegmentBytes)
		}
	}
	return Path(s), trailingSlash, nil
}

// MustParse is Parse for constants in tests.
func MustParse(s string) Path {
	p, _, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// ValidateName checks one segment (a new name).
func ValidateName(name string) error {
	if name == "" {
		return errs.Invalid("name", "must not be empty")
	}
	_, _, err := Parse("/" + name)
	if err == nil && strings.Contains(name, "/") {
		return errs.Invalid("name", "%q must not contain /", name)
	}
	return err
}

// Segments returns the names along p; none for Root.
func (p Path) Segments() []string {
	if p == Root {
		return nil
	}
	return strings.Split(string(p)[1:], "/")
}

// Split returns p's parent and last name. Root has no parent.
func (p Path) Split() (Path, string) {
	if p == Root {
		return Root, ""
	}
	i := strings.LastIndexByte(string(p), '/')
	if i == 0 {
		return Root, string(p)[1:]
	}
	return p[:i], string(p)[i+1:]
}

// Join appends name to p.
func (p Path) Join(name string) Path {
	if p == Root {
		return Path("/" + name)
	}
	return Path(string(p) + "/" + name)
}

// IsWithin reports whether p is q or below it.
func (p Path) IsWithin(q Path) bool {
	return p == q || q == Root || strings.HasPrefix(string(p), string(q)+"/")
}

func (p Path) String() string { return string(p) }
