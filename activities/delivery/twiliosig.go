package delivery

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
)

// TwilioSignature computes the X-Twilio-Signature of a request Twilio
// makes: HMAC-SHA1, keyed with the auth token, of the full URL followed by
// every POST parameter name and value in name order, base64.
func TwilioSignature(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		// Repeated values count once each, in order, as Twilio's libraries do.
		for _, v := range slices.Compact(slices.Sorted(slices.Values(params[k]))) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	h := hmac.New(sha1.New, []byte(authToken))
	h.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// ValidTwilioSignature reports whether signature (the X-Twilio-Signature
// header) is right for a request to fullURL with the given POST parameters
// (nil for a GET). As Twilio signs the URL it was configured with, the URL
// is also tried with its port removed or the scheme's default port added.
// The comparison is constant-time.
func ValidTwilioSignature(authToken, fullURL string, params url.Values, signature string) bool {
	want, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || signature == "" {
		return false
	}
	ok := false
	for _, u := range urlPortVariants(fullURL) {
		got, _ := base64.StdEncoding.DecodeString(TwilioSignature(authToken, u, params))
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	return ok
}

// urlPortVariants returns raw, raw without its port and raw with the
// default port of its scheme.
func urlPortVariants(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return out
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	bare := *u
	bare.Host = host
	withPort := *u
	if u.Scheme == "https" {
		withPort.Host = net.JoinHostPort(u.Hostname(), "443")
	} else {
		withPort.Host = net.JoinHostPort(u.Hostname(), "80")
	}
	for _, v := range []string{bare.String(), withPort.String()} {
		if v != raw {
			out = append(out, v)
		}
	}
	return out
}
