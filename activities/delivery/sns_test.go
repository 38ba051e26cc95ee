package delivery

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

const testCertURL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"

// signSNS signs canonical text as SNS does for the given version.
func signSNS(t *testing.T, key *rsa.PrivateKey, version, canonical string) string {
	t.Helper()
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum([]byte(canonical))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(canonical))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// snsNotificationJSON is an SNS notification body carrying an SES event,
// signed over the canonical text written out by hand.
func snsNotificationJSON(t *testing.T, key *rsa.PrivateKey, version, certURL string) []byte {
	t.Helper()
	msg := `{"eventType":"Delivery","mail":{"messageId":"ses-1"}}`
	canonical := "Message\n" + msg + "\n" +
		"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n" +
		"Subject\nAmazon SES Email Event Notification\n" +
		"Timestamp\n2026-01-02T03:04:05.678Z\n" +
		"TopicArn\narn:aws:sns:eu-west-1:123456789012:herald-ses-events\n" +
		"Type\nNotification\n"
	body, err := json.Marshal(map[string]string{
		"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn": "arn:aws:sns:eu-west-1:123456789012:herald-ses-events",
		"Subject":  "Amazon SES Email Event Notification", "Message": msg,
		"Timestamp": "2026-01-02T03:04:05.678Z", "SignatureVersion": version,
		"Signature":      signSNS(t, key, version, canonical),
		"SigningCertURL": certURL,
		"UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:eu-west-1:123456789012:herald-ses-events:c9135db0",
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// certFetcher serves one certificate at testCertURL and counts fetches.
func certFetcher(cert testCert, fetches *atomic.Int32) CertFetcher {
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.cert.Raw})
	return func(_ context.Context, u string) (*x509.Certificate, error) {
		fetches.Add(1)
		if u != testCertURL {
			return nil, errors.New("no certificate at " + u)
		}
		return ParseCertificatePEM(pemBytes)
	}
}

func TestSNSVerify(t *testing.T) {
	cert := newTestCert(t, "sns.amazonaws.com")
	var fetches atomic.Int32
	v := NewSNSVerifier(certFetcher(cert, &fetches), nil)
	ctx := context.Background()

	for _, version := range []string{"1", "2"} {
		m, err := ParseSNSMessage(snsNotificationJSON(t, cert.key, version, testCertURL))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(ctx, m); err != nil {
			t.Fatalf("version %s: %v", version, err)
		}
		tampered := m
		tampered.Message = strings.Replace(m.Message, "Delivery", "Bounce", 1)
		if err := v.Verify(ctx, tampered); !errors.Is(err, ErrBadSNSSignature) {
			t.Errorf("version %s: tampered message: %v", version, err)
		}
		tampered = m
		tampered.Subject = ""
		if err := v.Verify(ctx, tampered); !errors.Is(err, ErrBadSNSSignature) {
			t.Errorf("version %s: dropped subject: %v", version, err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want 1 (cached)", n)
	}

	other := newTestCert(t, "sns.amazonaws.com") // a key SNS does not sign with
	m, _ := ParseSNSMessage(snsNotificationJSON(t, other.key, "2", testCertURL))
	if err := v.Verify(ctx, m); !errors.Is(err, ErrBadSNSSignature) {
		t.Errorf("foreign key: %v", err)
	}

	for _, u := range []string{
		"https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
		"https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
		"http://sns.eu-west-1.amazonaws.com/cert.pem",
		"https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
		"https://s3.amazonaws.com/sns/cert.pem",
	} {
		before := fetches.Load()
		m, _ := ParseSNSMessage(snsNotificationJSON(t, cert.key, "1", u))
		if err := v.Verify(ctx, m); err == nil || !strings.Contains(err.Error(), "signing certificate") {
			t.Errorf("certificate url %s: %v", u, err)
		}
		if fetches.Load() != before {
			t.Errorf("certificate url %s was fetched", u)
		}
	}

	m.SignatureVersion = "3"
	if err := v.Verify(ctx, m); err == nil {
		t.Error("unknown signature version accepted")
	}
}

func TestSNSSubscriptionConfirmation(t *testing.T) {
	cert := newTestCert(t, "sns.amazonaws.com")
	var confirmed atomic.Pointer[string]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := r.Header.Get("X-Original-Host") + r.URL.RequestURI()
		confirmed.Store(&u)
		_, _ = w.Write([]byte(`<ConfirmSubscriptionResponse/>`))
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: redirectTransport{target: mustParseURL(t, srv.URL)}}
	var fetches atomic.Int32
	v := NewSNSVerifier(certFetcher(cert, &fetches), client)

	subscribe := "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:herald-ses-events&Token=2336412f37"
	canonical := "Message\nYou have chosen to subscribe to the topic.\n" +
		"MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n" +
		"SubscribeURL\n" + subscribe + "\n" +
		"Timestamp\n2026-01-02T03:04:05.678Z\n" +
		"Token\n2336412f37\n" +
		"TopicArn\narn:aws:sns:eu-west-1:123456789012:herald-ses-events\n" +
		"Type\nSubscriptionConfirmation\n"
	m := SNSMessage{
		Type: SNSSubscriptionConfirmation, MessageID: "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", Token: "2336412f37",
		TopicArn: "arn:aws:sns:eu-west-1:123456789012:herald-ses-events", Message: "You have chosen to subscribe to the topic.",
		SubscribeURL: subscribe, Timestamp: "2026-01-02T03:04:05.678Z", SignatureVersion: "1",
		Signature: signSNS(t, cert.key, "1", canonical), SigningCertURL: testCertURL,
	}
	ctx := context.Background()
	if err := v.Verify(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := v.Confirm(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := confirmed.Load(); got == nil || *got != strings.TrimPrefix(subscribe, "https://") {
		t.Fatalf("confirmation visited %v", got)
	}

	m.SubscribeURL = "https://metadata.internal/?Action=ConfirmSubscription"
	if err := v.Confirm(ctx, m); err == nil {
		t.Error("confirmation to a foreign host accepted")
	}
	if err := v.Verify(ctx, m); !errors.Is(err, ErrBadSNSSignature) {
		t.Errorf("altered subscribe url: %v", err)
	}
}

func TestParseSNSMessageRejectsUnknownTypes(t *testing.T) {
	if _, err := ParseSNSMessage([]byte(`{"Type":"Other"}`)); err == nil {
		t.Error("unknown type accepted")
	}
	if _, err := ParseSNSMessage([]byte(`not json`)); err == nil {
		t.Error("garbage accepted")
	}
}
