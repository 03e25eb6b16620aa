// Package identity manages who can call Nexus: zones (tenants), users,
// groups (membership kept as relationships in authz, nested groups allowed)
// and API keys (random, stored only as a hash, shown once, optionally
// expiring, revocable). It authenticates keys into a Principal and decides
// who may administer what. It knows nothing of HTTP.
package identity

import (
	"regexp"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/errs"
)

// Ids are opaque, stable, and valid SpiceDB object ids. A zone id is the
// same string the file plane holds (access.Caller.Zone), so the Service
// is the sharing.Directory as it is, without an adapter.
type (
	ZoneID  = string
	UserID  string
	GroupID string
	KeyID   string
)

// DefaultZone is the zone the first start creates. Its admins are the
// operators: they create zones and may administer every zone's identities.
const DefaultZone = "default"

// AdminUser is the user the first start creates in DefaultZone.
const AdminUser = "admin"

// Zone is a tenant.
type Zone struct {
	ID        ZoneID
	Name      string
	CreatedAt time.Time
}

// User is a principal of one zone.
type User struct {
	ID        UserID
	Zone      ZoneID
	Name      string
	CreatedAt time.Time
}

// Group is a set of users and groups of one zone.
type Group struct {
	ID        GroupID
	Zone      ZoneID
	Name      string
	CreatedAt time.Time
}

// APIKey is a stored key: its hash, never its secret.
type APIKey struct {
	ID          KeyID
	User        UserID
	Description string
	Hash        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never
	RevokedAt   time.Time // zero: not revoked
	Scope       Scope     // empty: a user's key
}

// Principal is an authenticated caller.
type Principal struct {
	User  User
	Zone  Zone
	KeyID KeyID
	Scope Scope // the key's scope; empty for a user's key
}

// Name is how logs name the principal: "zone/user", as the RPC log does.
func (p Principal) Name() string { return p.Zone.Name + "/" + p.User.Name }

// MaxNameLen is the longest name, in bytes.
const MaxNameLen = 128

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

// ValidateName checks a zone, user or group name; field names it in the error.
func ValidateName(field, name string) error {
	switch {
	case name == "":
		return errs.Invalid(field, "must not be empty")
	case len(name) > MaxNameLen:
		return errs.Invalid(field, "%d bytes is longer than %d", len(name), MaxNameLen)
	case !nameRE.MatchString(name):
		return errs.Invalid(field, "%q must be letters, digits and . _ @ + -, starting with a letter or digit", name)
	}
	return nil
}

// QualifiedName is a name that may carry its zone: "zone/name" or "name".
type QualifiedName struct {
	Zone string // empty: the caller's zone
	Name string
}

// ParseQualified parses "name" or "zone/name", validating both parts.
func ParseQualified(field, s string) (QualifiedName, error) {
	zone, name, ok := strings.Cut(s, "/")
	if !ok {
		return QualifiedName{Name: s}, ValidateName(field, s)
	}
	if err := ValidateName(field+" zone", zone); err != nil {
		return QualifiedName{}, err
	}
	return QualifiedName{Zone: zone, Name: name}, ValidateName(field, name)
}
