package delivery

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	secret := "the configured encryption secret"
	plain := []byte(`{"secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`)
	a, err := Seal(secret, plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Seal(secret, plain)
	if a == b {
		t.Error("two seals of the same value are equal: the nonce is not fresh")
	}
	if !strings.HasPrefix(a, "v1:") || strings.Contains(a, "wJalr") {
		t.Errorf("sealed value %q", a)
	}
	got, err := Open(secret, a)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("open: %q, %v", got, err)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, "v1:"))
	raw[len(raw)-20] ^= 1 // one bit of the ciphertext
	flipped := "v1:" + base64.RawURLEncoding.EncodeToString(raw)
	for name, c := range map[string]struct{ secret, sealed string }{
		"wrong secret":   {"another secret", a},
		"tampered":       {secret, flipped},
		"unknown prefix": {secret, "v9:" + strings.TrimPrefix(a, "v1:")},
		"truncated":      {secret, a[:10]},
		"not base64":     {secret, "v1:!!!"},
	} {
		if _, err := Open(c.secret, c.sealed); !errors.Is(err, ErrUnsealable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Seal("", plain); err == nil {
		t.Error("empty secret accepted")
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"short":                "****",
		"AKIAIOSFODNN7EXAMPLE": "****MPLE",
		"pässwörd-ünïcode":     "****code",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
