package api_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image/gif"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

const (
	trackKey       = "test-encryption-key"
	snsCertURL     = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
	snsTopic       = "arn:aws:sns:eu-west-1:123456789012:herald-ses-events"
	twilioToken    = "twiliotoken0123456789"
	twilioSettings = `{"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef","auth_token":"` + twilioToken + `","from":"+15555550100"}}`
)

// recordingProducer keeps what the API produced; it can be made to fail.
type recordingProducer struct {
	mu     sync.Mutex
	events []ingest.Event
	keys   []string
	fail   atomic.Bool
}

func (p *recordingProducer) Produce(_ context.Context, msgs ...ingest.Message) error {
	if p.fail.Load() {
		return errors.New("broker unavailable")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		var ev ingest.Event
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			return err
		}
		p.events, p.keys = append(p.events, ev), append(p.keys, m.Key)
	}
	return nil
}

// named returns the produced events with the given name.
func (p *recordingProducer) named(name string) []ingest.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ingest.Event
	for _, ev := range p.events {
		if ev.Event == name {
			out = append(out, ev)
		}
	}
	return out
}

// trackFixture is a server with tracking configured: a link-signing key,
// a public URL, a recording producer, an SNS certificate of our own and a
// fake SNS host for subscription confirmations.
type trackFixture struct {
	*fixture
	public    string
	producer  *recordingProducer
	signer    *delivery.Signer
	snsKey    *rsa.PrivateKey
	confirmed chan string // request URIs the fake SNS host saw
	customer  schema.Customer
	noFollow  *http.Client
}

func newTrackFixture(t *testing.T) *trackFixture {
	t.Helper()
	f := newFixture(t)
	tf := &trackFixture{fixture: f, producer: &recordingProducer{}, confirmed: make(chan string, 4),
		noFollow: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var err error
	tf.signer, err = delivery.NewSigner(trackKey)
	require.NoError(t, err)

	var cert *x509.Certificate
	tf.snsKey, cert = selfSignedCert(t)
	fetch := func(_ context.Context, u string) (*x509.Certificate, error) {
		if u != snsCertURL {
			return nil, errors.New("no certificate at " + u)
		}
		return cert, nil
	}
	fakeSNS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tf.confirmed <- r.URL.RequestURI()
		_, _ = io.WriteString(w, "<ConfirmSubscriptionResponse/>")
	}))
	t.Cleanup(fakeSNS.Close)
	target, _ := url.Parse(fakeSNS.URL)
	hookClient := &http.Client{Transport: toServer{target}}

	srv := httptest.NewUnstartedServer(nil)
	tf.public = "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = api.New(api.Deps{Store: f.store, Producer: tf.producer, SNSCerts: fetch, HookClient: hookClient,
		Config: api.Config{PublicURL: tf.public, EncryptionKey: trackKey}})
	srv.Start()
	f.srv.Close()
	f.srv = srv
	t.Cleanup(srv.Close)

	tf.customer, err = f.store.EnsureCustomer(context.Background(), f.ws.ID, "user-ada")
	require.NoError(t, err)
	return tf
}

// toServer sends every request to one local server, whatever host it was
// addressed to (the fake SNS host).
type toServer struct{ target *url.URL }

func (s toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = s.target.Scheme, s.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

func selfSignedCert(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return key, cert
}

// sent records a delivery that went out through a provider.
func (tf *trackFixture) sent(t *testing.T, id, channel, recipient, providerID string, cust schema.Customer) {
	t.Helper()
	ctx := context.Background()
	_, _, err := tf.store.ClaimDelivery(ctx, tf.ws.ID, schema.Delivery{ID: id, JourneyID: "jr_welcome", CustomerID: cust.ID,
		Channel: channel, Provider: "test", TemplateID: "tpl_1", Recipient: recipient})
	require.NoError(t, err)
	require.NoError(t, tf.store.SetDeliveryStatus(ctx, tf.ws.ID, id, schema.DeliverySent, providerID, ""))
}

func (tf *trackFixture) token(t *testing.T, purpose, id, target string) string {
	t.Helper()
	tok, err := tf.signer.Token(delivery.LinkClaims{Purpose: purpose, WorkspaceID: tf.ws.ID, MessageID: id, URL: target})
	require.NoError(t, err)
	return tok
}

// history returns the statuses of the delivery's events and its status.
func (tf *trackFixture) history(t *testing.T, id string) ([]string, string) {
	t.Helper()
	d, err := tf.store.GetDelivery(context.Background(), tf.ws.ID, id)
	require.NoError(t, err)
	var out []string
	for _, e := range d.History {
		out = append(out, e.Status)
	}
	return out, d.Status
}

// request sends a request and returns the status, headers and body.
func (tf *trackFixture) request(t *testing.T, client *http.Client, method, path, contentType, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, tf.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

const form = "application/x-www-form-urlencoded"

// tamper changes one claim of a token and keeps its signature.
func tamper(t *testing.T, token string, change func(map[string]any)) string {
	t.Helper()
	payload, sig, ok := strings.Cut(token, ".")
	require.True(t, ok)
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	change(claims)
	raw, err = json.Marshal(claims)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + sig
}

func TestUnsubscribeLinkPageOneClickAndResubscribe(t *testing.T) {
	tf := newTrackFixture(t)
	ctx := context.Background()
	tf.sent(t, "msg_unsub", "email", "Ada@Example.com", "ses-unsub", tf.customer)
	tok := tf.token(t, delivery.LinkUnsubscribe, "msg_unsub", "")
	link := "/t/u/" + tok
	suppressed := func() (schema.Suppression, error) {
		return tf.store.Suppressed(ctx, tf.ws.ID, "email", "ada@example.com")
	}

	// GET shows a confirm button (a POST form) and changes nothing.
	for range 2 {
		status, hdr, body := tf.request(t, nil, "GET", link, "", "")
		require.Equal(t, 200, status, body)
		require.Contains(t, hdr.Get("Content-Type"), "text/html")
		require.Equal(t, "no-store", hdr.Get("Cache-Control"))
		require.Contains(t, body, `<form method="post" action="`+tf.public+link+`">`)
		require.Contains(t, body, "Ada@Example.com")
	}
	_, err := suppressed()
	require.ErrorIs(t, err, schema.ErrNotFound)
	hist, st := tf.history(t, "msg_unsub")
	require.Equal(t, []string{"pending", "sent"}, hist)
	require.Equal(t, "sent", st)

	// Tampered tokens and tokens for another purpose change nothing either.
	forged := tamper(t, tok, func(c map[string]any) { c["m"] = "msg_other" })
	for _, bad := range []string{forged, tok[:len(tok)-2], tf.token(t, delivery.LinkOpen, "msg_unsub", "")} {
		for _, method := range []string{"GET", "POST"} {
			status, _, body := tf.request(t, nil, method, "/t/u/"+bad, form, "")
			require.Equal(t, 400, status, body)
			require.Contains(t, body, "not valid")
		}
		status, _, _ := tf.request(t, nil, "POST", "/t/u/"+bad+"/resubscribe", form, "")
		require.Equal(t, 400, status)
	}
	_, err = suppressed()
	require.ErrorIs(t, err, schema.ErrNotFound)

	// The page's button: unsubscribed at once, with a resubscribe button.
	status, _, body := tf.request(t, nil, "POST", link, form, "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "You are unsubscribed")
	require.Contains(t, body, `action="`+tf.public+link+`/resubscribe"`)
	sup, err := suppressed()
	require.NoError(t, err)
	require.Equal(t, schema.SuppressUnsubscribe, sup.Reason)
	require.Equal(t, "msg_unsub", sup.DeliveryID)
	hist, st = tf.history(t, "msg_unsub")
	require.Equal(t, []string{"pending", "sent", "unsubscribed"}, hist)
	require.Equal(t, "unsubscribed", st)
	evs := tf.producer.named("Unsubscribed")
	require.Len(t, evs, 1)
	require.Equal(t, "trk-msg_unsub-unsubscribed", evs[0].MessageID)
	require.Equal(t, "user-ada", evs[0].UserID)
	require.Equal(t, tf.ws.ID, evs[0].WorkspaceID)
	require.JSONEq(t, `{"message_id":"msg_unsub","journey_id":"jr_welcome","channel":"email"}`, string(evs[0].Properties))

	// Now the GET page offers to resubscribe; a repeated POST records
	// nothing new.
	_, _, body = tf.request(t, nil, "GET", link, "", "")
	require.Contains(t, body, "Resubscribe")
	status, _, _ = tf.request(t, nil, "POST", link, form, "List-Unsubscribe=One-Click")
	require.Equal(t, 200, status)
	hist, _ = tf.history(t, "msg_unsub")
	require.Equal(t, []string{"pending", "sent", "unsubscribed"}, hist)
	require.Len(t, tf.producer.named("Unsubscribed"), 1)

	// The resubscribe button lifts the suppression.
	status, _, body = tf.request(t, nil, "POST", link+"/resubscribe", form, "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "You are subscribed")
	_, err = suppressed()
	require.ErrorIs(t, err, schema.ErrNotFound)
	hist, _ = tf.history(t, "msg_unsub")
	require.Equal(t, []string{"pending", "sent", "unsubscribed", "resubscribed"}, hist)

	// RFC 8058 one-click POST (as a mailbox provider sends it) unsubscribes
	// again, as a new fact with its own event id.
	status, _, _ = tf.request(t, nil, "POST", link, form, "List-Unsubscribe=One-Click")
	require.Equal(t, 200, status)
	_, err = suppressed()
	require.NoError(t, err)
	d, err := tf.store.GetDelivery(ctx, tf.ws.ID, "msg_unsub")
	require.NoError(t, err)
	last := d.History[len(d.History)-1]
	require.Equal(t, "unsubscribed", last.Status)
	require.Contains(t, last.Detail, "one-click")
	evs = tf.producer.named("Unsubscribed")
	require.Len(t, evs, 2)
	require.Equal(t, "trk-msg_unsub-unsubscribed-1", evs[1].MessageID)

	// A bounce suppression is not the recipient's to lift from the page.
	tf.sent(t, "msg_bounced", "email", "gone@example.com", "ses-b", tf.customer)
	require.NoError(t, tf.store.Suppress(ctx, tf.ws.ID, schema.Suppression{Channel: "email", Address: "gone@example.com", Reason: schema.SuppressBounce}))
	status, _, _ = tf.request(t, nil, "POST", "/t/u/"+tf.token(t, delivery.LinkUnsubscribe, "msg_bounced", "")+"/resubscribe", form, "")
	require.Equal(t, 409, status)
	_, err = tf.store.Suppressed(ctx, tf.ws.ID, "email", "gone@example.com")
	require.NoError(t, err)
}

func TestTrackOpenPixelAndClickRedirect(t *testing.T) {
	tf := newTrackFixture(t)
	tf.sent(t, "msg_open", "email", "ada@example.com", "ses-open", tf.customer)

	pixel := func(token string) {
		t.Helper()
		status, hdr, body := tf.request(t, nil, "GET", "/t/o/"+token+".gif", "", "")
		require.Equal(t, 200, status)
		require.Equal(t, "image/gif", hdr.Get("Content-Type"))
		require.Contains(t, hdr.Get("Cache-Control"), "no-store")
		img, err := gif.Decode(strings.NewReader(body))
		require.NoError(t, err)
		require.Equal(t, 1, img.Bounds().Dx())
		require.Equal(t, 1, img.Bounds().Dy())
		_, _, _, a := img.At(0, 0).RGBA()
		require.Zero(t, a, "the pixel is transparent")
	}

	// A bad token still gets the pixel, and records nothing.
	open := tf.token(t, delivery.LinkOpen, "msg_open", "")
	pixel("garbage")
	pixel(tamper(t, open, func(c map[string]any) { c["m"] = "msg_other" }))
	hist, _ := tf.history(t, "msg_open")
	require.Equal(t, []string{"pending", "sent"}, hist)

	// A failing broker records nothing, so the next open counts.
	tf.producer.fail.Store(true)
	pixel(open)
	hist, _ = tf.history(t, "msg_open")
	require.Equal(t, []string{"pending", "sent"}, hist)
	tf.producer.fail.Store(false)

	// Opened once, however often the pixel loads.
	pixel(open)
	pixel(open)
	hist, st := tf.history(t, "msg_open")
	require.Equal(t, []string{"pending", "sent", "opened"}, hist)
	require.Equal(t, "opened", st)
	require.Len(t, tf.producer.named("Email Opened"), 1)

	// A click redirects to the signed URL only.
	target := "https://acme.example/pricing?utm_source=herald#plans"
	click := tf.token(t, delivery.LinkClick, "msg_open", target)
	status, hdr, _ := tf.request(t, tf.noFollow, "GET", "/t/c/"+click, "", "")
	require.Equal(t, 302, status)
	require.Equal(t, target, hdr.Get("Location"))
	hist, st = tf.history(t, "msg_open")
	require.Equal(t, []string{"pending", "sent", "opened", "clicked"}, hist)
	require.Equal(t, "clicked", st)
	evs := tf.producer.named("Email Link Clicked")
	require.Len(t, evs, 1)
	require.JSONEq(t, `{"message_id":"msg_open","journey_id":"jr_welcome","channel":"email","url":"`+target+`"}`, string(evs[0].Properties))

	// The same link again records nothing; another link does.
	status, _, _ = tf.request(t, tf.noFollow, "GET", "/t/c/"+click, "", "")
	require.Equal(t, 302, status)
	other := tf.token(t, delivery.LinkClick, "msg_open", "https://acme.example/docs")
	status, hdr, _ = tf.request(t, tf.noFollow, "GET", "/t/c/"+other, "", "")
	require.Equal(t, 302, status)
	require.Equal(t, "https://acme.example/docs", hdr.Get("Location"))
	evs = tf.producer.named("Email Link Clicked")
	require.Len(t, evs, 2)
	sum := sha256.Sum256([]byte("https://acme.example/docs"))
	require.Equal(t, "trk-msg_open-clicked-"+hex.EncodeToString(sum[:8]), evs[1].MessageID, "a click is named by its link")

	// A token edited to lead elsewhere is refused: no redirect, no record.
	for _, forged := range []string{
		tamper(t, click, func(c map[string]any) { c["u"] = "https://evil.example/" }),
		tamper(t, open, func(c map[string]any) { c["p"] = "click"; c["u"] = "https://evil.example/" }),
		open, // an open token is no click token
	} {
		status, hdr, body := tf.request(t, tf.noFollow, "GET", "/t/c/"+forged, "", "")
		require.Equal(t, 400, status, body)
		require.Empty(t, hdr.Get("Location"))
	}
	hist, st = tf.history(t, "msg_open")
	require.Equal(t, []string{"pending", "sent", "opened", "clicked", "clicked"}, hist)
	require.Equal(t, "clicked", st)
}

func TestTrackLinksNeedAKey(t *testing.T) {
	f := newFixture(t) // no encryption key: nothing to verify links with
	for _, p := range []string{"/t/o/x.gif", "/t/c/x", "/t/u/x"} {
		status, _, _ := f.do(t, call{"GET", p, "", nil})
		require.Equal(t, 404, status, p)
	}
}

// snsBody signs an SNS message with the fixture's certificate key.
func (tf *trackFixture) snsBody(t *testing.T, m delivery.SNSMessage) string {
	t.Helper()
	m.TopicArn, m.Timestamp, m.SignatureVersion, m.SigningCertURL = snsTopic, "2026-01-02T03:04:05.678Z", "2", snsCertURL
	sum := sha256.Sum256([]byte(m.StringToSign()))
	sig, err := rsa.SignPKCS1v15(rand.Reader, tf.snsKey, crypto.SHA256, sum[:])
	require.NoError(t, err)
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

// sesNotification is a signed SNS notification carrying an SES event
// about a delivery.
func (tf *trackFixture) sesNotification(t *testing.T, snsID, event, deliveryID, sesID string) string {
	t.Helper()
	msg := `{"eventType":"` + event + `","mail":{"timestamp":"2026-01-02T03:04:00.000Z","messageId":"` + sesID + `",
		"destination":["Ada <ada@example.com>"],"tags":{"workspace_id":["` + tf.ws.ID + `"],"message_id":["` + deliveryID + `"]}}`
	switch event {
	case "Bounce":
		msg += `,"bounce":{"bounceType":"Permanent","bounceSubType":"General","timestamp":"2026-01-02T03:04:05.000Z",
			"bouncedRecipients":[{"emailAddress":"ada@example.com"}]}`
	case "Complaint":
		msg += `,"complaint":{"complaintFeedbackType":"abuse","complainedRecipients":[{"emailAddress":"ada@example.com"}]}`
	}
	return tf.snsBody(t, delivery.SNSMessage{Type: delivery.SNSNotification, MessageID: snsID,
		Subject: "Amazon SES Email Event Notification", Message: msg + "}"})
}

func (tf *trackFixture) postSNS(t *testing.T, body string) (int, string) {
	t.Helper()
	status, _, out := tf.request(t, nil, "POST", "/webhooks/ses", "text/plain; charset=UTF-8", body,
		"x-amz-sns-message-type", "Notification")
	return status, out
}

func TestHookSESThroughSNS(t *testing.T) {
	tf := newTrackFixture(t)
	ctx := context.Background()

	// A subscription confirmation is verified and confirmed.
	subscribe := "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + snsTopic + "&Token=2336412f37"
	status, out := tf.postSNS(t, tf.snsBody(t, delivery.SNSMessage{Type: delivery.SNSSubscriptionConfirmation,
		MessageID: "sub-1", Token: "2336412f37", Message: "You have chosen to subscribe.", SubscribeURL: subscribe}))
	require.Equal(t, 200, status, out)
	select {
	case got := <-tf.confirmed:
		require.Equal(t, strings.TrimPrefix(subscribe, "https://sns.eu-west-1.amazonaws.com"), got)
	default:
		t.Fatal("the subscription was not confirmed")
	}

	// A hard bounce: bounced, suppressed, and the customer event.
	tf.sent(t, "msg_ses", "email", "ada@example.com", "ses-0001", tf.customer)
	bounce := tf.sesNotification(t, "sns-1", "Bounce", "msg_ses", "ses-0001")
	status, out = tf.postSNS(t, bounce)
	require.Equal(t, 200, status, out)
	require.Contains(t, out, `"status":"bounced"`)
	hist, st := tf.history(t, "msg_ses")
	require.Equal(t, []string{"pending", "sent", "bounced"}, hist)
	require.Equal(t, "bounced", st)
	sup, err := tf.store.Suppressed(ctx, tf.ws.ID, "email", "ada@example.com")
	require.NoError(t, err)
	require.Equal(t, schema.SuppressBounce, sup.Reason)
	require.Equal(t, "msg_ses", sup.DeliveryID)
	evs := tf.producer.named("Email Bounced")
	require.Len(t, evs, 1)
	require.Equal(t, "trk-msg_ses-bounced", evs[0].MessageID)
	require.Equal(t, "user-ada", evs[0].UserID)
	require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), evs[0].Timestamp.UTC())
	require.JSONEq(t, `{"message_id":"msg_ses","journey_id":"jr_welcome","channel":"email","bounce_type":"Permanent"}`, string(evs[0].Properties))

	// The same notification again: one event.
	status, out = tf.postSNS(t, bounce)
	require.Equal(t, 200, status, out)
	require.Contains(t, out, `"recorded":false`)
	hist, _ = tf.history(t, "msg_ses")
	require.Equal(t, []string{"pending", "sent", "bounced"}, hist)
	require.Len(t, tf.producer.named("Email Bounced"), 1)

	// A late delivery report does not hide the bounce.
	status, _ = tf.postSNS(t, tf.sesNotification(t, "sns-2", "Delivery", "msg_ses", "ses-0001"))
	require.Equal(t, 200, status)
	_, st = tf.history(t, "msg_ses")
	require.Equal(t, "bounced", st)

	// A bad signature: refused, nothing recorded.
	tf.sent(t, "msg_ses2", "email", "bob@example.com", "ses-0002", tf.customer)
	complaint := tf.sesNotification(t, "sns-3", "Complaint", "msg_ses2", "ses-0002")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(complaint), &m))
	m["Message"] = strings.Replace(m["Message"].(string), "abuse", "not-spam", 1)
	altered, _ := json.Marshal(m)
	status, out = tf.postSNS(t, string(altered))
	require.Equal(t, 403, status, out)
	m["Signature"] = "bm90IGEgc2lnbmF0dXJl"
	status, _ = tf.postSNS(t, mustMarshal(t, m))
	require.Equal(t, 403, status)
	m["SigningCertURL"] = "https://evil.example/cert.pem"
	status, _ = tf.postSNS(t, mustMarshal(t, m))
	require.Equal(t, 400, status)
	status, _ = tf.postSNS(t, "not json")
	require.Equal(t, 400, status)
	hist, _ = tf.history(t, "msg_ses2")
	require.Equal(t, []string{"pending", "sent"}, hist)
	_, err = tf.store.Suppressed(ctx, tf.ws.ID, "email", "bob@example.com")
	require.ErrorIs(t, err, schema.ErrNotFound)

	// Validly signed, but about another SES message than the delivery's
	// (any AWS account can sign SNS messages): ignored.
	status, out = tf.postSNS(t, tf.sesNotification(t, "sns-4", "Complaint", "msg_ses2", "ses-forged"))
	require.Equal(t, 200, status)
	require.Contains(t, out, "ignored")
	hist, _ = tf.history(t, "msg_ses2")
	require.Equal(t, []string{"pending", "sent"}, hist)

	// The genuine complaint suppresses and becomes Email Marked as Spam.
	status, out = tf.postSNS(t, complaint)
	require.Equal(t, 200, status, out)
	_, st = tf.history(t, "msg_ses2")
	require.Equal(t, "complained", st)
	sup, err = tf.store.Suppressed(ctx, tf.ws.ID, "email", "bob@example.com")
	require.NoError(t, err)
	require.Equal(t, schema.SuppressComplaint, sup.Reason)
	require.Len(t, tf.producer.named("Email Marked as Spam"), 1)

	// Before the send recorded SES's answer, SNS is asked to retry.
	_, _, err = tf.store.ClaimDelivery(ctx, tf.ws.ID, schema.Delivery{ID: "msg_pending", CustomerID: tf.customer.ID,
		Channel: "email", Provider: "ses", TemplateID: "tpl_1", Recipient: "cy@example.com"})
	require.NoError(t, err)
	status, _ = tf.postSNS(t, tf.sesNotification(t, "sns-5", "Delivery", "msg_pending", "ses-0003"))
	require.Equal(t, 503, status)

	// Events the send records itself, and events for no delivery, are
	// acknowledged and ignored.
	for _, body := range []string{
		tf.sesNotification(t, "sns-6", "Send", "msg_ses2", "ses-0002"),
		tf.sesNotification(t, "sns-7", "Delivery", "msg_missing", "ses-0009"),
	} {
		status, out = tf.postSNS(t, body)
		require.Equal(t, 200, status)
		require.Contains(t, out, "ignored")
	}

	// The DESIGN §2 prefix answers too.
	status, _, _ = tf.request(t, nil, "POST", "/webhooks/ses", "text/plain", bounce)
	require.Equal(t, 200, status)
}

func TestHookTwilioStatusCallback(t *testing.T) {
	tf := newTrackFixture(t)
	ctx := context.Background()
	status, out, _ := tf.do(t, call{"PUT", "/api/channels", twilioSettings, bearer(tf.secretKey)})
	require.Equal(t, 200, status, "%v", out)

	// An anonymous customer: the event carries the anonymous id.
	applied, err := tf.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: tf.ws.ID, MessageID: "m-anon", Type: "identify",
		AnonymousID: "anon-7", Traits: map[string]any{"phone": "+15555550123"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	anon, err := tf.store.GetCustomer(ctx, tf.ws.ID, applied.CustomerID)
	require.NoError(t, err)
	tf.sent(t, "msg_sms", "sms", "+15555550123", "SM0123456789abcdef", anon)

	path := "/webhooks/twilio/" + tf.ws.ID
	callback := func(path string, params url.Values, sig string) (int, string) {
		t.Helper()
		if sig == "" {
			sig = delivery.TwilioSignature(twilioToken, tf.public+path, params)
		}
		status, _, body := tf.request(t, nil, "POST", path, form, params.Encode(), "X-Twilio-Signature", sig)
		return status, body
	}
	params := func(status string) url.Values {
		return url.Values{"MessageSid": {"SM0123456789abcdef"}, "MessageStatus": {status}, "AccountSid": {"AC0123456789abcdef"},
			"To": {"+15555550123"}, "From": {"+15555550100"}}
	}

	// An invalid signature: refused, nothing recorded.
	status, body := callback(path, params("delivered"), "bm90IGEgc2lnbmF0dXJl")
	require.Equal(t, 403, status, body)
	wrongKey := delivery.TwilioSignature("another-token", tf.public+path, params("delivered"))
	status, _ = callback(path, params("delivered"), wrongKey)
	require.Equal(t, 403, status)
	otherURL := delivery.TwilioSignature(twilioToken, tf.public+path+"?x=1", params("delivered"))
	status, _ = callback(path, params("delivered"), otherURL)
	require.Equal(t, 403, status)
	hist, _ := tf.history(t, "msg_sms")
	require.Equal(t, []string{"pending", "sent"}, hist)

	// Unknown workspace: 404.
	status, _ = callback("/webhooks/twilio/ws_nope", params("delivered"), "")
	require.Equal(t, 404, status)

	// Statuses before delivery are the send's to record.
	status, body = callback(path, params("sent"), "")
	require.Equal(t, 200, status)
	require.Contains(t, body, "ignored")

	// A valid callback: delivered, once.
	for range 2 {
		status, body = callback(path, params("delivered"), "")
		require.Equal(t, 200, status, body)
	}
	hist, st := tf.history(t, "msg_sms")
	require.Equal(t, []string{"pending", "sent", "delivered"}, hist)
	require.Equal(t, "delivered", st)
	evs := tf.producer.named("SMS Delivered")
	require.Len(t, evs, 1)
	require.Equal(t, "anon-7", evs[0].AnonymousID)
	require.Empty(t, evs[0].UserID)
	require.Equal(t, tf.ws.ID+":anon-7", tf.producer.keys[0])

	// A failure named by message_id in the callback URL.
	tf.sent(t, "msg_sms2", "sms", "+15555550124", "SM99", anon)
	failed := url.Values{"MessageSid": {"SM99"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}
	status, body = callback(path+"?message_id=msg_sms2", failed, "")
	require.Equal(t, 200, status, body)
	d, err := tf.store.GetDelivery(ctx, tf.ws.ID, "msg_sms2")
	require.NoError(t, err)
	require.Equal(t, "failed", d.Status)
	require.Contains(t, d.Error, "30003")
	require.Len(t, tf.producer.named("SMS Failed"), 1)

	// A sid that is not the named delivery's is ignored.
	status, body = callback(path+"?message_id=msg_sms", failed, "")
	require.Equal(t, 200, status)
	require.Contains(t, body, "ignored")
	_, st = tf.history(t, "msg_sms")
	require.Equal(t, "delivered", st)
}
