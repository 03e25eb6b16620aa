package identity

import (
	"regexp"
	"slices"
	"strings"

	"github.com/nexus-authz/nexus/errs"
)

// Scope is what a service key may do on the SpiceDB API
// (authzed.api.v1). A key without a scope is a user's key: it serves
// Nexus's own API and is refused on the SpiceDB API; a key with a scope
// serves the SpiceDB API (and WhoAmI) and nothing else.
//
// The forms, as stored and as ParseScope returns them:
//
//	""                         a user's key (ScopeNone)
//	"check"                    reads (ScopeCheck)
//	"write"                    reads, and writes to every service definition (ScopeWrite)
//	"write:billing/"           reads, and writes to definitions named billing/...
//	"write:billing/,write:crm/" the same for several prefixes (sorted, no duplicates)
//
// A prefix is a definition namespace ending in "/" (SpiceDB's
// `billing/invoice` is in namespace billing/), so write:billing/ never
// reaches billing_old/x or crm/contact. Only the resource of a
// relationship must be in a prefix: billing/invoice:1#viewer@user:u_1 is a
// write on billing/invoice, whatever its subject's type. Nexus's own
// definitions (user, group, zone, folder, file, ...) have no namespace, so
// no prefix reaches them; and the SpiceDB API refuses writes to them to
// every key anyway.
type Scope string

const (
	// ScopeNone is a user's key.
	ScopeNone Scope = ""
	// ScopeCheck reads: checks, lookups, ReadRelationships, ReadSchema.
	ScopeCheck Scope = "check"
	// ScopeWrite reads and writes every service definition:
	// WriteRelationships, DeleteRelationships, and WriteSchema (if the
	// key's user is an operator). It is the scope of keys made before
	// prefixes existed, and keeps their meaning.
	ScopeWrite Scope = "write"
)

// writePrefix starts a prefixed write scope's items.
const writePrefix = "write:"

// MaxScopePrefixes is the most definition prefixes one key names.
const MaxScopePrefixes = 16

// prefixRE is a definition namespace with its trailing slash: SpiceDB's
// object type pattern, ^([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$,
// without its last segment.
var prefixRE = regexp.MustCompile(`^([a-z][a-z0-9_]{1,61}[a-z0-9]/)+$`)

// scopeForms is what every scope error says is accepted.
const scopeForms = `accepted: check, write, or write:PREFIX[,write:PREFIX...] where PREFIX is a definition namespace ending in "/", such as write:billing/ (lowercase letters, digits and _, 3 to 63 characters a segment)`

// ParseScope parses a scope (the forms are in Scope's comment) and returns
// it in its stored form; "" is ScopeNone. Anything else is InvalidArgument
// with a message that gives the accepted forms.
func ParseScope(s string) (Scope, error) {
	switch Scope(s) {
	case ScopeNone, ScopeCheck, ScopeWrite:
		return Scope(s), nil
	}
	items := strings.Split(s, ",")
	if len(items) > MaxScopePrefixes {
		return "", errs.Invalid("scope", "%d prefixes is more than %d; %s", len(items), MaxScopePrefixes, scopeForms)
	}
	prefixes := make([]string, 0, len(items))
	for _, item := range items {
		item = strings.TrimSpace(item)
		verb, prefix, hasPrefix := strings.Cut(item, ":")
		switch {
		case item == "":
			return "", errs.Invalid("scope", "%q has an empty item; %s", s, scopeForms)
		case Scope(item) == ScopeCheck || Scope(item) == ScopeWrite:
			return "", errs.Invalid("scope", "%q: %s does not combine with prefixes (write alone is every definition, and write:PREFIX also reads); %s", s, item, scopeForms)
		case !hasPrefix || verb != "write":
			return "", errs.Invalid("scope", "%q is not a scope; %s", item, scopeForms)
		case prefix == "":
			return "", errs.Invalid("scope", "%q names no definition prefix; %s", item, scopeForms)
		case !prefixRE.MatchString(prefix) && prefixRE.MatchString(prefix+"/"):
			return "", errs.Invalid("scope", "%q: a prefix ends in \"/\" (write:%s/ for the definitions %s/...); %s", item, prefix, prefix, scopeForms)
		case !prefixRE.MatchString(prefix):
			return "", errs.Invalid("scope", "%q: %q is not a definition prefix; %s", item, prefix, scopeForms)
		}
		prefixes = append(prefixes, prefix)
	}
	slices.Sort(prefixes)
	prefixes = slices.Compact(prefixes)
	for i := range prefixes {
		prefixes[i] = writePrefix + prefixes[i]
	}
	return Scope(strings.Join(prefixes, ",")), nil
}

// writes reports whether s writes relationships (of some definitions).
func (s Scope) writes() bool {
	return s == ScopeWrite || strings.HasPrefix(string(s), writePrefix)
}

// Allows reports whether a key of scope s may make a call needing need
// (ScopeCheck or ScopeWrite). A prefixed write scope allows ScopeWrite
// calls; which definitions they may touch is MayWriteDefinition's answer.
func (s Scope) Allows(need Scope) bool {
	switch need {
	case ScopeCheck:
		return s == ScopeCheck || s.writes()
	case ScopeWrite:
		return s.writes()
	}
	return false
}

// WritePrefixes returns the definition prefixes a prefixed write scope
// names (such as "billing/"), and nil for every other scope, ScopeWrite
// (every definition) included.
func (s Scope) WritePrefixes() []string {
	if !strings.HasPrefix(string(s), writePrefix) {
		return nil
	}
	var out []string
	for _, item := range strings.Split(string(s), ",") {
		out = append(out, strings.TrimPrefix(item, writePrefix))
	}
	return out
}

// MayWriteDefinition reports whether a key of scope s may write
// relationships whose resource is of type typ: ScopeWrite any type, a
// prefixed scope a type in one of its prefixes, other scopes none. (The
// SpiceDB API refuses Nexus's own definitions to every scope besides.)
func (s Scope) MayWriteDefinition(typ string) bool {
	if s == ScopeWrite {
		return typ != ""
	}
	for _, p := range s.WritePrefixes() {
		if strings.HasPrefix(typ, p) && len(typ) > len(p) {
			return true
		}
	}
	return false
}
