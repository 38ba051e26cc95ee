package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

func TestMain(m *testing.M) { os.Exit(schematest.Run(m)) }

// providerFake is a local server speaking the SES v2 SendEmail, Twilio
// Messages and plain webhook wire formats, counting what it received.
type providerFake struct {
	mu     sync.Mutex
	status int // answer with this status instead of success (0: success)
	// hangUp: read the whole request, count it, and close the connection
	// without an answer (a provider that took the message and then went
	// silent).
	hangUp     bool
	unanswered int
	sesCalls   []map[string]any
	twilio     []url.Values
	hooks      []*http.Request
	bodies     []string
}

func (f *providerFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if f.hangUp {
		f.unanswered++
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if f.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		if f.status == 400 {
			w.Header().Set("X-Amzn-ErrorType", "MessageRejected")
		}
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"message":"simulated","code":21211}`))
		return
	}
	switch {
	case r.URL.Path == "/v2/email/outbound-emails":
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		f.sesCalls = append(f.sesCalls, m)
		_, _ = w.Write([]byte(`{"MessageId":"ses-0001"}`))
	case strings.HasSuffix(r.URL.Path, "/Messages.json"):
		v, _ := url.ParseQuery(string(body))
		f.twilio = append(f.twilio, v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"sid":"SM0001","status":"queued"}`))
	default:
		f.hooks = append(f.hooks, r)
		f.bodies = append(f.bodies, string(body))
		_, _ = w.Write([]byte(`ok`))
	}
}

// redirectTransport sends every request (Twilio's fixed host) to the fake.
type redirectTransport struct{ target *url.URL }

func (t redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.target.Scheme, t.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

type sendEnv struct {
	store *schema.Store
	ws    string
	cust  string
	fake  *providerFake
	srv   *httptest.Server
	act   *activities.Activities
	tpl   map[string]string
}

const testKey = "send-test-key"

func newSendEnv(t testing.TB) *sendEnv {
	t.Helper()
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Send")
	require.NoError(t, err)
	fake := &providerFake{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL)
	c, err := st.EnsureCustomer(ctx, ws.ID, "ada")
	require.NoError(t, err)
	require.NoError(t, st.UpdateCustomerAttributes(ctx, ws.ID, c.ID, map[string]any{"email": "Ada@Example.com", "phone": "+15555550123", "first_name": "Ada"}, nil))
	e := &sendEnv{store: st, ws: ws.ID, cust: c.ID, fake: fake, srv: srv, tpl: map[string]string{},
		act: activities.New(activities.Deps{Store: st, PublicURL: "https://herald.example", EncryptionKey: testKey,
			TwilioTransport: redirectTransport{target}})}
	for channel, content := range map[string]schema.TemplateContent{
		"email":   {Subject: "Hi {{ customer.first_name }}", HTML: `<p><a href="https://acme.io/pricing?a=1&amp;b=2">Pricing</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>`},
		"sms":     {Body: "Hi {{ customer.first_name }}"},
		"webhook": {Method: "POST", URL: srv.URL + "/hook/{{ customer.external_id }}", Body: `{"name":"{{ customer.first_name }}"}`},
	} {
		tpl, err := st.CreateTemplate(ctx, ws.ID, schema.Template{Name: channel, Channel: channel, TemplateContent: content})
		require.NoError(t, err)
		e.tpl[channel] = tpl.ID
	}
	return e
}

func (e *sendEnv) settings(t testing.TB, body string) {
	t.Helper()
	cs, err := activities.DecodeChannelSettings([]byte(body))
	require.NoError(t, err)
	stored, err := e.store.ChannelSettings(context.Background(), e.ws)
	require.NoError(t, err)
	rows, err := activities.NewChannelVault(testKey).Merge(cs, stored)
	require.NoError(t, err)
	require.NoError(t, e.store.PutChannelSettings(context.Background(), e.ws, "test", rows))
}

func (e *sendEnv) send(t *testing.T, channel, messageID string) (activities.SendResult, error) {
	t.Helper()
	return e.sendAt(t, activities.SendInput{Channel: channel, MessageID: messageID})
}

// sendAt runs the send activity for in, filling in the env's workspace,
// customer and template.
func (e *sendEnv) sendAt(t testing.TB, in activities.SendInput) (activities.SendResult, error) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(e.act)
	in.WorkspaceID, in.CustomerID, in.TemplateID = e.ws, e.cust, e.tpl[in.Channel]
	if in.WorkflowID == "" {
		in.WorkflowID = "wf"
	}
	if in.NodeID == "" {
		in.NodeID = "n1"
	}
	if in.JourneyID == "" {
		in.JourneyID = "jny_1"
	}
	val, err := env.ExecuteActivity(e.act.Send, in)
	var res activities.SendResult
	if err == nil {
		require.NoError(t, val.Get(&res))
	}
	return res, err
}

func (e *sendEnv) delivery(t *testing.T, id string) schema.Delivery {
	t.Helper()
	d, err := e.store.GetDelivery(context.Background(), e.ws, id)
	require.NoError(t, err)
	return d
}

func TestSendThroughSESOncePerMessage(t *testing.T) {
	e := newSendEnv(t)
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"configuration_set":"herald-events","endpoint":"`+e.srv.URL+`","from":"Acme <hi@acme.io>"}}`)
	res, err := e.send(t, "email", "msg_1")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	d := e.delivery(t, "msg_1")
	require.Equal(t, "ses", d.Provider)
	require.Equal(t, "ses-0001", d.ProviderID)
	require.Len(t, e.fake.sesCalls, 1)
	call, _ := json.Marshal(e.fake.sesCalls[0])
	require.Contains(t, string(call), `"ConfigurationSetName":"herald-events"`)
	require.Contains(t, string(call), `"Value":"msg_1"`, "the message id travels as an SES tag")
	require.Contains(t, string(call), "List-Unsubscribe")
	require.Contains(t, string(call), "Ada@Example.com")
	require.Contains(t, string(call), "https://herald.example/t/c/", "links go through the click redirect")
	require.Contains(t, string(call), "https://herald.example/t/o/", "the open pixel is in")
	require.Contains(t, string(call), "https://herald.example/t/u/", "the unsubscribe link is signed")
	require.NotContains(t, string(call), "acme.io/pricing", "the target is inside the signed link only")
	// The unsubscribe link carries the digest of the address (so it still
	// works once the customer is erased), not the address.
	unsub := regexp.MustCompile(`https://herald\.example/t/u/([A-Za-z0-9_.-]+)`).FindStringSubmatch(string(call))
	require.NotNil(t, unsub)
	signer, err := delivery.NewSigner(testKey)
	require.NoError(t, err)
	claims, err := signer.Verify(delivery.LinkUnsubscribe, unsub[1])
	require.NoError(t, err)
	require.Equal(t, schema.AddressDigest(e.ws, "email", "ada@example.com"), claims.Recipient)

	// A retry of the same message (a redelivered activity, a replayed
	// workflow) reaches the provider no more.
	res, err = e.send(t, "email", "msg_1")
	require.NoError(t, err)
	require.True(t, res.Duplicate)
	require.Len(t, e.fake.sesCalls, 1)
}

func TestSendFailuresRetryOrStop(t *testing.T) {
	e := newSendEnv(t)
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"endpoint":"`+e.srv.URL+`","from":"hi@acme.io"}}`)

	// A 5xx is transient: the activity fails retryably and the delivery waits.
	e.fake.status = 503
	_, err := e.send(t, "email", "msg_t")
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.False(t, errorsAs(err, &appErr) && appErr.NonRetryable(), "a 503 is retried: %v", err)
	require.Equal(t, "pending", e.delivery(t, "msg_t").Status)
	e.fake.status = 0
	res, err := e.send(t, "email", "msg_t")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)

	// A rejection is permanent: recorded failed, not retried.
	e.fake.status = 400
	_, err = e.send(t, "email", "msg_p")
	require.Error(t, err)
	require.True(t, errorsAs(err, &appErr) && appErr.NonRetryable(), "%v", err)
	require.Equal(t, "failed", e.delivery(t, "msg_p").Status)
}

func TestSendSkipsSuppressedAddresses(t *testing.T) {
	e := newSendEnv(t)
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"endpoint":"`+e.srv.URL+`","from":"hi@acme.io"}}`)
	require.NoError(t, e.store.Suppress(context.Background(), e.ws, schema.Suppression{Channel: "email", Address: "ada@example.com", Reason: schema.SuppressBounce}))
	res, err := e.send(t, "email", "msg_s")
	require.NoError(t, err)
	require.Equal(t, "suppressed", res.Status)
	require.Contains(t, e.delivery(t, "msg_s").Error, "bounce")
	require.Empty(t, e.fake.sesCalls)

	// A customer's own opt-out of a channel holds too.
	require.NoError(t, e.store.UpdateCustomerAttributes(context.Background(), e.ws, e.cust, map[string]any{"sms_opt_out": true}, nil))
	e.settings(t, `{"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef","auth_token":"tok0123456789","from":"+15555550100"}}`)
	res, err = e.send(t, "sms", "msg_opt")
	require.NoError(t, err)
	require.Equal(t, "suppressed", res.Status)
	require.Contains(t, e.delivery(t, "msg_opt").Error, "opted out of sms")
	require.Empty(t, e.fake.twilio)
}

func TestSendSMSThroughTwilio(t *testing.T) {
	e := newSendEnv(t)
	e.settings(t, `{"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef","auth_token":"tok0123456789","from":"+15555550100"}}`)
	res, err := e.send(t, "sms", "msg_sms")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	require.Len(t, e.fake.twilio, 1)
	require.Equal(t, "+15555550123", e.fake.twilio[0].Get("To"))
	require.Equal(t, "Hi Ada", e.fake.twilio[0].Get("Body"))
	require.Equal(t, "https://herald.example/webhooks/twilio/"+e.ws+"?message_id=msg_sms", e.fake.twilio[0].Get("StatusCallback"))
	require.Equal(t, "SM0001", e.delivery(t, "msg_sms").ProviderID)
}

func TestWebhookSendsAreGuarded(t *testing.T) {
	e := newSendEnv(t)
	// Not allow-listed: the fake listens on loopback, which is refused.
	_, err := e.send(t, "webhook", "msg_w1")
	require.Error(t, err)
	d := e.delivery(t, "msg_w1")
	require.Equal(t, "failed", d.Status)
	require.Contains(t, d.Error, "127.0.0.1")
	require.Empty(t, e.fake.hooks)

	e.settings(t, `{"webhook":{"allow_hosts":["127.0.0.1"]}}`)
	res, err := e.send(t, "webhook", "msg_w2")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	require.Len(t, e.fake.hooks, 1)
	require.Equal(t, "/hook/ada", e.fake.hooks[0].URL.Path)
	require.Equal(t, "msg_w2", e.fake.hooks[0].Header.Get("Idempotency-Key"))
	require.JSONEq(t, `{"name":"Ada"}`, e.fake.bodies[0])
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// TestFrequencyCapDefersAcrossJourneys: beyond the channel's cap a message
// is recorded as deferred with the time its slot opens, and is not sent;
// at that time it goes out under the same message id.
func TestFrequencyCapDefersAcrossJourneys(t *testing.T) {
	e := newSendEnv(t)
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"endpoint":"`+e.srv.URL+`","from":"hi@acme.io","frequency_cap":{"max":2,"period":"24h"}}}`)
	for _, id := range []string{"cap_1", "cap_2"} {
		res, err := e.send(t, "email", id)
		require.NoError(t, err)
		require.Equal(t, "sent", res.Status)
	}
	first := e.delivery(t, "cap_1")
	res, err := e.send(t, "email", "cap_3")
	require.NoError(t, err)
	require.Equal(t, "deferred", res.Status)
	require.NotNil(t, res.DeferUntil)
	require.WithinDuration(t, first.CreatedAt.Add(24*time.Hour), *res.DeferUntil, time.Second, "the slot opens when the oldest send ages out")
	d := e.delivery(t, "cap_3")
	require.Equal(t, "deferred", d.Status)
	require.Contains(t, d.Error, "frequency cap of 2 per 24h0m0s")
	require.Len(t, e.fake.sesCalls, 2, "the capped message is not sent")

	// Asking again before the slot: still deferred, no second history entry.
	res, err = e.send(t, "email", "cap_3")
	require.NoError(t, err)
	require.Equal(t, "deferred", res.Status)

	// A day later (the two sends moved into the past), the same message goes out.
	_, err = e.store.Pool().Exec(context.Background(), `UPDATE deliveries SET created_at = created_at - interval '25 hours'
		WHERE workspace_id = $1 AND id IN ('cap_1', 'cap_2')`, e.ws)
	require.NoError(t, err)
	res, err = e.send(t, "email", "cap_3")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	require.Len(t, e.fake.sesCalls, 3)

	// SMS has no cap here: it is not held by the email cap.
	e.settings(t, `{"sms":{"provider":"outbox"}}`)
	res, err = e.send(t, "sms", "cap_sms")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
}

// TestSendRatesHoldSendsToTheirSlots: 1,000 sends of a journey limited to
// 600 per minute get distinct slots 100 ms apart — the few that fit now go
// at once, the rest are deferred to their slot, none dropped — and a
// provider's rate limit spaces its sends the same way.
func TestSendRatesHoldSendsToTheirSlots(t *testing.T) {
	e := newSendEnv(t)
	const n, perMinute = 1000, 600
	interval := time.Minute / perMinute
	var mu sync.Mutex
	var slots []time.Time
	sentNow := 0
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				res, err := e.sendAt(t, activities.SendInput{Channel: "webhook", MessageID: fmt.Sprintf("rate_%d", i), RatePerMinute: perMinute})
				// The webhook fake is not allow-listed: a send that goes out at
				// once fails permanently, which is fine here; what counts is
				// that it was let through now.
				mu.Lock()
				if err == nil && res.Status == "deferred" {
					slots = append(slots, *res.DeferUntil)
				} else {
					sentNow++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, n, len(slots)+sentNow, "every send is either let through or deferred")
	require.LessOrEqual(t, sentNow, 3, "only what fits in the first slots goes at once")
	slices.SortFunc(slots, time.Time.Compare)
	for i := 1; i < len(slots); i++ {
		require.GreaterOrEqual(t, slots[i].Sub(slots[i-1]), interval-time.Millisecond, "slots %d and %d", i-1, i)
	}
	require.GreaterOrEqual(t, slots[len(slots)-1].Sub(slots[0]), time.Duration(len(slots)-1)*interval-time.Millisecond)
	d := e.delivery(t, "rate_999")
	require.Equal(t, "deferred", d.Status)
	require.NotNil(t, d.NotBefore)
	require.Contains(t, d.Error, "journey rate 600/min")

	// A deferred message sent again before its slot stays deferred with the
	// same slot (no new reservation).
	res, err := e.sendAt(t, activities.SendInput{Channel: "webhook", MessageID: "rate_999", RatePerMinute: perMinute})
	require.NoError(t, err)
	require.Equal(t, "deferred", res.Status)
	require.True(t, d.NotBefore.Equal(*res.DeferUntil))

	// The provider's limit: 20 SMS at 10 per second span about 2 s of slots.
	e.settings(t, `{"sms":{"provider":"outbox","rate_per_second":10}}`)
	var smsSlots []time.Time
	for i := 0; i < 20; i++ {
		res, err := e.sendAt(t, activities.SendInput{Channel: "sms", MessageID: fmt.Sprintf("sms_%d", i), JourneyID: "jny_2"})
		require.NoError(t, err)
		if res.Status == "deferred" {
			smsSlots = append(smsSlots, *res.DeferUntil)
		}
	}
	require.GreaterOrEqual(t, len(smsSlots), 18)
	require.GreaterOrEqual(t, smsSlots[len(smsSlots)-1].Sub(smsSlots[0]), time.Duration(len(smsSlots)-1)*100*time.Millisecond-time.Millisecond)
}

// TestSendAfterAnInterruptedProviderCall: an attempt that finds its message
// "sending" (its predecessor's worker stopped during the provider call)
// does not call SES again — the message is recorded as failed with the
// reason — while a webhook goes again under the same Idempotency-Key.
func TestSendAfterAnInterruptedProviderCall(t *testing.T) {
	e := newSendEnv(t)
	ctx := context.Background()
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"endpoint":"`+e.srv.URL+`","from":"hi@acme.io"},"webhook":{"allow_hosts":["127.0.0.1"]}}`)
	for _, ch := range []string{"email", "webhook"} {
		_, _, err := e.store.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: "cut_" + ch, CustomerID: e.cust, Channel: ch, Provider: "x", TemplateID: e.tpl[ch]})
		require.NoError(t, err)
		ok, _, err := e.store.MarkSending(ctx, e.ws, "cut_"+ch, false)
		require.NoError(t, err)
		require.True(t, ok)
	}
	_, err := e.send(t, "email", "cut_email")
	var appErr *temporal.ApplicationError
	require.True(t, errorsAs(err, &appErr) && appErr.NonRetryable(), "%v", err)
	d := e.delivery(t, "cut_email")
	require.Equal(t, "failed", d.Status)
	require.Contains(t, d.Error, "outcome unknown")
	require.Empty(t, e.fake.sesCalls, "SES is not called again")

	res, err := e.send(t, "webhook", "cut_webhook")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	require.Len(t, e.fake.hooks, 1)
	require.Equal(t, "cut_webhook", e.fake.hooks[0].Header.Get("Idempotency-Key"))

	// A transient failure is not an interruption: the message goes back to
	// pending and the retry sends it.
	e.fake.status = 503
	_, err = e.send(t, "email", "retry_email")
	require.Error(t, err)
	require.Equal(t, "pending", e.delivery(t, "retry_email").Status)
	e.fake.status = 0
	res, err = e.send(t, "email", "retry_email")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
}

// A provider that received the whole message and never answered may have
// sent it: SES and Twilio are not called again for it (the retry finds it
// settled), while a webhook goes again under its Idempotency-Key.
func TestSendWithoutAnAnswerIsNotSentTwice(t *testing.T) {
	e := newSendEnv(t)
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"endpoint":"`+e.srv.URL+`","from":"hi@acme.io"},
		"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef","auth_token":"tok0123456789","from":"+15555550100"},
		"webhook":{"allow_hosts":["127.0.0.1"]}}`)
	e.fake.hangUp = true
	for _, ch := range []string{"email", "sms"} {
		before := e.fake.unanswered
		_, err := e.send(t, ch, "silent_"+ch)
		var appErr *temporal.ApplicationError
		require.True(t, errorsAs(err, &appErr) && appErr.NonRetryable(), "%s: %v", ch, err)
		d := e.delivery(t, "silent_"+ch)
		require.Equal(t, "failed", d.Status, ch)
		require.Contains(t, d.Error, "outcome unknown", ch)
		require.Contains(t, d.Error, "gave no answer", ch)
		require.Equal(t, before+1, e.fake.unanswered, "%s: the provider got the message once", ch)

		// The activity's retry (or a replay) does not call the provider again.
		res, err := e.send(t, ch, "silent_"+ch)
		require.NoError(t, err)
		require.True(t, res.Duplicate, ch)
		require.Equal(t, before+1, e.fake.unanswered, ch)
	}

	_, err := e.send(t, "webhook", "silent_webhook")
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.False(t, errorsAs(err, &appErr) && appErr.NonRetryable(), "a webhook is retried: %v", err)
	require.Equal(t, "pending", e.delivery(t, "silent_webhook").Status)
	e.fake.hangUp = false
	res, err := e.send(t, "webhook", "silent_webhook")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	require.Equal(t, "silent_webhook", e.fake.hooks[0].Header.Get("Idempotency-Key"))
	require.Empty(t, e.fake.sesCalls)
	require.Empty(t, e.fake.twilio)
}

// An update_customer value whose Liquid does not render is recorded (audit
// entry on the customer) and left out; the other attributes are set and
// the run goes on (no error), as a send whose template does not render.
func TestUpdateCustomerRecordsWhatDoesNotRender(t *testing.T) {
	e := newSendEnv(t)
	ctx := context.Background()
	err := e.act.UpdateCustomer(ctx, activities.UpdateCustomerInput{WorkspaceID: e.ws, CustomerID: e.cust,
		JourneyID: "jny_1", JourneyName: "Ticks",
		Set: map[string]any{"tick": "{{ event.properties.n }}", "plan": "{{ customer.first_name }}-pro"}})
	require.NoError(t, err)
	c, err := e.store.GetCustomer(ctx, e.ws, e.cust)
	require.NoError(t, err)
	var attrs map[string]any
	require.NoError(t, json.Unmarshal(c.Attributes, &attrs))
	require.Equal(t, "Ada-pro", attrs["plan"])
	require.NotContains(t, attrs, "tick")
	audit, err := e.store.ListAudit(ctx, e.ws, "customer", e.cust)
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, "update_failed", audit[0].Action)
	require.Equal(t, "journey:jny_1", audit[0].Actor)
	require.Contains(t, string(audit[0].Detail), `"tick"`)
	require.Contains(t, string(audit[0].Detail), "event.properties.n")
}

// Two profiles merged while each was in the same journey: until the router
// ends one run, both go on, and a node's message one run sent is recorded
// as suppressed in the other, not sent twice. A message the other run did
// not get out (failed), or one of another node, still sends.
// mergedRuns sets SES up and records running runs wfs of one journey for
// the customer, started at started (two profiles' runs after a merge);
// it returns the journey id.
func (e *sendEnv) mergedRuns(t *testing.T, started time.Time, wfs ...string) string {
	t.Helper()
	ctx := context.Background()
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"endpoint":"`+e.srv.URL+`","from":"hi@acme.io"}}`)
	j, err := e.store.CreateJourney(ctx, e.ws, "Welcome", json.RawMessage(`{}`))
	require.NoError(t, err)
	for _, wf := range wfs {
		_, err := e.store.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: wf, RunID: "r-" + wf, JourneyID: j.ID, Version: 1,
			CustomerID: e.cust, StartedAt: started})
		require.NoError(t, err)
	}
	return j.ID
}

// runMessage records message id of run wf at node of journey, in status
// (pending: claimed only).
func (e *sendEnv) runMessage(t *testing.T, id, journey, wf, node, status string) {
	t.Helper()
	ctx := context.Background()
	_, _, err := e.store.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: id, JourneyID: journey, CustomerID: e.cust, WorkflowID: wf,
		NodeID: node, Channel: "email", Provider: "ses", TemplateID: e.tpl["email"], Recipient: "ada@example.com"})
	require.NoError(t, err)
	if status != schema.DeliveryPending {
		require.NoError(t, e.store.SetDeliveryStatus(ctx, e.ws, id, status, "", ""))
	}
}

func TestSendOnceAcrossRunsOfMergedProfiles(t *testing.T) {
	e := newSendEnv(t)
	j := e.mergedRuns(t, time.Now(), "wf", "wf-merged") // "wf" is the run sendAt sends from
	sentBy := func(id, node, status string) { e.runMessage(t, id, j, "wf-merged", node, status) }

	sentBy("msg_other_n2", "n2", schema.DeliverySent)
	sentBy("msg_other_failed", "n1", schema.DeliveryFailed)
	res, err := e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg_1", JourneyID: j})
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status, "the other run sent another node, and failed this one")
	require.Len(t, e.fake.sesCalls, 1)

	sentBy("msg_other_n1", "n1", schema.DeliverySent)
	res, err = e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg_2", JourneyID: j})
	require.NoError(t, err)
	require.Equal(t, schema.DeliverySuppressed, res.Status)
	require.Contains(t, e.delivery(t, "msg_2").Error, "msg_other_n1")
	require.Len(t, e.fake.sesCalls, 1, "not sent twice")
}

// Two runs of merged profiles reaching one node at once (both past the
// look for the other's message before either claimed its own) still send
// it once: marking a message sending is serialised per customer, journey
// and node, and the second finds the first's. A run the router ended as a
// merge's double counts too, for the run it was the double of; not for a
// run that began after it ended, nor when it ended for another reason.
func TestSendOnceWhenMergedRunsReachANodeTogether(t *testing.T) {
	e := newSendEnv(t)
	ctx := context.Background()
	j := e.mergedRuns(t, time.Now().Add(-time.Minute), "wf-a", "wf-b")

	// The store's guard, in the order the race leaves it: both claimed.
	for _, wf := range []string{"wf-a", "wf-b"} {
		e.runMessage(t, "claim-"+wf, j, wf, "n0", schema.DeliveryPending)
	}
	marked, sentBy, err := e.store.MarkSending(ctx, e.ws, "claim-wf-a", false)
	require.NoError(t, err)
	require.True(t, marked)
	require.Empty(t, sentBy)
	marked, sentBy, err = e.store.MarkSending(ctx, e.ws, "claim-wf-b", false)
	require.NoError(t, err)
	require.False(t, marked, "the other run's message is with its provider")
	require.Equal(t, "claim-wf-a", sentBy)

	// Through the activity, both runs at once, node after node.
	const rounds = 12
	for i := range rounds {
		node := fmt.Sprintf("n%d", i+1)
		var wg sync.WaitGroup
		results := make([]activities.SendResult, 2)
		errs := make([]error, 2)
		for k, wf := range []string{"wf-a", "wf-b"} {
			wg.Go(func() {
				results[k], errs[k] = e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg-" + wf + "-" + node,
					JourneyID: j, WorkflowID: wf, NodeID: node})
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		statuses := []string{results[0].Status, results[1].Status}
		slices.Sort(statuses)
		require.Equal(t, []string{"sent", "suppressed"}, statuses, "node %s", node)
	}
	require.Len(t, e.fake.sesCalls, rounds, "one message per node")

	// The router ends wf-b as wf-a's double: what wf-b sent still counts
	// for wf-a, which goes on.
	sent := func(wf, node string) { e.runMessage(t, "sent-"+wf+"-"+node, j, wf, node, schema.DeliverySent) }
	sent("wf-b", "later")
	require.NoError(t, e.store.FinishRun(ctx, "wf-b", "r-wf-b", schema.RunExited, schema.MergedDoubleReason(e.cust), time.Now()))
	res, err := e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg-a-later", JourneyID: j, WorkflowID: "wf-a", NodeID: "later"})
	require.NoError(t, err)
	require.Equal(t, schema.DeliverySuppressed, res.Status)
	require.Contains(t, e.delivery(t, "msg-a-later").Error, "sent-wf-b-later")

	// A run that ended otherwise (the customer exited it), or one begun
	// after the double ended (a later entry), sends.
	_, err = e.store.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: "wf-c", RunID: "r-wf-c", JourneyID: j, Version: 1,
		CustomerID: e.cust, StartedAt: time.Now().Add(time.Second)})
	require.NoError(t, err)
	require.NoError(t, e.store.FinishRun(ctx, "wf-a", "r-wf-a", schema.RunExited, "exit_on Cancelled", time.Now()))
	res, err = e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg-c-later", JourneyID: j, WorkflowID: "wf-c", NodeID: "later"})
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	sent("wf-a", "exited")
	res, err = e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg-c-exited", JourneyID: j, WorkflowID: "wf-c", NodeID: "exited"})
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	require.Len(t, e.fake.sesCalls, rounds+2)
}

// A later entry of the survivor into the journey (every_time) has the
// workflow id of its earlier runs, with a new run id: the merge's double,
// ended long before it began, does not suppress its messages.
func TestLaterEntryOfTheSurvivorIsNotSuppressedByAnOldDouble(t *testing.T) {
	e := newSendEnv(t)
	ctx := context.Background()
	j := e.mergedRuns(t, time.Now().Add(-time.Hour), "wf-a", "wf-b")
	e.runMessage(t, "sent-wf-b-n1", j, "wf-b", "n1", schema.DeliverySent)
	require.NoError(t, e.store.FinishRun(ctx, "wf-b", "r-wf-b", schema.RunExited, schema.MergedDoubleReason(e.cust), time.Now().Add(-50*time.Minute)))
	require.NoError(t, e.store.FinishRun(ctx, "wf-a", "r-wf-a", schema.RunCompleted, "", time.Now().Add(-40*time.Minute)))
	_, err := e.store.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: "wf-a", RunID: "r-wf-a-2", JourneyID: j, Version: 1,
		CustomerID: e.cust, StartedAt: time.Now()})
	require.NoError(t, err)
	res, err := e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg-a2-n1", JourneyID: j, WorkflowID: "wf-a", NodeID: "n1"})
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status, "error: %s", e.delivery(t, "msg-a2-n1").Error)
}

// A message the other run only claimed or deferred (quiet hours, a cap)
// has not gone out: the survivor's run sends its own — whether the other
// run was ended as the merge's double, whose timer died with it, or still
// goes on, and then finds this one when its message wakes.
func TestDeferredMessageOfTheOtherRunDoesNotSuppress(t *testing.T) {
	e := newSendEnv(t)
	ctx := context.Background()
	j := e.mergedRuns(t, time.Now().Add(-time.Minute), "wf", "wf-b", "wf-c")
	e.runMessage(t, "deferred-wf-b-n1", j, "wf-b", "n1", schema.DeliveryDeferred)
	require.NoError(t, e.store.FinishRun(ctx, "wf-b", "r-wf-b", schema.RunExited, schema.MergedDoubleReason(e.cust), time.Now()))
	res, err := e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg-a-n1", JourneyID: j})
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status, "error: %s", e.delivery(t, "msg-a-n1").Error)
	require.Len(t, e.fake.sesCalls, 1)

	e.runMessage(t, "deferred-wf-c-n2", j, "wf-c", "n2", schema.DeliveryDeferred)
	res, err = e.sendAt(t, activities.SendInput{Channel: "email", MessageID: "msg-a-n2", JourneyID: j, NodeID: "n2"})
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status, "error: %s", e.delivery(t, "msg-a-n2").Error)
	marked, sentBy, err := e.store.MarkSending(ctx, e.ws, "deferred-wf-c-n2", false)
	require.NoError(t, err)
	require.False(t, marked, "the deferred message wakes and finds the one sent")
	require.Equal(t, "msg-a-n2", sentBy)
	require.Len(t, e.fake.sesCalls, 2)
}

// A message to a profile known only by an anonymous id, made moments ago
// and without the channel's address, waits a little for it (the identify
// that gives it often comes right after the track that started the run),
// then goes once the address is there; after two minutes, or for a
// customer with a user id, it fails at once as before.
func TestSendToANewAnonymousProfileWaitsForItsAddress(t *testing.T) {
	e := newSendEnv(t)
	ctx := context.Background()
	e.settings(t, `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIDTEST","secret_access_key":"secretTEST",
		"endpoint":"`+e.srv.URL+`","from":"hi@acme.io"}}`)
	named := map[string]any{"first_name": "Ann"} // the templates greet by name
	anon, err := e.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: e.ws, MessageID: "m1", Type: "identify", Name: "Identify",
		AnonymousID: "a1", Traits: named, OccurredAt: time.Now()})
	require.NoError(t, err)
	send := func(customerID, messageID string) (activities.SendResult, error) {
		t.Helper()
		e.cust = customerID
		return e.sendAt(t, activities.SendInput{Channel: "email", MessageID: messageID})
	}

	before := time.Now()
	res, err := send(anon.CustomerID, "msg_1")
	require.NoError(t, err)
	require.Equal(t, schema.DeliveryDeferred, res.Status)
	require.NotNil(t, res.DeferUntil)
	require.WithinDuration(t, before.Add(15*time.Second), *res.DeferUntil, 5*time.Second)
	require.Empty(t, e.fake.sesCalls)

	// The identify brings the address: the next look sends.
	_, err = e.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: e.ws, MessageID: "m2", Type: "identify", Name: "Identify",
		AnonymousID: "a1", Traits: map[string]any{"email": "new@example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	res, err = send(anon.CustomerID, "msg_1")
	require.NoError(t, err)
	require.Equal(t, "sent", res.Status)
	require.Len(t, e.fake.sesCalls, 1)

	// An anonymous profile older than two minutes fails at once.
	old, err := e.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: e.ws, MessageID: "m3", Type: "identify", Name: "Identify",
		AnonymousID: "a2", Traits: named, OccurredAt: time.Now()})
	require.NoError(t, err)
	_, err = e.store.Pool().Exec(ctx, `UPDATE customers SET created_at = now() - interval '3 minutes' WHERE id = $1`, old.CustomerID)
	require.NoError(t, err)
	_, err = send(old.CustomerID, "msg_2")
	require.ErrorContains(t, err, "customer has no email address to send to")
	require.Equal(t, "failed", e.delivery(t, "msg_2").Status)

	// So does a new customer with a user id.
	known, err := e.store.EnsureCustomer(ctx, e.ws, "bob")
	require.NoError(t, err)
	require.NoError(t, e.store.UpdateCustomerAttributes(ctx, e.ws, known.ID, named, nil))
	_, err = send(known.ID, "msg_3")
	require.ErrorContains(t, err, "customer has no email address to send to")
	require.Len(t, e.fake.sesCalls, 1)
}
