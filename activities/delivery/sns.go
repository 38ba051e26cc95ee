package delivery

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// SNS message types.
const (
	SNSNotification             = "Notification"
	SNSSubscriptionConfirmation = "SubscriptionConfirmation"
	SNSUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// SNSMessage is the JSON body Amazon SNS posts to an HTTPS subscriber.
type SNSMessage struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token,omitempty"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject,omitempty"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL,omitempty"`
	UnsubscribeURL   string `json:"UnsubscribeURL,omitempty"`
}

// ParseSNSMessage decodes an SNS HTTP(S) delivery body. It does not verify
// it: call SNSVerifier.Verify before trusting it.
func ParseSNSMessage(body []byte) (SNSMessage, error) {
	var m SNSMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return SNSMessage{}, fmt.Errorf("decode sns message: %w", err)
	}
	switch m.Type {
	case SNSNotification, SNSSubscriptionConfirmation, SNSUnsubscribeConfirmation:
		return m, nil
	}
	return SNSMessage{}, fmt.Errorf("decode sns message: unknown type %q", m.Type)
}

// StringToSign is the canonical text SNS signs for m.
func (m SNSMessage) StringToSign() string {
	fields := [][2]string{{"Message", m.Message}, {"MessageId", m.MessageID}}
	if m.Type == SNSNotification {
		if m.Subject != "" {
			fields = append(fields, [2]string{"Subject", m.Subject})
		}
		fields = append(fields, [2]string{"Timestamp", m.Timestamp})
	} else {
		fields = append(fields, [2]string{"SubscribeURL", m.SubscribeURL},
			[2]string{"Timestamp", m.Timestamp}, [2]string{"Token", m.Token})
	}
	fields = append(fields, [2]string{"TopicArn", m.TopicArn}, [2]string{"Type", m.Type})
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f[0] + "\n" + f[1] + "\n")
	}
	return b.String()
}

// CertFetcher loads the signing certificate at an (already checked) URL.
type CertFetcher func(ctx context.Context, certURL string) (*x509.Certificate, error)

// snsHost is the host every SNS certificate and subscribe URL lives on.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// ErrBadSNSSignature is returned for an SNS message whose signature does
// not verify.
var ErrBadSNSSignature = errors.New("sns signature does not verify")

// SNSVerifier checks that SNS messages really come from Amazon SNS, and
// confirms subscriptions. Certificates are cached by URL. Safe for
// concurrent use.
type SNSVerifier struct {
	fetch  CertFetcher
	client *http.Client
	mu     sync.Mutex
	certs  map[string]*x509.Certificate
}

// NewSNSVerifier builds a verifier. A nil fetch downloads certificates
// with client; a nil client is one with a 10 s timeout that follows no
// redirects. The client also visits subscribe URLs in Confirm.
func NewSNSVerifier(fetch CertFetcher, client *http.Client) *SNSVerifier {
	if client == nil {
		client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	v := &SNSVerifier{fetch: fetch, client: client, certs: map[string]*x509.Certificate{}}
	if v.fetch == nil {
		v.fetch = v.download
	}
	return v
}

// Verify checks m's signature: version 1 is SHA1withRSA, version 2
// SHA256withRSA, over StringToSign, with the certificate at SigningCertURL,
// which must be an https URL on sns.<region>.amazonaws.com.
func (v *SNSVerifier) Verify(ctx context.Context, m SNSMessage) error {
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return fmt.Errorf("verify sns message: unknown signature version %q", m.SignatureVersion)
	}
	if err := checkSNSURL(m.SigningCertURL); err != nil {
		return fmt.Errorf("verify sns message: signing certificate: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("verify sns message: %w", ErrBadSNSSignature)
	}
	cert, err := v.cert(ctx, m.SigningCertURL)
	if err != nil {
		return fmt.Errorf("verify sns message: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("verify sns message: signing certificate has no rsa key")
	}
	if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("verify sns message: signing certificate is not valid now")
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest(hash, m.StringToSign()), sig); err != nil {
		return fmt.Errorf("verify sns message: %w", ErrBadSNSSignature)
	}
	return nil
}

// Confirm visits the SubscribeURL of a verified subscription confirmation,
// which is how an SNS subscription is accepted.
func (v *SNSVerifier) Confirm(ctx context.Context, m SNSMessage) error {
	if m.Type != SNSSubscriptionConfirmation {
		return fmt.Errorf("confirm sns subscription: message is a %s", m.Type)
	}
	if err := checkSNSURL(m.SubscribeURL); err != nil {
		return fmt.Errorf("confirm sns subscription: %w", err)
	}
	if _, err := v.get(ctx, m.SubscribeURL); err != nil {
		return fmt.Errorf("confirm sns subscription: %w", err)
	}
	return nil
}

func (v *SNSVerifier) cert(ctx context.Context, certURL string) (*x509.Certificate, error) {
	v.mu.Lock()
	c, ok := v.certs[certURL]
	v.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := v.fetch(ctx, certURL)
	if err != nil {
		return nil, fmt.Errorf("fetch signing certificate: %w", err)
	}
	v.mu.Lock()
	v.certs[certURL] = c
	v.mu.Unlock()
	return c, nil
}

// download is the default CertFetcher.
func (v *SNSVerifier) download(ctx context.Context, certURL string) (*x509.Certificate, error) {
	body, err := v.get(ctx, certURL)
	if err != nil {
		return nil, err
	}
	return ParseCertificatePEM(body)
}

// get fetches a small document from SNS.
func (v *SNSVerifier) get(ctx context.Context, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", rawURL, resp.Status)
	}
	return body, nil
}

// ParseCertificatePEM reads the first certificate of a PEM document.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("parse certificate: no pem certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return c, nil
}

// checkSNSURL accepts only https URLs on an SNS host.
func checkSNSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse url: %w", err)
	}
	if u.Scheme != "https" || u.Port() != "" || !snsHost.MatchString(u.Hostname()) {
		return fmt.Errorf("%q is not an https url on sns.<region>.amazonaws.com", raw)
	}
	return nil
}

func digest(h crypto.Hash, s string) []byte {
	if h == crypto.SHA1 {
		d := sha1.Sum([]byte(s))
		return d[:]
	}
	d := sha256.Sum256([]byte(s))
	return d[:]
}
