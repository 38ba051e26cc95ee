package ingest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// TestPoisonOfAnyKindIsParkedAndThePartitionMovesOn: records a backend
// producer may write by mistake — one near Kafka's size limit, a
// tombstone, bytes that are not UTF-8 in an id, a write key of another
// workspace, a timestamp that skew correction takes past year 9999 or
// that is past it in UTC, a
// sentAt written as a number, a workspaceId or writeKey with a NUL, a
// userId of white space — each
// go to the DLQ with their reason (the large one cut to fit, the headers
// kept), and the events after them on the same partition are applied.
func TestPoisonOfAnyKindIsParkedAndThePartitionMovesOn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	other, err := e.store.CreateWorkspace(ctx, "B")
	require.NoError(t, err)
	otherKey, err := e.store.CreateAPIKey(ctx, other.ID, schema.KeyWrite, "", "test")
	require.NoError(t, err)

	key := ws + ":u1"
	big := `{"type":"track","messageId":"big","userId":"u1","event":"E","workspaceId":"` + ws + `","properties":{"blob":"` + strings.Repeat("é", 475_000) + `"}}`
	records := []ingest.Message{
		{Key: key, Value: []byte(big), Headers: []sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-abc-def-01")}}},
		{Key: key, Value: nil},
		{Key: key, Value: []byte(`{"type":"track","messageId":"utf","userId":"q` + "\xff" + `z","event":"E","workspaceId":"` + ws + `"}`)},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "wk", "userId": "u1", "event": "E", "workspaceId": ws, "writeKey": otherKey.Key})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "year", "userId": "u1", "event": "E", "workspaceId": ws,
			"timestamp": "9999-12-31T23:59:59Z", "sentAt": "2000-01-01T00:00:00Z"})},
		// Year 9999 in its own offset, 10000 in UTC: what is stored and routed.
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "offset-year", "userId": "u1", "event": "E", "workspaceId": ws,
			"timestamp": "9999-12-31T23:00:00-05:00"})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "epoch", "userId": "u1", "event": "E", "workspaceId": ws, "sentAt": 1764000000})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "nul-ws", "userId": "u1", "event": "E", "workspaceId": ws + "\x00"})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "nul-wk", "userId": "u1", "event": "E", "writeKey": "hk_\x00"})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "blank", "userId": " \t", "event": "E", "workspaceId": ws})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "ok-wk", "userId": "u1", "event": "Same Key", "workspaceId": ws, "writeKey": e.writeKey})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "ok", "userId": "u1", "event": "After", "workspaceId": ws})},
		// The same event again (a producer's retry), then another event reusing its id.
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "ok", "userId": "u1", "event": "After", "workspaceId": ws})},
		{Key: key, Value: mustJSON(map[string]any{"type": "track", "messageId": "ok", "userId": "u1", "event": "Purchase", "workspaceId": ws})},
	}
	for _, r := range records {
		require.NoError(t, e.producer.Produce(ctx, r))
	}
	e.run(t)

	evs := e.storedEvents(t, "u1", 2)
	require.Equal(t, []string{"ok-wk", "ok"}, []string{evs[0].MessageID, evs[1].MessageID})

	letters := readAll(t, e.client, dlq, 11)
	require.Len(t, letters, 11)
	byOffset := map[int64]deadLetterRecord{}
	for _, l := range letters {
		byOffset[l.Offset] = l
	}
	first := byOffset[0]
	require.Contains(t, first.Reason, "the limit is")
	require.True(t, first.Truncated, "a dead letter of a record this large is cut to fit")
	require.Equal(t, len(big), first.PayloadBytes)
	require.True(t, strings.HasPrefix(big, first.Payload), "the kept part is the record's beginning, on a whole character")
	require.Less(t, len(first.Payload), len(big))
	require.Nil(t, first.Event)
	require.Equal(t, "00-abc-def-01", first.headers["traceparent"], "the original headers are kept")
	require.Equal(t, key, first.key)
	require.Contains(t, byOffset[1].Reason, "tombstone")
	require.Contains(t, byOffset[2].Reason, "userId is not valid UTF-8")
	require.Equal(t, "q\ufffdz", byOffset[2].Payload[strings.Index(byOffset[2].Payload, `"userId":"`)+10:][:5])
	require.NotEmpty(t, byOffset[2].PayloadBase64, "the exact bytes are kept when they are not UTF-8")
	require.Nil(t, byOffset[2].Event, "bytes that are not UTF-8 are not JSON: no event copy, or the dead letter would not be JSON either")
	require.Contains(t, byOffset[3].Reason, "writeKey belongs to another workspace")
	require.Contains(t, byOffset[4].Reason, "timestamp is outside the years 1 to 9999")
	require.NotNil(t, byOffset[4].Event, "a small poison record is also kept as JSON")
	require.Contains(t, byOffset[5].Reason, "timestamp is outside the years 1 to 9999", "checked in UTC")
	require.Contains(t, byOffset[6].Reason, "sentAt: times must be RFC 3339 strings", "a time that is not a string is named")
	require.Contains(t, byOffset[7].Reason, "workspaceId: workspaceId contains the NUL character", "refused before it is looked up")
	require.Contains(t, byOffset[8].Reason, "writeKey: writeKey contains the NUL character")
	require.Contains(t, byOffset[9].Reason, "userId: one of userId or anonymousId is required", "an id of white space names no one")
	// Written after the batch is stored, the last of these.
	var reused deadLetterRecord
	for _, l := range letters {
		if l.Offset > reused.Offset {
			reused = l
		}
	}
	require.Contains(t, reused.Reason, `messageId "ok" is taken by another event (track "After")`, "a reused id is not a redelivery")
	require.Contains(t, reused.Payload, `"Purchase"`)
}

type deadLetterRecord struct {
	ingest.DeadLetter
	key     string
	headers map[string]string
	value   []byte // as written
}

// readAll reads want dead letters from topic (all partitions), or what
// came within 20 seconds.
func readAll(t *testing.T, c sarama.Client, topic string, want int) []deadLetterRecord {
	t.Helper()
	cons, err := sarama.NewConsumerFromClient(c)
	require.NoError(t, err)
	defer cons.Close()
	parts, err := c.Partitions(topic)
	require.NoError(t, err)
	msgs, stop := make(chan *sarama.ConsumerMessage), make(chan struct{})
	defer close(stop)
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(t, err)
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				select {
				case msgs <- m:
				case <-stop:
					return
				}
			}
		}()
	}
	var out []deadLetterRecord
	deadline := time.After(20 * time.Second)
	for len(out) < want {
		select {
		case m := <-msgs:
			r := deadLetterRecord{key: string(m.Key), headers: map[string]string{}, value: m.Value}
			require.NoError(t, json.Unmarshal(m.Value, &r.DeadLetter))
			for _, h := range m.Headers {
				r.headers[string(h.Key)] = string(h.Value)
			}
			out = append(out, r)
		case <-deadline:
			return out
		}
	}
	return out
}

// stuckRouter fails (as an unavailable Temporal would) every batch that
// holds an event named "Stuck" until released.
type stuckRouter struct{ released atomic.Bool }

func (r *stuckRouter) Route(_ context.Context, batch []ingest.Applied) error {
	for _, a := range batch {
		if a.Event.Event == "Stuck" && !r.released.Load() {
			return errors.New("temporal unavailable")
		}
	}
	return nil
}

// TestLagGaugesShowAStuckPartition: while a partition's batch cannot get
// through, its lag gauges show the messages behind and their age growing
// (not the values of its last good batch); once it gets through, both
// return to 0.
func TestLagGaugesShowAStuckPartition(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	router := &stuckRouter{}
	cons := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: e.brokers, Store: e.store, Router: router, Metrics: reg,
		Topic: topic, DLQTopic: dlq, Group: "herald-ingest", LagInterval: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	key := e.ws.ID + ":stuck"
	part := ingest.KeyPartition([]byte(key), 3)
	e.produce(t, key, map[string]any{"type": "track", "messageId": "s0", "userId": "stuck", "event": "Stuck", "workspaceId": e.ws.ID})
	// The first batch holds "Stuck": wait for it, then queue more behind it.
	require.Eventually(t, func() bool { return gauge(t, reg, "herald_ingest_lag_seconds", part) > 0 }, 20*time.Second, 20*time.Millisecond)
	for _, id := range []string{"s1", "s2", "s3"} {
		e.produce(t, key, map[string]any{"type": "track", "messageId": id, "userId": "stuck", "event": "Later", "workspaceId": e.ws.ID})
	}
	require.Eventually(t, func() bool { return gauge(t, reg, "herald_ingest_lag_messages", part) == 4 }, 20*time.Second, 20*time.Millisecond)
	age := gauge(t, reg, "herald_ingest_lag_seconds", part)
	require.Eventually(t, func() bool { return gauge(t, reg, "herald_ingest_lag_seconds", part) > age }, 20*time.Second, 20*time.Millisecond,
		"the age keeps growing while the partition is stuck")

	router.released.Store(true)
	require.Eventually(t, func() bool {
		return gauge(t, reg, "herald_ingest_lag_messages", part) == 0 && gauge(t, reg, "herald_ingest_lag_seconds", part) == 0
	}, 30*time.Second, 20*time.Millisecond)

	// An event keyed for another customer is applied and counted.
	e.produce(t, e.ws.ID+":someone-else", map[string]any{"type": "track", "messageId": "s4", "userId": "stuck", "event": "Later", "workspaceId": e.ws.ID})
	require.Eventually(t, func() bool { return counter(t, reg, "herald_ingest_misrouted_events_total") == 1 }, 20*time.Second, 20*time.Millisecond)

	// So is one keyed right but put on another partition than murmur2 puts
	// its key (a producer with another partitioner).
	kc, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer kc.Close()
	other := (part + 1) % 3
	rec := &kgo.Record{Topic: topic, Partition: other, Key: []byte(key),
		Value: mustJSON(map[string]any{"type": "track", "messageId": "s5", "userId": "stuck", "event": "Later", "workspaceId": e.ws.ID})}
	require.NoError(t, kc.ProduceSync(ctx, rec).FirstErr())
	require.Eventually(t, func() bool { return counter(t, reg, "herald_ingest_misrouted_events_total") == 2 }, 20*time.Second, 20*time.Millisecond)
	require.Len(t, e.storedEvents(t, "stuck", 6), 6, "applied all the same")
}

// counter reads an unlabelled counter from the registry (-1 when absent).
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// gauge reads a partition's gauge from the registry (-1 when absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string, partition int32) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" && l.GetValue() == strconv.Itoa(int(partition)) {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestDeadLetterTopicDeletedWhileRunningIsCreatedAgain: a poison record
// whose dead-letter topic was deleted while ingest runs does not stop its
// partition: the topic is created again and the letter written.
func TestDeadLetterTopicDeletedWhileRunningIsCreatedAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	key := ws + ":u1"
	e.run(t)
	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: key,
		Value: mustJSON(map[string]any{"type": "track", "messageId": "first", "userId": "u1", "event": "E", "workspaceId": ws})}))
	e.storedEvents(t, "u1", 1)
	admin, err := sarama.NewClusterAdminFromClient(e.client)
	require.NoError(t, err)
	require.NoError(t, admin.DeleteTopic(dlq))
	require.NoError(t, e.client.RefreshMetadata())

	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: key, Value: []byte("not json")}))
	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: key,
		Value: mustJSON(map[string]any{"type": "track", "messageId": "after", "userId": "u1", "event": "E", "workspaceId": ws})}))
	evs := e.storedEvents(t, "u1", 2)
	require.Equal(t, "after", evs[1].MessageID)
	letters := readAll(t, e.client, dlq, 1)
	require.Contains(t, letters[0].Reason, "JSON")
}

// TestABatchEnvelopeIsNamedInItsDeadLetter: a Segment batch envelope
// produced to Kafka by mistake is named as one, not as an event without a
// messageId (its writeKey is good).
func TestABatchEnvelopeIsNamedInItsDeadLetter(t *testing.T) {
	e := newEnv(t)
	envelope := mustJSON(map[string]any{"writeKey": e.writeKey,
		"batch": []any{map[string]any{"type": "track", "messageId": "in-batch", "userId": "u1", "event": "E"}}})
	letters := parkThenApply(t, e, envelope)
	require.Equal(t, "a Segment batch envelope: produce one event per record (the /v1/batch wire format is for HTTP)", letters[0].Reason)
}

// TestATombstonesDeadLetterSaysItsValueWasNull: a tombstone's letter has
// "payload_null": true; an empty value's has no such field.
func TestATombstonesDeadLetterSaysItsValueWasNull(t *testing.T) {
	e := newEnv(t)
	letters := parkThenApply(t, e, nil, []byte{})
	for offset, null := range map[int64]any{0: true, 1: nil} {
		var fields map[string]any
		require.NoError(t, json.Unmarshal(letters[offset].value, &fields))
		require.Equal(t, null, fields["payload_null"], "offset %d", offset)
		require.Equal(t, "", fields["payload"])
		require.Equal(t, 0.0, fields["payload_bytes"])
	}
}

// parkThenApply produces values as poison records of u1, then an event of
// u1, and runs the consumer: it returns the values' dead letters by their
// offset, once the event after them is applied.
func parkThenApply(t *testing.T, e *env, values ...[]byte) map[int64]deadLetterRecord {
	t.Helper()
	key := e.ws.ID + ":u1"
	for _, v := range values {
		require.NoError(t, e.producer.Produce(context.Background(), ingest.Message{Key: key, Value: v}))
	}
	e.produce(t, key, map[string]any{"type": "track", "messageId": "after", "userId": "u1", "event": "After", "workspaceId": e.ws.ID})
	e.run(t)
	require.Equal(t, "after", e.storedEvents(t, "u1", 1)[0].MessageID)
	letters := readAll(t, e.client, dlq, len(values))
	require.Len(t, letters, len(values))
	byOffset := map[int64]deadLetterRecord{}
	for _, l := range letters {
		byOffset[l.Offset] = l
	}
	return byOffset
}

// TestMessageIDReusedForAnotherCustomerIsDeadLettered: two customers'
// events sharing a messageId (a backend deriving ids from the event name
// and a date, or an order id reused across tenants) are not one event
// delivered twice. The second — produced to Kafka or sent to /v1/track —
// goes to the dead-letter topic, saying its messageId was already used for
// another customer, rather than counting as a duplicate and vanishing
// (DESIGN §4: nothing is dropped silently). A visitor's event delivered
// again after an identify merged the visitor into a known customer is
// still a plain duplicate.
func TestMessageIDReusedForAnotherCustomerIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	url := e.apiURL(t)
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(e.writeKey+":"))}
	track := func(user, id string) map[string]any {
		return map[string]any{"type": "track", "messageId": id, "userId": user, "event": "Trial Ending", "workspaceId": ws}
	}
	visit := map[string]any{"type": "track", "messageId": "visit-1", "anonymousId": "visitor", "event": "Viewed", "workspaceId": ws}
	e.produce(t, ws+":alice", track("alice", "trial-ending-2026-11-29"))
	e.produce(t, ws+":visitor", visit)
	_, reg := e.runMetered(t)
	e.storedEvents(t, "alice", 1)
	e.storedEvents(t, "visitor", 1)
	e.produce(t, ws+":alice", map[string]any{"type": "identify", "messageId": "login", "userId": "alice", "anonymousId": "visitor",
		"workspaceId": ws})
	e.storedEvents(t, "alice", 3) // the visitor's event merged in

	e.produce(t, ws+":bob", track("bob", "trial-ending-2026-11-29"))
	e.produce(t, ws+":visitor", visit) // delivered again after the merge
	for _, user := range []string{"httpA", "httpB"} {
		status, _, out := postRaw(t, url+"/v1/track", auth,
			fmt.Sprintf(`{"userId":%q,"event":"Trial Ending","messageId":"http-same-id"}`, user))
		require.Equal(t, 200, status, out)
		if user == "httpA" {
			e.storedEvents(t, "httpA", 1) // first, whatever partitions the two take
		}
	}
	require.Eventually(t, func() bool { return outcome(t, reg, "duplicate")+outcome(t, reg, "dead_lettered") >= 3 },
		20*time.Second, 50*time.Millisecond)
	require.Equal(t, 1.0, outcome(t, reg, "duplicate"), "the visitor's event delivered again after the merge")
	require.Equal(t, 2.0, outcome(t, reg, "dead_lettered"))

	letters := readAll(t, e.client, dlq, 2)
	require.Len(t, letters, 2)
	reasons := map[string]string{}
	for _, l := range letters {
		var ev struct{ UserID string }
		require.NoError(t, json.Unmarshal(l.Event, &ev))
		reasons[ev.UserID] = l.Reason
	}
	require.Contains(t, reasons["bob"], `messageId "trial-ending-2026-11-29" was already used for another customer's event (track "Trial Ending")`)
	require.Contains(t, reasons["httpB"], `messageId "http-same-id" was already used for another customer's event`)
	for _, user := range []string{"bob", "httpB"} {
		_, err := e.store.FindCustomer(ctx, ws, user)
		require.ErrorIs(t, err, schema.ErrNotFound, "the conflicting event made no customer")
	}
	require.Len(t, e.storedEvents(t, "httpA", 1), 1)
	require.Len(t, e.storedEvents(t, "alice", 3), 3)
}

// TestRedrivenDeadLetterKeepsItsEventTime: a dead letter sent again as the
// README's recipe does (its event corrected, receivedAt set to the
// letter's record_timestamp when it has none) is applied at the time it
// would have had at first. An event carrying sentAt is corrected with the
// time it was received — the original record's, not the re-driven one's,
// which would move the event by as long as the letter waited. A time's
// reason names its field.
func TestRedrivenDeadLetterKeepsItsEventTime(t *testing.T) {
	e := newEnv(t)
	ws := e.ws.ID
	sent := time.Now().UTC().Truncate(time.Second)
	happened := sent.Add(-time.Hour)
	e.produce(t, ws+":u1", map[string]any{"type": "track", "messageId": "late", "userId": "u1", "event": "Order Paid",
		"workspaceId": ws, "timestamp": happened.Format("2006-01-02 15:04:05"), // no T, no zone: dead-lettered
		"sentAt": sent.Format(time.RFC3339)})
	e.produce(t, ws+":u1", map[string]any{"type": "track", "messageId": "bad-sent", "userId": "u1", "event": "E",
		"workspaceId": ws, "timestamp": sent.Format(time.RFC3339), "sentAt": "2024-05-01T10:00:00"})
	e.run(t)
	letters := readAll(t, e.client, dlq, 2)
	require.Len(t, letters, 2)
	require.True(t, strings.HasPrefix(letters[1].Reason, "sentAt: times must be RFC 3339"), letters[1].Reason)
	letter := letters[0]
	require.True(t, strings.HasPrefix(letter.Reason, "timestamp: times must be RFC 3339"), letter.Reason)
	var raw struct {
		Event           map[string]any `json:"event"`
		RecordTimestamp *time.Time     `json:"record_timestamp"`
	}
	require.NoError(t, json.Unmarshal(letter.value, &raw))
	require.NotNil(t, raw.RecordTimestamp, "the letter keeps the original record's time")
	require.WithinDuration(t, sent, *raw.RecordTimestamp, 5*time.Second)

	time.Sleep(5 * time.Second) // the operator fixes the cause (here: 5 s later)
	redriven := raw.Event
	redriven["timestamp"] = strings.Replace(redriven["timestamp"].(string), " ", "T", 1) + "Z" // the recipe's fix
	if redriven["receivedAt"] == nil {
		redriven["receivedAt"] = raw.RecordTimestamp
	}
	e.produce(t, letter.key, redriven)

	evs := e.storedEvents(t, "u1", 1)
	require.WithinDuration(t, happened, evs[0].OccurredAt, 2*time.Second,
		"the event happened at %s; re-driven 5 s later it is stored at %s", happened, evs[0].OccurredAt)
}
