package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// padded is a JSON event of exactly size bytes: fmt's format with the
// filler of its properties grown to fit.
func padded(t *testing.T, size int, format string) string {
	t.Helper()
	body := fmt.Sprintf(format, "")
	require.LessOrEqual(t, len(body), size)
	body = fmt.Sprintf(format, strings.Repeat("p", size-len(body)))
	require.Len(t, body, size)
	return body
}

// apiURL serves Herald's API on the env's store and producer.
func (e *env) apiURL(t *testing.T) string {
	t.Helper()
	letters, err := ingest.NewDeadLetterProducer(e.brokers, dlq)
	require.NoError(t, err)
	t.Cleanup(func() { letters.Close() })
	srv := httptest.NewServer(api.New(api.Deps{Store: e.store, Producer: e.producer, DeadLetters: letters}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// postRaw posts body with the headers; it returns the status, the response
// headers and the body.
func postRaw(t *testing.T, url string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

// storedEvents waits until the customer of user (a user or anonymous id)
// has at least want events, and returns them; there must be exactly want.
func (e *env) storedEvents(t *testing.T, user string, want int) []schema.StoredEvent {
	t.Helper()
	ctx := context.Background()
	var evs []schema.StoredEvent
	require.Eventually(t, func() bool {
		c, err := e.store.FindCustomer(ctx, e.ws.ID, user)
		if err != nil {
			return false
		}
		evs, err = e.store.ListCustomerEvents(ctx, e.ws.ID, c.ID, 100)
		return err == nil && len(evs) >= want
	}, 20*time.Second, 50*time.Millisecond, "events of %s", user)
	require.Len(t, evs, want)
	return evs
}

// Every event the API answers 200 for is stored by the consumer, at the
// edges too: at the size limits (the API adds fields before it produces),
// with a client clock far off (the skew is corrected once), with numeric
// ids; and the Segment fields without a column are kept in properties.
func TestEventsAcceptedOverHTTPAreStoredAsSent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.apiURL(t)
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(e.writeKey+":"))}
	post := func(path, body string) {
		t.Helper()
		status, _, out := postRaw(t, url+path, auth, body)
		require.Equal(t, 200, status, "%s: %s", path, out)
	}

	now := time.Now().UTC()
	slow := now.Add(-time.Hour) // the client's clock is an hour behind
	post("/v1/track", fmt.Sprintf(`{"userId":"skew","event":"Slow clock","messageId":"skew-1","timestamp":%q,"sentAt":%q}`,
		slow.Add(-10*time.Minute).Format(time.RFC3339Nano), slow.Format(time.RFC3339Nano)))
	post("/v1/batch", fmt.Sprintf(`{"sentAt":%q,"batch":[{"type":"track","userId":"skew","event":"Fast clock","messageId":"skew-2","timestamp":%q}]}`,
		now.Add(time.Hour).Format(time.RFC3339Nano), now.Add(time.Hour-5*time.Minute).Format(time.RFC3339Nano)))
	post("/v1/track", padded(t, ingest.MaxEventBytes,
		`{"userId":"big","event":"Largest","messageId":"big-1","properties":{"filler":"%s"}}`))
	post("/v1/batch", `{"batch":[`+padded(t, ingest.MaxEventBytes-1,
		`{"type":"track","userId":"big","event":"Largest in a batch","messageId":"big-2","properties":{"filler":"%s"}}`)+`]}`)
	post("/v1/identify", `{"userId":42,"messageId":"num-1","traits":{"account":12345678901234567890,"ratio":0.25}}`)
	post("/v1/page", `{"anonymousId":7,"messageId":"page-1","name":"Pricing","category":"Docs","properties":{"url":"https://acme.example/pricing"}}`)
	post("/v1/screen", `{"userId":"42","messageId":"screen-1","name":"Home","properties":{"name":"the sender's own"}}`)
	post("/v1/group", `{"userId":"42","messageId":"group-1","groupId":"acme","traits":{"plan":"enterprise","seats":50}}`)
	post("/v1/alias", `{"userId":"42","messageId":"alias-1","previousId":"legacy-9"}`)
	e.run(t)

	skew := e.storedEvents(t, "skew", 2)
	// Ten minutes before it was sent, and five, whatever the clocks said.
	require.WithinDuration(t, now.Add(-10*time.Minute), skew[0].OccurredAt, 5*time.Second, "slow clock: corrected once")
	require.WithinDuration(t, now.Add(-5*time.Minute), skew[1].OccurredAt, 5*time.Second, "fast clock: corrected once")

	big := e.storedEvents(t, "big", 2)
	require.Equal(t, []string{"big-1", "big-2"}, []string{big[0].MessageID, big[1].MessageID})

	num := e.storedEvents(t, "42", 4)
	c, err := e.store.FindCustomer(ctx, e.ws.ID, "42")
	require.NoError(t, err)
	require.Equal(t, "42", *c.ExternalID, "a numeric userId is its digits")
	require.JSONEq(t, `{"account":12345678901234567890,"ratio":0.25}`, string(c.Attributes), "numbers as written")
	anon, err := e.store.FindCustomer(ctx, e.ws.ID, "7")
	require.NoError(t, err, "a numeric anonymousId is its digits")
	props := map[string]string{}
	for _, ev := range append(num, e.storedEvents(t, "7", 1)...) {
		props[ev.MessageID] = string(ev.Properties)
	}
	require.NotEqual(t, c.ID, anon.ID)
	require.JSONEq(t, `{"url":"https://acme.example/pricing","name":"Pricing","category":"Docs"}`, props["page-1"])
	require.JSONEq(t, `{"name":"the sender's own"}`, props["screen-1"], "the sender's properties win")
	require.JSONEq(t, `{"groupId":"acme","traits":{"plan":"enterprise","seats":50}}`, props["group-1"])
	require.JSONEq(t, `{"previousId":"legacy-9"}`, props["alias-1"])
	require.JSONEq(t, `{"traits":{"account":12345678901234567890,"ratio":0.25}}`, props["num-1"], "an identify keeps its traits as sent")

	require.Empty(t, readDeadLetters(t, e.client), "nothing accepted was dead-lettered")
}

// An event a producer writes straight to the topic with text Postgres
// cannot store is parked with the field named; the stream goes on.
func TestUnstorableTextIsDeadLetteredWithItsField(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	bad := []string{
		`{"type":"track","messageId":"n1","userId":"x","event":"E","workspaceId":"` + ws + `","properties":{"s":"a\u0000b"}}`,
		`{"type":"track","messageId":"n2","userId":"x","event":"E\u0000","workspaceId":"` + ws + `"}`,
		`{"type":"identify","messageId":"n3","userId":"x","workspaceId":"` + ws + `","traits":{"k":"\udc00"}}`,
		"{\"type\":\"track\",\"messageId\":\"n4\",\"userId\":\"x\",\"event\":\"E\",\"workspaceId\":\"" + ws + "\",\"context\":{\"s\":\"\xff\"}}",
		// In an id: decoded, "x-\ud83d" and "x-\udc00" would both be "x-\ufffd".
		`{"type":"track","messageId":"n5","userId":"x-\ud83d","event":"E","workspaceId":"` + ws + `"}`,
		`{"type":"track","messageId":"n6-\udc00","userId":"x","event":"E","workspaceId":"` + ws + `"}`,
	}
	for _, b := range bad {
		require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: ws + ":x", Value: []byte(b)}))
	}
	e.produce(t, ws+":x", map[string]any{"type": "track", "messageId": "ok", "userId": "x", "event": "After", "workspaceId": ws,
		"properties": map[string]any{"escaped": `a\u0000b`, "emoji": "\U0001F600"}})
	e.run(t)

	letters := readAll(t, e.client, dlq, len(bad))
	var reasons []string
	for _, l := range letters {
		reasons = append(reasons, l.Reason)
	}
	require.ElementsMatch(t, []string{
		"properties: properties contains the NUL character (\\u0000), which Herald cannot store",
		"event: event contains the NUL character (\\u0000), which Herald cannot store",
		"traits: traits contains a lone UTF-16 surrogate (\\udc00), which Herald cannot store",
		"context: context is not valid UTF-8, which Herald cannot store",
		"userId: userId contains a lone UTF-16 surrogate (\\ud83d), which Herald cannot store",
		"messageId: messageId contains a lone UTF-16 surrogate (\\udc00), which Herald cannot store",
	}, reasons)
	evs := e.storedEvents(t, "x", 1)
	require.True(t, bytes.Contains(evs[0].Properties, []byte(`a\\u0000b`)), "an escaped backslash before u0000 is ordinary text")
}

// Segment's browser SDK (analytics.js 2.0) posts text/plain — no CORS
// preflight — to /v1/<first letter of the type>, or batches to /v1/b, with
// the write key in the body and no Authorization header.
func TestAnalyticsJSWireFormat(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.apiURL(t)
	post := func(path, body string) (int, string) {
		t.Helper()
		status, hdr, out := postRaw(t, url+path, map[string]string{"Content-Type": "text/plain", "Origin": "https://shop.example"}, body)
		require.Equal(t, "*", hdr.Get("Access-Control-Allow-Origin"))
		return status, out
	}
	sent := time.Now().UTC().Format(time.RFC3339Nano)
	ctxJSON := `"context":{"library":{"name":"analytics.js","version":"next-1.70.0"},"page":{"path":"/pricing","url":"https://shop.example/pricing"},"userAgent":"Mozilla/5.0"},"_metadata":{"bundled":["Segment.io"],"unbundled":[],"bundledIds":[]}`
	calls := []struct{ path, body string }{
		{"/v1/i", `{"type":"identify","userId":"ajs-1","anonymousId":"anon-ajs","traits":{"email":"ajs@example.com"},"messageId":"ajs-next-i1","writeKey":"` + e.writeKey + `","sentAt":"` + sent + `",` + ctxJSON + `}`},
		{"/v1/p", `{"type":"page","anonymousId":"anon-ajs","userId":"ajs-1","name":"Pricing","properties":{"path":"/pricing"},"messageId":"ajs-next-p1","writeKey":"` + e.writeKey + `","sentAt":"` + sent + `",` + ctxJSON + `}`},
		{"/v1/t", `{"type":"track","event":"Plan Picked","userId":"ajs-1","anonymousId":"anon-ajs","properties":{"plan":"pro"},"messageId":"ajs-next-t1","writeKey":"` + e.writeKey + `","sentAt":"` + sent + `",` + ctxJSON + `}`},
		{"/v1/b", `{"writeKey":"` + e.writeKey + `","sentAt":"` + sent + `","batch":[{"type":"track","event":"Batched","userId":"ajs-1","messageId":"ajs-next-b1",` + ctxJSON + `}]}`},
	}
	for _, c := range calls {
		status, out := post(c.path, c.body)
		require.Equal(t, 200, status, "%s: %s", c.path, out)
	}
	status, out := post("/v1/t", `{"type":"track","event":"E","userId":"x","writeKey":"hw_nope"}`)
	require.Equal(t, 401, status, out)
	status, out = post("/v1/t", `{"type":"track","event":"E","userId":"x"}`)
	require.Equal(t, 401, status, out)
	require.Contains(t, out, "writeKey")

	e.run(t)
	var names []string
	for _, ev := range e.storedEvents(t, "ajs-1", len(calls)) {
		names = append(names, ev.MessageID+"="+ev.Name)
	}
	require.Equal(t, []string{"ajs-next-i1=Identify", "ajs-next-p1=Page Viewed", "ajs-next-t1=Plan Picked", "ajs-next-b1=Batched"}, names)
	c, err := e.store.FindCustomer(ctx, e.ws.ID, "anon-ajs")
	require.NoError(t, err)
	require.Equal(t, "ajs@example.com", *c.Email)
	for _, ev := range readEvents(t, e.client, topic, len(calls)) {
		require.Empty(t, ev.WriteKey, "the write key never travels on the topic")
	}
	require.Empty(t, readDeadLetters(t, e.client))
}
