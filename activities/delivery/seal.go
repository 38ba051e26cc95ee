package delivery

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealPrefix marks the format and key generation of sealed values, so a
// later key or cipher can be introduced beside it.
const sealPrefix = "v1:"

// ErrUnsealable is returned for a sealed value that is malformed or was
// sealed with another key.
var ErrUnsealable = errors.New("sealed value cannot be opened")

// Seal encrypts a credential for storage with AES-256-GCM under a key
// derived from secret (the configured encryption secret): "v1:" followed
// by base64url(nonce || ciphertext). Each call uses a fresh random nonce.
func Seal(secret string, plaintext []byte) (string, error) {
	aead, err := sealCipher(secret)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("make nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, plaintext, []byte(sealPrefix))
	return sealPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same secret.
func Open(secret, sealed string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, fmt.Errorf("open sealed value: unknown format: %w", ErrUnsealable)
	}
	aead, err := sealCipher(secret)
	if err != nil {
		return nil, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("open sealed value: %w", ErrUnsealable)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], []byte(sealPrefix))
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", ErrUnsealable)
	}
	return plain, nil
}

func sealCipher(secret string) (cipher.AEAD, error) {
	if secret == "" {
		return nil, errors.New("credential encryption secret is empty")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "herald credentials v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive credential key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("make cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("make cipher: %w", err)
	}
	return aead, nil
}

// Mask hides a secret for display: only its last four characters show,
// and a secret of fewer than eight characters shows none.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	r := []rune(secret)
	if len(r) < 8 {
		return "****"
	}
	return "****" + string(r[len(r)-4:])
}
