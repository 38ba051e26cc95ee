package schema

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier with a readable type prefix, e.g. "ws_k3j…".
func NewID(prefix string) string {
	return prefix + "_" + randomToken(10)
}

// IsID says whether s is an id NewID(prefix) could have made.
func IsID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != idLength {
		return false
	}
	_, err := idEncoding.DecodeString(rest)
	return err == nil
}

// idLength is the length of an id's random part (10 bytes in base32).
const idLength = 16

// randomToken returns n random bytes encoded as lower-case base32.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on Linux
	}
	return strings.ToLower(idEncoding.EncodeToString(b))
}

// HashToken is the digest under which keys and session tokens are stored.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
