package ingest_test

import (
	"context"
	"encoding/json"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	analytics "gopkg.in/segmentio/analytics-go.v3"

	"github.com/heraldhq/herald/ingest"
)

// segmentCallback records what the Segment client reports per message.
type segmentCallback struct {
	mu        sync.Mutex
	succeeded int
	failed    []error
}

func (c *segmentCallback) Success(analytics.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.succeeded++
}

func (c *segmentCallback) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = append(c.failed, err)
}

// readEvents reads want events from every partition of the topic, checking
// each message's key, and then that nothing more is there.
func readEvents(t *testing.T, c sarama.Client, topic string, want int) []ingest.Event {
	t.Helper()
	require.NoError(t, c.RefreshMetadata(topic))
	cons, err := sarama.NewConsumerFromClient(c)
	require.NoError(t, err)
	defer cons.Close()
	parts, err := c.Partitions(topic)
	require.NoError(t, err)
	var out []ingest.Event
	total := int64(0)
	for _, p := range parts {
		newest, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(t, err)
		total += newest
		if newest == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(t, err)
		for i := int64(0); i < newest; i++ {
			select {
			case m := <-pc.Messages():
				var ev ingest.Event
				require.NoError(t, json.Unmarshal(m.Value, &ev))
				require.Equal(t, ev.Key(), string(m.Key), "keyed per customer")
				out = append(out, ev)
			case <-time.After(10 * time.Second):
				t.Fatal("timed out reading the topic")
			}
		}
		require.NoError(t, pc.Close())
	}
	require.EqualValues(t, want, total, "messages on %s", topic)
	return out
}

// A real Segment library (analytics-go v3) pointed at Herald: every call
// type arrives on the topic once, as sent, and the consumer applies it.
func TestSegmentGoClientCompatibility(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	cb := &segmentCallback{}
	client, err := analytics.NewWithConfig(e.writeKey, analytics.Config{
		Endpoint:  e.apiURL(t),
		Interval:  time.Hour, // flushed by Close
		BatchSize: 100,
		Callback:  cb,
	})
	require.NoError(t, err)

	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	calls := []analytics.Message{
		analytics.Identify{MessageId: "seg-identify", UserId: "u1", AnonymousId: "a1", Timestamp: at,
			Traits: analytics.NewTraits().SetEmail("ada@example.com").SetFirstName("Ada").Set("plan", "pro").Set("seats", 3)},
		analytics.Track{MessageId: "seg-track", UserId: "u1", Event: "Order Completed", Timestamp: at.Add(time.Second),
			Properties: analytics.NewProperties().SetRevenue(42.5).Set("sku", "A-1"),
			Context:    &analytics.Context{IP: net.ParseIP("192.0.2.1"), Locale: "en-GB"}},
		analytics.Page{MessageId: "seg-page", UserId: "u1", Name: "Pricing", Timestamp: at.Add(2 * time.Second),
			Properties: analytics.NewProperties().SetURL("https://acme.example/pricing")},
		analytics.Screen{MessageId: "seg-screen", UserId: "u1", Name: "Home", Timestamp: at.Add(3 * time.Second),
			Properties: analytics.NewProperties().Set("variant", "dark")},
		analytics.Group{MessageId: "seg-group", UserId: "u1", GroupId: "acme", Timestamp: at.Add(4 * time.Second),
			Traits: analytics.NewTraits().SetName("Acme Inc").Set("employees", 50)},
		analytics.Alias{MessageId: "seg-alias", UserId: "u1", PreviousId: "legacy-42", Timestamp: at.Add(5 * time.Second)},
	}
	for _, m := range calls {
		require.NoError(t, client.Enqueue(m))
	}
	require.NoError(t, client.Close(), "close flushes the queue")
	cb.mu.Lock()
	require.Empty(t, cb.failed, "Herald refused what the client sent")
	require.Equal(t, len(calls), cb.succeeded)
	cb.mu.Unlock()

	events := readEvents(t, e.client, topic, len(calls))
	byID := map[string]ingest.Event{}
	for _, ev := range events {
		require.NotContains(t, byID, ev.MessageID, "each event once")
		byID[ev.MessageID] = ev
		require.Equal(t, e.ws.ID, ev.WorkspaceID)
		require.Empty(t, ev.WriteKey, "the write key never travels on the topic")
		require.Equal(t, "u1", ev.UserID)
		require.NotNil(t, ev.ReceivedAt)
	}
	require.Len(t, byID, len(calls))
	props := func(ev ingest.Event, field json.RawMessage) map[string]any {
		t.Helper()
		var m map[string]any
		require.NoError(t, json.Unmarshal(field, &m), "%s", ev.Type)
		return m
	}
	when := func(ev ingest.Event) time.Time {
		t.Helper()
		require.NotNil(t, ev.Timestamp)
		return ev.Timestamp.UTC()
	}

	id := byID["seg-identify"]
	require.Equal(t, "identify", id.Type)
	require.Equal(t, "a1", id.AnonymousID)
	require.Equal(t, map[string]any{"email": "ada@example.com", "firstName": "Ada", "plan": "pro", "seats": float64(3)}, props(id, id.Traits))
	// Shifted by the (tiny) skew between the batch's sentAt and its arrival.
	require.WithinDuration(t, at, when(id), time.Second)

	tr := byID["seg-track"]
	require.Equal(t, "track", tr.Type)
	require.Equal(t, "Order Completed", tr.Event)
	require.Equal(t, map[string]any{"revenue": 42.5, "sku": "A-1"}, props(tr, tr.Properties))
	trCtx := props(tr, tr.Context)
	require.Equal(t, "192.0.2.1", trCtx["ip"])
	require.Equal(t, "en-GB", trCtx["locale"])
	require.WithinDuration(t, at.Add(time.Second), when(tr), time.Second)

	pg := byID["seg-page"]
	require.Equal(t, "page", pg.Type)
	require.Equal(t, "Pricing", pg.Name)
	require.Equal(t, map[string]any{"url": "https://acme.example/pricing"}, props(pg, pg.Properties))

	sc := byID["seg-screen"]
	require.Equal(t, "screen", sc.Type)
	require.Equal(t, "Home", sc.Name)
	require.Equal(t, map[string]any{"variant": "dark"}, props(sc, sc.Properties))

	gr := byID["seg-group"]
	require.Equal(t, "group", gr.Type)
	require.Equal(t, "acme", gr.GroupID)
	require.Equal(t, map[string]any{"name": "Acme Inc", "employees": float64(50)}, props(gr, gr.Traits))

	al := byID["seg-alias"]
	require.Equal(t, "alias", al.Type)
	require.Equal(t, "legacy-42", al.PreviousID)
	require.WithinDuration(t, at.Add(5*time.Second), when(al), time.Second)

	// The ingest consumer applies them to one customer, in order.
	e.run(t)
	var events2 []string
	require.Eventually(t, func() bool {
		c, err := e.store.FindCustomer(ctx, e.ws.ID, "u1")
		if err != nil {
			return false
		}
		evs, err := e.store.ListCustomerEvents(ctx, e.ws.ID, c.ID, 100)
		if err != nil || len(evs) < len(calls) {
			return false
		}
		events2 = events2[:0]
		for _, ev := range evs {
			events2 = append(events2, ev.MessageID+"="+ev.Type+":"+ev.Name)
		}
		return true
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, []string{"seg-identify=identify:Identify", "seg-track=track:Order Completed", "seg-page=page:Page Viewed",
		"seg-screen=screen:Screen Viewed", "seg-group=group:Group", "seg-alias=alias:Alias"}, events2)

	c, err := e.store.FindCustomer(ctx, e.ws.ID, "u1")
	require.NoError(t, err)
	require.Equal(t, "u1", *c.ExternalID)
	require.Equal(t, "ada@example.com", *c.Email)
	require.JSONEq(t, `{"firstName":"Ada","plan":"pro","seats":3}`, string(c.Attributes), "traits keep their types")
	anon := append([]string(nil), c.AnonymousIDs...)
	sort.Strings(anon)
	require.Equal(t, []string{"a1", "legacy-42"}, anon)
	for _, other := range []string{"a1", "legacy-42"} {
		found, err := e.store.FindCustomer(ctx, e.ws.ID, other)
		require.NoError(t, err)
		require.Equal(t, c.ID, found.ID, other)
	}
	evs, err := e.store.ListCustomerEvents(ctx, e.ws.ID, c.ID, 100)
	require.NoError(t, err)
	require.WithinDuration(t, at.Add(time.Second), evs[1].OccurredAt.UTC(), time.Second, "the client's timestamp, corrected for the batch's sentAt skew, is the event time")
	require.JSONEq(t, `{"revenue":42.5,"sku":"A-1"}`, string(evs[1].Properties))
	var n int
	require.NoError(t, e.store.Pool().QueryRow(ctx, `SELECT count(*) FROM customers WHERE workspace_id = $1`, e.ws.ID).Scan(&n))
	require.Equal(t, 1, n, "one customer")
	require.Empty(t, readDeadLetters(t, e.client), "nothing dead-lettered")
}

// readDeadLetters returns whatever is on the dead-letter topic now.
func readDeadLetters(t *testing.T, c sarama.Client) []deadLetterRecord {
	t.Helper()
	require.NoError(t, c.RefreshMetadata(dlq))
	parts, err := c.Partitions(dlq)
	require.NoError(t, err)
	total := 0
	for _, p := range parts {
		newest, err := c.GetOffset(dlq, p, sarama.OffsetNewest)
		require.NoError(t, err)
		total += int(newest)
	}
	if total == 0 {
		return nil
	}
	return readAll(t, c, dlq, total)
}

// Segment's event time: with originalTimestamp and sentAt, receivedAt −
// (sentAt − originalTimestamp), over any timestamp; originalTimestamp
// alone when there is no timestamp; else timestamp + (receivedAt −
// sentAt). The result is final: normalised again (the consumer reading
// what the API wrote), an event keeps it.
func TestNormalizeTakesTheDeviceTimeAsSegmentDoes(t *testing.T) {
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return &v
	}
	received := at("2024-05-01T00:00:05Z")
	cases := []struct {
		name                    string
		timestamp, orig, sentAt *time.Time
		want                    string
	}{
		{"device time and sentAt", nil, at("2024-05-01T02:00:00Z"), at("2024-05-01T02:00:05Z"), "2024-05-01T00:00:00Z"},
		{"a replay: not corrected twice", at("2024-05-01T00:00:00Z"), at("2024-05-01T02:00:00Z"), at("2024-05-01T02:00:05Z"), "2024-05-01T00:00:00Z"},
		{"device time alone", nil, at("2024-04-30T00:00:00Z"), nil, "2024-04-30T00:00:00Z"},
		{"timestamp wins without sentAt", at("2024-04-29T00:00:00Z"), at("2024-04-30T00:00:00Z"), nil, "2024-04-29T00:00:00Z"},
		{"timestamp and sentAt", at("2024-05-01T00:00:00Z"), nil, at("2024-05-01T00:00:15Z"), "2024-04-30T23:59:50Z"},
		{"nothing", nil, nil, nil, "2024-05-01T00:00:05Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := ingest.Event{Timestamp: tc.timestamp, OriginalTimestamp: tc.orig, SentAt: tc.sentAt, ReceivedAt: received, MessageID: "m"}
			ev.Normalize(time.Now(), func() string { return "" })
			require.Equal(t, tc.want, ev.Timestamp.Format(time.RFC3339))
			require.Nil(t, ev.SentAt)
			require.Nil(t, ev.OriginalTimestamp)
			again := *ev.Timestamp
			ev.Normalize(time.Now(), func() string { return "" })
			require.True(t, again.Equal(*ev.Timestamp))
		})
	}
}

// A producer writing Segment-shaped events straight to the topic gets the
// same event time as over HTTP: the consumer applies originalTimestamp.
func TestConsumerTakesTheDeviceTimeOfEventsProducedToKafka(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	received := "2024-05-01T00:00:05Z"
	e.produce(t, e.ws.ID+":dev-1", map[string]any{"type": "track", "messageId": "m-dev-1", "userId": "dev-1", "event": "Offline",
		"workspaceId": e.ws.ID, "originalTimestamp": "2024-05-01T02:00:00Z", "sentAt": "2024-05-01T02:00:05Z", "receivedAt": received})
	e.produce(t, e.ws.ID+":dev-1", map[string]any{"type": "track", "messageId": "m-dev-2", "userId": "dev-1", "event": "Device time only",
		"workspaceId": e.ws.ID, "originalTimestamp": "2024-04-30T00:00:00Z", "receivedAt": received})
	evs := e.storedEvents(t, "dev-1", 2)
	got := map[string]time.Time{}
	for _, ev := range evs {
		got[ev.MessageID] = ev.OccurredAt.UTC()
	}
	require.Equal(t, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), got["m-dev-1"], "receivedAt − (sentAt − originalTimestamp)")
	require.Equal(t, time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC), got["m-dev-2"])
}
