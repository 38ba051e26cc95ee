package delivery

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Link purposes: what a signed link does when followed.
const (
	LinkUnsubscribe = "unsubscribe"
	LinkOpen        = "open"  // the open-tracking pixel
	LinkClick       = "click" // a tracked link; the target travels signed
)

// LinkClaims are the contents of a signed link token.
type LinkClaims struct {
	Purpose     string `json:"p"`
	WorkspaceID string `json:"w"`
	MessageID   string `json:"m"`
	// URL is where a click link leads. It is inside the signature, so a
	// link cannot be edited into an open redirect.
	URL string `json:"u,omitempty"`
	// Recipient is, in an unsubscribe link, the digest of the address the
	// message went to (schema.AddressDigest, never the address): the
	// unsubscribe still works once the customer is erased.
	Recipient string `json:"r,omitempty"`
}

// ErrBadToken is returned for a token that is malformed, forged, altered
// or meant for another purpose.
var ErrBadToken = errors.New("invalid link token")

// Signer signs and verifies the tokens of unsubscribe, open-pixel and
// click links: base64url(claims) "." base64url(HMAC-SHA256). Safe for
// concurrent use.
type Signer struct {
	key []byte
}

// NewSigner derives the link-signing key from a configured secret.
func NewSigner(secret string) (*Signer, error) {
	if secret == "" {
		return nil, errors.New("link signing secret is empty")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "herald link tokens v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive link key: %w", err)
	}
	return &Signer{key: key}, nil
}

// Token signs the claims. A click link must carry an absolute http(s) URL.
func (s *Signer) Token(c LinkClaims) (string, error) {
	if c.Purpose == LinkClick {
		if err := checkClickURL(c.URL); err != nil {
			return "", err
		}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode link claims: %w", err)
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p)), nil
}

// Verify checks a token made for purpose and returns its claims. The
// comparison is constant-time.
func (s *Signer) Verify(purpose, token string) (LinkClaims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return LinkClaims{}, ErrBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return LinkClaims{}, ErrBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return LinkClaims{}, ErrBadToken
	}
	var c LinkClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Purpose != purpose || c.MessageID == "" {
		return LinkClaims{}, ErrBadToken
	}
	if purpose == LinkClick && checkClickURL(c.URL) != nil {
		return LinkClaims{}, ErrBadToken
	}
	return c, nil
}

func (s *Signer) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(payload))
	return h.Sum(nil)
}

func checkClickURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("click link target %q is not an absolute http(s) url", raw)
	}
	return nil
}
