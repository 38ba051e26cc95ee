package delivery

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// testCert is a self-signed certificate made for one test run.
type testCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	tls  tls.Certificate
	pool *x509.CertPool
}

// newTestCert makes a self-signed RSA certificate for the given names
// (IP literals become IP SANs).
func newTestCert(t testing.TB, names ...string) testCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return testCert{key: key, cert: cert, tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool: pool}
}

// redirectTransport sends every request to one local server, whatever
// host the client addressed; it keeps the requested host in
// X-Original-Host.
type redirectTransport struct{ target *url.URL }

func (r redirectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Original-Host", req.URL.Host)
	req.URL.Scheme, req.URL.Host = r.target.Scheme, r.target.Host
	return http.DefaultTransport.RoundTrip(req)
}

func mustParseURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// wantPermanent fails unless err is permanent with the given reason.
func wantPermanent(t testing.TB, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want permanent %s", reason)
	}
	if !IsPermanent(err) || ReasonOf(err) != reason {
		t.Fatalf("error %q: permanent=%v reason=%q, want permanent %s", err, IsPermanent(err), ReasonOf(err), reason)
	}
}

// wantTransient fails unless err is transient with the given reason.
func wantTransient(t testing.TB, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want transient %s", reason)
	}
	if IsPermanent(err) || ReasonOf(err) != reason {
		t.Fatalf("error %q: permanent=%v reason=%q, want transient %s", err, IsPermanent(err), ReasonOf(err), reason)
	}
}

// emailMessage is a complete email message for tests.
func emailMessage() Message {
	return Message{
		ID: "m-0123abcd", WorkspaceID: "ws_1", JourneyID: "jr_9", Channel: ChannelEmail,
		Email: &Email{
			From: "Acme Café <hi@acme.io>", ReplyTo: "help@acme.io", To: "Jo <jo@example.com>",
			Subject: "Welcome, Jo — glad you're here", HTML: "<p>Hello <b>Jo</b></p>", Text: "Hello Jo",
			UnsubscribeURL: "https://herald.example/t/unsubscribe/tok",
			Headers:        map[string]string{"X-Campaign": "welcome"},
		},
	}
}
