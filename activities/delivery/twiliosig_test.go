package delivery

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"testing"
)

// The request Twilio's own libraries use as their signature test vector.
const (
	twilioVectorToken = "12345"
	twilioVectorURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
	twilioVectorSig   = "vOEb5UThFn24KEfnOFLQY2AE5FY="
)

var twilioVectorParams = url.Values{
	"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
	"Caller": {"+14158675309"}, "From": {"+14158675309"},
	"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
}

func TestTwilioSignatureKnownAnswer(t *testing.T) {
	// The documented algorithm, written out: URL, then name+value pairs in
	// name order, HMAC-SHA1 with the auth token, base64.
	s := twilioVectorURL + "CallSid" + "CA1234567890ABCDE" + "Caller" + "+14158675309" + "Digits" + "1234" +
		"From" + "+14158675309" + "Reason" + "Participant" + "ReasonConferenceEnded" + "test" + "To" + "+18005551212"
	h := hmac.New(sha1.New, []byte(twilioVectorToken))
	h.Write([]byte(s))
	if independent := base64.StdEncoding.EncodeToString(h.Sum(nil)); independent != twilioVectorSig {
		t.Fatalf("the test's own computation gives %s", independent)
	}
	if got := TwilioSignature(twilioVectorToken, twilioVectorURL, twilioVectorParams); got != twilioVectorSig {
		t.Fatalf("TwilioSignature = %s, want %s", got, twilioVectorSig)
	}
}

func TestValidTwilioSignature(t *testing.T) {
	tampered := url.Values{}
	for k, v := range twilioVectorParams {
		tampered[k] = v
	}
	tampered.Set("Digits", "9999")
	cases := []struct {
		name   string
		token  string
		url    string
		params url.Values
		sig    string
		want   bool
	}{
		{"valid", twilioVectorToken, twilioVectorURL, twilioVectorParams, twilioVectorSig, true},
		{"request url with the default port", twilioVectorToken, "https://mycompany.com:443/myapp.php?foo=1&bar=2", twilioVectorParams, twilioVectorSig, true},
		{"wrong token", "54321", twilioVectorURL, twilioVectorParams, twilioVectorSig, false},
		{"other url", twilioVectorToken, "https://mycompany.com/myapp.php?foo=1&bar=3", twilioVectorParams, twilioVectorSig, false},
		{"tampered param", twilioVectorToken, twilioVectorURL, tampered, twilioVectorSig, false},
		{"empty signature", twilioVectorToken, twilioVectorURL, twilioVectorParams, "", false},
		{"garbage signature", twilioVectorToken, twilioVectorURL, twilioVectorParams, "not base64!", false},
	}
	for _, c := range cases {
		if got := ValidTwilioSignature(c.token, c.url, c.params, c.sig); got != c.want {
			t.Errorf("%s: valid = %v, want %v", c.name, got, c.want)
		}
	}
	// A URL Twilio signed with an explicit port, received without it.
	withPort := TwilioSignature(twilioVectorToken, "https://mycompany.com:443/status", url.Values{"MessageStatus": {"delivered"}})
	if !ValidTwilioSignature(twilioVectorToken, "https://mycompany.com/status", url.Values{"MessageStatus": {"delivered"}}, withPort) {
		t.Error("signature over the url with :443 not accepted for the url without it")
	}
}
