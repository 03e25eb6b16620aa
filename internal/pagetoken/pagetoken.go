// Package pagetoken seals page tokens: a continuation a server hands a
// client must neither be forged nor be read, since it may name an entry
// the caller may not see (the last one a page examined). It knows nothing
// of what the tokens hold.
package pagetoken

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
)

// Sealer seals and opens tokens with one key.
type Sealer struct{ aead cipher.AEAD }

// New returns a Sealer keyed by key (any length; it is hashed). A nil key
// draws a random one: tokens then last as long as the process.
func New(key []byte) *Sealer {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			panic(err)
		}
	}
	k := sha256.Sum256(append([]byte("nexus page token\x00"), key...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead: aead}
}

// bucket is the granule sealed plaintexts are padded to, so a token's
// length does not tell how long the name it holds is.
const bucket = 256

// pad prefixes b with its length and pads it with zeros to a multiple of
// bucket bytes.
func pad(b []byte) []byte {
	n := 4 + len(b)
	n += (bucket - n%bucket) % bucket
	out := make([]byte, n)
	binary.BigEndian.PutUint32(out, uint32(len(b))) // a cursor is far below 4 GiB
	copy(out[4:], b)
	return out
}

// unpad undoes pad; false if p is not a padded plaintext.
func unpad(p []byte) ([]byte, bool) {
	if len(p) < 4 {
		return nil, false
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) {
		return nil, false
	}
	return p[4 : 4+n], true
}

// Seal returns v, JSON-encoded, padded to a multiple of 256 bytes and
// encrypted, as URL-safe text.
func (s *Sealer) Seal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // page cursors are plain structs
	}
	b = pad(b)
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, b, nil))
}

// Open decrypts tok into v; false if tok is not a token this Sealer made.
func (s *Sealer) Open(tok string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < s.aead.NonceSize() {
		return false
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], nil)
	if err != nil {
		return false
	}
	plain, ok := unpad(plain)
	return ok && json.Unmarshal(plain, v) == nil
}
