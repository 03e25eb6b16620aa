package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"

	"github.com/nexus-authz/nexus/storage"
)

// A key reads nx_<id>_<secret>: the id finds the stored hash, the secret
// (256 random bits) is compared with it. Only SHA-256 of the secret is
// stored; a secret of 256 random bits needs no slow hash.
const keyPrefix = "nx_"

var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newKey returns a new key's id, its full text and the hash to store.
func newKey() (KeyID, string, []byte) {
	id := KeyID(storage.NewID("key"))
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(err)
	}
	text := secretEncoding.EncodeToString(secret)
	full := keyPrefix + strings.TrimPrefix(string(id), "key_") + "_" + text
	return id, full, hashSecret(text)
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// parseKey splits a presented key into its id and secret.
func parseKey(s string) (KeyID, string, bool) {
	rest, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 26 || len(secret) != 52 {
		return "", "", false
	}
	return KeyID("key_" + id), secret, true
}

// KeyIDOf returns the id of a key given whole (nx_<id>_<secret>), so that
// one can be named by the text its holder has; false if s is not one.
func KeyIDOf(s string) (KeyID, bool) {
	id, _, ok := parseKey(s)
	return id, ok
}

func secretMatches(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(hashSecret(secret), hash) == 1
}
