package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// consume runs the ingest consumer on the fixture's broker and store.
func (f *ingestFixture) consume(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cons := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: f.brokers, Store: f.store, Metrics: prometheus.NewRegistry(),
		Topic: "herald.events", DLQTopic: "herald.events.dlq", Group: "herald-ingest"})
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// storedEvents waits until the customer of user has an event with the
// message id last (the events before it on its partition are applied
// then too) and returns the customer's events.
func (f *ingestFixture) storedEvents(t *testing.T, user, last string) []schema.StoredEvent {
	t.Helper()
	ctx := context.Background()
	var evs []schema.StoredEvent
	require.Eventually(t, func() bool {
		c, err := f.store.FindCustomer(ctx, f.ws, user)
		if err != nil {
			return false
		}
		evs, err = f.store.ListCustomerEvents(ctx, f.ws, c.ID, 100)
		return err == nil && len(evs) > 0 && evs[len(evs)-1].MessageID == last
	}, 30*time.Second, 50*time.Millisecond, "event %s of %s", last, user)
	return evs
}

// deadLetters counts the records on the dead-letter topic.
func (f *ingestFixture) deadLetters(t *testing.T) int64 {
	t.Helper()
	parts, err := f.client.Partitions("herald.events.dlq")
	require.NoError(t, err)
	var n int64
	for _, p := range parts {
		newest, err := f.client.GetOffset("herald.events.dlq", p, sarama.OffsetNewest)
		require.NoError(t, err)
		n += newest
	}
	return n
}

// asSent is v as JSON with its text unescaped, as a browser's
// JSON.stringify writes it: <, >, & and U+2028/U+2029 as they are.
func asSent(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	s := strings.TrimSuffix(b.String(), "\n")
	return strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(s)
}

// An event accepted with a 200 is stored, however much of its text is
// what JSON escapes for HTML (<, >, &, U+2028, U+2029): Herald writes it
// to the topic as it came, not up to six times larger, so the consumer
// does not refuse it as over its message limit and dead-letter it. The
// properties are stored as sent.
func TestEventsFullOfHTMLCharactersAreStoredAsSent(t *testing.T) {
	f := newIngestFixture(t)
	wk := basic(f.writeKey)
	f.consume(t)

	props := []map[string]any{
		{"a": strings.Repeat("<", 30000)},
		{"html": strings.Repeat("<b>Tom & Jerry</b>", 1700), "n": 1},
		{"ls": strings.Repeat("\u2028", 5000) + strings.Repeat("\u2029", 5000)},
		{"mixed": strings.Repeat("<&>\u2028\u2029", 2500), "nested": map[string]any{"x": []any{"</script>", "a&b"}}},
	}
	var sent []string
	for i, p := range props {
		raw := asSent(t, p)
		body := `{"userId":"html","event":"Rich","messageId":"rich-` + string(rune('a'+i)) + `","properties":` + raw + `}`
		require.LessOrEqual(t, len(body), ingest.MaxEventBytes, "within the input limit")
		status, out := f.post(t, "/v1/track", []byte(body), wk)
		require.Equal(t, 200, status, "%d: %v", i, out)
		sent = append(sent, raw)
	}
	// In a batch, and as a page's name and category at their caps.
	raw := asSent(t, map[string]any{"q": strings.Repeat("&", 30000)})
	status, out := f.post(t, "/v1/batch", []byte(`{"batch":[{"type":"track","userId":"html","event":"Rich","messageId":"rich-batch","properties":`+raw+`},`+
		`{"type":"page","userId":"html","messageId":"rich-page","name":"`+strings.Repeat("<", 200)+`","category":"`+strings.Repeat("\u2028", 200)+`"}]}`), wk)
	require.Equal(t, 200, status, "%v", out)
	sent = append(sent, raw, `{"name":"`+strings.Repeat("<", 200)+`","category":"`+strings.Repeat("\u2028", 200)+`"}`)

	status, out = f.post(t, "/v1/track", []byte(`{"userId":"html","event":"Last","messageId":"last"}`), wk)
	require.Equal(t, 200, status, "%v", out)

	evs := f.storedEvents(t, "html", "last")
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.MessageID)
	}
	require.Equal(t, []string{"rich-a", "rich-b", "rich-c", "rich-d", "rich-batch", "rich-page", "last"}, ids, "every accepted event stored")
	for i, want := range sent {
		require.JSONEq(t, want, string(evs[i].Properties), "%s: properties as sent", ids[i])
	}
	require.Zero(t, f.deadLetters(t), "nothing accepted was dead-lettered")
	// On the topic, each is about the size it was sent.
	for _, m := range f.messages(t) {
		b, err := ingest.MarshalEvent(&m)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), ingest.MaxEventBytes+300, m.MessageID)
	}
}
