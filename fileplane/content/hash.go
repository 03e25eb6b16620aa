package content

import (
	"database/sql/driver"
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"

	"github.com/nexus-authz/nexus/errs"
)

// Hash is a BLAKE3-256 digest: of one chunk, or of a whole content.
type Hash [32]byte

// Sum returns the Hash of data.
func Sum(data []byte) Hash { return blake3.Sum256(data) }

// String returns h as 64 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses the 64 lowercase hex digits String returns.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return Hash{}, errs.Invalid("hash", "must be %d hex digits, got %d characters", 2*len(h), len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Hash{}, errs.Invalid("hash", "must be lowercase hex digits, got %q at %d", c, i)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, errs.Invalid("hash", "%v", err)
	}
	return h, nil
}

// Value stores h as a 32-byte BLOB, so a Hash can be a query argument.
func (h Hash) Value() (driver.Value, error) { return h[:], nil }

// Scan reads a Hash from a 32-byte BLOB.
func (h *Hash) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok || len(b) != len(h) {
		return fmt.Errorf("content.Hash: cannot scan %T of length %d", src, lenOf(src))
	}
	copy(h[:], b)
	return nil
}

func lenOf(v any) int {
	switch v := v.(type) {
	case []byte:
		return len(v)
	case string:
		return len(v)
	}
	return -1
}
