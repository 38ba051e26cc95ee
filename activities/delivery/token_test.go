package delivery

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestLinkTokensRoundTrip(t *testing.T) {
	s, err := NewSigner("link secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []LinkClaims{
		{Purpose: LinkUnsubscribe, WorkspaceID: "ws_1", MessageID: "m1"},
		{Purpose: LinkOpen, WorkspaceID: "ws_1", MessageID: "m1"},
		{Purpose: LinkClick, WorkspaceID: "ws_1", MessageID: "m1", URL: "https://acme.io/start?a=1&b=é#top"},
	} {
		tok, err := s.Token(c)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(tok, "+/=?&") {
			t.Errorf("token %q is not url-safe", tok)
		}
		got, err := s.Verify(c.Purpose, tok)
		if err != nil || got != c {
			t.Errorf("%s: got %+v, %v", c.Purpose, got, err)
		}
	}
}

func TestLinkTokensRefuseTampering(t *testing.T) {
	s, _ := NewSigner("link secret")
	other, _ := NewSigner("another secret")
	click, _ := s.Token(LinkClaims{Purpose: LinkClick, WorkspaceID: "ws_1", MessageID: "m1", URL: "https://acme.io/"})
	unsub, _ := s.Token(LinkClaims{Purpose: LinkUnsubscribe, WorkspaceID: "ws_1", MessageID: "m1"})
	payload, sig, _ := strings.Cut(click, ".")

	// The same claims pointing elsewhere, with the original signature.
	evil := base64.RawURLEncoding.EncodeToString([]byte(`{"p":"click","w":"ws_1","m":"m1","u":"https://evil.example/"}`))
	mac, _ := base64.RawURLEncoding.DecodeString(sig)
	mac[3] ^= 1
	flipped := base64.RawURLEncoding.EncodeToString(mac)

	cases := map[string]struct{ purpose, token string }{
		"redirect target swapped": {LinkClick, evil + "." + sig},
		"signature altered":       {LinkClick, payload + "." + flipped},
		"signature missing":       {LinkClick, payload},
		"wrong purpose":           {LinkClick, unsub},
		"click as unsubscribe":    {LinkUnsubscribe, click},
		"other key":               {LinkClick, mustToken(t, other, LinkClaims{Purpose: LinkClick, MessageID: "m1", URL: "https://acme.io/"})},
		"empty":                   {LinkClick, ""},
		"garbage":                 {LinkClick, "a.b.c"},
	}
	for name, c := range cases {
		if _, err := s.Verify(c.purpose, c.token); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestClickTokensNeedAWebURL(t *testing.T) {
	s, _ := NewSigner("link secret")
	for _, u := range []string{"javascript:alert(1)", "/relative", "//evil.example/", "data:text/html,x", ""} {
		if _, err := s.Token(LinkClaims{Purpose: LinkClick, MessageID: "m1", URL: u}); err == nil {
			t.Errorf("click token made for %q", u)
		}
	}
	if _, err := NewSigner(""); err == nil {
		t.Error("empty secret accepted")
	}
}

func mustToken(t *testing.T, s *Signer, c LinkClaims) string {
	t.Helper()
	tok, err := s.Token(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
